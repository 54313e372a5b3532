/**
 * The vector locator answers offsetOf(ord) exactly as a naive scan would (present vectors of a row group lie
 * back to back from the group's offset), and refuses damaged or mismatched bytes with CORRUPT_SEGMENT.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import { encodeVectorLocator, VectorLocator } from '../../../src/storage/vector-locator.js';

const layout = fc.record({
  present: fc.array(fc.boolean(), { maxLength: 1500 }),
  dim: fc.integer({ min: 1, max: 1024 }),
  rowsPerGroup: fc.integer({ min: 1, max: 600 }),
  base: fc.integer({ min: 0, max: 2 ** 40 }),
});

/** Row groups at made-up but increasing offsets, as a file of any size could have them (beyond 2^32 too). */
function groupsOf(present: boolean[], dim: number, R: number, base: number) {
  const groups = [];
  let at = base;
  for (let first = 0; first < present.length; first += R) {
    groups.push({ firstOrdinal: first, offset: at });
    const k = present.slice(first, first + R).filter(Boolean).length;
    at += k * dim * 4 + 1000;
  }
  return groups;
}

describe('vector locator', () => {
  it('offsetOf equals the naive offset of every ordinal, -1 for ordinals without a vector or out of range', () => {
    fc.assert(
      fc.property(layout, ({ present, dim, rowsPerGroup, base }) => {
        const groups = groupsOf(present, dim, rowsPerGroup, base);
        const loc = VectorLocator.open(encodeVectorLocator(present.length, dim, rowsPerGroup, groups, (o) => present[o]!), present.length, dim);
        for (let ord = 0; ord < present.length; ord++) {
          const g = Math.floor(ord / rowsPerGroup);
          const before = present.slice(g * rowsPerGroup, ord).filter(Boolean).length;
          expect(loc.offsetOf(ord)).toBe(present[ord] ? groups[g]!.offset + before * dim * 4 : -1);
        }
        for (const bad of [-1, present.length, 0.5, Number.NaN]) expect(loc.offsetOf(bad)).toBe(-1);
      }),
      { numRuns: 200 },
    );
  });

  it('is small: 16 bytes per row group and about 1.13 bits per document', () => {
    const n = 100_000;
    const R = 16_384;
    const bytes = encodeVectorLocator(n, 128, R, groupsOf(new Array(n).fill(true), 128, R, 4), () => true);
    expect(bytes.length).toBe(4 * (5 + 4 * Math.ceil(n / R) + Math.ceil(n / 32) + Math.ceil(Math.ceil(n / 32) / 8)));
    expect(bytes.length).toBeLessThan(n / 6);
  });

  it('refuses a locator made for another segment, truncated or with a bad magic number (CORRUPT_SEGMENT)', () => {
    const present = Array.from({ length: 100 }, (_, i) => i % 3 !== 0);
    const bytes = encodeVectorLocator(100, 8, 16, groupsOf(present, 8, 16, 4), (o) => present[o]!);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as ElacsymError).code;
      }
      return 'none';
    };
    expect(code(() => VectorLocator.open(bytes, 100, 8))).toBe('none');
    expect(code(() => VectorLocator.open(bytes, 101, 8))).toBe('CORRUPT_SEGMENT');
    expect(code(() => VectorLocator.open(bytes, 100, 4))).toBe('CORRUPT_SEGMENT');
    expect(code(() => VectorLocator.open(bytes.subarray(0, bytes.length - 4), 100, 8))).toBe('CORRUPT_SEGMENT');
    expect(code(() => VectorLocator.open(bytes.subarray(0, 7), 100, 8))).toBe('CORRUPT_SEGMENT');
    const flipped = bytes.slice();
    flipped[0]! ^= 1;
    expect(code(() => VectorLocator.open(flipped, 100, 8))).toBe('CORRUPT_SEGMENT');
    // An unaligned copy opens the same.
    const unaligned = new Uint8Array(bytes.length + 1).subarray(1);
    unaligned.set(bytes);
    expect(VectorLocator.open(unaligned, 100, 8).offsetOf(5)).toBe(VectorLocator.open(bytes, 100, 8).offsetOf(5));
  });
});
