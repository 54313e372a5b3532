/**
 * Metric kernels over Float32Array rows.
 *
 * Score convention (everywhere in elacsym): higher is better.
 * - cosine: cosine similarity. Stored vectors and the query are normalized with `normalizeInto`, then the
 *   score is their dot product, so a document scores bit-identically whether it sits in a segment's IVF
 *   file or in unflushed memory (`exactTopK`).
 * - dot: dot product.
 * - l2: negated Euclidean distance, -sqrt(sum of squared differences).
 *
 * Two tiers:
 * - Plain JS loops (`dot`, `l2sq`, `dotRows`, `l2sqRows`, `normalizeInto`), float64 arithmetic (V8 widens
 *   every Float32Array load). `dot`/`l2sq` (one pair of rows) are 4-way unrolled with independent
 *   accumulators, ~1.2-1.5x faster than the naive loop on 128 dimensions; `dotRows`/`l2sqRows` (one
 *   vector against consecutive rows) block four rows per pass over the vector, ~1.2-1.4x faster again
 *   (1.7 vs 2.3 ns per element on the build machine). The IVF build (k-means) uses these.
 * - `kernelRows` / `scoreRowsAbove`: every published score comes from these. They run the WebAssembly
 *   SIMD kernels at the end of this file (float32 accumulation) when available, else the JS row loops;
 *   see there for why and what they cost. l2 rows whose squared distance the float32 sum cannot hold
 *   (below 2^-100) are recomputed with the JS loop: see "Tiny l2 distances".
 */
import type { Metric } from '../../model/types.js';

/** Dot product of a[aOff .. aOff+dim) and b[bOff .. bOff+dim). */
export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end4 = dim - (dim & 3);
  let i = 0;
  for (; i < end4; i += 4) {
    s0 += a[aOff + i]! * b[bOff + i]!;
    s1 += a[aOff + i + 1]! * b[bOff + i + 1]!;
    s2 += a[aOff + i + 2]! * b[bOff + i + 2]!;
    s3 += a[aOff + i + 3]! * b[bOff + i + 3]!;
  }
  for (; i < dim; i++) s0 += a[aOff + i]! * b[bOff + i]!;
  return s0 + s1 + (s2 + s3);
}

/** Squared Euclidean distance between a[aOff .. aOff+dim) and b[bOff .. bOff+dim). */
export function l2sq(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end4 = dim - (dim & 3);
  let i = 0;
  for (; i < end4; i += 4) {
    const d0 = a[aOff + i]! - b[bOff + i]!;
    const d1 = a[aOff + i + 1]! - b[bOff + i + 1]!;
    const d2 = a[aOff + i + 2]! - b[bOff + i + 2]!;
    const d3 = a[aOff + i + 3]! - b[bOff + i + 3]!;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < dim; i++) {
    const d = a[aOff + i]! - b[bOff + i]!;
    s0 += d * d;
  }
  return s0 + s1 + (s2 + s3);
}

/**
 * out[outOff + r] = x[xo ..+dim) . row (row + r) of the row-major matrix m, for r < count. Four rows
 * share each load of x (~1.2-1.4x faster than `count` calls to `dot` on 128 dimensions). Every row is
 * summed in plain index order whatever its position in a block, so a row's result does not depend on
 * which rows it was computed with: the JS fallback of `kernelRows` uses these, never `dot`/`l2sq`,
 * whose 4-way split summation can differ in the last bit.
 */
export function dotRows(
  x: Float32Array,
  xo: number,
  m: Float32Array,
  row: number,
  count: number,
  dim: number,
  out: Float64Array,
  outOff: number,
): void {
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const b0 = (row + r) * dim;
    const b1 = b0 + dim;
    const b2 = b1 + dim;
    const b3 = b2 + dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < dim; i++) {
      const v = x[xo + i]!;
      s0 += v * m[b0 + i]!;
      s1 += v * m[b1 + i]!;
      s2 += v * m[b2 + i]!;
      s3 += v * m[b3 + i]!;
    }
    out[outOff + r] = s0;
    out[outOff + r + 1] = s1;
    out[outOff + r + 2] = s2;
    out[outOff + r + 3] = s3;
  }
  for (; r < count; r++) {
    const b = (row + r) * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[xo + i]! * m[b + i]!;
    out[outOff + r] = s;
  }
}

/** out[outOff + r] = l2sq(x[xo ..+dim), row `row + r` of m), for r < count; see `dotRows`. */
export function l2sqRows(
  x: Float32Array,
  xo: number,
  m: Float32Array,
  row: number,
  count: number,
  dim: number,
  out: Float64Array,
  outOff: number,
): void {
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const b0 = (row + r) * dim;
    const b1 = b0 + dim;
    const b2 = b1 + dim;
    const b3 = b2 + dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < dim; i++) {
      const v = x[xo + i]!;
      const d0 = v - m[b0 + i]!;
      const d1 = v - m[b1 + i]!;
      const d2 = v - m[b2 + i]!;
      const d3 = v - m[b3 + i]!;
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    out[outOff + r] = s0;
    out[outOff + r + 1] = s1;
    out[outOff + r + 2] = s2;
    out[outOff + r + 3] = s3;
  }
  for (; r < count; r++) {
    const b = (row + r) * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) {
      const d = x[xo + i]! - m[b + i]!;
      s += d * d;
    }
    out[outOff + r] = s;
  }
}

/** Euclidean norm of v[off .. off+dim). */
export function norm(v: Float32Array, off: number, dim: number): number {
  return Math.sqrt(dot(v, off, v, off, dim));
}

/** 1 / |v[off ..+dim)|, 0 for a zero vector: normalizeInto's factor (value i normalized is fround(v[i] * it)). */
export function inverseNorm(v: Float32Array, off: number, dim: number): number {
  const n = norm(v, off, dim);
  return n > 0 ? 1 / n : 0;
}

/**
 * Writes src[srcOff ..+dim) / |src| into dst[dstOff ..+dim) (float32-rounded by the store). A zero vector
 * stays zero (it then scores 0 against everything under cosine). src and dst may be the same array.
 */
export function normalizeInto(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, dim: number): void {
  const inv = inverseNorm(src, srcOff, dim);
  for (let i = 0; i < dim; i++) dst[dstOff + i] = src[srcOff + i]! * inv;
}

/** A normalized copy of v. */
export function normalized(v: Float32Array): Float32Array {
  const out = new Float32Array(v.length);
  normalizeInto(v, 0, out, 0, v.length);
  return out;
}

/**
 * The query as the kernels want it: a normalized copy for cosine, the query itself otherwise.
 * Score a prepared query against stored (for cosine: normalized) rows with `scoreRowsAbove`.
 */
export function prepareQuery(metric: Metric, query: Float32Array): Float32Array {
  return metric === 'cosine' ? normalized(query) : query;
}

/** What `kernelRows` computes per row: dot product, squared L2 distance, or negated L2 distance. */
export type RowKernel = 'dot' | 'l2sq' | 'negl2';

/**
 * out[r] = kernel(q[0 .. dim), row (row + r) of the row-major matrix m) for r < count. `pinned`, when
 * given, holds a copy of m's rows (pinRows(m, 0, ...)), scored in place by the WebAssembly kernels (m is
 * still read for the rare l2 rows recomputed in float64, see "Tiny l2 distances").
 *
 * Uses the WebAssembly SIMD kernels below when the runtime has them (f32x4 lanes, float32 accumulation:
 * relative error ~1e-7, results are float32 values), else the JS loops (float64 accumulation). Either
 * way one process uses one backend for everything, and a row's result does not depend on the rows
 * it is computed with, so a document scores the same through every path.
 */
export function kernelRows(
  kind: RowKernel,
  q: Float32Array,
  m: Float32Array,
  row: number,
  count: number,
  dim: number,
  out: Float64Array,
  pinned: PinnedRows | null = null,
): void {
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w !== null) {
    w.run(kind, q, pinned === null ? m : pinned.at, row, count, dim, -Infinity, null, out);
    // Tiny l2 distances (see there): a squared sum below TINY_SUM is recomputed from m's row in float64.
    if (kind === 'l2sq') {
      for (let r = 0; r < count; r++) if (out[r]! < TINY_SUM) out[r] = Math.fround(exactL2sq(q, m, row + r, dim));
    } else if (kind === 'negl2') {
      for (let r = 0; r < count; r++) if (out[r]! > -TINY_DIST) out[r] = Math.fround(-Math.sqrt(exactL2sq(q, m, row + r, dim)));
    }
    return;
  }
  if (kind === 'dot') {
    dotRows(q, 0, m, row, count, dim, out, 0);
  } else {
    l2sqRows(q, 0, m, row, count, dim, out, 0);
    if (kind === 'negl2') for (let r = 0; r < count; r++) out[r] = -Math.sqrt(out[r]!);
  }
}

/**
 * Scores (higher is better) prepared query q against rows [row, row+count) of the row-major matrix m
 * (stored rows: normalized for cosine) and keeps those scoring >= floor (a float32 value or -Infinity):
 * their indexes relative to `row`, ascending, in idx[0 .. n) and their scores in scores[0 .. n).
 * Returns n. idx and scores must have room for count entries.
 *
 * Selecting in the kernel keeps per-row JavaScript off the hot path: once a top-k is full, only the few
 * rows that can enter it come back, which is what makes a cold process fast (see the kernels below).
 * `pinned`, when given, holds a copy of m's rows (pinRows(m, 0, ...)): the WebAssembly kernels then
 * score it in place; the JS loops read m (so does the recomputation of tiny l2 distances).
 *
 * `ranking`: the scores only rank candidates that are re-scored exactly afterwards (the quantized scan of
 * a version 2 IVF file), never published. The WebAssembly backend then runs the wide kernels: four
 * accumulators instead of one, so the adds do not wait on each other (a single f32x4 accumulator makes
 * the loop latency-bound). Their sums are grouped differently, so a score may differ from the exact
 * kernel's in the last bits; the JS backend computes the exact scores either way.
 */
export function scoreRowsAbove(
  metric: Metric,
  q: Float32Array,
  m: Float32Array,
  row: number,
  count: number,
  dim: number,
  floor: number,
  idx: Uint32Array,
  scores: Float64Array,
  pinned: PinnedRows | null = null,
  ranking = false,
): number {
  const kind: RowKernel = metric === 'l2' ? 'negl2' : 'dot';
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w !== null) {
    const src = pinned === null ? m : pinned.at;
    if (kind === 'dot') return w.run(ranking ? 'dotWide' : 'dot', q, src, row, count, dim, floor, idx, scores);
    // Tiny l2 distances (see there). A floor above -TINY_DIST cannot be applied to the kernel's values (a
    // row it cuts may reach the floor once recomputed): the kernel then keeps every row above -TINY_DIST,
    // and fixTinyL2 applies the floor to the recomputed values.
    const loose = floor > -TINY_DIST;
    const n = w.run(ranking ? 'negl2Wide' : 'negl2', q, src, row, count, dim, loose ? -TINY_DIST : floor, idx, scores);
    return fixTinyL2(q, m, row, dim, floor, loose, idx, scores, n);
  }
  if (jsScratch.length < count) jsScratch = new Float64Array(count);
  const all = jsScratch;
  kernelRows(kind, q, m, row, count, dim, all);
  let n = 0;
  for (let r = 0; r < count; r++) {
    // Rounded to float32, the precision TopK keeps and publishes (and `floor` is in): a row whose score
    // rounds to the floor ties with it and must reach TopK's id tie-break, not be cut by the float64 value.
    const s = Math.fround(all[r]!);
    if (s >= floor) {
      idx[n] = r;
      scores[n++] = s;
    }
  }
  return n;
}
let jsScratch = new Float64Array(0);

/**
 * Matrices made by gatherMatrix, each mapped to a view of its whole buffer: the rows, then a scratch of
 * CHUNK_BYTES where runGathered gathers a chunk's scattered rows with copyWithin (a native copy inside one
 * buffer) before one copy of the chunk into the kernels' memory. The per-row alternative, TypedArray#set of
 * a subarray, made a view (~100 bytes of garbage) per row: 134 of the 215 MB a 1M mixed --batch of 600
 * requests allocated, a scavenge every ~30 requests (docs/performance.md, "Session 37").
 */
const gatherTails = new WeakMap<Float32Array, Float32Array>();

/**
 * A zeroed row-major matrix of `floats` floats (offset 0 in its own buffer) that scoreGatheredAbove gathers
 * from without garbage (see gatherTails). The buffer is CHUNK_BYTES longer than the matrix; the view
 * returned covers the matrix only. Not to be shared between threads (the scratch is per matrix).
 */
export function gatherMatrix(floats: number): Float32Array {
  const whole = new Float32Array(floats + CHUNK_BYTES / 4);
  const m = whole.subarray(0, floats);
  gatherTails.set(m, whole);
  return m;
}

/**
 * scoreRowsAbove (dot and cosine only) over scattered rows of a row-major matrix: rows list[from ..
 * from+count) of m (`dim` floats each), each first multiplied by inv[row] when `inv` is given (a cosine
 * scan's cached inverse norms: normalizeInto's arithmetic, f32(f64(v) * inv), done by the scaleRows
 * kernel with the same bits). Fills idx (positions in the list, from 0) and scores as scoreRowsAbove does,
 * the same values as gathering the rows into a block and calling it; returns their number, or -1 when the
 * WebAssembly kernels are not in use or the metric is l2 (its tiny-distance fix reads the gathered block):
 * the caller then gathers itself; so it does for cosine without `inv`.
 *
 * Why: the JS loop that copied and scaled each row into a block, and the block's copy into the kernels'
 * memory after it, were 70% of a 1% filtered query at 1M x 128 (cpu-prof); a native copy per row straight
 * into the kernels' memory and a SIMD scaling there cost about half (docs/performance.md, "Session 36").
 * Every inv[row] used must be set (not NaN): see ivf.ts fillInverseNorms.
 */
export function scoreGatheredAbove(
  metric: Metric,
  q: Float32Array,
  m: Float32Array,
  dim: number,
  list: Uint32Array,
  from: number,
  count: number,
  inv: Float64Array | null,
  floor: number,
  idx: Uint32Array,
  scores: Float64Array,
): number {
  if (metric === 'l2' || (metric === 'cosine' && inv === null) || backend !== 'wasm') return -1;
  const w = wasmKernels();
  if (w === null) return -1;
  return w.runGathered(q, m, dim, list, from, count, inv, floor, idx, scores);
}

// ---------------------------------------------------------------------------------------------------
// Tiny l2 distances
//
// The WebAssembly kernels sum the squared differences in float32. Below float32's smallest normal value,
// 2^-126, values are subnormal: spaced 2^-149 apart (2^-126 / 2^23, the 24-bit mantissa losing its implicit
// bit), so there a rounding loses up to 2^-150 in absolute terms instead of 2^-24 relative. A square below
// 2^-150 becomes 0: rows at distance 3e-24 and 0 from the query (squares 9e-48 and 0) both scored -0 and the
// tie went to the smaller id. Yet the published score is the distance, -sqrt(sum), a normal float32 for
// any distance down to 2^-126: a value the JS loops (float64 sums) get right and the kernels did not.
//
// The threshold, TINY_SUM = 2^-100: a row's kernel sum takes at most 2 * dim + 3 roundings (a square and an
// add per value, three adds folding the lanes), each losing at most 2^-150 in the subnormal range (a
// difference of two float32 values that lands there is exact), so underflow moves the sum by at most
// (2 * dim + 3) * 2^-150 < 2^-132 for dim <= MAX_DIM = 2^16. A float32 sum >= 2^-100 is therefore off by
// less than 2^-32 of itself from underflow: far below the 2^-24 relative rounding every float32 sum has, so
// such a row is an ordinary float32-accumulated score, as for any data. Only rows with a kernel sum below
// 2^-100 (a negated distance above -2^-50: sqrt is exact on powers of 4, and monotonic) are recomputed in
// float64 by `exactL2sq`: l2sqRows over that one row, the value the JS backend computes for it, published
// as fround(-sqrt(sum)) (fround(sum) for l2sq), the float32 value the JS backend's score rounds to. The
// 26 bits of margin above 2^-126 cover 2 * dim + 3 roundings for any dim below 2^25 (MAX_DIM is 2^16).
// Rows below the threshold are exact duplicates of the query or tiny data: ordinary data pays one
// comparison per returned row.
//
// A row's value still depends only on that row (its kernel value and its own floats): the same through
// every path, copied or pinned, whatever rows it is scored with. The ranking kernel negl2Wide gets the same
// treatment: tiny data scanned as decoded codes would otherwise rank every candidate at -0.
//
// dot and cosine need no such fix. There the published score is the sum itself, so the underflow loss,
// again at most (2 * dim + 3) * 2^-150, exceeds float32's own rounding of the published score (2^-24 of it)
// only for scores below ~dim * 2^-125: scores that are themselves subnormal in float32, or within
// log2(dim) + 1 bits of it, which float32 cannot carry faithfully anyway (a subnormal has fewer than 24
// significant bits). There the kernel may print 0 where the JS loops print a subnormal. l2 is different
// because its intermediate is the square of what is published: distances below 2^-63 (down to 2^-126)
// publish as full-precision normal float32 values while their squares are subnormal, or zero below 2^-75.
// A dot fix-up would also run on every exactly orthogonal row (sparse or one-hot vectors, zero vectors
// under cosine): a JS loop per row on such data, for that subnormal band only.

/** Squared sums below this (and negated distances above -TINY_DIST) are recomputed: see above. */
const TINY_SUM = 2 ** -100;
const TINY_DIST = 2 ** -50;
const tinyScratch = new Float64Array(1);

/** l2sq of q and row `r` of m in float64, summed exactly as the JS backend sums it (l2sqRows). */
function exactL2sq(q: Float32Array, m: Float32Array, r: number, dim: number): number {
  l2sqRows(q, 0, m, r, 1, dim, tinyScratch, 0);
  return tinyScratch[0]!;
}

/**
 * After an l2 kernel kept n rows (idx/scores, relative to `row`) by `floor`, or by -TINY_DIST when `loose`:
 * recomputes the rows above -TINY_DIST (see "Tiny l2 distances") and keeps those reaching `floor`. Returns
 * the new n. Unless a row is tiny or the floor loose: one comparison per row, nothing rewritten.
 */
function fixTinyL2(q: Float32Array, m: Float32Array, row: number, dim: number, floor: number, loose: boolean, idx: Uint32Array, scores: Float64Array, n: number): number {
  let i = 0;
  if (!loose) {
    while (i < n && scores[i]! <= -TINY_DIST) i++;
    if (i === n) return n;
  }
  let kept = i;
  for (; i < n; i++) {
    const r = idx[i]!;
    let s = scores[i]!;
    if (s > -TINY_DIST) s = Math.fround(-Math.sqrt(exactL2sq(q, m, row + r, dim)));
    if (s >= floor) {
      idx[kept] = r;
      scores[kept++] = s;
    }
  }
  return kept;
}

/**
 * Pins rows [row, row+count) of m (see PinnedRows). Returns null when there is nothing to pin into (JS
 * backend, no WebAssembly) or the process-wide cap is reached: callers then score from m as usual.
 */
export function pinRows(m: Float32Array, row: number, count: number, dim: number): PinnedRows | null {
  const w = backend === 'wasm' ? wasmKernels() : null;
  return w === null || count === 0 ? null : w.pin(m, row, count, dim);
}

/**
 * Whether `scoreCodesAbove` can run here (it needs the WebAssembly kernels; without them, callers decode
 * codes to floats and use `scoreRowsAbove`).
 */
export function codesKernelAvailable(): boolean {
  return backend === 'wasm' && wasmKernels() !== null;
}

/**
 * Ranking scores of uint8 codes: for rows [row, row+count) of `codes` (row-major, `stride` bytes a row; or
 * rows pinned by `pinCodes`), f32(sum over i < stride of q16[i] * code[i]), computed exactly in int32,
 * keeping the rows whose value is >= floor: their indexes relative to `row`, ascending, in idx[0 .. n) and
 * their values in scores[0 .. n). Returns n. The caller bounds q16 so that 255 * stride * max|q16| <
 * 2^31 (see `codesQueryLimit`). Only when `codesKernelAvailable()`.
 *
 * Why: the quantized scan of a version 2 IVF file read four bytes a dimension (the codes converted to
 * float32) and was bound by memory bandwidth; one byte a dimension, widened in registers and multiplied
 * with i32x4.dot_i16x8_s, moves a quarter of the bytes (measured in docs/performance.md).
 */
export function scoreCodesAbove(q16: Int16Array, codes: Uint8Array | PinnedRows, row: number, count: number, stride: number, floor: number, idx: Uint32Array, scores: Float64Array): number {
  const w = wasmKernels();
  if (w === null) throw new Error('scoreCodesAbove needs the WebAssembly kernels (check codesKernelAvailable)');
  return w.runCodes(q16, codes instanceof Uint8Array ? codes : codes.at, row, count, stride, floor, idx, scores);
}

/** The largest |q16| value `scoreCodesAbove` accepts for rows of `stride` codes: the int32 sum cannot overflow. */
export function codesQueryLimit(stride: number): number {
  return int16QueryLimit(255, stride);
}

/** The largest |query value| (<= 32767, int16 lanes) for which `terms` products with codes up to maxCode sum below 2^31. */
function int16QueryLimit(maxCode: number, terms: number): number {
  return Math.max(1, Math.min(32767, Math.floor((2 ** 31 - 1) / (maxCode * Math.max(1, terms)))));
}

/** 4-bit code rows are whole 16-byte blocks (32 dimensions each). */
function checkNibbleStride(stride: number): void {
  if (stride % 16 !== 0 || stride <= 0) throw new Error(`4-bit code rows must be a positive multiple of 16 bytes, not ${stride}`);
}

/**
 * Ranking scores of 4-bit codes (IVF version 5): rows [row, row+count) of `codes` (or rows pinned by
 * `pinCodes`), `stride` bytes a row, a multiple of 16 holding 2 * stride codes: byte j of each 16-byte block
 * b holds dimension 32b + j in its low nibble and 32b + 16 + j in its high nibble. `q16` holds 2 * stride
 * values Q in dimension order, and for 'l2' 2 * stride more, F (>= 0). Computed exactly in int32:
 *   'dot': sum of Q[d] * code[d]
 *   'l2':  sum of code[d] * (Q[d] - F[d] * code[d])   (with Q = 2 g u * step and F = g step^2: g times
 *          |u|^2 - |u - step * code|^2, the squared distance up to a per-query constant)
 * keeping the rows whose f32 value is >= floor, as `scoreCodesAbove` does. The caller bounds Q and F by
 * `nibblesQueryLimit` so that nothing overflows. Runs the WebAssembly kernels when available, else the same
 * integer arithmetic in JS (identical results).
 *
 * Why 4-bit codes: the int8 codes were 128 of the ~800 bytes a 128-d document costs on disk (issue 11's
 * target is 750); half the bytes, scanned at the same speed (the nibbles are split in registers), and the
 * re-ranking of a few more candidates makes up for the coarser ranking (docs/performance.md).
 */
export function scoreNibblesAbove(
  kind: 'dot' | 'l2',
  q16: Int16Array,
  codes: Uint8Array | PinnedRows,
  row: number,
  count: number,
  stride: number,
  floor: number,
  idx: Uint32Array,
  scores: Float64Array,
): number {
  checkNibbleStride(stride);
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w !== null) return w.runNibbles(kind, q16, codes instanceof Uint8Array ? codes : codes.at, row, count, stride, floor, idx, scores);
  if (!(codes instanceof Uint8Array)) throw new Error('pinned rows without the WebAssembly kernels');
  const dims = 2 * stride;
  let n = 0;
  for (let r = 0; r < count; r++) {
    const at = (row + r) * stride;
    let sum = 0;
    for (let b = 0; b < stride; b += 16) {
      for (let j = 0; j < 16; j++) {
        const c = codes[at + b + j]!;
        const d0 = 2 * b + j;
        const lo = c & 15;
        const hi = c >> 4;
        if (kind === 'dot') sum += q16[d0]! * lo + q16[d0 + 16]! * hi;
        else sum += lo * (q16[d0]! - q16[dims + d0]! * lo) + hi * (q16[d0 + 16]! - q16[dims + d0 + 16]! * hi);
      }
    }
    const v = Math.fround(sum);
    if (v >= floor) {
      idx[n] = r;
      scores[n++] = v;
    }
  }
  return n;
}

/** A filter mask in the kernels' memory (loadKernelMask): its byte address and length. */
export interface KernelMask {
  readonly at: number;
  readonly length: number;
}

/**
 * Puts a filter mask (one byte per ordinal, 1 = allowed, 0 = not; no other value) where the masked kernels
 * read it, for the `scoreNibblesMaskedAbove` calls that follow (valid until the next load). null without the
 * WebAssembly kernels or when the mask is larger than 1 MiB (a source of more than 1M ordinals): then score
 * the plain way.
 */
export function loadKernelMask(mask: Uint8Array): KernelMask | null {
  const w = backend === 'wasm' ? wasmKernels() : null;
  return w === null ? null : w.loadMask(mask);
}

/**
 * `scoreNibblesAbove` over the allowed rows of one IVF cluster only: `cluster` holds it as stored (count
 * u32 ordinals, then count rows of `stride` bytes of 4-bit codes), or is its rows then its ordinals pinned
 * (pinClusterRows: the rows first stay 16-byte aligned for the kernels); row r is scored when the
 * mask loaded by `loadKernelMask` allows ordinal ords[r] (an ordinal past its end is not allowed, as
 * `mask[ord] === 1` says in JavaScript), and the rows reaching `floor` are
 * collected into idx (their positions r) and scores, exactly the values scoreNibblesAbove gives them.
 * Returns how many, or -1 when the cluster does not fit the kernels' scratch (the caller then scores every
 * row and tests the filter itself). The test costs a byte read per row inside the kernel, where scoring a
 * row of 128 dimensions costs ~18 ns on the machine measured (docs/performance.md, session 29).
 */
export function scoreNibblesMaskedAbove(
  kind: 'dot' | 'l2',
  q16: Int16Array,
  cluster: Uint8Array | PinnedRows,
  count: number,
  stride: number,
  mask: KernelMask,
  floor: number,
  idx: Uint32Array,
  scores: Float64Array,
): number {
  checkNibbleStride(stride);
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w === null) return -1;
  return w.runNibblesMasked(kind, q16, cluster instanceof Uint8Array ? cluster : cluster.at, count, stride, mask, floor, idx, scores);
}

/**
 * `scoreNibblesAbove('l2', ...)` over `count` pinned rows, in two sums: sum code[d] * Q[d] - T with each row's
 * quadratic term T = sum F[d] * code[d]^2 (q16 as for 'l2': Q, then F). T depends on the row and F only,
 * and F only on the exponent of the query's scale (IvfReader.nibbleQuery): a resident reader keeps the terms
 * of a cluster for each exponent it met. `save` computes the terms as it scores and stores them in `term`
 * (count i32); `given` reads them and scores as the dot kernel does (no F loads, multiplies or subtractions:
 * ~27% less time a row on 128-d rows, docs/performance.md "Session 35"). Either way the values, the rows
 * selected and their order are exactly scoreNibblesAbove's. Returns the number of rows selected, or -1 when
 * it cannot run here (no WebAssembly kernels, or the cluster's results do not fit the scratch): the caller
 * then calls scoreNibblesAbove. `rows`: pinned rows, or their byte address; `termAt`: the byte address of
 * the first row's term (count i32 from there, inside a block of pinTerms). With `ordsAt` (the byte address
 * of the rows' u32 ordinals, as pinClusterRows pins them after the rows), idx gets each selected row's
 * ordinal instead of its position.
 */
export function scoreNibblesTermAbove(
  mode: 'save' | 'given',
  q16: Int16Array,
  rows: PinnedRows | number,
  count: number,
  stride: number,
  termAt: number,
  floor: number,
  idx: Uint32Array,
  scores: Float64Array,
  ordsAt = -1,
): number {
  checkNibbleStride(stride);
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w === null) return -1;
  return w.runNibblesTerm(mode, q16, typeof rows === 'number' ? rows : rows.at, count, stride, termAt, floor, idx, scores, ordsAt);
}

/** Room for `count` quadratic terms (scoreNibblesTermAbove), pinned; null as pinCodes gives it. Free with unpinRows. */
export function pinTerms(count: number): PinnedRows | null {
  const w = backend === 'wasm' ? wasmKernels() : null;
  return w === null || count === 0 ? null : w.pinBytes(new Uint8Array(0), count, 4, undefined, 4 * count);
}

/**
 * The bound `scoreNibblesAbove` needs for rows of `stride` bytes: 'dot' |Q[d]| <= limit; 'l2' |Q[d]| +
 * 15 F[d] <= limit (so Q - F * code stays within it). The limit is at most 32767 (int16 lanes), and each
 * term is then at most 15 * limit in magnitude, so the 2 * stride terms sum below 2^31 (int32 lanes).
 */
export function nibblesQueryLimit(stride: number): number {
  return int16QueryLimit(15, 2 * Math.max(1, stride));
}

/**
 * Pins an IVF cluster as stored (`count` u32 ordinals, then `count` rows of `stride` code bytes) as
 * `scoreNibblesMaskedAbove` reads it pinned: the rows, then the ordinals. Returns the block (to unpin) and
 * its rows alone (for `scoreNibblesAbove`), or null as pinCodes does.
 */
export function pinClusterRows(cluster: Uint8Array, count: number, stride: number): { block: PinnedRows; rows: PinnedRows } | null {
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w === null || count === 0) return null;
  const block = w.pinBytes(cluster.subarray(4 * count, count * (4 + stride)), count, 4 + stride, cluster.subarray(0, 4 * count));
  return block === null ? null : { block, rows: { at: block.at, bytes: count * stride, count, dim: stride } };
}

/** Pins `count` rows of `stride` codes (see `pinRows`); null when there is nothing to pin into or no room. */
export function pinCodes(codes: Uint8Array, count: number, stride: number): PinnedRows | null {
  const w = backend === 'wasm' ? wasmKernels() : null;
  return w === null || count === 0 ? null : w.pinBytes(codes.subarray(0, count * stride), count, stride);
}

/** Grows the kernels' memory once for `bytes` more of pinned rows (instead of page by page). */
export function reservePinned(bytes: number): void {
  const w = backend === 'wasm' ? wasmKernels() : null;
  w?.reservePinned(bytes);
}

/**
 * The floats of rows pinned by pinRows, as a view of the kernels' memory (no copy): valid until that memory
 * grows (the view then has length 0: ask again) or the rows are unpinned. null without the kernels.
 */
export function pinnedFloats(p: PinnedRows): Float32Array | null {
  return wasmState ? wasmState.floatsAt(p.at, p.count * p.dim) : null;
}

/** Frees pinned rows (each PinnedRows exactly once). */
export function unpinRows(p: PinnedRows): void {
  wasmState?.unpin(p);
}

/** Bytes of pinned rows in this process. */
export function pinnedBytes(): number {
  return wasmState?.pinnedBytes ?? 0;
}

/** For tests: the end of the pinned area, and how many row chunks were scored in place so far. */
export function pinningStats(): { top: number; base: number; inPlaceChunks: number } {
  return { top: wasmState?.pinnedTop ?? PINNED_BASE, base: PINNED_BASE, inPlaceChunks };
}
let inPlaceChunks = 0;

/**
 * A filter condition over a column of unsigned codes (filter/evaluate.ts): for i < len, out[i] = 1 when
 * lo <= codes[i] <= hi (unsigned, lo and hi in [0, 2^(8 * codes.BYTES_PER_ELEMENT))), or with `table`
 * (bytes 0 or 1, one per code) out[i] = table[codes[i]], 0 for a code past the table; else 0. False when it
 * cannot run here (no WebAssembly, the 'js' backend, a table over 128 KiB), out untouched: the caller then
 * loops in JavaScript. Why: a cold query evaluates each segment's column once, in loops V8 has not
 * optimized yet (~13-16 ns a row: ~15 ms over 1M rows in 10 segments, docs/performance.md "Session 32").
 */
export function maskCodes(codes: Uint8Array | Uint16Array | Uint32Array, len: number, lo: number, hi: number, table: Uint8Array | null, out: Uint8Array): boolean {
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w === null || len > codes.length || len > out.length) return false;
  return w.maskCodes(codes, len, lo, hi, table, out);
}

/** The number of bytes of `bytes` that are not 0 (a filter mask's matches), through the kernel when it can run. */
export function countNonZeroBytes(bytes: Uint8Array): number {
  const w = backend === 'wasm' ? wasmKernels() : null;
  if (w !== null) return w.countNonZero(bytes);
  let k = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) k++;
  return k;
}

// ---------------------------------------------------------------------------------------------------
// WebAssembly SIMD kernels
//
// Why: a cold `elacsym query` process runs its scoring loops once, mostly before V8 has optimized them
// (interpreted, ~20 ns per element on the build machine). Measured there over a 100k x 128 segment
// (16 probed clusters, ~5k rows): a whole cold search took 17-27 ms with the JS loops, ~10 ms with these
// kernels, most of it reading 3.5 MB; scoring 6400 rows takes ~1.3 ms in a fresh process (compiling
// the module ~0.4 ms) and ~0.2 ms warm (~0.3 ns per element, 6-7x the optimized JS loops). Rows are
// copied into the module's memory per call (a memcpy, ~0.1 ns per element), at most 256 KiB at a
// time. Selecting the rows that reach `floor` inside the kernel keeps per-row JS (slow while cold) off
// the path once a top-k is full.
//
// The module (embedded below) has one function per kernel, exported under the kernel's name, of type
// (q i32, m i32, count i32, dim i32, out i32, floor f32, idx i32) -> i32, addresses in bytes into the
// imported memory "e"."m":
//
//   dimBytes = dim * 4; end4 = dimBytes & ~15; row = m; n = 0
//   for r in 0 .. count-1:
//     acc = f32x4(0)
//     for i = 0; i < end4; i += 16:  a = v128.load(q + i); b = v128.load(row + i)
//                                    acc += (a - b) * (a - b)     [l2sq, negl2]
//                                    acc += a * b                 [dot]
//     s = (acc[0] + acc[1]) + (acc[2] + acc[3])
//     for i = end4; i < dimBytes; i += 4: s += the same on f32 scalars
//     if negl2: s = -sqrt(s)
//     f32 out[r] = s
//     if s >= floor: u32 idx[n++] = r
//     row += dimBytes
//   return n
//
// dotNibblesMasked and l2NibblesMasked are dotNibbles and l2Nibbles over an IVF cluster's rows followed by
// its ordinals, skipping each row whose ordinal a filter mask in the module's memory does not allow (two
// more parameters: the mask's address and length; the listing is the assembler's, in
// test/unit/vector/distance.test.ts): see scoreNibblesMaskedAbove.
//
// l2NibblesTerm and l2NibblesGivenTerm are l2Nibbles with the rows' quadratic terms kept in memory (one
// more parameter: their address): the first sums code * Q and code * (F * code) in two accumulators and
// stores the second per row, the second reads it back and runs dotNibbles' loop; see scoreNibblesTermAbove.
//
// The filter kernels (maskCodes, countNonZeroBytes; the listing is the assembler's too) write one byte of
// 0/1 per code of a typed filter column: inRange{8,16,32}(codes, n, lo, hi, out) tests lo <= c <= hi
// unsigned (inRange8 16 codes a step: i8x16.ge_u and le_u, and with 1), lookup{8,16,32}(codes, n, table,
// len, out) reads table[c] (0 past len); countNonZero(at, n) counts the bytes that are not 0 (i8x16 lanes,
// widened every 255 steps of 16).
//
// The ranking kernels dotWide and negl2Wide (scoreRowsAbove's `ranking`) first run, while i < dimBytes & ~63,
// four accumulators over 16 floats per step (acc += lanes 0-3, acc1 += 4-7, acc2 += 8-11, acc3 += 12-15),
// then acc = (acc + acc1) + (acc2 + acc3) and the loops above from that i. Measured on the serve
// benchmark's 100k x 128 namespace (quantized scan of ~5k rows per query): see docs/performance.md.

let backend: 'wasm' | 'js' = 'wasm';

/** The backend `kernelRows` uses: 'wasm' when requested and available, else 'js'. */
export function kernelBackend(): 'wasm' | 'js' {
  return backend === 'wasm' && wasmKernels() !== null ? 'wasm' : 'js';
}

/** Selects the backend (tests and benchmarks compare both; 'wasm' falls back to 'js' when unavailable). */
export function useKernelBackend(b: 'wasm' | 'js'): void {
  backend = b;
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
type KernelFn = (q: number, m: number, count: number, dim: number, out: number, floor: number, idx: number) => number;
/** dotNibblesMasked / l2NibblesMasked: a KernelFn with the mask's address and length last (see scoreNibblesMaskedAbove). */
type MaskedKernelFn = (q: number, m: number, count: number, stride: number, out: number, floor: number, idx: number, mask: number, maskLen: number) => number;
/** inRange{8,16,32} (a, b = lo, hi) and lookup{8,16,32} (a, b = table, tableLen): see `maskCodes`. */
type FilterKernelFn = (codes: number, n: number, a: number, b: number, out: number) => void;
/** l2NibblesTerm / l2NibblesGivenTerm: a KernelFn with the address of the rows' quadratic terms last (see scoreNibblesTermAbove). */
type TermKernelFn = (q: number, m: number, count: number, stride: number, out: number, floor: number, idx: number, term: number) => number;
/** scaleRows: n rows of dim floats at `at` scaled in place by the f64 factors at `inv` (see scoreGatheredAbove). */
type ScaleKernelFn = (at: number, n: number, dim: number, inv: number) => void;
type FilterKernelName = 'inRange8' | 'inRange16' | 'inRange32' | 'lookup8' | 'lookup16' | 'lookup32';
/** The module's functions: the exact kernels and the ranking kernels (see `scoreRowsAbove`'s `ranking`). */
type KernelName = RowKernel | 'dotWide' | 'negl2Wide' | 'dotCodes' | 'dotNibbles' | 'l2Nibbles';

const PAGE = 65536;
const CHUNK_BYTES = 256 * 1024;

/**
 * Rows copied once into the kernels' memory and scored there in place (`scoreRowsAbove(..., pinned)`): for a
 * process that holds its vectors in memory and queries them again and again (`query --batch`), copying
 * ~5,000 probed rows into the module on every query cost more than scoring them.
 */
export interface PinnedRows {
  /** Byte address in the module's memory. */
  readonly at: number;
  readonly bytes: number;
  readonly count: number;
  readonly dim: number;
}

/**
 * The filter kernels' scratch: [0, this). The scoring kernels' chunks touch as much already; more would be
 * fresh pages in a cold process (~10 us each on the VM measured, docs/performance.md "Session 21").
 */
const FILTER_SCRATCH_BYTES = CHUNK_BYTES;
/** Memory below this is the per-call scratch (query, copied rows, results); pinned rows live above. */
const PINNED_BASE = 2 * 1024 * 1024;
/** A filter mask for the masked kernels lives in [MASK_BASE, PINNED_BASE) (loadKernelMask); the per-call scratch below it. */
const MASK_BASE = 1024 * 1024;
/** Most memory all pinned rows of a process may take (beyond it, rows are copied per call as before). */
const PIN_CAP_BYTES = 1024 * 1024 * 1024;

class WasmKernels {
  private f32: Float32Array;
  private u32: Uint32Array;
  private i16: Int16Array;
  private f64: Float64Array;
  /**
   * runNibbles' query, written by writeNibbleQuery (a method made once: a closure and two typed-array
   * views per call were ~35 KB of garbage a --batch vector query at 1M x 128, 176 probes).
   */
  private nq: Int16Array = new Int16Array(0);
  private nqValues = 0;
  private readonly writeNibbleQuery = (): void => {
    const q = this.nq;
    if (q.length === this.nqValues) this.i16.set(q); // a copy of the whole array: no view made
    else for (let i = 0; i < this.nqValues; i++) this.i16[i] = q[i]!;
  };
  /** Next free byte of the pinned area, and the holes below it (ascending, never adjacent). */
  private top = PINNED_BASE;
  private readonly holes: { at: number; bytes: number }[] = [];
  pinnedBytes = 0;
  constructor(
    private readonly mem: WasmMemory,
    private readonly fns: Record<KernelName, KernelFn>,
    private readonly masked: Record<'dot' | 'l2', MaskedKernelFn>,
    private readonly filters: Record<FilterKernelName, FilterKernelFn>,
    private readonly countFn: (at: number, n: number) => number,
    private readonly termFns: Record<'save' | 'given', TermKernelFn>,
    private readonly scaleFn: ScaleKernelFn,
  ) {
    this.f32 = new Float32Array(mem.buffer);
    this.u32 = new Uint32Array(mem.buffer);
    this.i16 = new Int16Array(mem.buffer);
    this.f64 = new Float64Array(mem.buffer);
  }

  /**
   * See scoreGatheredAbove: rows list[from .. from+count) of m copied into the scratch a chunk at a time
   * (one native copy each), scaled there by scaleRows when `inv` is given, scored by
   * `dot`; the rows at or above floor collected into idx (their positions in the list, from 0) and out,
   * compacted.
   */
  runGathered(q: Float32Array, m: Float32Array, dim: number, list: Uint32Array, from: number, count: number, inv: Float64Array | null, floor: number, idx: Uint32Array, out: Float64Array): number {
    const rowBytes = 4 * dim;
    const rowsPerChunk = Math.max(1, Math.min(count, Math.floor(CHUNK_BYTES / rowBytes)));
    const mAt = align16(rowBytes);
    const invAt = align16(mAt + rowBytes * rowsPerChunk);
    const outAt = invAt + 8 * rowsPerChunk;
    const idxAt = outAt + 4 * rowsPerChunk;
    if (idxAt + 4 * rowsPerChunk > MASK_BASE) throw new Error(`kernel scratch overflows for rows of ${rowBytes} bytes`);
    this.reserve(idxAt + 4 * rowsPerChunk);
    const f32 = this.f32;
    const f64 = this.f64;
    const u32 = this.u32;
    f32.set(q.length === dim ? q : q.subarray(0, dim), 0); // no view for a query of the right length (the usual case)
    const i0 = invAt >> 3;
    const o = outAt >> 2;
    const ix = idxAt >> 2;
    const fn = this.fns.dot;
    // Other matrices: rows copied by TypedArray#set of a subarray per row, a native copy, though each
    // subarray is ~100 bytes of garbage (a 1% filtered query at 1M: ~1 MB, a scavenge every ~8 queries).
    // Measured against a JS loop copying float64 pairs (no garbage): 300 such queries, mean 2.3-2.6 against
    // 3.4-3.6 ms, p99 3.6-4.1 against 4.6-5.4, collections included; the 1M vector batch the same.
    const m0 = mAt >> 2;
    // A matrix from gatherMatrix: its rows gathered by copyWithin into the scratch after them (no garbage),
    // then one copy of the chunk. Rows of a chunk are at most CHUNK_BYTES, the scratch's size.
    const whole = gatherTails.get(m);
    const t0 = whole !== undefined && whole.byteOffset === m.byteOffset && whole.length - m.length >= rowsPerChunk * dim ? m.length : -1;
    let found = 0;
    for (let done = 0; done < count; done += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, count - done);
      if (t0 >= 0) {
        for (let j = 0; j < n; j++) {
          const r = list[from + done + j]!;
          whole!.copyWithin(t0 + j * dim, r * dim, r * dim + dim);
          if (inv !== null) f64[i0 + j] = inv[r]!;
        }
        f32.set(whole!.subarray(t0, t0 + n * dim), m0);
      } else {
        for (let j = 0; j < n; j++) {
          const r = list[from + done + j]!;
          f32.set(m.subarray(r * dim, r * dim + dim), m0 + j * dim);
          if (inv !== null) f64[i0 + j] = inv[r]!;
        }
      }
      if (inv !== null) this.scaleFn(mAt, n, dim, invAt);
      const hits = fn(0, mAt, n, dim, outAt, floor, idxAt);
      for (let j = 0; j < hits; j++) {
        const r = u32[ix + j]!;
        idx[found] = done + r;
        out[found++] = f32[o + r]!;
      }
    }
    return found;
  }

  /**
   * Runs `kind` over rows [row, row+count) of m, or over `count` rows pinned at byte address m (see
   * pinRows: scored in place, nothing copied). With idx: collects rows scoring >= floor into idx/out
   * (compacted) and returns their number; without: writes every row's result to out[r].
   */
  run(
    kind: KernelName,
    q: Float32Array,
    m: Float32Array | number,
    row: number,
    count: number,
    dim: number,
    floor: number,
    idx: Uint32Array | null,
    out: Float64Array,
  ): number {
    const rows = typeof m === 'number' ? m : new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
    return this.runRows(this.fns[kind], () => this.f32.set(q.length === dim ? q : q.subarray(0, dim), 0), 4 * dim, rows, row, count, 4 * dim, dim, floor, idx, out);
  }

  /**
   * dotCodes over rows [row, row+count) of `codes` (`stride` bytes a row), or over `count` rows pinned at
   * byte address `codes`: collects the rows whose f32(q16 . codes) >= floor into idx/out (compacted) and
   * returns their number.
   */
  runCodes(q16: Int16Array, codes: Uint8Array | number, row: number, count: number, stride: number, floor: number, idx: Uint32Array, out: Float64Array): number {
    const setQuery = () => new Int16Array(this.mem.buffer, 0, stride).set(q16.subarray(0, stride));
    return this.runRows(this.fns.dotCodes, setQuery, 2 * stride, codes, row, count, stride, stride, floor, idx, out);
  }

  /**
   * See `maskCodes`: the codes go through the scratch area in chunks (the table first, when given), each
   * chunk's bytes copied out into `out`. -1 when the table would take more than half the scratch.
   */
  maskCodes(codes: Uint8Array | Uint16Array | Uint32Array, len: number, lo: number, hi: number, table: Uint8Array | null, out: Uint8Array): boolean {
    const w = codes.BYTES_PER_ELEMENT;
    const tableBytes = table === null ? 0 : align16(table.length);
    if (tableBytes > FILTER_SCRATCH_BYTES / 2) return false;
    const per = Math.floor((FILTER_SCRATCH_BYTES - tableBytes - 16) / (w + 1)) & ~15;
    this.reserve(FILTER_SCRATCH_BYTES);
    const mem = new Uint8Array(this.mem.buffer);
    if (table !== null) mem.set(table, 0);
    const fn = this.filters[`${table === null ? 'inRange' : 'lookup'}${8 * w}` as FilterKernelName];
    const src = new Uint8Array(codes.buffer, codes.byteOffset, len * w);
    const at = tableBytes;
    for (let done = 0; done < len; done += per) {
      const k = Math.min(per, len - done);
      mem.set(src.subarray(done * w, (done + k) * w), at);
      const outAt = align16(at + k * w);
      if (table === null) fn(at, k, lo, hi, outAt);
      else fn(at, k, 0, table.length, outAt);
      out.set(mem.subarray(outAt, outAt + k), done);
    }
    return true;
  }

  /** See `countNonZeroBytes`. */
  countNonZero(bytes: Uint8Array): number {
    this.reserve(FILTER_SCRATCH_BYTES);
    const mem = new Uint8Array(this.mem.buffer);
    let count = 0;
    for (let done = 0; done < bytes.length; done += FILTER_SCRATCH_BYTES) {
      const k = Math.min(FILTER_SCRATCH_BYTES, bytes.length - done);
      mem.set(bytes.subarray(done, done + k), 0);
      count += this.countFn(0, k);
    }
    return count;
  }

  /** Copies a filter mask to MASK_BASE for the masked kernels; null when it does not fit there. */
  loadMask(mask: Uint8Array): KernelMask | null {
    if (mask.length > PINNED_BASE - MASK_BASE) return null;
    this.reserve(MASK_BASE + mask.length);
    new Uint8Array(this.mem.buffer, MASK_BASE, mask.length).set(mask);
    return { at: MASK_BASE, length: mask.length };
  }

  /**
   * dotNibblesMasked / l2NibblesMasked over one IVF cluster: `cluster` as stored (count u32 ordinals, then
   * count rows of `stride` bytes), copied in as the kernels read it (the rows, then the ordinals), or
   * pinned in that order at that byte address. -1 when a copied cluster does not fit the scratch (the
   * caller then scans it the plain way).
   */
  runNibblesMasked(kind: 'dot' | 'l2', q16: Int16Array, cluster: Uint8Array | number, count: number, stride: number, mask: KernelMask, floor: number, idx: Uint32Array, out: Float64Array): number {
    const values = (kind === 'l2' ? 4 : 2) * stride;
    const mAt = align16(2 * values);
    const copied = typeof cluster === 'number' ? 0 : count * (4 + stride);
    const outAt = align16(mAt + copied);
    const idxAt = outAt + 4 * count;
    if (idxAt + 4 * count > MASK_BASE) return -1;
    this.reserve(idxAt + 4 * count);
    this.setNibbleQuery(q16, values);
    let base = mAt;
    if (typeof cluster === 'number') base = cluster;
    else {
      const to = new Uint8Array(this.mem.buffer, mAt, copied);
      to.set(cluster.subarray(4 * count, copied));
      to.set(cluster.subarray(0, 4 * count), count * stride);
    }
    const hits = this.masked[kind](0, base, count, stride, outAt, floor, idxAt, mask.at, mask.length);
    return this.takeHits(hits, outAt, idxAt, -1, idx, out);
  }

  /** dotNibbles / l2Nibbles (see scoreNibblesAbove), as runCodes: q16 holds 2 * stride values (l2: twice that). */
  runNibbles(kind: 'dot' | 'l2', q16: Int16Array, codes: Uint8Array | number, row: number, count: number, stride: number, floor: number, idx: Uint32Array, out: Float64Array): number {
    const values = (kind === 'l2' ? 4 : 2) * stride;
    this.nq = q16;
    this.nqValues = values;
    const fn = kind === 'dot' ? this.fns.dotNibbles : this.fns.l2Nibbles;
    return this.runRows(fn, this.writeNibbleQuery, 2 * values, codes, row, count, stride, stride, floor, idx, out);
  }

  /**
   * l2NibblesTerm (`save`) / l2NibblesGivenTerm over `count` rows pinned at byte address `rows`, their
   * quadratic terms at byte address `term` (i32 each): see scoreNibblesTermAbove. -1 when the results of
   * `count` rows do not fit the scratch (the caller then runs l2Nibbles).
   */
  runNibblesTerm(mode: 'save' | 'given', q16: Int16Array, rows: number, count: number, stride: number, term: number, floor: number, idx: Uint32Array, out: Float64Array, ordsAt: number): number {
    const values = (mode === 'save' ? 4 : 2) * stride;
    const outAt = align16(2 * values);
    const idxAt = outAt + 4 * count;
    if (idxAt + 4 * count > MASK_BASE) return -1;
    this.reserve(idxAt + 4 * count);
    this.setNibbleQuery(q16, values);
    const hits = this.termFns[mode](0, rows, count, stride, outAt, floor, idxAt, term);
    return this.takeHits(hits, outAt, idxAt, ordsAt, idx, out);
  }

  /**
   * Writes a nibble kernel's query (the first `values` of q16) at 0, with no view made: one per probe was
   * a filtered 1M query's garbage.
   */
  private setNibbleQuery(q16: Int16Array, values: number): void {
    this.nq = q16;
    this.nqValues = values;
    this.writeNibbleQuery();
  }

  /**
   * Copies out what a kernel selected, the rows at idxAt (u32) and their results at outAt (f32, by row):
   * idx[h] = the row, or with ordsAt >= 0 the row's u32 ordinal at that byte address; out[h] its result.
   */
  private takeHits(hits: number, outAt: number, idxAt: number, ordsAt: number, idx: Uint32Array, out: Float64Array): number {
    const f32 = this.f32;
    const u32 = this.u32;
    const o = outAt >> 2;
    const ix = idxAt >> 2;
    const ords = ordsAt >> 2;
    for (let h = 0; h < hits; h++) {
      const r = u32[ix + h]!;
      idx[h] = ordsAt < 0 ? r : u32[ords + r]!;
      out[h] = f32[o + r]!;
    }
    return hits;
  }

  /**
   * The chunk loop of all three: the query (`queryBytes`, written by setQuery) at 0, rows of `rowBytes` copied
   * chunk by chunk to mAt (or scored in place when pinned at byte address `rows`), results at outAt,
   * selected row indexes at idxAt; `fn` gets `kernelDim` as its dimension argument.
   */
  private runRows(
    fn: KernelFn,
    setQuery: () => void,
    queryBytes: number,
    rows: Uint8Array | number,
    row: number,
    count: number,
    rowBytes: number,
    kernelDim: number,
    floor: number,
    idx: Uint32Array | null,
    out: Float64Array,
  ): number {
    const rowsPerChunk = Math.max(1, Math.min(count, Math.floor(CHUNK_BYTES / rowBytes)));
    const mAt = align16(queryBytes);
    const outAt = align16(mAt + rowBytes * rowsPerChunk);
    const idxAt = outAt + 4 * rowsPerChunk;
    if (idxAt + 4 * rowsPerChunk > MASK_BASE) throw new Error(`kernel scratch overflows for rows of ${rowBytes} bytes`);
    this.reserve(idxAt + 4 * rowsPerChunk);
    setQuery();
    const f32 = this.f32;
    const u32 = this.u32;
    const o = outAt >> 2;
    const ix = idxAt >> 2;
    let found = 0;
    for (let done = 0; done < count; done += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, count - done);
      let at: number;
      if (typeof rows === 'number') {
        at = rows + (row + done) * rowBytes;
        inPlaceChunks++;
      } else {
        const from = (row + done) * rowBytes;
        new Uint8Array(this.mem.buffer, mAt, n * rowBytes).set(rows.subarray(from, from + n * rowBytes));
        at = mAt;
      }
      const hits = fn(0, at, n, kernelDim, outAt, floor, idxAt);
      if (idx === null) {
        for (let r = 0; r < n; r++) out[done + r] = f32[o + r]!;
      } else {
        for (let j = 0; j < hits; j++) {
          const r = u32[ix + j]!;
          idx[found] = done + r;
          out[found++] = f32[o + r]!;
        }
      }
    }
    return idx === null ? count : found;
  }

  /** Copies rows into the pinned area; null when PIN_CAP_BYTES would be exceeded. */
  pin(m: Float32Array, row: number, count: number, dim: number): PinnedRows | null {
    return this.pinBytes(new Uint8Array(m.buffer, m.byteOffset + row * dim * 4, count * dim * 4), count, dim);
  }

  /**
   * Copies `src` (count rows of `dim` values), and `then` after it, into the pinned area, in a block of at
   * least `room` bytes (what is not copied holds whatever was there); null when PIN_CAP_BYTES would be
   * exceeded.
   */
  pinBytes(src: Uint8Array, count: number, dim: number, then?: Uint8Array, room = 0): PinnedRows | null {
    const bytes = align16(Math.max(room, src.length + (then?.length ?? 0)));
    if (this.pinnedBytes + bytes > PIN_CAP_BYTES) return null;
    let at = -1;
    for (let i = 0; i < this.holes.length; i++) {
      const h = this.holes[i]!;
      if (h.bytes < bytes) continue;
      at = h.at;
      if (h.bytes === bytes) this.holes.splice(i, 1);
      else this.holes[i] = { at: h.at + bytes, bytes: h.bytes - bytes };
      break;
    }
    if (at < 0) {
      try {
        this.reserve(this.top + bytes);
      } catch {
        return null; // the engine would not grow the memory: rows are copied per call instead
      }
      at = this.top;
      this.top += bytes;
    }
    this.pinnedBytes += bytes;
    new Uint8Array(this.mem.buffer, at, src.length).set(src);
    if (then !== undefined) new Uint8Array(this.mem.buffer, at + src.length, then.length).set(then);
    return { at, bytes, count, dim };
  }

  floatsAt(at: number, n: number): Float32Array {
    return new Float32Array(this.mem.buffer, at, n);
  }

  reservePinned(bytes: number): void {
    try {
      this.reserve(this.top + Math.min(bytes, PIN_CAP_BYTES - this.pinnedBytes));
    } catch {
      // not fatal: pin() grows (or gives up) block by block
    }
  }

  /** End of the pinned area (tests check that freeing everything brings it back to PINNED_BASE). */
  get pinnedTop(): number {
    return this.top;
  }

  /** Returns a pinned block's space (first-fit holes, merged with their neighbours). */
  unpin(p: PinnedRows): void {
    this.pinnedBytes -= p.bytes;
    const holes = this.holes;
    let i = 0;
    while (i < holes.length && holes[i]!.at < p.at) i++;
    holes.splice(i, 0, { at: p.at, bytes: p.bytes });
    if (i + 1 < holes.length && holes[i]!.at + holes[i]!.bytes === holes[i + 1]!.at) {
      holes[i] = { at: holes[i]!.at, bytes: holes[i]!.bytes + holes[i + 1]!.bytes };
      holes.splice(i + 1, 1);
    }
    if (i > 0 && holes[i - 1]!.at + holes[i - 1]!.bytes === holes[i]!.at) {
      holes[i - 1] = { at: holes[i - 1]!.at, bytes: holes[i - 1]!.bytes + holes[i]!.bytes };
      holes.splice(i, 1);
      i--;
    }
    const last = holes[holes.length - 1];
    if (last !== undefined && last.at + last.bytes === this.top) {
      this.top = last.at;
      holes.pop();
    }
  }

  private reserve(bytes: number): void {
    const have = this.mem.buffer.byteLength;
    if (bytes > have) this.mem.grow(Math.ceil((bytes - have) / PAGE));
    if (this.f32.buffer !== this.mem.buffer) {
      this.f32 = new Float32Array(this.mem.buffer);
      this.u32 = new Uint32Array(this.mem.buffer);
      this.i16 = new Int16Array(this.mem.buffer);
      this.f64 = new Float64Array(this.mem.buffer);
    }
  }
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

let wasmState: WasmKernels | null | undefined;

function wasmKernels(): WasmKernels | null {
  if (wasmState !== undefined) return wasmState;
  wasmState = null;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    const mem = new api.Memory({ initial: Math.ceil((CHUNK_BYTES + 64 * 1024) / PAGE) });
    const inst = new api.Instance(new api.Module(kernelWasmBytes()), { e: { m: mem } });
    const ex = inst.exports as Record<KernelName, KernelFn> &
      Record<'dotNibblesMasked' | 'l2NibblesMasked', MaskedKernelFn> &
      Record<FilterKernelName, FilterKernelFn> & { countNonZero: (at: number, n: number) => number } & Record<'l2NibblesTerm' | 'l2NibblesGivenTerm', TermKernelFn> & { scaleRows: ScaleKernelFn };
    wasmState = new WasmKernels(
      mem,
      { dot: ex.dot, l2sq: ex.l2sq, negl2: ex.negl2, dotWide: ex.dotWide, negl2Wide: ex.negl2Wide, dotCodes: ex.dotCodes, dotNibbles: ex.dotNibbles, l2Nibbles: ex.l2Nibbles },
      { dot: ex.dotNibblesMasked, l2: ex.l2NibblesMasked },
      { inRange8: ex.inRange8, inRange16: ex.inRange16, inRange32: ex.inRange32, lookup8: ex.lookup8, lookup16: ex.lookup16, lookup32: ex.lookup32 },
      ex.countNonZero,
      { save: ex.l2NibblesTerm, given: ex.l2NibblesGivenTerm },
      ex.scaleRows,
    );
  } catch {
    wasmState = null; // no WebAssembly SIMD here (e.g. --jitless): the JS loops serve
  }
  return wasmState;
}

/**
 * The kernel module, 5462 bytes. Emitted from the listing above by the assembler in
 * test/unit/vector/distance.test.ts, which checks that it still produces exactly these bytes; embedded
 * because running the assembler in a cold process costs ~2 ms, decoding this ~0.01 ms.
 */
const KERNEL_WASM =
  'AGFzbQEAAAABOgZgB39/f39/fX8Bf2AJf39/f399f39/AX9gBX9/f39/AGACf38Bf2AIf39/f399f38Bf2AEf39/fwACCAEBZQFtAgABAxUUAAAAAAAAAAABAQICAgICAgMEBAUH+AEUA2RvdAAABGwyc3EAAQVuZWdsMgACB2RvdFdpZGUAAwluZWdsMldpZGUABAhkb3RDb2RlcwAFCmRvdE5pYmJsZXMABglsMk5pYmJsZXMABxBkb3ROaWJibGVzTWFza2VkAAgPbDJOaWJibGVzTWFza2VkAAkIaW5SYW5nZTgACglpblJhbmdlMTYACwlpblJhbmdlMzIADAdsb29rdXA4AA0IbG9va3VwMTYADghsb29rdXAzMgAPDGNvdW50Tm9uWmVybwAQDWwyTmliYmxlc1Rlcm0AERJsMk5pYmJsZXNHaXZlblRlcm0AEglzY2FsZVJvd3MAEwrzJxTxAQMGfwJ7An0gA0ECdCELIAtBcHEhCSABIQoCQANAIAcgAk8NAf0MAAAAAAAAAAAAAAAAAAAAACENQQAhCAJAA0AgCCAJTw0BIAAgCGr9AAIAIAogCGr9AAIA/eYBIA395AEhDSAIQRBqIQgMAAsLIA39HwAgDf0fAZIgDf0fAiAN/R8DkpIhDwJAA0AgCCALTw0BIAAgCGoqAgAgCiAIaioCAJQgD5IhDyAIQQRqIQgMAAsLIAQgB0ECdGogDzgCACAPIAVgBEAgBiAMQQJ0aiAHNgIAIAxBAWohDAsgCiALaiEKIAdBAWohBwwACwsgDAv9AQMGfwJ7An0gA0ECdCELIAtBcHEhCSABIQoCQANAIAcgAk8NAf0MAAAAAAAAAAAAAAAAAAAAACENQQAhCAJAA0AgCCAJTw0BIAAgCGr9AAIAIAogCGr9AAIA/eUBIg4gDv3mASAN/eQBIQ0gCEEQaiEIDAALCyAN/R8AIA39HwGSIA39HwIgDf0fA5KSIQ8CQANAIAggC08NASAAIAhqKgIAIAogCGoqAgCTIhAgEJQgD5IhDyAIQQRqIQgMAAsLIAQgB0ECdGogDzgCACAPIAVgBEAgBiAMQQJ0aiAHNgIAIAxBAWohDAsgCiALaiEKIAdBAWohBwwACwsgDAuDAgMGfwJ7An0gA0ECdCELIAtBcHEhCSABIQoCQANAIAcgAk8NAf0MAAAAAAAAAAAAAAAAAAAAACENQQAhCAJAA0AgCCAJTw0BIAAgCGr9AAIAIAogCGr9AAIA/eUBIg4gDv3mASAN/eQBIQ0gCEEQaiEIDAALCyAN/R8AIA39HwGSIA39HwIgDf0fA5KSIQ8CQANAIAggC08NASAAIAhqKgIAIAogCGoqAgCTIhAgEJQgD5IhDyAIQQRqIQgMAAsLIA+RjCEPIAQgB0ECdGogDzgCACAPIAVgBEAgBiAMQQJ0aiAHNgIAIAxBAWohDAsgCiALaiEKIAdBAWohBwwACwsgDAvOAwMHfwV7An0gA0ECdCELIAtBcHEhCSALQUBxIQ0gASEKAkADQCAHIAJPDQH9DAAAAAAAAAAAAAAAAAAAAAAhDkEAIQj9DAAAAAAAAAAAAAAAAAAAAAAhEP0MAAAAAAAAAAAAAAAAAAAAACER/QwAAAAAAAAAAAAAAAAAAAAAIRICQANAIAggDU8NASAAIAhq/QACACAKIAhq/QACAP3mASAO/eQBIQ4gACAIav0AAhAgCiAIav0AAhD95gEgEP3kASEQIAAgCGr9AAIgIAogCGr9AAIg/eYBIBH95AEhESAAIAhq/QACMCAKIAhq/QACMP3mASAS/eQBIRIgCEHAAGohCAwACwsCQANAIAggCU8NASAAIAhq/QACACAKIAhq/QACAP3mASAO/eQBIQ4gCEEQaiEIDAALCyAOIBD95AEgESAS/eQB/eQBIQ4gDv0fACAO/R8BkiAO/R8CIA79HwOSkiETAkADQCAIIAtPDQEgACAIaioCACAKIAhqKgIAlCATkiETIAhBBGohCAwACwsgBCAHQQJ0aiATOAIAIBMgBWAEQCAGIAxBAnRqIAc2AgAgDEEBaiEMCyAKIAtqIQogB0EBaiEHDAALCyAMC/wDAwd/BXsCfSADQQJ0IQsgC0FwcSEJIAtBQHEhDSABIQoCQANAIAcgAk8NAf0MAAAAAAAAAAAAAAAAAAAAACEOQQAhCP0MAAAAAAAAAAAAAAAAAAAAACEQ/QwAAAAAAAAAAAAAAAAAAAAAIRH9DAAAAAAAAAAAAAAAAAAAAAAhEgJAA0AgCCANTw0BIAAgCGr9AAIAIAogCGr9AAIA/eUBIg8gD/3mASAO/eQBIQ4gACAIav0AAhAgCiAIav0AAhD95QEiDyAP/eYBIBD95AEhECAAIAhq/QACICAKIAhq/QACIP3lASIPIA/95gEgEf3kASERIAAgCGr9AAIwIAogCGr9AAIw/eUBIg8gD/3mASAS/eQBIRIgCEHAAGohCAwACwsCQANAIAggCU8NASAAIAhq/QACACAKIAhq/QACAP3lASIPIA/95gEgDv3kASEOIAhBEGohCAwACwsgDiAQ/eQBIBEgEv3kAf3kASEOIA79HwAgDv0fAZIgDv0fAiAO/R8DkpIhEwJAA0AgCCALTw0BIAAgCGoqAgAgCiAIaioCAJMiFCAUlCATkiETIAhBBGohCAwACwsgE5GMIRMgBCAHQQJ0aiATOAIAIBMgBWAEQCAGIAxBAnRqIAc2AgAgDEEBaiEMCyAKIAtqIQogB0EBaiEHDAALCyAMC5cCAwZ/AnsBfSADQXBxIQkgASEKAkADQCAHIAJPDQH9DAAAAAAAAAAAAAAAAAAAAAAhDUEAIQgCQANAIAggCU8NASAKIAhq/QAAACEOIA79iQEgACAIQQF0av0AAQD9ugEgDf2uASENIA79igEgACAIQQF0av0AARD9ugEgDf2uASENIAhBEGohCAwACwsgDf0bACAN/RsBaiAN/RsCIA39GwNqaiEMAkADQCAIIANPDQEgCiAIai0AACAAIAhBAXRqLgEAbCAMaiEMIAhBAWohCAwACwsgDLIhDyAEIAdBAnRqIA84AgAgDyAFYARAIAYgC0ECdGogBzYCACALQQFqIQsLIAogA2ohCiAHQQFqIQcMAAsLIAsLpwIDB38EewF9IAEhCQJAA0AgByACTw0B/QwAAAAAAAAAAAAAAAAAAAAAIQ5BACEIAkADQCAIIANPDQEgACAIQQJ0aiEMIAkgCGr9AAAAIhD9DA8PDw8PDw8PDw8PDw8PDw/9TiEPIBBBBP1tIRAgD/2JASAM/QABAP26ASAO/a4BIQ4gD/2KASAM/QABEP26ASAO/a4BIQ4gEP2JASAM/QABIP26ASAO/a4BIQ4gEP2KASAM/QABMP26ASAO/a4BIQ4gCEEQaiEIDAALCyAO/RsAIA79GwFqIA79GwIgDv0bA2pqIQsgC7IhEiAEIAdBAnRqIBI4AgAgEiAFYARAIAYgCkECdGogBzYCACAKQQFqIQoLIAkgA2ohCSAHQQFqIQcMAAsLIAoL8QIDB38EewF9IAEhCQJAA0AgByACTw0B/QwAAAAAAAAAAAAAAAAAAAAAIQ5BACEIAkADQCAIIANPDQEgACAIQQJ0aiEMIAwgA0ECdGohDSAJIAhq/QAAACIQ/QwPDw8PDw8PDw8PDw8PDw8P/U4hDyAQQQT9bSEQIA/9iQEiESAM/QABACARIA39AAEA/ZUB/ZEB/boBIA79rgEhDiAP/YoBIhEgDP0AARAgESAN/QABEP2VAf2RAf26ASAO/a4BIQ4gEP2JASIRIAz9AAEgIBEgDf0AASD9lQH9kQH9ugEgDv2uASEOIBD9igEiESAM/QABMCARIA39AAEw/ZUB/ZEB/boBIA79rgEhDiAIQRBqIQgMAAsLIA79GwAgDv0bAWogDv0bAiAO/RsDamohCyALsiESIAQgB0ECdGogEjgCACASIAVgBEAgBiAKQQJ0aiAHNgIAIApBAWohCgsgCSADaiEJIAdBAWohBwwACwsgCgvNAgMHfwR7AX0gASELAkADQCAJIAJPDQECQCABIAIgA2xqIAlBAnRqKAIAIg4gCE8NACAHIA5qLQAARQ0A/QwAAAAAAAAAAAAAAAAAAAAAIRBBACEKAkADQCAKIANPDQEgACAKQQJ0aiEOIAsgCmr9AAAAIhL9DA8PDw8PDw8PDw8PDw8PDw/9TiERIBJBBP1tIRIgEf2JASAO/QABAP26ASAQ/a4BIRAgEf2KASAO/QABEP26ASAQ/a4BIRAgEv2JASAO/QABIP26ASAQ/a4BIRAgEv2KASAO/QABMP26ASAQ/a4BIRAgCkEQaiEKDAALCyAQ/RsAIBD9GwFqIBD9GwIgEP0bA2pqIQ0gDbIhFCAEIAlBAnRqIBQ4AgAgFCAFYARAIAYgDEECdGogCTYCACAMQQFqIQwLCyALIANqIQsgCUEBaiEJDAALCyAMC5cDAwd/BHsBfSABIQsCQANAIAkgAk8NAQJAIAEgAiADbGogCUECdGooAgAiDiAITw0AIAcgDmotAABFDQD9DAAAAAAAAAAAAAAAAAAAAAAhEEEAIQoCQANAIAogA08NASAAIApBAnRqIQ4gDiADQQJ0aiEPIAsgCmr9AAAAIhL9DA8PDw8PDw8PDw8PDw8PDw/9TiERIBJBBP1tIRIgEf2JASITIA79AAEAIBMgD/0AAQD9lQH9kQH9ugEgEP2uASEQIBH9igEiEyAO/QABECATIA/9AAEQ/ZUB/ZEB/boBIBD9rgEhECAS/YkBIhMgDv0AASAgEyAP/QABIP2VAf2RAf26ASAQ/a4BIRAgEv2KASITIA79AAEwIBMgD/0AATD9lQH9kQH9ugEgEP2uASEQIApBEGohCgwACwsgEP0bACAQ/RsBaiAQ/RsCIBD9GwNqaiENIA2yIRQgBCAJQQJ0aiAUOAIAIBQgBWAEQCAGIAxBAnRqIAk2AgAgDEEBaiEMCwsgCyADaiELIAlBAWohCQwACwsgDAuGAQICfwR7IAL9DyEIIAP9DyEJQQH9DyEKAkADQCAFQRBqIAFLDQEgBCAFaiAAIAVq/QAAACIHIAj9LCAHIAn9Kv1OIAr9Tv0LAAAgBUEQaiEFDAALCwJAA0AgBSABTw0BIAQgBWogACAFai0AACIGIAJPIAYgA01xOgAAIAVBAWohBQwACwsLOgICfwR7AkADQCAFIAFPDQEgBCAFaiAAIAVBAXRqLwEAIgYgAk8gBiADTXE6AAAgBUEBaiEFDAALCws6AgJ/BHsCQANAIAUgAU8NASAEIAVqIAAgBUECdGooAgAiBiACTyAGIANNcToAACAFQQFqIQUMAAsLCz8CAn8EewJAA0AgBSABTw0BIAQgBWogACAFai0AACIGIANJBH8gAiAGai0AAAVBAAs6AAAgBUEBaiEFDAALCwtCAgJ/BHsCQANAIAUgAU8NASAEIAVqIAAgBUEBdGovAQAiBiADSQR/IAIgBmotAAAFQQALOgAAIAVBAWohBQwACwsLQgICfwR7AkADQCAFIAFPDQEgBCAFaiAAIAVBAnRqKAIAIgYgA0kEfyACIAZqLQAABUEACzoAACAFQQFqIQUMAAsLC90BAgN/Anv9DAAAAAAAAAAAAAAAAAAAAAAhBgJAA0AgAkEQaiABSw0B/QwAAAAAAAAAAAAAAAAAAAAAIQVBACEDAkADQCACQRBqIAFLDQEgA0H/AU8NASAFIAAgAmr9AAAA/QwAAAAAAAAAAAAAAAAAAAAA/ST9cSEFIAJBEGohAiADQQFqIQMMAAsLIAX9ff1/IAb9rgEhBgwACwsgBv0bACAG/RsBaiAG/RsCIAb9GwNqaiEEAkADQCACIAFPDQEgACACai0AAEEARyAEaiEEIAJBAWohAgwACwsgBAvXAwMHfwV7AX0gASEKAkADQCAIIAJPDQH9DAAAAAAAAAAAAAAAAAAAAAAhD/0MAAAAAAAAAAAAAAAAAAAAACETQQAhCQJAA0AgCSADTw0BIAAgCUECdGohDSANIANBAnRqIQ4gCiAJav0AAAAiEf0MDw8PDw8PDw8PDw8PDw8PD/1OIRAgEUEE/W0hESAQ/YkBIhIgDf0AAQD9ugEgD/2uASEPIBIgEiAO/QABAP2VAf26ASAT/a4BIRMgEP2KASISIA39AAEQ/boBIA/9rgEhDyASIBIgDv0AARD9lQH9ugEgE/2uASETIBH9iQEiEiAN/QABIP26ASAP/a4BIQ8gEiASIA79AAEg/ZUB/boBIBP9rgEhEyAR/YoBIhIgDf0AATD9ugEgD/2uASEPIBIgEiAO/QABMP2VAf26ASAT/a4BIRMgCUEQaiEJDAALCyAHIAhBAnRqIBP9GwAgE/0bAWogE/0bAiAT/RsDamo2AgAgD/0bACAP/RsBaiAP/RsCIA/9GwNqaiAHIAhBAnRqKAIAayEMIAyyIRQgBCAIQQJ0aiAUOAIAIBQgBWAEQCAGIAtBAnRqIAg2AgAgC0EBaiELCyAKIANqIQogCEEBaiEIDAALCyALC7MCAwd/BXsBfSABIQoCQANAIAggAk8NAf0MAAAAAAAAAAAAAAAAAAAAACEPQQAhCQJAA0AgCSADTw0BIAAgCUECdGohDSAKIAlq/QAAACIR/QwPDw8PDw8PDw8PDw8PDw8P/U4hECARQQT9bSERIBD9iQEgDf0AAQD9ugEgD/2uASEPIBD9igEgDf0AARD9ugEgD/2uASEPIBH9iQEgDf0AASD9ugEgD/2uASEPIBH9igEgDf0AATD9ugEgD/2uASEPIAlBEGohCQwACwsgD/0bACAP/RsBaiAP/RsCIA/9GwNqaiAHIAhBAnRqKAIAayEMIAyyIRQgBCAIQQJ0aiAUOAIAIBQgBWAEQCAGIAtBAnRqIAg2AgAgC0EBaiELCyAKIANqIQogCEEBaiEIDAALCyALC90BAwV/AnsBfCACQQJ0IQggCEFwcSEGIAAhBwJAA0AgBCABTw0BIAMgBEEDdGorAwAiC/0UIQlBACEFAkADQCAFIAZPDQEgByAFaiAHIAVq/QACACEKIAr9XyAJ/fIB/V4gCiAK/Q0ICQoLDA0ODwABAgMEBQYH/V8gCf3yAf1e/Q0AAQIDBAUGBxAREhMUFRYX/QsCACAFQRBqIQUMAAsLAkADQCAFIAhPDQEgByAFaiAHIAVqKgIAuyALorY4AgAgBUEEaiEFDAALCyAHIAhqIQcgBEEBaiEEDAALCws=';

/** The embedded kernel module (for the test that re-assembles it). */
export function kernelWasmBytes(): Uint8Array {
  return new Uint8Array(Buffer.from(KERNEL_WASM, 'base64'));
}
