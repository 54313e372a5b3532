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
import { AttributeShapesBuilder, ColumnBuilder } from '../index/filter/columns.js';
import { createAnalyzer } from '../index/fulltext/analyzer.js';
import { FIELD_INDEX_VERSION_COMPACT, FieldIndexBuilder, fieldIndexVersion } from '../index/fulltext/postings.js';
import { buildFlatIndex, buildIvf, FLAT_BELOW, IvfStreamBuilder, VectorReservoir } from '../index/vector/ivf.js';
import { rowsPerGroupFor, writeSegmentParquetTo } from '../storage/parquet.js';
import { storedOnceLayoutOf } from '../storage/parquet-text.js';
import { arraySource, buildCheckpoint, type DocSource, type DocSurvey, surveyDocs } from '../storage/doc-source.js';
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
 * SharedArrayBuffer (a flush of an import without repeated ids: the writer's VectorArena; a merge: the
 * group's arena, compact.ts), that array is a view of them and nothing is copied: the segment's vectors are
 * held once, by this thread (the Parquet writer reads them) and the worker alike. Otherwise (repeated ids,
 * a flush of the journal backlog) they are copied.
 */
export function packVectors(docs: readonly Doc[], dim: number): PackedVectors | null {
  if (dim === 0) return null;
  const p = new VectorPacker(dim, docs.length);
  p.add(docs);
  return p.finish();
}

/**
 * packVectors fed chunk by chunk, in ordinal order (a merge's documents are not held at once). While the
 * vectors are consecutive rows of one buffer nothing is copied; at the first that is not, the rows so far
 * (one region of that buffer, still alive) are copied into a shared array of `capacity` rows, and every
 * vector after them too. Pages of that array past the last row are never touched, so never committed.
 */
export class VectorPacker {
  private first: Float32Array | null = null;
  private k = 0;
  private n = 0;
  private copy: Float32Array | null = null;
  private ords: Uint32Array;
  constructor(
    private readonly dim: number,
    private readonly capacity: number,
  ) {
    this.ords = new Uint32Array(Math.max(16, capacity));
  }

  add(docs: readonly Doc[]): void {
    const dim = this.dim;
    for (let j = 0; j < docs.length; j++) {
      const v = docs[j]!.vector;
      const ord = this.n + j;
      if (!v) continue;
      if (this.k >= this.ords.length) {
        const grown = new Uint32Array(this.ords.length * 2);
        grown.set(this.ords);
        this.ords = grown;
      }
      this.ords[this.k] = ord;
      if (this.copy === null) {
        if (this.first === null) this.first = v;
        else if (v.length !== dim || v.buffer !== this.first.buffer || v.byteOffset !== this.first.byteOffset + this.k * dim * 4) this.startCopy();
      }
      if (this.copy === null && v.length !== dim) this.startCopy();
      if (this.copy !== null) this.copy.set(v.subarray(0, dim), this.k * dim);
      this.k++;
    }
    this.n += docs.length;
  }

  private startCopy(): void {
    const rows = Math.max(this.capacity, this.k + 1);
    const copy = new Float32Array(new SharedArrayBuffer(rows * this.dim * 4));
    if (this.k > 0) copy.set(new Float32Array(this.first!.buffer, this.first!.byteOffset, this.k * this.dim));
    this.copy = copy;
  }

  finish(): PackedVectors {
    const { k, dim } = this;
    const ords = this.ords.slice(0, k);
    const first = this.first;
    if (this.copy === null && first !== null && first.buffer instanceof SharedArrayBuffer) {
      return { packed: new Float32Array(first.buffer, first.byteOffset, k * dim), ords };
    }
    if (this.copy === null) {
      // Consecutive rows of an ordinary buffer (or none): into shared memory, for the worker.
      const packed = new Float32Array(new SharedArrayBuffer(k * dim * 4));
      if (k > 0) packed.set(new Float32Array(first!.buffer, first!.byteOffset, k * dim));
      return { packed, ords };
    }
    return { packed: this.copy.subarray(0, k * dim), ords };
  }
}

/** The IVF worker's file beside this module, if built (none from TypeScript sources: unit tests). */
function ivfWorkerUrl(): URL | undefined {
  // dist/ivf-worker.mjs next to the CLI bundle, or dist/store/ivf-worker.js next to tsc's output.
  return [new URL('./ivf-worker.mjs', import.meta.url), new URL('./ivf-worker.js', import.meta.url)].find((u) => existsSync(fileURLToPath(u)));
}

/**
 * The vector index of a segment whose vectors stay in memory through its build (a flush: the writer's
 * VectorArena), built from all of them at once (buildIvf) in a worker that reads them where they are.
 * Measured against the streaming build on a flush (docs/performance.md, session 19): the same speed, and
 * 20-45 MB less at an import's peak, since this worker is done before the writing pass ends.
 */
function startWholeIvf(v: PackedVectors, schema: Schema, seed: number, signal?: AbortSignal): IvfBuild {
  const { packed, ords } = v;
  const url = ivfWorkerUrl();
  let result: Promise<Uint8Array>;
  let w: Worker | null = null;
  if (ords.length < WORKER_MIN_VECTORS || !url) result = Promise.resolve().then(() => buildIvf(packed, ords, schema.vector_dim, schema.vector_metric, { seed }));
  else {
    // Shared, not copied (packVectors): the worker reads the vectors this thread writes to Parquet.
    // execArgv: [] (see vector-peer.ts): by default a worker takes the process's Node options, and a
    // library caller's `node --input-type=module -e` made the worker refuse its own file.
    const worker = new Worker(url, { workerData: { whole: true, vectors: packed, ords, dim: schema.vector_dim, metric: schema.vector_metric, seed }, transferList: [ords.buffer as ArrayBuffer], execArgv: [] });
    w = worker;
    result = new Promise<Uint8Array>((resolve, reject) => {
      // An interrupt ends the build at once: the worker is the long part, and nothing it makes is committed.
      const onAbort = () => {
        reject(new ElacsymError('INTERRUPTED', 'interrupted while building a vector index'));
        void worker.terminate();
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (m: Uint8Array) => resolve(m));
      worker.once('error', reject);
      worker.once('exit', (code) => {
        signal?.removeEventListener('abort', onAbort);
        if (code !== 0) reject(new Error(`IVF build worker exited with status ${code}`));
      });
    });
  }
  // The caller may stop awaiting (interrupt) before the promise settles: never leave it unhandled.
  result.catch(() => undefined);
  return { add: () => undefined, finish: () => result, abandon: () => void w?.terminate() };
}

/**
 * A segment's IVF index while it is built: from every vector at once (startWholeIvf: a flush) or from the
 * rows of the writing pass as they go by (startIvf: a merge). From WORKER_MIN_VECTORS vectors either runs
 * in a worker thread (the second core).
 */
interface IvfBuild {
  /**
   * The writing pass's next documents (`first`: the ordinal of docs[0]); those without a vector are
   * skipped. A promise when the worker's backlog is full (IVF_BACKLOG_BYTES): the pass waits for it.
   */
  add(docs: readonly Doc[], first: number): void | Promise<void>;
  /** Every row given: the file. */
  finish(): Promise<Uint8Array>;
  /** The build is dropped (an error, an interrupt): its worker ends now. */
  abandon(): void;
}

/**
 * Copied vectors the IVF worker may have waiting before the writing pass waits for it: the worker trains
 * first (1-3 s), and a merge's writing pass decodes row groups faster than that, so without a bound the
 * queue could hold every vector of the segment.
 */
const IVF_BACKLOG_BYTES = 16 * 1024 * 1024;

/**
 * The vectors of `docs` back to back and their ordinals, or null if none has one. Vectors that already
 * are consecutive rows of one SharedArrayBuffer (a flush: the writer's VectorArena) are a view of them,
 * not a copy (`copied` false): the worker reads them where they are, as the writer keeps them unchanged
 * until the flush commits.
 */
function rowsOf(docs: readonly Doc[], first: number, dim: number): { ords: Uint32Array; vectors: Float32Array; copied: boolean } | null {
  let count = 0;
  let head: Float32Array | null = null;
  let consecutive = true;
  for (const d of docs) {
    const v = d.vector;
    if (!v) continue;
    if (head === null) head = v;
    else if (v.buffer !== head.buffer || v.byteOffset !== head.byteOffset + count * dim * 4) consecutive = false;
    count++;
  }
  if (head === null) return null;
  const ords = new Uint32Array(count);
  const shared = consecutive && head.buffer instanceof SharedArrayBuffer;
  const vectors = shared ? new Float32Array(head.buffer, head.byteOffset, count * dim) : new Float32Array(count * dim);
  let k = 0;
  for (let j = 0; j < docs.length; j++) {
    const v = docs[j]!.vector;
    if (!v) continue;
    ords[k] = first + j;
    if (!shared) vectors.set(v, k * dim);
    k++;
  }
  return { ords, vectors, copied: !shared };
}

/**
 * The streaming build (index/vector/ivf.ts IvfStreamBuilder) of `n` vectors, trained on the sample the
 * survey took: the segment's vectors are never held together for it (issue 11: a merge group's 213k
 * vectors took ~110 MB in one arena).
 */
function startIvf(n: number, sampled: { sample: Float32Array; sampleOrds: Uint32Array }, schema: Schema, seed: number, signal?: AbortSignal): IvfBuild {
  const dim = schema.vector_dim;
  const metric = schema.vector_metric;
  const url = ivfWorkerUrl();
  if (n < WORKER_MIN_VECTORS || !url) {
    const b = new IvfStreamBuilder(dim, metric, seed, n, sampled.sample, sampled.sampleOrds);
    return {
      add(docs, first) {
        const rows = rowsOf(docs, first, dim);
        if (rows) b.add(rows.ords, rows.vectors);
      },
      finish: () => Promise.resolve(b.finish()),
      abandon: () => undefined,
    };
  }
  const w = new Worker(url, { workerData: { dim, metric, seed, n, ...sampled }, transferList: [sampled.sample.buffer as ArrayBuffer, sampled.sampleOrds.buffer as ArrayBuffer], execArgv: [] });
  let backlog = 0;
  let waiting: (() => void)[] = [];
  const wake = () => {
    const ws = waiting;
    waiting = [];
    for (const f of ws) f();
  };
  const result = new Promise<Uint8Array>((resolve, reject) => {
    // An interrupt ends the build at once: nothing the worker makes is committed.
    const onAbort = () => {
      reject(new ElacsymError('INTERRUPTED', 'interrupted while building a vector index'));
      void w.terminate();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    // The worker acknowledges each copied batch by its bytes, then sends the file.
    w.on('message', (m: number | Uint8Array) => {
      if (typeof m !== 'number') return resolve(m);
      backlog -= m;
      if (backlog <= IVF_BACKLOG_BYTES) wake();
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(code !== 0 ? `IVF build worker exited with status ${code}` : 'IVF build worker exited without its index'));
    });
  });
  // The caller may stop awaiting (an error in the writing pass, an interrupt): never leave it unhandled.
  // Once it settles nobody waits for the worker's backlog (the error surfaces at finish).
  result.catch(() => undefined).finally(() => {
    backlog = 0;
    wake();
  });
  return {
    add(docs, first) {
      const rows = rowsOf(docs, first, dim);
      if (!rows) return;
      if (rows.copied) {
        backlog += rows.vectors.byteLength;
        w.postMessage({ ords: rows.ords, vectors: rows.vectors, ack: true }, [rows.ords.buffer as ArrayBuffer, rows.vectors.buffer as ArrayBuffer]);
      } else w.postMessage({ ords: rows.ords, vectors: rows.vectors, ack: false }, [rows.ords.buffer as ArrayBuffer]);
      if (backlog > IVF_BACKLOG_BYTES) return new Promise<void>((resolve) => waiting.push(resolve));
    },
    finish() {
      w.postMessage(null);
      return result;
    },
    abandon: () => void w.terminate(),
  };
}

/** The index file's sections alone, without the Parquet file and its vector locator (unit tests of the sections). */
export function buildIndexFile(docs: readonly Doc[], schema: Schema, seed: number): Uint8Array[] {
  const b = new SectionBuilder(schema, docs.length, attributeNamesOf(docs), new Set());
  b.add(docs);
  const sections = b.finish() ?? fallbackSections(docs, schema);
  const vec = packVectors(docs, schema.vector_dim);
  if (vec) {
    const n = vec.ords.length;
    sections.push({ name: 'ivf', bytes: n < FLAT_BELOW ? buildFlatIndex(n, schema.vector_dim, schema.vector_metric) : buildIvf(vec.packed, vec.ords, schema.vector_dim, schema.vector_metric, { seed }) });
  }
  return buildSegmentFile(sections);
}

/** Every attribute name of `docs` (own keys only, so "constructor" or "toString" never read Object.prototype). */
function attributeNamesOf(docs: readonly Doc[]): string[] {
  const names = new Set<string>();
  for (const d of docs) for (const k of Object.keys(d.attributes)) names.add(k);
  return [...names];
}

type Section = { name: string; bytes: Uint8Array };

/**
 * The index file's sections that come from the documents (ids, attribute shapes and typed columns,
 * full-text postings), fed in ordinal order (`add`), so that a build does not need its documents at once.
 * `storedOnce`: string attributes whose values the segment's Parquet file holds for queries (`txt:`
 * sections, parquet-text.ts): no `col:` section of their own.
 *
 * Held until `finish`: the ids, each typed attribute's ColumnBuilder (typed arrays, and each distinct
 * string once), the shape codes and the full-text builders (index/fulltext/postings.ts: 8 bytes a token
 * with positions, 4 without). Not the documents.
 */
class SectionBuilder {
  private readonly ids: string[];
  private readonly typed: { name: string; column: ColumnBuilder | null }[];
  private readonly shapes: AttributeShapesBuilder;
  private readonly fullText: { name: string; analyzer: ReturnType<typeof createAnalyzer>; builder: FieldIndexBuilder }[] = [];
  private at = 0;
  constructor(
    schema: Schema,
    private readonly n: number,
    names: readonly string[],
    storedOnce: ReadonlySet<string>,
  ) {
    this.ids = new Array<string>(n);
    // Stored once: only strings or nulls by construction (storedOnceLayout), so always a typed column.
    this.typed = [...names].sort().filter((name) => !storedOnce.has(name)).map((name) => ({ name, column: new ColumnBuilder(n) }));
    this.shapes = new AttributeShapesBuilder(n);
    for (const [name, def] of Object.entries(schema.attributes).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!def.full_text) continue;
      this.fullText.push({ name, analyzer: createAnalyzer(def.full_text), builder: new FieldIndexBuilder(n, def.full_text.positions ?? true) });
    }
  }

  /** The next documents, in ordinal order. */
  add(docs: readonly Doc[]): void {
    const at = this.at;
    if (at + docs.length > this.n) throw new ElacsymError('INTERNAL', `segment build: more than the ${this.n} documents surveyed`);
    for (let j = 0; j < docs.length; j++) {
      const attrs = docs[j]!.attributes;
      this.ids[at + j] = idKey(docs[j]!.id);
      this.shapes.add(attrs);
      for (const t of this.typed) t.column!.add(ownValue(attrs, t.name));
      // Each document's tokens go into the builder as they are made (never a whole segment's Token objects).
      for (const f of this.fullText) {
        const v = ownValue(attrs, f.name);
        f.builder.addValue(f.analyzer, typeof v === 'string' || Array.isArray(v) ? v : null);
      }
    }
    this.at = at + docs.length;
  }

  /**
   * The sections, in the index file's order: ids, attrs, col:* (by name), ft:* (by name). Each attribute
   * value is stored once, in its typed column (index/filter/columns.ts); the `attrs` section keeps each
   * document's keys in their written order, so attributesOf rebuilds the document exactly. null when some
   * attribute's values do not fit one kind (a validated import never writes them): the caller then builds
   * the release-1 form (fallbackSections).
   */
  finish(onPhase?: (p: BuildPhase) => void): Section[] | null {
    if (this.at !== this.n) throw new ElacsymError('INTERNAL', `segment build: ${this.at} of the ${this.n} documents surveyed`);
    const sections: Section[] = [{ name: 'ids', bytes: encodeStringTable(this.ids) }];
    onPhase?.('columns');
    const columns: Section[] = [];
    for (const t of this.typed) {
      const bytes = t.column!.finish();
      t.column = null;
      if (!bytes) return null;
      columns.push({ name: `col:${t.name}`, bytes });
    }
    sections.push({ name: 'attrs', bytes: this.shapes.finish() }, ...columns);
    onPhase?.('fulltext');
    for (const f of this.fullText) sections.push({ name: `ft:${f.name}`, bytes: f.builder.finish() });
    return sections;
  }
}

/**
 * The release-1 form of the sections, for documents whose attribute values do not fit one kind per
 * attribute: ids, a `docs` section of JSON objects, JSON columns, then the full-text postings.
 */
function fallbackSections(docs: readonly Doc[], schema: Schema): Section[] {
  const n = docs.length;
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = idKey(docs[i]!.id);
  const sections: Section[] = [{ name: 'ids', bytes: encodeStringTable(ids) }];
  const sorted = attributeNamesOf(docs).sort();
  const valuesOf = (name: string) => {
    const col = new Array<AttrValue | null>(n);
    for (let i = 0; i < n; i++) col[i] = ownValue(docs[i]!.attributes, name) ?? null;
    return col;
  };
  sections.push({ name: 'docs', bytes: encodeStringTable(docs.map((d) => JSON.stringify(d.attributes))) });
  for (const name of sorted) sections.push({ name: `col:${name}`, bytes: new TextEncoder().encode(JSON.stringify(valuesOf(name))) });
  const ft = new SectionBuilder(schema, n, [], new Set());
  ft.add(docs);
  sections.push(...ft.finish()!.filter((sec) => sec.name.startsWith('ft:')));
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
 * Two passes over the documents (doc-source.ts): a survey (what the Parquet file's metadata and layout must
 * know first; the vectors packed for the IVF worker, or a training sample of them, see IvfBuild; the worker
 * starts right after it), then one pass that writes the Parquet row groups and feeds each row group's
 * documents to the index sections and, for a streaming IVF build, its vectors to the worker. A flush
 * passes its documents as an array; a merge passes a DocSource that decodes its inputs on each pass, so
 * neither pass holds the group's documents: memory is the sections being built, one row group, and the
 * vectors for a flush (held by the writer anyway) or their 4-bit codes for a merge.
 *
 * Memory: the Parquet file is written to the store while it is made, chunk by chunk, so its bytes (~60 MB
 * for 100k x 128) are never held. The order of the two files and of the hooks (fail points) is unchanged:
 * the Parquet file, then the index file.
 */
export async function writeSegment(
  store: SegmentStore,
  id: number,
  input: readonly Doc[] | DocSource,
  schema: Schema,
  hooks: { onPhase?: (p: BuildPhase) => void; afterParquet?: () => void; afterIndex?: () => void; signal?: AbortSignal } = {},
): Promise<SegmentFiles> {
  const { signal } = hooks;
  const source: DocSource = Array.isArray(input) ? arraySource(input as readonly Doc[]) : (input as DocSource);
  const dim = schema.vector_dim;
  // What came before (a flush's parsing and journalling, a merge's previous group) left about as much
  // garbage as it took: collected before the build adds its own (util/gc.ts).
  if (source.capacity >= COLLECT_FROM_DOCS) fullCollection();
  // The survey packs the vectors of a source that holds them anyway (a flush: packVectors, no copy) for an
  // IVF built from all of them; otherwise (a merge) it takes a training sample (VectorReservoir: a few MB)
  // and the IVF is built from the writing pass's row groups as they go by.
  const held = dim > 0 && source.vectorsHeld === true;
  const packer = held ? new VectorPacker(dim, source.capacity) : null;
  const reservoir = dim > 0 && !held ? new VectorReservoir(dim, source.capacity, id) : null;
  const survey = await surveyDocs(
    source,
    dim,
    dim === 0
      ? undefined
      : (docs, first) => {
          if (packer) return packer.add(docs);
          for (let j = 0; j < docs.length; j++) {
            const v = docs[j]!.vector;
            if (v) reservoir!.add(first + j, v);
          }
        },
    signal,
  );
  const packed = packer?.finish() ?? null;
  const vectors = packed ? packed.ords.length : (reservoir?.count ?? 0);
  // A segment of few vectors gets a flat index (ivf.ts, version 3): scanned exactly, no codes stored.
  // Either that (format 7) or an IVF of version 5, 4-bit codes (format 8; see segmentFormatVersion).
  const flat = dim > 0 && vectors < FLAT_BELOW;
  const ivf = dim === 0 || flat ? null : packed ? startWholeIvf(packed, schema, id, signal) : startIvf(vectors, reservoir!.finish(), schema, id, signal);
  try {
    return await writeSegmentFiles(store, id, source, schema, hooks, survey, ivf, flat ? vectors : null);
  } finally {
    // Settled or not (an error, an interrupt, a fail point): its worker must not outlive the build.
    ivf?.abandon();
  }
}

/** writeSegment after the survey: the writing pass, then the index file. `flatVectors`: a flat index of that many. */
async function writeSegmentFiles(
  store: SegmentStore,
  id: number,
  source: DocSource,
  schema: Schema,
  hooks: Parameters<typeof writeSegment>[4] & object,
  survey: DocSurvey,
  ivf: IvfBuild | null,
  flatVectors: number | null,
): Promise<SegmentFiles> {
  const { onPhase, signal } = hooks;
  const n = survey.count;
  const dim = schema.vector_dim;
  onPhase?.('parquet');
  const parquet = segmentFileName(id, 'parquet');
  const idx = segmentFileName(id, 'idx');
  // The Parquet file goes to the store as the writer makes it (never whole in memory); its CRC and block
  // checksums are computed on the way.
  const out = store.create(parquet);
  const blocks = new BlockChecksums();
  let parquetCrc = 0;
  let written: Awaited<ReturnType<typeof writeSegmentParquetTo>>;
  const once = storedOnceLayoutOf(survey, schema, rowsPerGroupFor(dim));
  const builder = new SectionBuilder(schema, n, survey.attributes.map((a) => a.name), once.names);
  try {
    written = await writeSegmentParquetTo(source, schema, {
      write: (c) => {
        out.write(c);
        blocks.update(c);
        parquetCrc = crc32(c, parquetCrc);
      },
      read: (offset, length) => out.read(offset, length),
    }, {
      storedOnce: once.names,
      rowsPerGroup: once.rowsPerGroup,
      survey,
      onRows: (docs, first) => {
        builder.add(docs);
        return ivf?.add(docs, first);
      },
      lastPass: true,
      signal,
    });
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
  const parquetBytes = written.size;
  hooks.afterParquet?.();
  // A signal that arrived since the last row group is seen here, and after each phase below (each is
  // CPU-bound: the postings of 100k documents take about a second), not only once the whole build is
  // done: an interrupted build leaves its files for the caller's garbage collection.
  await buildCheckpoint(signal);
  // Vectors are stored once, in the Parquet file: the index file says where each one is (`vecloc`) and
  // carries the block checksums of the Parquet file (`parquet-crc`), so a query reads one vector by range
  // and verifies the blocks it touches (see SegmentHandle.vectorOf).
  // Long text is stored once too (parquet-text.ts): `txt:<name>` locates it, verified by the same blocks.
  const parquetSections: Section[] = [];
  if (written.vectorLocator) parquetSections.push({ name: 'vecloc', bytes: written.vectorLocator });
  for (const [name, bytes] of written.textLocators) parquetSections.push({ name: `txt:${name}`, bytes });
  if (parquetSections.length > 0) parquetSections.push({ name: 'parquet-crc', bytes: blocks.finish() });

  // The Parquet write's garbage (each row group's Arrow buffers and IPC copy) goes before the columns are
  // encoded (see util/gc.ts).
  if (n >= COLLECT_FROM_DOCS) fullCollection();
  // The Parquet writer has refused any value that does not fit its attribute's one type (INTERNAL), so
  // every column here is typed: the release-1 form (fallbackSections) is only for buildIndexFile.
  const sections = builder.finish(onPhase);
  if (!sections) throw new ElacsymError('INTERNAL', 'segment build: an attribute\'s values are of more than one kind');
  await buildCheckpoint(signal);
  sections.push(...parquetSections);
  if (flatVectors !== null) sections.push({ name: 'ivf', bytes: buildFlatIndex(flatVectors, schema.vector_dim, schema.vector_metric) });
  if (ivf) {
    onPhase?.('vectors');
    sections.push({ name: 'ivf', bytes: await ivf.finish() });
    await buildCheckpoint(signal);
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
  const compactIndex = flatVectors !== null || ivf !== null || sections.some((s) => s.name.startsWith('ft:') && fieldIndexVersion(s.bytes) === FIELD_INDEX_VERSION_COMPACT);
  const nibbleCodes = ivf !== null;
  return { id, parquet, idx, parquetBytes, parquetCrc, indexBytes, indexCrc, docCount: n, formatVersion: segmentFormatVersion({ storedOnce: once.names.size > 0, compactIndex, nibbleCodes }) };
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
