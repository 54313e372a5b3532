/**
 * The segment Parquet writer of layout 1 (release 1 to issue 11), kept verbatim for tests: files it writes
 * are what version-1 data directories hold, and readSegmentParquet must keep reading them.
 */
import type { Doc } from '../../../src/model/types.js';
import { idKey } from '../../../src/model/document.js';

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

