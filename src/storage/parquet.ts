/**
 * The only importer of parquet-wasm and apache-arrow. Both are loaded lazily (dynamic import, ~250 ms):
 * flush, compaction, export and deep health checks need them; queries never do (they read the segment's
 * index file, see segment-file.ts, and vectors by byte range through vector-locator.ts).
 *
 * Segment Parquet layout 2 (one row per document version, in ordinal order; issue 11). Any Parquet reader
 * (DuckDB, pyarrow, Polars, hyparquet) sees an ordinary typed table:
 *   id       int64 when every id of the segment is an integer; utf8 (the plain string) when every id is a
 *            well-formed string; otherwise utf8 holding model/document.ts idKey (42 -> `42`, "42" -> `"42"`).
 *            Key-value metadata `elacsym.id_encoding` says which: "int64" | "string" | "key".
 *   vector   fixed_size_list<float32>[dim], nullable (absent when the namespace has no vectors). Written
 *            UNCOMPRESSED, PLAIN, without dictionary or statistics, one data page per row group, so the
 *            vectors of a row group are contiguous float32 at the end of its column chunk: vector-locator.ts
 *            records where, and the writer verifies every located vector before returning.
 *   <attr>   one column per attribute present in the segment, typed from the namespace schema: string ->
 *            utf8, integer -> int64, float -> float64, boolean -> boolean, array<string> -> list<utf8>.
 *            A column is named as its attribute unless the name is "id" or "vector" (or taken by such a
 *            renaming); `elacsym.columns` maps columns to attributes. A string attribute stored once
 *            (parquet-text.ts: long text, format 6) is GZIP, PLAIN, without dictionary or statistics, and
 *            the segment's row groups are sized to its text (`storedOnceLayout`).
 * Key-value metadata: `elacsym.layout` = "2", `elacsym.schema` (the namespace schema, JSON),
 * `elacsym.id_encoding`, `elacsym.rows_per_group`, `elacsym.columns` (JSON: per attribute, in order of first
 * appearance: name, column (null when the attribute only ever holds null), type, which nulls are explicit,
 * and exact values for the rare strings that UTF-8 cannot hold, see below).
 *
 * What the model distinguishes, and so what this layout keeps exactly (Doc -> Parquet -> Doc deep-equals):
 *   - an explicit JSON null attribute (`"a": null` survives import, the journal, get and export; patch
 *     uses null to remove) is not an absent one: both are a Parquet null, and `elacsym.columns` lists the
 *     minority (explicit nulls or absences) by ordinal, or says "all nulls are explicit";
 *   - strings with unpaired surrogates ("\ud800", accepted by import and kept by the journal's JSON) have no
 *     UTF-8 form: the column holds the well-formed replacement (U+FFFD) for other readers, and the exact value
 *     is kept in `elacsym.columns`; string ids with one make the segment use the "key" id encoding;
 *   - -0 is written as 0: layout 1 stored attributes as JSON text, where -0 is 0, and so does the journal.
 *
 * Layout 1 (still read): id utf8 (idKey), vector as above, attributes utf8 (a JSON object).
 */
import { ElacsymError } from '../errors.js';
import { idFromKey, idKey } from '../model/document.js';
import { attributeOf, inferType, setOwnValue } from '../model/schema.js';
import type { AttrType, AttrValue, Attributes, Doc, Schema } from '../model/types.js';
import { encodeVectorLocator, type VectorRowGroup } from './vector-locator.js';
import { ChunkedBytes } from '../util/bytes.js';
import { arraySource, buildCheckpoint, type DocSource, DocWindow, type DocSurvey, surveyDocs } from './doc-source.js';
import { failpoint } from '../util/failpoint.js';
import { createHash } from 'node:crypto';
import { toWellFormed } from '../util/utf16.js';
import { ThriftReader } from './thrift.js';
import { CODEC_GZIP, decodeTextChunk, encodeTextLocator, type TextChunk } from './parquet-text.js';

type Arrow = typeof import('apache-arrow');
type ParquetWasm = typeof import('parquet-wasm');

let libs: Promise<{ arrow: Arrow; pq: ParquetWasm }> | undefined;
function load(): Promise<{ arrow: Arrow; pq: ParquetWasm }> {
  libs ??= Promise.all([import('apache-arrow'), import('parquet-wasm')]).then(([arrow, pq]) => ({ arrow, pq }));
  return libs;
}

const enc = new TextEncoder();
/** Column names from a footer, exactly (ignoreBOM: a leading U+FEFF is part of a name, not a byte-order mark). */
const utf8Names = new TextDecoder('utf-8', { ignoreBOM: true });

function utf8Data(arrow: Arrow, strings: readonly (string | null)[]) {
  const n = strings.length;
  const offsets = new Int32Array(n + 1);
  let cap = 0;
  let nulls = 0;
  for (const s of strings) {
    if (s === null) nulls++;
    else cap += s.length * 3;
  }
  const valid = nulls > 0 ? new Uint8Array((n + 7) >> 3) : undefined;
  const buf = new Uint8Array(cap);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = strings[i]!;
    if (s !== null) {
      at += enc.encodeInto(s, buf.subarray(at)).written;
      if (valid) valid[i >> 3]! |= 1 << (i & 7);
    }
    offsets[i + 1] = at;
  }
  return arrow.makeData({ type: new arrow.Utf8(), length: n, valueOffsets: offsets, data: buf.subarray(0, at), nullCount: nulls, nullBitmap: valid });
}

/** Rows per row group: at most 16,384 (bounded memory when compaction reads one row group at a time, few
 *  footer entries, good compression of the attribute columns), and at most ~16 MiB of vectors per row group,
 *  which is also the one data page the vector column may have (see writerProperties). */
export function rowsPerGroupFor(dim: number): number {
  return Math.max(64, Math.min(16_384, Math.floor((16 << 20) / Math.max(1, dim * 4))));
}

/** Compression of every column except the vector (see docs/performance.md, "Segment Parquet layout 2"). */
const ATTRIBUTE_CODEC = 'ZSTD' as const;

/** How one attribute is stored (`elacsym.columns`, JSON). */
interface ColumnMeta {
  /** The attribute's name. */
  a: string;
  /** Its column, or null when every value of the segment is null (no type to give a column). */
  c: string | null;
  t: AttrType | null;
  /**
   * Which of the column's nulls are explicit (`"a": null`) rather than absent: omitted = none, "all", or
   * {e: ordinals} (these are explicit, the others absent) or {x: ordinals} (these are absent, the others explicit).
   */
  n?: 'all' | { e: number[] } | { x: number[] };
  /** Exact values that the column holds only approximately (strings with unpaired surrogates): [ordinal, value]. */
  v?: [number, AttrValue][];
}

export interface SegmentParquet {
  bytes: Uint8Array;
  /** encodeVectorLocator's bytes, or null when the namespace has no vectors. */
  vectorLocator: Uint8Array | null;
  rowsPerGroup: number;
  /** `txt:` sections of the stored-once attributes (parquet-text.ts), by attribute. */
  textLocators: Map<string, Uint8Array>;
}

/** A written segment Parquet file as the writer produced it: its bytes in order, in about one chunk per row group. */
export interface SegmentParquetChunks {
  chunks: Uint8Array[];
  /** Total bytes of `chunks`. */
  size: number;
  /** encodeVectorLocator's bytes, or null when the namespace has no vectors. */
  vectorLocator: Uint8Array | null;
  rowsPerGroup: number;
  /** `txt:` sections of the stored-once attributes (parquet-text.ts), by attribute. */
  textLocators: Map<string, Uint8Array>;
}

function internal(msg: string): never {
  throw new ElacsymError('INTERNAL', `segment Parquet writer: ${msg}`);
}

function fits(t: AttrType, v: AttrValue): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'float':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'array<string>':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

/**
 * Write a segment's documents (ordinal = position) as a layout-2 Parquet file and locate its vectors.
 * Throws INTERNAL (never returns a wrong locator) if the written bytes do not hold the vectors where the
 * locator says. The file in one piece (tests, tools); segment builds use writeSegmentParquetChunks.
 */
export async function writeSegmentParquet(docs: readonly Doc[], schema: Schema, options: SegmentParquetOptions = {}): Promise<SegmentParquet> {
  const r = await writeSegmentParquetChunks(docs, schema, options);
  return { bytes: concatChunks(r.chunks, r.size), vectorLocator: r.vectorLocator, rowsPerGroup: r.rowsPerGroup, textLocators: r.textLocators };
}

/** One Parquet column of the segment: its Arrow data for rows [from, to). */
interface ColumnSource {
  name: string;
  /** Its Arrow data for `docs`, the rows from ordinal `first` on. */
  slice(docs: readonly Doc[], first: number): import('apache-arrow').Data;
}

/** Where writeSegmentParquetTo puts the file: its bytes in order, and reads of what was written. */
export interface ParquetSink {
  write(chunk: Uint8Array): void;
  /** Bytes [offset, offset + length) of what was written (the vector locator is checked against them). */
  read(offset: number, length: number): Uint8Array;
}

/** writeSegmentParquet without the copy into one array: the file stays in the writer's output chunks. */
export async function writeSegmentParquetChunks(docs: readonly Doc[], schema: Schema, options: SegmentParquetOptions = {}): Promise<SegmentParquetChunks> {
  const chunks: Uint8Array[] = [];
  let file: ChunkedBytes | null = null;
  const sink: ParquetSink = {
    write: (c) => void chunks.push(c),
    read: (offset, length) => (file ??= new ChunkedBytes(chunks)).range(offset, offset + length),
  };
  const r = await writeSegmentParquetTo(docs, schema, sink, options);
  return { chunks, size: r.size, vectorLocator: r.vectorLocator, rowsPerGroup: r.rowsPerGroup, textLocators: r.textLocators };
}

export interface SegmentParquetOptions {
  codec?: 'SNAPPY' | 'ZSTD';
  rowsPerGroup?: number;
  /** Called after each row group's Arrow data went into the writer (the memory-bound test samples there). */
  onRowGroup?: (firstRow: number, rows: number) => void;
  /**
   * String attributes stored once (parquet-text.ts, `storedOnceLayout`): their columns are written GZIP,
   * PLAIN, without dictionary, and located for queries (`textLocators` of the result).
   */
  storedOnce?: ReadonlySet<string>;
  /** The source's survey (doc-source.ts), when the caller made it already; otherwise a pass makes it. */
  survey?: DocSurvey;
  /**
   * Called with each row group's documents (`first` = the ordinal of docs[0]) as they are written: every
   * document once, in ordinal order. The segment build feeds its index sections here, so a merge reads its
   * documents once for the whole build after the survey. The next row group waits for a returned promise
   * (the IVF worker's backlog, segment-builder.ts).
   */
  onRows?: (docs: readonly Doc[], first: number) => void | Promise<void>;
  /** The writing pass is the source's last (DocSource.chunks): it may let go of the documents as they are written. */
  lastPass?: boolean;
  /** Stops the write (INTERRUPTED) at the next row group once it aborts (doc-source.ts buildCheckpoint). */
  signal?: AbortSignal;
}

/**
 * Write a segment's documents as a layout-2 Parquet file into `sink`, as the writer produces it (about one
 * chunk per row group, never held here), and locate its vectors, checked against the bytes read back.
 *
 * Memory (issue 11, bounded import and merge memory): nothing of the segment is copied whole, and from a
 * DocSource (doc-source.ts) nothing of it is held whole either. What the key-value metadata must say
 * before the first row (id encoding, attribute order, which nulls are explicit, exact values) comes from
 * the survey pass; then each row group's documents are read, turned into Arrow data just before that row
 * group crosses into WebAssembly, handed to `onRows`, and let go. The extra memory is one row group of
 * Arrow data (the vectors of 16,384 rows: 8 MiB at 128 dimensions) and the source's chunk. The bytes are the
 * same whichever way the documents come: the Arrow schema is made once and every row group's record batch
 * uses it; the located vectors and text are checked against a digest of each row group's vectors and
 * values taken as it was written.
 */
export async function writeSegmentParquetTo(
  input: DocSource | readonly Doc[],
  schema: Schema,
  sink: ParquetSink,
  options: SegmentParquetOptions = {},
): Promise<{ size: number; vectorLocator: Uint8Array | null; rowsPerGroup: number; textLocators: Map<string, Uint8Array> }> {
  const { arrow, pq } = await load();
  const source = Array.isArray(input) ? arraySource(input as readonly Doc[]) : (input as DocSource);
  const dim = schema.vector_dim;
  const survey = options.survey ?? (await surveyDocs(source, dim));
  const n = survey.count;
  const R = options.rowsPerGroup ?? rowsPerGroupFor(dim);
  const codec = pq.Compression[options.codec ?? ATTRIBUTE_CODEC];
  const columns: ColumnSource[] = [];

  // Ids.
  const idEncoding = survey.idEncoding;
  if (idEncoding === 'int64') {
    columns.push({
      name: 'id',
      slice: (docs) => {
        const ids = new BigInt64Array(docs.length);
        for (let i = 0; i < docs.length; i++) ids[i] = BigInt(docs[i]!.id);
        return arrow.makeData({ type: new arrow.Int64(), length: docs.length, data: ids, nullCount: 0 });
      },
    });
  } else {
    const idText = (d: Doc) => (idEncoding === 'string' ? (d.id as string) : idKey(d.id));
    columns.push({ name: 'id', slice: (docs) => utf8Data(arrow, docs.map(idText)) });
  }

  // Vectors.
  const present = survey.present;
  if (dim > 0) {
    const type = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), false));
    columns.push({
      name: 'vector',
      slice: (docs) => {
        const len = docs.length;
        const values = new Float32Array(len * dim);
        const valid = new Uint8Array((len + 7) >> 3);
        let sliceNulls = 0;
        for (let i = 0; i < len; i++) {
          const v = docs[i]!.vector;
          if (v) {
            values.set(v, i * dim);
            valid[i >> 3]! |= 1 << (i & 7);
          } else sliceNulls++;
        }
        const child = arrow.makeData({ type: new arrow.Float32(), length: len * dim, data: values });
        return arrow.makeData({ type, length: len, child, nullCount: sliceNulls, nullBitmap: sliceNulls > 0 ? valid : undefined });
      },
    });
  }

  // Attributes, in order of first appearance (so documents read back with their keys in that order).
  const names = survey.attributes.map((a) => a.name);
  // Column names: the attribute's own, except the reserved "id" and "vector", which get a suffix that no
  // other attribute of the segment uses.
  const taken = new Set<string>(['id', 'vector', ...names]);
  const colName = new Map<string, string>();
  for (const a of names) {
    if (a !== 'id' && a !== 'vector') colName.set(a, a);
    else {
      let k = 1;
      while (taken.has(`${a}_${k}`)) k++;
      taken.add(`${a}_${k}`);
      colName.set(a, `${a}_${k}`);
    }
  }
  const metas: ColumnMeta[] = [];
  /** Stored-once attribute -> its column, and a digest of each row group's values as written. */
  const storedOnceCols = new Map<string, { col: string; digests: string[] }>();
  const colTypes = new Map<string, AttrType>();
  for (const s of survey.attributes) {
    const a = s.name;
    let t: AttrType | null = attributeOf(schema, a)?.type ?? null;
    // Import records every attribute it sees with a value in the schema; this is a safety net.
    if (t === null && s.first !== undefined) t = inferType(s.first);
    const meta: ColumnMeta = { a, c: t === null ? null : colName.get(a)!, t };
    const { explicit, absent } = s;
    if (explicit.length > 0) meta.n = absent.length === 0 ? 'all' : explicit.length <= absent.length ? { e: explicit } : { x: absent };
    metas.push(meta);
    if (t === null) continue;
    const col = meta.c!;
    // Values without a UTF-8 form: the column holds their well-formed replacement, the metadata the value.
    const exact = s.exact.length > 0 ? new Map(s.exact) : null;
    if (s.exact.length > 0) meta.v = s.exact;
    let digests: string[] | null = null;
    if (options.storedOnce?.has(a)) {
      if (t !== 'string' || s.exact.length > 0) internal(`attribute ${JSON.stringify(a)} cannot be stored once (type ${t}, ${s.exact.length} values without UTF-8 form)`);
      digests = [];
      storedOnceCols.set(a, { col, digests });
    }
    columns.push({
      name: col,
      slice: (docs, first) => {
        const vals: (AttrValue | null)[] = new Array(docs.length);
        for (let i = 0; i < docs.length; i++) {
          const attrs = docs[i]!.attributes;
          const v = Object.hasOwn(attrs, a) ? attrs[a] : undefined;
          if (v === undefined || v === null) {
            vals[i] = null;
            continue;
          }
          if (!fits(t, v)) internal(`attribute ${JSON.stringify(a)} of document ${first + i} does not fit its type ${t}`);
          vals[i] = exact?.has(first + i) ? (typeof v === 'string' ? toWellFormed(v) : (v as string[]).map(toWellFormed)) : v;
        }
        if (digests) digests.push(textDigest(vals as (string | null)[]));
        return attributeData(arrow, t, vals) as import('apache-arrow').Data;
      },
    });
    colTypes.set(col, t);
  }

  const meta = new Map<string, string>([
    ['elacsym.layout', '2'],
    ['elacsym.schema', JSON.stringify(schema)],
    ['elacsym.id_encoding', idEncoding],
    ['elacsym.rows_per_group', String(R)],
    ['elacsym.columns', JSON.stringify(metas)],
  ]);
  // Defaults are the vector column's settings: parquet-wasm addresses per-column settings by a one-part
  // column path, which cannot name a nested leaf (vector.list.item), so the vector takes the defaults and
  // every top-level column overrides them. list<utf8> attributes are nested too: they share the vector's
  // UNCOMPRESSED/PLAIN settings (a known cost, docs/performance.md).
  let b = new pq.WriterPropertiesBuilder()
    .setWriterVersion(pq.WriterVersion.V1)
    .setCompression(pq.Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false)
    .setEncoding(pq.Encoding.PLAIN)
    .setStatisticsEnabled(pq.EnabledStatistics.None)
    .setMaxRowGroupSize(R)
    // One data page per row group and column: larger than a row group's vectors plus its levels.
    .setDataPageSizeLimit(Math.max(1 << 20, R * Math.max(dim, 1) * 4 * 2))
    .setKeyValueMetadata(meta)
    .setCreatedBy('elacsym');
  b = b.setColumnCompression('id', codec);
  if (idEncoding === 'int64') b = b.setColumnEncoding('id', pq.Encoding.DELTA_BINARY_PACKED).setColumnStatisticsEnabled('id', pq.EnabledStatistics.Chunk);
  const storedOnceColumns = new Set([...storedOnceCols.values()].map((c) => c.col));
  for (const [col, t] of colTypes) {
    if (t === 'array<string>') continue;
    if (storedOnceColumns.has(col)) {
      // Read by queries a row group at a time (parquet-text.ts): GZIP, which Node inflates natively, PLAIN
      // (the defaults), no dictionary, no statistics (a page of text as min/max in the footer).
      b = b.setColumnCompression(col, pq.Compression.GZIP);
      continue;
    }
    b = b.setColumnCompression(col, codec);
    if (t === 'string' || t === 'integer' || t === 'float') b = b.setColumnDictionaryEnabled(col, true);
    if (t !== 'string') b = b.setColumnStatisticsEnabled(col, pq.EnabledStatistics.Chunk);
  }

  // The Arrow schema of the whole segment, shared by every row group's record batch: what
  // `new Table({...whole columns})` gave before, every field nullable (arrow-js calls a column nullable
  // when it has no nulls or a validity bitmap, so all of ours), which the Parquet schema and the bytes follow.
  const arrowSchema = new arrow.Schema(columns.map((c) => new arrow.Field(c.name, c.slice([], 0).type, true)));
  // That probe sliced no row group: no digest of it.
  for (const s of storedOnceCols.values()) s.digests.length = 0;
  const window = new DocWindow(source, { last: options.lastPass });
  // Each row group's vectors as a digest (by its first ordinal), what the file is checked against once
  // written: the vectors themselves are not kept (a merge decodes them again on each pass).
  const vectorDigests = new Map<number, string>();
  const tableOf = async (from: number, to: number): Promise<import('apache-arrow').Table> => {
    failpoint('build:row-group');
    await buildCheckpoint(options.signal);
    await window.fill(to);
    const docs = window.slice(from, to);
    window.release(to);
    if (dim > 0) vectorDigests.set(from, vectorDigest(docs));
    const datas = columns.map((c) => c.slice(docs, from));
    if (to > from) await options.onRows?.(docs, from);
    if (n === 0) return new arrow.Table(Object.fromEntries(columns.map((c, k) => [c.name, arrow.makeVector(datas[k]!)])));
    const struct = arrow.makeData({ type: new arrow.Struct(arrowSchema.fields), length: to - from, nullCount: 0, children: datas });
    return new arrow.Table(arrowSchema, [new arrow.RecordBatch(arrowSchema, struct)]);
  };
  let size = 0;
  try {
    await writeByRowGroups(arrow, pq, n, tableOf, R, b.build(), options.onRowGroup, (c) => {
      sink.write(c);
      size += c.length;
    });
    await window.finish(n);
  } catch (e) {
    await window.abandon().catch(() => undefined);
    throw e;
  }

  let vectorLocator: Uint8Array | null = null;
  if (dim > 0) {
    vectorLocator = locateVectorsIn({ length: size, range: (start, end) => sink.read(start, end - start) }, n, dim, R, present!, vectorDigests);
  }
  const textLocators = new Map<string, Uint8Array>();
  if (storedOnceCols.size > 0) {
    const footer = footerOf({ length: size, range: (start, end) => sink.read(start, end - start) });
    for (const [a, { col, digests }] of storedOnceCols) textLocators.set(a, locateText(sink, footer, n, R, col, digests));
  }
  return { size, vectorLocator, rowsPerGroup: R, textLocators };
}

/**
 * A digest of a row group's values of a stored-once column (SHA-1 over each value's length and text, null
 * marked): what locateText checks the decoded column chunk against, without holding the values.
 */
function textDigest(values: readonly (string | null)[]): string {
  const h = createHash('sha1');
  for (const v of values) {
    if (v === null) h.update('\u0000n|');
    else {
      h.update(`${v.length}|`);
      h.update(v);
    }
  }
  return h.digest('hex');
}

/** The footer of a written file, read from a copy of its tail (its offsets are absolute). */
function footerOf(file: Pick<ChunkedBytes, 'length' | 'range'>): ParquetFooter {
  const len = file.length;
  if (len < 12) internal('the written file is shorter than a Parquet trailer');
  const mdLen = new DataView(file.range(len - 8, len - 4).slice().buffer).getUint32(0, true);
  return readParquetFooter(file.range(Math.max(0, len - 12 - mdLen), len).slice());
}

/**
 * The `txt:` section of stored-once column `col`: every row group's column chunk, decoded back from the
 * written bytes and compared with the digest of the values written there (`digests[g]`, textDigest); any
 * difference is a bug (INTERNAL), never a locator that misreads.
 */
function locateText(sink: ParquetSink, footer: ParquetFooter, n: number, R: number, col: string, digests: readonly string[]): Uint8Array {
  const chunks: TextChunk[] = [];
  let first = 0;
  let valueBytes = 0;
  if (digests.length !== footer.rowGroups.length) internal(`column ${col}: ${digests.length} row groups written, ${footer.rowGroups.length} in the footer`);
  footer.rowGroups.forEach((rg, g) => {
    const cc = rg.columns.find((c) => c.path.length === 1 && c.path[0] === col);
    if (!cc) internal(`row group ${g} has no column ${col}`);
    if (cc.codec !== CODEC_GZIP || cc.dictionaryPageOffset !== null) internal(`column ${col} of row group ${g} is not GZIP without dictionary`);
    const offset = cc.dataPageOffset;
    const length = cc.totalCompressedSize;
    let values: (string | null)[];
    try {
      values = decodeTextChunk(sink.read(offset, length), rg.numRows, CODEC_GZIP, `column ${col}`);
    } catch (e) {
      internal(`column ${col} of row group ${g} does not read back: ${(e as Error).message}`);
    }
    if (values.length !== rg.numRows || textDigest(values) !== digests[g]) internal(`column ${col} of row group ${g} reads back different`);
    for (const v of values) if (v !== null) valueBytes += Buffer.byteLength(v);
    chunks.push({ offset, length });
    first += rg.numRows;
  });
  if (first !== n) internal(`the row groups hold ${first} rows, not ${n}`);
  return encodeTextLocator(n, R, CODEC_GZIP, chunks, valueBytes);
}

function concatChunks(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/**
 * Write Parquet one row group at a time through parquet-wasm's streaming writer: `tableOf(from, to)` makes
 * the row group's Arrow table when the writer asks for it, and it crosses into WebAssembly memory on its
 * own, so the writer's memory is bounded by one row group instead of holding the whole segment (its Arrow
 * IPC copy and its WebAssembly copy) at once; WebAssembly memory never shrinks, so that peak would stay for
 * the life of the process. Each table is one record batch of at most the writer's maximum row-group size,
 * so row groups keep exactly `rowsPerGroup` rows (the vector locator depends on it; locateVectors verifies
 * it). The file goes to `emit` as the writer's output chunks.
 */
async function writeByRowGroups(
  arrow: Arrow,
  pq: ParquetWasm,
  numRows: number,
  tableOf: (from: number, to: number) => Promise<import('apache-arrow').Table>,
  rowsPerGroup: number,
  props: import('parquet-wasm').WriterProperties,
  onRowGroup: ((firstRow: number, rows: number) => void) | undefined,
  emit: (chunk: Uint8Array) => void,
): Promise<void> {
  let next = 0;
  // WebAssembly objects are freed explicitly: left to the garbage collector's finalizers they kept their
  // linear memory for several segments (RSS grew with every flush of a long import).
  const batches_: { free(): void }[] = [];
  // Pulled on demand only: the default queue of one made the next row group cross into WebAssembly while
  // the writer still encoded this one (two row groups of input at once; linear memory 84 -> 75 MB at 100k).
  const onDemand = { highWaterMark: 0 };
  // An error of ours while making a row group (a DocSource pass that ends early, a value that does not fit
  // its type) reaches parquet-wasm as an errored stream, which it reports as its own error: keep ours.
  let failure: unknown = null;
  const batches = new ReadableStream({
    async pull(controller) {
      try {
        await pullRowGroup(controller);
      } catch (e) {
        failure ??= e;
        controller.error(e);
      }
    },
  }, onDemand);
  const pullRowGroup = async (controller: ReadableStreamDefaultController) => {
    if (next >= numRows || numRows === 0) {
      if (next === 0 && numRows === 0) {
        // An empty segment still needs its schema: one empty batch.
        const wasm = pq.Table.fromIPCStream(arrow.tableToIPC(await tableOf(0, 0), 'stream'));
        for (const rb of wasm.recordBatches()) {
          batches_.push(rb);
          controller.enqueue(rb);
        }
        wasm.free();
        next = 1;
        return;
      }
      controller.close();
      return;
    }
    const end = Math.min(numRows, next + rowsPerGroup);
    const wasm = pq.Table.fromIPCStream(arrow.tableToIPC(await tableOf(next, end), 'stream'));
    const rbs = wasm.recordBatches();
    wasm.free();
    for (const rb of rbs) {
      batches_.push(rb);
      controller.enqueue(rb);
    }
    onRowGroup?.(next, end - next);
    next = end;
  };
  try {
    const out = await pq.transformParquetStream(batches, props);
    const reader = out.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      emit(r.value as Uint8Array);
    }
  } catch (e) {
    throw failure ?? e;
  } finally {
    for (const rb of batches_) {
      try {
        rb.free();
      } catch {
        // already consumed (moved into WebAssembly) by the writer
      }
    }
  }
  if (failure !== null) throw failure;
}

function attributeData(arrow: Arrow, t: AttrType, vals: readonly (AttrValue | null)[]) {
  const n = vals.length;
  let nulls = 0;
  const valid = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) {
    if (vals[i] === null) nulls++;
    else valid[i >> 3]! |= 1 << (i & 7);
  }
  const nullBitmap = nulls > 0 ? valid : undefined;
  switch (t) {
    case 'string':
      return utf8Data(arrow, vals as (string | null)[]);
    case 'integer': {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) if (vals[i] !== null) data[i] = BigInt(vals[i] as number);
      return arrow.makeData({ type: new arrow.Int64(), length: n, data, nullCount: nulls, nullBitmap });
    }
    case 'float': {
      const data = new Float64Array(n);
      // `+ 0` turns -0 into 0, as layout 1's JSON text did.
      for (let i = 0; i < n; i++) if (vals[i] !== null) data[i] = (vals[i] as number) + 0;
      return arrow.makeData({ type: new arrow.Float64(), length: n, data, nullCount: nulls, nullBitmap });
    }
    case 'boolean': {
      const data = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) if (vals[i] === true) data[i >> 3]! |= 1 << (i & 7);
      return arrow.makeData({ type: new arrow.Bool(), length: n, data, nullCount: nulls, nullBitmap });
    }
    case 'array<string>': {
      const flat: string[] = [];
      const offsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) {
        const v = vals[i] as string[] | null;
        if (v !== null) for (const s of v) flat.push(s);
        offsets[i + 1] = flat.length;
      }
      const child = utf8Data(arrow, flat);
      const type = new arrow.List(new arrow.Field('item', new arrow.Utf8(), false));
      return arrow.makeData({ type, length: n, valueOffsets: offsets, child, nullCount: nulls, nullBitmap });
    }
  }
}

/**
 * Where the vectors are in `bytes`: per row group, the vector column chunk ends with the row group's present
 * vectors, PLAIN float32 back to back (one uncompressed data page: header, levels, values). The row groups'
 * vector values are compared with `values` (ordinal i at values[i * dim ..+dim)); any difference is a bug
 * (INTERNAL), never a wrong locator. Exported for the test that proves it.
 */
export function locateVectors(bytes: Uint8Array, n: number, dim: number, R: number, present: Uint8Array, values: Float32Array): Uint8Array {
  const digests = new Map<number, string>();
  for (let first = 0; first < n; first += R) {
    const h = createHash('sha1');
    for (let i = first; i < Math.min(n, first + R); i++) if (present[i]) h.update(new Uint8Array(values.buffer, values.byteOffset + i * dim * 4, dim * 4));
    digests.set(first, h.digest('hex'));
  }
  return locateVectorsIn(new ChunkedBytes([bytes]), n, dim, R, present, digests);
}

/** SHA-1 of a row group's vectors, back to back in ordinal order (what its vector values must be). */
function vectorDigest(docs: readonly Doc[]): string {
  const h = createHash('sha1');
  for (const d of docs) if (d.vector) h.update(new Uint8Array(d.vector.buffer, d.vector.byteOffset, d.vector.byteLength));
  return h.digest('hex');
}

/** Bytes of vectors read back at a time to check them against the documents. */
const VERIFY_READ_BYTES = 1 << 20;

/**
 * locateVectors over a file held in chunks, checking each row group's vector values against the digest of
 * the vectors written there (`digests`, by the row group's first ordinal: vectorDigest).
 */
function locateVectorsIn(file: Pick<ChunkedBytes, 'length' | 'range'>, n: number, dim: number, R: number, present: Uint8Array, digests: ReadonlyMap<number, string>): Uint8Array {
  const len = file.length;
  const footer = footerOf(file);
  const groups: VectorRowGroup[] = [];
  const stride = dim * 4;
  let first = 0;
  for (let g = 0; g < footer.rowGroups.length; g++) {
    const rg = footer.rowGroups[g]!;
    const expect = Math.min(R, n - first);
    if (rg.numRows !== expect) internal(`row group ${g} has ${rg.numRows} rows, expected ${expect}`);
    const chunk = rg.columns.find((c) => c.path.length === 3 && c.path[0] === 'vector');
    if (!chunk) internal(`row group ${g} has no vector column chunk`);
    if (chunk.codec !== 0) internal(`the vector column chunk of row group ${g} is compressed (codec ${chunk.codec})`);
    const start = chunk.dictionaryPageOffset !== null && chunk.dictionaryPageOffset > 0 ? Math.min(chunk.dictionaryPageOffset, chunk.dataPageOffset) : chunk.dataPageOffset;
    const end = start + chunk.totalCompressedSize;
    let k = 0;
    for (let i = first; i < first + rg.numRows; i++) k += present[i]!;
    const at = end - k * stride;
    if (at < start || end > len) internal(`row group ${g}: vector values do not fit in their column chunk`);
    // The row group's vector values, read a piece at a time (bounded reads from a file), hashed.
    const h = createHash('sha1');
    for (let o = at; o < end; o += VERIFY_READ_BYTES) h.update(file.range(o, Math.min(end, o + VERIFY_READ_BYTES)));
    const want = digests.get(first);
    if (want === undefined || h.digest('hex') !== want) internal(`row group ${g}: the vector values at ${at} are not the vectors of ordinals ${first}-${first + rg.numRows - 1}`);
    groups.push({ firstOrdinal: first, offset: at });
    first += rg.numRows;
  }
  if (first !== n) internal(`the row groups hold ${first} rows, not ${n}`);
  return encodeVectorLocator(n, dim, R, groups, (ord) => present[ord] === 1);
}

// --- Reading -------------------------------------------------------------------------------------------

type ArrowTable = import('apache-arrow').Table;

interface Layout2 {
  idEncoding: 'int64' | 'string' | 'key';
  columns: ColumnMeta[];
}

/** The layout a file's key-value metadata declares: null for layout 1 (which had none). */
function layoutOf(md: ReadonlyMap<string, string>): Layout2 | null {
  const layout = md.get('elacsym.layout');
  if (layout === undefined) return null;
  if (layout !== '2') throw new ElacsymError('FORMAT_TOO_NEW', `segment Parquet layout ${JSON.stringify(layout)} is not one this elacsym reads`);
  const idEncoding = md.get('elacsym.id_encoding');
  if (idEncoding !== 'int64' && idEncoding !== 'string' && idEncoding !== 'key') throw new Error(`unknown id encoding ${JSON.stringify(idEncoding)}`);
  const columns = JSON.parse(md.get('elacsym.columns') ?? 'null') as ColumnMeta[];
  if (!Array.isArray(columns)) throw new Error('elacsym.columns is missing');
  return { idEncoding, columns };
}

/**
 * What a reader does with the vectors of the rows it decodes: a copy each (the default), none (`skip`: the
 * vector column is not even decoded, every document's vector is null), or `into(ord, values, start, dim)`:
 * the caller copies the vector (values[start .. start + dim), dim the column's list size) where it wants and returns that row (or null
 * to drop it), so no array of its own is made per document.
 */
export type VectorRead = 'copy' | 'skip' | ((ord: number, values: Float32Array, start: number, dim: number) => Float32Array | null);

/** Documents of a decoded table whose first row is ordinal `first` of the segment. */
function toDocs(table: ArrowTable, layout: Layout2 | null, first: number, vectorRead: VectorRead = 'copy'): Doc[] {
  const n = table.numRows;
  const idCol = table.getChild('id');
  if (!idCol) throw new Error('segment Parquet file lacks the id column');
  const vecCol = vectorRead === 'skip' ? null : table.getChild('vector');
  const out: Doc[] = new Array(n);
  const vectors = vecCol ? vectorsOf(vecCol, typeof vectorRead === 'function' ? (j, values, start, dim) => vectorRead(first + j, values, start, dim) : null) : null;
  const vectorOf = (i: number): Float32Array | null => vectors?.[i] ?? null;
  if (layout === null) {
    const attrCol = table.getChild('attributes');
    if (!attrCol) throw new Error('segment Parquet file lacks the attributes column');
    for (let i = 0; i < n; i++) {
      out[i] = { id: idFromKey(idCol.get(i) as string), vector: vectorOf(i), attributes: JSON.parse(attrCol.get(i) as string) };
    }
    return out;
  }
  const cols = layout.columns.map((m) => {
    const col = m.c === null ? null : table.getChild(m.c);
    if (m.c !== null && !col) throw new Error(`segment Parquet file lacks the column ${JSON.stringify(m.c)}`);
    // Ordinals of this table's rows whose null is explicit (or, with `x`, absent), and exact values.
    const list = m.n === undefined || m.n === 'all' ? null : 'e' in m.n ? m.n.e : m.n.x;
    const listed = list ? new Set(list.filter((o) => o >= first && o < first + n)) : null;
    const explicitIfListed = m.n !== undefined && m.n !== 'all' && 'e' in m.n;
    const exact = m.v ? new Map(m.v.filter(([o]) => o >= first && o < first + n)) : null;
    // Whole columns at once: a lookup per row and column through the chunks costs more than the decoding.
    const values = col ? columnValues(col) : null;
    const valid = col ? validity(col) : null;
    return { m, values, valid, listed, explicitIfListed, exact };
  });
  // String ids through columnValues, not Arrow's decoder, which drops a leading U+FEFF (a byte-order mark
  // to it, part of the id here).
  const ids = (layout.idEncoding === 'int64' ? idCol.toArray() : columnValues(idCol)) as ArrayLike<bigint | string>;
  for (let i = 0; i < n; i++) {
    const raw = ids[i]!;
    const id = layout.idEncoding === 'int64' ? Number(raw) : layout.idEncoding === 'string' ? (raw as string) : idFromKey(raw as string);
    // An ordinary object, as JSON.parse makes (reads go through ownValue): documents with the same keys in
    // the same order share one hidden class and keep their values in the object itself. A null-prototype
    // object (dataRecord) is a hash table in V8: ~500 more bytes per document, ~100 MB of a merge group
    // of 200k. "__proto__" is written as an own property, as JSON.parse writes it.
    const attributes: Attributes = {};
    for (const { m, values, valid, listed, explicitIfListed, exact } of cols) {
      const ord = first + i;
      const v = values === null || (valid !== null && valid[i] === 0) ? null : values[i];
      if (v === null || v === undefined) {
        const explicit = m.n === undefined ? false : m.n === 'all' ? true : explicitIfListed === listed!.has(ord);
        if (explicit) setOwnValue(attributes, m.a, null);
        continue;
      }
      const x = exact?.get(ord);
      if (x !== undefined) setOwnValue(attributes, m.a, x);
      else if (typeof v === 'bigint') setOwnValue(attributes, m.a, Number(v));
      else if (Array.isArray(v)) setOwnValue(attributes, m.a, v as string[]);
      else setOwnValue(attributes, m.a, v as string | number | boolean);
    }
    out[i] = { id, vector: vectorOf(i), attributes };
  }
  return out;
}

type ArrowVector = import('apache-arrow').Vector;

/** 1 per non-null row of a column, or null when it has no nulls (one pass over its chunks). */
function validity(col: ArrowVector): Uint8Array | null {
  if (col.nullCount === 0) return null;
  const out = new Uint8Array(col.length);
  let at = 0;
  for (const d of col.data) {
    for (let j = 0; j < d.length; j++) out[at + j] = d.getValid(j) ? 1 : 0;
    at += d.length;
  }
  return out;
}

/**
 * A column's values, one per row (anything at a null row). Strings are sliced from the chunks' UTF-8 bytes
 * with Buffer#toString, and list<utf8> rows built from the offsets: several times faster than arrow's get().
 */
function columnValues(col: ArrowVector): ArrayLike<unknown> {
  const t = col.type as { typeId: number };
  const utf8 = (d: import('apache-arrow').Data, out: unknown[], at: number) => {
    const offs = d.valueOffsets as Int32Array;
    const bytes = d.values as Uint8Array;
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let j = 0; j < d.length; j++) out[at + j] = buf.toString('utf8', offs[d.offset + j]!, offs[d.offset + j + 1]!);
  };
  if (t.typeId === 5 /* Utf8 */) {
    const out: unknown[] = new Array(col.length);
    let at = 0;
    for (const d of col.data) {
      utf8(d, out, at);
      at += d.length;
    }
    return out;
  }
  if (t.typeId === 12 /* List */) {
    const out: unknown[] = new Array(col.length);
    let at = 0;
    for (const d of col.data) {
      const offs = d.valueOffsets as Int32Array;
      const child = d.children[0]!;
      const strings: unknown[] = new Array(child.length);
      utf8(child, strings, 0);
      for (let j = 0; j < d.length; j++) out[at + j] = strings.slice(offs[d.offset + j]!, offs[d.offset + j + 1]!);
      at += d.length;
    }
    return out;
  }
  return col.toArray() as ArrayLike<unknown>;
}

/**
 * Each row's vector of a fixed_size_list<float32> column, copied out of the chunk (null where absent), or
 * what `into(row, values, start, dim)` makes of it.
 */
function vectorsOf(col: ArrowVector, into: ((row: number, values: Float32Array, start: number, dim: number) => Float32Array | null) | null): (Float32Array | null)[] {
  const out: (Float32Array | null)[] = new Array(col.length);
  let at = 0;
  for (const d of col.data) {
    const dim = (d.type as { listSize: number }).listSize;
    const child = d.children[0]!;
    const values = child.values as Float32Array;
    for (let j = 0; j < d.length; j++) {
      const start = child.offset + (d.offset + j) * dim;
      out[at + j] = !d.getValid(j) ? null : into ? into(at + j, values, start, dim) : values.slice(start, start + dim);
    }
    at += d.length;
  }
  return out;
}

/** A segment's documents, in ordinal order, from a layout-1 or layout-2 file. */
export async function readSegmentParquet(bytes: Uint8Array): Promise<Doc[]> {
  const { arrow, pq } = await load();
  const table = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  return toDocs(table, layoutOf(table.schema.metadata), 0);
}

/**
 * A segment's documents one row group at a time (either layout), for merges that must not hold whole
 * segments decoded. Given a Blob backed by the file (`fs.openAsBlob(path)`), only the footer and one row
 * group's column chunks are read at a time, so memory is bounded by a row group; given bytes, the file is in
 * memory already and parquet-wasm copies all of it into its own memory for each row group.
 * `hooks.beforeRowGroup(g)` (Blob only) runs before row group g is read: where the caller makes sure the
 * Blob can serve its ranges, since a read that fails inside parquet-wasm leaves it hung on a panic
 * (store/segment-docs.ts).
 */
export async function* readSegmentParquetRowGroups(source: Uint8Array | Blob, hooks: { beforeRowGroup?: (g: number) => void; vectors?: VectorRead } = {}): AsyncGenerator<Doc[]> {
  const { arrow, pq } = await load();
  if (source instanceof Uint8Array) {
    const footer = readParquetFooter(source);
    let first = 0;
    for (let g = 0; g < footer.rowGroups.length; g++) {
      const table = arrow.tableFromIPC(pq.readParquet(source, { rowGroups: [g] }).intoIPCStream());
      if (table.numRows !== footer.rowGroups[g]!.numRows) throw new Error(`row group ${g} decoded ${table.numRows} rows, its footer says ${footer.rowGroups[g]!.numRows}`);
      yield toDocs(table, layoutOf(table.schema.metadata), first, hooks.vectors);
      first += table.numRows;
    }
    return;
  }
  const file = await pq.ParquetFile.fromFile(source);
  try {
    const md = file.metadata();
    // ParquetFile.read does not carry the key-value metadata into the Arrow schema: take it from the footer.
    const layout = layoutOf(md.fileMetadata().keyValueMetadata() as Map<string, string>);
    const groups = md.numRowGroups();
    // Without the vectors: every column but the vector's is decoded (layout 1: id and attributes).
    const columns = hooks.vectors === 'skip' ? ['id', ...(layout ? layout.columns.flatMap((m) => (m.c === null ? [] : [m.c])) : ['attributes'])] : undefined;
    let first = 0;
    for (let g = 0; g < groups; g++) {
      const expect = md.rowGroup(g).numRows();
      hooks.beforeRowGroup?.(g);
      const table = arrow.tableFromIPC((await file.read({ rowGroups: [g], ...(columns ? { columns } : {}) })).intoIPCStream());
      if (table.numRows !== expect) throw new Error(`row group ${g} decoded ${table.numRows} rows, its footer says ${expect}`);
      yield toDocs(table, layout, first, hooks.vectors);
      first += table.numRows;
    }
  } finally {
    file.free();
  }
}

// --- The footer ----------------------------------------------------------------------------------------

export interface ParquetColumnChunk {
  path: string[];
  codec: number;
  numValues: number;
  totalCompressedSize: number;
  dataPageOffset: number;
  dictionaryPageOffset: number | null;
}
export interface ParquetFooter {
  numRows: number;
  rowGroups: { numRows: number; columns: ParquetColumnChunk[] }[];
}

/**
 * The parts of a Parquet footer (FileMetaData, Thrift compact protocol) that locating vectors and reading
 * by row group need. A small reader of our own rather than a dependency: the CLI bundle stays as it is.
 */
export function readParquetFooter(bytes: Uint8Array): ParquetFooter {
  const len = bytes.length;
  const tail = new DataView(bytes.buffer, bytes.byteOffset + len - 8, 8);
  if (len < 12 || tail.getUint32(4, true) !== 0x31524150 /* PAR1 */) throw new Error('not a Parquet file (no PAR1 trailer)');
  const mdLen = tail.getUint32(0, true);
  if (mdLen > len - 12) throw new Error('Parquet footer length out of range');
  const r = new ThriftReader(bytes.subarray(len - 8 - mdLen, len - 8));
  const fmd = r.struct();
  const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  const rowGroups = ((fmd.get(4) as Map<number, unknown>[] | undefined) ?? []).map((rg) => ({
    numRows: num(rg.get(3)),
    columns: ((rg.get(1) as Map<number, unknown>[] | undefined) ?? []).map((cc) => {
      const md = cc.get(3) as Map<number, unknown> | undefined;
      if (!md) throw new Error('Parquet column chunk without metadata');
      return {
        path: (md.get(3) as Uint8Array[]).map((p) => utf8Names.decode(p)),
        codec: num(md.get(4)),
        numValues: num(md.get(5)),
        totalCompressedSize: num(md.get(7)),
        dataPageOffset: num(md.get(9)),
        dictionaryPageOffset: md.has(11) ? num(md.get(11)) : null,
      };
    }),
  }));
  return { numRows: num(fmd.get(3)), rowGroups };
}



/**
 * The rows of any Parquet file as plain records (`import --format parquet`), column name -> value:
 * integers as numbers (64-bit ones as numbers when safe, else decimal strings), lists as arrays, binary as
 * base64, dates and timestamps as ISO strings, nulls as null. The file is decoded whole.
 * `segment`: the file is an elacsym segment's (layout 2), and `records` are then its documents in the
 * import shape ({id, vector?, attributes}), not flat records.
 */
export async function readParquetRecords(bytes: Uint8Array): Promise<{ segment: boolean; records: Record<string, unknown>[] }> {
  const { arrow, pq } = await load();
  const table = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  // An elacsym segment's own file (layout 2) reads back as its documents, in the import shape: read as
  // flat records, a segment of mixed ids (stored as their JSON text) turned 1 into "1" and "s0" into
  // "\"s0\"", an attribute named vector came back as vector_1 (its column's name) and explicit nulls were
  // dropped (testers' cases).
  const layout = layoutOf(table.schema.metadata);
  if (layout) {
    const records = toDocs(table, layout, 0).map((d) => {
      const r: Record<string, unknown> = { id: d.id };
      if (d.vector) r.vector = Array.from(d.vector);
      r.attributes = d.attributes;
      return r;
    });
    return { segment: true, records };
  }
  const names = table.schema.fields.map((f) => f.name);
  const cols = names.map((n) => table.getChild(n)!);
  const plain = (v: unknown): unknown => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    if (v instanceof Date) return v.toISOString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (typeof v === 'object' && typeof (v as { toArray?: unknown }).toArray === 'function') return Array.from((v as { toArray(): ArrayLike<unknown> }).toArray(), plain);
    return v;
  };
  // String columns decoded by columnValues, not Arrow's decoder, which drops a leading U+FEFF (a byte-order
  // mark to it, data to us: "\ufeffabc" and "abc" are different values). Nulls by the validity bitmap.
  // (Elements of list<utf8> columns, which may be null themselves, still go through Arrow.)
  const strings = cols.map((c) => ((c.type as { typeId: number }).typeId === 5 /* Utf8 */ ? columnValues(c) : null));
  const out: Record<string, unknown>[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const r: Record<string, unknown> = Object.create(null);
    for (let c = 0; c < names.length; c++) {
      const s = strings[c];
      r[names[c]!] = s ? (cols[c]!.isValid(i) ? s[i] : null) : plain(cols[c]!.get(i));
    }
    out[i] = r;
  }
  return { segment: false, records: out };
}
