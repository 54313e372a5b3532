/**
 * The streaming IVF build (IvfStreamBuilder, the one segments use): trained on a reservoir sample, then fed
 * its rows in chunks. Its file must not depend on how the rows are chunked, must find the exact top 10 as
 * buildIvf's does on rows far more numerous than the sample, must keep zero vectors (cosine) from crowding
 * out candidates, and must refuse rows it was not promised.
 */
import { describe, expect, it } from 'vitest';
import { buildIvf, ivfSampleSize, IvfReader, IvfStreamBuilder, VectorReservoir } from '../../../src/index/vector/ivf.js';
import type { Metric } from '../../../src/model/types.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { gaussian as gauss, mulberry32 as rng } from '../../../src/util/prng.js';
import { errorCodeOf } from '../../helpers/errors.js';
import { streamBuild } from '../../helpers/ivf-stream.js';

function clustered(n: number, dim: number, clusters: number, seed: number): Float32Array {
  const r = rng(seed);
  const centers = Float32Array.from({ length: clusters * dim }, () => gauss(r) * 1.5);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * clusters);
    for (let j = 0; j < dim; j++) out[i * dim + j] = centers[c * dim + j]! + gauss(r);
  }
  return out;
}

function recall(file: Uint8Array, all: Float32Array, n: number, dim: number, queries: number, allow?: (o: number) => boolean): number {
  const rd = IvfReader.open(new MemorySource(file), { vectorOf: (o) => all.subarray(o * dim, (o + 1) * dim) });
  let hit = 0;
  let total = 0;
  for (let i = 0; i < queries; i++) {
    const q = all.subarray((n + i) * dim, (n + i + 1) * dim);
    const want = new Set(rd.exact(q, 10, allow).ords);
    for (const o of rd.search(q, 10, { allow }).ords) if (want.has(o)) hit++;
    total += want.size;
  }
  return hit / total;
}

describe('IvfStreamBuilder', () => {
  const n = 30_000;
  const dim = 32;
  const queries = 40;
  const all = clustered(n + queries, dim, 80, 7);
  const vectors = all.subarray(0, n * dim);
  const ords = Uint32Array.from({ length: n }, (_, i) => i);

  it('trains on a sample smaller than the rows (reservoir), and gives the same bytes however the rows are chunked', () => {
    expect(ivfSampleSize(n)).toBe(10_000);
    const a = streamBuild(vectors, ords, dim, 'l2', 3, 1);
    const b = streamBuild(vectors, ords, dim, 'l2', 3, 2);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    // Another seed: another sample, another file.
    expect(Buffer.from(streamBuild(vectors, ords, dim, 'l2', 4)).equals(Buffer.from(a))).toBe(false);
  });

  for (const metric of ['cosine', 'l2', 'dot'] as Metric[]) {
    it(`finds the exact top 10 as buildIvf does (${metric}), unfiltered and at 10% and 1%`, () => {
      const whole = buildIvf(vectors, ords, dim, metric, { seed: 5 });
      const stream = streamBuild(vectors, ords, dim, metric, 5);
      for (const allow of [undefined, (o: number) => o % 10 === 3, (o: number) => o % 100 === 41]) {
        const s = recall(stream, all, n, dim, queries, allow);
        expect(s).toBeGreaterThanOrEqual(0.95);
        expect(s).toBeGreaterThanOrEqual(recall(whole, all, n, dim, queries, allow) - 0.02);
      }
    });
  }

  it('cosine with 1% zero vectors: none is returned while rows of positive similarity remain', () => {
    const z = Float32Array.from(vectors);
    for (let i = 0; i < n; i += 100) z.fill(0, i * dim, (i + 1) * dim);
    const rd = IvfReader.open(new MemorySource(streamBuild(z, ords, dim, 'cosine', 9)), { vectorOf: (o) => z.subarray(o * dim, (o + 1) * dim) });
    for (let i = 0; i < 10; i++) {
      const q = all.subarray((n + i) * dim, (n + i + 1) * dim);
      const got = rd.search(q, 10);
      expect(got.ords.some((o) => o % 100 === 0)).toBe(false);
      expect(new Set(got.ords)).toEqual(new Set(rd.exact(q, 10).ords));
    }
  });

  it('refuses rows out of order, more or fewer rows than announced, and values that are not finite (INTERNAL)', () => {
    const small = 2000;
    const reservoir = new VectorReservoir(dim, small, 1);
    for (let i = 0; i < small; i++) reservoir.add(i, vectors, i * dim);
    const { sample, sampleOrds } = reservoir.finish();
    const fresh = () => new IvfStreamBuilder(dim, 'l2', 1, small, sample, sampleOrds);
    const rows = (from: number, to: number) => [ords.slice(from, to), vectors.slice(from * dim, to * dim)] as const;
    expect(errorCodeOf(() => fresh().finish())).toBe('INTERNAL');
    const b = fresh();
    b.add(...rows(0, 10));
    expect(errorCodeOf(() => b.add(...rows(5, 6)))).toBe('INTERNAL');
    const c = fresh();
    c.add(...rows(0, small));
    expect(errorCodeOf(() => c.add(Uint32Array.of(small + 1), vectors.slice(0, dim)))).toBe('INTERNAL');
    expect(c.finish().length).toBeGreaterThan(0);
    const bad = vectors.slice(0, dim);
    bad[3] = NaN;
    expect(errorCodeOf(() => fresh().add(Uint32Array.of(0), bad))).toBe('INTERNAL');
    // A build of fewer rows than a flat index is for: not a streaming build.
    expect(errorCodeOf(() => new IvfStreamBuilder(dim, 'l2', 1, 999, sample.slice(0, 999 * dim), sampleOrds.slice(0, 999)))).toBe('INTERNAL');
  });

  it('the reservoir keeps at most its size, the same rows for the same stream, a spread of them', () => {
    const a = new VectorReservoir(2, 100_000, 11);
    const b = new VectorReservoir(2, 100_000, 11);
    const row = new Float32Array(2);
    for (let i = 0; i < 100_000; i++) {
      row[0] = i;
      a.add(i, row);
      b.add(i, row);
    }
    const sa = a.finish();
    expect(sa.sampleOrds.length).toBe(ivfSampleSize(100_000));
    expect(Array.from(sa.sampleOrds)).toEqual(Array.from(b.finish().sampleOrds));
    // Each row holds its own ordinal's vector; the sample covers the stream (each tenth about equally).
    sa.sampleOrds.forEach((o, j) => expect(sa.sample[2 * j]).toBe(o));
    const tenths = new Array<number>(10).fill(0);
    for (const o of sa.sampleOrds) tenths[Math.floor(o / 10_000)]!++;
    for (const t of tenths) expect(t).toBeGreaterThan(sa.sampleOrds.length / 10 * 0.8);
  });
});
