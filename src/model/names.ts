/**
 * Unknown names are errors: a filter field, a `--fields` name or an `include_attributes` name that the
 * namespace does not know gets a message listing the known names and, for a near miss (a typo, another
 * case), a suggestion. Pure; no I/O.
 */

/** Edit distance (insert, delete, substitute, swap of neighbours), capped: returns > cap early. */
function distance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const prev2 = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
      best = Math.min(best, d);
    }
    for (let j = 0; j <= b.length; j++) prev2[j] = prev[j]!;
    prev = cur;
    if (best > cap) return cap + 1;
  }
  return prev[b.length]!;
}

/** The known name closest to `name` (case-insensitive equality first), if it is a near miss. */
export function nearMiss(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same !== undefined) return same;
  const cap = name.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestD = cap + 1;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase(), cap);
    if (d < bestD || (d === bestD && best !== undefined && k < best)) {
      best = k;
      bestD = d;
    }
  }
  return bestD <= cap ? best : undefined;
}

/** "unknown attribute "titel" (did you mean "title"?); known attributes: body, title" */
export function unknownName(what: string, name: string, known: readonly string[], knownWhat: string): string {
  const sorted = [...known].sort();
  const guess = nearMiss(name, sorted);
  const list = sorted.length > 0 ? `${knownWhat}: ${sorted.length > 30 ? `${sorted.slice(0, 30).join(', ')}, ... (${sorted.length} in all)` : sorted.join(', ')}` : `this namespace has no ${knownWhat}`;
  return `unknown ${what} ${JSON.stringify(name)}${guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}; ${list}`;
}
