/**
 * A bounded top-k collector: keeps the k best (score, ord) pairs seen. Higher score is better; equal
 * scores are broken by `tie` (default: the smaller ord), so results are deterministic whatever the
 * visiting order. Sources whose ordinals are not in id order pass a `tie` that compares the ordinals'
 * document ids (compareIds): ties at the k-th place must keep the smallest ids, as the documented order
 * is "score descending, then id ascending" (issue 9 §6). `tie` is called only between equal scores.
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

/** Orders two ordinals with equal scores: negative when `a` ranks first. */
export type TieBreak = (a: number, b: number) => number;

const byOrd: TieBreak = (a, b) => a - b;

export class TopK {
  readonly k: number;
  private readonly s: Float64Array;
  private readonly o: Uint32Array;
  private readonly tie: TieBreak;
  private n = 0;

  constructor(k: number, tie: TieBreak = byOrd) {
    this.tie = tie;
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
    return f > w || (f === w && this.tie(ord, this.o[0]!) < 0);
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
        if (!this.worse(f, ord, s[p]!, o[p]!)) break;
        s[i] = s[p]!;
        o[i] = o[p]!;
        i = p;
      }
      s[i] = f;
      o[i] = ord;
      return;
    }
    if (!this.worse(s[0]!, o[0]!, f, ord)) return; // not better than the worst kept
    // replace the root, sift down
    const n = this.n;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.worse(s[r]!, o[r]!, s[l]!, o[l]!)) c = r;
      if (!this.worse(s[c]!, o[c]!, f, ord)) break;
      s[i] = s[c]!;
      o[i] = o[c]!;
      i = c;
    }
    s[i] = f;
    o[i] = ord;
  }

  /** The kept ordinals in no particular order (no sort: for callers that re-score them anyway). */
  keptOrds(): Uint32Array {
    return this.o.slice(0, this.n);
  }

  /** The kept scores in the order of keptOrds (float32 values, as kept). */
  keptScores(): Float64Array {
    return this.s.slice(0, this.n);
  }

  /** The kept entries, best first. Does not consume the collector. */
  result(): Hits {
    const n = this.n;
    const idx = Array.from({ length: n }, (_, i) => i);
    const s = this.s;
    const o = this.o;
    const tie = this.tie;
    idx.sort((a, b) => (s[b]! - s[a]! || tie(o[a]!, o[b]!)));
    const ords = new Uint32Array(n);
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const j = idx[i]!;
      ords[i] = o[j]!;
      scores[i] = s[j]!;
    }
    return { ords, scores };
  }

  /** True when (s1, o1) ranks below (s2, o2). */
  private worse(s1: number, o1: number, s2: number, o2: number): boolean {
    return s1 < s2 || (s1 === s2 && this.tie(o1, o2) > 0);
  }
}

function norm32(score: number): number {
  return score === score ? Math.fround(score) : -Infinity;
}
