#!/usr/bin/env node
// Segment Parquet layout 1 (JSON id and attributes, SNAPPY) against layout 2 (typed columns; SNAPPY and
// ZSTD for the non-vector columns): file bytes, bytes per column, write and read CPU time (process CPU, not
// wall time, because this shared VM's wall clock varies 2x). A benchmark, not a test. Needs `npm run build`.
//   node bench/segment-parquet.mjs [--docs 100000] [--dim 128] [--reps 5]
import * as arrow from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { datasetSchema, generateDocs } from '../dist/bench/dataset.js';
import { parseSchema } from '../dist/model/schema.js';
import { readParquetFooter, readSegmentParquet, readSegmentParquetRowGroups, writeSegmentParquet } from '../dist/storage/parquet.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('docs', 100_000);
const dim = arg('dim', 128);
const reps = arg('reps', 5);

/** Layout 1's writer (src/storage/parquet.ts before issue 11; also test/unit/storage/layout1-writer.ts). */
function writeLayout1(docs) {
  const utf8 = (strings) => arrow.vectorFromArray(strings, new arrow.Utf8());
  const values = new Float32Array(docs.length * dim);
  docs.forEach((d, i) => values.set(d.vector, i * dim));
  const child = arrow.makeData({ type: new arrow.Float32(), length: values.length, data: values });
  const type = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), false));
  const table = new arrow.Table({
    id: utf8(docs.map((d) => String(d.id))),
    vector: arrow.makeVector(arrow.makeData({ type, length: docs.length, child, nullCount: 0 })),
    attributes: utf8(docs.map((d) => JSON.stringify(d.attributes))),
  });
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).setDictionaryEnabled(false).setCreatedBy('elacsym').build();
  return pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), props);
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const docs = [...generateDocs({ docs: N, dim })].map((d) => ({ id: d.id, vector: Float32Array.from(d.vector), attributes: d.attributes }));
const schema = parseSchema(datasetSchema(dim));
const times = { 'layout 1': [], 'layout 2 SNAPPY': [], 'layout 2 ZSTD': [], 'read layout 1': [], 'read layout 2': [], 'read layout 2 by row group': [] };
const files = {};
let locatorBytes = 0;
for (let r = 0; r < reps; r++) {
  let t = cpu();
  files['layout 1'] = writeLayout1(docs);
  times['layout 1'].push(cpu() - t);
  for (const codec of ['SNAPPY', 'ZSTD']) {
    t = cpu();
    const w = await writeSegmentParquet(docs, schema, { codec });
    times[`layout 2 ${codec}`].push(cpu() - t);
    files[`layout 2 ${codec}`] = w.bytes;
    locatorBytes = w.vectorLocator.length;
  }
}
for (let r = 0; r < reps; r++) {
  let t = cpu();
  await readSegmentParquet(files['layout 1']);
  times['read layout 1'].push(cpu() - t);
  t = cpu();
  await readSegmentParquet(files['layout 2 ZSTD']);
  times['read layout 2'].push(cpu() - t);
  t = cpu();
  for await (const g of readSegmentParquetRowGroups(files['layout 2 ZSTD'])) void g;
  times['read layout 2 by row group'].push(cpu() - t);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const columns = (bytes) => {
  const out = {};
  for (const rg of readParquetFooter(bytes).rowGroups) for (const c of rg.columns) out[c.path[0]] = (out[c.path[0]] ?? 0) + c.totalCompressedSize;
  return out;
};
console.log(
  JSON.stringify(
    {
      docs: N,
      dim,
      bytes: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.length])),
      bytes_per_doc: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, +(v.length / N).toFixed(1)])),
      columns: { 'layout 2 SNAPPY': columns(files['layout 2 SNAPPY']), 'layout 2 ZSTD': columns(files['layout 2 ZSTD']) },
      vector_locator_bytes: locatorBytes,
      cpu_ms_median: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(median(v))])),
    },
    null,
    1,
  ),
);
