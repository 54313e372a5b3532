/**
 * The only importer of parquet-wasm and apache-arrow. Both are loaded lazily (dynamic import, ~250 ms):
 * flush, compaction, export and deep health checks need them; queries never do (they read the segment's
 * index file, see segment-file.ts).
 *
 * Segment Parquet schema (one row per document version, in ordinal order):
 *   id          utf8      the id's JSON text: 42 for the integer 42, "42" (with quotes) for the string
 *   vector      fixed_size_list<float32>[dim], nullable   (absent when the namespace has no vectors)
 *   attributes  utf8      the attributes as a JSON object
 */
import type { Doc } from '../model/types.js';
import { idFromKey, idKey } from '../model/document.js';

type Arrow = typeof import('apache-arrow');
type ParquetWasm = typeof import('parquet-wasm');

let libs: Promise<{ arrow: Arrow; pq: ParquetWasm }> | undefined;
function load(): Promise<{ arrow: Arrow; pq: ParquetWasm }> {
  libs ??= Promise.all([import('apache-arrow'), import('parquet-wasm')]).then(([arrow, pq]) => ({ arrow, pq }));
  return libs;
}

const enc = new TextEncoder();

function utf8Data(arrow: Arrow, strings: readonly string[]) {
  const offsets = new Int32Array(strings.length + 1);
  let cap = 0;
  for (const s of strings) cap += s.length * 3;
  const buf = new Uint8Array(cap);
  let at = 0;
  for (let i = 0; i < strings.length; i++) {
    at += enc.encodeInto(strings[i]!, buf.subarray(at)).written;
    offsets[i + 1] = at;
  }
  return arrow.makeData({ type: new arrow.Utf8(), length: strings.length, valueOffsets: offsets, data: buf.subarray(0, at), nullCount: 0 });
}

export async function writeSegmentParquet(docs: readonly Doc[], dim: number): Promise<Uint8Array> {
  const { arrow, pq } = await load();
  const n = docs.length;
  const ids = new Array<string>(n);
  const attrs = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = idKey(docs[i]!.id);
    attrs[i] = JSON.stringify(docs[i]!.attributes);
  }
  const columns: Record<string, import('apache-arrow').Vector> = { id: arrow.makeVector(utf8Data(arrow, ids)) };
  if (dim > 0) {
    const values = new Float32Array(n * dim);
    const valid = new Uint8Array((n + 7) >> 3);
    let nulls = 0;
    for (let i = 0; i < n; i++) {
      const v = docs[i]!.vector;
      if (v) {
        values.set(v, i * dim);
        valid[i >> 3]! |= 1 << (i & 7);
      } else nulls++;
    }
    const child = arrow.makeData({ type: new arrow.Float32(), length: n * dim, data: values });
    const type = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), false));
    columns.vector = arrow.makeVector(
      arrow.makeData({ type, length: n, child, nullCount: nulls, nullBitmap: nulls > 0 ? valid : undefined }),
    );
  }
  columns.attributes = arrow.makeVector(utf8Data(arrow, attrs));
  const table = new arrow.Table(columns);
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const props = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.SNAPPY)
    .setDictionaryEnabled(false)
    .setCreatedBy('elacsym')
    .build();
  return pq.writeParquet(wasmTable, props);
}

export async function readSegmentParquet(bytes: Uint8Array): Promise<Doc[]> {
  const { arrow, pq } = await load();
  const table = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  const n = table.numRows;
  const idCol = table.getChild('id');
  const attrCol = table.getChild('attributes');
  if (!idCol || !attrCol) throw new Error('segment Parquet file lacks the id or attributes column');
  const vecCol = table.getChild('vector');
  const out: Doc[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = vecCol?.get(i) as { toArray(): Float32Array } | null | undefined;
    out[i] = {
      id: idFromKey(idCol.get(i) as string),
      vector: v ? Float32Array.from(v.toArray()) : null,
      attributes: JSON.parse(attrCol.get(i) as string),
    };
  }
  return out;
}

/**
 * The rows of any Parquet file as plain records (`import --format parquet`), column name -> value:
 * integers as numbers (64-bit ones as numbers when safe, else decimal strings), lists as arrays, binary as
 * base64, dates and timestamps as ISO strings, nulls as null. The file is decoded whole.
 */
export async function readParquetRecords(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  const { arrow, pq } = await load();
  const table = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
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
  const out: Record<string, unknown>[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const r: Record<string, unknown> = Object.create(null);
    for (let c = 0; c < names.length; c++) r[names[c]!] = plain(cols[c]!.get(i));
    out[i] = r;
  }
  return out;
}
