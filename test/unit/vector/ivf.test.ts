import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelBackend, normalizeInto, pinnedBytes, pinningStats, useKernelBackend } from '../../../src/index/vector/distance.js';
import { type BuildIvfOptions, buildIvf as buildAnyIvf, defaultNlist, exactTopK, IvfReader } from '../../../src/index/vector/ivf.js';
import type { Metric } from '../../../src/model/types.js';
import { crc32 } from '../../../src/util/crc32.js';
import { FileSource, MemorySource, type ByteSource } from '../../../src/util/bytes.js';
import { gaussian as gauss, mulberry32 as rng } from '../../../src/util/prng.js';
import { errorCodeOf } from '../../helpers/errors.js';
import { withIvfHeaderField } from '../../helpers/ivf.js';

const METRICS: Metric[] = ['cosine', 'l2', 'dot'];

// This file pins down version 1 files (float32 clusters), which must keep reading exactly as before;
// version 2 (quantized codes, the default) is covered by ivf-quantized.test.ts.
const buildIvf = (vectors: Float32Array, ords: Uint32Array, dim: number, metric: Metric, opts: BuildIvfOptions = {}): Uint8Array =>
  buildAnyIvf(vectors, ords, dim, metric, { version: 1, ...opts });

/** n rows around `clusters` Gaussian centers (unit variance per dimension). */
function clustered(n: number, dim: number, clusters: number, seed: number): Float32Array {
  const r = rng(seed);
  const centers = Float32Array.from({ length: clusters * dim }, () => gauss(r) * 2);
  const v = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * clusters);
    for (let j = 0; j < dim; j++) v[i * dim + j] = centers[c * dim + j]! + gauss(r);
  }
  return v;
}

/** Brute force, independent of the module: float64 math, original (for cosine: raw) vectors. */
function naive(vectors: Float32Array, ords: Uint32Array, dim: number, metric: Metric, q: Float32Array, k: number, allow?: (ord: number) => boolean): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += q[j]! * q[j]!;
  for (let i = 0; i < ords.length; i++) {
    const ord = ords[i]!;
    if (allow && !allow(ord)) continue;
    let s = 0;
    let xn = 0;
    for (let j = 0; j < dim; j++) {
      const x = vectors[i * dim + j]!;
      s += metric === 'l2' ? (q[j]! - x) ** 2 : q[j]! * x;
      xn += x * x;
    }
    if (metric === 'l2') s = -Math.sqrt(s);
    if (metric === 'cosine') s = qn > 0 && xn > 0 ? s / Math.sqrt(qn * xn) : 0;
    out.push([s, ord]);
  }
  out.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return out.slice(0, k);
}

function expectMatchesNaive(got: { ords: Uint32Array; scores: Float32Array }, want: Array<[number, number]>): void {
  expect(Array.from(got.ords)).toEqual(want.map((w) => w[1]));
  want.forEach(([s], i) => expect(Math.abs(got.scores[i]! - s)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(s))));
}

const corruptCode = errorCodeOf;

/** A ByteSource that counts what is read through it. */
class CountingSource implements ByteSource {
  bytes = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get length(): number {
    return this.inner.length;
  }
  read(offset: number, length: number): Uint8Array {
    this.bytes += length;
    this.reads++;
    return this.inner.read(offset, length);
  }
  slice(offset: number, length: number): ByteSource {
    return this.inner.slice(offset, length);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'elacsym-ivf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 3000 rows of 24 dims in 20 clusters, with sparse, shuffled ordinals
const N = 3000;
const DIM = 24;
const VECS = clustered(N, DIM, 20, 11);
const ORDS = Uint32Array.from({ length: N }, (_, i) => ((i * 7919) % N) * 3 + 1);
const QUERIES = clustered(12, DIM, 20, 11 + 1000);
const qAt = (i: number): Float32Array => QUERIES.subarray(i * DIM, (i + 1) * DIM);

describe.each(METRICS)('IVF %s', (metric) => {
  const bytes = buildIvf(VECS, ORDS, DIM, metric, { seed: 3 });
  const path = join(tmp, `seg-${metric}.ivf`);
  writeFileSync(path, bytes);

  for (const kind of ['memory', 'file'] as const) {
    it(`exact() equals a naive brute force over a ${kind} source, with and without a filter`, () => {
      const src = kind === 'memory' ? new MemorySource(bytes) : FileSource.open(path);
      try {
        const rd = IvfReader.open(src);
        expect(rd.metric).toBe(metric);
        expect(rd.dim).toBe(DIM);
        expect(rd.size).toBe(N);
        expect(rd.nlist).toBeGreaterThan(1);
        expect(rd.nlist).toBeLessThanOrEqual(defaultNlist(N));
        const allow = (o: number): boolean => o % 5 === 0;
        for (let i = 0; i < 6; i++) {
          expectMatchesNaive(rd.exact(qAt(i), 10), naive(VECS, ORDS, DIM, metric, qAt(i), 10));
          expectMatchesNaive(rd.exact(qAt(i), 7, allow), naive(VECS, ORDS, DIM, metric, qAt(i), 7, allow));
          // probing every cluster is exact too
          expect(Array.from(rd.search(qAt(i), 10, { nprobe: rd.nlist }).ords)).toEqual(Array.from(rd.exact(qAt(i), 10).ords));
        }
      } finally {
        if (src instanceof FileSource) src.close();
      }
    });
  }

  it.skipIf(kernelBackend() !== 'wasm')('a resident reader (clusters pinned into the kernels) answers exactly like a plain one, and frees its pins', () => {
    const plain = IvfReader.open(new MemorySource(bytes));
    const before = pinnedBytes();
    const res = IvfReader.open(new MemorySource(bytes), { resident: true });
    // every cluster pinned at open: rows x dim floats (each block rounded up to 16 bytes)
    expect(pinnedBytes() - before).toBeGreaterThanOrEqual(N * DIM * 4);
    expect(pinnedBytes() - before).toBeLessThanOrEqual(N * DIM * 4 + 16 * res.nlist);
    const allow = (o: number): boolean => o % 3 === 0;
    const same = (): void => {
      for (let i = 0; i < 12; i++) {
        for (const opts of [{}, { allow }, { allow, selectivity: 1 / 3 }, { nprobe: 2 }]) {
          const a = plain.search(qAt(i), 10, opts);
          const b = res.search(qAt(i), 10, opts);
          expect(Array.from(b.ords)).toEqual(Array.from(a.ords));
          expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
        }
      }
    };
    let chunks = pinningStats().inPlaceChunks;
    same();
    expect(pinningStats().inPlaceChunks).toBeGreaterThan(chunks); // the resident reader scanned in place
    res.release();
    expect(pinnedBytes()).toBe(before);
    chunks = pinningStats().inPlaceChunks;
    same(); // still usable: rows copied per scan again, nothing pinned again
    expect(pinningStats().inPlaceChunks).toBe(chunks);
    expect(pinnedBytes()).toBe(before);
  });

  it.skipIf(kernelBackend() !== 'wasm')('a resident reader with a small cache pins only what the cache holds and unpins what it evicts', () => {
    const before = pinnedBytes();
    const res = IvfReader.open(new MemorySource(bytes), { resident: true, cacheBytes: 20_000 });
    expect(pinnedBytes() - before).toBeLessThanOrEqual(20_000);
    for (let i = 0; i < 12; i++) {
      res.search(qAt(i), 10, { nprobe: res.nlist });
      const st = res.stats();
      // only cached clusters are pinned (evicted ones were unpinned); the cache keeps to its limit, or to
      // the single most recent cluster when that alone is larger
      expect(st.cachedBytes <= 20_000 || st.cachedClusters === 1).toBe(true);
      expect(pinnedBytes() - before).toBeGreaterThan(0);
      // ... plus the centroids, pinned once at the first query
      const centroids = (res.nlist * res.dim * 4 + 15) & ~15;
      expect(pinnedBytes() - before).toBeLessThanOrEqual(st.cachedBytes + 16 * st.cachedClusters + centroids);
    }
    res.release();
    expect(pinnedBytes()).toBe(before);
  });

  it('search() finds the exact top-10 on clustered data, unfiltered and filtered', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    let hit = 0;
    let total = 0;
    for (let i = 0; i < 12; i++) {
      for (const allow of [undefined, (o: number) => o % 10 === 1, (o: number) => o % 2 === 0]) {
        const want = rd.exact(qAt(i), 10, allow);
        const got = rd.search(qAt(i), 10, { allow });
        expect(got.ords.length).toBe(10);
        if (allow) for (const o of got.ords) expect(allow(o)).toBe(true);
        const w = new Set(want.ords);
        for (const o of got.ords) if (w.has(o)) hit++;
        total += 10;
      }
    }
    expect(hit / total).toBeGreaterThanOrEqual(0.95);
  });

  it('with a very selective filter still returns k allowed results when they exist', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const allowed = new Set(Array.from(ORDS).filter((o) => o % 97 === 0)); // ~1%
    const allow = (o: number): boolean => allowed.has(o);
    const got = rd.search(qAt(0), 10, { allow, selectivity: allowed.size / N });
    expect(got.ords.length).toBe(10);
    for (const o of got.ords) expect(allowed.has(o)).toBe(true);
    const few = new Set(Array.from(allowed).slice(0, 4));
    const r = rd.search(qAt(0), 10, { allow: (o) => few.has(o) });
    expect(new Set(r.ords)).toEqual(few);
  });

  it('search() returns min(k, n) results for any k, best first', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const all = rd.search(qAt(2), N + 5);
    expect(all.ords.length).toBe(N);
    expect(new Set(all.ords).size).toBe(N);
    for (let i = 1; i < N; i++) expect(all.scores[i]!).toBeLessThanOrEqual(all.scores[i - 1]!);
    expect(Array.from(all.ords.subarray(0, 50))).toEqual(Array.from(rd.exact(qAt(2), 50).ords));
  });

  it('exactOrds() scores only the given ordinals, exactly', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const some = Array.from(ORDS).filter((o) => o % 11 === 4);
    const set = new Set(some);
    for (let i = 0; i < 4; i++) {
      expectMatchesNaive(rd.exactOrds(qAt(i), 10, some), naive(VECS, ORDS, DIM, metric, qAt(i), 10, (o) => set.has(o)));
    }
    // unknown ordinals and duplicates are ignored; the result equals exact() with the same filter
    const withJunk = [...some, ...some.slice(0, 5), 0, 2, 1e9, -1, 0.5];
    expect(Array.from(rd.exactOrds(qAt(0), 10, withJunk).ords)).toEqual(Array.from(rd.exact(qAt(0), 10, (o) => set.has(o)).ords));
    expect(rd.exactOrds(qAt(0), 10, []).ords.length).toBe(0);
  });

  it('exactOrds() reads single rows without loading whole clusters when few are wanted', () => {
    const counting = new CountingSource(new MemorySource(bytes));
    const rd = IvfReader.open(counting);
    const few = [ORDS[0]!, ORDS[100]!, ORDS[2000]!];
    const before = counting.bytes;
    const r = rd.exactOrds(qAt(1), 10, few);
    expect(new Set(r.ords)).toEqual(new Set(few));
    // the ord index (8 bytes a row) plus three rows
    expect(counting.bytes - before).toBe(8 * N + 3 * 4 * DIM);
    expectMatchesNaive(r, naive(VECS, ORDS, DIM, metric, qAt(1), 10, (o) => few.includes(o)));
  });

  it('vectorOf() returns the stored vector (normalized for cosine), null when absent', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    for (const i of [0, 1, 1234, N - 1]) {
      const want = VECS.slice(i * DIM, (i + 1) * DIM);
      if (metric === 'cosine') normalizeInto(want, 0, want, 0, DIM);
      expect(Array.from(rd.vectorOf(ORDS[i]!)!)).toEqual(Array.from(want));
    }
    expect(rd.vectorOf(0)).toBeNull();
    expect(rd.vectorOf(3 * N + 1)).toBeNull();
    // a copy: mutating it does not change the index
    const v = rd.vectorOf(ORDS[5]!)!;
    v.fill(0);
    expect(rd.vectorOf(ORDS[5]!)!.some((x) => x !== 0)).toBe(true);
  });

  it('forEach() visits every row once with its stored vector', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const seen = new Map<number, Float32Array>();
    rd.forEach((ord, v) => seen.set(ord, v.slice()));
    expect(seen.size).toBe(N);
    expect(Array.from(seen.get(ORDS[42]!)!)).toEqual(Array.from(rd.vectorOf(ORDS[42]!)!));
  });

  it('exactTopK over in-memory rows matches the naive brute force and the segment scores bit for bit', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const allow = (row: number): boolean => row % 3 !== 0;
    for (let i = 0; i < 4; i++) {
      const mem = exactTopK(VECS, DIM, metric, qAt(i), 10);
      const rows = Array.from({ length: N }, (_, r) => r);
      const want = naive(VECS, Uint32Array.from(rows), DIM, metric, qAt(i), 10);
      expectMatchesNaive({ ords: mem.rows, scores: mem.scores }, want);
      const seg = rd.exact(qAt(i), 10);
      expect(Array.from(seg.ords)).toEqual(Array.from(mem.rows, (r) => ORDS[r]!));
      expect(Array.from(seg.scores)).toEqual(Array.from(mem.scores));
      const filtered = exactTopK(VECS, DIM, metric, qAt(i), 5, allow);
      expectMatchesNaive({ ords: filtered.rows, scores: filtered.scores }, naive(VECS, Uint32Array.from(rows), DIM, metric, qAt(i), 5, allow));
    }
  });

  it('the JS kernels give the same results as the WebAssembly ones', () => {
    const rd = IvfReader.open(new MemorySource(bytes));
    const wasm = [0, 1, 2].map((i) => rd.search(qAt(i), 10));
    useKernelBackend('js');
    try {
      const rdJs = IvfReader.open(new MemorySource(bytes));
      [0, 1, 2].forEach((i) => {
        const js = rdJs.search(qAt(i), 10);
        expect(Array.from(js.ords)).toEqual(Array.from(wasm[i]!.ords));
        js.scores.forEach((s, j) => expect(Math.abs(s - wasm[i]!.scores[j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(s))));
      });
      const js = buildIvf(VECS, ORDS, DIM, metric, { seed: 3 });
      expect(Buffer.compare(Buffer.from(js), Buffer.from(bytes))).toBe(0);
    } finally {
      useKernelBackend('wasm');
    }
  });
});

describe('IVF build', () => {
  it('is deterministic for a fixed seed (same bytes), and the seed matters', () => {
    const a = buildIvf(VECS, ORDS, DIM, 'l2', { seed: 9 });
    const b = buildIvf(VECS, ORDS, DIM, 'l2', { seed: 9 });
    const c = buildIvf(VECS, ORDS, DIM, 'l2', { seed: 10 });
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(c))).not.toBe(0);
    // different clusterings, same exact answers
    const q = qAt(3);
    expect(Array.from(IvfReader.open(new MemorySource(a)).exact(q, 10).ords)).toEqual(Array.from(IvfReader.open(new MemorySource(c)).exact(q, 10).ords));
  });

  it('handles tiny inputs: n = 0, 1, 5', () => {
    for (const metric of METRICS) {
      for (const n of [0, 1, 5]) {
        const vecs = clustered(n, 4, 2, n + 1);
        const ords = Uint32Array.from({ length: n }, (_, i) => 10 * i + 3);
        const rd = IvfReader.open(new MemorySource(buildIvf(vecs, ords, 4, metric)));
        expect(rd.size).toBe(n);
        expect(rd.nlist).toBe(n === 0 ? 0 : 1);
        const q = Float32Array.from([1, 0.5, -1, 2]);
        const want = naive(vecs, ords, 4, metric, q, 3);
        expectMatchesNaive(rd.search(q, 3), want);
        expectMatchesNaive(rd.exact(q, 3), want);
        expectMatchesNaive(rd.exactOrds(q, 3, ords), want);
        expect(rd.search(q, 0).ords.length).toBe(0);
        if (n > 0) expect(rd.vectorOf(3)).not.toBeNull();
        expect(rd.vectorOf(4)).toBeNull();
      }
    }
  });

  it('breaks ties by the smaller ordinal', () => {
    // 40 copies of the same vector under shuffled ordinals, plus distinct ones
    const dim = 3;
    const n = 60;
    const vecs = new Float32Array(n * dim);
    const ords = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      ords[i] = (i * 37) % n;
      if (i < 40) vecs.set([1, 2, 3], i * dim);
      else vecs.set([-i, -0.5 * i, -i - 1], i * dim); // worse for every metric
    }
    for (const metric of METRICS) {
      const rd = IvfReader.open(new MemorySource(buildIvf(vecs, ords, dim, metric, { nlist: 4 })));
      const dupOrds = Array.from(ords.subarray(0, 40)).sort((a, b) => a - b);
      const q = Float32Array.from([1, 2, 3]);
      const viaExact = rd.exact(q, 5);
      const viaSearch = rd.search(q, 5, { nprobe: 4 });
      const viaOrds = rd.exactOrds(q, 5, Array.from(ords).reverse());
      for (const r of [viaExact, viaSearch, viaOrds]) expect(Array.from(r.ords)).toEqual(dupOrds.slice(0, 5));
      const mem = exactTopK(vecs, dim, metric, q, 5);
      expect(Array.from(mem.rows)).toEqual([0, 1, 2, 3, 4]);
    }
  });

  it('honours nlist, reports progress, and rejects bad input', () => {
    const progress: Array<[number, number]> = [];
    const rd = IvfReader.open(new MemorySource(buildIvf(VECS, ORDS, DIM, 'l2', { nlist: 7, onProgress: (d, t) => progress.push([d, t]) })));
    expect(rd.nlist).toBe(7);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
    const small = buildIvf(VECS.subarray(0, 50 * DIM), ORDS.subarray(0, 50), DIM, 'l2', { nlist: 1e9 });
    expect(IvfReader.open(new MemorySource(small)).nlist).toBeLessThanOrEqual(50);
    expect(defaultNlist(1e8)).toBe(4096);
    expect(defaultNlist(999)).toBe(1);
    expect(defaultNlist(10_000)).toBe(100);
    expect(corruptCode(() => buildIvf(new Float32Array(5), new Uint32Array(2), 3, 'l2'))).toBe('INTERNAL');
    expect(corruptCode(() => buildIvf(new Float32Array(6), Uint32Array.from([1, 1]), 3, 'l2'))).toBe('INTERNAL');
    expect(corruptCode(() => buildIvf(Float32Array.from([1, Number.NaN]), Uint32Array.from([1]), 2, 'l2'))).toBe('INTERNAL');
    expect(corruptCode(() => rd.search(new Float32Array(DIM - 1), 5))).toBe('INVALID_QUERY');
    expect(corruptCode(() => rd.search(new Float32Array(DIM).fill(Number.NaN), 5))).toBe('INVALID_QUERY');
  });

  // Speed is measured by `elacsym bench`, never asserted here: a test that depends on how fast the machine
  // is fails on a slow or busy one. This checks what the build produces at that size.
  it('builds 20k x 64 into an index whose full probe equals exact search', () => {
    const vecs = clustered(20000, 64, 50, 5);
    const rd = IvfReader.open(new MemorySource(buildIvf(vecs, Uint32Array.from({ length: 20000 }, (_, i) => i), 64, 'l2')));
    expect(rd.size).toBe(20000);
    expect(rd.nlist).toBeGreaterThan(1);
    expect(rd.nlist).toBeLessThanOrEqual(defaultNlist(20000));
    const q = vecs.subarray(0, 64);
    expect(Array.from(rd.search(q, 10, { nprobe: rd.nlist }).ords)).toEqual(Array.from(rd.exact(q, 10).ords));
  });
});

describe('IVF reader I/O', () => {
  const bytes = buildIvf(VECS, ORDS, DIM, 'l2', { seed: 3 });
  const nlist = IvfReader.open(new MemorySource(bytes)).nlist;
  const directory = 4 * nlist * DIM + 4 * (nlist + 1) + 4 * nlist;

  it('open reads only the header and the directory; a query reads only the clusters it probes, once', () => {
    const counting = new CountingSource(new MemorySource(bytes));
    const rd = IvfReader.open(counting);
    expect(counting.bytes).toBe(64 + directory);
    expect(counting.reads).toBe(2);
    rd.search(qAt(0), 10, { nprobe: 3 });
    expect(counting.reads).toBe(2 + 3);
    const afterFirst = counting.bytes;
    expect(afterFirst).toBeLessThan(64 + directory + bytes.length / 3);
    rd.search(qAt(0), 10, { nprobe: 3 });
    expect(counting.bytes).toBe(afterFirst); // cached
    expect(rd.stats().bytesRead).toBe(afterFirst);
    expect(rd.stats().lastProbes).toBe(3);
  });

  it('bounds its cluster cache', () => {
    const rd = IvfReader.open(new MemorySource(bytes), { cacheBytes: 20_000 });
    rd.exact(qAt(0), 10);
    expect(rd.stats().cachedBytes).toBeLessThanOrEqual(20_000 + (bytes.length / nlist) * 4);
    expect(rd.stats().cachedClusters).toBeLessThan(nlist);
    // still correct after evictions
    expect(Array.from(rd.exact(qAt(1), 10).ords)).toEqual(Array.from(IvfReader.open(new MemorySource(bytes)).exact(qAt(1), 10).ords));
  });
});

describe('IVF corruption', () => {
  const bytes = buildIvf(VECS, ORDS, DIM, 'cosine', { seed: 3 });
  const rd0 = IvfReader.open(new MemorySource(bytes));
  const nlist = rd0.nlist;
  const dirStart = 64;
  const dataStart = 64 + 4 * nlist * DIM + 4 * (nlist + 1) + 4 * nlist;
  const ordIndex = dataStart + N * (4 + 4 * DIM);
  const open = (b: Uint8Array) => () => IvfReader.open(new MemorySource(b));
  const flip = (at: number, bit: number): Uint8Array => {
    const b = bytes.slice();
    b[at]! ^= 1 << bit;
    return b;
  };
  /** Rewrites a header field and re-seals the header checksum, so only the structural checks can object. */
  const withHeader = (at: number, value: number): Uint8Array => withIvfHeaderField(bytes, at, value);

  it('rejects truncated files and trailing bytes', () => {
    for (const len of [0, 3, 63, 64, 100, dataStart - 1, dataStart, ordIndex, bytes.length - 1]) {
      expect(corruptCode(open(bytes.slice(0, len)))).toBe('CORRUPT_SEGMENT');
    }
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(corruptCode(open(longer))).toBe('CORRUPT_SEGMENT');
  });

  it('rejects every single-bit flip in the header', () => {
    for (let at = 0; at < 64; at++) {
      for (let bit = 0; bit < 8; bit++) expect(corruptCode(open(flip(at, bit)))).toBe('CORRUPT_SEGMENT');
    }
  });

  it('rejects inconsistent fields even under a valid header checksum', () => {
    expect(corruptCode(open(withHeader(4, 2)))).toBe('CORRUPT_SEGMENT'); // version
    expect(corruptCode(open(withHeader(8, 3)))).toBe('CORRUPT_SEGMENT'); // metric
    expect(corruptCode(open(withHeader(12, 0)))).toBe('CORRUPT_SEGMENT'); // dim
    expect(corruptCode(open(withHeader(12, DIM + 1)))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(open(withHeader(16, N + 1)))).toBe('CORRUPT_SEGMENT'); // n
    expect(corruptCode(open(withHeader(20, N + 1)))).toBe('CORRUPT_SEGMENT'); // nlist > n
    expect(corruptCode(open(withHeader(20, 0)))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(open(withHeader(40, 1)))).toBe('CORRUPT_SEGMENT'); // reserved
    expect(corruptCode(open(withHeader(16, 0xffffffff)))).toBe('CORRUPT_SEGMENT');
    // a metric change that keeps the length right is caught by... the checksum only; re-sealed it opens
    expect(IvfReader.open(new MemorySource(withHeader(8, 1))).metric).toBe('l2');
  });

  it('rejects damage to the directory at open, to a cluster when it is read, to the ord index when it is used', () => {
    expect(corruptCode(open(flip(dirStart + 5, 3)))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(open(flip(dataStart - 2, 0)))).toBe('CORRUPT_SEGMENT');
    const inCluster = IvfReader.open(new MemorySource(flip(dataStart + 10, 6)));
    expect(corruptCode(() => inCluster.exact(qAt(0), 10))).toBe('CORRUPT_SEGMENT');
    const inIndex = IvfReader.open(new MemorySource(flip(ordIndex + 17, 1)));
    expect(inIndex.exact(qAt(0), 10).ords.length).toBe(10); // clusters are fine
    expect(corruptCode(() => inIndex.vectorOf(ORDS[0]!))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(() => inIndex.exactOrds(qAt(0), 10, [ORDS[0]!]))).toBe('CORRUPT_SEGMENT');
  });

  it('rejects cluster offsets that are inconsistent even under valid checksums', () => {
    const b = bytes.slice();
    const dv = new DataView(b.buffer);
    const offsetsAt = 64 + 4 * nlist * DIM;
    dv.setUint32(offsetsAt + 4, dv.getUint32(offsetsAt + 8, true) + 1, true); // offsets[1] > offsets[2]
    dv.setUint32(28, crc32(b.subarray(64, dataStart)), true);
    dv.setUint32(60, crc32(b.subarray(0, 60)), true);
    expect(corruptCode(open(b))).toBe('CORRUPT_SEGMENT');
  });

  it('turns a file truncated after open into CORRUPT_SEGMENT, not a crash', () => {
    const path = join(tmp, 'shrinking.ivf');
    writeFileSync(path, bytes);
    const src = FileSource.open(path);
    try {
      const rd = IvfReader.open(src);
      truncateSync(path, dataStart + 100);
      expect(corruptCode(() => rd.exact(qAt(0), 10))).toBe('CORRUPT_SEGMENT');
    } finally {
      src.close();
    }
  });
});
