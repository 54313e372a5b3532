import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopK } from '../../../src/index/vector/topk.js';

/** Reference: sort everything by (float32 score desc, ord asc), keep k. */
function reference(entries: Array<[number, number]>, k: number): Array<[number, number]> {
  return entries
    .map(([s, o]): [number, number] => [Number.isNaN(s) ? -Infinity : Math.fround(s), o])
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : b[0] - a[0]))
    .slice(0, Math.max(0, k));
}

describe('TopK', () => {
  it('keeps the k best, best first, ties broken by the smaller ord', () => {
    const h = new TopK(3);
    for (const [s, o] of [
      [1, 9],
      [2, 8],
      [2, 3],
      [2, 5],
      [0.5, 1],
    ] as const) {
      h.push(s, o);
    }
    const r = h.result();
    expect(Array.from(r.ords)).toEqual([3, 5, 8]);
    expect(Array.from(r.scores)).toEqual([2, 2, 2]);
  });

  it('is independent of the order entries are offered in (ties included)', () => {
    const entries: Array<[number, number]> = [];
    for (let o = 0; o < 50; o++) entries.push([o % 7, o]);
    const forward = new TopK(10);
    const backward = new TopK(10);
    for (const [s, o] of entries) forward.push(s, o);
    for (const [s, o] of [...entries].reverse()) backward.push(s, o);
    expect(Array.from(forward.result().ords)).toEqual(Array.from(backward.result().ords));
    expect(Array.from(forward.result().ords)).toEqual([6, 13, 20, 27, 34, 41, 48, 5, 12, 19]);
  });

  it('matches sorting on random input (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ noNaN: false })), fc.nat()), { maxLength: 200 }),
        fc.integer({ min: 0, max: 30 }),
        (raw, k) => {
          // distinct ords, as the index guarantees
          const seen = new Set<number>();
          const entries = raw.filter(([, o]) => !seen.has(o) && (seen.add(o), true));
          const h = new TopK(k);
          for (const [s, o] of entries) h.push(s, o);
          const r = h.result();
          const want = reference(entries, k);
          expect(Array.from(r.ords)).toEqual(want.map((e) => e[1]));
          expect(Array.from(r.scores)).toEqual(want.map((e) => e[0]));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('floor and accepts report what can still enter', () => {
    const h = new TopK(2);
    expect(h.floor).toBe(-Infinity);
    expect(h.accepts(-1e30, 5)).toBe(true);
    h.push(3, 10);
    h.push(5, 11);
    expect(h.full).toBe(true);
    expect(h.floor).toBe(3);
    expect(h.accepts(3, 9)).toBe(true); // same score, smaller ord wins
    expect(h.accepts(3, 10)).toBe(false);
    expect(h.accepts(2.9, 0)).toBe(false);
    expect(h.accepts(4, 99)).toBe(true);
  });

  it('treats NaN as -Infinity and rounds scores to float32', () => {
    const h = new TopK(3);
    h.push(Number.NaN, 1);
    h.push(0.1, 2);
    h.push(-Infinity, 0);
    const r = h.result();
    expect(Array.from(r.ords)).toEqual([2, 0, 1]);
    expect(r.scores[0]).toBe(Math.fround(0.1));
  });

  it('k = 0 keeps nothing', () => {
    const h = new TopK(0);
    h.push(1, 1);
    expect(h.size).toBe(0);
    expect(h.accepts(1, 1)).toBe(false);
    expect(h.result().ords.length).toBe(0);
  });
});
