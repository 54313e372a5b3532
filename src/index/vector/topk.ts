/**
 * A bounded top-k collector: keeps the k best (score, ord) pairs seen. Higher score is better; equal
 * scores are broken by the smaller ord, so results are deterministic whatever the visiting order.
 *
 * Scores are rounded to float32 on entry (`Math.fround`), the precision they are published in, so the
 * order of the returned arrays is exactly "score descending, then ord ascending" on the published
 * values. NaN is treated as -Infinity.
 *
 * Implementation: a binary heap whose root is the worst kept entry; push is O(log k), rejecting a
 * candidate that cannot enter is O(1) (`floor`/`accepts`).
 */
export interface Hits {
  ords: Uint32Array;
  scores: Float32Array;
}

export class TopK {
  readonly k: number;
  private readonly s: Float64Array;
  private readonly o: Uint32Array;
  private n = 0;

  constructor(k: number) {
    this.k = Math.max(0, Math.floor(k));
    this.s = new Float64Array(this.k);
    this.o = new Uint32Array(this.k);
  }

  get size(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n >= this.k;
  }

  /** The worst kept score when full (a candidate must reach it to enter), -Infinity before. */
  get floor(): number {
    return this.n >= this.k && this.k > 0 ? this.s[0]! : -Infinity;
  }

  /** Would (score, ord) enter now? */
  accepts(score: number, ord: number): boolean {
    if (this.k === 0) return false;
    if (this.n < this.k) return true;
    const f = norm32(score);
    const w = this.s[0]!;
    return f > w || (f === w && ord < this.o[0]!);
  }

  /** Offers (score, ord). Each ord must be offered at most once per collector. */
  push(score: number, ord: number): void {
    if (this.k === 0) return;
    const f = norm32(score);
    const s = this.s;
    const o = this.o;
    if (this.n < this.k) {
      // sift up from the new leaf
      let i = this.n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(f, ord, s[p]!, o[p]!)) break;
        s[i] = s[p]!;
        o[i] = o[p]!;
        i = p;
      }
      s[i] = f;
      o[i] = ord;
      return;
    }
    if (!worse(s[0]!, o[0]!, f, ord)) return; // not better than the worst kept
    // replace the root, sift down
    const n = this.n;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && worse(s[r]!, o[r]!, s[l]!, o[l]!)) c = r;
      if (!worse(s[c]!, o[c]!, f, ord)) break;
      s[i] = s[c]!;
      o[i] = o[c]!;
      i = c;
    }
    s[i] = f;
    o[i] = ord;
  }

  /** The kept entries, best first. Does not consume the collector. */
  result(): Hits {
    const n = this.n;
    const idx = Array.from({ length: n }, (_, i) => i);
    const s = this.s;
    const o = this.o;
    idx.sort((a, b) => (s[b]! - s[a]! || o[a]! - o[b]!));
    const ords = new Uint32Array(n);
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const j = idx[i]!;
      ords[i] = o[j]!;
      scores[i] = s[j]!;
    }
    return { ords, scores };
  }
}

/** True when (s1, o1) ranks below (s2, o2). */
function worse(s1: number, o1: number, s2: number, o2: number): boolean {
  return s1 < s2 || (s1 === s2 && o1 > o2);
}

function norm32(score: number): number {
  return score === score ? Math.fround(score) : -Infinity;
}
