/**
 * A segment build's working memory is bounded by a row group, not by the segment (issue 11, bounded import
 * memory). The Parquet writer built an Arrow table of the whole segment (a second copy of every vector and
 * attribute) and joined its output into one array (a third copy of the file); the full-text sections held
 * the analyzed tokens of every document at once. Checked in a child process with a forced garbage
 * collection at each row group (deterministic: no timing; the bound is stated in row groups).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/cli.js';

const dist = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist', p)).href);

/**
 * Writes segments of `sizes` documents (dim 64, 256 rows per row group: 64 KiB of vectors per group) and
 * reports, per size, the largest growth of live ArrayBuffer memory at any row group beyond the documents
 * and the file written so far.
 */
const PARQUET_SCRIPT = `
import { writeSegmentParquetChunks } from ${dist('storage/parquet.js')};
const dim = 64, R = 256;
const schema = { vector_dim: dim, vector_metric: 'l2', attributes: { title: { type: 'string', full_text: null }, n: { type: 'integer', full_text: null } } };
const ab = () => process.memoryUsage().arrayBuffers;
const out = [];
// Load parquet-wasm and apache-arrow first: their loading allocates buffers of its own.
await writeSegmentParquetChunks([{ id: 0, vector: new Float32Array(dim), attributes: {} }], schema);
for (const n of JSON.parse(process.argv.at(-1))) {
  // Every vector is a view into one buffer, so the documents cost the same before and during the write.
  const all = new Float32Array(n * dim);
  for (let i = 0; i < all.length; i++) all[i] = ((i * 2654435761) % 1000) / 1000;
  const docs = Array.from({ length: n }, (_, i) => ({ id: i, vector: all.subarray(i * dim, (i + 1) * dim), attributes: { title: 'title ' + i, n: i } }));
  globalThis.gc();
  const base = ab();
  let worst = 0;
  let groups = 0;
  const r = await writeSegmentParquetChunks(docs, schema, {
    rowsPerGroup: R,
    onRowGroup: (first, rows) => {
      groups++;
      globalThis.gc();
      // The file written so far: at most the vectors and attributes of the rows handed over.
      const fileSoFar = (first + rows) * (dim * 4 + 32);
      worst = Math.max(worst, ab() - base - fileSoFar);
    },
  });
  out.push({ n, groups, worst, size: r.size, groupBytes: R * dim * 4 });
}
console.log(JSON.stringify(out));
`;

const POSTINGS_SCRIPT = `
import { FieldIndexBuilder, buildFieldIndex } from ${dist('index/fulltext/postings.js')};
const refs = [];
const all = [];
const b = new FieldIndexBuilder();
const feed = (ord) => {
  const toks = ord % 7 === 0 ? null : Array.from({ length: 1 + (ord % 5) }, (_, k) => ({ term: 't' + ((ord * 31 + k * 7) % 97), pos: k * 2 }));
  if (toks) refs.push(new WeakRef(toks));
  all.push(toks && toks.map((t) => ({ ...t })));
  b.add(toks);
};
for (let ord = 0; ord < 2000; ord++) feed(ord);
// A WeakRef keeps its target alive until the end of the job that made it: collect in a later one.
await new Promise((r) => setImmediate(r));
globalThis.gc();
const alive = refs.filter((r) => r.deref() !== undefined).length;
const same = Buffer.from(b.finish()).equals(Buffer.from(buildFieldIndex(all)));
console.log(JSON.stringify({ alive, same }));
`;

function run(script: string, arg = ''): unknown {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, arg], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('segment build memory', () => {
  it('the Parquet writer holds one row group of Arrow data beyond its output, for any segment size', () => {
    const res = run(PARQUET_SCRIPT, JSON.stringify([4096, 16384])) as { n: number; groups: number; worst: number; size: number; groupBytes: number }[];
    for (const r of res) {
      expect(r.groups).toBe(r.n / 256);
      // A whole-segment Arrow table (the old writer) would be n * 256 bytes of vectors alone: 1 MiB and 4 MiB.
      expect(r.worst, `n=${r.n}`).toBeLessThanOrEqual(4 * r.groupBytes);
    }
  });

  it('the full-text builder keeps no analyzed tokens and writes the bytes buildFieldIndex writes', () => {
    const { alive, same } = run(POSTINGS_SCRIPT) as { alive: number; same: boolean };
    expect(alive).toBe(0);
    expect(same).toBe(true);
  });
});
