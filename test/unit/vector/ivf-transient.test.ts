/**
 * IvfOpenOptions.transientClusters (a one-shot query): clusters are read into one scratch buffer shared by
 * every reader, verified and scanned there, never cached. Answers must be those of a caching reader bit for
 * bit, also when several readers take turns (as the segments of one query do), and a damaged cluster must
 * still be CORRUPT_SEGMENT, whether the block checksums or the cluster's own checksum catch it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIvf, IvfReader } from '../../../src/index/vector/ivf.js';
import type { Metric } from '../../../src/model/types.js';
import { blockChecksums, verifiedByBlocks } from '../../../src/storage/segment-file.js';
import { FileSource, MemorySource, type ByteSource } from '../../../src/util/bytes.js';
import { gaussian as gauss, mulberry32 as rng } from '../../../src/util/prng.js';
import { errorCodeOf } from '../../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'elacsym-ivf-transient-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIM = 32;
const N = 6000;

function clustered(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const centers = Float32Array.from({ length: 10 * DIM }, () => gauss(r));
  const v = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * 10);
    for (let j = 0; j < DIM; j++) v[i * DIM + j] = centers[c * DIM + j]! + 0.6 * gauss(r);
  }
  return v;
}

const VECS = clustered(N, 3);
const ORDS = Uint32Array.from({ length: N }, (_, i) => i);
const QUERIES = clustered(20, 4);
const qAt = (i: number) => QUERIES.subarray(i * DIM, (i + 1) * DIM);
const vectorOf = (o: number) => VECS.subarray(o * DIM, (o + 1) * DIM);

/** The bytes as a file read by range, verified by blocks (the path of an index file over 4 MiB). */
function verifiedFile(name: string, bytes: Uint8Array, clean = bytes): ByteSource {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const t = blockChecksums(clean);
  return verifiedByBlocks(FileSource.open(path), new Uint32Array(t.buffer, t.byteOffset, t.length / 4), path);
}

const answers = (rd: IvfReader, q: Float32Array, allow?: (o: number) => boolean) => {
  const h = rd.search(q, 10, { allow, selectivity: allow ? 0.1 : undefined });
  return { ords: [...h.ords], scores: [...h.scores] };
};

describe.each(['cosine', 'l2', 'dot'] as Metric[])('transient clusters, %s', (metric) => {
  const bytes = buildIvf(VECS, ORDS, DIM, metric, { seed: 5 });
  const nlist = new DataView(bytes.buffer, bytes.byteOffset).getUint32(20, true);

  it('answer as a caching reader does, with readers taking turns', () => {
    const cached = IvfReader.open(new MemorySource(bytes), { vectorOf });
    const a = IvfReader.open(verifiedFile(`${metric}-a.ivf`, bytes), { vectorOf, transientClusters: true });
    const b = IvfReader.open(FileSource.open(join(dir, `${metric}-a.ivf`)), { vectorOf, transientClusters: true });
    const tenth = (o: number) => o % 10 === 3;
    for (let i = 0; i < 20; i++) {
      const want = answers(cached, qAt(i));
      expect(answers(a, qAt(i))).toEqual(want);
      expect(answers(b, qAt(i))).toEqual(want);
      expect(answers(a, qAt(i), tenth)).toEqual(answers(cached, qAt(i), tenth));
      // every cluster probed
      expect([...a.search(qAt(i), 10, { nprobe: nlist }).ords]).toEqual([...cached.search(qAt(i), 10, { nprobe: nlist }).ords]);
    }
  });

  it('refuse a flipped code byte: by block checksum, and by the cluster checksum without blocks', () => {
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const quant = 64 + 4 * nlist * DIM;
    const dataStart = quant + 8 * DIM + 4 * (nlist + 1) + 4 * nlist;
    const rows0 = dv.getUint32(quant + 8 * DIM + 4, true);
    const bad = bytes.slice();
    bad[dataStart + 4 * rows0 + 3]! ^= 0x10; // a code byte of cluster 0
    // (the block may be read as early as the open, with the directory before the clusters)
    const src = verifiedFile(`${metric}-bad-blocks.ivf`, bad, bytes);
    expect(errorCodeOf(() => IvfReader.open(src, { vectorOf, transientClusters: true }).search(qAt(0), 10, { nprobe: nlist }))).toBe('CORRUPT_SEGMENT');
    const path = join(dir, `${metric}-bad.ivf`);
    writeFileSync(path, bad);
    const byCluster = IvfReader.open(FileSource.open(path), { vectorOf, transientClusters: true });
    expect(errorCodeOf(() => byCluster.search(qAt(0), 10, { nprobe: nlist }))).toBe('CORRUPT_SEGMENT');
  });

  it('check a cluster read through verified blocks once, against its own checksum, and name the file when it fails', () => {
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const quant = 64 + 4 * nlist * DIM;
    const offs = quant + 8 * DIM;
    const dataStart = offs + 4 * (nlist + 1) + 4 * nlist;
    const last = nlist - 1;
    const rowsBefore = dv.getUint32(offs + 4 * last, true);
    const rows = dv.getUint32(offs + 4 * nlist, true) - rowsBefore;
    const rowBytes = (bytes.length - dataStart) / dv.getUint32(offs + 4 * nlist, true);
    const bad = bytes.slice();
    bad[dataStart + rowsBefore * rowBytes + 4 * rows + 1]! ^= 0x01; // a code byte of the last cluster, far from the header
    const src = verifiedFile(`${metric}-last.ivf`, bad, bytes);
    const rd = IvfReader.open(src, { vectorOf, transientClusters: true });
    let err: unknown;
    try {
      rd.search(qAt(0), 10, { nprobe: nlist });
    } catch (e) {
      err = e;
    }
    expect(errorCodeOf(() => { throw err; })).toBe('CORRUPT_SEGMENT');
    expect((err as Error).message).toContain(`${metric}-last.ivf: IVF cluster ${last} fails its CRC-32 check`);
    // centroids are read again at each search, and checked against the checksum taken at open: bytes that
    // change under an open reader (the file rewritten in place) fail the search instead of steering it
    const cpath = join(dir, `${metric}-centroids.ivf`);
    const opened = IvfReader.open(verifiedFile(`${metric}-centroids.ivf`, bytes), { vectorOf, transientClusters: true });
    expect(answers(opened, qAt(2))).toEqual(answers(IvfReader.open(new MemorySource(bytes), { vectorOf }), qAt(2)));
    const moved = bytes.slice();
    moved[64 + 4 * DIM * 3 + 2]! ^= 0x40; // a centroid's float (the directory starts after the 64-byte header)
    writeFileSync(cpath, moved);
    let cerr: unknown;
    try {
      opened.search(qAt(2), 10);
    } catch (e) {
      cerr = e;
    }
    expect((cerr as Error | undefined)?.message).toContain(`${metric}-centroids.ivf: IVF centroids fails its CRC-32 check`);
    // the same bytes undamaged answer as a caching reader does (the clean file, same path shape)
    const good = IvfReader.open(verifiedFile(`${metric}-last-clean.ivf`, bytes), { vectorOf, transientClusters: true });
    expect(answers(good, qAt(1))).toEqual(answers(IvfReader.open(new MemorySource(bytes), { vectorOf }), qAt(1)));
  });
});
