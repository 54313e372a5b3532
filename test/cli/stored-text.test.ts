/**
 * Long text stored once (issue 11, format 6): a segment keeps long string values only in its Parquet file,
 * and every query kind, `get`, `export`, deletes and compaction answer exactly as the pending journal (the
 * documents as imported, in memory) does for the same documents.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPACT_INDEX_FORMAT_VERSION } from '../../src/storage/manifest.js';
import { buildSegmentFile, SegmentFile } from '../../src/storage/segment-file.js';
import { crc32 } from '../../src/util/crc32.js';
import { MemorySource } from '../../src/util/bytes.js';
import { mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const WORDS = ['bank', 'of', 'america', 'river', 'the', 'city', 'new', 'york', 'times', 'données', 'café', '数据库', 'square', 'old'];
const N = 400;
function docs(seed: number) {
  const rnd = mulberry32(seed);
  return Array.from({ length: N }, (_, i) => {
    const body = Array.from({ length: 80 + Math.floor(rnd() * 500) }, () => WORDS[Math.floor(rnd() * WORDS.length)]!).join(' ');
    const attributes: Record<string, unknown> = { title: `title ${i} ${WORDS[i % WORDS.length]}`, cat: `c${i % 5}` };
    if (i % 19 === 4) attributes.body = null;
    else if (i % 23 === 6) attributes.body = '';
    else if (i % 29 !== 8) attributes.body = `${i} ${body}`;
    return { id: i, vector: [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5], attributes };
  });
}
const input = docs(3);

let d = '';
const queries = [
  { vector: [0.1, 0.2, -0.3, 0.05], top_k: 20 },
  { full_text: { query: 'river bank' }, top_k: 30 },
  { full_text: { query: '"new york times"' }, top_k: 50 },
  { full_text: { query: '"bank of america" café' }, top_k: 50 },
  { full_text: { query: '数据库' }, top_k: 10 },
  { vector: [0.3, -0.1, 0.2, 0.4], full_text: { query: 'old square' }, top_k: 15 },
  { filter: { field: 'body', op: 'prefix', value: '12' }, top_k: 100 },
  { filter: { field: 'body', op: 'eq', value: '' }, top_k: 100 },
  { filter: { field: 'body', op: 'exists', value: false }, top_k: 100 },
  { vector: [0.1, 0.2, -0.3, 0.05], filter: { field: 'cat', op: 'eq', value: 'c2' }, top_k: 10, include_attributes: ['body'] },
];

async function answers(ns: string): Promise<unknown[]> {
  const r = await cli(['-d', d, 'query', ns, '--batch', '-'], { input: queries.map((q) => JSON.stringify(q)).join('\n') });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { results: unknown[] }).results);
}
const segmentFiles = (ns: string) => readdirSync(join(d, ns, 'segments')).filter((f) => f.endsWith('.idx'));

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  const schema = join(d, '../schema.json');
  writeFileSync(
    schema,
    JSON.stringify({
      vector_dim: 4,
      attributes: {
        title: { type: 'string', full_text: true },
        // Without positions: phrases re-read the stored text of their candidates, from the Parquet file.
        body: { type: 'string', full_text: { language: 'english', positions: false } },
        cat: { type: 'string' },
      },
    }),
  );
  for (const ns of ['seg', 'mem']) expect((await cli(['-d', d, 'init', ns, '--schema', schema])).code).toBe(0);
  const nd = input.map((x) => JSON.stringify(x)).join('\n');
  // Two segments on one side, the pending journal on the other.
  expect((await cli(['-d', d, 'import', 'seg', '-'], { input: nd.split('\n').slice(0, 250).join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'seg', '-'], { input: nd.split('\n').slice(250).join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'mem', '-', '--no-flush'], { input: nd })).code).toBe(0);
}, 120_000);

describe('long text stored once', () => {
  it('keeps long text only in the Parquet file, and the namespace says format 7 (6, and flat vector and version 3 field indexes)', () => {
    const files = segmentFiles('seg');
    expect(files).toHaveLength(2);
    for (const f of files) {
      const path = join(d, 'seg', 'segments', f);
      const file = SegmentFile.open(new MemorySource(readFileSync(path)), path);
      expect(file.has('txt:body')).toBe(true);
      expect(file.has('col:body')).toBe(false);
      // Short text keeps its filter column.
      expect(file.has('col:title')).toBe(true);
      expect(file.has('txt:title')).toBe(false);
    }
    const db = new Database(join(d, 'seg', 'manifest.db'), { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'format_version'").pluck().get()).toBe(String(COMPACT_INDEX_FORMAT_VERSION));
    db.close();
  });

  it('answers every query kind exactly as the pending journal does', async () => {
    const seg = await answers('seg');
    expect(seg).toEqual(await answers('mem'));
    // Not vacuous: results that print long text, phrases that match, filters on the stored-once field.
    expect((seg[2] as unknown[]).length).toBeGreaterThan(3);
    expect((seg[6] as unknown[]).length).toBeGreaterThan(3);
    expect((seg[7] as unknown[]).length).toBeGreaterThan(0);
    expect((seg[8] as unknown[]).length).toBeGreaterThan(0);
  });

  it('get and export print the documents as imported', async () => {
    const ids = ['4', '6', '8', '12', '399'];
    const g = await cli(['-d', d, 'get', 'seg', ...ids]);
    expect(g.code, g.stderr).toBe(0);
    const byId = new Map(input.map((x) => [x.id, x]));
    const got = g.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; attributes: unknown });
    expect(got.map((x) => x.attributes)).toEqual(ids.map((i) => byId.get(Number(i))!.attributes));
    const e = await cli(['-d', d, 'export', 'seg']);
    expect(e.code, e.stderr).toBe(0);
    const exported = e.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; attributes: unknown });
    expect(exported.map((x) => x.attributes)).toEqual(input.map((x) => x.attributes));
  });

  it('after deletes and a compaction, still answers as the journal does, and health --deep passes', async () => {
    const r = await cli(['-d', d, 'delete', 'seg', '--filter', JSON.stringify({ field: 'cat', op: 'eq', value: 'c1' })]);
    expect(r.code, r.stderr).toBe(0);
    expect((await cli(['-d', d, 'compact', 'seg'])).code).toBe(0);
    expect(segmentFiles('seg')).toHaveLength(1);
    // The reference: the surviving documents, pending in a fresh namespace's journal.
    const live = input.filter((x) => x.attributes.cat !== 'c1');
    expect((await cli(['-d', d, 'init', 'live', '--schema', join(d, '../schema.json')])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'live', '-', '--no-flush'], { input: live.map((x) => JSON.stringify(x)).join('\n') })).code).toBe(0);
    expect(segmentFiles('live')).toHaveLength(0);
    expect(await answers('seg')).toEqual(await answers('live'));
    const h = await cli(['-d', d, 'health', 'seg', '--deep', '--json']);
    expect(h.code, h.stdout).toBe(0);
    expect((JSON.parse(h.stdout) as { status: string }).status).toBe('healthy');
  });

  it('health --deep checks the structure of sections, not only their checksums (forged with recomputed checksums)', async () => {
    // Rewrite the one segment's index file with one section changed and every checksum recomputed (its
    // blocks, the header, the manifest's CRC): only a structural check can tell.
    const forge = async (change: (name: string, bytes: Uint8Array) => Uint8Array) => {
      const d2 = join(tmpDir(), 'data');
      cpSync(d, d2, { recursive: true });
      const [f] = readdirSync(join(d2, 'seg', 'segments')).filter((x) => x.endsWith('.idx'));
      const path = join(d2, 'seg', 'segments', f!);
      const file = SegmentFile.open(new MemorySource(readFileSync(path)), path);
      const sections = [...file.sections.keys()].filter((n) => !n.startsWith('crc:')).map((name) => ({ name, bytes: change(name, file.readVerified(name)!.slice()) }));
      const bytes = Buffer.concat(buildSegmentFile(sections));
      writeFileSync(path, bytes);
      const db = new Database(join(d2, 'seg', 'manifest.db'));
      db.prepare('UPDATE segments SET index_bytes = ?, index_crc32 = ?').run(bytes.length, crc32(bytes));
      db.close();
      const h = await cli(['-d', d2, 'health', 'seg', '--deep', '--json']);
      return { code: h.code, out: h.stdout };
    };
    // Unchanged: healthy (the rewrite itself is faithful).
    expect((await forge((_, b) => b)).code).toBe(0);
    // A full-text index with a bad magic number.
    const ft = await forge((name, b) => {
      if (name === 'ft:body') b[0] ^= 1;
      return b;
    });
    expect(ft.code).not.toBe(0);
    expect(ft.out).toContain('ft:body');
    // A text locator pointing one byte past its chunks: a structure that no longer decodes.
    const txt = await forge((name, b) => {
      if (name === 'txt:body') {
        const w = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
        w[7] += 1; // row group 0's offset (after the 7-word header)
      }
      return b;
    });
    expect(txt.code).not.toBe(0);
    expect(txt.out).toContain('txt:body');
  });

  it('keeps a leading U+FEFF in ids, short values and stored-once values (it is data, not a byte-order mark)', async () => {
    const bom = '\ufeff';
    const docsBom = [
      { id: `${bom}abc`, vector: [1, 0, 0, 0], attributes: { title: `${bom}short`, body: `${bom}${'word '.repeat(200)}`, cat: 'x' } },
      { id: 'abc', vector: [0, 1, 0, 0], attributes: { title: 'short', body: 'word '.repeat(200), cat: 'x' } },
    ];
    expect((await cli(['-d', d, 'init', 'bom', '--schema', join(d, '../schema.json')])).code).toBe(0);
    const imp = await cli(['-d', d, 'import', 'bom', '-'], { input: docsBom.map((x) => JSON.stringify(x)).join('\n') });
    expect(imp.code, imp.stderr).toBe(0);
    expect(segmentFiles('bom')).toHaveLength(1);
    const e = await cli(['-d', d, 'export', 'bom']);
    expect(e.code, e.stderr).toBe(0);
    const exported = e.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; attributes: unknown });
    expect(exported.map((x) => x.id).sort()).toEqual(['abc', `${bom}abc`]);
    // As a JSON string: a bare argument is trimmed, and U+FEFF counts as white space to String.trim.
    const g = await cli(['-d', d, 'get', 'bom', '"\\ufeffabc"']);
    expect(g.code, g.stderr).toBe(0);
    expect((JSON.parse(g.stdout) as { attributes: unknown }).attributes).toEqual(docsBom[0]!.attributes);
    const q = await cli(['-d', d, 'query', 'bom', '--vector', '[1,0,0,0]', '-k', '1', '--format', 'json']);
    expect(q.code, q.stderr).toBe(0);
    const top = (JSON.parse(q.stdout) as { results: { id: string; attributes: unknown }[] }).results[0]!;
    expect(top.id).toBe(`${bom}abc`);
    expect(top.attributes).toEqual(docsBom[0]!.attributes);
    // `import --format parquet` of the segment's own file (flat records: id, vector, attribute columns)
    // keeps them too (it decoded strings with Arrow's decoder, which drops a leading U+FEFF).
    expect((await cli(['-d', d, 'init', 'bom2', '--schema', join(d, '../schema.json')])).code).toBe(0);
    const pq = join(d, 'bom', 'segments', segmentFiles('bom')[0]!.replace(/\.idx$/, '.parquet'));
    const imp2 = await cli(['-d', d, 'import', 'bom2', pq, '--format', 'parquet']);
    expect(imp2.code, imp2.stderr).toBe(0);
    const e2 = await cli(['-d', d, 'export', 'bom2']);
    expect(e2.code, e2.stderr).toBe(0);
    const sorted = (text: string) => text.trim().split('\n').sort();
    expect(sorted(e2.stdout)).toEqual(sorted(e.stdout));
  });
});
