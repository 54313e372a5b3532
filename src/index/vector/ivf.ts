/**
 * IVF vector index: build (seeded k-means), serialize, and search through positional reads. Version 5
 * files (written by default) hold 4-bit codes, versions 2 and 4 int8 codes; all three re-rank a small
 * candidate set exactly from the original vectors, which stay stored once elsewhere (issue 11); version
 * 1 files (IVF-flat, float32 rows) are still read.
 *
 * A cold `elacsym query` must answer in a few milliseconds, so the file is laid out to be searched in
 * place: `IvfReader.open` reads the 64-byte header and the directory (centroids, cluster offsets, cluster
 * checksums); `search` scores the centroids and reads only the clusters it probes, one `ByteSource.read`
 * each. Nothing is parsed: sections are viewed as typed arrays.
 *
 * File layout (version 1). Every section starts 4-byte aligned; everything is little-endian.
 *
 *   header (64 bytes)
 *     0  u8[4]  magic "EIVF"
 *     4  u32    version = 1
 *     8  u32    metric: 0 cosine, 1 l2, 2 dot
 *    12  u32    dim (1 .. 65536)
 *    16  u32    n, number of rows (documents that have a vector)
 *    20  u32    nlist, number of clusters; 0 iff n = 0; every cluster holds >= 1 row
 *    24  u32    seed the k-means ran with (informational)
 *    28  u32    CRC-32 of the directory (centroids + offsets + cluster CRCs)
 *    32  u32    CRC-32 of the ord index
 *    36  u8[24] reserved, zero
 *    60  u32    CRC-32 of header bytes [0, 60)
 *   directory
 *     centroids   f32[nlist * dim]       row-major; for cosine, centroids of the normalized vectors
 *     offsets     u32[nlist + 1]         cluster c holds rows [offsets[c], offsets[c+1]); offsets[0] = 0,
 *                                        offsets[nlist] = n, strictly increasing
 *     clusterCrc  u32[nlist]             CRC-32 of each cluster's bytes
 *   clusters, for c = 0 .. nlist-1, cluster c starting at byte data + offsets[c] * (4 + 4 * dim):
 *     ords        u32[cnt]               document ordinals, strictly ascending within the cluster
 *     vectors     f32[cnt * dim]         row-major; for cosine the normalized vectors
 *   ord index (read lazily, only by exactOrds / vectorOf)
 *     sortedOrds  u32[n]                 every ordinal in the file, ascending
 *     rows        u32[n]                 rows[i] = global row (as in offsets) of sortedOrds[i]
 *
 * The file length must equal exactly 64 + 4*nlist*dim + 4*(nlist+1) + 4*nlist + n*(4 + 4*dim) + 8*n.
 * Any inconsistency (magic, version, checksums, bounds, length) is CORRUPT_SEGMENT. Cluster bytes are
 * checksum-verified when a cluster is loaded; single rows read by `exactOrds`/`vectorOf` without loading
 * their cluster are not (the ord index they are located through is).
 *
 * File layout (version 2, what `buildIvf` writes; version 1 files are still read exactly as before).
 * The same header (version = 2; the directory CRC at 28 also covers the quantizer) and ord index; the
 * clusters hold int8 scalar-quantized codes instead of float32 vectors, so the file no longer carries a
 * copy of the vectors (the segment's `vectors` section, later the Parquet file, is the one copy):
 *
 *   directory
 *     centroids   f32[nlist * dim]       as in version 1
 *     qmin        f32[dim]               quantizer: per-dimension minimum over the rows (normalized for
 *     qscale      f32[dim]                 cosine) and step (max - min) / 255 (l2: the largest step of
 *                                          all dimensions, in every entry), >= 0, both finite
 *     offsets     u32[nlist + 1]         as in version 1
 *     clusterCrc  u32[nlist]             CRC-32 of each cluster's bytes (ords and codes)
 *   clusters, for c = 0 .. nlist-1, cluster c starting at byte data + offsets[c] * (4 + cstride),
 *   cstride = dim rounded up to a multiple of 4 (so every cluster starts 4-byte aligned):
 *     ords        u32[cnt]               document ordinals, strictly ascending within the cluster
 *     codes       u8[cnt * cstride]      row j, dimension d at j * cstride + d; padding bytes are zero.
 *                                        Value x is coded round((x - qmin[d]) / qscale[d]) clamped to
 *                                        [0, 255] (0 when qscale[d] = 0), decoded qmin[d] + qscale[d] * code
 *   ord index   as in version 1 (rows index the clusters' rows)
 *
 * The file length must equal exactly 64 + 4*nlist*dim + 8*dim + 4*(nlist+1) + 4*nlist + n*(4 + cstride)
 * + 8*n. A version 2 reader needs `IvfOpenOptions.vectorOf`, the documents' original vectors: `search`
 * ranks the probed rows by their decoded codes (the same kernels run on the codes converted to floats,
 * with a transformed query: see `transformQuery`), keeps the best
 * `rerankCount(k)` candidates and re-scores those exactly from the original vectors (normalized for cosine,
 * exactly as version 1 stored them), so every returned score is the exact score, bit for bit what a
 * version 1 file or an exact scan gives. `exact`, `exactOrds`, `vectorOf` and `forEach` read the original
 * vectors through the callback. A callback returning no vector (or one of another length) for an ordinal
 * the index holds is CORRUPT_SEGMENT.
 *
 * Version 4 (what `buildIvf` wrote by default in format 7) is version 2 without the ord index: the
 * file ends after the clusters, and the header's ord index CRC (at 32) is 0. Queries never read the ord
 * index of a version 2 file (re-ranking and exact scans read vectors by ordinal from the segment's vector
 * locator); it cost 8 bytes a row (0.8 MB of a 100k segment). `exactOrds` and `vectorOf`, which locate
 * rows by ordinal, build it in memory from the clusters' ordinals (checksum-verified) on first use.
 * The file length must equal exactly 64 + 4*nlist*dim + 8*dim + 4*(nlist+1) + 4*nlist + n*(4 + cstride).
 *
 * Version 5 (what `buildIvf` writes by default since format 8): version 4 with 4-bit codes of each row's
 * residual, its vector minus its cluster's centroid (normalized for cosine), two dimensions a byte, which
 * halves the codes (64 instead of 128 bytes a row at 128 dimensions; issue 11's 750 bytes a document):
 *
 *   directory   as in version 2; qmin and qscale now describe the residuals: per dimension the range
 *               [qmin, qmin + 15 * qscale], between their 0.37% and 99.63% quantiles (for Gaussian residuals
 *               the mean +- 2.68 standard deviations; see trainResidualQuantizer), for every metric
 *   clusters    ords u32[cnt], then codes u8[cnt * nstride], nstride = 16 * ceil(dim / 32): per block b of
 *               32 dimensions, byte 16b + j holds dimension 32b + j in its low nibble and 32b + 16 + j in
 *               its high nibble (padding zero). Value x of a row in cluster c is coded
 *               round((x - centroid[c] - qmin) / qscale) clamped to [0, 15] (0 when qscale = 0), decoded
 *               centroid[c] + qmin + qscale * code.
 *
 * The file length must equal exactly 64 + 4*nlist*dim + 8*dim + 4*(nlist+1) + 4*nlist + n*(4 + nstride).
 * `search` ranks the probed rows with the 4-bit kernels (distance.ts scoreNibblesAbove; the query is
 * transformed per cluster, see nibbleQuery: dot by the dot product, l2 and cosine by the squared distance
 * to the decoded row) and re-scores the best k + max(k, 50) candidates exactly, then every further one
 * whose exact score could still reach the k-th (codingBound: the coding error's spread, raised to what the
 * query's own top rows showed), widening the candidate list when even its last one could.
 *
 * Version 3 (a "flat" index, written by `buildFlatIndex` for segments of fewer than FLAT_BELOW vectors):
 * the 64-byte header alone (version = 3, nlist = 0, seed and both section CRCs 0), no clusters, no codes,
 * no ord index. Such a segment is searched by an exact scan of its original vectors (every score exact):
 * int8 codes of a few hundred rows cost as many bytes as a quarter of their vectors (298 KB of the 4.57 MB
 * documentation set, 778 x 384) and save nothing a scan of that size would spend. `openVectorIndex`
 * returns a `FlatVectorIndex` for it; `IvfReader.open` refuses it.
 *
 * Scores: higher is better (see distance.ts). Ties are broken by the caller's `tie` (TopK), by default
 * the smaller ordinal; the store passes the id order (issue 9 §6).
 */
import { ElacsymError } from '../../errors.js';
import type { Metric } from '../../model/types.js';
import type { ByteSource } from '../../util/bytes.js';
import { crc32 } from '../../util/crc32.js';
import {
  codesKernelAvailable,
  codesQueryLimit,
  kernelRows,
  l2sq,
  l2sqRows,
  inverseNorm,
  norm,
  normalizeInto,
  type PinnedRows,
  pinCodes,
  pinClusterRows,
  pinRows,
  pinnedFloats,
  prepareQuery,
  reservePinned,
  type KernelMask,
  nibblesQueryLimit,
  scoreCodesAbove,
  scoreNibblesAbove,
  scoreNibblesMaskedAbove,
  scoreNibblesTermAbove,
  pinTerms,
  loadKernelMask,
  scoreGatheredAbove,
  scoreRowsAbove,
  unpinRows,
} from './distance.js';
import { TopK, type Hits, type TieBreak } from './topk.js';

export type { Hits } from './topk.js';

const MAGIC = 0x46564945; // "EIVF" as a little-endian u32
/** The version `buildIvf` writes by default (4-bit codes); versions 1, 2 and 4 are still read and, on request, written. */
const VERSION = 5;
const HEADER_BYTES = 64;
const MAX_DIM = 65536;
const MAX_NLIST = 4096;
/** Below this many rows a single cluster (a flat scan) is built; segments use a flat index (version 3). */
export const FLAT_BELOW = 1000;
/** The version of a header-only flat index (see the file layout, version 3). */
const FLAT_VERSION = 3;
const METRIC_CODE: Record<Metric, number> = { cosine: 0, l2: 1, dot: 2 };
const METRIC_OF: readonly Metric[] = ['cosine', 'l2', 'dot'];

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------
// build

/**
 * The rows a build reads: row r is arr[at(r) ..+dim). `at` may rewrite `arr` (a scratch row), so a row is
 * valid until the next call. Without a copy: value d of row r is src[r * dim + d], times scale(r) and
 * float32-rounded when there is a scale, or zeroRow(r, d) where that scale is 0 (exactly what `at` writes).
 */
interface Rows {
  readonly arr: Float32Array;
  at(r: number): number;
  readonly src: Float32Array;
  readonly scale: ((r: number) => number) | null;
  readonly zeroRow: ((r: number, d: number) => number) | null;
}

/**
 * Value d of the unit vector a zero vector is coded as under cosine (version 5): +-1/sqrt(dim), the signs
 * a hash of the document's ordinal and d (murmur3's finalizer), so a zero vector ranks among the
 * candidates like an unrelated direction, whose cosine is near 0, as its exact score is. Coded as 0 it
 * would sit at squared distance 1 from every unit query, nearer than any row of cosine below 1/2, and
 * with a few such documents in a segment they filled the candidates that are re-ranked (recall@10 0.05
 * with 1% zero vectors at 64 dimensions). Its exact score stays 0 (re-ranking reads the original vector).
 */
function zeroRowValue(ord: number, d: number, dim: number): number {
  let h = (Math.imul(ord, 0x9e3779b1) ^ Math.imul(d + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.fround((h & 1 ? 1 : -1) / Math.sqrt(dim));
}

/**
 * Rows of `vectors` normalized to unit length as they are read, into one scratch row (normalizeInto); a
 * zero vector as the unit vector of zeroRowValue (`ords`: each row's document ordinal).
 */
function normalizingRows(vectors: Float32Array, dim: number, ords: Uint32Array): Rows {
  const arr = new Float32Array(dim);
  return {
    arr,
    at(r) {
      // One norm per read (k-means reads each row several times): normalizeInto's arithmetic, inlined.
      const inv = inverseNorm(vectors, r * dim, dim);
      const off = r * dim;
      if (inv === 0) for (let d = 0; d < dim; d++) arr[d] = zeroRowValue(ords[r]!, d, dim);
      else for (let d = 0; d < dim; d++) arr[d] = vectors[off + d]! * inv;
      return 0;
    },
    src: vectors,
    scale: (r) => inverseNorm(vectors, r * dim, dim),
    zeroRow: (r, d) => zeroRowValue(ords[r]!, d, dim),
  };
}

export interface BuildIvfOptions {
  /** Number of clusters. Default: 1 below 1000 rows, else round(sqrt(n)) clamped to [1, 4096]. */
  nlist?: number;
  /** k-means seed; the same input and seed produce the same bytes. Default 42. */
  seed?: number;
  /** Called now and then with monotonically increasing `done`, finally with done === total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * File version: 4 (default: quantized codes), 2 (the same with an ord index, as format 6 wrote) or 1
   * (float32 vectors in the clusters; tests, comparisons).
   */
  version?: 1 | 2 | 4 | 5;
  /**
   * The caller gives `vectors` up: a cosine build of version 1, 2 or 4 normalizes them in place instead of
   * into a copy, one float32 array of every vector less at the build's peak. Same bytes. Version 5 never
   * writes to `vectors` (it normalizes each row as it reads it), so its input may be shared with a thread
   * still reading it (segment-builder.ts).
   */
  consumeVectors?: boolean;
}

/**
 * Candidates `search` re-scores exactly on a version 2 file: k + max(k, 30) (40 for k = 10, 200 for the
 * 100 candidates of a hybrid query). Measured on 100k x 128 clustered data (docs/performance.md): k
 * candidates alone lose ~2% recall@10 and ~1% recall@100 to the quantization, 2k lose nothing against
 * version 1; each candidate costs ~1 us (its original vector fetched, normalized, scored), so 4k made a
 * k = 100 query ~0.3 ms slower for no recall.
 */
export function rerankCount(k: number, version = VERSION): number {
  return k + Math.max(k, version === 5 ? RERANK_EXTRA_4BIT : RERANK_EXTRA);
}
const RERANK_EXTRA = 30;
/**
 * Version 5 (4-bit codes) ranks more coarsely: k + max(k, 50), 60 for k = 10. Simulated on the bench's
 * 50k x 128 data (200 queries, the same probes): recall@10 after re-ranking 40 / 60 / 100 candidates was
 * 0.995 / 0.9995 / 1 (int8 codes: 1 from 40); docs/performance.md.
 */
const RERANK_EXTRA_4BIT = 50;

/** Bytes of a version 2 row's codes: dim rounded up to a multiple of 4. */
function codeStride(dim: number): number {
  return (dim + 3) & ~3;
}

/** Bytes of a version 5 row's 4-bit codes: 16 bytes per 32 dimensions (or part of 32). */
function nibbleStride(dim: number): number {
  return 16 * Math.ceil(dim / 32);
}

/** The fewest clusters `search` probes in an index of nlist clusters: max(8, ceil(nlist / 20)), at most nlist. */
function defaultNprobeOf(nlist: number): number {
  return Math.min(nlist, Math.max(8, Math.ceil(nlist / 20)));
}

/**
 * The rows a filtered `search` of an index built over n rows (default nlist) scans, estimated: its base
 * probes (defaultNprobe clusters of about n / nlist rows each, at least MIN_SCAN_ROWS rows) raised by
 * 1 / sqrt(selectivity) as `probe` raises them, at most all n rows. An estimate: the adaptive extension
 * (up to 3x the base on clustered data) and cluster sizes are only known at query time. The query
 * planner weighs an exact scan of the matching rows against it (engine.ts `exactScanMaxDocs`).
 */
export function filteredScanRows(n: number, selectivity: number): number {
  return Math.min(n, filteredScanBaseRows(n) / Math.sqrt(Math.min(1, Math.max(selectivity, 1 / Math.max(1, n)))));
}

/** The base of filteredScanRows: the rows of the first defaultNprobe clusters (>= MIN_SCAN_ROWS), at most n. */
export function filteredScanBaseRows(n: number): number {
  const nlist = defaultNlist(n);
  if (nlist <= 1) return n;
  return Math.min(n, Math.max(MIN_SCAN_ROWS, (defaultNprobeOf(nlist) * n) / nlist));
}

/** The default number of clusters for n rows. */
export function defaultNlist(n: number): number {
  if (n < FLAT_BELOW) return n === 0 ? 0 : 1;
  return Math.max(1, Math.min(MAX_NLIST, Math.round(Math.sqrt(n))));
}

/**
 * Builds an IVF file over `ords.length` rows. Row i of `vectors` (row-major, dim floats each) is the
 * vector of document ordinal `ords[i]`; ordinals must be distinct. Vectors must be finite.
 */
export function buildIvf(
  vectors: Float32Array,
  ords: Uint32Array,
  dim: number,
  metric: Metric,
  opts: BuildIvfOptions = {},
): Uint8Array {
  requireLittleEndian();
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) internal(`invalid vector dimension ${dim}`);
  if (!Object.hasOwn(METRIC_CODE, metric)) internal(`unknown metric ${String(metric)}`);
  const n = ords.length;
  if (vectors.length !== n * dim) internal(`expected ${n * dim} floats for ${n} rows of ${dim}, got ${vectors.length}`);
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i]!)) internal(`vector of ordinal ${ords[Math.floor(i / dim)]} is not finite`);
  }
  const seed = (opts.seed ?? 42) >>> 0;
  const version = opts.version ?? VERSION;
  if (version !== 1 && version !== 2 && version !== 4 && version !== 5) internal(`unknown IVF version ${String(version)}`);
  const byOrd = argsortOrds(ords);
  for (let i = 1; i < n; i++) {
    if (ords[byOrd[i]!] === ords[byOrd[i - 1]!]) internal(`duplicate document ordinal ${ords[byOrd[i]!]}`);
  }

  // cosine: cluster and code the normalized vectors. Version 5 reads every row through `rows`, which
  // normalizes a row into a scratch array when it is read (lazy), whether or not the caller gave the
  // vectors up: the input stays untouched (it may be shared with the thread writing the Parquet file) and
  // no normalized copy of the segment is made (49 MB at 100k x 128); a zero vector is coded as the unit
  // vector of zeroRowValue. Versions 1, 2 and 4 keep a normalized copy (zero vectors stay zero: they rank
  // by the dot product, where 0 is right).
  const lazy = metric === 'cosine' && version === 5;
  let data = vectors;
  if (metric === 'cosine' && !lazy) {
    data = opts.consumeVectors ? vectors : new Float32Array(n * dim);
    for (let i = 0; i < n; i++) normalizeInto(vectors, i * dim, data, i * dim, dim);
  }
  const rows: Rows = lazy ? normalizingRows(vectors, dim, ords) : { arr: data, at: (r) => r * dim, src: data, scale: null, zeroRow: null };

  let nlist = opts.nlist === undefined ? defaultNlist(n) : Math.floor(opts.nlist);
  if (!Number.isFinite(nlist)) internal(`invalid nlist ${opts.nlist}`);
  nlist = n === 0 ? 0 : Math.max(1, Math.min(nlist, n, MAX_NLIST));

  const progress = new Progress(opts.onProgress);
  let centroids: Float32Array;
  let assign: Uint32Array;
  if (nlist <= 1) {
    centroids = new Float32Array(nlist * dim);
    assign = new Uint32Array(n);
    if (nlist === 1) {
      const sum = new Float64Array(dim);
      for (let i = 0; i < n; i++) {
        const o = rows.at(i);
        for (let j = 0; j < dim; j++) sum[j]! += rows.arr[o + j]!;
      }
      for (let j = 0; j < dim; j++) centroids[j] = sum[j]! / n;
    }
    progress.total = n;
  } else {
    ({ centroids, assign } = kmeans(rows, n, dim, nlist, seed, progress));
  }

  // drop empty clusters; order rows by (cluster, ord)
  const counts = new Uint32Array(nlist);
  for (let i = 0; i < n; i++) counts[assign[i]!]!++;
  const remap = new Int32Array(nlist).fill(-1);
  let kept = 0;
  for (let c = 0; c < nlist; c++) if (counts[c]! > 0) remap[c] = kept++;
  const offsets = new Uint32Array(kept + 1);
  for (let c = 0; c < nlist; c++) if (remap[c]! >= 0) offsets[remap[c]! + 1] = counts[c]!;
  for (let c = 0; c < kept; c++) offsets[c + 1]! += offsets[c]!;
  const fill = offsets.slice(0, kept);
  const rowAt = new Uint32Array(n); // global row -> input row
  for (let i = 0; i < n; i++) {
    const r = byOrd[i]!;
    const c = remap[assign[r]!]!;
    rowAt[fill[c]!++] = r;
  }

  // write
  const L = layout(version, dim, n, kept);
  const out = new Uint8Array(L.end);
  const buf = out.buffer;
  const cent = new Float32Array(buf, L.centroids, kept * dim);
  for (let c = 0; c < nlist; c++) {
    const to = remap[c]!;
    if (to >= 0) cent.set(centroids.subarray(c * dim, (c + 1) * dim), to * dim);
  }
  let quant: Quantizer | null = null;
  // version 5: row r is coded relative to its cluster's centroid (its residual)
  const centroidOf = (r: number): number => assign[r]! * dim;
  if (version === 5) {
    quant = trainResidualQuantizer(rows, n, dim, centroids, centroidOf);
    new Float32Array(buf, L.quant, dim).set(quant.min);
    new Float32Array(buf, L.quant + 4 * dim, dim).set(quant.scale);
  } else if (version !== 1) {
    quant = trainQuantizer(data, n, dim, metric === 'l2');
    new Float32Array(buf, L.quant, dim).set(quant.min);
    new Float32Array(buf, L.quant + 4 * dim, dim).set(quant.scale);
  }
  new Uint32Array(buf, L.offsets, kept + 1).set(offsets);
  const crcs = new Uint32Array(buf, L.crcs, kept);
  const stride = L.rowBytes;
  const cstride = stride - 4;
  const rowOfInput = new Uint32Array(n);
  for (let c = 0; c < kept; c++) {
    const start = offsets[c]!;
    const cnt = offsets[c + 1]! - start;
    const base = L.data + start * stride;
    const cOrds = new Uint32Array(buf, base, cnt);
    const cVecs = quant === null ? new Float32Array(buf, base + 4 * cnt, cnt * dim) : null;
    for (let j = 0; j < cnt; j++) {
      const r = rowAt[start + j]!;
      cOrds[j] = ords[r]!;
      if (cVecs !== null) cVecs.set(data.subarray(r * dim, (r + 1) * dim), j * dim);
      else if (version === 5) encodeNibbleRow(quant!, rows.arr, rows.at(r), centroids, centroidOf(r), dim, out, base + 4 * cnt + j * cstride);
      else encodeRow(quant!, data, r * dim, dim, out, base + 4 * cnt + j * cstride);
      rowOfInput[r] = start + j;
    }
    crcs[c] = crc32(out.subarray(base, base + cnt * stride));
  }
  if (version !== 4 && version !== 5) {
    const sortedOrds = new Uint32Array(buf, L.ordIndex, n);
    const rowsOf = new Uint32Array(buf, L.ordIndex + 4 * n, n);
    for (let i = 0; i < n; i++) {
      const r = byOrd[i]!;
      sortedOrds[i] = ords[r]!;
      rowsOf[i] = rowOfInput[r]!;
    }
  }

  writeHeader(out, L, version, metric, dim, n, kept, seed);
  progress.finish();
  return out;
}

/** The header of a built file whose sections are written: the counts, and the checksums of what is there. */
function writeHeader(out: Uint8Array, L: Layout, version: number, metric: Metric, dim: number, n: number, kept: number, seed: number): void {
  const h = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  h.setUint32(0, MAGIC, true);
  h.setUint32(4, version, true);
  h.setUint32(8, METRIC_CODE[metric], true);
  h.setUint32(12, dim, true);
  h.setUint32(16, n, true);
  h.setUint32(20, kept, true);
  h.setUint32(24, seed, true);
  h.setUint32(28, crc32(out.subarray(L.centroids, L.data)), true);
  h.setUint32(32, version === 4 || version === 5 ? 0 : crc32(out.subarray(L.ordIndex, L.end)), true);
  h.setUint32(60, crc32(out.subarray(0, 60)), true);
}

/**
 * Rows a streaming build (IvfStreamBuilder) trains on when at most `capacity` rows will follow: what
 * buildIvf's k-means samples from `capacity` rows, max(nlist * 32, 10000) and at most all of them. A build
 * of fewer rows (n <= capacity) needs no more, since its nlist is no larger.
 */
export function ivfSampleSize(capacity: number): number {
  return Math.min(capacity, Math.max(defaultNlist(capacity) * SAMPLE_PER_CLUSTER, SAMPLE_MIN));
}

/**
 * A uniform random sample of a stream of vectors, of ivfSampleSize(capacity) rows at most (reservoir
 * sampling, Algorithm R: Vitter, "Random sampling with a reservoir", ACM TOMS 1985), seeded: the same
 * vectors in the same order give the same sample, however they are chunked. Memory: the sample's rows.
 */
export class VectorReservoir {
  private readonly size: number;
  private rows: Float32Array;
  private ords: Uint32Array;
  private readonly rand: () => number;
  private seen = 0;
  private finished = false;
  constructor(
    private readonly dim: number,
    capacity: number,
    seed: number,
  ) {
    this.size = ivfSampleSize(capacity);
    this.rows = new Float32Array(this.size * dim);
    this.ords = new Uint32Array(this.size);
    // Another sequence than k-means' (same seed): the sample's choice and the seeding stay independent.
    this.rand = rng((seed ^ 0x5bd1e995) >>> 0);
  }

  /** The next vector (values[at ..+dim)), of document ordinal `ord`. */
  add(ord: number, values: Float32Array, at = 0): void {
    if (this.finished) internal('a vector after the reservoir was finished');
    const i = this.seen++;
    let slot = i;
    if (i >= this.size) {
      slot = Math.floor(this.rand() * (i + 1));
      if (slot >= this.size) return;
    }
    this.rows.set(values.subarray(at, at + this.dim), slot * this.dim);
    this.ords[slot] = ord;
  }

  /** Vectors seen so far. */
  get count(): number {
    return this.seen;
  }

  /**
   * The sample (row-major) and each row's ordinal, in arrays of their own (transferable to a worker); the
   * reservoir lets go of them and takes nothing after.
   */
  finish(): { sample: Float32Array; sampleOrds: Uint32Array } {
    const t = Math.min(this.seen, this.size);
    const full = t === this.size;
    const out = { sample: full ? this.rows : this.rows.slice(0, t * this.dim), sampleOrds: full ? this.ords : this.ords.slice(0, t) };
    this.rows = new Float32Array(0);
    this.ords = new Uint32Array(0);
    this.finished = true;
    return out;
  }
}

/**
 * A version 5 IVF file built from its rows given in chunks, without holding them (issue 11, bounded merge
 * memory): k-means and the residual quantizer are trained on a sample taken beforehand (VectorReservoir,
 * from a first pass over the rows), then each row given to `add` is assigned to its nearest centroid and
 * coded at once. Holds the centroids, the sample until trained, and per row its ordinal, cluster and codes
 * (4 + 4 + nibbleStride(dim) bytes: 72 at 128 dimensions, against 512 for the float32 row); `finish`
 * orders them by (cluster, ordinal) into the file. The file is what buildIvf writes, trained on another
 * sample: the same layout, read by the same reader.
 *
 * Errors: INTERNAL for rows not finite, ordinals not ascending, or another count of rows than `n`.
 */
export class IvfStreamBuilder {
  private readonly k: number;
  private readonly cent: Float32Array;
  private readonly quant: Quantizer;
  private readonly assigner: Assigner | null;
  private readonly ords: Uint32Array;
  private readonly assign: Uint32Array;
  private readonly codes: Uint8Array;
  private readonly cstride: number;
  private readonly scratch: Float32Array;
  /** The sample's ordinals, ascending, and each one's cluster; `nextSampled` indexes the next one ahead. */
  private readonly sampledOrds: Uint32Array;
  private readonly sampledCluster: Uint32Array;
  private nextSampled = 0;
  private count = 0;

  /**
   * `n` rows will follow (at least FLAT_BELOW: fewer get a flat index); `sample` (row-major, dim floats
   * per row) and `sampleOrds` are a random sample of them, in any order.
   */
  constructor(
    private readonly dim: number,
    private readonly metric: Metric,
    private readonly seed: number,
    private readonly n: number,
    sample: Float32Array,
    sampleOrds: Uint32Array,
  ) {
    requireLittleEndian();
    if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) internal(`invalid vector dimension ${dim}`);
    if (!Object.hasOwn(METRIC_CODE, metric)) internal(`unknown metric ${String(metric)}`);
    const t = sampleOrds.length;
    if (sample.length !== t * dim) internal(`expected ${t * dim} floats for a sample of ${t} rows, got ${sample.length}`);
    if (n < FLAT_BELOW || t < 1 || t > n) internal(`a streaming build of ${n} rows from a sample of ${t}`);
    // The sample as the build reads its rows: normalized under cosine (a zero vector as zeroRowValue's unit
    // vector), then shuffled, since k-means++ seeds from a prefix of it.
    // x row i is sample row perm[i].
    const rand = rng(seed >>> 0);
    const perm = Uint32Array.from({ length: t }, (_, i) => i);
    for (let i = t - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const a = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = a;
    }
    const x = new Float32Array(t * dim);
    for (let i = 0; i < t; i++) this.rowInto(sample, perm[i]! * dim, sampleOrds[perm[i]!]!, x, i * dim);
    const k = Math.max(1, Math.min(defaultNlist(n), t, MAX_NLIST));
    this.k = k;
    let sampleAssign: Uint32Array;
    if (k === 1) {
      const sum = new Float64Array(dim);
      for (let i = 0; i < t; i++) for (let d = 0; d < dim; d++) sum[d]! += x[i * dim + d]!;
      this.cent = Float32Array.from(sum, (v) => v / t);
      this.assigner = null;
      sampleAssign = new Uint32Array(t);
    } else {
      const trained = trainCentroids(x, t, dim, k, rand, new Progress(undefined));
      this.cent = trained.cent;
      this.assigner = new Assigner(trained.cent, k, dim, NEIGHBORS_FINAL, true);
      sampleAssign = trained.assign;
      for (let i = 0; i < t; i++) sampleAssign[i] = this.assigner.refine(x, i * dim, sampleAssign[i]!);
    }
    const rows: Rows = { arr: x, at: (r) => r * dim, src: x, scale: null, zeroRow: null };
    this.quant = trainResidualQuantizer(rows, t, dim, this.cent, (r) => sampleAssign[r]! * dim);
    // A sampled row keeps the cluster its training gave it, refined (as buildIvf does): by ordinal, since
    // the rows come in ordinal order.
    const byOrd = Uint32Array.from({ length: t }, (_, i) => i).sort((a, b) => sampleOrds[perm[a]!]! - sampleOrds[perm[b]!]!);
    this.sampledOrds = Uint32Array.from(byOrd, (i) => sampleOrds[perm[i]!]!);
    this.sampledCluster = Uint32Array.from(byOrd, (i) => sampleAssign[i]!);
    this.cstride = nibbleStride(dim);
    this.ords = new Uint32Array(n);
    this.assign = new Uint32Array(n);
    this.codes = new Uint8Array(n * this.cstride);
    this.scratch = new Float32Array(dim);
  }

  /** Row `at` of `src` as the build reads it (normalized under cosine) into dst[to ..+dim). */
  private rowInto(src: Float32Array, at: number, ord: number, dst: Float32Array, to: number): void {
    const dim = this.dim;
    for (let d = 0; d < dim; d++) if (!Number.isFinite(src[at + d]!)) internal(`vector of ordinal ${ord} is not finite`);
    if (this.metric !== 'cosine') {
      dst.set(src.subarray(at, at + dim), to);
      return;
    }
    const inv = inverseNorm(src, at, dim);
    if (inv === 0) for (let d = 0; d < dim; d++) dst[to + d] = zeroRowValue(ord, d, dim);
    else for (let d = 0; d < dim; d++) dst[to + d] = src[at + d]! * inv;
  }

  /** The next rows: ords[j] (ascending, after every earlier row's) and vectors[j * dim ..+dim). */
  add(ords: Uint32Array, vectors: Float32Array): void {
    const { dim, scratch, cstride } = this;
    if (vectors.length !== ords.length * dim) internal(`expected ${ords.length * dim} floats for ${ords.length} rows, got ${vectors.length}`);
    for (let j = 0; j < ords.length; j++) {
      const r = this.count;
      if (r >= this.n) internal(`more than the ${this.n} rows announced`);
      const ord = ords[j]!;
      if (r > 0 && ord <= this.ords[r - 1]!) internal(`ordinal ${ord} after ${this.ords[r - 1]}`);
      this.rowInto(vectors, j * dim, ord, scratch, 0);
      while (this.nextSampled < this.sampledOrds.length && this.sampledOrds[this.nextSampled]! < ord) this.nextSampled++;
      const sampled = this.nextSampled < this.sampledOrds.length && this.sampledOrds[this.nextSampled] === ord;
      const c = this.assigner === null ? 0 : sampled ? this.sampledCluster[this.nextSampled]! : this.assigner.assign(scratch, 0);
      this.ords[r] = ord;
      this.assign[r] = c;
      encodeNibbleRow(this.quant, scratch, 0, this.cent, c * dim, dim, this.codes, r * cstride);
      this.count = r + 1;
    }
  }

  /** The file: clusters without rows dropped, rows by (cluster, ordinal). */
  finish(): Uint8Array {
    const { n, k, dim, cstride } = this;
    if (this.count !== n) internal(`${this.count} of the ${n} rows announced`);
    const counts = new Uint32Array(k);
    for (let r = 0; r < n; r++) counts[this.assign[r]!]!++;
    const remap = new Int32Array(k).fill(-1);
    let kept = 0;
    for (let c = 0; c < k; c++) if (counts[c]! > 0) remap[c] = kept++;
    const offsets = new Uint32Array(kept + 1);
    for (let c = 0; c < k; c++) if (remap[c]! >= 0) offsets[remap[c]! + 1] = counts[c]!;
    for (let c = 0; c < kept; c++) offsets[c + 1]! += offsets[c]!;
    const fill = offsets.slice(0, kept);
    const rowAt = new Uint32Array(n); // rows by (cluster, ordinal): ordinals ascend with r
    for (let r = 0; r < n; r++) rowAt[fill[remap[this.assign[r]!]!]!++] = r;

    const L = layout(VERSION, dim, n, kept);
    const out = new Uint8Array(L.end);
    const buf = out.buffer;
    const cent = new Float32Array(buf, L.centroids, kept * dim);
    for (let c = 0; c < k; c++) if (remap[c]! >= 0) cent.set(this.cent.subarray(c * dim, (c + 1) * dim), remap[c]! * dim);
    new Float32Array(buf, L.quant, dim).set(this.quant.min);
    new Float32Array(buf, L.quant + 4 * dim, dim).set(this.quant.scale);
    new Uint32Array(buf, L.offsets, kept + 1).set(offsets);
    const crcs = new Uint32Array(buf, L.crcs, kept);
    const stride = L.rowBytes;
    for (let c = 0; c < kept; c++) {
      const start = offsets[c]!;
      const cnt = offsets[c + 1]! - start;
      const base = L.data + start * stride;
      const cOrds = new Uint32Array(buf, base, cnt);
      for (let j = 0; j < cnt; j++) {
        const r = rowAt[start + j]!;
        cOrds[j] = this.ords[r]!;
        out.set(this.codes.subarray(r * cstride, (r + 1) * cstride), base + 4 * cnt + j * cstride);
      }
      crcs[c] = crc32(out.subarray(base, base + cnt * stride));
    }
    writeHeader(out, L, VERSION, this.metric, dim, n, kept, this.seed >>> 0);
    return out;
  }
}

/**
 * A version 3 (flat) index of `n` rows: the header alone (see the file layout). The segment's vectors are
 * scanned exactly; `n` is informational (the count of documents with a vector), checked against nothing.
 */
export function buildFlatIndex(n: number, dim: number, metric: Metric): Uint8Array {
  requireLittleEndian();
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) internal(`invalid vector dimension ${dim}`);
  if (!Object.hasOwn(METRIC_CODE, metric)) internal(`unknown metric ${String(metric)}`);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) internal(`invalid row count ${n}`);
  const out = new Uint8Array(HEADER_BYTES);
  const h = new DataView(out.buffer, 0, HEADER_BYTES);
  h.setUint32(0, MAGIC, true);
  h.setUint32(4, FLAT_VERSION, true);
  h.setUint32(8, METRIC_CODE[metric], true);
  h.setUint32(12, dim, true);
  h.setUint32(16, n, true);
  h.setUint32(60, crc32(out.subarray(0, 60)), true);
  return out;
}

/** A version 3 index: no structure to search, the segment's vectors are scanned exactly (see buildFlatIndex). */
export interface FlatVectorIndex {
  readonly flat: true;
  readonly dim: number;
  readonly metric: Metric;
  /** Rows (documents with a vector) when the index was built. */
  readonly size: number;
  release(): void;
}

/**
 * Opens a segment's vector index: an `IvfReader` for versions 1, 2 and 4, a `FlatVectorIndex` for version 3.
 * Throws CORRUPT_SEGMENT as `IvfReader.open` does (a flat header must be exactly 64 bytes, CRC-checked).
 */
export function openVectorIndex(src: ByteSource, opts: IvfOpenOptions = {}): IvfReader | FlatVectorIndex {
  if (src.length >= HEADER_BYTES) {
    const hb = src.read(0, HEADER_BYTES);
    const h = new DataView(hb.buffer, hb.byteOffset, HEADER_BYTES);
    if (h.getUint32(0, true) === MAGIC && h.getUint32(4, true) === FLAT_VERSION) {
      if (crc32(hb.subarray(0, 60)) !== h.getUint32(60, true)) corrupt('IVF header checksum mismatch');
      if (src.length !== HEADER_BYTES) corrupt(`flat vector index is ${src.length} bytes, not ${HEADER_BYTES}`);
      const metric = METRIC_OF[h.getUint32(8, true)];
      if (metric === undefined) corrupt(`unknown metric code ${h.getUint32(8, true)}`);
      const dim = h.getUint32(12, true);
      if (dim < 1 || dim > MAX_DIM) corrupt(`invalid dimension ${dim}`);
      for (let o = 20; o < 60; o += 4) if (h.getUint32(o, true) !== 0) corrupt('reserved header bytes of a flat index are not zero');
      return { flat: true, dim, metric, size: h.getUint32(16, true), release: () => undefined };
    }
  }
  return IvfReader.open(src, opts);
}

interface Layout {
  centroids: number;
  /** Version 2: qmin then qscale (8 * dim bytes); version 1: empty (= offsets). */
  quant: number;
  offsets: number;
  crcs: number;
  data: number;
  /** Bytes of one cluster row: its ordinal and its vector (version 1) or codes (versions 2, 4, 5). */
  rowBytes: number;
  ordIndex: number;
  end: number;
}

function layout(version: number, dim: number, n: number, nlist: number): Layout {
  const centroids = HEADER_BYTES;
  const quant = centroids + 4 * nlist * dim;
  const offsets = quant + (version !== 1 ? 8 * dim : 0);
  const crcs = offsets + 4 * (nlist + 1);
  const data = crcs + 4 * nlist;
  const rowBytes = 4 + (version === 5 ? nibbleStride(dim) : version !== 1 ? codeStride(dim) : 4 * dim);
  const ordIndex = data + n * rowBytes;
  return { centroids, quant, offsets, crcs, data, rowBytes, ordIndex, end: ordIndex + (version === 4 || version === 5 ? 0 : 8 * n) };
}

// ---------------------------------------------------------------------------------------------------
// int8 scalar quantizer (version 2)
//
// Per dimension, the range [min, max] of the rows (normalized for cosine) is cut into 255 steps; a value
// is stored as the nearest step (one byte). Decoding is min + scale * code. The quantized scores only
// choose candidates: the published scores are re-computed from the original vectors (see `search`).

interface Quantizer {
  min: Float32Array;
  scale: Float32Array;
}

/** Rows of the strided sample `trimOutliers` sorts a suspicious dimension's values from. */
const TRIM_SAMPLE = 8192;

/**
 * Narrows [lo[d], hi[d]] to the values of the bulk of the rows in a dimension whose range is pathological:
 * wider than 12 standard deviations (a Gaussian's range over a million rows is about 10). Found by a tester:
 * one vector at 10,000 among unit-variance ones stretched the step of its dimension so far that every other
 * row got the same code there, and 44 of 50 top-10 queries missed true neighbours (the candidates were
 * ranked on the other dimension alone). Such a dimension's range becomes that of a strided sample of at
 * most TRIM_SAMPLE rows without its max(1, 0.1%) most extreme values on each side; the rows outside are
 * coded at the nearest end (encodeRow clamps), which only their approximate rank pays for: every returned
 * score is still computed from the original vector. Ranges of ordinary data are left exactly as they were.
 */
function trimOutliers(data: Float32Array, n: number, dim: number, lo: Float64Array, hi: Float64Array, sum: Float64Array): void {
  if (n < 3) return;
  // Two passes in all (the sums came with the min/max pass): deviations from the mean, not sum of squares
  // minus n * mean^2, whose cancellation could call a tight dimension wide.
  const mean = new Float64Array(dim);
  for (let d = 0; d < dim; d++) mean[d] = sum[d]! / n;
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let d = 0; d < dim; d++) {
      const x = data[o + d]! - mean[d]!;
      sq[d]! += x * x;
    }
  }
  const step = Math.max(1, Math.floor(n / TRIM_SAMPLE));
  const s = Math.floor((n - 1) / step) + 1;
  const t = Math.max(1, Math.floor(s / 1000));
  const vals = new Float64Array(s);
  for (let d = 0; d < dim; d++) {
    const sd = Math.sqrt(sq[d]! / n);
    if (!(hi[d]! - lo[d]! > 12 * sd)) continue;
    for (let j = 0; j < s; j++) vals[j] = data[j * step * dim + d]!;
    vals.sort();
    const a = vals[t]!;
    const b = vals[s - 1 - t]!;
    if (b > a) {
      lo[d] = a;
      hi[d] = b;
    }
  }
}

/**
 * Per-dimension minimum and step. `uniform` (l2): one step for every dimension (the largest), so that
 * the L2 distance to a decoded row is the step times the L2 distance to its codes, which the kernels
 * compute on the codes as they are (see `IvfReader.scan`); dot products need no such thing.
 */
function trainQuantizer(data: Float32Array, n: number, dim: number, uniform: boolean): Quantizer {
  const lo = new Float64Array(dim).fill(Infinity);
  const hi = new Float64Array(dim).fill(-Infinity);
  const sum = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let d = 0; d < dim; d++) {
      const v = data[o + d]!;
      if (v < lo[d]!) lo[d] = v;
      if (v > hi[d]!) hi[d] = v;
      sum[d]! += v;
    }
  }
  trimOutliers(data, n, dim, lo, hi, sum);
  const min = new Float32Array(dim);
  const scale = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    if (n === 0) continue;
    min[d] = lo[d]!;
    // (max - min) / 255 in float64 is finite for finite float32 inputs; as float32 it stays finite too
    // (at most 2 * 3.4e38 / 255), and rounding it up keeps min + 255 * scale >= max.
    const s = (hi[d]! - min[d]!) / 255;
    let f = Math.fround(s);
    if (f < s) f = Math.fround(f * (1 + 2 ** -23));
    scale[d] = f;
  }
  if (uniform) scale.fill(scale.reduce((a, b) => Math.max(a, b), 0));
  return { min, scale };
}

// ---------------------------------------------------------------------------------------------------
// 4-bit residual quantizer (version 5)
//
// A row is coded relative to its cluster's centroid: residual x - c, per dimension cut into 15 steps of
// [min, min + 15 * scale], one nibble per dimension. Residuals are far narrower than the rows themselves
// (a cluster's spread, not the data's), which is what lets 16 levels rank candidates well enough for the
// exact re-ranking to recover every true neighbour (RERANK_EXTRA_4BIT). The range of each dimension is
// that of its residuals without their 0.37% most extreme on each side, for Gaussian residuals the mean
// +- 2.68 standard deviations: the uniform 16-level quantizer of least mean squared error (Max,
// "Quantizing for minimum distortion", IRE Trans. Inf. Theory, 1960: step 0.3352 sd). Outliers are coded
// at the nearest end; only their approximate rank pays, never their published score.

/**
 * The fraction of residuals a version 5 quantizer leaves outside its range on each side: a Gaussian's mass
 * beyond 2.68 standard deviations (see above).
 */
const NIBBLE_TAIL = 0.00368;

/**
 * Per-dimension minimum and step (max - min) / 15 of the residuals data[r] - centroids[centroidOf(r)]: the
 * range between their NIBBLE_TAIL and 1 - NIBBLE_TAIL quantiles, taken from a strided sample of at most
 * TRIM_SAMPLE rows. Quantiles, not the mean +- 2.68 standard deviations: a single vector at 10,000 among
 * unit-variance ones inflates the standard deviation of its dimension until every other row gets one
 * code there (test/cli/ivf-outlier.test.ts); for Gaussian residuals the two agree. A step per dimension
 * for every metric (the l2 kernel takes one per dimension, see `IvfReader.nibbleQuery`).
 */
function trainResidualQuantizer(
  rows: Rows,
  n: number,
  dim: number,
  centroids: Float32Array,
  centroidOf: (r: number) => number,
): Quantizer {
  const min = new Float32Array(dim);
  const scale = new Float32Array(dim);
  if (n === 0) return { min, scale };
  const step = Math.max(1, Math.floor(n / TRIM_SAMPLE));
  const m = Math.floor((n - 1) / step) + 1;
  const t = Math.min(m - 1, Math.floor(NIBBLE_TAIL * m));
  // Read in place, a dimension at a time: lazily normalized rows by their factor, computed once per row
  // (no copy of the sample, which at a high dimension would be as large as a segment's vectors).
  const src = rows.src;
  const factor = rows.scale;
  const zeroRow = rows.zeroRow;
  const inv = factor === null ? null : Float64Array.from({ length: m }, (_, j) => factor(j * step));
  const vals = new Float64Array(m);
  for (let d = 0; d < dim; d++) {
    for (let j = 0; j < m; j++) {
      const r = j * step;
      const x = inv === null ? src[r * dim + d]! : inv[j] === 0 && zeroRow !== null ? zeroRow(r, d) : Math.fround(src[r * dim + d]! * inv[j]!);
      vals[j] = x - centroids[centroidOf(r) + d]!;
    }
    vals.sort();
    min[d] = Math.fround(vals[t]!);
    const s = Math.max(0, vals[m - 1 - t]! - min[d]!) / 15;
    let f = Math.fround(s);
    if (f < s) f = Math.fround(f * (1 + 2 ** -23));
    scale[d] = f;
  }
  return { min, scale };
}

/**
 * Codes row data[from ..+dim) relative to centroids[c ..+dim) into nibbleStride(dim) bytes at out[at]:
 * dimension 32b + j in the low nibble of byte at + 16b + j, 32b + 16 + j in its high nibble (the order
 * the kernel splits them in, see distance.ts scoreNibblesAbove); padding is zero.
 */
function encodeNibbleRow(q: Quantizer, data: Float32Array, from: number, centroids: Float32Array, c: number, dim: number, out: Uint8Array, at: number): void {
  const { min, scale } = q;
  for (let d = 0; d < dim; d++) {
    const s = scale[d]!;
    if (s === 0) continue; // code 0
    const v = Math.round((data[from + d]! - centroids[c + d]! - min[d]!) / s);
    const code = v < 0 ? 0 : v > 15 ? 15 : v;
    const j = d & 31;
    const byte = at + 16 * (d >> 5) + (j & 15);
    out[byte] = out[byte]! | (j < 16 ? code : code << 4);
  }
}

function encodeRow(q: Quantizer, data: Float32Array, from: number, dim: number, out: Uint8Array, at: number): void {
  const { min, scale } = q;
  for (let d = 0; d < dim; d++) {
    const s = scale[d]!;
    if (s === 0) continue; // out is zero-filled
    const c = Math.round((data[from + d]! - min[d]!) / s);
    out[at + d] = c < 0 ? 0 : c > 255 ? 255 : c;
  }
}

/** The codes of cnt rows (row stride cstride) as row-major float32 values, converted natively. */
function codesAsFloats(codes: Uint8Array, cnt: number, dim: number, cstride: number): Float32Array {
  const out = new Float32Array(cnt * dim);
  if (cstride === dim) out.set(codes.subarray(0, cnt * dim));
  else for (let j = 0; j < cnt; j++) out.set(codes.subarray(j * cstride, j * cstride + dim), j * dim);
  return out;
}

/** Decodes cnt rows of codes (row stride cstride) into row-major float32 vectors. */
function decodeRows(min: Float32Array, scale: Float32Array, codes: Uint8Array, cnt: number, dim: number, cstride: number): Float32Array {
  const out = new Float32Array(cnt * dim);
  for (let j = 0; j < cnt; j++) {
    const co = j * cstride;
    const vo = j * dim;
    for (let d = 0; d < dim; d++) out[vo + d] = min[d]! + scale[d]! * codes[co + d]!;
  }
  return out;
}

function argsortOrds(ords: Uint32Array): Uint32Array {
  const idx = new Uint32Array(ords.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  // Uint32Array.sort with a comparator is stable and avoids boxing into a JS array
  idx.sort((a, b) => ords[a]! - ords[b]!);
  return idx;
}

class Progress {
  total = 1;
  private done = 0;
  private last = 0;
  constructor(private readonly fn: ((done: number, total: number) => void) | undefined) {}
  advance(units: number): void {
    if (this.fn === undefined) return;
    this.done = Math.min(this.total, this.done + units);
    if (this.done - this.last >= this.total / 100) {
      this.last = this.done;
      this.fn(this.done, this.total);
    }
  }
  finish(): void {
    this.fn?.(this.total, this.total);
  }
}

// ---------------------------------------------------------------------------------------------------
// k-means
//
// Budget (100k x 128, nlist 316): an exact assignment of every row to its nearest centroid alone is
// n * nlist * dim = 4e9 multiply-adds, ~8 s of V8 float loops on the build machine; the triangle
// inequality prunes almost nothing in 128 dimensions (a point is about as far from its own centroid as
// centroids are from each other). So assignments are approximate and bounded:
// - a coarse level: the centroids are grouped (k-means over the centroids) into G ~ 1.5 sqrt(3 nlist)
//   groups; a point is compared with the G group centers, then with the members of its 3 nearest groups;
// - a refinement: from a guess, the point is compared with the guess's nearest centroids (8; 32 during
//   Lloyd iterations, where centroids move), walking to a better one (at most 3 steps), stopping early
//   where the triangle inequality proves the rest cannot win.
// Lloyd iterations refine each training point from its previous centroid. About 70 distances per row
// instead of 316 at nlist 316, and 99.9% of rows land in their exact nearest centroid (measured on
// 100 Gaussian clusters in 128-d); a rare misassignment costs a little recall, which probing recovers.
// Measured 100k x 128 build (single thread, machine shared, so noisy): 2.3-3.5 s in total, of which
// k-means++ seeding ~0.2 s, assigning the training sample ~0.3 s, Lloyd ~0.4 s, assigning all rows
// ~1.3-2.4 s, the rest (normalize, sort, write, checksums) ~0.5 s.

/** Lloyd iterations on the training sample (stops earlier once < 0.5% of the sample moves). */
const KMEANS_ITERATIONS = 6;
/** Training sample: at most max(nlist * 32, 10000) rows. */
const SAMPLE_PER_CLUSTER = 32;
const SAMPLE_MIN = 10_000;
/** k-means++ seeding runs on a random subset of the training sample of at most this many rows per cluster. */
const SEED_PER_CLUSTER = 8;
/** Candidate centroids per refinement step: while training (centroids move), and for the final pass. */
const NEIGHBORS_TRAIN = 32;
const NEIGHBORS_FINAL = 8;
/** Coarse groups compared in full per point. */
const GROUP_PROBES = 3;

/** splitmix32: a tiny seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Approximate nearest-centroid search over a fixed set of centroids (see the section comment). */
class Assigner {
  private readonly m: number;
  private readonly nbr: Uint32Array;
  private readonly nbrDist: Float64Array;
  private readonly stamp: Uint32Array;
  private readonly cache: Float64Array;
  private epoch = 0;
  private groups = 0;
  private groupCent = new Float32Array(0);
  private memberStart = new Uint32Array(1);
  private members = new Uint32Array(0);
  /** the centroids in `members` order, so that every group's members are consecutive rows */
  private permuted = new Float32Array(0);
  private gd = new Float64Array(0);
  private md = new Float64Array(0);
  /** Distance from the last point to the centroid returned for it. */
  lastDist = 0;

  constructor(
    private readonly cent: Float32Array,
    private readonly k: number,
    private readonly dim: number,
    neighbors: number,
    withGroups: boolean,
  ) {
    const m = Math.min(k - 1, neighbors);
    this.m = m;
    this.nbr = new Uint32Array(k * m);
    this.nbrDist = new Float64Array(k * m).fill(Infinity);
    this.stamp = new Uint32Array(k);
    this.cache = new Float64Array(k);
    // the m nearest other centroids of every centroid, ascending (insertion into a short sorted list)
    const nbr = this.nbr;
    const nd = this.nbrDist;
    for (let a = 0; a < k; a++) {
      for (let b = a + 1; b < k; b++) {
        const d = Math.sqrt(l2sq(cent, a * dim, cent, b * dim, dim));
        insertNeighbor(nbr, nd, a * m, m, b, d);
        insertNeighbor(nbr, nd, b * m, m, a, d);
      }
    }
    if (withGroups) this.buildGroups();
  }

  private buildGroups(): void {
    const { cent, k, dim } = this;
    const g = Math.min(k, Math.max(1, Math.round(1.5 * Math.sqrt(GROUP_PROBES * k))));
    const gc = new Float32Array(g * dim);
    const seeds = farthestFirst(cent, k, dim, g);
    for (let i = 0; i < g; i++) gc.set(cent.subarray(seeds[i]! * dim, (seeds[i]! + 1) * dim), i * dim);
    const of = new Uint32Array(k);
    const sums = new Float64Array(g * dim);
    const counts = new Uint32Array(g);
    for (let it = 0; it < 6; it++) {
      for (let c = 0; c < k; c++) {
        let best = 0;
        let bd = Infinity;
        for (let i = 0; i < g; i++) {
          const d = l2sq(cent, c * dim, gc, i * dim, dim);
          if (d < bd) {
            bd = d;
            best = i;
          }
        }
        of[c] = best;
      }
      if (it === 5) break;
      sums.fill(0);
      counts.fill(0);
      for (let c = 0; c < k; c++) {
        const i = of[c]!;
        counts[i]!++;
        for (let j = 0; j < dim; j++) sums[i * dim + j]! += cent[c * dim + j]!;
      }
      for (let i = 0; i < g; i++) {
        if (counts[i] === 0) continue;
        for (let j = 0; j < dim; j++) gc[i * dim + j] = sums[i * dim + j]! / counts[i]!;
      }
    }
    const start = new Uint32Array(g + 1);
    for (let c = 0; c < k; c++) start[of[c]! + 1]!++;
    for (let i = 0; i < g; i++) start[i + 1]! += start[i]!;
    const fill = start.slice(0, g);
    const members = new Uint32Array(k);
    for (let c = 0; c < k; c++) members[fill[of[c]!]!++] = c;
    const permuted = new Float32Array(k * dim);
    let largest = 0;
    for (let j = 0; j < k; j++) permuted.set(cent.subarray(members[j]! * dim, (members[j]! + 1) * dim), j * dim);
    for (let i = 0; i < g; i++) largest = Math.max(largest, start[i + 1]! - start[i]!);
    this.groups = g;
    this.groupCent = gc;
    this.memberStart = start;
    this.members = members;
    this.permuted = permuted;
    this.gd = new Float64Array(g);
    this.md = new Float64Array(largest);
  }

  /** Starts a new point: forgets the distances cached for the previous one. */
  begin(): void {
    this.epoch = (this.epoch + 1) >>> 0;
    if (this.epoch === 0) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
  }

  /** d(x, c), computed once per point. */
  private dist(x: Float32Array, xo: number, c: number): number {
    if (this.stamp[c] === this.epoch) return this.cache[c]!;
    const v = Math.sqrt(l2sq(x, xo, this.cent, c * this.dim, this.dim));
    this.stamp[c] = this.epoch;
    this.cache[c] = v;
    return v;
  }

  /** Nearest centroid to x[xo ..+dim) through the coarse groups, then refined. Needs withGroups. */
  assign(x: Float32Array, xo: number): number {
    this.begin();
    const g = this.groups;
    const gd = this.gd;
    const dim = this.dim;
    const start = this.memberStart;
    l2sqRows(x, xo, this.groupCent, 0, g, dim, gd, 0);
    for (let i = 0; i < g; i++) if (start[i + 1] === start[i]) gd[i] = Infinity;
    let best = -1;
    let dbest = Infinity;
    const md = this.md;
    for (let p = 0; p < GROUP_PROBES && p < g; p++) {
      let gi = -1;
      for (let i = 0; i < g; i++) if (gd[i]! < Infinity && (gi < 0 || gd[i]! < gd[gi]!)) gi = i;
      if (gi < 0) break;
      gd[gi] = Infinity;
      const s = start[gi]!;
      const cnt = start[gi + 1]! - s;
      l2sqRows(x, xo, this.permuted, s, cnt, dim, md, 0);
      for (let j = 0; j < cnt; j++) {
        const c = this.members[s + j]!;
        const d = Math.sqrt(md[j]!);
        this.stamp[c] = this.epoch;
        this.cache[c] = d;
        if (d < dbest || (d === dbest && c < best)) {
          dbest = d;
          best = c;
        }
      }
    }
    return this.walk(x, xo, best);
  }

  /** Nearest centroid to x[xo ..+dim), starting from `guess`. */
  refine(x: Float32Array, xo: number, guess: number): number {
    this.begin();
    return this.walk(x, xo, guess);
  }

  private walk(x: Float32Array, xo: number, guess: number): number {
    const m = this.m;
    const nbr = this.nbr;
    const nbrDist = this.nbrDist;
    let a = guess;
    let da = this.dist(x, xo, a);
    let best = a;
    let dbest = da;
    for (let step = 0; step < 3; step++) {
      const base = a * m;
      for (let j = 0; j < m; j++) {
        // d(x, c) >= d(a, c) - d(x, a): neither this centroid nor any later one can beat dbest
        if (nbrDist[base + j]! - da >= dbest) break;
        const c = nbr[base + j]!;
        const dc = this.dist(x, xo, c);
        if (dc < dbest || (dc === dbest && c < best)) {
          best = c;
          dbest = dc;
        }
      }
      if (best === a) break;
      a = best;
      da = dbest;
    }
    this.lastDist = dbest;
    return best;
  }
}

function insertNeighbor(nbr: Uint32Array, nd: Float64Array, base: number, m: number, c: number, d: number): void {
  if (!(d < nd[base + m - 1]!)) return;
  let j = m - 1;
  while (j > 0 && nd[base + j - 1]! > d) {
    nd[base + j] = nd[base + j - 1]!;
    nbr[base + j] = nbr[base + j - 1]!;
    j--;
  }
  nd[base + j] = d;
  nbr[base + j] = c;
}

function kmeans(
  rows: Rows,
  n: number,
  dim: number,
  k: number,
  seed: number,
  progress: Progress,
): { centroids: Float32Array; assign: Uint32Array } {
  const rand = rng(seed);
  const t = Math.min(n, Math.max(k * SAMPLE_PER_CLUSTER, SAMPLE_MIN));
  progress.total = t * (KMEANS_ITERATIONS + 1) + n;

  // training sample in random order (a seeded partial Fisher-Yates), so any prefix is a random subset
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < t; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const tmp = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = tmp;
  }
  const x = new Float32Array(t * dim);
  const sampleOf = new Int32Array(n).fill(-1);
  for (let i = 0; i < t; i++) {
    const r = perm[i]!;
    sampleOf[r] = i;
    const o = rows.at(r);
    x.set(rows.arr.subarray(o, o + dim), i * dim);
  }
  const { cent, assign } = trainCentroids(x, t, dim, k, rand, progress);

  const a = new Assigner(cent, k, dim, NEIGHBORS_FINAL, true);
  const out = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    const s = sampleOf[r]!;
    const o = rows.at(r);
    out[r] = s >= 0 ? a.refine(rows.arr, o, assign[s]!) : a.assign(rows.arr, o);
    if ((r & 1023) === 1023) progress.advance(1024);
  }
  return { centroids: cent, assign: out };
}

/**
 * k-means over a training sample: k-means++ seeding on a prefix of the sample (its rows must be in random
 * order), then Lloyd iterations with approximate assignments (Assigner). Returns the centroids and each
 * sample row's cluster. `rand` continues the caller's seeded sequence (same seed, same centroids).
 */
function trainCentroids(x: Float32Array, t: number, dim: number, k: number, rand: () => number, progress: Progress): { cent: Float32Array; assign: Uint32Array } {
  const cent = new Float32Array(k * dim);
  kmeansPlusPlus(x, Math.min(t, Math.max(k * SEED_PER_CLUSTER, 1000)), dim, k, rand, cent);
  const assign = new Uint32Array(t);
  const pdist = new Float64Array(t); // distance of each sample point to its centroid
  {
    const a = new Assigner(cent, k, dim, NEIGHBORS_FINAL, true);
    for (let i = 0; i < t; i++) {
      assign[i] = a.assign(x, i * dim);
      pdist[i] = a.lastDist;
    }
  }
  progress.advance(t);

  const sums = new Float64Array(k * dim);
  const counts = new Uint32Array(k);
  const update = (): void => {
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < t; i++) {
      const c = assign[i]!;
      counts[c]!++;
      const so = c * dim;
      const xo = i * dim;
      for (let j = 0; j < dim; j++) sums[so + j]! += x[xo + j]!;
    }
    for (let c = 0; c < k; c++) {
      const cnt = counts[c]!;
      if (cnt === 0) continue;
      for (let j = 0; j < dim; j++) cent[c * dim + j] = sums[c * dim + j]! / cnt;
    }
    // an empty cluster takes over the sample point farthest from its centroid (deterministic)
    for (let c = 0; c < k; c++) {
      if (counts[c]! > 0) continue;
      let far = -1;
      for (let i = 0; i < t; i++) {
        if (counts[assign[i]!]! > 1 && (far < 0 || pdist[i]! > pdist[far]!)) far = i;
      }
      if (far < 0) break; // fewer distinct points than clusters; left empty, dropped at write
      counts[assign[far]!]!--;
      assign[far] = c;
      counts[c] = 1;
      pdist[far] = 0;
      cent.set(x.subarray(far * dim, (far + 1) * dim), c * dim);
    }
  };

  for (let it = 0; it < KMEANS_ITERATIONS; it++) {
    update();
    const a = new Assigner(cent, k, dim, NEIGHBORS_TRAIN, false);
    let moved = 0;
    for (let i = 0; i < t; i++) {
      const c = a.refine(x, i * dim, assign[i]!);
      pdist[i] = a.lastDist;
      if (c !== assign[i]) {
        assign[i] = c;
        moved++;
      }
    }
    progress.advance(t);
    if (moved <= t * 0.005) break;
  }
  update();
  return { cent, assign };
}

/**
 * k-means++ seeding (D^2 sampling) over the first s rows of x, pruned with the triangle inequality:
 * a new centroid c cannot be nearer to a point than its current centroid a when d(a, c) >= 2 d(x, a).
 */
function kmeansPlusPlus(x: Float32Array, s: number, dim: number, k: number, rand: () => number, cent: Float32Array): void {
  const minSq = new Float64Array(s);
  const minD = new Float64Array(s);
  const near = new Uint32Array(s);
  const dcc = new Float64Array(k);
  const first = Math.floor(rand() * s);
  cent.set(x.subarray(first * dim, (first + 1) * dim), 0);
  let sum = 0;
  for (let i = 0; i < s; i++) {
    const d = l2sq(x, i * dim, cent, 0, dim);
    minSq[i] = d;
    minD[i] = Math.sqrt(d);
    sum += d;
  }
  for (let c = 1; c < k; c++) {
    let pick = Math.floor(rand() * s);
    if (sum > 0) {
      let r = rand() * sum;
      for (let i = 0; i < s; i++) {
        r -= minSq[i]!;
        if (r < 0) {
          pick = i;
          break;
        }
      }
    }
    const co = c * dim;
    cent.set(x.subarray(pick * dim, (pick + 1) * dim), co);
    for (let a = 0; a < c; a++) dcc[a] = Math.sqrt(l2sq(cent, a * dim, cent, co, dim));
    sum = 0;
    for (let i = 0; i < s; i++) {
      if (dcc[near[i]!]! < 2 * minD[i]!) {
        const d = l2sq(x, i * dim, cent, co, dim);
        if (d < minSq[i]!) {
          minSq[i] = d;
          minD[i] = Math.sqrt(d);
          near[i] = c;
        }
      }
      sum += minSq[i]!;
    }
  }
}

/** `count` centroids spread out by farthest-first traversal from centroid 0. */
function farthestFirst(cent: Float32Array, k: number, dim: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  const dmin = new Float64Array(k).fill(Infinity);
  let cur = 0;
  for (let p = 0; p < count; p++) {
    out[p] = cur;
    let next = 0;
    let far = -1;
    for (let c = 0; c < k; c++) {
      const d = l2sq(cent, c * dim, cent, cur * dim, dim);
      if (d < dmin[c]!) dmin[c] = d;
      if (dmin[c]! > far) {
        far = dmin[c]!;
        next = c;
      }
    }
    cur = next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// exact scan of in-memory vectors

/**
 * Exact top-k over in-memory rows (unflushed vectors), scored exactly like a segment would score them
 * (cosine rows are normalized the same way first). `allow` filters by row index. Returns row indexes.
 */
export function exactTopK(
  vectors: Float32Array,
  dim: number,
  metric: Metric,
  query: Float32Array,
  k: number,
  allow?: (row: number) => boolean,
  tie?: TieBreak,
): { rows: Uint32Array; scores: Float32Array } {
  checkQuery(query, dim);
  const n = Math.floor(vectors.length / dim);
  const heap = new TopK(k, tie);
  if (heap.k === 0 || n === 0) return { rows: new Uint32Array(0), scores: new Float32Array(0) };
  const q = prepareQuery(metric, query);
  if (metric !== 'cosine' && allow === undefined) {
    // Rows scored in place, a block at a time.
    const BLOCK = 256;
    const idx = new Uint32Array(BLOCK);
    const sc = new Float64Array(BLOCK);
    for (let r0 = 0; r0 < n; r0 += BLOCK) {
      const cnt = Math.min(BLOCK, n - r0);
      const hits = scoreRowsAbove(metric, q, vectors, r0, cnt, dim, heap.floor, idx, sc);
      for (let j = 0; j < hits; j++) heap.push(sc[j]!, r0 + idx[j]!);
    }
  } else {
    let list: Uint32Array;
    if (allow === undefined) {
      list = new Uint32Array(n);
      for (let r = 0; r < n; r++) list[r] = r;
    } else {
      const picked: number[] = [];
      for (let r = 0; r < n; r++) if (allow(r)) picked.push(r);
      list = Uint32Array.from(picked);
    }
    gatherTopK(vectors, dim, metric, q, list, heap);
  }
  const { ords, scores } = heap.result();
  return { rows: ords, scores };
}

/**
 * Exact top-k over the listed rows of a row-major matrix of stored (not normalized) vectors; returns the
 * rows' own indexes. Used for a filter that matches few documents of a segment held in memory: scores
 * straight from the segment's vector section, without copying the matching vectors out first.
 */
export function exactTopKRows(
  vectors: Float32Array,
  dim: number,
  metric: Metric,
  query: Float32Array,
  k: number,
  rows: Uint32Array,
  tie?: TieBreak,
): { rows: Uint32Array; scores: Float32Array } {
  checkQuery(query, dim);
  const heap = new TopK(k, tie);
  if (heap.k === 0 || rows.length === 0) return { rows: new Uint32Array(0), scores: new Float32Array(0) };
  gatherTopK(vectors, dim, metric, prepareQuery(metric, query), rows, heap, metric === 'cosine' ? inverseNorms(vectors, dim) : null);
  const { ords, scores } = heap.result();
  return { rows: ords, scores };
}

/**
 * 1 / |row| of each row of a matrix held for many queries (a segment in memory), computed on a row's first
 * use exactly as normalizeInto computes it (NaN = not yet), so that normalizing with it gives the same bits:
 * a cosine exact scan then costs one multiply per value instead of a norm and a multiply.
 */
const inverseNormsOf = new WeakMap<Float32Array, Float64Array>();
function inverseNorms(vectors: Float32Array, dim: number): Float64Array {
  let inv = inverseNormsOf.get(vectors);
  if (inv === undefined || inv.length !== Math.floor(vectors.length / dim)) {
    inv = new Float64Array(Math.floor(vectors.length / dim)).fill(Number.NaN);
    inverseNormsOf.set(vectors, inv);
  }
  return inv;
}

/** Computes every row's inverse norm not yet computed (see inverseNorms). */
function fillAllInverseNorms(vectors: Float32Array, dim: number, invNorms: Float64Array): void {
  for (let r = 0; r < invNorms.length; r++) if (Number.isNaN(invNorms[r]!)) invNorms[r] = inverseNorm(vectors, r * dim, dim);
}

/**
 * gatherTopK's scratch, reused by every call (the function is synchronous): a block of 256 rows is 128 KiB
 * at 128 dimensions, and a fresh one per call (per segment of each filtered query) was external memory
 * enough to make V8 run a full collection every few queries of a `--batch` over a 1M namespace.
 */
const GATHER_BLOCK = 256;
const gatherScratch = { idx: new Uint32Array(GATHER_BLOCK), sc: new Float64Array(GATHER_BLOCK), tmp: new Float32Array(0) };

/**
 * Where touchRows leaves the sum of the values it read, so that the compiler cannot drop the reads. Never
 * read: its value means nothing.
 */
const touchSink = { sum: 0 };

/**
 * Reads one float of every 64-byte line of the listed rows (list[from .. from + count), each `dim` floats
 * of `src` at row * dim) and, when given, each row's entry of `perRow`, before a gather copies them.
 *
 * Why: the rows a gather visits (a selective filter's matches, a query's re-ranking candidates) are scattered
 * over a matrix of hundreds of MB, so each costs a cache and TLB miss, and a copy loop meets them one row at
 * a time: the next row's miss starts only when the current row's copy has left the processor's reorder
 * window. These loads depend on nothing but the list, so the processor runs dozens of misses at once;
 * the copy that follows then finds the rows in cache. Measured on the 2-vCPU VM (10 segments x 1% of
 * 98,304 rows of a 1M x 128 matrix, the copy normalizing for cosine): 3.8-4.1 ms a query copying alone,
 * 1.6-2.4 ms with this pass first; touching only every row's first line, or rows a few ahead of the copy,
 * 2.5-3.3 ms (bench/gather.mjs; docs/performance.md, "Session 25"). The results do not change: the pass
 * only reads.
 */
function touchRows(src: Float32Array, dim: number, list: Uint32Array, from: number, count: number, perRow: Float64Array | null): void {
  let t = 0;
  for (let j = 0; j < count; j++) {
    const r = list[from + j]!;
    const s = r * dim;
    for (let i = 0; i < dim; i += 16) t += src[s + i]!;
    if (perRow !== null) t += perRow[r]!;
  }
  touchSink.sum = t;
}

/** Scores the listed rows (gathered, normalized for cosine, into a scratch block) into `heap`. */
function gatherTopK(vectors: Float32Array, dim: number, metric: Metric, q: Float32Array, list: Uint32Array, heap: TopK, invNorms: Float64Array | null = null): void {
  const BLOCK = GATHER_BLOCK;
  const { idx, sc } = gatherScratch;
  if (gatherScratch.tmp.length < BLOCK * dim) gatherScratch.tmp = new Float32Array(BLOCK * dim);
  const tmp = gatherScratch.tmp;
  for (let b0 = 0; b0 < list.length; b0 += BLOCK) {
    const cnt = Math.min(BLOCK, list.length - b0);
    touchRows(vectors, dim, list, b0, cnt, invNorms);
    const hits = scoreGathered(vectors, dim, metric, q, list, b0, cnt, invNorms, heap.floor, idx, sc, tmp);
    for (let j = 0; j < hits; j++) heap.push(sc[j]!, list[b0 + idx[j]!]!);
  }
}

/**
 * Scores rows list[from .. from+count) of `vectors` (normalized for cosine: by `invNorms` when given, else
 * by normalizeInto) into idx / sc as scoreRowsAbove does: straight into the kernels' memory when they can
 * (scoreGatheredAbove), else gathered into `tmp` first. Both give the same values, bit for bit.
 */
function scoreGathered(vectors: Float32Array, dim: number, metric: Metric, q: Float32Array, list: Uint32Array, from: number, count: number, invNorms: Float64Array | null, floor: number, idx: Uint32Array, sc: Float64Array, tmp: Float32Array): number {
  if (invNorms !== null) fillInverseNorms(vectors, dim, invNorms, list, from, count);
  const n = scoreGatheredAbove(metric, q, vectors, dim, list, from, count, invNorms, floor, idx, sc);
  if (n >= 0) return n;
  if (invNorms !== null) gatherNormalized(vectors, dim, invNorms, list, from, count, tmp);
  else gatherRows(vectors, dim, metric === 'cosine', list, from, count, tmp);
  return scoreRowsAbove(metric, q, tmp, 0, count, dim, floor, idx, sc);
}

/** Sets invNorms[r] (inverseNorm: normalizeInto's factor, 0 for a zero row) of each listed row not yet computed (NaN). */
function fillInverseNorms(vectors: Float32Array, dim: number, invNorms: Float64Array, list: Uint32Array, from: number, count: number): void {
  for (let j = 0; j < count; j++) {
    const r = list[from + j]!;
    if (Number.isNaN(invNorms[r]!)) invNorms[r] = inverseNorm(vectors, r * dim, dim);
  }
}

function gatherRows(vectors: Float32Array, dim: number, normalize: boolean, list: Uint32Array, from: number, count: number, out: Float32Array): void {
  for (let j = 0; j < count; j++) {
    const r = list[from + j]!;
    if (normalize) normalizeInto(vectors, r * dim, out, j * dim, dim);
    else out.set(vectors.subarray(r * dim, (r + 1) * dim), j * dim);
  }
}

/**
 * gatherRows normalizing with cached inverse norms (see inverseNorms; every listed row's set by
 * fillInverseNorms first): the same values, bit for bit.
 */
function gatherNormalized(vectors: Float32Array, dim: number, invNorms: Float64Array, list: Uint32Array, from: number, count: number, out: Float32Array): void {
  for (let j = 0; j < count; j++) {
    const r = list[from + j]!;
    const inv = invNorms[r]!;
    const s = r * dim;
    const d = j * dim;
    for (let i = 0; i < dim; i++) out[d + i] = vectors[s + i]! * inv;
  }
}

// ---------------------------------------------------------------------------------------------------
// reader

export interface IvfOpenOptions {
  /**
   * Upper bound of the bytes of loaded clusters kept in this reader's LRU cache (default 64 MiB, a
   * 100k x 128 index fits; the most recently loaded cluster is always kept). Over a MemorySource
   * clusters are views of its buffer, so the cache holds no copies.
   */
  cacheBytes?: number;
  /**
   * For a reader queried many times (`query --batch`): cached clusters are also pinned into the
   * WebAssembly kernels' memory and scored there in place, instead of being copied in on every scan.
   * Costs one more copy of the cached clusters; `release()` (or garbage collection of the reader) frees it.
   */
  resident?: boolean;
  /**
   * The original (stored, not normalized) vector of a document ordinal, or null when it has none. Needed
   * to read a version 2 file (whose clusters hold only quantized codes): `search` re-scores its candidates
   * with it, `exact`, `exactOrds`, `vectorOf` and `forEach` read every vector through it. Ignored for
   * version 1 files. A returned array is not kept or modified.
   */
  vectorOf?: (ord: number) => Float32Array | null;
  /**
   * Optional, with `vectorOf`: the same vector written into `out` (dim floats), false when the ordinal has
   * none. Re-ranking reads through it when given (one scratch row, no array per candidate; a reader that
   * answers one query, see transientClusters).
   */
  vectorInto?: (ord: number, out: Float32Array) => boolean;
  /**
   * The same vectors as one row-major matrix by ordinal (`data`: size x dim float32; `present[ord]` 1
   * where the document has a vector), or null when they are not held in memory. Called once per scoring
   * pass: when it gives a matrix, re-ranking copies candidate rows straight out of it instead of calling
   * `vectorOf` per candidate (a view allocated and a lookup per row: 0.93 -> 0.49 us a row at 128
   * dimensions in a micro-benchmark; within noise in a 1M batch, where the copy itself is memory-bound,
   * docs/performance.md session 14). Same bytes either way, so the same scores bit for bit.
   */
  vectorMatrix?: () => { data: Float32Array; present: Uint8Array } | null;
  /**
   * For a reader that answers one query (a single `elacsym query`): clusters of 4-bit codes are read into
   * one scratch buffer shared by all readers, verified there and scanned, and not cached. Each cluster is
   * probed once per query, so a cache only made every cluster new memory to touch (first-touched pages
   * cost ~11 us each on the VMs we measure on: ~150 a segment). Ignored with `resident`, and for a source
   * without `readInto` (a file held in memory: its clusters are views already).
   */
  transientClusters?: boolean;
}

/**
 * The buffer transient clusters (IvfOpenOptions.transientClusters) are read into. A Cluster made from it is
 * valid until the next cluster read of any reader; every caller uses a cluster before it loads the next.
 */
let clusterScratch = new Uint8Array(0);

/**
 * The buffer a transient reader's IVF directory is read into at open (verified there; the quantizer,
 * offsets and cluster checksums copied out, the CRC-32 of the centroids taken) and its centroids again at
 * each search (checked against that CRC-32). A cold query over 1M documents in 10 segments read 10
 * directories of 160 KB into fresh memory, for centroids each scored once: ~400 page faults, ~4 ms here
 * (docs/performance.md, "Session 32").
 */
let directoryScratch = new Uint8Array(0);
function directoryBuffer(length: number): Uint8Array {
  if (directoryScratch.length < length) directoryScratch = new Uint8Array(Math.max(length, 2 * directoryScratch.length));
  return directoryScratch.subarray(0, length);
}

/** The row originalInto reads a vector into through IvfOpenOptions.vectorInto (used before the next read). */
let vectorScratch = new Float32Array(0);

/** probeOrder's digit counts (one pass at a time; a search is synchronous). */
const RADIX_COUNTS = new Uint32Array(256);

/** One float32 and its bits (probeOrder's order-preserving keys), shared: a query runs to its end before the next. */
const F32_BITS = (() => {
  const f = new Float32Array(1);
  return { f, bits: new Uint32Array(f.buffer) };
})();

/** Frees the pinned rows of readers that were dropped without release(). */
const unpinOnCollect = new FinalizationRegistry<Set<PinnedRows>>((pins) => {
  for (const p of pins) unpinRows(p);
  pins.clear();
});

export interface IvfSearchOptions {
  /** Clusters to probe; default `defaultNprobe`. Raised automatically with a filter, see `search`. */
  nprobe?: number;
  /**
   * Version 5: a score the caller's top k already reaches (the k-th best of other segments' exact scores):
   * candidates whose exact score could not reach it are not re-scored, and the list is not widened for
   * them. Default -Infinity.
   */
  floor?: number;
  /** Only documents for which this returns true are candidates. */
  allow?: (ord: number) => boolean;
  /**
   * The same filter as `allow` as one byte per ordinal (1 = allowed, 0 = not; no other value), when the
   * caller holds it (the engine's filter mask). A 4-bit file's scan then tests each row against it inside
   * the kernel and scores only allowed rows (scoreNibblesMaskedAbove): the same hits, for the rows not
   * allowed a byte test instead of a row scored. Used only with `allow`, never instead of it.
   */
  mask?: Uint8Array;
  /** The caller's estimate of the fraction of documents `allow` accepts, in (0, 1]. */
  selectivity?: number;
  /** Orders ordinals of equal score (default: ascending ordinal). */
  tie?: TieBreak;
  /** Version 2: candidates re-scored exactly (at least k; default `rerankCount(k)`). Ignored for version 1. */
  rerank?: number;
}

export interface IvfStats {
  /** Bytes read from the source since open (header, directory, clusters, ord index, rows). */
  bytesRead: number;
  reads: number;
  cachedClusters: number;
  cachedBytes: number;
  /** Clusters probed by the last `search`. */
  lastProbes: number;
  /** Candidates the last `search` re-scored from the original vectors (version 2; 0 for version 1). */
  lastCandidates: number;
  /** Resident version 5, l2 and cosine: clusters whose quadratic terms are kept, summed over the exponents of g met. */
  termClusters: number;
}

interface Cluster {
  ords: Uint32Array;
  /**
   * Version 1: the stored vectors (views of the read bytes); version 2: the decoded codes (as floats
   * for 'affine' rows); null when `codes` is held instead.
   */
  vecs: Float32Array | null;
  /**
   * Version 2, 'affine' rows of a dot or cosine file, with the WebAssembly kernels: the uint8 codes as
   * stored (row stride cstride), scored by `scoreCodesAbove` (a quarter of the bytes of `vecs`).
   */
  codes: Uint8Array | null;
  bytes: number;
  /** The same rows as vecs (or codes), pinned into the kernels' memory (resident readers), else null. */
  pinned: PinnedRows | null;
  /**
   * Version 5, for the masked kernels: the cluster pinned whole (a resident reader: its rows, which
   * `pinned` views, then its ordinals; see pinClusterRows), or its bytes as read (ordinals, then rows)
   * when `ords` and `codes` are views of them; null when neither (the plain scan then).
   */
  block: PinnedRows | Uint8Array | null;
  /** Its cluster number. */
  c: number;
}

interface ScanQuery {
  q: Float32Array;
  mul: number;
  add: number;
  /** For clusters holding codes: q quantized to int16 (cstride values, zero-padded); score = mul16 * kernel + add. */
  q16: Int16Array | null;
  mul16: number;
  /** Version 5, l2 and cosine: the unit of candidate scores (see rankScale); 1 otherwise. */
  norm2?: number;
  /** Version 5, l2 and cosine: q - min, and the kernel's F by exponent of g (see nibbleQuery). */
  a?: Float64Array;
  fByExp?: Map<number, Int16Array>;
  /** Version 5, l2 and cosine: the g of the last cluster nibbleQuery transformed the query for. */
  gLast?: number;
}

/** nibbleQuery's answer: the kernel query, candidate score = mul * kernel + add. */
interface NibbleQuery {
  q16: Int16Array;
  mul: number;
  add: number;
  /** l2 and cosine: the exponent of g, which fixes F (the rows' quadratic terms depend on it); null for dot and degenerate clusters. */
  exp: number | null;
}

/**
 * A resident reader's quadratic terms of its rows for one exponent of g (see scanWithTerms): one i32 a
 * row in the kernels' memory, in the file's row order (cluster c's at 4 * offsets[c]), and which clusters'
 * terms are computed so far.
 */
interface TermSlab {
  block: PinnedRows;
  filled: Uint8Array;
}

/**
 * Exponents of g whose quadratic terms a resident reader keeps (the oldest dropped first). Queries near
 * the data meet one or two a segment (the bench's 1M queries: 2), each 4 bytes a row of pinned memory.
 */
const TERM_EXPONENTS = 4;

interface OrdIndex {
  sortedOrds: Uint32Array;
  rows: Uint32Array;
}

export class IvfReader {
  readonly dim: number;
  readonly metric: Metric;
  /** Number of rows (documents with a vector). */
  readonly size: number;
  readonly nlist: number;
  /**
   * The fewest clusters `search` probes without `opts.nprobe`: max(8, ceil(nlist / 20)), at most nlist.
   * Per query it probes more to scan at least 4096 rows, and may add up to twice as many again, see
   * `search`.
   */
  readonly defaultNprobe: number;
  /** File version: 1 (float32 clusters), 2 or 4 (int8 codes, exact re-ranking; 4 without an ord index), 5 (4-bit residual codes). */
  readonly version: 1 | 2 | 4 | 5;

  private readonly layout: Layout;
  private readonly qmin: Float32Array;
  private readonly qscale: Float32Array;
  /**
   * Version 2: how clusters are held and scored. 'affine' (every cosine/dot file, l2 files with one step
   * for all dimensions): cached rows are the codes as floats (a native conversion, no per-value JS),
   * and a query is transformed instead, see `transformQuery`. 'decoded': rows decoded in JS first.
   */
  private readonly codeMode: 'affine' | 'decoded';
  private readonly original: ((ord: number) => Float32Array | null) | undefined;
  /** IvfOpenOptions.vectorInto (named apart from the method that uses it). */
  private readonly originalInto_: ((ord: number, out: Float32Array) => boolean) | undefined;
  private readonly originalMatrix: (() => { data: Float32Array; present: Uint8Array } | null) | undefined;
  /** Row-major nlist x dim; a transient reader's is a view of directoryScratch, valid during one search (searchCentroids). */
  private centroids: Float32Array;
  /** Transient readers: the CRC-32 of the centroids' bytes, taken from the verified directory at open; else null. */
  private readonly centroidsCrc: number | null;
  private readonly offsets: Uint32Array;
  private readonly crcs: Uint32Array;
  private readonly ordIndexCrc: number;
  private readonly cacheLimit: number;
  /** IvfOpenOptions.transientClusters, where it applies (version 5, a source with readInto, not resident). */
  private readonly transient: boolean;
  private readonly cache = new Map<number, Cluster>();
  private resident: boolean;
  /** Pinned rows of cached clusters (shared with the finalization registry, which must not hold `this`). */
  private readonly pins = new Set<PinnedRows>();
  private cacheBytes = 0;
  private ordIndex: OrdIndex | null = null;
  /** The centroids pinned into the kernels' memory (resident readers; undefined until the first query). */
  private pinnedCentroids: PinnedRows | null | undefined;
  /**
   * Cosine, version 2: 1 / |original vector| by ordinal, in pages of INV_PAGE ordinals made on first use
   * (see rowInto): 0 = not computed yet, -1 = a zero vector (whose inverse norm is 0), else the value.
   */
  private invPages: (Float64Array | undefined)[] = [];
  /**
   * Cosine, re-ranking from an in-memory matrix (IvfOpenOptions.vectorMatrix: `--batch`, `serve`): that
   * matrix's inverse norms, the one flat array an exact scan of it fills too (inverseNorms: NaN = not yet,
   * 0 = a zero vector). invPages' lookup was two more dependent cache misses per scattered candidate (the
   * array of pages, then the page's own buffer). Null until the first re-ranking from a matrix.
   */
  private matrixNorms: Float64Array | null = null;
  private bytesRead: number;
  private reads: number;
  private lastProbes = 0;
  private lastCandidates = 0;
  /**
   * search's exact scores of its first candidates (see codingBound), reused: valid during one search. At
   * least n scores: the whole buffer, of which callers use the first n (a view of them was garbage).
   */
  private exactScratch(n: number): Float64Array {
    if (this.exactBuf.length < n) this.exactBuf = new Float64Array(Math.max(n, 64));
    return this.exactBuf;
  }
  private exactBuf = new Float64Array(0);
  /** The unit of this reader's last probe's l2 and cosine candidate scores (nibbleQuery's norm2; see codingBound). */
  private lastNorm2 = 1;
  /** search's coding bound (version 5), reused search after search. */
  private bound: CodingBound | null = null;
  private gather = new Float32Array(0);
  /** Version 5, l2 and cosine: the per-cluster kernel query (see nibbleQuery), reused. */
  private l2q16 = new Int16Array(0);
  /** The exponent whose F the second half of l2q16 holds (NaN: none). */
  private l2q16Exp = NaN;
  /** g * 2s per dimension for the g in gsxOf (see nibbleQuery; it depends on g and the steps alone). */
  private gsx = new Float64Array(0);
  private gsxOf = NaN;
  private gsx2For(g: number): Float64Array {
    if (this.gsxOf === g && this.gsx.length === this.dim) return this.gsx;
    const { sx2 } = this.stepTerms();
    if (this.gsx.length !== this.dim) this.gsx = new Float64Array(this.dim);
    for (let d = 0; d < this.dim; d++) this.gsx[d] = g * sx2[d]!;
    this.gsxOf = g;
    return this.gsx;
  }
  private steps: { sx2: Float64Array; sq15: Float64Array; sq: Float64Array; width: number } | null = null;
  private scores = new Float64Array(0);
  private idx = new Uint32Array(0);

  private constructor(
    private readonly src: ByteSource,
    f: {
      version: 1 | 2 | 4 | 5;
      qmin: Float32Array;
      qscale: Float32Array;
      original: ((ord: number) => Float32Array | null) | undefined;
      originalInto: ((ord: number, out: Float32Array) => boolean) | undefined;
      originalMatrix: (() => { data: Float32Array; present: Uint8Array } | null) | undefined;
      dim: number;
      metric: Metric;
      n: number;
      nlist: number;
      centroids: Float32Array;
      centroidsCrc: number | null;
      offsets: Uint32Array;
      crcs: Uint32Array;
      ordIndexCrc: number;
      cacheLimit: number;
      resident: boolean;
      transient: boolean;
      bytesRead: number;
      reads: number;
    },
  ) {
    this.version = f.version;
    this.qmin = f.qmin;
    this.qscale = f.qscale;
    this.original = f.original;
    this.originalInto_ = f.original !== undefined ? f.originalInto : undefined;
    this.originalMatrix = f.originalMatrix;
    const uniform = f.qscale.every((x) => x === f.qscale[0]) && (f.qscale[0] ?? 0) > 0;
    this.codeMode = f.metric !== 'l2' || uniform ? 'affine' : 'decoded';
    this.dim = f.dim;
    this.metric = f.metric;
    this.size = f.n;
    this.nlist = f.nlist;
    this.centroids = f.centroids;
    this.centroidsCrc = f.centroidsCrc;
    this.offsets = f.offsets;
    this.crcs = f.crcs;
    this.ordIndexCrc = f.ordIndexCrc;
    this.cacheLimit = f.cacheLimit;
    this.transient = f.transient;
    this.bytesRead = f.bytesRead;
    this.reads = f.reads;
    this.layout = layout(this.version, this.dim, this.size, this.nlist);
    this.defaultNprobe = defaultNprobeOf(this.nlist);
    this.resident = f.resident;
    if (f.resident) {
      unpinOnCollect.register(this, this.pins, this);
      // Pin every cluster now (as long as the cache holds them): pinning lazily spread the copying, memory
      // growth and first-touch page faults over the first hundreds of queries, right into the p99.
      const codesOnly = this.holdsCodes();
      const rowBytes = codesOnly ? this.layout.rowBytes - 4 : this.dim * 4;
      reservePinned(Math.min(this.cacheLimit, this.size * rowBytes + this.nlist * 16));
      for (let c = 0; c < this.nlist && this.cacheBytes + this.clusterBytes(c, codesOnly) <= this.cacheLimit; c++) this.cluster(c);
    }
  }

  /**
   * Reads and checks the header and the directory (a few KB to a few hundred KB); nothing else, unless
   * `opts.resident`, which loads and pins every cluster the cache can hold (see IvfOpenOptions).
   */
  static open(src: ByteSource, opts: IvfOpenOptions = {}): IvfReader {
    requireLittleEndian();
    if (src.length < HEADER_BYTES) corrupt(`${src.length} bytes is too short for an IVF header`);
    const stats = { bytes: 0, reads: 0 };
    const hb = readFrom(src, 0, HEADER_BYTES, stats);
    const h = new DataView(hb.buffer, hb.byteOffset, HEADER_BYTES);
    if (h.getUint32(0, true) !== MAGIC) corrupt('bad magic: not an IVF file');
    if (crc32(hb.subarray(0, 60)) !== h.getUint32(60, true)) corrupt('IVF header checksum mismatch');
    const version = h.getUint32(4, true);
    if (version !== 1 && version !== 2 && version !== 4 && version !== 5) corrupt(`unsupported IVF version ${version}`);
    const metric = METRIC_OF[h.getUint32(8, true)];
    if (metric === undefined) corrupt(`unknown metric code ${h.getUint32(8, true)}`);
    const dim = h.getUint32(12, true);
    const n = h.getUint32(16, true);
    const nlist = h.getUint32(20, true);
    for (let o = 36; o < 60; o += 4) if (h.getUint32(o, true) !== 0) corrupt('reserved header bytes are not zero');
    if (dim < 1 || dim > MAX_DIM) corrupt(`invalid dimension ${dim}`);
    if (nlist > n || (nlist === 0) !== (n === 0) || nlist > 65536) corrupt(`invalid cluster count ${nlist} for ${n} rows`);
    const L = layout(version, dim, n, nlist);
    if (L.end !== src.length) corrupt(`IVF file is ${src.length} bytes, its header implies ${L.end}`);

    const transient = opts.transientClusters === true && opts.resident !== true && version === 5 && src.readInto !== undefined;
    let dir: Uint8Array;
    if (transient) {
      dir = directoryBuffer(L.data - L.centroids);
      readIntoFrom(src, L.centroids, dir);
      stats.bytes += dir.length;
      stats.reads++;
    } else dir = readFrom(src, L.centroids, L.data - L.centroids, stats);
    if (crc32(dir) !== h.getUint32(28, true)) corrupt('IVF directory checksum mismatch');
    // Transient: copies of the small parts (the scratch is the next reader's); the centroids are read again
    // at each search (searchCentroids).
    const part = transient ? <T extends { slice(): T }>(a: T): T => a.slice() : <T>(a: T): T => a;
    const offsets = part(u32(dir, L.offsets - L.centroids, nlist + 1));
    if (offsets[0] !== 0 || offsets[nlist] !== n) corrupt('IVF cluster offsets do not cover the rows');
    for (let c = 0; c < nlist; c++) {
      if (offsets[c + 1]! <= offsets[c]!) corrupt(`IVF cluster ${c} has inconsistent offsets`);
    }
    if ((version === 4 || version === 5) && h.getUint32(32, true) !== 0) corrupt(`IVF version ${version} has no ord index, but its header has an ord index checksum`);
    const qdim = version !== 1 ? dim : 0;
    const qmin = part(f32(dir, L.quant - L.centroids, qdim));
    const qscale = part(f32(dir, L.quant - L.centroids + 4 * qdim, qdim));
    for (let d = 0; d < qdim; d++) {
      if (!Number.isFinite(qmin[d]!) || !Number.isFinite(qscale[d]!) || qscale[d]! < 0) corrupt(`IVF quantizer of dimension ${d} is invalid`);
    }
    return new IvfReader(src, {
      version: version as 1 | 2 | 4 | 5,
      qmin,
      qscale,
      original: opts.vectorOf,
      originalInto: opts.vectorInto,
      originalMatrix: opts.vectorMatrix,
      dim,
      metric,
      n,
      nlist,
      centroids: transient ? new Float32Array(0) : f32(dir, 0, nlist * dim),
      centroidsCrc: transient ? crc32(dir.subarray(0, 4 * nlist * dim)) : null,
      offsets,
      crcs: part(u32(dir, L.crcs - L.centroids, nlist)),
      ordIndexCrc: h.getUint32(32, true),
      cacheLimit: Math.max(0, opts.cacheBytes ?? 64 * 1024 * 1024),
      resident: opts.resident === true,
      transient,
      bytesRead: stats.bytes,
      reads: stats.reads,
    });
  }

  /** Frees the pinned copies of cached clusters and stops pinning (the reader stays usable; scans copy rows again). */
  release(): void {
    this.resident = false;
    for (const cl of this.cache.values()) this.unpin(cl);
    for (const s of this.termSlabs.values()) {
      unpinRows(s.block);
      this.pins.delete(s.block);
    }
    this.termSlabs.clear();
    if (this.pinnedCentroids) {
      unpinRows(this.pinnedCentroids);
      this.pins.delete(this.pinnedCentroids);
    }
    this.pinnedCentroids = null;
  }

  stats(): IvfStats {
    return {
      bytesRead: this.bytesRead,
      reads: this.reads,
      cachedClusters: this.cache.size,
      cachedBytes: this.cacheBytes,
      lastProbes: this.lastProbes,
      lastCandidates: this.lastCandidates,
      termClusters: [...this.termSlabs.values()].reduce((a, slab) => a + slab.filled.reduce((x, f) => x + f, 0), 0),
    };
  }

  /**
   * Approximate top-k: probes the clusters whose centroids score best (cosine/l2: nearest centroid; dot:
   * largest q.c), one read each on first use.
   *
   * How many: `opts.nprobe` when given. Otherwise adaptively per query: at least `defaultNprobe`
   * (max(8, ceil(nlist / 20))) clusters and at least MIN_SCAN_ROWS = 4096 rows (on a small segment that
   * is most of it, for next to nothing), then further clusters while their centroid score is within
   * NPROBE_GAP = 0.25 of the way from the best centroid score to the median one, up to 3x that minimum.
   * The extension finds the "natural" group of cells around the query: when a dense region of the data
   * was split into many cells (a query's neighbours spread over all of them) they all score about alike,
   * far above the median, and are all probed; on well-separated data nothing is added.
   *
   * With `allow`: probes at least that many raised by 1/sqrt(selectivity) (the caller's `selectivity`,
   * else the fraction allowed of every 4th row of the clusters probed so far). Either way it keeps
   * probing until k (allowed) rows were found or every cluster was probed, so it returns
   * min(k, allowed rows) results whatever k and the filter. With a very selective filter `exactOrds` is
   * cheaper.
   *
   * Version 2: the probed rows are ranked by their decoded codes into the best `rerankCount(k)` (allowed)
   * candidates, the same probing rules counting candidates instead of results; those are then scored
   * exactly from the original vectors (`IvfOpenOptions.vectorOf`) and the exact top-k returned. Version 5
   * widens the list (x4, WIDEN_ROUNDS) while a row it could not hold may still place; a list that would
   * hold a quarter of the segment or more is replaced by `exact` over the allowed rows (ties by the
   * thousand: zero or duplicated vectors). Cosine:
   * when that top-k holds a zero vector and the candidate list was full, the search is repeated with at
   * least twice the candidates, probing until they are found (at most ZERO_VECTOR_ROUNDS times).
   */
  search(query: Float32Array, k: number, opts: IvfSearchOptions = {}): Hits {
    checkQuery(query, this.dim);
    const kk = Math.max(0, Math.floor(k));
    this.lastCandidates = 0;
    if (kk === 0 || this.size === 0) return new TopK(0).result();
    if (this.version === 1) {
      const out = new TopK(kk, opts.tie);
      this.probe(prepareQuery(this.metric, query), out, out.k, opts);
      return out.result();
    }
    this.requireOriginal();
    const want = opts.rerank === undefined ? rerankCount(kk, this.version) : Math.floor(opts.rerank) || 0;
    const prepared = prepareQuery(this.metric, query);
    // Version 5: how far a candidate's exact score can be above its estimate (see codingBound). The first
    // list holds just the candidates re-scored first: a longer one (2x) lowered the kernels' floor and cost
    // every query more (1M, 10 segments: p50 +30%) than probing again costs the queries that need it.
    const bound = this.version === 5 ? this.codingBound(prepared) : null;
    const outer = opts.floor ?? -Infinity;
    let room = Math.min(this.size, Math.max(kk, want));
    let scored = 0;
    for (let round = 0; ; round++) {
      // The reader's two collectors, reused query after query (TopK.reset); `top` is read out (result())
      // before this search returns, `cand` is only read by it.
      const cand = (this.candHeap ??= new TopK(0)).reset(room, opts.tie);
      // A repeated search also probes on until the wider list is full (more rows, not only more kept).
      this.probe(prepared, cand, round === 0 ? kk : room, opts);
      if (bound !== null) bound.norm2 = this.lastNorm2;
      const top = (this.topHeap ??= new TopK(0)).reset(k, opts.tie);
      let more = false;
      if (bound === null) {
        const ords = cand.keptOrds();
        scored = ords.length;
        this.scoreOrds(prepared, ords, top, undefined);
      } else {
        // The first list (k + 50 long) is re-scored whole, in no order, as it always was. Rows it could not
        // hold rank below its worst: if even that one could reach the k-th exact score (its estimate raised
        // by the bound), the list was too short for this query (rows whose coding error is large next to the
        // distances that separate them: a query near the origin of data whose norms vary tenfold): probe
        // again for a longer one, re-scored best estimate first, k + 50 and then while the bound reaches.
        const widened = round > 0;
        // The first list is re-scored whole even where the earlier segments' k-th (outer) is known: re-scoring
        // only its best k and then by the bound (session 34: 740 -> ~330 rows a 1M query, p50 -14%) missed
        // true neighbours at small k on dot data (recall@k 1 -> 0.9965, 3 of 200 requests; the bound's
        // calibration sees too few rows then).
        // The list as the collector holds it (its own arrays, no views), or best estimate first when widened.
        const c = widened ? cand.result() : null;
        const cOrds = c !== null ? c.ords : cand.keptOrdArray();
        const cScores = c !== null ? c.scores : cand.keptScoreArray();
        const n = c !== null ? c.ords.length : cand.size;
        let done = widened ? Math.min(n, Math.max(k, want)) : n;
        // Those exact scores also measure how far the estimates err on this query's rows (bound.observe):
        // the model's spread can be too small where rows are coded at the end of their range (a row near
        // the origin in a cluster whose centroid is not).
        const exact = this.exactScratch(done).fill(-Infinity, 0, done); // a row the kernels do not report stays out
        this.scoreOrds(prepared, cOrds, top, undefined, exact, 0, done);
        // Only the rows that made the top k: how far their estimates were off is what a true neighbour
        // still outside the re-scored ones may be off by (the other rows' errors do not matter here).
        const kth = top.floor; // read once: each read of the getter in this loop was a boxed double
        for (let j = 0; j < done; j++) if (exact[j]! >= kth) bound.observe(cScores[j]!, exact[j]!);
        // What a further candidate must be able to reach: this segment's k-th, or the other segments' if
        // higher (a number, not a closure: each call's double was boxed, ~13 KB a query at 1M).
        let need = top.full ? Math.max(top.floor, outer) : outer;
        while (done < n && bound.ub(cScores[done]!) >= need) {
          let end = done + 1;
          if (top.full) while (end < n && end - done < 64 && bound.ub(cScores[end]!) >= need) end++;
          else end = Math.min(n, done + k);
          this.scoreOrds(prepared, cOrds, top, undefined, null, done, end);
          done = end;
          need = top.full ? Math.max(top.floor, outer) : outer;
        }
        scored = done;
        more = cand.full && (top.full || outer > -Infinity) && bound.ub(cand.floor) >= need && room < this.size && round < WIDEN_ROUNDS;
      }
      this.lastCandidates = scored;
      if (more) {
        room = Math.min(this.size, 4 * room);
        // A list this long is most of the segment (rows tied or nearly tied with the k-th: zero vectors,
        // duplicates, a query as far from thousands of rows): scoring every row once is cheaper than
        // probing again and keeping thousands of candidates in order (docs/performance.md, session 38).
        if (room * EXACT_AFTER_WIDENING >= this.size) {
          this.lastCandidates = this.size;
          return this.exact(query, kk, opts.allow, opts.tie);
        }
        continue;
      }
      const hits = top.result();
      // Cosine: a zero vector is coded as an unrelated direction (zeroRowValue), so it takes candidate
      // room as any dissimilar row does. When one is returned (its exact score is 0) from a full candidate
      // list, rows of positive similarity may have been left out of that list: search again with room for
      // at least twice as many candidates, probing until they are found (a tester's case: half the rows
      // zero, k = 1200 of 6,000 returned 72 zero vectors where the exact scan returns none). Data without
      // zero vectors never repeats.
      if (this.metric !== 'cosine' || round >= ZERO_VECTOR_ROUNDS || cand.size < room || room >= this.size) return hits;
      if (!hits.ords.some((o, i) => hits.scores[i] === 0 && this.isZeroVector(o))) return hits;
      let zeros = 0;
      for (const o of cand.keptOrds()) if (this.isZeroVector(o)) zeros++;
      room = Math.min(this.size, room + Math.max(room, 2 * zeros));
    }
  }

  /**
   * Version 5: a function from a candidate's estimated score (what the 4-bit kernels ranked it by, see
   * nibbleQuery) to the highest exact score its row can be expected to have. A row x decoded as x' has the
   * coding error e = x - x', each e_d within half a step s_d, independent across dimensions and about
   * uniform (variance s_d^2 / 12) for rows inside the quantizer's range. With a = q - x':
   * |q - x|^2 = |a|^2 - 2 a . e + |e|^2 >= |a|^2 - 2 a . e, and a . e / |a| has a standard deviation of at
   * most max_d s_d / sqrt(12), whatever the dimension: so |q - x| >= |a| - z sigma (l2; cosine on the
   * unit vectors, exact score 1 - |q - x|^2 / 2). For dot, q . x = q . x' + q . e, whose standard
   * deviation sqrt(sum q_d^2 s_d^2 / 12) is known per query. z = CODING_BOUND_Z, and sigma taken
   * CODING_BOUND_MARGIN times larger for rows coded at the end of their range and the kernels' int16
   * rounding. The triangle inequality's |e| <= |s| / 2 holds for every row but is sqrt(3 dim) times the
   * projection's spread (20x at 128 dimensions): it had `search` re-score ~700 candidates a query for the
   * 60 that find the top 10 on clustered data. `search` re-scores candidates by this bound (see there).
   */
  private codingBound(prepared: Float32Array): CodingBound {
    const zm = CODING_BOUND_Z * CODING_BOUND_MARGIN;
    const metric = this.metric;
    // The allowance, in the units of CodingBound: the model's, raised to CODING_BOUND_OBSERVED times the
    // largest error observed on this query's re-scored candidates.
    const bound = (this.bound ??= new CodingBound());
    if (metric === 'dot') {
      let v = 0;
      for (let d = 0; d < this.dim; d++) v += (prepared[d]! * this.qscale[d]!) ** 2;
      return bound.reset(metric, zm * Math.sqrt(v / 12));
    }
    let smax = 0;
    for (let d = 0; d < this.dim; d++) smax = Math.max(smax, this.qscale[d]!);
    return bound.reset(metric, (zm * smax) / Math.sqrt(12));
  }

  /** Cosine: whether the document's original vector is all zeros (known once re-ranking has read it). */
  private isZeroVector(ord: number): boolean {
    return this.matrixNorms?.[ord] === 0 || this.invPages[ord >>> INV_PAGE_BITS]?.[ord & INV_PAGE_MASK] === -1;
  }

  /**
   * The probing of `search`: offers the probed rows to heap until `want` were found (see `search`).
   * `prepared`: the query as prepareQuery gives it (normalized for cosine).
   */
  private probe(prepared: Float32Array, heap: TopK, want: number, opts: IvfSearchOptions): void {
    this.searchCentroids();
    const { order, scores } = this.probeOrder(prepared);
    const q = this.transformQuery(prepared);
    if (this.version === 5 && this.metric !== 'dot') q.norm2 = this.rankScale(scores[0]!);
    this.lastNorm2 = q.norm2 ?? 1;
    const nlist = this.nlist;
    const base =
      opts.nprobe === undefined
        ? this.adaptiveNprobe(order, scores)
        : Math.max(1, Math.min(nlist, Math.floor(opts.nprobe) || 1));
    const allow = opts.allow;
    // Past the base probes (adaptive only, 4-bit files), a cluster is still probed while its rows could beat
    // the k-th best expected in the clusters probed so far (ProbeReach): nothing on well-separated data,
    // most clusters on unclustered data and for queries far from all data, where the base probes alone
    // found 10-93% of the true top 10.
    // (One ProbeReach a reader, reset for each probe: no objects or closures a search.)
    const reach =
      opts.nprobe === undefined && this.version === 5
        ? (this.reach ??= new ProbeReach()).reset(this.metric, this.dim, this.size, this.offsets, this.residualRms(), order, scores, prepared)
        : null;
    if (allow === undefined) {
      let probed = 0;
      const wholeAt = this.version === 5 && this.metric !== 'dot' ? this.wholeAt : null;
      while (probed < nlist && (probed < base || heap.size < want || (reach !== null && reach.worthProbing(probed, want)))) {
        const c = order[probed++]!;
        if (wholeAt === null || wholeAt[c]! < 0 || !this.scanPinned(c, wholeAt[c]!, q, heap)) this.scan(this.cluster(c), q, heap, undefined, c);
      }
      this.lastProbes = probed;
      return;
    }
    // The mask into the kernels' memory once per search (a copy of one byte per ordinal), or null.
    const mask = this.version === 5 && opts.mask !== undefined ? loadKernelMask(opts.mask) : null;
    const sel0 = opts.selectivity ?? 1;
    const given = opts.selectivity !== undefined && sel0 > 0 && sel0 <= 1;
    let target = given ? raise(base, sel0, nlist) : base;
    let sampled = 0;
    let allowed = 0;
    let probed = 0;
    while (probed < nlist) {
      const c = order[probed++]!;
      const cl = this.cluster(c);
      this.scan(cl, q, heap, allow, c, mask);
      if (!given) {
        const [a, s] = this.sampleAllowed(cl, allow);
        allowed += a;
        sampled += s;
      }
      if (probed < base) continue;
      if (!given) target = raise(base, Math.max(allowed / sampled, 1 / this.size), nlist);
      const sel = given ? sel0 : Math.max(allowed / sampled, 1 / this.size);
      if (probed >= target && heap.size >= want && (reach === null || probed >= nlist || !reach.worthProbing(probed, want / sel))) break;
    }
    this.lastProbes = probed;
  }

  /**
   * A transient reader's centroids, read into directoryScratch for this search and checked against the
   * CRC-32 taken when the directory was verified at open (no other reader reads into it before this search
   * ends: searches are synchronous). Nothing for other readers, which hold theirs.
   */
  private searchCentroids(): void {
    if (this.centroidsCrc === null) return;
    const bytes = directoryBuffer(4 * this.nlist * this.dim);
    readIntoFrom(this.src, this.layout.centroids, bytes, { crc: this.centroidsCrc, label: 'IVF centroids' });
    this.bytesRead += bytes.length;
    this.reads++;
    this.centroids = f32(bytes, 0, this.nlist * this.dim);
  }

  /** The residuals' root mean square norm, sqrt(sum over d of sigma_d^2), from the version 5 quantizer (see ProbeReach). */
  private residualRms(): number {
    if (this.rms === undefined) {
      let v = 0;
      for (let d = 0; d < this.dim; d++) {
        const sigma = (15 * this.qscale[d]!) / (2 * 2.68);
        v += sigma * sigma;
      }
      this.rms = Math.sqrt(v);
    }
    return this.rms;
  }
  private rms: number | undefined;
  /** probe's ProbeReach, reset for each probe. */
  private reach: ProbeReach | null = null;
  /** nibbleBase's q - min (see there). */
  private baseScratch = new Float64Array(0);
  /** nibbleQuery's F by exponent of g, for every query of this reader (see nibbleBase). */
  private readonly fByExp = new Map<number, Int16Array>();
  /** probeOrder's arrays (see there). */
  private probeScratch: { cs: Float64Array; keys: Uint32Array; keys2: Uint32Array; order2: Uint32Array; order: Uint32Array; scores: Float64Array } | undefined;

  /** Probes for an unfiltered query given the probe order and centroid scores (see `search`). */
  private adaptiveNprobe(order: Uint32Array, scores: Float64Array): number {
    const nlist = this.nlist;
    const off = this.offsets;
    let min = this.defaultNprobe;
    // ... and at least MIN_SCAN_ROWS rows (all of a small segment: it costs next to nothing)
    let rows = 0;
    for (let i = 0; i < min; i++) rows += off[order[i]! + 1]! - off[order[i]!]!;
    while (min < nlist && rows < MIN_SCAN_ROWS) {
      rows += off[order[min]! + 1]! - off[order[min]!]!;
      min++;
    }
    const max = Math.min(nlist, 3 * min);
    const best = scores[0]!;
    const limit = NPROBE_GAP * (best - scores[nlist >> 1]!);
    let p = min;
    while (p < max && best - scores[p]! <= limit) p++;
    return p;
  }

  /** Exact top-k over every row (reads the whole index through the cache). */
  exact(query: Float32Array, k: number, allow?: (ord: number) => boolean, tie?: TieBreak): Hits {
    checkQuery(query, this.dim);
    const heap = new TopK(k, tie);
    if (heap.k === 0) return heap.result();
    const q = prepareQuery(this.metric, query);
    if (this.version === 1) {
      const t = this.transformQuery(q);
      for (let c = 0; c < this.nlist; c++) this.scan(this.cluster(c), t, heap, allow, c);
    } else {
      // the ordinals from the clusters (checksum-verified), the vectors from the callback
      this.requireOriginal();
      for (let c = 0; c < this.nlist; c++) this.scoreOrds(q, this.clusterOrds(c), heap, allow);
    }
    return heap.result();
  }

  /**
   * Exact top-k over the given document ordinals only (unknown ordinals and duplicates are ignored).
   * Reads the ord index once (8 bytes a row), then per cluster holding wanted rows: the whole cluster
   * (checksum-verified, then cached) when it is cached or at least 16 of its rows (or a quarter) are
   * wanted; otherwise just those rows, rows less than 16 KiB apart in one read. The wanted rows of a
   * cluster are scored in one kernel call. Measured, 100k x 128 file, first / repeated query: 100
   * ordinals 10 / 1 ms, 1000 ordinals 23 / 13 ms, 5000 ordinals ~96 / 35 ms (reads nearly the whole
   * file: for thousands of ordinals filtered `search` reads far less).
   */
  exactOrds(query: Float32Array, k: number, ords: Iterable<number>, tie?: TieBreak): Hits {
    checkQuery(query, this.dim);
    const heap = new TopK(k, tie);
    if (heap.k === 0 || this.size === 0) return heap.result();
    const q = prepareQuery(this.metric, query);
    const rows = this.rowsOf(ords); // [row, ord] pairs sorted by row
    if (this.version !== 1) {
      this.requireOriginal();
      this.scoreOrds(q, Uint32Array.from(rows, (r) => r[1]), heap, undefined);
      return heap.result();
    }
    const dim = this.dim;
    const stride = 4 + 4 * dim;
    let gather = new Float32Array(0);
    let i = 0;
    while (i < rows.length) {
      const c = this.clusterOfRow(rows[i]![0]);
      const start = this.offsets[c]!;
      const end = this.offsets[c + 1]!;
      let j = i;
      while (j < rows.length && rows[j]![0] < end) j++;
      const cnt = end - start;
      const wanted = j - i;
      if (gather.length < wanted * dim) gather = new Float32Array(Math.max(wanted, 64) * dim);
      if (this.cache.has(c) || wanted >= 16 || wanted * 4 >= cnt) {
        const vecs = this.cluster(c).vecs!;
        for (let r = i; r < j; r++) {
          const at = (rows[r]![0] - start) * dim;
          gather.set(vecs.subarray(at, at + dim), (r - i) * dim);
        }
      } else {
        const vecBase = this.layout.data + start * stride + 4 * cnt;
        let r = i;
        while (r < j) {
          let e = r + 1;
          while (e < j && (rows[e]![0] - rows[e - 1]![0] - 1) * 4 * dim <= 16384) e++;
          const first = rows[r]![0];
          const span = f32(this.read(vecBase + (first - start) * 4 * dim, (rows[e - 1]![0] - first + 1) * 4 * dim), 0, (rows[e - 1]![0] - first + 1) * dim);
          for (let p = r; p < e; p++) {
            const at = (rows[p]![0] - first) * dim;
            gather.set(span.subarray(at, at + dim), (p - i) * dim);
          }
          r = e;
        }
      }
      this.ensureScratch(wanted);
      const n = scoreRowsAbove(this.metric, q, gather, 0, wanted, dim, heap.floor, this.idx, this.scores);
      for (let h = 0; h < n; h++) heap.push(this.scores[h]!, rows[i + this.idx[h]!]![1]);
      i = j;
    }
    return heap.result();
  }

  /** The stored vector of a document (a copy; normalized for cosine), or null if it has none here. */
  vectorOf(ord: number): Float32Array | null {
    const row = this.rowOfOrd(ord);
    if (row < 0) return null;
    if (this.version !== 1) {
      const out = new Float32Array(this.dim);
      this.originalInto(ord, out, 0);
      return out;
    }
    const c = this.clusterOfRow(row);
    const start = this.offsets[c]!;
    const dim = this.dim;
    const cached = this.cache.get(c);
    if (cached !== undefined) return cached.vecs!.slice((row - start) * dim, (row - start + 1) * dim);
    const cnt = this.offsets[c + 1]! - start;
    const pos = this.layout.data + start * (4 + 4 * dim) + 4 * cnt + (row - start) * 4 * dim;
    return f32(this.read(pos, 4 * dim), 0, dim).slice();
  }

  /**
   * Calls fn for every row, cluster by cluster. `vector` is a view into the reader's cache (normalized for
   * cosine): copy it to keep it.
   */
  forEach(fn: (ord: number, vector: Float32Array) => void): void {
    const dim = this.dim;
    if (this.version !== 1) {
      this.requireOriginal();
      const v = new Float32Array(dim);
      for (let c = 0; c < this.nlist; c++) {
        for (const ord of this.clusterOrds(c)) {
          this.originalInto(ord, v, 0);
          fn(ord, v);
        }
      }
      return;
    }
    for (let c = 0; c < this.nlist; c++) {
      const cl = this.cluster(c);
      for (let r = 0; r < cl.ords.length; r++) fn(cl.ords[r]!, cl.vecs!.subarray(r * dim, (r + 1) * dim));
    }
  }

  // -- internals --------------------------------------------------------------------------------------

  /**
   * The query the cached rows are scored with (score = mul * kernel(q, row) + add). Version 1 and
   * 'decoded' rows: the prepared query itself. 'affine' rows hold codes c, decoded x = min + scale * c:
   * - dot / cosine: q . x = q . min + (q * scale) . c, so q' = q * scale, add = q . min;
   * - l2 with one step s: |q - x| = s |(q - min) / s - c|, so q' = (q - min) / s, mul = s.
   */
  private transformQuery(q: Float32Array): ScanQuery {
    if (this.version === 5) return this.nibbleBase(q);
    if (this.version === 1 || this.codeMode === 'decoded') return { q, mul: 1, add: 0, q16: null, mul16: 1 };
    const dim = this.dim;
    const out = new Float32Array(dim);
    const min = this.qmin;
    const scale = this.qscale;
    if (this.metric === 'l2') {
      const s = scale[0]!;
      for (let d = 0; d < dim; d++) out[d] = (q[d]! - min[d]!) / s;
      return { q: out, mul: s, add: 0, q16: null, mul16: 1 };
    }
    let add = 0;
    let max = 0;
    for (let d = 0; d < dim; d++) {
      out[d] = q[d]! * scale[d]!;
      add += q[d]! * min[d]!;
      max = Math.max(max, Math.abs(out[d]!));
    }
    // int16 form for the codes kernel: q' * f rounded, f so that the largest |value| is the kernel's limit.
    // Its error (half a step of 1/f per dimension) is far below the codes' own quantization error, and
    // only ranks candidates: the published scores come from the original vectors.
    const stride = this.layout.rowBytes - 4;
    const f = max > 0 ? codesQueryLimit(stride) / max : 1;
    const q16 = new Int16Array(stride);
    for (let d = 0; d < dim; d++) q16[d] = Math.round(out[d]! * f);
    return { q: out, mul: 1, add, q16, mul16: 1 / f };
  }

  /**
   * Version 5, the part of the query transform shared by every cluster. dot: x = c + min + scale * code, so
   * q . x = q . c + q . min + (q * scale) . code: q16 = round(q * scale * f), f so that the largest |value|
   * is the kernel's limit, mul16 = 1 / f, add = q . min (q . c is added per cluster). l2 and cosine: q - min
   * (the rest depends on the cluster, see nibbleQuery).
   */
  private nibbleBase(q: Float32Array): ScanQuery {
    const dim = this.dim;
    if (this.metric !== 'dot') {
      // per query, so that each probed cluster costs one pass over the dimensions (see nibbleQuery); the
      // reader's scratch (valid for one probe), and F by exponent kept for the reader's life: it depends
      // on g and the steps only, never on the query (the exponents a reader meets are few: bounded anyway)
      const a = this.baseScratch.length === dim ? this.baseScratch : (this.baseScratch = new Float64Array(dim));
      for (let d = 0; d < dim; d++) a[d] = q[d]! - this.qmin[d]!;
      if (this.fByExp.size > 256) this.fByExp.clear();
      return { q, mul: 1, add: 0, q16: null, mul16: 1, norm2: 1, a, fByExp: this.fByExp };
    }
    const stride = this.layout.rowBytes - 4;
    const min = this.qmin;
    const scale = this.qscale;
    let add = 0;
    let max = 0;
    for (let d = 0; d < dim; d++) {
      add += q[d]! * min[d]!;
      max = Math.max(max, Math.abs(q[d]! * scale[d]!));
    }
    // Rounding q to int16 errs by half a step of 1/f per dimension, far below the codes' own error; it only
    // ranks candidates (published scores come from the original vectors).
    const f = max > 0 ? nibblesQueryLimit(stride) / max : 1;
    const q16 = new Int16Array(2 * stride);
    for (let d = 0; d < dim; d++) q16[d] = Math.round(q[d]! * scale[d]! * f);
    return { q, mul: 1, add, q16, mul16: 1 / f, norm2: 1 };
  }

  /**
   * Version 5, l2 and cosine: the unit candidate scores are measured in (see nibbleQuery), from the best
   * centroid's score (minus its squared distance): the larger of that squared distance and the squared
   * width of the codes' range, so scores stay near 1 whatever the scale of the data (at 1e-30 the squared
   * distances themselves would vanish in the candidates' float32 scores) or of the query's distance.
   */
  private rankScale(bestCentroidScore: number): number {
    const s = Math.max(-bestCentroidScore, this.stepTerms().width);
    return s > 0 && Number.isFinite(s) ? s : 1;
  }

  /** search's collectors (see there). */
  private candHeap: TopK | undefined;
  private topHeap: TopK | undefined;
  /** nibbleQuery's answer, rewritten at each call (a new object per probe was garbage in every query). */
  private readonly nq: NibbleQuery = { q16: new Int16Array(0), mul: 1, add: 0, exp: null };
  private nibbleAnswer(q16: Int16Array, mul: number, add: number, exp: number | null = null): NibbleQuery {
    const nq = this.nq;
    nq.q16 = q16;
    nq.mul = mul;
    nq.add = add;
    nq.exp = exp;
    return nq;
  }

  /**
   * Version 5: the kernel query for cluster c, and the candidate score = mul * kernel + add it gives.
   * dot: the shared q16, add = q . min + q . c.
   * l2 and cosine are ranked by the squared distance to the decoded row (cosine too: the rows are unit
   * vectors, so it orders them as the dot product does, and its error is (q - x) . e for a coding error e,
   * where the dot product's is q . e: on 8-d data recall@10 0.92 against 1). With u = q - c - min and steps
   * s, |q - x|^2 = |u|^2 - sum code (2 u s - s^2 code). The kernel computes sum code (Q - F code) with
   * Q = round(2 g u s) and F = round(g s^2), g a power of two within half of what the kernel's limit allows
   * (|Q| + 15 F <= limit): g times that sum. So add = -|u|^2 (exact, in float64: how far the cluster is never goes through int16)
   * and mul = 1 / g, both divided by norm2 (rankScale). A query far from the cluster gets a small g, F
   * rounds to 0 and the ranking within the cluster follows the linear term, which then dominates. Candidates
   * are ranked by it; published scores are exact.
   */
  private nibbleQuery(t: ScanQuery, c: number): NibbleQuery {
    const dim = this.dim;
    const cent = this.centroidFloats();
    const at = c * dim;
    if (this.metric === 'dot') {
      // q . c again, in float64: probeOrder's centroid scores are float32 sums, too coarse for the constant
      // that places a cluster's rows among the others' on data far from the origin.
      const q = t.q;
      let qc = 0;
      for (let d = 0; d < dim; d++) qc += q[d]! * cent[at + d]!;
      return this.nibbleAnswer(t.q16!, t.mul16, t.add + qc);
    }
    const stride = this.layout.rowBytes - 4;
    const dims = 2 * stride;
    if (this.l2q16.length !== 2 * dims) {
      this.l2q16 = new Int16Array(2 * dims);
      this.l2q16Exp = NaN;
    }
    const q16 = this.l2q16;
    const { sx2, sq15 } = this.stepTerms();
    const a = t.a!;
    // Q is computed on the way with the previous cluster's g (neighbouring clusters mostly share it), and
    // again only when this cluster's g differs. g * 2s per dimension is kept for the g it was made for:
    // (g * 2s) * x is the same product, bit for bit, as the g * 2s * x it replaces (JavaScript multiplies
    // left to right), one multiply less a dimension; the residual u is not stored but computed again in the
    // rare second pass. Both halved this function's time (a micro-benchmark: 665 -> 350 ns a cluster at
    // 128 dimensions; docs/performance.md, "Session 39").
    const gPrev = t.gLast ?? 0;
    const gsx = this.gsx2For(gPrev);
    let uu = 0;
    let worst = 0;
    for (let d = 0; d < dim; d++) {
      const x = a[d]! - cent[at + d]!;
      uu += x * x;
      const w = sx2[d]! * Math.abs(x) + sq15[d]!;
      worst = w > worst ? w : worst;
      q16[d] = Math.floor(gsx[d]! * x + 0.5);
    }
    const norm2 = t.norm2 ?? 1;
    if (!(worst > 0) || !Number.isFinite(worst)) {
      // every step 0: each row decodes to c + min
      q16.fill(0);
      this.l2q16Exp = NaN;
      return this.nibbleAnswer(q16, 1, -uu / norm2);
    }
    // g a power of two (at most half of what the limit allows, at least a quarter), so that F, which
    // depends on g alone, is computed once per query and exponent rather than per cluster. Rounding Q and F
    // adds at most 0.5 + 15 * 0.5 to |Q| + 15 F: the limit leaves room for it.
    const e = Math.floor(Math.log2((nibblesQueryLimit(stride) - 8) / worst));
    const g = 2 ** e;
    if (!(g < Infinity)) {
      // steps and residual so small that their products underflow: the codes cannot tell rows apart
      q16.fill(0);
      this.l2q16Exp = NaN;
      return this.nibbleAnswer(q16, 1, -uu / norm2);
    }
    let f = t.fByExp!.get(e);
    if (f === undefined) {
      f = this.quadraticFactors(e);
      t.fByExp!.set(e, f);
    }
    // F changes with e alone: copied when this reader's scratch holds another's (a copy per probe before)
    if (this.l2q16Exp !== e) {
      q16.set(f, dims);
      this.l2q16Exp = e;
    }
    if (g !== gPrev) {
      // floor(x + 0.5), not Math.round: the same but for one value in 2^53, and half the cost of this loop
      const gs = this.gsx2For(g);
      for (let d = 0; d < dim; d++) q16[d] = Math.floor(gs[d]! * (a[d]! - cent[at + d]!) + 0.5);
      t.gLast = g;
    }
    return this.nibbleAnswer(q16, 1 / (g * norm2), -uu / norm2, e);
  }

  /**
   * The centroids, from their pinned copy when there is one: probeOrder's kernel has just read that copy
   * whole, so the rows nibbleQuery reads next are in the CPU's cache, where the reader's own array is not
   * (10 segments' centroids are 1.6 MB at 1M x 128). The same floats (a byte copy).
   */
  private centroidFloats(): Float32Array<ArrayBufferLike> {
    const p = this.pinnedCentroids;
    if (p === undefined || p === null) return this.centroids;
    if (this.centView.length !== this.centroids.length) this.centView = pinnedFloats(p) ?? this.centroids;
    return this.centView;
  }
  private centView: Float32Array<ArrayBufferLike> = new Float32Array(0);

  /** F of a query whose scale g is 2^e (see nibbleQuery): round(g * s^2) per dimension; it depends on e alone. */
  private quadraticFactors(e: number): Int16Array {
    const { sq } = this.stepTerms();
    const g = 2 ** e;
    const f = new Int16Array(this.dim);
    for (let d = 0; d < this.dim; d++) f[d] = Math.round(g * sq[d]!);
    return f;
  }

  /**
   * Version 5: per dimension 2 s, 15 s^2 and s^2 of the steps s (see nibbleQuery), and the squared width of
   * the codes' range, sum (15 s)^2 (see rankScale); computed once.
   */
  private stepTerms(): { sx2: Float64Array; sq15: Float64Array; sq: Float64Array; width: number } {
    if (this.steps !== null) return this.steps;
    const dim = this.dim;
    const sx2 = new Float64Array(dim);
    const sq15 = new Float64Array(dim);
    const sq = new Float64Array(dim);
    let width = 0;
    for (let d = 0; d < dim; d++) {
      const s = this.qscale[d]!;
      sx2[d] = 2 * s;
      sq[d] = s * s;
      sq15[d] = 15 * s * s;
      width += (15 * s) ** 2;
    }
    this.steps = { sx2, sq15, sq, width };
    return this.steps;
  }

  private requireOriginal(): void {
    if (this.original === undefined) internal('an IVF version 2 file is read with IvfOpenOptions.vectorOf (its clusters hold only quantized codes)');
  }

  /**
   * Writes the original vector of ord (normalized for cosine, exactly as version 1 stored it, so scores
   * are bit-identical) into out[at ..+dim).
   */
  private originalInto(ord: number, out: Float32Array, at: number): void {
    this.requireOriginal();
    const dim = this.dim;
    if (this.originalInto_ !== undefined) {
      if (vectorScratch.length < dim) vectorScratch = new Float32Array(dim);
      const row = vectorScratch.subarray(0, dim);
      if (!this.originalInto_(ord, row)) this.missingOriginal(ord, null);
      this.rowInto(row, 0, ord, out, at);
      return;
    }
    const v = this.original!(ord);
    if (v === null || v.length !== dim) this.missingOriginal(ord, v);
    this.rowInto(v, 0, ord, out, at);
  }

  private missingOriginal(ord: number, v: Float32Array | null): never {
    corrupt(`the vector of ordinal ${ord}, indexed in the IVF file, is ${v === null ? 'missing' : `of ${v.length} dimensions, not ${this.dim}`}`, { ord });
  }

  /** Copies the original vector of `ord` (src[off ..+dim)) to out[at ..+dim), normalized for cosine. */
  private rowInto(src: Float32Array, off: number, ord: number, out: Float32Array, at: number): void {
    const dim = this.dim;
    if (this.metric !== 'cosine') {
      if (off === 0 && src.length === dim) out.set(src, at);
      else for (let i = 0; i < dim; i++) out[at + i] = src[off + i]!;
      return;
    }
    // normalizeInto's arithmetic with the inverse norm remembered per ordinal (the re-ranking of every
    // query reads the same popular rows again; the norm was half of its cost): bit-identical results.
    // In pages, not one array grown to the highest ordinal seen: that array was filled with NaN ("not
    // yet") and copied at each growth, which touched ~0.7 MB of fresh memory per segment for 60
    // candidates and took a sixth of a cold 1M query over 11 segments (cpu-prof); a page is made zeroed
    // and only the entries used are written. From a resident matrix: see scoreOrds.
    const page = (this.invPages[ord >>> INV_PAGE_BITS] ??= new Float64Array(INV_PAGE));
    const at0 = ord & INV_PAGE_MASK;
    let inv = page[at0]!;
    if (inv === 0) {
      const n = norm(src, off, dim);
      inv = n > 0 ? 1 / n : 0;
      page[at0] = n > 0 ? inv : -1;
    } else if (inv < 0) inv = 0;
    for (let i = 0; i < dim; i++) out[at + i] = src[off + i]! * inv;
  }

  /**
   * Scores the listed ordinals exactly from their original vectors (a block at a time, one kernel call
   * each) and offers those that can enter heap (and are allowed) to it.
   */
  private scoreOrds(
    q: Float32Array,
    ords: Uint32Array,
    heap: TopK,
    allow: ((ord: number) => boolean) | undefined,
    exactOut: Float64Array | null = null,
    start = 0,
    end = ords.length,
  ): void {
    const BLOCK = 256;
    const dim = this.dim;
    if (this.gather.length < BLOCK * dim) this.gather = new Float32Array(BLOCK * dim);
    this.ensureScratch(BLOCK);
    // ords[start, end) (a range, not a view of it: search re-scores its list in steps).
    let list = ords;
    let stop = end;
    if (allow !== undefined) {
      list = ords.subarray(start, end).filter((o) => allow(o));
      start = 0;
      stop = list.length;
    }
    const m = stop > start ? (this.originalMatrix?.() ?? null) : null;
    for (let b0 = start; b0 < stop; b0 += BLOCK) {
      const cnt = Math.min(BLOCK, stop - b0);
      if (m !== null) {
        // From the in-memory matrix, as an exact scan of it gathers (gatherTopK): the same arithmetic as
        // rowInto, the same inverse norms (see matrixNorms).
        for (let j = 0; j < cnt; j++) if (m.present[list[b0 + j]!] !== 1) this.missingOriginal(list[b0 + j]!, null);
        const norms = this.metric === 'cosine' ? (this.matrixNorms = inverseNorms(m.data, dim)) : null;
        touchRows(m.data, dim, list, b0, cnt, norms);
      } else for (let j = 0; j < cnt; j++) this.originalInto(list[b0 + j]!, this.gather, j * dim);
      // exactOut (no allow): every row's exact score, in the order of ords, for codingBound's calibration
      const floor = exactOut === null ? heap.floor : -Infinity;
      const n =
        m !== null
          ? scoreGathered(m.data, dim, this.metric, q, list, b0, cnt, this.metric === 'cosine' ? this.matrixNorms : null, floor, this.idx, this.scores, this.gather)
          : scoreRowsAbove(this.metric, q, this.gather, 0, cnt, dim, floor, this.idx, this.scores);
      for (let h = 0; h < n; h++) {
        if (exactOut !== null) exactOut[b0 - start + this.idx[h]!] = this.scores[h]!;
        heap.push(this.scores[h]!, list[b0 + this.idx[h]!]!);
      }
    }
  }

  /** The ordinals of cluster c (from the cache, else read and checksum-verified with the codes, not cached). */
  private clusterOrds(c: number): Uint32Array {
    const hit = this.cache.get(c);
    if (hit !== undefined) return hit.ords;
    const start = this.offsets[c]!;
    const cnt = this.offsets[c + 1]! - start;
    const bytes = this.read(this.layout.data + start * this.layout.rowBytes, cnt * this.layout.rowBytes);
    if (crc32(bytes) !== this.crcs[c]) corrupt(`IVF cluster ${c} checksum mismatch`, { cluster: c });
    return u32(bytes, 0, cnt);
  }

  /**
   * Clusters by centroid score, best first (ties: smaller cluster), and those scores in that order.
   * Centroid scores: dot for dot, else the negated squared L2 distance. Sorted by a radix sort of the
   * order-preserving u32 image of each float32 score (see there): no comparator callback, which matters
   * in a cold process.
   */
  private probeOrder(q: Float32Array): { order: Uint32Array; scores: Float64Array } {
    const nlist = this.nlist;
    // Scratch of this reader, reused by every query: four arrays of nlist per segment and query were
    // external memory enough to be a tenth of a 1M `--batch` query's time (allocation and collection).
    // The arrays returned are valid until the next probeOrder of this reader: `probe` uses them and
    // drops them before returning.
    const po =
      this.probeScratch ??
      (this.probeScratch = { cs: new Float64Array(nlist), keys: new Uint32Array(nlist), keys2: new Uint32Array(nlist), order2: new Uint32Array(nlist), order: new Uint32Array(nlist), scores: new Float64Array(nlist) });
    const cs = po.cs;
    // A resident reader scores its centroids in place (pinned once) instead of copying nlist rows per query.
    if (this.resident && this.pinnedCentroids === undefined) {
      this.pinnedCentroids = pinRows(this.centroids, 0, nlist, this.dim);
      if (this.pinnedCentroids !== null) this.pins.add(this.pinnedCentroids);
    }
    kernelRows(this.metric === 'dot' ? 'dot' : 'l2sq', q, this.centroids, 0, nlist, this.dim, cs, this.pinnedCentroids ?? null);
    const f = F32_BITS.f;
    const bits = F32_BITS.bits;
    const l2 = this.metric !== 'dot';
    // The centroids by descending score (the float32 sums), ties by ascending cluster number: a least
    // significant digit radix sort of each score's float32 bits mapped to an ascending unsigned key, stable,
    // from the clusters in ascending order. Sorting keys (key * 65536 + c in a Float64Array) with the
    // builtin sort gave the same order in ~15 us a segment (314 clusters), 7% of a 1M query of 10
    // segments; this takes ~7.5 us (docs/performance.md, "Session 35").
    let keys = po.keys;
    let order = po.order;
    for (let c = 0; c < nlist; c++) {
      f[0] = l2 ? cs[c]! : -cs[c]!;
      const b = bits[0]!;
      keys[c] = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0; // ascending key = descending score
      order[c] = c;
    }
    let keys2 = po.keys2;
    let order2 = po.order2;
    const count = RADIX_COUNTS;
    for (let shift = 0; shift < 32; shift += 8) {
      count.fill(0);
      for (let i = 0; i < nlist; i++) count[(keys[i]! >>> shift) & 255]!++;
      if (count[(keys[0]! >>> shift) & 255] === nlist) continue; // every key has this digit: the order stands
      let sum = 0;
      for (let d = 0; d < 256; d++) {
        const k = count[d]!;
        count[d] = sum;
        sum += k;
      }
      for (let i = 0; i < nlist; i++) {
        const key = keys[i]!;
        const at = count[(key >>> shift) & 255]!++;
        keys2[at] = key;
        order2[at] = order[i]!;
      }
      [keys, keys2] = [keys2, keys];
      [order, order2] = [order2, order];
    }
    // The sorted arrays are po's again under the names the next query expects (each pass swaps them).
    po.keys = keys;
    po.keys2 = keys2;
    po.order = order;
    po.order2 = order2;
    const scores = po.scores;
    for (let i = 0; i < nlist; i++) {
      const c = order[i]!;
      scores[i] = l2 ? -cs[c]! : cs[c]!;
    }
    return { order, scores };
  }

  /**
   * Scores every row of a cluster and offers those that can enter heap (and are allowed) to it. Scoring
   * a row costs less than calling `allow`, so `allow` is called only for rows that score high enough.
   * With the filter's mask loaded (version 5, see IvfSearchOptions.mask) the kernel tests each row's
   * ordinal against it and scores only the allowed rows, so every row it returns is allowed.
   */
  private scan(cl: Cluster, t: ScanQuery, heap: TopK, allow: ((ord: number) => boolean) | undefined, c: number, mask: KernelMask | null = null): void {
    const { ords } = cl;
    const cnt = ords.length;
    this.ensureScratch(cnt);
    const idx = this.idx;
    const sc = this.scores;
    let { add } = t;
    const dim = this.dim;
    let n: number;
    let mul: number;
    if (this.version === 5) {
      // 4-bit residual codes: the query in code units of cluster c (see nibbleQuery)
      const nq = this.nibbleQuery(t, c);
      mul = nq.mul;
      add = nq.add;
      const floor = heap.floor === -Infinity ? -Infinity : Math.fround((heap.floor - add) / mul);
      const kind = this.metric === 'dot' ? 'dot' : 'l2';
      const stride = this.layout.rowBytes - 4;
      // With the filter's mask loaded: only allowed rows are scored, every hit allowed (-1: not here).
      n = mask !== null && cl.block !== null ? scoreNibblesMaskedAbove(kind, nq.q16, cl.block, cnt, stride, mask, floor, idx, sc) : -1;
      if (n >= 0) {
        for (let j = 0; j < n; j++) {
          const s = mul * sc[j]! + add;
          if (s >= heap.floor) heap.push(s, ords[idx[j]!]!);
        }
        return;
      }
      n = kind === 'l2' && nq.exp !== null && cl.pinned !== null ? this.scanWithTerms(cl.pinned.at, c, nq.q16, nq.exp, cnt, stride, floor, idx, sc) : -1;
      if (n < 0) n = scoreNibblesAbove(kind, nq.q16, cl.pinned ?? cl.codes!, 0, cnt, stride, floor, idx, sc);
    } else if (cl.codes !== null && t.q16 !== null && codesKernelAvailable()) {
      // score = mul * kernel + add, mul > 0: a row reaches the floor iff its kernel value reaches this one
      mul = t.mul16;
      const floor = heap.floor === -Infinity ? -Infinity : Math.fround((heap.floor - add) / mul);
      n = scoreCodesAbove(t.q16, cl.pinned ?? cl.codes, 0, cnt, this.layout.rowBytes - 4, floor, idx, sc);
    } else {
      mul = t.mul;
      const floor = heap.floor === -Infinity ? -Infinity : Math.fround((heap.floor - add) / mul);
      // codes held but no kernel for them (the backend was switched to JS): decode them for this scan
      const vecs = cl.vecs ?? codesAsFloats(cl.codes!, cnt, dim, this.layout.rowBytes - 4);
      const pinned = cl.vecs === null ? null : cl.pinned;
      // Version 2 scans codes to rank candidates that are re-scored exactly: the faster ranking kernels.
      n = scoreRowsAbove(this.metric, t.q, vecs, 0, cnt, dim, floor, idx, sc, pinned, this.version !== 1);
    }
    for (let j = 0; j < n; j++) {
      const s = mul * sc[j]! + add;
      if (s < heap.floor) continue;
      const ord = ords[idx[j]!]!;
      if (allow !== undefined && !allow(ord)) continue;
      heap.push(s, ord);
    }
  }

  /**
   * `scan` without a filter of cluster c pinned whole at byte address `at` (its rows, then its ordinals;
   * version 5, l2 and cosine, a resident reader): through the rows' quadratic terms (scanWithTerms), with
   * the ordinals of the rows found read from the pinned copy, next to the rows just scanned. The same rows
   * offered to heap in the same order as `scan`. Why: `scan` reads the cluster's cache entry, its ordinals'
   * array and those ordinals from objects scattered over the heap, a cache miss each per probe (~5% of a 1M
   * `--batch` query, 160 probes; docs/performance.md "Session 35"). False when it cannot run (the caller then
   * scans the plain way).
   */
  private scanPinned(c: number, at: number, t: ScanQuery, heap: TopK): boolean {
    const nq = this.nibbleQuery(t, c);
    if (nq.exp === null) return false;
    const cnt = this.offsets[c + 1]! - this.offsets[c]!;
    const stride = this.layout.rowBytes - 4;
    this.ensureScratch(cnt);
    const { mul, add } = nq;
    const floor = heap.floor === -Infinity ? -Infinity : Math.fround((heap.floor - add) / mul);
    const sc = this.scores;
    const ords = this.idx;
    const n = this.scanWithTerms(at, c, nq.q16, nq.exp, cnt, stride, floor, ords, sc, at + cnt * stride);
    if (n < 0) return false;
    for (let j = 0; j < n; j++) {
      const s = mul * sc[j]! + add;
      if (s >= heap.floor) heap.push(s, ords[j]!);
    }
    return true;
  }

  /**
   * Version 5, l2 and cosine, cluster c pinned: the 4-bit scan through its rows' quadratic terms for
   * exponent `exp` (scoreNibblesTermAbove), computed and kept by the first scan of c that meets `exp`, read
   * by the next ones: the same values and rows as scoreNibblesAbove, ~27% less kernel time a row. -1 when
   * it cannot run (no room to pin the terms, no kernels): the caller then runs scoreNibblesAbove.
   */
  private scanWithTerms(rows: number, c: number, q16: Int16Array, exp: number, cnt: number, stride: number, floor: number, idx: Uint32Array, sc: Float64Array, ordsAt = -1): number {
    let slab = this.termSlabs.get(exp);
    if (slab === undefined) {
      if (this.termsRefused) return -1;
      if (this.termSlabs.size >= TERM_EXPONENTS) {
        const [oldest, s] = this.termSlabs.entries().next().value as [number, TermSlab];
        this.termSlabs.delete(oldest);
        unpinRows(s.block);
        this.pins.delete(s.block);
      }
      const block = pinTerms(this.offsets[this.nlist]!);
      if (block === null) {
        this.termsRefused = true; // no room in the kernels' memory: the plain scan from here on
        return -1;
      }
      this.pins.add(block); // freed with the reader's other pinned blocks, also if it is collected unreleased
      slab = { block, filled: new Uint8Array(this.nlist) };
      this.termSlabs.set(exp, slab);
    }
    const at = slab.block.at + 4 * this.offsets[c]!;
    if (slab.filled[c] === 1) return scoreNibblesTermAbove('given', q16, rows, cnt, stride, at, floor, idx, sc, ordsAt);
    const n = scoreNibblesTermAbove('save', q16, rows, cnt, stride, at, floor, idx, sc, ordsAt);
    if (n >= 0) slab.filled[c] = 1;
    return n;
  }
  /**
   * Readies a resident reader for queries like the ones it has answered (`query --batch --warm-up`, after its
   * rounds): the quadratic terms of every pinned cluster for each exponent of g met so far, and with a cosine
   * in-memory matrix every row's inverse norm. Both are otherwise computed by the first query that meets
   * them, a cluster or a row at a time: after 30 rounds of warm-up on the 1M bench namespace the first ~10
   * requests of a vector batch still took ~1.4x the later ones, 12.5% of their time in the kernel that saves
   * terms, against 2% later (docs/performance.md, "Session 37"). Answers do not change: the same values are
   * computed earlier. Costs one pass over the codes per exponent (a few ms per 100k rows) and one over the
   * matrix.
   */
  warm(): void {
    if (!this.resident) return;
    const m = this.metric === 'cosine' ? (this.originalMatrix?.() ?? null) : null;
    if (m !== null) fillAllInverseNorms(m.data, this.dim, (this.matrixNorms = inverseNorms(m.data, this.dim)));
    if (this.wholeAt === null || this.termSlabs.size === 0 || this.metric === 'dot') return;
    const stride = this.layout.rowBytes - 4;
    const dims = 2 * stride;
    for (const [e, slab] of this.termSlabs) {
      // The part of the query that matters here is F (nibbleQuery's, for this exponent); Q is zero and no
      // row reaches the floor: the scan only saves the terms (they depend on the row and F alone).
      const q16 = new Int16Array(2 * dims);
      q16.set(this.quadraticFactors(e), dims);
      for (let c = 0; c < this.nlist; c++) {
        const at = this.wholeAt[c]!;
        if (at < 0 || slab.filled[c] === 1) continue;
        const cnt = this.offsets[c + 1]! - this.offsets[c]!;
        this.ensureScratch(cnt);
        const termAt = slab.block.at + 4 * this.offsets[c]!;
        if (scoreNibblesTermAbove('save', q16, at, cnt, stride, termAt, Infinity, this.idx, this.scores, at + cnt * stride) >= 0) slab.filled[c] = 1;
      }
    }
  }

  /** A resident reader's clusters pinned whole: the byte address of each (see scanPinned), -1 for the others. */
  private wholeAt: Int32Array | null = null;
  /** scanWithTerms' terms by exponent of g, oldest first. */
  private readonly termSlabs = new Map<number, TermSlab>();
  /** Set when the kernels' memory had no room for terms. */
  private termsRefused = false;

  /** Estimates the fraction of a cluster's rows `allow` accepts from every 4th row: [allowed, sampled]. */
  private sampleAllowed(cl: Cluster, allow: (ord: number) => boolean): [number, number] {
    let allowed = 0;
    let sampled = 0;
    for (let r = 0; r < cl.ords.length; r += 4) {
      sampled++;
      if (allow(cl.ords[r]!)) allowed++;
    }
    return [allowed, sampled];
  }

  private ensureScratch(n: number): void {
    if (this.scores.length < n) {
      this.scores = new Float64Array(n);
      this.idx = new Uint32Array(n);
    }
  }

  /** Loads (checksum-verified) or returns the cached cluster c. */
  private cluster(c: number): Cluster {
    const hit = this.cache.get(c);
    if (hit !== undefined) {
      // Least recently used first, for eviction; with every cluster cached (a resident reader whose cache
      // holds the file) nothing is ever evicted, and the move (a Map delete and insert per probe, ~0.25 ms
      // of a 1M `--batch` vector query's ~2.4) is skipped.
      if (this.cache.size < this.nlist) {
        this.cache.delete(c);
        this.cache.set(c, hit);
      }
      return hit;
    }
    const start = this.offsets[c]!;
    const cnt = this.offsets[c + 1]! - start;
    const dim = this.dim;
    const rowBytes = this.layout.rowBytes;
    if (this.transient) {
      // Version 5: 4-bit codes, always kept as codes (holdsCodes); nothing here outlives the next read.
      const length = cnt * rowBytes;
      if (clusterScratch.length < length) clusterScratch = new Uint8Array(Math.max(length, 2 * clusterScratch.length));
      const bytes = clusterScratch.subarray(0, length);
      this.readInto(this.layout.data + start * rowBytes, bytes, c);
      return { ords: u32(bytes, 0, cnt), vecs: null, codes: bytes.subarray(4 * cnt), bytes: length, pinned: null, block: bytes, c };
    }
    const bytes = this.read(this.layout.data + start * rowBytes, cnt * rowBytes);
    if (crc32(bytes) !== this.crcs[c]) corrupt(`IVF cluster ${c} checksum mismatch`, { cluster: c });
    const stride = rowBytes - 4;
    const keepCodes = this.holdsCodes();
    // A view when `bytes` is (nearly) its own buffer, as a positional read returns it (the cluster's ords
    // are a view of it anyway): a copy doubled the memory a cold query touches for codes, and first-touched
    // memory costs ~11 us a page on the VMs we measure on. A copy when `bytes` is a view of a larger buffer
    // (an index file held whole) that the cache must not keep alive.
    const ownBuffer = bytes.buffer.byteLength - bytes.byteLength <= OWN_BUFFER_SLACK;
    const codes = !keepCodes ? null : ownBuffer ? bytes.subarray(4 * cnt, 4 * cnt + cnt * stride) : bytes.slice(4 * cnt, 4 * cnt + cnt * stride);
    const vecs =
      codes !== null
        ? null
        : this.version === 1
          ? f32(bytes, 4 * cnt, cnt * dim)
          : this.codeMode === 'affine'
            ? codesAsFloats(bytes.subarray(4 * cnt), cnt, dim, stride)
            : decodeRows(this.qmin, this.qscale, bytes.subarray(4 * cnt), cnt, dim, stride);
    const bytesLen = this.clusterBytes(c, codes !== null);
    // Version 5, resident: the whole cluster pinned (its ordinals too, 4 bytes a row more, for the masked
    // kernels), `pinned` its rows; unpin() frees the block.
    const whole = this.version === 5 && this.resident && codes !== null ? pinClusterRows(bytes, cnt, stride) : null;
    const pinned =
      whole !== null
        ? whole.rows
        : !this.resident
          ? null
          : codes !== null
            ? pinCodes(codes, cnt, stride)
            : pinRows(vecs!, 0, cnt, dim);
    if (whole !== null) this.pins.add(whole.block);
    else if (pinned !== null) this.pins.add(pinned);
    // otherwise the read bytes, where `codes` is a view of them (see ownBuffer)
    const block = whole?.block ?? (this.version === 5 && codes !== null && ownBuffer ? bytes.subarray(0, cnt * rowBytes) : null);
    const cl: Cluster = { ords: u32(bytes, 0, cnt), vecs, codes, bytes: bytesLen, pinned, block, c };
    if (whole !== null) (this.wholeAt ??= new Int32Array(this.nlist).fill(-1))[c] = whole.block.at;
    this.cache.set(c, cl);
    this.cacheBytes += bytesLen;
    for (const [key, v] of this.cache) {
      if (this.cacheBytes <= this.cacheLimit || key === c) break;
      this.cache.delete(key);
      this.cacheBytes -= v.bytes;
      this.unpin(v);
    }
    return cl;
  }

  /**
   * Whether loaded clusters hold their uint8 codes (scored by the codes kernel) rather than floats:
   * version 2 'affine' rows of a dot or cosine file, when the WebAssembly kernels are available. (l2 keeps
   * floats: its kernel needs the squared distance, not a dot product.)
   */
  private holdsCodes(): boolean {
    if (this.version === 5) return true; // scored as they are, by the WebAssembly kernels or their JS twin
    return this.version !== 1 && this.codeMode === 'affine' && this.metric !== 'l2' && codesKernelAvailable();
  }

  private unpin(cl: Cluster): void {
    if (this.wholeAt !== null) this.wholeAt[cl.c] = -1;
    if (cl.block !== null && !(cl.block instanceof Uint8Array)) {
      // the pinned whole cluster; `pinned` is a view into it
      unpinRows(cl.block);
      this.pins.delete(cl.block);
      cl.block = null;
      cl.pinned = null;
      return;
    }
    if (cl.pinned === null) return;
    unpinRows(cl.pinned);
    this.pins.delete(cl.pinned);
    cl.pinned = null;
  }

  /** What a loaded cluster costs the cache: its bytes (version 2: codes, and decoded rows unless `codesOnly`). */
  private clusterBytes(c: number, codesOnly = false): number {
    const per = this.version === 1 ? 4 + 4 * this.dim : this.layout.rowBytes + (codesOnly ? 0 : 4 * this.dim);
    return (this.offsets[c + 1]! - this.offsets[c]!) * per;
  }

  private clusterOfRow(row: number): number {
    const off = this.offsets;
    let lo = 0;
    let hi = this.nlist - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (off[mid]! <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private loadOrdIndex(): OrdIndex {
    if (this.ordIndex !== null) return this.ordIndex;
    const n = this.size;
    if (this.version === 4 || this.version === 5) {
      // No ord index in the file: built from the clusters' ordinals (each cluster checksum-verified).
      const ordOfRow = new Uint32Array(n);
      for (let c = 0; c < this.nlist; c++) ordOfRow.set(this.clusterOrds(c), this.offsets[c]!);
      const rows = argsortOrds(ordOfRow);
      const sortedOrds = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        sortedOrds[i] = ordOfRow[rows[i]!]!;
        if (i > 0 && sortedOrds[i]! <= sortedOrds[i - 1]!) corrupt('IVF clusters hold an ordinal twice');
      }
      this.ordIndex = { sortedOrds, rows };
      return this.ordIndex;
    }
    const bytes = this.read(this.layout.ordIndex, 8 * n);
    if (crc32(bytes) !== this.ordIndexCrc) corrupt('IVF ord index checksum mismatch');
    const sortedOrds = u32(bytes, 0, n);
    const rows = u32(bytes, 4 * n, n);
    for (let i = 0; i < n; i++) {
      if (rows[i]! >= n || (i > 0 && sortedOrds[i]! <= sortedOrds[i - 1]!)) corrupt('IVF ord index is inconsistent');
    }
    this.ordIndex = { sortedOrds, rows };
    return this.ordIndex;
  }

  private rowOfOrd(ord: number): number {
    if (!Number.isInteger(ord) || ord < 0 || ord > 0xffffffff || this.size === 0) return -1;
    const { sortedOrds, rows } = this.loadOrdIndex();
    let lo = 0;
    let hi = sortedOrds.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = sortedOrds[mid]!;
      if (v === ord) return rows[mid]!;
      if (v < ord) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Distinct known ords as [row, ord] pairs, sorted by row. */
  private rowsOf(ords: Iterable<number>): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const seen = new Set<number>();
    for (const ord of ords) {
      if (seen.has(ord)) continue;
      seen.add(ord);
      const row = this.rowOfOrd(ord);
      if (row >= 0) out.push([row, ord]);
    }
    out.sort((a, b) => a[0] - b[0]);
    return out;
  }

  /**
   * `out` filled from `offset` (a source with readInto: see transientClusters), verified; with `cluster`, the
   * bytes are cluster `cluster` and are checked against its CRC-32 (by the source in one pass where it can,
   * ByteSource.readIntoChecked).
   */
  private readInto(offset: number, out: Uint8Array, cluster?: number): void {
    readIntoFrom(this.src, offset, out, cluster === undefined ? undefined : { crc: this.crcs[cluster]!, label: `IVF cluster ${cluster}`, details: { cluster } });
    this.bytesRead += out.length;
    this.reads++;
  }

  private read(offset: number, length: number): Uint8Array {
    const stats = { bytes: 0, reads: 0 };
    const out = readFrom(this.src, offset, length, stats);
    this.bytesRead += stats.bytes;
    this.reads += stats.reads;
    return out;
  }
}

/** Bytes by which a read's buffer may exceed the read for the cache to keep a view of it (block-aligned reads). */
const OWN_BUFFER_SLACK = 16 * 1024;
/** Rows an unfiltered `search` scans at least (~0.15 ms with the SIMD kernels at 128 dimensions). */
const MIN_SCAN_ROWS = 4096;
/**
 * Ordinals per page of a reader's remembered inverse norms (IvfReader.invPages): 512-byte pages. A cold
 * query's few dozen candidates per segment are scattered: 8 KiB pages made each of them a fresh page of
 * memory to touch (~14 ms of a cold 1M query over 11 segments on a small VM).
 */
const INV_PAGE_BITS = 6;
const INV_PAGE = 1 << INV_PAGE_BITS;
const INV_PAGE_MASK = INV_PAGE - 1;
/**
 * Version 5 `search`: the most times the candidate list is made 4 times longer because a row it could not
 * hold might still be in the top k (see codingBound): 60 -> 240 -> 960 -> 3,840 -> 15,360 for k = 10.
 */
const WIDEN_ROUNDS = 4;
/** A widened candidate list of at least 1/EXACT_AFTER_WIDENING of a segment's rows gives way to its exact scan. */
const EXACT_AFTER_WIDENING = 4;
/**
 * IvfReader.codingBound's function, as an object reused search after search: closures made for each
 * search and segment were ~10 KB of garbage a round of the bench's requests at 1M, and calls to them
 * (not inlined: a new closure each time) boxed their double arguments and results (docs/performance.md,
 * session 40). `norm2` is the unit of the reader's last probe (IvfReader.lastNorm2), set after each probe.
 */
class CodingBound {
  private e = 0;
  private dot = false;
  private cosine = false;
  norm2 = 1;

  reset(metric: Metric, e: number): this {
    this.dot = metric === 'dot';
    this.cosine = metric === 'cosine';
    this.e = e;
    this.norm2 = 1;
    return this;
  }

  /** The highest exact score a candidate of this estimated score can be expected to have. */
  ub(est: number): number {
    if (this.dot) return est + this.e;
    // l2 and cosine, in distances: the estimate is -|q - x'|^2 / norm2 (nibbleQuery), the exact score
    // -|q - x| (l2) or 1 - |q - x|^2 / 2 (cosine, unit vectors).
    const far = Math.max(0, this.estDist(est) - this.e);
    return this.cosine ? 1 - (far * far) / 2 : -far;
  }

  /** Raises the allowance to what this re-scored candidate's estimate erred by. */
  observe(est: number, exact: number): void {
    if (this.dot) {
      this.e = Math.max(this.e, CODING_BOUND_OBSERVED * (exact - est));
      return;
    }
    const dist = this.cosine ? Math.sqrt(Math.max(0, 2 - 2 * exact)) : -exact;
    this.e = Math.max(this.e, CODING_BOUND_OBSERVED * (this.estDist(est) - dist));
  }

  private estDist(est: number): number {
    return Math.sqrt(Math.max(0, -est * this.norm2));
  }
}

/** codingBound: standard deviations of a row's coding error allowed for (P(|Z| > 4) = 6e-5 for a Gaussian). */
const CODING_BOUND_Z = 3;
/** codingBound's margin over the uniform model (rows coded at the end of their range, int16 rounding). */
const CODING_BOUND_MARGIN = 1;
/** codingBound: the allowance is at least this times the largest estimate error seen on the query's candidates. */
const CODING_BOUND_OBSERVED = 1.25;
/** Cosine `search`: the most times a search is repeated with a wider candidate list for zero vectors. */
const ZERO_VECTOR_ROUNDS = 4;
/**
 * Which clusters past the base probes are worth probing, for one query over one IVF reader (version 5).
 *
 * A row is x = c + r, so |q - x|^2 = |q - c|^2 + |r|^2 - 2 (q - c) . r (dot: q . x = q . c + q . r).
 * Residual directions are close to independent of the query's direction from the centroid, so over a
 * cluster's rows (q - c) . r is about normal with standard deviation |q - c| R / sqrt(dim) (dot: |q| R /
 * sqrt(dim)), R the residuals' root mean square norm, read off the quantizer (its range is their 0.37% to
 * 99.63% quantiles per dimension, mean +- 2.68 standard deviations). A probed cluster of m rows whose
 * centroid scores s (-|q - c|^2, or q . c) then has its k-th best row near s + z(k / m) sigma, z(p) the
 * normal quantile of 1 - p (0 from p = 1/2), sigma = 2 |q - c| R / sqrt(dim) (dot: |q| R / sqrt(dim)); the
 * reference is the best of these over the clusters probed so far (a tiny cluster of outliers, often the
 * nearest to a query far from the data, contributes only its centroid). A further cluster is probed while
 * its rows could pass the reference at the segment's most extreme draw, z = sqrt(2 ln n) over its n rows.
 *
 * Why the most extreme draw and not a cluster's own (sqrt(2 ln m)): the true top rows of a query far from
 * all data come from the tails of many clusters, and clusters differ in spread. Measured (a tester's case,
 * 50k x 64 N(0, 1) under l2, queries 50 away in every dimension): recall@10 0.10 with a cluster's own best
 * draw against the nearest cluster's k-th, 1 with this rule; a mixture model solving for the expected k-th
 * best of the whole segment probed too few clusters (0.10 again): one R for every cluster understates the
 * tails of the wide ones. The price is paid only where it fires: unclustered data, queries far from the
 * data (docs/performance.md, "Session 26"). On well-separated data it stops at the first cluster past the
 * base probes. An estimate, not a bound; published scores stay exact.
 */
class ProbeReach {
  private dot = false;
  private dim = 0;
  private offsets: Uint32Array = new Uint32Array(0);
  private order: Uint32Array = new Uint32Array(0);
  private scores: Float64Array = new Float64Array(0);
  private q: Float32Array = new Float32Array(0);
  private sigmaUnit = 0;
  private zMax = 0;
  private qNorm = -1;
  /** The reference for `refKth` over probe ranks [0, refUpTo). */
  private ref = -Infinity;
  private refUpTo = 0;
  private refKth = -1;

  /**
   * For one probe: the segment's metric, dimension, size, cluster offsets and residual rms (residualRms),
   * the probe order with its centroid scores, and the prepared query. Returns this.
   */
  reset(metric: Metric, dim: number, size: number, offsets: Uint32Array, rms: number, order: Uint32Array, scores: Float64Array, q: Float32Array): this {
    this.dot = metric === 'dot';
    this.dim = dim;
    this.offsets = offsets;
    this.order = order;
    this.scores = scores;
    this.q = q;
    this.sigmaUnit = rms / Math.sqrt(dim);
    this.zMax = Math.sqrt(2 * Math.log(Math.max(2, size)));
    this.qNorm = -1;
    this.ref = -Infinity;
    this.refUpTo = 0;
    this.refKth = -1;
    return this;
  }

  /** The standard deviation of the scores of the rows of the cluster at probe rank i. */
  private sigma(i: number): number {
    if (this.dot) {
      if (this.qNorm < 0) {
        let qq = 0;
        for (let d = 0; d < this.dim; d++) qq += this.q[d]! * this.q[d]!;
        this.qNorm = Math.sqrt(qq);
      }
      return this.sigmaUnit * this.qNorm;
    }
    return 2 * this.sigmaUnit * Math.sqrt(Math.max(0, -this.scores[i]!));
  }

  /** Whether the cluster at probe rank p (every rank before it probed) is worth probing for the kth best row. */
  worthProbing(p: number, kth: number): boolean {
    if (!(this.sigmaUnit > 0)) return false;
    if (kth !== this.refKth) {
      this.refKth = kth;
      this.ref = -Infinity;
      this.refUpTo = 0;
    }
    const off = this.offsets;
    for (; this.refUpTo < p; this.refUpTo++) {
      const i = this.refUpTo;
      const m = off[this.order[i]! + 1]! - off[this.order[i]!]!;
      this.ref = Math.max(this.ref, this.scores[i]! + this.sigma(i) * normalQuantile(1 - Math.min(0.5, kth / m)));
    }
    return this.scores[p]! + this.sigma(p) * this.zMax > this.ref;
  }
}

/**
 * The standard normal quantile of p in [0.5, 1): Abramowitz and Stegun 26.2.23 (absolute error < 4.5e-4),
 * enough for a probe rule.
 */
function normalQuantile(p: number): number {
  if (p <= 0.5) return 0;
  const t = Math.sqrt(-2 * Math.log(1 - p));
  return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
}

/** Fraction of the best-to-median centroid score gap within which `search` keeps probing. */
const NPROBE_GAP = 0.25;

/** Probes for a filtered search: base / sqrt(selectivity), clamped to [base, nlist]. */
function raise(base: number, selectivity: number, nlist: number): number {
  return Math.min(nlist, Math.max(base, Math.ceil(base / Math.sqrt(selectivity))));
}

/**
 * `out` filled from `offset` of `src` (which must have readInto), verified by the source; with `check`,
 * also against that CRC-32 (by the source in one pass where it can: ByteSource.readIntoChecked). A read
 * past the source's end is CORRUPT_SEGMENT.
 */
function readIntoFrom(src: ByteSource, offset: number, out: Uint8Array, check?: { crc: number; label: string; details?: Record<string, unknown> }): void {
  try {
    if (check === undefined) src.readInto!(offset, out);
    else if (src.readIntoChecked !== undefined) src.readIntoChecked(offset, out, check.crc, check.label);
    else {
      src.readInto!(offset, out);
      if (crc32(out) !== check.crc) corrupt(`${check.label} checksum mismatch`, check.details);
    }
  } catch (e) {
    if (e instanceof RangeError) corrupt(`IVF read of [${offset}, ${offset + out.length}) failed: ${e.message}`);
    throw e;
  }
}

function readFrom(src: ByteSource, offset: number, length: number, stats: { bytes: number; reads: number }): Uint8Array {
  let out: Uint8Array;
  try {
    out = src.read(offset, length);
  } catch (e) {
    if (e instanceof RangeError) corrupt(`IVF read of [${offset}, ${offset + length}) failed: ${e.message}`);
    throw e;
  }
  if (out.length !== length) corrupt(`IVF read of ${length} bytes returned ${out.length}`);
  stats.bytes += length;
  stats.reads++;
  return out.byteOffset % 4 === 0 ? out : out.slice();
}

function u32(bytes: Uint8Array, at: number, count: number): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset + at, count);
}

function f32(bytes: Uint8Array, at: number, count: number): Float32Array {
  return new Float32Array(bytes.buffer, bytes.byteOffset + at, count);
}

function checkQuery(query: Float32Array, dim: number): void {
  if (query.length !== dim) {
    throw new ElacsymError('INVALID_QUERY', `the query vector has ${query.length} dimensions, the index has ${dim}`);
  }
  for (let i = 0; i < dim; i++) {
    if (!Number.isFinite(query[i]!)) throw new ElacsymError('INVALID_QUERY', 'the query vector has a non-finite component');
  }
}

function corrupt(message: string, details: Record<string, unknown> = {}): never {
  throw new ElacsymError('CORRUPT_SEGMENT', message, { details });
}

function internal(message: string): never {
  throw new ElacsymError('INTERNAL', message);
}

function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) internal('the IVF format is read and written through typed arrays and needs a little-endian CPU');
}
