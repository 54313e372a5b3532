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

/**
 * Bytes per token a builder holds after its documents are added and before `finish`: 5 tokens per
 * document, 110,000 documents, so 550,000 tokens, just past 2^19 (where doubling from 1,024 overshoots
 * most).
 */
const TOKEN_BYTES_SCRIPT = `
import { FieldIndexBuilder } from ${dist('index/fulltext/postings.js')};
const n = 110000, per = 5;
const toks = Array.from({ length: per }, (_, k) => ({ term: 'w' + k, pos: k }));
// ArrayBuffer memory is released after a collection, off the job that collected: settle in later jobs.
const settled = async () => {
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setImmediate(r));
    globalThis.gc();
  }
  return process.memoryUsage().arrayBuffers;
};
const out = {};
for (const positions of [true, false]) {
  const base = await settled();
  const b = new FieldIndexBuilder(n, positions);
  for (let i = 0; i < n; i++) b.add(toks);
  out[positions] = ((await settled()) - base) / (n * per);
  b.finish();
}
console.log(JSON.stringify(out));
`;

/** Whether the attributes of decoded documents are fast-mode objects (V8's %HasFastProperties). */
const FAST_ATTRS_SCRIPT = `
import { readSegmentParquet, writeSegmentParquet } from ${dist('storage/parquet.js')};
const schema = { vector_dim: 2, vector_metric: 'l2', attributes: { title: { type: 'string', full_text: null }, n: { type: 'integer', full_text: null }, tags: { type: 'array<string>', full_text: null } } };
const docs = Array.from({ length: 50 }, (_, i) => ({ id: i, vector: Float32Array.from([i, 1]), attributes: JSON.parse(JSON.stringify({ title: 't' + i, n: i, tags: ['a', 'b'] })) }));
docs[7].attributes = JSON.parse('{"__proto__":"p","title":"x"}');
const sorted = (a) => Object.keys(a).sort().map((k) => [k, a[k]]);
const back = await readSegmentParquet((await writeSegmentParquet(docs, schema)).bytes);
console.log(JSON.stringify({
  fast: back.filter((d) => %HasFastProperties(d.attributes)).length,
  protoOwn: Object.hasOwn(back[7].attributes, '__proto__') && back[7].attributes['__proto__'] === 'p' && Object.getPrototypeOf(back[7].attributes) === Object.prototype,
  // The Parquet file lists keys in column order (the index file restores the written order): compare sorted.
  same: JSON.stringify(back.map((d) => sorted(d.attributes))) === JSON.stringify(docs.map((d) => sorted(d.attributes))),
}));
`;

/**
 * A segment built from a DocSource (doc-source.ts, as a merge feeds it) holds a few of its chunks at a
 * time, not its documents: 2,000 documents of 18 KB of text each (36 MB), 50 per chunk, written with the
 * index file. At each chunk of the second pass (the one that writes), after a forced collection, the
 * heap beyond what it was when that pass began. Then the file read back gives the documents exactly.
 */
const SOURCE_SCRIPT = `
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSegment } from ${dist('store/segment-builder.js')};
import { LocalSegmentStore } from ${dist('storage/segment-store.js')};
import { readSegmentParquet } from ${dist('storage/parquet.js')};
const N = 2000, CH = 50;
const schema = { vector_dim: 4, vector_metric: 'l2', attributes: { body: { type: 'string', full_text: null }, n: { type: 'integer', full_text: null } } };
// A flat string of 18,000 bytes (repeat() would make a rope of a few shared pieces, not 18 KB).
const text = (i) => { const b = Buffer.alloc(18000, 97); b.write(String(i).padStart(6, '0')); return b.toString('latin1'); };
const doc = (i) => ({ id: i, vector: Float32Array.of(i, 1, 2, 3), attributes: { body: text(i), n: i } });
const heap = () => process.memoryUsage().heapUsed;
let pass = 0, base = 0, worst = 0;
const source = {
  capacity: N,
  async *chunks() {
    pass++;
    for (let f = 0; f < N; f += CH) {
      if (pass === 2) {
        globalThis.gc();
        if (f === 0) base = heap();
        else worst = Math.max(worst, heap() - base);
      }
      yield Array.from({ length: CH }, (_, j) => doc(f + j));
    }
  },
};
const dir = mkdtempSync(join(tmpdir(), 'elacsym-src-'));
const files = await writeSegment(new LocalSegmentStore(dir), 1, source, schema);
const back = await readSegmentParquet(readFileSync(join(dir, files.parquet)));
const same = back.length === N && back.every((d, i) => { const e = doc(i); return d.id === e.id && d.attributes.body === e.attributes.body && d.attributes.n === i && d.vector.join() === e.vector.join(); });
console.log(JSON.stringify({ passes: pass, worst, total: N * 18000, docs: files.docCount, same }));
`;

/**
 * A flush gives its documents up to the build (releasingArraySource, store/writer.ts): they are garbage
 * once their Parquet row groups are written, before the index file is built. 2,000 documents of 18 KB of
 * text (36 MB) in an array; after the Parquet file (hook afterParquet), a forced collection: how much of
 * the heap went, for the releasing source and for a plain array source (which keeps them: the control).
 */
const RELEASE_SCRIPT = `
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSegment } from ${dist('store/segment-builder.js')};
import { LocalSegmentStore } from ${dist('storage/segment-store.js')};
import { arraySource, releasingArraySource } from ${dist('storage/doc-source.js')};
const N = 2000;
const schema = { vector_dim: 4, vector_metric: 'l2', attributes: { body: { type: 'string', full_text: null }, n: { type: 'integer', full_text: null } } };
const heap = () => process.memoryUsage().heapUsed;
// A flat string of 18,000 bytes (repeat() would make a rope of a few shared pieces, not 18 KB).
const text = (i) => { const b = Buffer.alloc(18000, 97); b.write(String(i).padStart(6, '0')); return b.toString('latin1'); };
const out = {};
for (const kind of ['releasing', 'array']) {
  let docs = Array.from({ length: N }, (_, i) => ({ id: i, vector: Float32Array.of(i, 1, 2, 3), attributes: { body: text(i), n: i } }));
  const source = kind === 'releasing' ? releasingArraySource(docs) : arraySource(docs);
  docs = null;
  globalThis.gc();
  const base = heap();
  let freed = 0;
  const dir = mkdtempSync(join(tmpdir(), 'elacsym-rel-'));
  const files = await writeSegment(new LocalSegmentStore(dir), 1, source, schema, { afterParquet: () => { globalThis.gc(); freed = base - heap(); } });
  let again = 'none';
  try { for await (const c of source.chunks()) { again = 'read'; break; } } catch (e) { again = e.code; }
  out[kind] = { freed, docs: files.docCount, again };
}
console.log(JSON.stringify({ total: N * 18000, ...out }));
`;

/**
 * The last pass over a releasing source collects the garbage it makes as it goes (doc-source.ts,
 * COLLECT_EVERY_CHUNKS): 40,000 documents of 1,000 bytes of text, in the old generation before the pass
 * starts. heapUsed when the first chunk is handed out, and when the seventh is (six chunks released, a
 * collection after the sixth); no collection of this script's own in between.
 */
const COLLECT_SCRIPT = `
import { releasingArraySource } from ${dist('storage/doc-source.js')};
const N = 40000;
const text = (i) => { const b = Buffer.alloc(1000, 97); b.write(String(i).padStart(6, '0')); return b.toString('latin1'); };
let docs = Array.from({ length: N }, (_, i) => ({ id: i, vector: null, attributes: { body: text(i) } }));
const source = releasingArraySource(docs);
docs = null;
globalThis.gc();
globalThis.gc();
const heap = () => process.memoryUsage().heapUsed;
const at = {};
let k = 0, seen = 0;
for await (const c of source.chunks({ last: true })) {
  if (k === 0 || k === 6) at[k] = heap();
  seen += c.length;
  k++;
}
console.log(JSON.stringify({ chunks: k, seen, dropped: at[0] - at[6] }));
`;

function run(script: string, arg = '', flags: string[] = []): unknown {
  const r = spawnSync(process.execPath, ['--expose-gc', ...flags, '--input-type=module', '-e', script, arg], { encoding: 'utf8' });
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

  it('the full-text builder holds 8 bytes per token with positions, 4 without, plus bounded spare room', () => {
    // Doubling, with each token's ordinal stored too, held 12 bytes per token in arrays of up to twice the
    // tokens: 22.9 bytes per token here.
    const perToken = run(TOKEN_BYTES_SCRIPT) as Record<string, number>;
    // Tokens plus up to 25% spare, and docLens (4 bytes per document: 0.8 per token here).
    expect(perToken.true).toBeGreaterThan(8);
    expect(perToken.true).toBeLessThanOrEqual(8 * 1.25 + 0.8);
    expect(perToken.false).toBeLessThanOrEqual(4 * 1.25 + 0.8);
  });

  it('a segment built from a source of chunks holds a few chunks of it, not its documents', () => {
    const r = run(SOURCE_SCRIPT) as { passes: number; worst: number; total: number; docs: number; same: boolean };
    expect(r.passes).toBe(2);
    expect(r.docs).toBe(2000);
    expect(r.same).toBe(true);
    // One chunk is 0.9 MB of text; the documents held whole would be 36 MB.
    expect(r.worst).toBeLessThan(r.total / 10);
  });

  it('a flush\'s documents are let go of as the Parquet file is written, and cannot be read again', () => {
    const r = run(RELEASE_SCRIPT) as { total: number; releasing: { freed: number; docs: number; again: string }; array: { freed: number; docs: number; again: string } };
    expect(r.releasing.docs).toBe(2000);
    expect(r.releasing.freed).toBeGreaterThan(r.total * 0.8);
    expect(r.releasing.again).toBe('INTERNAL');
    // The control: an array source keeps its documents (and can be read again).
    expect(r.array.freed).toBeLessThan(r.total * 0.2);
    expect(r.array.again).toBe('read');
  });

  it('a flush\'s writing pass collects the documents it let go of as it goes, without being asked', () => {
    const r = run(COLLECT_SCRIPT) as { chunks: number; seen: number; dropped: number };
    expect(r.seen).toBe(40000);
    expect(r.chunks).toBe(10);
    // At least four of the six released chunks (4,096 documents of ~1 KB each) are gone from the heap.
    expect(r.dropped).toBeGreaterThan(4 * 4096 * 1000);
  });

  it('decoded documents have ordinary attribute objects (fast properties), "__proto__" an own key', () => {
    // A null-prototype object is a hash table in V8: ~500 more bytes per document in a merge.
    const r = run(FAST_ATTRS_SCRIPT, '', ['--allow-natives-syntax']) as { fast: number; protoOwn: boolean; same: boolean };
    expect(r.protoOwn).toBe(true);
    expect(r.same).toBe(true);
    // All but the document whose "__proto__" key was defined as a property (that object may go slow).
    expect(r.fast).toBeGreaterThanOrEqual(49);
  });
});
