/**
 * Turns a list of documents (ordinal = position) into the two files of a segment: the Parquet file (the
 * documents, readable by any Parquet tool) and the index file (what queries read: ids, attributes,
 * filter columns, full-text postings, the IVF vector index).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ElacsymError } from '../errors.js';
import type { AttrValue, Doc, Schema } from '../model/types.js';
import { idKey } from '../model/document.js';
import { ownValue } from '../model/schema.js';
import { encodeAttributeShapes, encodeColumn } from '../index/filter/columns.js';
import { createAnalyzer } from '../index/fulltext/analyzer.js';
import { FIELD_INDEX_VERSION_COMPACT, FieldIndexBuilder, fieldIndexVersion } from '../index/fulltext/postings.js';
import { buildFlatIndex, buildIvf, FLAT_BELOW } from '../index/vector/ivf.js';
import { rowsPerGroupFor, writeSegmentParquetTo } from '../storage/parquet.js';
import { storedOnceLayout } from '../storage/parquet-text.js';
import { COMPACT_INDEX_FORMAT_VERSION, NIBBLE_CODES_FORMAT_VERSION, SEGMENT_FORMAT_VERSION, STORED_ONCE_FORMAT_VERSION } from '../storage/manifest.js';
import { BlockChecksums, buildSegmentFile, encodeStringTable } from '../storage/segment-file.js';
import { crc32 } from '../util/crc32.js';
import { COLLECT_FROM_DOCS, fullCollection } from '../util/gc.js';
import type { SegmentStore } from '../storage/segment-store.js';

export type BuildPhase = 'parquet' | 'fulltext' | 'vectors' | 'columns';

/** Below this many vectors the IVF index is built inline: a worker's start-up would cost more. */
const WORKER_MIN_VECTORS = 5000;

export interface PackedVectors {
  /** The vectors of the documents that have one, row-major, in shared memory (see packVectors). */
  packed: Float32Array;
  ords: Uint32Array;
}

/**
 * The documents' vectors as one row-major array in shared memory, for the IVF build (its worker only
 * reads them, see BuildIvfOptions.consumeVectors). When they already are consecutive rows of one
 * SharedArrayBuffer (a flush of an import without repeated ids: the writer's VectorArena), that array is
 * a view of them and nothing is copied: the segment's vectors are held once, by this thread (the Parquet
 * writer reads them) and the worker alike. Otherwise (repeated ids, a flush of the journal backlog,
 * compaction) they are copied, as before.
 */
export function packVectors(docs: readonly Doc[], dim: number): PackedVectors | null {
  if (dim === 0) return null;
  const n = docs.length;
  let k = 0;
  let first: Float32Array | null = null;
  let contiguous = true;
  for (let i = 0; i < n; i++) {
    const v = docs[i]!.vector;
    if (!v) continue;
    if (first === null) first = v;
    else if (v.buffer !== first.buffer || v.byteOffset !== first.byteOffset + k * dim * 4) contiguous = false;
    if (v.length !== dim) contiguous = false;
    k++;
  }
  const ords = new Uint32Array(k);
  k = 0;
  for (let i = 0; i < n; i++) if (docs[i]!.vector) ords[k++] = i;
  if (first !== null && contiguous && first.buffer instanceof SharedArrayBuffer) {
    return { packed: new Float32Array(first.buffer, first.byteOffset, k * dim), ords };
  }
  const packed = new Float32Array(new SharedArrayBuffer(k * dim * 4));
  k = 0;
  for (let i = 0; i < n; i++) {
    const v = docs[i]!.vector;
    if (v) packed.set(v, k++ * dim);
  }
  return { packed, ords };
}

function startIvf(v: PackedVectors, schema: Schema, seed: number, signal?: AbortSignal): Promise<Uint8Array> {
  const { packed, ords } = v;
  const inline = () => Promise.resolve(buildIvf(packed, ords, schema.vector_dim, schema.vector_metric, { seed }));
  // The worker file beside this module: dist/ivf-worker.mjs next to the CLI bundle, or
  // dist/store/ivf-worker.js next to tsc's output. From TypeScript sources (unit tests) there is none.
  const url = [new URL('./ivf-worker.mjs', import.meta.url), new URL('./ivf-worker.js', import.meta.url)].find((u) => existsSync(fileURLToPath(u)));
  if (ords.length < WORKER_MIN_VECTORS || !url) return inline();
  return new Promise<Uint8Array>((resolve, reject) => {
    // Shared, not copied (packVectors): the worker reads the vectors this thread writes to Parquet.
    const w = new Worker(url, { workerData: { vectors: packed, ords, dim: schema.vector_dim, metric: schema.vector_metric, seed }, transferList: [ords.buffer as ArrayBuffer] });
    // An interrupt ends the build at once: the worker is the long part, and nothing it makes is committed.
    const onAbort = () => {
      reject(new ElacsymError('INTERRUPTED', 'interrupted while building a vector index'));
      void w.terminate();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    w.once('message', (m: Uint8Array) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (code !== 0) reject(new Error(`IVF build worker exited with status ${code}`));
    });
  });
}

/** The index file's sections alone, without the Parquet file and its vector locator (unit tests of the sections). */
export function buildIndexFile(docs: readonly Doc[], schema: Schema, seed: number): Uint8Array[] {
  const vec = packVectors(docs, schema.vector_dim);
  const sections = buildSections(docs, schema);
  if (vec) {
    const n = vec.ords.length;
    sections.push({ name: 'ivf', bytes: n < FLAT_BELOW ? buildFlatIndex(n, schema.vector_dim, schema.vector_metric) : buildIvf(vec.packed, vec.ords, schema.vector_dim, schema.vector_metric, { seed }) });
  }
  return buildSegmentFile(sections);
}

/**
 * `storedOnce`: string attributes whose values the segment's Parquet file holds for queries (`txt:`
 * sections, parquet-text.ts): no `col:` section of their own.
 */
function buildSections(docs: readonly Doc[], schema: Schema, onPhase?: (p: BuildPhase) => void, storedOnce: ReadonlySet<string> = new Set()): { name: string; bytes: Uint8Array }[] {
  const n = docs.length;
  const sections: { name: string; bytes: Uint8Array }[] = [];
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = idKey(docs[i]!.id);
  sections.push({ name: 'ids', bytes: encodeStringTable(ids) });

  // Each attribute value is stored once, in its typed column (index/filter/columns.ts); the `attrs`
  // section keeps each document's keys in their written order, so attributesOf rebuilds the document
  // exactly. Only values that do not fit one kind per attribute (a validated import never writes them)
  // fall back to the release-1 form: JSON columns and a `docs` section of JSON objects.
  onPhase?.('columns');
  const names = new Set<string>();
  // Attribute names are data: own keys only, so "constructor" or "toString" never read Object.prototype.
  for (const d of docs) for (const k of Object.keys(d.attributes)) names.add(k);
  const sorted = [...names].sort();
  // One attribute's values at a time (memory: one JS array of n values, not one per attribute).
  const valuesOf = (name: string) => {
    const col = new Array<AttrValue | null>(n);
    for (let i = 0; i < n; i++) col[i] = ownValue(docs[i]!.attributes, name) ?? null;
    return col;
  };
  const columns: { name: string; bytes: Uint8Array }[] = [];
  for (const name of sorted) {
    // Stored once: only strings or nulls by construction (storedOnceLayout), so always a typed column.
    if (storedOnce.has(name)) continue;
    const bytes = encodeColumn(valuesOf(name));
    if (!bytes) break;
    columns.push({ name: `col:${name}`, bytes });
  }
  const typedNames = sorted.filter((name) => !storedOnce.has(name));
  if (columns.length === typedNames.length) sections.push({ name: 'attrs', bytes: encodeAttributeShapes(docs.map((d) => d.attributes)) }, ...columns);
  else {
    sections.push({ name: 'docs', bytes: encodeStringTable(docs.map((d) => JSON.stringify(d.attributes))) });
    for (const name of sorted) sections.push({ name: `col:${name}`, bytes: new TextEncoder().encode(JSON.stringify(valuesOf(name))) });
  }

  onPhase?.('fulltext');
  // ... and the attribute columns' before the postings are (the Parquet file's are gone already).
  if (n >= COLLECT_FROM_DOCS) fullCollection();
  for (const [name, def] of Object.entries(schema.attributes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!def.full_text) continue;
    const analyzer = createAnalyzer(def.full_text);
    // Each document's tokens go into the builder as they are made (never a whole segment's Token objects).
    const field = new FieldIndexBuilder(n, def.full_text.positions ?? true);
    for (let i = 0; i < n; i++) {
      const v = ownValue(docs[i]!.attributes, name);
      field.add(typeof v === 'string' || Array.isArray(v) ? analyzer.analyzeValue(v) : null);
    }
    sections.push({ name: `ft:${name}`, bytes: field.finish() });
  }

  return sections;
}

export interface SegmentFiles {
  id: number;
  parquet: string;
  idx: string;
  parquetBytes: number;
  parquetCrc: number;
  indexBytes: number;
  indexCrc: number;
  docCount: number;
  /**
   * The manifest format version the segment needs (manifest.ts FORMAT_VERSION): 8 with an IVF of 4-bit
   * codes (version 5: every segment of FLAT_BELOW or more vectors), 7 with another compact index structure
   * (a flat vector index, a version 3 full-text index), 6 with stored-once text, else 4.
   */
  formatVersion: number;
}

export const segmentFileName = (id: number, ext: 'parquet' | 'idx') => `seg-${String(id).padStart(8, '0')}.${ext}`;


/**
 * Build a segment and write its two files into `store`, each atomically (see SegmentStore.put), Parquet
 * first. Nothing refers to them until the caller's manifest transaction does, so a crash
 * anywhere in here leaves only orphans for the garbage collector.
 *
 * Both cores: the IVF build (the most expensive part) runs in a worker thread while this thread writes
 * the Parquet file, the attribute sections and the full-text postings.
 *
 * Memory: the Parquet file is written to the store while it is made, chunk by chunk, and is complete before
 * the index file's sections are built, so its bytes (~60 MB for 100k x 128) are never held. The order of
 * the two files and of the hooks (fail points) is unchanged: the Parquet file, then the index file.
 */
export async function writeSegment(
  store: SegmentStore,
  id: number,
  docs: readonly Doc[],
  schema: Schema,
  hooks: { onPhase?: (p: BuildPhase) => void; afterParquet?: () => void; afterIndex?: () => void; signal?: AbortSignal } = {},
): Promise<SegmentFiles> {
  const { onPhase, signal } = hooks;
  // What made the documents (a flush's parsing and journalling, a merge's decoding) left about as much
  // garbage as they take: collected before the build adds its own (util/gc.ts).
  if (docs.length >= COLLECT_FROM_DOCS) fullCollection();
  const vec = packVectors(docs, schema.vector_dim);
  // A segment of few vectors gets a flat index (ivf.ts, version 3): scanned exactly, no codes stored.
  // Either that (format 7) or an IVF of version 5, 4-bit codes (format 8; see segmentFormatVersion).
  const flat = vec !== null && vec.ords.length < FLAT_BELOW;
  const ivf = vec ? (flat ? Promise.resolve(buildFlatIndex(vec.ords.length, schema.vector_dim, schema.vector_metric)) : startIvf(vec, schema, id, signal)) : null;
  // The caller may stop awaiting (interrupt) before the IVF promise settles: never leave it unhandled.
  ivf?.catch(() => undefined);
  onPhase?.('parquet');
  const parquet = segmentFileName(id, 'parquet');
  const idx = segmentFileName(id, 'idx');
  // The Parquet file goes to the store as the writer makes it (never whole in memory); its CRC and block
  // checksums are computed on the way.
  const out = store.create(parquet);
  const blocks = new BlockChecksums();
  let parquetCrc = 0;
  let written: Awaited<ReturnType<typeof writeSegmentParquetTo>>;
  const once = storedOnceLayout(docs, schema, rowsPerGroupFor(schema.vector_dim));
  try {
    written = await writeSegmentParquetTo(docs, schema, {
      write: (c) => {
        out.write(c);
        blocks.update(c);
        parquetCrc = crc32(c, parquetCrc);
      },
      read: (offset, length) => out.read(offset, length),
    }, { storedOnce: once.names, rowsPerGroup: once.rowsPerGroup });
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
  const parquetBytes = written.size;
  hooks.afterParquet?.();
  // Vectors are stored once, in the Parquet file: the index file says where each one is (`vecloc`) and
  // carries the block checksums of the Parquet file (`parquet-crc`), so a query reads one vector by range
  // and verifies the blocks it touches (see SegmentHandle.vectorOf).
  // Long text is stored once too (parquet-text.ts): `txt:<name>` locates it, verified by the same blocks.
  const parquetSections: { name: string; bytes: Uint8Array }[] = [];
  if (written.vectorLocator) parquetSections.push({ name: 'vecloc', bytes: written.vectorLocator });
  for (const [name, bytes] of written.textLocators) parquetSections.push({ name: `txt:${name}`, bytes });
  if (parquetSections.length > 0) parquetSections.push({ name: 'parquet-crc', bytes: blocks.finish() });

  // The Parquet write's garbage (each row group's Arrow buffers and IPC copy) goes before the index
  // file's sections are built (see util/gc.ts).
  if (docs.length >= COLLECT_FROM_DOCS) fullCollection();
  const sections = buildSections(docs, schema, onPhase, once.names);
  sections.push(...parquetSections);
  if (ivf) {
    onPhase?.('vectors');
    sections.push({ name: 'ivf', bytes: await ivf });
  }
  const index = buildSegmentFile(sections);
  store.put(idx, index);
  hooks.afterIndex?.();
  let indexCrc = 0;
  let indexBytes = 0;
  for (const c of index) {
    indexCrc = crc32(c, indexCrc);
    indexBytes += c.length;
  }
  // Format 7: a flat vector index, or a version 3 field index; format 8: an IVF of 4-bit codes (version 5).
  const compactIndex = vec !== null || sections.some((s) => s.name.startsWith('ft:') && fieldIndexVersion(s.bytes) === FIELD_INDEX_VERSION_COMPACT);
  const nibbleCodes = vec !== null && !flat;
  return { id, parquet, idx, parquetBytes, parquetCrc, indexBytes, indexCrc, docCount: docs.length, formatVersion: segmentFormatVersion({ storedOnce: once.names.size > 0, compactIndex, nibbleCodes }) };
}

/**
 * The manifest format a segment needs (storage/manifest.ts, FORMAT_VERSION): the highest version among the
 * structures its files use, so a namespace is raised only by what its segments hold.
 */
export function segmentFormatVersion(uses: { storedOnce: boolean; compactIndex: boolean; nibbleCodes?: boolean }): number {
  if (uses.nibbleCodes) return NIBBLE_CODES_FORMAT_VERSION;
  if (uses.compactIndex) return COMPACT_INDEX_FORMAT_VERSION;
  if (uses.storedOnce) return STORED_ONCE_FORMAT_VERSION;
  return SEGMENT_FORMAT_VERSION;
}
