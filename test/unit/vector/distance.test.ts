import { describe, expect, it } from 'vitest';
import {
  dot,
  dotRows,
  gatherMatrix,
  kernelBackend,
  kernelRows,
  kernelWasmBytes,
  l2sq,
  l2sqRows,
  norm,
  normalized,
  normalizeInto,
  pinnedBytes,
  pinningStats,
  pinRows,
  prepareQuery,
  scoreRowsAbove,
  scoreGatheredAbove,
  scoreCodesAbove,
  codesKernelAvailable,
  codesQueryLimit,
  nibblesQueryLimit,
  scoreNibblesAbove,
  scoreNibblesMaskedAbove,
  scoreNibblesTermAbove,
  pinTerms,
  loadKernelMask,
  pinClusterRows,
  pinCodes,
  unpinRows,
  useKernelBackend,
  type PinnedRows,
  type RowKernel,
} from '../../../src/index/vector/distance.js';
import { mulberry32 as rng } from '../../../src/util/prng.js';


function randomVec(r: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

const naiveDot = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, dim: number): number => {
  let s = 0;
  for (let i = 0; i < dim; i++) s += a[ao + i]! * b[bo + i]!;
  return s;
};
const naiveL2sq = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, dim: number): number => {
  let s = 0;
  for (let i = 0; i < dim; i++) s += (a[ao + i]! - b[bo + i]!) ** 2;
  return s;
};
const close = (got: number, want: number, rel = 1e-6): void => {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(want)));
};

// dims that exercise the 4-way unrolled body, the tails and the SIMD/scalar split of the wasm kernels
const DIMS = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100, 128, 129];

describe('scalar kernels', () => {
  it('dot and l2sq match the naive formulas, at any offsets', () => {
    const r = rng(1);
    for (const dim of DIMS) {
      for (let t = 0; t < 5; t++) {
        const a = randomVec(r, dim * 3, 10);
        const b = randomVec(r, dim * 2 + 3, 10);
        const ao = dim * (t % 3);
        const bo = 3 * (t % 2);
        close(dot(a, ao, b, bo, dim), naiveDot(a, ao, b, bo, dim), 1e-12);
        close(l2sq(a, ao, b, bo, dim), naiveL2sq(a, ao, b, bo, dim), 1e-12);
      }
    }
  });

  it('normalizes to unit length, leaves zero vectors zero, works in place', () => {
    const r = rng(2);
    for (const dim of DIMS) {
      const v = randomVec(r, dim, 5);
      const n = normalized(v);
      close(norm(n, 0, dim), 1, 1e-6);
      for (let i = 0; i < dim; i++) close(n[i]!, v[i]! / Math.sqrt(naiveDot(v, 0, v, 0, dim)), 1e-6);
      const inPlace = v.slice();
      normalizeInto(inPlace, 0, inPlace, 0, dim);
      expect(Array.from(inPlace)).toEqual(Array.from(n));
    }
    expect(Array.from(normalized(new Float32Array(5)))).toEqual([0, 0, 0, 0, 0]);
  });

  it('prepareQuery normalizes a copy for cosine only', () => {
    const q = Float32Array.from([3, 4]);
    expect(Array.from(prepareQuery('cosine', q))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(q)).toEqual([3, 4]);
    expect(prepareQuery('dot', q)).toBe(q);
    expect(prepareQuery('l2', q)).toBe(q);
  });

  it('row-blocked kernels match the pair kernels, whatever the block position', () => {
    const r = rng(3);
    for (const dim of DIMS) {
      const rows = 11;
      const m = randomVec(r, rows * dim, 3);
      const x = randomVec(r, dim + 2, 3);
      const outD = new Float64Array(rows + 1);
      const outL = new Float64Array(rows + 1);
      dotRows(x, 2, m, 0, rows, dim, outD, 1);
      l2sqRows(x, 2, m, 0, rows, dim, outL, 1);
      for (let i = 0; i < rows; i++) {
        close(outD[i + 1]!, naiveDot(x, 2, m, i * dim, dim), 1e-12);
        close(outL[i + 1]!, naiveL2sq(x, 2, m, i * dim, dim), 1e-12);
        // a row alone (tail path) gives the bit-identical value it got inside a block
        const one = new Float64Array(1);
        dotRows(x, 2, m, i, 1, dim, one, 0);
        expect(one[0]).toBe(outD[i + 1]);
        l2sqRows(x, 2, m, i, 1, dim, one, 0);
        expect(one[0]).toBe(outL[i + 1]);
      }
    }
  });
});

describe.each(['wasm', 'js'] as const)('row kernels, %s backend', (backend) => {
  const withBackend = (fn: () => void) => () => {
    useKernelBackend(backend);
    try {
      fn();
    } finally {
      useKernelBackend('wasm');
    }
  };

  it(
    'uses the requested backend (wasm is available on Node 20)',
    withBackend(() => expect(kernelBackend()).toBe(backend)),
  );

  it(
    'kernelRows matches the naive formulas for every kernel and dimension',
    withBackend(() => {
      const r = rng(4);
      for (const dim of DIMS) {
        const rows = 9;
        const m = randomVec(r, (rows + 2) * dim, 4);
        const q = randomVec(r, dim, 4);
        const out = new Float64Array(rows);
        for (const kind of ['dot', 'l2sq', 'negl2'] as RowKernel[]) {
          kernelRows(kind, q, m, 2, rows, dim, out);
          for (let i = 0; i < rows; i++) {
            const want =
              kind === 'dot'
                ? naiveDot(q, 0, m, (i + 2) * dim, dim)
                : kind === 'l2sq'
                  ? naiveL2sq(q, 0, m, (i + 2) * dim, dim)
                  : -Math.sqrt(naiveL2sq(q, 0, m, (i + 2) * dim, dim));
            close(out[i]!, want, 1e-5);
          }
        }
      }
    }),
  );

  it(
    'the ranking kernels (scoreRowsAbove ranking) agree with the exact ones to float32 rounding, and select by the same floor',
    withBackend(() => {
      const r = rng(14);
      for (const dim of [...DIMS, 63, 64, 65, 127, 128, 130, 200]) {
        const rows = 37;
        const m = randomVec(r, rows * dim, 4);
        const q = randomVec(r, dim, 4);
        for (const metric of ['dot', 'l2'] as const) {
          const idxE = new Uint32Array(rows);
          const scE = new Float64Array(rows);
          const idxR = new Uint32Array(rows);
          const scR = new Float64Array(rows);
          expect(scoreRowsAbove(metric, q, m, 0, rows, dim, -Infinity, idxE, scE)).toBe(rows);
          expect(scoreRowsAbove(metric, q, m, 0, rows, dim, -Infinity, idxR, scR, null, true)).toBe(rows);
          for (let i = 0; i < rows; i++) {
            // float32 rounding error of a sum is relative to the sum of the magnitudes of its terms
            let mag = 0;
            for (let j = 0; j < dim; j++) mag += metric === 'dot' ? Math.abs(q[j]! * m[i * dim + j]!) : (q[j]! - m[i * dim + j]!) ** 2;
            expect(Math.abs(scR[i]! - scE[i]!)).toBeLessThanOrEqual(1e-5 * (metric === 'dot' ? mag : Math.sqrt(mag)));
          }
          // the same floor selects the rows whose ranking score reaches it, in row order
          const floor = Math.fround([...scR.subarray(0, rows)].sort((a, b) => a - b)[rows >> 1]!);
          const n = scoreRowsAbove(metric, q, m, 0, rows, dim, floor, idxR, scR, null, true);
          const all = new Float64Array(rows);
          scoreRowsAbove(metric, q, m, 0, rows, dim, -Infinity, new Uint32Array(rows), all, null, true);
          expect([...idxR.subarray(0, n)]).toEqual([...all.keys()].filter((i) => all[i]! >= floor));
        }
      }
    }),
  );

  it(
    'handles row counts larger than a chunk and gives each row the same value in any batch',
    withBackend(() => {
      const r = rng(5);
      const dim = 96;
      const rows = 1500; // > 256 KiB of rows: several chunks
      const m = randomVec(r, rows * dim);
      const q = randomVec(r, dim);
      const all = new Float64Array(rows);
      kernelRows('negl2', q, m, 0, rows, dim, all);
      const one = new Float64Array(1);
      for (const i of [0, 1, 681, 682, 1499]) {
        kernelRows('negl2', q, m, i, 1, dim, one);
        expect(one[0]).toBe(all[i]);
        close(all[i]!, -Math.sqrt(naiveL2sq(q, 0, m, i * dim, dim)), 1e-5);
      }
    }),
  );

  it(
    'scoreRowsAbove returns exactly the rows scoring >= floor, ascending, with their scores',
    withBackend(() => {
      const r = rng(6);
      for (const metric of ['l2', 'dot', 'cosine'] as const) {
        const dim = 13;
        const rows = 700;
        const m = randomVec(r, rows * dim);
        const q = randomVec(r, dim);
        const all = new Float64Array(rows);
        kernelRows(metric === 'l2' ? 'negl2' : 'dot', q, m, 0, rows, dim, all);
        const floor = Math.fround([...all].sort((a, b) => b - a)[99]!);
        const idx = new Uint32Array(rows);
        const sc = new Float64Array(rows);
        const n = scoreRowsAbove(metric, q, m, 0, rows, dim, floor, idx, sc);
        // Scores are compared and returned at float32 precision (the WebAssembly kernels' own; the JS
        // loops round), so a row whose score rounds to the floor ties with it (issue 9 §6).
        const want = [...all.keys()].filter((i) => Math.fround(all[i]!) >= floor);
        expect(want.length).toBeGreaterThanOrEqual(100);
        expect(Array.from(idx.subarray(0, n))).toEqual(want);
        for (let j = 0; j < n; j++) expect(sc[j]).toBe(Math.fround(all[idx[j]!]!));
        expect(scoreRowsAbove(metric, q, m, 0, rows, dim, -Infinity, idx, sc)).toBe(rows);
        expect(scoreRowsAbove(metric, q, m, 0, rows, dim, Infinity, idx, sc)).toBe(0);
      }
    }),
  );

  it(
    'a row whose score rounds to the floor in float32 is kept (it ties at the k-th place)',
    withBackend(() => {
      // fround(0.1) * 3 is 0.30000000447 in float64, below its float32 rounding 0.30000001192 (the floor
      // a TopK holding one such row has): a second equal row ties with it and must come back.
      const m = new Float32Array([3, 3]);
      const q = new Float32Array([0.1]);
      const floor = Math.fround(Math.fround(0.1) * 3);
      expect(Math.fround(0.1) * 3).toBeLessThan(floor);
      const idx = new Uint32Array(2);
      const sc = new Float64Array(2);
      expect(scoreRowsAbove('dot', q, m, 0, 2, 1, floor, idx, sc)).toBe(2);
    }),
  );
});

/**
 * The assembler of the WebAssembly kernel module embedded in distance.ts (see the listing there). If you
 * change the kernels, change this, and paste the base64 of `assembleKernels()` into KERNEL_WASM (`PRINT_WASM=1
 * npx vitest run test/unit/vector/distance.test.ts -t "is exactly"` prints it).
 */
function assembleKernels(): Uint8Array {
  const uleb = (n: number): number[] => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      o.push(b);
    } while (n !== 0);
    return o;
  };
  const sleb = (n: number): number[] => {
    const o: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        o.push(b);
        return o;
      }
      o.push(b | 0x80);
    }
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));
  const I32 = 0x7f;
  const F32 = 0x7d;
  const V128 = 0x7b;
  const [BLOCK, LOOP, IF, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x04, 0x0c, 0x0d, 0x0b, 0x40];
  const [GET, SET, TEE] = [0x20, 0x21, 0x22];
  const [I32_CONST, I32_GE_U, I32_ADD, I32_SUB, I32_AND, I32_SHL, I32_STORE, I32_MUL] = [0x41, 0x4f, 0x6a, 0x6b, 0x71, 0x74, 0x36, 0x6c];
  const [I32_LOAD, I32_LOAD8_U, I32_LOAD16_S, I32_EQZ, F32_CONVERT_I32_S] = [0x28, 0x2d, 0x2e, 0x45, 0xb2];
  const [F32_LOAD, F32_STORE, F32_GE, F32_NEG, F32_SQRT, F32_ADD, F32_SUB, F32_MUL] = [0x2a, 0x38, 0x60, 0x8c, 0x91, 0x92, 0x93, 0x94];
  const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
  const V_ZERO = simd(0x0c, ...new Array<number>(16).fill(0)); // v128.const 0
  const F32X4_ADD = simd(0xe4);
  const F32X4_SUB = simd(0xe5);
  const F32X4_MUL = simd(0xe6);
  const LANE = (l: number): number[] => simd(0x1f, l); // f32x4.extract_lane
  const get = (l: number): number[] => [GET, l];
  const set = (l: number): number[] => [SET, l];
  const i32 = (v: number): number[] => [I32_CONST, ...sleb(v)];

  type TailLocals = { v: number; out: number; r: number; floor: number; idx: number; n: number; row: number; stride: number };
  /** A row's result, given the kernel's locals: out[r] = v (an f32 local); if (v >= floor) idx[n++] = r. */
  const recordRow = ({ v, out, r, floor, idx, n }: TailLocals): number[] => [
    ...get(out), ...get(r), ...i32(2), I32_SHL, I32_ADD, ...get(v), F32_STORE, 2, 0, // out[r] = v
    ...get(v), ...get(floor), F32_GE, IF, VOID, // if (v >= floor) idx[n++] = r
    ...get(idx), ...get(n), ...i32(2), I32_SHL, I32_ADD, ...get(r), I32_STORE, 2, 0,
    ...get(n), ...i32(1), I32_ADD, ...set(n),
    END,
  ];
  /** The next row (row += stride, r++, back to the row loop), and after the last one, return n. */
  const nextRow = ({ r, n, row, stride }: TailLocals): number[] => [
    ...get(row), ...get(stride), I32_ADD, ...set(row),
    ...get(r), ...i32(1), I32_ADD, ...set(r),
    BR, 0, END, END,
    ...get(n),
    END,
  ];
  /** The end of a row in every kernel: recordRow, then nextRow. */
  const rowTail = (l: TailLocals): number[] => [...recordRow(l), ...nextRow(l)];

  /**
   * One kernel. `wide` (the ranking kernels dotWide / negl2Wide): four accumulators over 16 floats per
   * step, then the single-accumulator loop for the rest; the sums are grouped differently, so results
   * differ from the exact kernels in the last bits, which ranking tolerates and publishing does not.
   */
  const kernel = (kind: RowKernel, wide: boolean): number[] => {
    // params 0 q, 1 m, 2 count, 3 dim, 4 out, 5 floor (f32), 6 idx
    // locals 7 r, 8 i, 9 end4, 10 row, 11 dimBytes, 12 n (i32); 13 acc, 14 d (v128); 15 s, 16 x (f32).
    // wide: 13 end16 is added (i32), so acc, d are 14, 15, then 16-18 acc1-3 (v128), 19 s, 20 x (f32).
    const [q, m, count, dim, out, floor, idx] = [0, 1, 2, 3, 4, 5, 6];
    const [r, i, end4, row, dimBytes, n] = [7, 8, 9, 10, 11, 12];
    const [end16, acc, d, acc1, acc2, acc3, s, x] = wide ? [13, 14, 15, 16, 17, 18, 19, 20] : [-1, 13, 14, -1, -1, -1, 15, 16];
    const vecOp = kind === 'dot' ? F32X4_MUL : [...F32X4_SUB, TEE, d, ...get(d), ...F32X4_MUL];
    const scalarOp = kind === 'dot' ? [F32_MUL] : [F32_SUB, TEE, x, ...get(x), F32_MUL];
    const load = (base: number, off: number): number[] => [...get(base), ...get(i), I32_ADD, ...simd(0x00, 2, ...uleb(off))];
    const step = (a: number, off: number): number[] => [...load(q, off), ...load(row, off), ...vecOp, ...get(a), ...F32X4_ADD, ...set(a)];
    const wideLoop = wide
      ? [
          ...V_ZERO, ...set(acc1), ...V_ZERO, ...set(acc2), ...V_ZERO, ...set(acc3),
          BLOCK, VOID, LOOP, VOID, // 16 floats per step into four accumulators
          ...get(i), ...get(end16), I32_GE_U, BR_IF, 1,
          ...step(acc, 0), ...step(acc1, 16), ...step(acc2, 32), ...step(acc3, 48),
          ...get(i), ...i32(64), I32_ADD, ...set(i),
          BR, 0, END, END,
        ]
      : [];
    const fold = wide ? [...get(acc), ...get(acc1), ...F32X4_ADD, ...get(acc2), ...get(acc3), ...F32X4_ADD, ...F32X4_ADD, ...set(acc)] : [];
    const body = [
      ...get(dim), ...i32(2), I32_SHL, ...set(dimBytes), // dimBytes = dim * 4
      ...get(dimBytes), ...i32(-16), I32_AND, ...set(end4), // end4 = dimBytes & ~15
      ...(wide ? [...get(dimBytes), ...i32(-64), I32_AND, ...set(end16)] : []), // end16 = dimBytes & ~63
      ...get(m), ...set(row),
      BLOCK, VOID, LOOP, VOID, // for r < count
      ...get(r), ...get(count), I32_GE_U, BR_IF, 1,
      ...V_ZERO, ...set(acc), ...i32(0), ...set(i),
      ...wideLoop,
      BLOCK, VOID, LOOP, VOID, // SIMD body: 4 floats per step
      ...get(i), ...get(end4), I32_GE_U, BR_IF, 1,
      ...step(acc, 0),
      ...get(i), ...i32(16), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...fold, // wide: acc = (acc + acc1) + (acc2 + acc3)
      ...get(acc), ...LANE(0), ...get(acc), ...LANE(1), F32_ADD, // s = (a0 + a1) + (a2 + a3)
      ...get(acc), ...LANE(2), ...get(acc), ...LANE(3), F32_ADD, F32_ADD, ...set(s),
      BLOCK, VOID, LOOP, VOID, // scalar tail
      ...get(i), ...get(dimBytes), I32_GE_U, BR_IF, 1,
      ...get(q), ...get(i), I32_ADD, F32_LOAD, 2, 0,
      ...get(row), ...get(i), I32_ADD, F32_LOAD, 2, 0,
      ...scalarOp, ...get(s), F32_ADD, ...set(s),
      ...get(i), ...i32(4), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...(kind === 'negl2' ? [...get(s), F32_SQRT, F32_NEG, ...set(s)] : []),
      ...rowTail({ v: s, out, r, floor, idx, n, row, stride: dimBytes }),
    ];
    const locals = wide
      ? vec([[...uleb(7), I32], [...uleb(5), V128], [...uleb(2), F32]])
      : vec([[...uleb(6), I32], [...uleb(2), V128], [...uleb(2), F32]]);
    const code = [...locals, ...body];
    return [...uleb(code.length), ...code];
  };

  /** The i32 sum of the four lanes of local `acc`: (a0 + a1) + (a2 + a3). */
  const laneSum = (acc: number): number[] => [
    GET, acc, ...simd(0x1b, 0), GET, acc, ...simd(0x1b, 1), I32_ADD,
    GET, acc, ...simd(0x1b, 2), GET, acc, ...simd(0x1b, 3), I32_ADD, I32_ADD,
  ];

  /** The end of a row in the integer kernels (dotCodes and the nibble kernels): f = f32(s), then rowTail. */
  const selectTail = (l: { s: number; f: number; out: number; r: number; floor: number; idx: number; n: number; row: number; stride: number }): number[] => {
    const { s, f, ...rest } = l;
    return [...get(s), F32_CONVERT_I32_S, ...set(f), ...rowTail({ v: f, ...rest })];
  };

  /**
   * dotCodes: q holds `stride` int16 values, rows hold `stride` uint8 codes; s = sum of q[i] * code[i] in
   * int32 (exact: the caller bounds |q| so the sum cannot overflow), out[r] = f32(s). Per 16 codes:
   * widen to two i16x8 and i32x4.dot_i16x8_s each with 8 query values.
   */
  const codesKernel = (): number[] => {
    // params 0 q, 1 m, 2 count, 3 stride, 4 out, 5 floor (f32), 6 idx
    // locals 7 r, 8 i, 9 end16, 10 row, 11 n, 12 s (i32); 13 acc, 14 c (v128); 15 f (f32)
    const [q, m, count, stride, out, floor, idx] = [0, 1, 2, 3, 4, 5, 6];
    const [r, i, end16, row, n, s, acc, c, f] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
    const qAt = [...get(q), ...get(i), ...i32(1), I32_SHL, I32_ADD]; // q + 2 i
    const body = [
      ...get(stride), ...i32(-16), I32_AND, ...set(end16), // end16 = stride & ~15
      ...get(m), ...set(row),
      BLOCK, VOID, LOOP, VOID, // for r < count
      ...get(r), ...get(count), I32_GE_U, BR_IF, 1,
      ...V_ZERO, ...set(acc), ...i32(0), ...set(i),
      BLOCK, VOID, LOOP, VOID, // 16 codes per step
      ...get(i), ...get(end16), I32_GE_U, BR_IF, 1,
      ...get(row), ...get(i), I32_ADD, ...simd(0x00, 0, 0), ...set(c), // c = v128.load(row + i)
      ...get(c), ...simd(0x89), ...qAt, ...simd(0x00, 1, 0), ...simd(0xba), // dot(extend_low_u(c), q[i..i+8))
      ...get(acc), ...simd(0xae), ...set(acc),
      ...get(c), ...simd(0x8a), ...qAt, ...simd(0x00, 1, 16), ...simd(0xba), // dot(extend_high_u(c), q[i+8..i+16))
      ...get(acc), ...simd(0xae), ...set(acc),
      ...get(i), ...i32(16), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...laneSum(acc), ...set(s), // s = lanes summed
      BLOCK, VOID, LOOP, VOID, // scalar tail
      ...get(i), ...get(stride), I32_GE_U, BR_IF, 1,
      ...get(row), ...get(i), I32_ADD, I32_LOAD8_U, 0, 0,
      ...qAt, I32_LOAD16_S, 1, 0,
      I32_MUL, ...get(s), I32_ADD, ...set(s),
      ...get(i), ...i32(1), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...selectTail({ s, f, out, r, floor, idx, n, row, stride }),
    ];
    const code = [...vec([[...uleb(6), I32], [...uleb(2), V128], [...uleb(1), F32]]), ...body];
    return [...uleb(code.length), ...code];
  };

  /** v128.load (align 2^1) from the address in local `at`, plus `off`. */
  const load16 = (at: number, off: number): number[] => [...get(at), ...simd(0x00, 1, off)];

  /**
   * The nibble kernels' loop over a row: 16 code bytes (32 dimensions) a step while i < stride, with
   * qi = q + 4 i (and fi = qi + 4 stride when F is read), lo = c & 15 and hi = c >> 4 of the 16 bytes c at
   * row + i, and `half` run on each 8 of them.
   */
  const nibbleSteps = (
    l: { q: number; i: number; stride: number; row: number; qi: number; fi: number | null; lo: number; hi: number },
    half: (part: number, ext: number, off: number) => number[],
  ): number[] => {
    const { q, i, stride, row, qi, fi, lo, hi } = l;
    return [
      BLOCK, VOID, LOOP, VOID, // 16 bytes (32 codes) per step
      ...get(i), ...get(stride), I32_GE_U, BR_IF, 1,
      ...get(q), ...get(i), ...i32(2), I32_SHL, I32_ADD, ...set(qi), // qi = q + 4 i
      ...(fi !== null ? [...get(qi), ...get(stride), ...i32(2), I32_SHL, I32_ADD, ...set(fi)] : []), // fi = qi + 4 stride
      ...get(row), ...get(i), I32_ADD, ...simd(0x00, 0, 0), TEE, hi, // c = v128.load(row + i)
      ...simd(0x0c, ...new Array<number>(16).fill(15)), ...simd(0x4e), ...set(lo), // lo = c & 15
      ...get(hi), ...i32(4), ...simd(0x6d), ...set(hi), // hi = c >> 4 (u8 lanes)
      ...half(lo, 0x89, 0), ...half(lo, 0x8a, 16), ...half(hi, 0x89, 32), ...half(hi, 0x8a, 48),
      ...get(i), ...i32(16), I32_ADD, ...set(i),
      BR, 0, END, END,
    ];
  };

  /**
   * dotNibbles / l2Nibbles: rows hold `stride` bytes (a multiple of 16) of 4-bit codes, 32 dimensions per
   * 16 bytes: byte j of a block holds dimension 32b + j in its low nibble and 32b + 16 + j in its high one.
   * q holds 2 * stride int16 values Q in dimension order (l2: then 2 * stride values F). Per 16 bytes:
   * lo = c & 15, hi = c >> 4, each widened to two i16x8 and combined with 8 query values:
   *   dot: s += dot(code, Q)                     s = sum Q[d] * code[d]
   *   l2:  e = Q - F * code; s += dot(code, e)   s = sum code[d] * (Q[d] - F[d] * code[d])
   * in int32 (exact: the caller bounds Q and F, see nibblesQueryLimit), out[r] = f32(s).
   * `masked` (dotNibblesMasked / l2NibblesMasked, two more parameters, `mask` and `maskLen`): m holds an
   * IVF cluster's `count` rows followed by its `count` u32 ordinals (the rows first, so they stay aligned);
   * row r is scored only when ords[r] < maskLen and the byte mask[ords[r]] is not 0 (out[r] is left as it
   * was otherwise): a filter tested inside the kernel.
   */
  const nibblesKernel = (kind: 'dot' | 'l2', masked = false): number[] => {
    // params 0 q, 1 m, 2 count, 3 stride, 4 out, 5 floor (f32), 6 idx (masked: 7 mask, 8 maskLen)
    // locals 7 r, 8 i, 9 row, 10 n, 11 s, 12 qi, 13 fi (i32); 14 acc, 15 lo, 16 hi, 17 e (v128); 18 f (f32)
    // (masked: each two more; qi holds the row's ordinal before the row is scored)
    const [q, m, count, stride, out, floor, idx, mask, maskLen] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const L = masked ? 9 : 7;
    const [r, i, row, n, s, qi, fi, acc, lo, hi, e, f] = Array.from({ length: 12 }, (_, j) => L + j) as [number, number, number, number, number, number, number, number, number, number, number, number];
    const qv = (off: number): number[] => load16(qi, off); // v128.load(q + 4 i + off)
    const fv = (off: number): number[] => load16(fi, off); // v128.load(q + 4 stride + 4 i + off)
    // one half (8 codes, widened by `ext`) of `part` against the 8 query values at off
    const half = (part: number, ext: number, off: number): number[] =>
      kind === 'dot'
        ? [...get(part), ...simd(ext), ...qv(off), ...simd(0xba), ...get(acc), ...simd(0xae), ...set(acc)]
        : [...get(part), ...simd(ext), TEE, e, ...qv(off), ...get(e), ...fv(off), ...simd(0x95), ...simd(0x91), ...simd(0xba), ...get(acc), ...simd(0xae), ...set(acc)];
    const score = [
      ...V_ZERO, ...set(acc), ...i32(0), ...set(i),
      ...nibbleSteps({ q, i, stride, row, qi, fi: kind === 'l2' ? fi : null, lo, hi }, half),
      ...laneSum(acc), ...set(s), // s = lanes summed
    ];
    const body = masked
      ? [
          ...get(m), ...set(row),
          BLOCK, VOID, LOOP, VOID, // for r < count
          ...get(r), ...get(count), I32_GE_U, BR_IF, 1,
          BLOCK, VOID, // the row, left at once when not allowed
          ...get(m), ...get(count), ...get(stride), I32_MUL, I32_ADD, ...get(r), ...i32(2), I32_SHL, I32_ADD, I32_LOAD, 2, 0, TEE, qi, // ord = ords[r], after the rows
          ...get(maskLen), I32_GE_U, BR_IF, 0, // an ordinal past the mask: not allowed
          ...get(mask), ...get(qi), I32_ADD, I32_LOAD8_U, 0, 0, I32_EQZ, BR_IF, 0, // mask[ord] == 0: not allowed
          ...score,
          ...get(s), F32_CONVERT_I32_S, ...set(f),
          ...recordRow({ v: f, out, r, floor, idx, n, row, stride }),
          END, // the row's block: a row not allowed continues here
          ...nextRow({ v: f, out, r, floor, idx, n, row, stride }),
        ]
      : [
          ...get(m), ...set(row),
          BLOCK, VOID, LOOP, VOID, // for r < count
          ...get(r), ...get(count), I32_GE_U, BR_IF, 1,
          ...score,
          ...selectTail({ s, f, out, r, floor, idx, n, row, stride }),
        ];
    const code = [...vec([[...uleb(7), I32], [...uleb(4), V128], [...uleb(1), F32]]), ...body];
    return [...uleb(code.length), ...code];
  };

  /**
   * l2NibblesTerm / l2NibblesGivenTerm: l2Nibbles split in two sums, s = sum code[d] * Q[d] - T with the
   * row's quadratic term T = sum F[d] * code[d]^2, which depends on the row and F only (F on the exponent of
   * the query's g, see IvfReader.nibbleQuery), never on Q. `save` (l2NibblesTerm) computes T in a second
   * accumulator and stores it as an i32 at term + 4 r; l2NibblesGivenTerm reads it from there and runs the
   * dot kernel's loop (no F loads, multiplies or subtractions: ~27% less time a row measured on 128-d rows).
   * Both give l2Nibbles' value exactly (the same integers, summed in int32, see nibblesQueryLimit).
   */
  const nibblesTermKernel = (save: boolean): number[] => {
    // params 0 q, 1 m, 2 count, 3 stride, 4 out, 5 floor (f32), 6 idx, 7 term
    // locals 8 r, 9 i, 10 row, 11 n, 12 s, 13 qi, 14 fi (i32); 15 acc, 16 lo, 17 hi, 18 e, 19 acc2 (v128); 20 f (f32)
    const [q, m, count, stride, out, floor, idx, term] = [0, 1, 2, 3, 4, 5, 6, 7];
    const [r, i, row, n, s, qi, fi, acc, lo, hi, e, acc2, f] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
    const qv = (off: number): number[] => load16(qi, off); // v128.load(q + 4 i + off)
    const fv = (off: number): number[] => load16(fi, off); // v128.load(q + 4 stride + 4 i + off)
    // one half (8 codes, widened by `ext`): acc += dot(code, Q); save: acc2 += dot(code, F * code)
    const half = (part: number, ext: number, off: number): number[] =>
      save
        ? [...get(part), ...simd(ext), TEE, e, ...qv(off), ...simd(0xba), ...get(acc), ...simd(0xae), ...set(acc), ...get(e), ...get(e), ...fv(off), ...simd(0x95), ...simd(0xba), ...get(acc2), ...simd(0xae), ...set(acc2)]
        : [...get(part), ...simd(ext), ...qv(off), ...simd(0xba), ...get(acc), ...simd(0xae), ...set(acc)];
    const termAt = [...get(term), ...get(r), ...i32(2), I32_SHL, I32_ADD]; // term + 4 r
    const body = [
      ...get(m), ...set(row),
      BLOCK, VOID, LOOP, VOID, // for r < count
      ...get(r), ...get(count), I32_GE_U, BR_IF, 1,
      ...V_ZERO, ...set(acc), ...(save ? [...V_ZERO, ...set(acc2)] : []), ...i32(0), ...set(i),
      ...nibbleSteps({ q, i, stride, row, qi, fi: save ? fi : null, lo, hi }, half),
      ...(save ? [...termAt, ...laneSum(acc2), I32_STORE, 2, 0] : []), // save: term[r] = T
      ...laneSum(acc), ...termAt, I32_LOAD, 2, 0, I32_SUB, ...set(s), // s = sum code Q - term[r]
      ...selectTail({ s, f, out, r, floor, idx, n, row, stride }),
    ];
    const code = [...vec([[...uleb(7), I32], [...uleb(5), V128], [...uleb(1), F32]]), ...body];
    return [...uleb(code.length), ...code];
  };

  /**
   * The filter kernels over a column of `w`-byte unsigned codes (w = 1, 2, 4) at `codes`, n of them, one
   * byte of 0/1 per row written to `out` (no result):
   *   inRange{8,16,32}(codes, n, lo, hi, out):        out[i] = lo <= c_i <= hi (unsigned)
   *   lookup{8,16,32}(codes, n, table, tableLen, out): out[i] = c_i < tableLen ? table[c_i] : 0 (table: bytes 0/1)
   * inRange8 first runs 16 codes a step while 16 are left (lo, hi and 1 splat to i8x16; out = (c >=u lo) &
   * (c <=u hi) & 1), then the scalar loop for the rest, as every other one does from 0.
   */
  const filterKernel = (kind: 'range' | 'lookup', w: 1 | 2 | 4): number[] => {
    // params 0 codes, 1 n, 2 lo | table, 3 hi | tableLen, 4 out; locals 5 i, 6 c (i32); 7 v, 8 vlo, 9 vhi, 10 ones (v128)
    const [codes, n, a, b, out, i, c, v, vlo, vhi, ones] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const LOAD = w === 1 ? [I32_LOAD8_U, 0, 0] : w === 2 ? [0x2f, 1, 0] : [I32_LOAD, 2, 0]; // i32.load8_u / load16_u / load
    const at = w === 1 ? [...get(codes), ...get(i), I32_ADD] : [...get(codes), ...get(i), ...i32(w === 2 ? 1 : 2), I32_SHL, I32_ADD];
    const value =
      kind === 'range'
        ? [...get(a), I32_GE_U, ...get(c), ...get(b), 0x4d, I32_AND] // c >= lo & c <= hi (i32.le_u)
        : [...get(b), 0x49, IF, I32, ...get(a), ...get(c), I32_ADD, I32_LOAD8_U, 0, 0, 0x05, ...i32(0), END]; // c < len (i32.lt_u) ? table[c] : 0
    const simdLoop =
      kind === 'range' && w === 1
        ? [
            ...get(a), ...simd(0x0f), ...set(vlo), ...get(b), ...simd(0x0f), ...set(vhi), ...i32(1), ...simd(0x0f), ...set(ones), // i8x16.splat
            BLOCK, VOID, LOOP, VOID, // while i + 16 <= n
            ...get(i), ...i32(16), I32_ADD, ...get(n), 0x4b, BR_IF, 1, // i32.gt_u
            ...get(out), ...get(i), I32_ADD,
            ...get(codes), ...get(i), I32_ADD, ...simd(0x00, 0, 0), TEE, v, // v = v128.load(codes + i)
            ...get(vlo), ...simd(0x2c), ...get(v), ...get(vhi), ...simd(0x2a), ...simd(0x4e), ...get(ones), ...simd(0x4e), // (v >=u lo) & (v <=u hi) & 1
            ...simd(0x0b, 0, 0), // v128.store(out + i)
            ...get(i), ...i32(16), I32_ADD, ...set(i),
            BR, 0, END, END,
          ]
        : [];
    const body = [
      ...simdLoop,
      BLOCK, VOID, LOOP, VOID, // for i < n
      ...get(i), ...get(n), I32_GE_U, BR_IF, 1,
      ...get(out), ...get(i), I32_ADD, // the address of out[i]
      ...at, ...LOAD, TEE, c, // c = codes[i]
      ...value,
      0x3a, 0, 0, // i32.store8
      ...get(i), ...i32(1), I32_ADD, ...set(i),
      BR, 0, END, END,
      END,
    ];
    const code = [...vec([[...uleb(2), I32], [...uleb(4), V128]]), ...body];
    return [...uleb(code.length), ...code];
  };

  /**
   * countNonZero(at, n): the number of the n bytes at `at` that are not 0. Blocks of up to 255 steps of 16
   * bytes count into i8x16 lanes (acc -= (x != 0), i.e. +1 per nonzero byte; 255 steps cannot overflow a
   * lane), widened pairwise into an i32x4 total after each block; then the bytes left one at a time.
   */
  const countKernel = (): number[] => {
    // params 0 at, 1 n; locals 2 i, 3 k, 4 count (i32); 5 acc, 6 total (v128)
    const [at, n, i, k, count, acc, total] = [0, 1, 2, 3, 4, 5, 6];
    const room16 = [...get(i), ...i32(16), I32_ADD, ...get(n), 0x4b]; // i + 16 > n (i32.gt_u)
    const body = [
      ...V_ZERO, ...set(total),
      BLOCK, VOID, LOOP, VOID, // blocks while 16 bytes are left
      ...room16, BR_IF, 1,
      ...V_ZERO, ...set(acc), ...i32(0), ...set(k),
      BLOCK, VOID, LOOP, VOID, // at most 255 steps
      ...room16, BR_IF, 1,
      ...get(k), ...i32(255), I32_GE_U, BR_IF, 1,
      ...get(acc), ...get(at), ...get(i), I32_ADD, ...simd(0x00, 0, 0), ...V_ZERO, ...simd(0x24), ...simd(0x71), ...set(acc), // acc -= (x != 0)
      ...get(i), ...i32(16), I32_ADD, ...set(i),
      ...get(k), ...i32(1), I32_ADD, ...set(k),
      BR, 0, END, END,
      ...get(acc), ...simd(0x7d), ...simd(0x7f), ...get(total), ...simd(0xae), ...set(total), // total += widen(acc)
      BR, 0, END, END,
      ...laneSum(total), ...set(count),
      BLOCK, VOID, LOOP, VOID, // the rest
      ...get(i), ...get(n), I32_GE_U, BR_IF, 1,
      ...get(at), ...get(i), I32_ADD, I32_LOAD8_U, 0, 0, ...i32(0), 0x47, // != 0 (i32.ne)
      ...get(count), I32_ADD, ...set(count),
      ...get(i), ...i32(1), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...get(count),
      END,
    ];
    const code = [...vec([[...uleb(3), I32], [...uleb(2), V128]]), ...body];
    return [...uleb(code.length), ...code];
  };

  /**
   * scaleRows(at, n, dim, inv): row r of the n rows of `dim` floats at `at` multiplied in place by the f64
   * inv[r] (at inv + 8 r), each value rounded back to f32: f32(f64(v) * inv), normalizeInto's arithmetic
   * (a Float32Array store of a JS product), so the same bits. Four floats a step (promoted two by two to
   * f64x2, multiplied, demoted and joined), then one at a time for the rest of a row.
   */
  const scaleKernel = (): number[] => {
    // params 0 at, 1 n, 2 dim, 3 inv; locals 4 r, 5 i, 6 end4, 7 row, 8 dimBytes (i32); 9 inv2, 10 v (v128); 11 s (f64)
    const [at, n, dim, inv, r, i, end4, row, dimBytes, inv2, v, s] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const [F64_LOAD, F64_MUL, F32_DEMOTE_F64, F64_PROMOTE_F32] = [0x2b, 0xa2, 0xb6, 0xbb];
    const addr = [...get(row), ...get(i), I32_ADD];
    // f32x4.demote_f64x2_zero(f64x2.promote_low_f32x4(x) * inv2): lanes 0, 1 of x scaled, 2 and 3 zero
    const half = (high: boolean): number[] => [
      ...get(v), ...(high ? [...get(v), ...simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)] : []),
      ...simd(0x5f), ...get(inv2), ...simd(0xf2), ...simd(0x5e),
    ];
    const body = [
      ...get(dim), ...i32(2), I32_SHL, ...set(dimBytes),
      ...get(dimBytes), ...i32(-16), I32_AND, ...set(end4),
      ...get(at), ...set(row),
      BLOCK, VOID, LOOP, VOID, // for r < n
      ...get(r), ...get(n), I32_GE_U, BR_IF, 1,
      ...get(inv), ...get(r), ...i32(3), I32_SHL, I32_ADD, F64_LOAD, 3, 0, TEE, s, ...simd(0x14), ...set(inv2), // inv2 = f64x2.splat(s = inv[r])
      ...i32(0), ...set(i),
      BLOCK, VOID, LOOP, VOID, // 4 floats a step
      ...get(i), ...get(end4), I32_GE_U, BR_IF, 1,
      ...addr, ...addr, ...simd(0x00, 2, 0), ...set(v),
      ...half(false), ...half(true), ...simd(0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), // lanes 0-1 of each
      ...simd(0x0b, 2, 0), // v128.store(row + i)
      ...get(i), ...i32(16), I32_ADD, ...set(i),
      BR, 0, END, END,
      BLOCK, VOID, LOOP, VOID, // the rest, one float a step
      ...get(i), ...get(dimBytes), I32_GE_U, BR_IF, 1,
      ...addr, ...addr, F32_LOAD, 2, 0, F64_PROMOTE_F32, ...get(s), F64_MUL, F32_DEMOTE_F64, F32_STORE, 2, 0,
      ...get(i), ...i32(4), I32_ADD, ...set(i),
      BR, 0, END, END,
      ...get(row), ...get(dimBytes), I32_ADD, ...set(row),
      ...get(r), ...i32(1), I32_ADD, ...set(r),
      BR, 0, END, END,
      END,
    ];
    const code = [...vec([[...uleb(5), I32], [...uleb(2), V128], [...uleb(1), 0x7c]]), ...body];
    return [...uleb(code.length), ...code];
  };

  // The exact kernels, then the ranking kernels (exported as dotWide, negl2Wide), then dotCodes, dotNibbles,
  // l2Nibbles (all of type 0), dotNibblesMasked and l2NibblesMasked (type 1: two more i32, the mask and its
  // length), the filter kernels inRange8/16/32 and lookup8/16/32 (type 2: five i32, no result), countNonZero
  // (type 3), then l2NibblesTerm and l2NibblesGivenTerm (type 4: one more i32, the terms' address), then
  // scaleRows (type 5: four i32, no result).
  const kinds: [RowKernel, boolean][] = [['dot', false], ['l2sq', false], ['negl2', false], ['dot', true], ['negl2', true]];
  const fnType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [I32]]), ...vec([[I32]])];
  const maskedType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [I32], [I32], [I32]]), ...vec([[I32]])];
  const filterType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const countType = [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])];
  const termType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [I32], [I32]]), ...vec([[I32]])];
  const scaleType = [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])];
  const filters: ['range' | 'lookup', 1 | 2 | 4][] = [['range', 1], ['range', 2], ['range', 4], ['lookup', 1], ['lookup', 2], ['lookup', 4]];
  const f0 = kinds.length + 5; // the first filter kernel's function index
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, vec([fnType, maskedType, filterType, countType, termType, scaleType])), // types
    ...section(2, vec([[...name('e'), ...name('m'), 0x02, 0x00, ...uleb(1)]])), // import memory e.m, min 1 page
    ...section(3, vec([...[...kinds, 0, 0, 0].map(() => [0]), [1], [1], ...filters.map(() => [2]), [3], [4], [4], [5]])), // functions: types
    ...section(7, vec([
      ...kinds.map(([k, wide], f) => [...name(wide ? `${k}Wide` : k), 0x00, f]),
      [...name('dotCodes'), 0x00, kinds.length],
      [...name('dotNibbles'), 0x00, kinds.length + 1],
      [...name('l2Nibbles'), 0x00, kinds.length + 2],
      [...name('dotNibblesMasked'), 0x00, kinds.length + 3],
      [...name('l2NibblesMasked'), 0x00, kinds.length + 4],
      ...filters.map(([k, w], j) => [...name(`${k === 'range' ? 'inRange' : 'lookup'}${8 * w}`), 0x00, f0 + j]),
      [...name('countNonZero'), 0x00, f0 + filters.length],
      [...name('l2NibblesTerm'), 0x00, f0 + filters.length + 1],
      [...name('l2NibblesGivenTerm'), 0x00, f0 + filters.length + 2],
      [...name('scaleRows'), 0x00, f0 + filters.length + 3],
    ])), // exports
    ...section(10, vec([
      ...kinds.map(([k, wide]) => kernel(k, wide)), codesKernel(), nibblesKernel('dot'), nibblesKernel('l2'), nibblesKernel('dot', true), nibblesKernel('l2', true),
      ...filters.map(([k, w]) => filterKernel(k, w)), countKernel(), nibblesTermKernel(true), nibblesTermKernel(false), scaleKernel(),
    ])), // code
  ]);
}

describe('codes kernel (scoreCodesAbove)', () => {
  it('is f32 of the exact int32 sum of q16 x codes, for every stride, copied or pinned, and selects by floor', () => {
    expect(codesKernelAvailable()).toBe(true);
    const r = rng(21);
    for (const stride of [4, 8, 12, 16, 20, 28, 32, 60, 64, 100, 128, 132, 768, 4096]) {
      const rows = 700; // more than one 256 KiB chunk for the widest rows
      const codes = Uint8Array.from({ length: rows * stride }, () => Math.floor(r() * 256));
      const limit = codesQueryLimit(stride);
      expect(255 * stride * limit).toBeLessThan(2 ** 31);
      const q16 = Int16Array.from({ length: stride }, (_, i) => (i === 0 ? limit : i === 1 ? -limit : Math.round((2 * r() - 1) * limit)));
      const want = Array.from({ length: rows }, (_, row) => {
        let sum = 0;
        for (let i = 0; i < stride; i++) sum += q16[i]! * codes[row * stride + i]!;
        return Math.fround(sum);
      });
      const idx = new Uint32Array(rows);
      const sc = new Float64Array(rows);
      expect(scoreCodesAbove(q16, codes, 0, rows, stride, -Infinity, idx, sc)).toBe(rows);
      expect([...sc]).toEqual(want);
      const floor = [...want].sort((a, b) => a - b)[rows >> 1]!;
      const pinned = pinCodes(codes, rows, stride)!;
      try {
        for (const src of [codes, pinned]) {
          const n = scoreCodesAbove(q16, src, 3, rows - 3, stride, floor, idx, sc);
          const keep = want.slice(3).map((v, i) => [v, i] as const).filter(([v]) => v >= floor);
          expect([...idx.subarray(0, n)]).toEqual(keep.map(([, i]) => i));
          expect([...sc.subarray(0, n)]).toEqual(keep.map(([v]) => v));
        }
      } finally {
        unpinRows(pinned);
      }
    }
  });
});

describe('4-bit codes kernel (scoreNibblesAbove)', () => {
  /** The definition, from the packed bytes: dimension 32b + j in the low nibble of byte 16b + j, 32b + 16 + j in its high one. */
  const reference = (kind: 'dot' | 'l2', q16: Int16Array, codes: Uint8Array, row: number, stride: number): number => {
    let sum = 0;
    for (let d = 0; d < 2 * stride; d++) {
      const b = Math.floor(d / 32);
      const j = d % 32;
      const byte = codes[row * stride + 16 * b + (j % 16)]!;
      const code = j < 16 ? byte & 15 : byte >> 4;
      sum += kind === 'dot' ? q16[d]! * code : code * (q16[d]! - q16[2 * stride + d]! * code);
    }
    return Math.fround(sum);
  };

  for (const backend of ['wasm', 'js'] as const) {
    it(`(${backend}) is the exact int32 sum, for every stride, at the query limits, copied or pinned, and selects by floor`, () => {
      useKernelBackend(backend);
      try {
        const r = rng(33);
        for (const kind of ['dot', 'l2'] as const) {
          for (const stride of [16, 32, 48, 64, 192, 384, 2048]) {
            const rows = 300;
            const codes = Uint8Array.from({ length: rows * stride }, (_, i) => (i < stride ? 0xff : Math.floor(r() * 256)));
            const limit = nibblesQueryLimit(stride);
            // l2: |Q| + 15 F within the limit, F per dimension
            const f = kind === 'l2' ? Math.floor(limit / 30) : 0;
            const qmax = limit - 15 * f;
            const q16 = new Int16Array(kind === 'l2' ? 4 * stride : 2 * stride);
            for (let d = 0; d < 2 * stride; d++) q16[d] = d === 0 ? -qmax : d === 1 ? qmax : Math.round((2 * r() - 1) * qmax);
            if (kind === 'l2') for (let d = 0; d < 2 * stride; d++) q16[2 * stride + d] = d < 2 ? f : Math.floor(r() * (f + 1));
            // the extremes: row 0 is all 15s, and against a query of all -qmax its sum is the largest possible
            const want = Array.from({ length: rows }, (_, row) => reference(kind, q16, codes, row, stride));
            const idx = new Uint32Array(rows);
            const sc = new Float64Array(rows);
            expect(scoreNibblesAbove(kind, q16, codes, 0, rows, stride, -Infinity, idx, sc)).toBe(rows);
            expect([...sc]).toEqual(want);
            const worst = Int16Array.from(q16, (v, d) => (d < 2 * stride ? -qmax : f));
            const w = reference(kind, worst, codes, 0, stride);
            expect(Math.abs(w)).toBeLessThan(2 ** 31);
            expect(scoreNibblesAbove(kind, worst, codes, 0, 1, stride, -Infinity, idx, sc)).toBe(1);
            expect(sc[0]).toBe(w);
            const floor = [...want].sort((a, b) => a - b)[rows >> 1]!;
            const pinned = backend === 'wasm' ? pinCodes(codes, rows, stride) : null;
            try {
              for (const src of pinned === null ? [codes] : [codes, pinned]) {
                const n = scoreNibblesAbove(kind, q16, src, 3, rows - 3, stride, floor, idx, sc);
                const keep = want.slice(3).map((v, i) => [v, i] as const).filter(([v]) => v >= floor);
                expect([...idx.subarray(0, n)]).toEqual(keep.map(([, i]) => i));
                expect([...sc.subarray(0, n)]).toEqual(keep.map(([v]) => v));
              }
            } finally {
              if (pinned !== null) unpinRows(pinned);
            }
          }
        }
      } finally {
        useKernelBackend('wasm');
      }
    });
  }

  it('(wasm) scoreNibblesTermAbove saves the quadratic terms and gives l2 exactly, with them or without (the same values, rows and order); JS answers -1', () => {
    const r = rng(35);
    for (const stride of [16, 32, 48, 64, 192, 384, 2048]) {
      const rows = 300;
      const codes = Uint8Array.from({ length: rows * stride }, (_, i) => (i < stride ? 0xff : Math.floor(r() * 256)));
      const limit = nibblesQueryLimit(stride);
      const f = Math.floor(limit / 30);
      const qmax = limit - 15 * f;
      const q16 = new Int16Array(4 * stride);
      for (let d = 0; d < 2 * stride; d++) q16[d] = d === 0 ? -qmax : d === 1 ? qmax : Math.round((2 * r() - 1) * qmax);
      for (let d = 0; d < 2 * stride; d++) q16[2 * stride + d] = d < 2 ? f : Math.floor(r() * (f + 1));
      const want = Array.from({ length: rows }, (_, row) => reference('l2', q16, codes, row, stride));
      const pinned = pinCodes(codes, rows, stride)!;
      const terms = pinTerms(rows)!;
      const idx = new Uint32Array(rows);
      const sc = new Float64Array(rows);
      try {
        // all rows: the values
        expect(scoreNibblesTermAbove('save', q16, pinned, rows, stride, terms.at, -Infinity, idx, sc)).toBe(rows);
        expect([...sc]).toEqual(want);
        // another Q with the same F: the saved terms give its values exactly, and select by floor
        const q2 = Int16Array.from(q16, (v, d) => (d < 2 * stride ? Math.round((2 * r() - 1) * qmax) : v));
        const want2 = Array.from({ length: rows }, (_, row) => reference('l2', q2, codes, row, stride));
        const floor = [...want2].sort((a, b) => a - b)[rows >> 1]!;
        const n = scoreNibblesTermAbove('given', q2, pinned, rows, stride, terms.at, floor, idx, sc);
        const keep = want2.map((v, i) => [v, i] as const).filter(([v]) => v >= floor);
        expect([...idx.subarray(0, n)]).toEqual(keep.map(([, i]) => i));
        expect([...sc.subarray(0, n)]).toEqual(keep.map(([v]) => v));
        // the given path never reads F: a q16 without it (the second half zero) scores the same
        const noF = Int16Array.from(q2, (v, d) => (d < 2 * stride ? v : 0));
        expect(scoreNibblesTermAbove('given', noF, pinned, rows, stride, terms.at, floor, idx, sc)).toBe(n);
        // terms of a different F (a mutation of the cache's key) give different values: the check can fail
        const q3 = Int16Array.from(q2, (v, d) => (d < 2 * stride ? v : Math.max(0, v - 1)));
        const want3 = Array.from({ length: rows }, (_, row) => reference('l2', q3, codes, row, stride));
        scoreNibblesTermAbove('given', q3, pinned, rows, stride, terms.at, -Infinity, idx, sc);
        expect([...sc]).not.toEqual(want3);
        useKernelBackend('js');
        expect(scoreNibblesTermAbove('given', q2, pinned, rows, stride, terms.at, floor, idx, sc)).toBe(-1);
      } finally {
        useKernelBackend('wasm');
        unpinRows(terms);
        unpinRows(pinned);
      }
    }
  });

  it('(wasm) scoreNibblesMaskedAbove scores exactly the allowed rows of a cluster as stored, copied or pinned; JS answers -1', () => {
    const r = rng(35);
    for (const kind of ['dot', 'l2'] as const) {
      for (const stride of [16, 64, 384]) {
        const rows = 333;
        const size = 5000;
        // a cluster as an IVF file stores it: rows u32 ordinals (some past the mask's end), then the codes
        const block = new Uint8Array(rows * (4 + stride));
        const ords = new Uint32Array(block.buffer, 0, rows);
        for (let i = 0; i < rows; i++) ords[i] = i % 50 === 7 ? size + i : Math.floor(r() * size);
        const codes = block.subarray(4 * rows);
        for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(r() * 256);
        const limit = nibblesQueryLimit(stride);
        const f = kind === 'l2' ? Math.floor(limit / 30) : 0;
        const qmax = limit - 15 * f;
        const q16 = new Int16Array(kind === 'l2' ? 4 * stride : 2 * stride);
        for (let d = 0; d < 2 * stride; d++) q16[d] = Math.round((2 * r() - 1) * qmax);
        if (kind === 'l2') for (let d = 0; d < 2 * stride; d++) q16[2 * stride + d] = Math.floor(r() * (f + 1));
        const want = Array.from({ length: rows }, (_, row) => reference(kind, q16, codes, row, stride));
        const pinnedCluster = pinClusterRows(block, rows, stride)!;
        const pinned = pinnedCluster.block;
        try {
          // the pinned cluster's rows alone are what scoreNibblesAbove scores in place
          const all = new Float64Array(rows);
          expect(scoreNibblesAbove(kind, q16, pinnedCluster.rows, 0, rows, stride, -Infinity, new Uint32Array(rows), all)).toBe(rows);
          expect([...all]).toEqual(want);
          for (const density of [0, 0.01, 0.3, 1]) {
            const mask = Uint8Array.from({ length: size }, () => (r() < density ? 1 : 0));
            const loaded = loadKernelMask(mask)!;
            expect(loaded.length).toBe(size);
            for (const floor of [-Infinity, [...want].sort((a, b) => a - b)[rows >> 1]!]) {
              const keep = want.map((v, row) => [v, row] as const).filter(([v, row]) => mask[ords[row]!] === 1 && v >= floor);
              for (const src of [block, pinned]) {
                const idx = new Uint32Array(rows);
                const sc = new Float64Array(rows);
                const n = scoreNibblesMaskedAbove(kind, q16, src, rows, stride, loaded, floor, idx, sc);
                expect([...idx.subarray(0, n)]).toEqual(keep.map(([, row]) => row));
                expect([...sc.subarray(0, n)]).toEqual(keep.map(([v]) => v));
              }
            }
          }
          // a mask past 1 MiB is not loaded; without the kernels nothing is
          expect(loadKernelMask(new Uint8Array(1024 * 1024 + 1))).toBeNull();
          useKernelBackend('js');
          expect(loadKernelMask(new Uint8Array(10))).toBeNull();
          expect(scoreNibblesMaskedAbove(kind, q16, block, rows, stride, { at: 0, length: 0 }, -Infinity, new Uint32Array(rows), new Float64Array(rows))).toBe(-1);
        } finally {
          useKernelBackend('wasm');
          unpinRows(pinned);
        }
      }
    }
  });

  it('refuses rows that are not a multiple of 16 bytes', () => {
    expect(() => scoreNibblesAbove('dot', new Int16Array(24), new Uint8Array(12), 0, 1, 12, -Infinity, new Uint32Array(1), new Float64Array(1))).toThrow(/multiple of 16/);
  });
});

describe('scattered rows scored in the kernels\' memory (scoreGatheredAbove)', () => {
  /** What it replaces: the rows gathered (scaled as normalizeInto does: f32(v * inv)) into a block, then scoreRowsAbove. */
  const gathered = (metric: 'dot' | 'cosine', q: Float32Array, m: Float32Array, dim: number, list: Uint32Array, from: number, count: number, inv: Float64Array | null, floor: number) => {
    const tmp = new Float32Array(count * dim);
    for (let j = 0; j < count; j++) {
      const r = list[from + j]!;
      for (let i = 0; i < dim; i++) tmp[j * dim + i] = inv === null ? m[r * dim + i]! : m[r * dim + i]! * inv[r]!;
    }
    const idx = new Uint32Array(count);
    const sc = new Float64Array(count);
    const n = scoreRowsAbove(metric, q, tmp, 0, count, dim, floor, idx, sc);
    return { idx: [...idx.subarray(0, n)], sc: [...sc.subarray(0, n)] };
  };

  it('gives the bits of gathering, scaling and scoring a block, for dims with and without a tail and rows over several chunks', () => {
    expect(kernelBackend()).toBe('wasm');
    const r = rng(36);
    for (const dim of [1, 3, 4, 5, 7, 16, 20, 100, 128, 130, 768, 1536]) {
      const rows = 600;
      // Values of every scale, a zero row, and inverse norms as the callers cache them (0 for the zero row).
      const values = Float32Array.from({ length: rows * dim }, (_, k) => (Math.floor(k / dim) === 5 ? 0 : (2 * r() - 1) * 10 ** Math.floor(6 * r() - 3)));
      // For some dims, a matrix that is a view 4 bytes into a larger buffer (as a segment's section is).
      const m = dim % 4 === 0 && dim % 8 !== 0 ? new Float32Array(new ArrayBuffer(4 + values.byteLength), 4, values.length) : values;
      m.set(values);
      // And the same rows in a matrix of gatherMatrix, whose rows are gathered in its buffer's scratch
      // (poisoned with NaN first: nothing left there may reach a score).
      const g = gatherMatrix(values.length);
      new Float32Array(g.buffer).fill(NaN);
      g.set(values);
      const inv = Float64Array.from({ length: rows }, (_, row) => {
        const n = norm(m, row * dim, dim);
        return n > 0 ? 1 / n : 0;
      });
      const list = Uint32Array.from({ length: 400 }, (_, j) => (j === 7 ? 5 : Math.floor(r() * rows)));
      const q = prepareQuery('cosine', randomVec(r, dim));
      for (const [metric, scale] of [['cosine', inv], ['dot', null]] as const) {
        for (const [from, count] of [[0, 400], [3, 256], [399, 1]]) {
          const all = gathered(metric, q, m, dim, list, from, count, scale, -Infinity);
          const floor = [...all.sc].sort((a, b) => a - b)[Math.floor(count / 2)]!;
          for (const f of [-Infinity, floor]) {
            const want = f === -Infinity ? all : gathered(metric, q, m, dim, list, from, count, scale, f);
            for (const mat of [m, g]) {
              const idx = new Uint32Array(count);
              const sc = new Float64Array(count);
              const n = scoreGatheredAbove(metric, q, mat, dim, list, from, count, scale, f, idx, sc);
              expect(n, `dim ${dim} ${metric} from ${from} ${mat === g ? 'gatherMatrix' : ''}`).toBe(want.idx.length);
              expect([...idx.subarray(0, n)]).toEqual(want.idx);
              expect([...sc.subarray(0, n)]).toEqual(want.sc);
            }
          }
        }
      }
    }
  });

  it('scales each row by its own factor: a wrong factor changes the scores', () => {
    const dim = 9;
    const m = Float32Array.from({ length: 4 * dim }, (_, k) => (k % 7) - 3);
    const list = Uint32Array.of(2, 0, 3);
    const q = Float32Array.from({ length: dim }, (_, i) => i - 4);
    const inv = Float64Array.of(0.5, 1, 0.25, 3);
    const idx = new Uint32Array(3);
    const sc = new Float64Array(3);
    expect(scoreGatheredAbove('cosine', q, m, dim, list, 0, 3, inv, -Infinity, idx, sc)).toBe(3);
    const want = [...list].map((row) => Math.fround(naiveDot(q, 0, Float32Array.from({ length: dim }, (_, i) => m[row * dim + i]! * inv[row]!), 0, dim)));
    want.forEach((w, j) => close(sc[j]!, w));
    const swapped = Float64Array.of(0.5, 1, 3, 0.25);
    scoreGatheredAbove('cosine', q, m, dim, list, 0, 3, swapped, -Infinity, idx, sc);
    expect(sc[0]).not.toBe(Math.fround(want[0]!));
  });

  it('leaves l2, cosine without factors and the JS backend to the caller (-1)', () => {
    const m = new Float32Array(8);
    const args = [Float32Array.of(1, 0), m, 2, Uint32Array.of(0, 1), 0, 2] as const;
    const out = [-Infinity, new Uint32Array(2), new Float64Array(2)] as const;
    expect(scoreGatheredAbove('l2', ...args, null, ...out)).toBe(-1);
    expect(scoreGatheredAbove('cosine', ...args, null, ...out)).toBe(-1);
    useKernelBackend('js');
    try {
      expect(scoreGatheredAbove('dot', ...args, null, ...out)).toBe(-1);
    } finally {
      useKernelBackend('wasm');
    }
    expect(scoreGatheredAbove('dot', ...args, null, ...out)).toBe(2);
  });
});

describe('embedded WebAssembly module', () => {
  it('is exactly what the assembler in this file produces', () => {
    const want = assembleKernels();
    if (process.env.PRINT_WASM) console.log('WASM=' + Buffer.from(want).toString('base64'));
    expect(Buffer.from(kernelWasmBytes()).toString('base64')).toBe(Buffer.from(want).toString('base64'));
  });
});

describe('pinned rows', () => {
  const wasm = kernelBackend() === 'wasm'; // pinning needs the WebAssembly kernels; JS-only runtimes have none

  const sameAsCopied = (p: PinnedRows, m: Float32Array, dim: number, q: Float32Array): void => {
    for (const metric of ['dot', 'l2', 'cosine'] as const) {
      const n = p.count;
      const idxA = new Uint32Array(n);
      const scA = new Float64Array(n);
      const idxB = new Uint32Array(n);
      const scB = new Float64Array(n);
      const floor = metric === 'l2' ? -Math.sqrt(dim) * 4 : 0;
      const a = scoreRowsAbove(metric, q, m, 0, n, dim, floor, idxA, scA);
      const chunks = pinningStats().inPlaceChunks;
      const b = scoreRowsAbove(metric, q, m, 0, n, dim, floor, idxB, scB, p);
      expect(pinningStats().inPlaceChunks).toBeGreaterThan(chunks); // really scored in place
      expect(b).toBe(a);
      expect(Array.from(idxB.subarray(0, b))).toEqual(Array.from(idxA.subarray(0, a)));
      expect(Array.from(scB.subarray(0, b))).toEqual(Array.from(scA.subarray(0, a)));
    }
  };

  it.skipIf(!wasm)('score exactly like the same rows passed in, through pin/unpin churn that reuses freed space', () => {
    const r = rng(77);
    const before = pinnedBytes();
    const topBefore = pinningStats().top;
    const live: { p: PinnedRows; m: Float32Array; dim: number }[] = [];
    for (let step = 0; step < 200; step++) {
      if (live.length > 0 && r() < 0.45) {
        const [gone] = live.splice(Math.floor(r() * live.length), 1);
        unpinRows(gone!.p);
        continue;
      }
      const dim = DIMS[Math.floor(r() * DIMS.length)]!;
      const count = 1 + Math.floor(r() * 300);
      const m = randomVec(r, count * dim, 5);
      const p = pinRows(m, 0, count, dim);
      expect(p).not.toBeNull();
      expect(p!.at % 16).toBe(0);
      expect(p!.at).toBeGreaterThanOrEqual(pinningStats().base);
      live.push({ p: p!, m, dim });
    }
    // no two live blocks overlap
    const sorted = [...live].sort((a, b) => a.p.at - b.p.at);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.p.at).toBeGreaterThanOrEqual(sorted[i - 1]!.p.at + sorted[i - 1]!.p.bytes);
    for (const { p, m, dim } of live) sameAsCopied(p, m, dim, randomVec(r, dim, 5));
    for (const { p } of live) unpinRows(p);
    expect(pinnedBytes()).toBe(before);
    expect(pinningStats().top).toBe(topBefore); // freed space merged back into the end of the area
  });

  it.skipIf(!wasm)('score blocks larger than one kernel chunk (wide vectors) in place, chunk by chunk', () => {
    const r = rng(78);
    for (const [dim, count] of [
      [1024, 300],
      [4096, 70],
    ] as const) {
      const m = randomVec(r, count * dim, 1);
      const p = pinRows(m, 0, count, dim)!;
      const chunks = pinningStats().inPlaceChunks;
      sameAsCopied(p, m, dim, randomVec(r, dim, 1));
      // 256 KiB chunks: 64 rows of 1024 floats, 16 of 4096; three metrics scored
      expect(pinningStats().inPlaceChunks - chunks).toBe(3 * Math.ceil(count / Math.floor((256 * 1024) / (4 * dim))));
      unpinRows(p);
    }
  });
});
