import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RankedList, rrf } from '../../src/query/fusion.js';

const idArb = fc.oneof(fc.nat({ max: 30 }), fc.constantFrom('a', 'b', 'c', 'x1', 'x2'));
const listArb = fc.record({ name: fc.constantFrom('vector', 'text', 'other'), weight: fc.double({ min: 0, max: 3, noNaN: true }), ids: fc.array(idArb, { maxLength: 25 }) });

describe('RRF', () => {
  it('ignores input order, dedupes ids, and equals the textbook formula', () => {
    fc.assert(
      fc.property(fc.uniqueArray(listArb, { selector: (l) => l.name, maxLength: 3 }), fc.integer({ min: 0, max: 100 }), (lists, k) => {
        const a = rrf(lists, k);
        const b = rrf([...lists].reverse(), k);
        expect(b).toEqual(a);
        // without terms (no explain): the same ids, scores (bit for bit) and order, and no terms
        const bare = rrf(lists, k, false);
        expect(bare.map((h) => [h.id, h.score])).toEqual(a.map((h) => [h.id, h.score]));
        for (const h of bare) expect(Object.keys(h.terms)).toEqual([]);
        const keys = a.map((h) => `${typeof h.id}:${h.id}`);
        expect(new Set(keys).size).toBe(keys.length);
        // oracle: sum of weight / (k + first rank) per list
        const oracle = new Map<string, number>();
        for (const l of lists as RankedList[]) {
          const seen = new Set<string>();
          let rank = 0;
          for (const id of l.ids) {
            const key = `${typeof id}:${id}`;
            if (seen.has(key)) continue;
            seen.add(key);
            rank++;
            oracle.set(key, (oracle.get(key) ?? 0) + l.weight / (k + rank));
          }
        }
        expect(a.length).toBe(oracle.size);
        for (const h of a) expect(h.score).toBeCloseTo(oracle.get(`${typeof h.id}:${h.id}`)!, 12);
        // sorted by score desc, ties by id (numbers before strings)
        for (let i = 1; i < a.length; i++) expect(a[i - 1]!.score).toBeGreaterThanOrEqual(a[i]!.score);
      }),
      { numRuns: 500 },
    );
  });

  it('uses k = 60 as stated: rank 1 in one list scores 1/61', () => {
    const [top] = rrf([{ name: 'vector', weight: 1, ids: [7] }], 60);
    expect(top!.score).toBe(1 / 61);
  });
});
