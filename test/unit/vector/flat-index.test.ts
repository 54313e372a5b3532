/**
 * Flat vector indexes (IVF file version 3): a segment of fewer than FLAT_BELOW vectors stores the 64-byte
 * header alone and is scanned exactly. What must hold: the header round-trips through `openVectorIndex`;
 * `IvfReader.open` refuses it (an IVF reader never treats it as clusters); every damaged or forged header
 * is CORRUPT_SEGMENT (magic, checksum, length, metric, dimension, reserved bytes); versions 1 and 2 still
 * open as `IvfReader`s.
 */
import { describe, expect, it } from 'vitest';
import { buildFlatIndex, buildIvf, FLAT_BELOW, IvfReader, openVectorIndex } from '../../../src/index/vector/ivf.js';
import type { Metric } from '../../../src/model/types.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { mulberry32 } from '../../../src/util/prng.js';
import { errorCodeOf } from '../../helpers/errors.js';
import { withIvfHeaderField } from '../../helpers/ivf.js';

const codeOf = errorCodeOf;
/** `bytes` with u32 `value` at `at` and the header CRC recomputed (a forged, self-consistent header). */
const forged = withIvfHeaderField;

describe('flat vector index (IVF version 3)', () => {
  it('round-trips dim, metric and row count', () => {
    for (const metric of ['cosine', 'l2', 'dot'] as Metric[]) {
      for (const [n, dim] of [[0, 1], [1, 3], [FLAT_BELOW - 1, 384], [5, 65536]] as const) {
        const bytes = buildFlatIndex(n, dim, metric);
        expect(bytes.length).toBe(64);
        const v = openVectorIndex(new MemorySource(bytes));
        expect(v).toMatchObject({ flat: true, dim, metric, size: n });
      }
    }
  });

  it('is refused by IvfReader.open, and versions 1 and 2 still open as IVF readers', () => {
    expect(codeOf(() => IvfReader.open(new MemorySource(buildFlatIndex(10, 4, 'l2'))))).toBe('CORRUPT_SEGMENT');
    const r = mulberry32(3);
    const n = 50;
    const dim = 4;
    const vectors = Float32Array.from({ length: n * dim }, () => r() - 0.5);
    const ords = Uint32Array.from({ length: n }, (_, i) => i);
    for (const version of [1, 2] as const) {
      const v = openVectorIndex(new MemorySource(buildIvf(vectors, ords, dim, 'dot', { version })), { vectorOf: (o) => vectors.slice(o * dim, (o + 1) * dim) });
      expect(v).toBeInstanceOf(IvfReader);
      expect('flat' in v).toBe(false);
      expect((v as IvfReader).version).toBe(version);
    }
  });

  it('fails every damaged or forged header with CORRUPT_SEGMENT', () => {
    const good = buildFlatIndex(7, 16, 'cosine');
    const open = (b: Uint8Array) => codeOf(() => openVectorIndex(new MemorySource(b)));
    expect(open(good)).toBe('no error');
    // Every single flipped bit of the header is caught (its CRC, or the CRC field itself).
    const r = mulberry32(11);
    for (let i = 0; i < 64; i++) {
      const b = good.slice();
      b[i] = b[i]! ^ (1 << Math.floor(r() * 8));
      expect(open(b), `byte ${i}`).toBe('CORRUPT_SEGMENT');
    }
    // Self-consistent forgeries: each field out of range, and bytes after the header.
    expect(open(forged(good, 8, 3))).toBe('CORRUPT_SEGMENT'); // metric
    expect(open(forged(good, 12, 0))).toBe('CORRUPT_SEGMENT'); // dimension
    expect(open(forged(good, 12, 65537))).toBe('CORRUPT_SEGMENT');
    for (let at = 20; at < 60; at += 4) expect(open(forged(good, at, 1)), `reserved u32 at ${at}`).toBe('CORRUPT_SEGMENT');
    const longer = new Uint8Array(68);
    longer.set(good);
    expect(open(longer)).toBe('CORRUPT_SEGMENT');
    expect(open(good.subarray(0, 60))).toBe('CORRUPT_SEGMENT');
  });
});
