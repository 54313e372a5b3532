/**
 * Issue 9 §6: equal scores are ordered by the caller's tie-break (the store passes document id order),
 * in every vector path: the top-k collector, the exact scans and the IVF search (plain, filtered, by
 * ordinals). The k-th place must keep the smallest keys among ties, whatever order rows are visited in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIvf, exactTopK, exactTopKRows, IvfReader } from '../../../src/index/vector/ivf.js';
import { TopK } from '../../../src/index/vector/topk.js';
import { MemorySource } from '../../../src/util/bytes.js';

describe('tie-break by the caller order', () => {
  it('TopK keeps, at the k-th place, the entries the tie-break ranks first, whatever the offer order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        (scores, k, seed) => {
          // key[ord]: a permutation, so ordinal order and key order disagree
          const n = scores.length;
          const key = Array.from({ length: n }, (_, i) => (i * 7919 + seed) % 104729);
          const tie = (a: number, b: number) => key[a]! - key[b]! || a - b;
          const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 31 + seed) % 97) - ((b * 31 + seed) % 97));
          const h = new TopK(k, tie);
          for (const o of order) if (h.accepts(scores[o]!, o)) h.push(scores[o]!, o);
          const want = Array.from({ length: n }, (_, i) => i)
            .sort((a, b) => scores[b]! - scores[a]! || tie(a, b))
            .slice(0, k);
          expect(Array.from(h.result().ords)).toEqual(want);
        },
      ),
    );
  });

  // Eight identical vectors written in ordinal order 0..7, whose ids rank in the reverse order.
  const DIM = 4;
  const N = 8;
  const vecs = new Float32Array(N * DIM);
  for (let i = 0; i < N; i++) vecs.set([1, 0, 0, 0], i * DIM);
  const ords = Uint32Array.from({ length: N }, (_, i) => i);
  const tie = (a: number, b: number) => b - a; // "id" order = descending ordinal
  const q = new Float32Array([1, 0, 0, 0]);

  it.each(['cosine', 'l2', 'dot'] as const)('every IVF and exact path keeps the ties the tie-break ranks first (%s)', (metric) => {
    const rd = IvfReader.open(new MemorySource(buildIvf(vecs, ords, DIM, metric, { seed: 1 })), { vectorOf: (o) => vecs.subarray(o * DIM, (o + 1) * DIM) });
    const top = (h: { ords: Uint32Array }) => Array.from(h.ords);
    expect(top(rd.search(q, 3, { tie }))).toEqual([7, 6, 5]);
    expect(top(rd.search(q, 3, { tie, allow: (o) => o !== 6, selectivity: 0.9 }))).toEqual([7, 5, 4]);
    expect(top(rd.exact(q, 3, undefined, tie))).toEqual([7, 6, 5]);
    expect(top(rd.exactOrds(q, 2, [0, 1, 2, 3], tie))).toEqual([3, 2]);
    expect(Array.from(exactTopK(vecs, DIM, metric, q, 3, undefined, tie).rows)).toEqual([7, 6, 5]);
    expect(Array.from(exactTopK(vecs, DIM, metric, q, 3, (r) => r < 5, tie).rows)).toEqual([4, 3, 2]);
    expect(Array.from(exactTopKRows(vecs, DIM, metric, q, 2, Uint32Array.from([1, 2, 6]), tie).rows)).toEqual([6, 2]);
  });
});
