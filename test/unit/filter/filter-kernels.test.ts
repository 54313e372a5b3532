/**
 * The filter kernels (distance.ts maskCodes, countNonZeroBytes) behind typed columns: a comparison on an
 * integer column becomes a range of codes, a string condition a lookup table, and the answer must be the
 * row-by-row answer (compileFilter) for codes of every width, values between and beyond the codes, and
 * columns longer than one chunk of the kernels' scratch; with the kernels and with the JavaScript loops.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeColumn, TypedColumn } from '../../../src/index/filter/columns.js';
import { compileFilter, countMatches, evaluateColumns } from '../../../src/index/filter/evaluate.js';
import { countNonZeroBytes, kernelBackend, maskCodes, useKernelBackend } from '../../../src/index/vector/distance.js';
import type { Filter } from '../../../src/model/filter.js';
import type { AttrValue } from '../../../src/model/types.js';
import { mulberry32 } from '../../../src/util/prng.js';

const BACKENDS = ['wasm', 'js'] as const;
afterEach(() => useKernelBackend('wasm'));

/** The mask of `f` over one field `x` holding `values`, through a typed column, and row by row. */
function both(f: Filter, values: (AttrValue | undefined)[]): { typed: number[]; rows: number[]; count: number } {
  const col = new TypedColumn(encodeColumn(values)!, 'x');
  const typed = evaluateColumns(f, () => col, values.length);
  const row = compileFilter(f);
  return { typed: Array.from(typed), rows: values.map((v) => (row(v === undefined ? {} : { x: v }) ? 1 : 0)), count: countMatches(typed) };
}

describe('filter kernels', () => {
  it('run here (the WebAssembly backend is the one a query uses)', () => {
    expect(kernelBackend()).toBe('wasm');
    const out = new Uint8Array(4);
    expect(maskCodes(Uint8Array.of(1, 2, 3, 4), 4, 2, 3, null, out)).toBe(true);
    expect(Array.from(out)).toEqual([0, 1, 1, 0]);
  });

  for (const backend of BACKENDS) {
    it(`compare integer codes of 1, 2 and 4 bytes exactly as row by row (${backend})`, () => {
      useKernelBackend(backend);
      // spans of 200 (1-byte codes), 60,000 (2 bytes) and 2^32 - 1 (4 bytes) from a base that may be negative
      const span = fc.constantFrom(200, 60_000, 2 ** 32 - 1);
      // (base + span stays a safe integer: the column stores safe integers as codes)
      // bases anywhere, and where a small fraction is lost against them (v - base rounds to an integer)
      const anyBase = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.constantFrom(-(2 ** 31), -(2 ** 31) + 1, 2 ** 31, -(2 ** 52), 2 ** 52, -(2 ** 53) + 1));
      const column = fc.tuple(anyBase, span).chain(([base, s]) =>
        fc.array(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: s }).map((c) => base + c) }, { weight: 1, arbitrary: fc.constant(undefined) }), {
          minLength: 1,
          maxLength: 60,
        }).map((xs) => ({ base, s, xs: [base, base + s, ...xs] })),
      );
      fc.assert(
        fc.property(
          column,
          fc.constantFrom('eq', 'gt', 'gte', 'lt', 'lte'),
          fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, -0.5, 0.25), fc.constant(0)),
          fc.oneof(fc.constantFrom(0, 1, 2), fc.double({ min: -0.1, max: 1.1, noNaN: true })),
          fc.constantFrom(1e300, -1e300, 0),
          fc.oneof(fc.constant(null), fc.constantFrom(1e-7, -1e-7, 5e-324, -5e-324, 0.5, -0.5, 0, -0, 1, -1)),
          ({ base, s, xs }, op, delta, at, far, small) => {
            // a value at a code (or between two), just outside the codes, far beyond them, or small
            // whatever the base (with zero among the values)
            const v =
              small !== null ? small : far !== 0 ? far : at <= 2 && Number.isInteger(at) ? base + [0, s, Math.floor(s / 2)][at]! + delta : base + Math.round(at * s) + delta;
            if (small !== null && base <= 0 && base + s >= 0) xs.push(0);
            const f: Filter = { type: 'cond', field: 'x', op, value: v };
            const r = both(f, xs);
            expect(r.typed).toEqual(r.rows);
            expect(r.count).toBe(r.rows.filter((b) => b === 1).length);
          },
        ),
        { numRuns: 1500 },
      );
    });

    it(`look strings up by code, dictionaries of 1 and 2 bytes (${backend})`, () => {
      useKernelBackend(backend);
      const rand = mulberry32(7);
      for (const distinct of [3, 250, 300, 70_000]) {
        const values = Array.from({ length: 2 * distinct + 17 }, (_, i) => (i % 11 === 5 ? undefined : `v${Math.floor(rand() * distinct)}`));
        for (const f of [
          { type: 'cond', field: 'x', op: 'eq', value: 'v1' },
          { type: 'cond', field: 'x', op: 'in', value: ['v0', 'v2', 'v299', 'nope'] },
          { type: 'cond', field: 'x', op: 'prefix', value: 'v1' },
          { type: 'cond', field: 'x', op: 'ne', value: 'v2' },
          { type: 'cond', field: 'x', op: 'exists', value: false },
        ] as Filter[]) {
          const r = both(f, values);
          expect(r.typed).toEqual(r.rows);
          expect(r.count).toBe(r.rows.filter((b) => b === 1).length);
        }
      }
    });

    it(`cover columns longer than one chunk of the kernels' scratch (${backend})`, () => {
      useKernelBackend(backend);
      const n = 700_001; // 1-byte codes: ~2.7 chunks; 4-byte: ~13
      const rand = mulberry32(11);
      for (const span of [99, 2 ** 31]) {
        const values = Array.from({ length: n }, (_, i) => (i % 1000 === 999 ? undefined : Math.floor(rand() * span)));
        const f: Filter = { type: 'cond', field: 'x', op: 'lt', value: span / 7 };
        const r = both(f, values);
        let diff = -1;
        for (let i = 0; i < n && diff < 0; i++) if (r.typed[i] !== r.rows[i]) diff = i;
        expect(diff).toBe(-1);
        expect(r.count).toBe(r.rows.filter((b) => b === 1).length);
      }
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i += 3) bytes[i] = 1 + (i % 255);
      expect(countNonZeroBytes(bytes)).toBe(Math.ceil(n / 3));
    });
  }

  it('refuse what they cannot do, so that the caller loops itself', () => {
    const out = new Uint8Array(4);
    expect(maskCodes(Uint8Array.of(1, 2), 3, 0, 9, null, out)).toBe(false); // len past the codes
    expect(maskCodes(new Uint16Array(4), 4, 0, 1, new Uint8Array(200_000), out)).toBe(false); // table over half the scratch
    useKernelBackend('js');
    expect(maskCodes(Uint8Array.of(1), 1, 0, 9, null, out)).toBe(false);
  });
});
