/**
 * Tiny l2 distances (distance.ts, "Tiny l2 distances"): the WebAssembly kernels sum squared differences in
 * float32, where a square below 2^-150 becomes 0, so rows at distance 3e-24 and 0 from the query both
 * scored -0 and the tie went to the smaller id. Rows whose kernel sum is below 2^-100 are recomputed in
 * float64: for them the WebAssembly backend now publishes exactly what the JS backend (float64 sums)
 * publishes, and both rank every row the same way; on ordinary data the two still agree to float32 rounding.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { kernelRows, pinRows, scoreRowsAbove, unpinRows, useKernelBackend, type RowKernel } from '../../../src/index/vector/distance.js';
import { buildIvf, exactTopK, IvfReader } from '../../../src/index/vector/ivf.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { mulberry32 } from '../../../src/util/prng.js';

afterEach(() => useKernelBackend('wasm'));

const TINY_DIST = 2 ** -50; // a negated distance above -TINY_DIST is recomputed
const DIMS = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100, 128, 130];

function withBackend<T>(b: 'wasm' | 'js', fn: () => T): T {
  useKernelBackend(b);
  try {
    return fn();
  } finally {
    useKernelBackend('wasm');
  }
}

/**
 * `rows` rows around the query: each row's offsets from it at its own scale, picked from `scales`; some rows
 * are exact copies of the query (distance 0), some differ in one component only.
 */
function tinyCase(r: () => number, dim: number, rows: number, scales: number[]): { q: Float32Array; m: Float32Array } {
  const pick = () => scales[Math.floor(r() * scales.length)]!;
  const base = pick();
  const q = Float32Array.from({ length: dim }, () => (r() * 2 - 1) * base);
  const m = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const kind = r();
    const s = pick();
    for (let j = 0; j < dim; j++) m[i * dim + j] = q[j]!;
    if (kind < 0.1) continue; // a copy of the query
    if (kind < 0.25) {
      m[i * dim + Math.floor(r() * dim)] = q[Math.floor(r() * dim)]! + (r() * 2 - 1) * s; // one component off
      continue;
    }
    for (let j = 0; j < dim; j++) m[i * dim + j] = q[j]! + (r() * 2 - 1) * s;
  }
  return { q, m };
}

/** All rows through scoreRowsAbove (floor -Infinity): the scores by row, in float64. */
function allScores(q: Float32Array, m: Float32Array, rows: number, dim: number, ranking = false): Float64Array {
  const idx = new Uint32Array(rows);
  const sc = new Float64Array(rows);
  expect(scoreRowsAbove('l2', q, m, 0, rows, dim, -Infinity, idx, sc, null, ranking)).toBe(rows);
  expect(Array.from(idx)).toEqual(Array.from({ length: rows }, (_, i) => i));
  return sc;
}

/** Row indexes best first, ties by index (TopK's order). */
const ranking = (sc: Float64Array): number[] => [...sc.keys()].sort((a, b) => sc[b]! - sc[a]! || a - b);

describe('tiny l2 distances: the WebAssembly backend publishes what the JS backend publishes', () => {
  it('for random tiny vectors (scales 1e-20 .. 1e-30, and subnormal components): the same scores, bit for bit, and the same ranking', () => {
    const r = mulberry32(2024);
    const scaleSets = [[1e-20], [1e-22], [1e-24], [1e-26], [1e-28], [1e-30], [1e-20, 1e-23, 1e-26, 1e-30], [1e-39, 1e-41, 1e-44]];
    for (const scales of scaleSets) {
      for (const dim of DIMS) {
        const rows = 1 + Math.floor(r() * 80);
        const { q, m } = tinyCase(r, dim, rows, scales);
        const js = withBackend('js', () => allScores(q, m, rows, dim));
        const wasm = withBackend('wasm', () => allScores(q, m, rows, dim));
        const wasmRanking = withBackend('wasm', () => allScores(q, m, rows, dim, true));
        for (let i = 0; i < rows; i++) {
          expect(wasm[i], `scales ${scales} dim ${dim} row ${i}`).toBe(js[i]);
          expect(wasmRanking[i]).toBe(js[i]);
        }
        expect(ranking(wasm)).toEqual(ranking(js));
        // kernelRows: float32 values of the JS backend's float64 results
        for (const kind of ['negl2', 'l2sq'] as RowKernel[]) {
          const a = new Float64Array(rows);
          const b = new Float64Array(rows);
          withBackend('js', () => kernelRows(kind, q, m, 0, rows, dim, a));
          withBackend('wasm', () => kernelRows(kind, q, m, 0, rows, dim, b));
          for (let i = 0; i < rows; i++) expect(b[i]).toBe(Math.fround(a[i]!));
        }
      }
    }
  });

  it('for ordinary vectors and across the 2^-100 threshold: scores agree to float32 rounding, recomputed rows exactly, and the ranking is the same', () => {
    const r = mulberry32(7);
    // 1e-15 .. 1e-17: squared sums on both sides of 2^-100 (7.9e-31), some rows recomputed, some not
    const scaleSets = [[1], [10, 0.1], [1e-3], [1e-15, 1e-16, 1e-17], [1, 1e-30]];
    for (const scales of scaleSets) {
      for (const dim of DIMS) {
        const rows = 1 + Math.floor(r() * 120);
        const { q, m } = tinyCase(r, dim, rows, scales);
        const js = withBackend('js', () => allScores(q, m, rows, dim));
        const wasm = withBackend('wasm', () => allScores(q, m, rows, dim));
        for (let i = 0; i < rows; i++) {
          if (wasm[i]! > -TINY_DIST) expect(wasm[i]).toBe(js[i]);
          else expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(js[i]!));
        }
        // Same order for every pair of rows the JS scores separate by more than float32 accumulation error
        // (no such near-ties occur with these seeds, but the check does not depend on that).
        const order = ranking(js);
        for (let i = 1; i < order.length; i++) {
          const a = order[i - 1]!;
          const b = order[i]!;
          if (js[a]! - js[b]! > 2e-5 * Math.max(Math.abs(js[a]!), Math.abs(js[b]!))) expect(wasm[a]).toBeGreaterThan(wasm[b]!);
        }
        expect(ranking(wasm)).toEqual(order);
      }
    }
  });
});

describe('tiny l2 distances: scoreRowsAbove floors', () => {
  // d^2 is 0.75 * 2^-149 in float64: float32 rounds it up to 2^-149, so the kernel's distance is too large
  // (its score below the true one); e^2 ~ 0.4 * 2^-149 rounds down to 0 (score -0, above the true one).
  const d = Math.fround(Math.sqrt(0.75) * 2 ** -74.5);
  const e = Math.fround(Math.sqrt(0.4) * 2 ** -74.5);
  const dim = 1;
  const q = new Float32Array([0]);

  for (const backend of ['wasm', 'js'] as const) {
    for (const ranked of [false, true]) {
      it(`keeps a row the float32 sum would cut and drops a recomputed row below the floor (${backend}${ranked ? ', ranking' : ''})`, () => {
        useKernelBackend(backend);
        expect(Math.fround(d * d)).toBe(2 ** -149); // rounds up
        expect(Math.fround(e * e)).toBe(0); // rounds down
        const m = new Float32Array([d, e, 0, 1]);
        for (const pin of [false, true]) {
          const p = pin ? pinRows(m, 0, 4, dim) : null;
          try {
            const idx = new Uint32Array(4);
            const sc = new Float64Array(4);
            const run = (floor: number) => {
              const n = scoreRowsAbove('l2', q, m, 0, 4, dim, floor, idx, sc, p, ranked);
              return [Array.from(idx.subarray(0, n)), Array.from(sc.subarray(0, n))];
            };
            // the floor is row 0's true score: row 0 ties with it and is kept (its float32 kernel score is below)
            expect(run(-d)).toEqual([
              [0, 1, 2],
              [-d, -e, -0],
            ]);
            // a floor between e and d: row 1 is kept, row 0 dropped
            expect(run(Math.fround(-(d + e) / 2))).toEqual([
              [1, 2],
              [-e, -0],
            ]);
            // a floor above e: row 1 (kernel score -0, true score -e) is dropped
            expect(run(Math.fround(-e / 2))).toEqual([[2], [-0]]);
            expect(run(0)).toEqual([[2], [-0]]); // -0 >= 0
            expect(run(Infinity)).toEqual([[], []]);
            expect(run(-1)).toEqual([
              [0, 1, 2, 3],
              [-d, -e, -0, -1],
            ]);
            // an ordinary floor (below -2^-50) and no tiny rows selected: the kernel's selection as is
            expect(run(-0.5)).toEqual([
              [0, 1, 2],
              [-d, -e, -0],
            ]);
          } finally {
            if (p !== null) unpinRows(p);
          }
        }
      });
    }
  }
});

describe('tiny l2 distances: every vector path of the index', () => {
  for (const backend of ['wasm', 'js'] as const) {
    it(`the reported case: [0,0] is nearer to [0,0] than [3e-24,0] is, exact scan and IVF versions 1 and 2 (${backend})`, () => {
      useKernelBackend(backend);
      const dim = 2;
      const vecs = new Float32Array([3e-24, 0, 0, 0]); // ordinal 0: id 1, ordinal 1: id 2
      const q = new Float32Array([0, 0]);
      // scores: -0 or 0 for the distance 0 (the IVF scan adds 0 to it), then the float32 of -3e-24
      const want = { rows: [1, 0], scores: [0, Math.fround(-3e-24)] };
      const got = (h: { rows?: Uint32Array; ords?: Uint32Array; scores: Float32Array }) => ({ rows: Array.from((h.rows ?? h.ords)!), scores: Array.from(h.scores, (s) => s + 0) });
      expect(got(exactTopK(vecs, dim, 'l2', q, 2))).toEqual(want);
      expect(Array.from(exactTopK(vecs, dim, 'l2', q, 1).rows)).toEqual([1]);
      for (const version of [1, 2] as const) {
        const rd = IvfReader.open(new MemorySource(buildIvf(vecs, Uint32Array.from([0, 1]), dim, 'l2', { seed: 1, version })), {
          vectorOf: (o) => vecs.subarray(o * dim, (o + 1) * dim),
        });
        for (const h of [rd.search(q, 2), rd.exact(q, 2), rd.exactOrds(q, 2, [0, 1])]) {
          expect(got(h)).toEqual(want);
        }
        expect(Array.from(rd.search(q, 1).ords)).toEqual([1]);
      }
    });

    it(`IVF version 2 ranks tiny candidates by their decoded distances, not all at -0 (${backend})`, () => {
      // 400 tiny rows, per-dimension ranges differing (the file's l2 codes are then decoded to floats and
      // scanned with the ranking kernel); k = 1 re-scores only 31 candidates, so ranking them all at -0 (by
      // ordinal) would miss the nearest row.
      useKernelBackend(backend);
      const r = mulberry32(99);
      const dim = 4;
      const n = 400;
      const vecs = Float32Array.from({ length: n * dim }, (_, i) => (r() * 2 - 1) * 1e-22 * (1 + (i % dim)));
      const ords = Uint32Array.from({ length: n }, (_, i) => i);
      const rd = IvfReader.open(new MemorySource(buildIvf(vecs, ords, dim, 'l2', { seed: 3, version: 2 })), {
        vectorOf: (o) => vecs.subarray(o * dim, (o + 1) * dim),
      });
      for (let t = 0; t < 20; t++) {
        const q = Float32Array.from({ length: dim }, (_, j) => (r() * 2 - 1) * 1e-22 * (1 + j));
        const want = exactTopK(vecs, dim, 'l2', q, 1);
        const got = rd.search(q, 1, { nprobe: rd.nlist });
        expect(Array.from(got.ords)).toEqual(Array.from(want.rows));
        expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
        expect(want.scores[0]).toBeLessThan(0); // a real distance, not an underflow to -0
      }
    });
  }
});
