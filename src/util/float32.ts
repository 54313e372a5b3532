/**
 * Printing float32 values. Vectors are stored as 32-bit floats; printing one through JSON.stringify prints
 * its float64 expansion (0.1941 comes back as 0.1941000074148178), doubling the output for no information.
 * `shortestFloat32` returns the number with the fewest significant digits that reads back (through
 * `Math.fround`) as the same float32, so `export | import` round-trips bit for bit and prints what was
 * imported.
 *
 * How (general path, strings): for p significant digits, the p-digit decimals that read back as x form a contiguous run around x
 * (the float32's rounding interval), so if any exists, the nearest p-digit decimal below or above x is
 * one of them: checking the correctly rounded p-digit decimal and its two neighbours decides p. If p
 * digits work, p+1 do too (the same decimal has p+1 digits), so the smallest p is found by bisection over
 * 1..9; 9 digits always suffice for a float32.
 */

/** The p-significant-digit decimal nearest to x that reads back as float32 x, or null if there is none. */
function withDigits(x: number, p: number): number | null {
  const s = x.toExponential(p - 1); // correctly rounded: "-1.234e-5"
  const e = s.indexOf('e');
  const mant = Number(s.slice(0, e).replace('.', '')); // the p digits as an integer, with the sign
  const exp = Number(s.slice(e + 1)) - (p - 1);
  let best: number | null = null;
  for (const m of [mant, mant - 1, mant + 1]) {
    const y = Number(`${m}e${exp}`);
    if (Math.fround(y) === x && (best === null || Math.abs(y - x) < Math.abs(best - x))) best = y;
  }
  return best;
}

/** Powers of ten that are exact doubles (10^0 .. 10^22). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Fast path without strings, for 1e-12 <= |x| < 1e15 (every vector component in practice): walk the
 * decimal grids 10^exp from coarse to fine; on each, the grid points next to x are round(|x| / 10^exp)
 * +-1, and the first grid with a point that reads back as x gives the shortest decimal. The candidate
 * m * 10^exp is computed exactly or correctly rounded (m < 2^53 and 10^|exp| <= 10^22 are exact doubles,
 * so one multiplication or division rounds once), hence it is the double the decimal text denotes.
 */
function shortestFast(ax: number): number | null {
  if (!(ax >= 1e-12 && ax < 1e15)) return null;
  const e = Math.floor(Math.log10(ax));
  for (let exp = e + 1; exp >= e - 10; exp--) {
    const k = exp >= 0 ? exp : -exp;
    if (k > 22) return null;
    const scale = POW10[k]!;
    const m0 = Math.round(exp >= 0 ? ax / scale : ax * scale);
    let best = -1;
    for (let m = m0 - 1; m <= m0 + 1; m++) {
      if (m <= 0) continue;
      const y = exp >= 0 ? m * scale : m / scale;
      if (Math.fround(y) === ax && (best < 0 || Math.abs(y - ax) < Math.abs(best - ax))) best = y;
    }
    if (best >= 0) return best;
  }
  return null;
}

/** The shortest decimal (as a number) that `Math.fround` maps back to `x`, itself a float32 value. */
export function shortestFloat32(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const fast = shortestFast(Math.abs(x));
  if (fast !== null) return x < 0 ? -fast : fast;
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (withDigits(x, mid) === null) lo = mid + 1;
    else hi = mid;
  }
  return withDigits(x, lo) ?? x;
}

/** A float32 vector as plain numbers that print shortest (for JSON output). */
export function float32ToJson(v: Float32Array): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = shortestFloat32(v[i]!);
  return out;
}
