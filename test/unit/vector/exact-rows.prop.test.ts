/**
 * exactTopKRows (the exact scan of a segment held in memory, for filters matching few documents) gives the
 * scores of exactTopK over the same rows copied out, bit for bit, for every metric: also on the second and
 * later queries over the same matrix, when cosine normalizes with the inverse norms it cached (zero
 * vectors included).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactTopK, exactTopKRows } from '../../../src/index/vector/ivf.js';

describe('exactTopKRows (property)', () => {
  it('equals exactTopK over the listed rows copied out, on every query over the same matrix', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom('cosine' as const, 'l2' as const, 'dot' as const),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        (dim, n, metric, k, seed) => {
          let s = seed | 0;
          const rnd = () => {
            s = (Math.imul(s, 1103515245) + 12345) | 0;
            return ((s >>> 8) % 2001) / 1000 - 1;
          };
          const vecs = Float32Array.from({ length: n * dim }, rnd);
          for (let d = 0; d < dim; d++) vecs[d] = 0; // row 0 is a zero vector
          for (let round = 0; round < 3; round++) {
            const q = Float32Array.from({ length: dim }, rnd);
            const rows = Uint32Array.from(Array.from({ length: n }, (_, r) => r).filter(() => rnd() > -0.4));
            const copy = new Float32Array(rows.length * dim);
            rows.forEach((r, j) => copy.set(vecs.subarray(r * dim, (r + 1) * dim), j * dim));
            const want = exactTopK(copy, dim, metric, q, k);
            const got = exactTopKRows(vecs, dim, metric, q, k, rows);
            expect(Array.from(got.rows)).toEqual(Array.from(want.rows, (j) => rows[j]!));
            expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
