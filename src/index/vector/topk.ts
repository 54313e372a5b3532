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

/** result()'s copy of a heap (a search is synchronous: one scratch pair for all collectors). */
let scratchS = new Float64Array(64);
let scratchO = new Uint32Array(64);

export class TopK {
  k: number;
  private s: Float64Array;
  private o: Uint32Array;
  private tie: TieBreak;
  private n = 0;

  constructor(k: number, tie: TieBreak = byOrd) {
    this.tie = tie;
    this.k = Math.max(0, Math.floor(k));
    this.s = new Float64Array(this.k);
    this.o = new Uint32Array(this.k);
  }

  /**
   * Empties the collector for a new k and tie rule, keeping its arrays when they are large enough: a
   * search that runs for every query reuses its collectors (arrays above 64 bytes live outside V8's heap,
   * and allocating them query after query set off full collections: docs/performance.md, session 27).
   */
  reset(k: number, tie: TieBreak = byOrd): this {
    this.tie = tie;
    this.k = Math.max(0, Math.floor(k));
    if (this.s.length < this.k) {
      this.s = new Float64Array(this.k);
      this.o = new Uint32Array(this.k);
    }
    this.n = 0;
    return this;
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
    this.siftDown(s, o, this.n, f, ord); // replace the root
  }

  /** Puts (f, ord) at the root of the heap s[0..n), o[0..n) and sifts it down to its place. */
  private siftDown(s: Float64Array, o: Uint32Array, n: number, f: number, ord: number): void {
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

  /**
   * The collector's own arrays: the kept ordinals and their scores are entries [0, size) in the order of
   * keptOrds (later entries are stale). Valid until the collector is next pushed to or reset; no copy, no view.
   */
  keptOrdArray(): Uint32Array {
    return this.o;
  }

  keptScoreArray(): Float64Array {
    return this.s;
  }

  /**
   * The kept entries, best first. Does not consume the collector. The heap is copied into a scratch pair
   * and its worst entry taken off n times (heapsort): no comparator closure and no index array, which
   * made most of a --batch vector query's garbage (each comparison returned a boxed double: ~40 KB a
   * query at 1M x 128 in 10 segments).
   */
  result(): Hits {
    const n = this.n;
    const ords = new Uint32Array(n);
    const scores = new Float32Array(n);
    if (n === 0) return { ords, scores };
    if (scratchS.length < n) {
      scratchS = new Float64Array(Math.max(n, 2 * scratchS.length));
      scratchO = new Uint32Array(scratchS.length);
    }
    const s = scratchS;
    const o = scratchO;
    // Copied by hand: n is k (10-100), and two views to copy from cost more than the copy.
    for (let j = 0; j < n; j++) {
      s[j] = this.s[j]!;
      o[j] = this.o[j]!;
    }
    for (let last = n - 1; last >= 0; last--) {
      // the root is the worst of s[0..last]: it goes to the end of what is left
      ords[last] = o[0]!;
      scores[last] = s[0]!;
      this.siftDown(s, o, last, s[last]!, o[last]!);
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
