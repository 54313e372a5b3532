/**
 * Every byte a query uses is verified before its answer is printed, also when an index file is too large
 * to be read whole (> 4 MiB) and is read by range: one flipped byte in any section fails the query with
 * CORRUPT_SEGMENT (exit 5), never a wrong id, attribute, vector or score with exit 0.
 */
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { COMPACT_INDEX_FORMAT_VERSION, FORMAT_VERSION } from '../../src/storage/manifest.js';
import { STORED_ONCE_MIN_CHARS, TextLocator } from '../../src/storage/parquet-text.js';
import { SegmentFile, StringTable } from '../../src/storage/segment-file.js';
import { VectorLocator } from '../../src/storage/vector-locator.js';
import { MemorySource } from '../../src/util/bytes.js';
import { crc32 } from '../../src/util/crc32.js';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 16;
// ~1.9 KB of filler per document in four columns makes the index file exceed 4 MiB. Each note stays under
// STORED_ONCE_MIN_CHARS, so it keeps its `col:` section; `page` (~2 KB) is stored once, in the Parquet file.
const filler = 'lorem ipsum dolor sit amet '.repeat(17);
const docs = [...generateDocs({ docs: 2600, dim: DIM, seed: 5 })].map((x, i) => ({
  ...x,
  attributes: {
    ...x.attributes,
    note: `n${i} ${filler}`,
    note2: `m${i} ${filler}`,
    note3: `o${i} ${filler}`,
    note4: `p${i} ${filler}`,
    page: `page ${i}: ${'the quick brown fox jumps over the lazy dog '.repeat(45)}`,
  },
}));

let d = '';
let idx = '';
let file: SegmentFile;
let ordOf: (id: number) => number;

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM), '--full-text', 'title,body'])).code).toBe(0);
  const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: docs.map((x) => JSON.stringify(x)).join('\n') });
  expect(imp.code, imp.stderr).toBe(0);
  const segs = readdirSync(join(d, 'ns', 'segments')).filter((f) => f.endsWith('.idx'));
  expect(segs).toHaveLength(1);
  idx = join(d, 'ns', 'segments', segs[0]!);
  expect(statSync(idx).size).toBeGreaterThan(4 * 1024 * 1024); // the range-read path, not the whole-file one
  file = SegmentFile.open(new MemorySource(readFileSync(idx)), idx);
  const ids = StringTable.open(file.source('ids')!, idx);
  const byId = new Map<number, number>();
  for (let o = 0; o < ids.length; o++) byId.set(Number(ids.get(o)), o);
  ordOf = (id) => byId.get(id)!;
}, 120_000);

/** Flip one byte at `at` (absolute), run `fn`, restore the byte (the file is shared by the cases). */
async function withFlip<T>(at: number, fn: () => Promise<T>, path = idx): Promise<T> {
  const orig = readFileSync(path);
  const b = Buffer.from(orig);
  b[at] = b[at]! ^ 0x24;
  writeFileSync(path, b);
  try {
    return await fn();
  } finally {
    writeFileSync(path, orig);
  }
}

const section = (name: string) => file.sections.get(name)!;
/** Absolute position of string `ord`'s first byte in a string table section. */
function stringAt(name: string, ord: number): number {
  const s = section(name);
  const n = readFileSync(idx).readUInt32LE(s.offset);
  return s.offset + 4 + 4 * (n + 1) + readFileSync(idx).readUInt32LE(s.offset + 4 + 4 * ord) + 1;
}

const target = docs[1234]!;
const vectorQuery = ['query', 'ns', '--vector', JSON.stringify(target.vector), '-k', '3', '--format', 'json'];

async function expectCorrupt(args: string[]) {
  const q = await cli(['-d', d, ...args]);
  expect(q.code, q.stdout).toBe(5);
  expect(errorCode(q.stderr)).toBe('CORRUPT_SEGMENT');
}

/** The answer without timings. */
const answer = (stdout: string) => (JSON.parse(stdout) as { results: unknown }).results;

/** With a byte flipped at `at`, `args` fails with CORRUPT_SEGMENT or answers exactly as without it. */
async function expectFailOrSame(at: number, args: string[]) {
  const clean = await cli(['-d', d, ...args]);
  expect(clean.code, clean.stderr).toBe(0);
  await withFlip(at, async () => {
    const q = await cli(['-d', d, ...args]);
    if (q.code === 0) expect(answer(q.stdout)).toEqual(answer(clean.stdout));
    else {
      expect(q.code).toBe(5);
      expect(errorCode(q.stderr)).toBe('CORRUPT_SEGMENT');
    }
  });
}

describe('index files read by range', () => {
  it('an undamaged file answers queries (the baseline the flips are compared with)', async () => {
    const q = await cli(['-d', d, ...vectorQuery, '--include-vector']);
    expect(q.code, q.stderr).toBe(0);
    const top = (JSON.parse(q.stdout) as { results: { id: number; attributes: { note: string } }[] }).results[0]!;
    expect(top.id).toBe(target.id);
    expect(top.attributes.note).toBe(target.attributes.note);
  });

  it('a flipped byte in the ids section fails the query instead of returning another id', async () => {
    await withFlip(stringAt('ids', ordOf(target.id)), () => expectCorrupt(vectorQuery));
  });

  it('a flipped byte in the ids offsets fails the query instead of returning an id twice', async () => {
    await withFlip(section('ids').offset + 4 + 4 * (ordOf(target.id) + 1), () => expectCorrupt(vectorQuery));
  });

  it('a flipped byte in an attribute column or the attribute shapes fails the query instead of returning other attributes', async () => {
    // The segment has no docs section: attributes are rebuilt from the typed columns (index/filter/columns.ts).
    expect(file.has('docs')).toBe(false);
    const bytes = readFileSync(idx);
    const ord = ordOf(target.id);
    const note = section('col:note');
    // the target's note in the column's dictionary text (each note is distinct)
    const text = bytes.indexOf(`n${target.id} lorem`, note.offset, 'utf8');
    expect(text).toBeGreaterThan(note.offset);
    expect(text).toBeLessThan(note.offset + note.length);
    await withFlip(text + 40, () => expectCorrupt(vectorQuery));
    // the target's dictionary code (header 24 bytes, presence bitmap padded to 8, then codes of width w)
    const w = bytes[note.offset + 6]!;
    const codes = note.offset + 24 + Math.ceil(Math.ceil(docs.length / 8) / 8) * 8;
    await withFlip(codes + ord * w, () => expectCorrupt(vectorQuery));
    // its presence bit
    await withFlip(note.offset + 24 + (ord >> 3), () => expectCorrupt(vectorQuery));
    // the attribute shape table (every document here has one shape, so the attrs section has no codes)
    const attrs = section('attrs');
    expect(bytes[attrs.offset + 5]).toBe(0);
    await withFlip(attrs.offset + attrs.length - 3, () => expectCorrupt(vectorQuery));
  });

  it('a flipped byte in a vector (in the Parquet file) fails the query instead of returning another vector', async () => {
    // Vectors are stored once, in the Parquet file; the index file's locator says where (storage format 2).
    expect(file.has('vectors')).toBe(false);
    const loc = VectorLocator.open(file.readVerified('vecloc')!, docs.length, DIM);
    const at = loc.offsetOf(ordOf(target.id));
    expect(at).toBeGreaterThan(0);
    const parquet = idx.replace(/\.idx$/, '.parquet');
    expect(readFileSync(parquet).readFloatLE(at)).toBe(Math.fround(target.vector![0]!));
    await withFlip(at + 2, () => expectCorrupt([...vectorQuery, '--include-vector']), parquet);
    // In a batch the damaged line is an error line, the others are answered, and the exit status is 5
    // (as for a single query), not the 2 of a merely invalid request.
    const batch = [JSON.stringify({ vector: target.vector, top_k: 3, include_vector: true }), '{not json', JSON.stringify({ full_text: { query: 'water' }, top_k: 1 })].join('\n');
    await withFlip(
      at + 2,
      async () => {
        const q = await cli(['-d', d, 'query', 'ns', '--batch', '-'], { input: batch });
        const lines = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string } });
        expect(lines.map((l) => l.error?.code ?? 'ok')).toEqual(['CORRUPT_SEGMENT', 'INVALID_QUERY', 'ok']);
        expect(q.code).toBe(5);
      },
      parquet,
    );
  });

  it('a flipped byte in stored-once text (in the Parquet file) fails the query instead of printing other text', async () => {
    // Long text is stored once (format 6): the index file locates its row group's column chunk.
    expect(STORED_ONCE_MIN_CHARS).toBeLessThan(target.attributes.page.length);
    expect(file.has('col:page')).toBe(false);
    expect(file.has('col:note')).toBe(true);
    const loc = TextLocator.open(file.readVerified('txt:page')!, docs.length, 'page');
    const g = loc.group(Math.floor(ordOf(target.id) / loc.rowsPerGroup));
    const parquet = idx.replace(/\.idx$/, '.parquet');
    const q = await cli(['-d', d, ...vectorQuery]);
    expect(q.code, q.stderr).toBe(0);
    expect((JSON.parse(q.stdout) as { results: { attributes: { page: string } }[] }).results[0]!.attributes.page).toBe(target.attributes.page);
    // Anywhere in the chunk: its page header, its compressed values, its last byte.
    for (const at of [g.offset + 1, g.offset + Math.floor(g.length / 2), g.offset + g.length - 1]) {
      await withFlip(at, () => expectCorrupt(vectorQuery), parquet);
    }
    // A filter on the field reads every row group: it fails too, never answers from damaged text.
    const filter = ['query', 'ns', '--filter', JSON.stringify({ field: 'page', op: 'prefix', value: `page ${target.id}:` }), '--format', 'json', '--include-attributes', ''];
    const f = await cli(['-d', d, ...filter]);
    expect(f.code, f.stderr).toBe(0);
    expect((JSON.parse(f.stdout) as { results: { id: number }[] }).results.map((r) => r.id)).toEqual([target.id]);
    await withFlip(g.offset + Math.floor(g.length / 2), () => expectCorrupt(filter), parquet);
  });

  it('a flipped byte in a full-text section fails a text query instead of changing its scores', async () => {
    // docLens of the target's ordinal: read when the field index opens.
    await withFlip(section('ft:body').offset + 40 + 4 * ordOf(target.id), () => expectCorrupt(['query', 'ns', '--text', 'water']));
    // and in the postings, far from the header: the query must fail or answer exactly as before
    const s = section('ft:body');
    const text = ['query', 'ns', '--text', target.attributes.body.split(' ').slice(0, 3).join(' '), '-k', '2000', '--format', 'json'];
    await expectFailOrSame(s.offset + s.length - 3, text);
  });

  it('a flipped byte anywhere in the IVF section never changes a vector answer', async () => {
    const s = section('ivf');
    for (const at of [s.offset + 70, s.offset + Math.floor(s.length / 2), s.offset + s.length - 5]) await expectFailOrSame(at, vectorQuery);
  });

  it('a flipped byte in the header (a section name) fails the query instead of hiding a filter column', async () => {
    const hdr = readFileSync(idx);
    const at = hdr.indexOf('col:price', 0, 'utf8');
    expect(at).toBeGreaterThan(0);
    await withFlip(at + 6, () => expectCorrupt([...vectorQuery, '--filter', JSON.stringify({ field: 'price', op: 'gte', value: 0 })]));
  });

  it('a flipped byte in a block checksum table fails the query', async () => {
    await withFlip(section('crc:ids').offset + 1, () => expectCorrupt(vectorQuery));
  });
});


/** The same file in the version 1 layout (no header CRC, no block checksum tables), as older releases wrote it. */
function toVersion1(bytes: Uint8Array): Uint8Array {
  const f = SegmentFile.open(new MemorySource(bytes), 'v2');
  const sections = [...f.sections.values()].filter((s) => !s.name.startsWith('crc:'));
  const enc = new TextEncoder();
  const pad = (n: number, a: number) => Math.ceil(n / a) * a;
  let headerLen = 16;
  for (const s of sections) headerLen += 4 + pad(enc.encode(s.name).length, 4) + 24;
  headerLen = pad(headerLen, 8);
  let total = headerLen;
  for (const s of sections) total += pad(s.length, 8);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x31475345, true);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, sections.length, true);
  dv.setUint32(12, headerLen, true);
  let at = 16;
  let offset = headerLen;
  for (const s of sections) {
    const name = enc.encode(s.name);
    dv.setUint32(at, name.length, true);
    out.set(name, at + 4);
    at += 4 + pad(name.length, 4);
    dv.setFloat64(at, offset, true);
    dv.setFloat64(at + 8, s.length, true);
    dv.setUint32(at + 16, s.crc32, true);
    at += 24;
    out.set(bytes.subarray(s.offset, s.offset + s.length), offset);
    offset += pad(s.length, 8);
  }
  return out;
}

describe('version 1 index files (written before the block checksums)', () => {
  it('are still read by range, verified whole first: same answers, and a flipped byte fails the query', async () => {
    const d1 = join(tmpDir(), 'data');
    cpSync(d, d1, { recursive: true });
    const idx1 = join(d1, 'ns', 'segments', idx.split('/').pop()!);
    const v1 = toVersion1(readFileSync(idx1));
    expect(v1.length).toBeGreaterThan(4 * 1024 * 1024);
    writeFileSync(idx1, v1);
    const db = new Database(join(d1, 'ns', 'manifest.db'));
    db.prepare('UPDATE segments SET index_bytes = ?, index_crc32 = ?').run(v1.length, crc32(v1));
    db.prepare("UPDATE meta SET value = '1' WHERE key = 'format_version'").run();
    db.exec('DROP INDEX docs_copy');
    db.close();
    const before = await cli(['-d', d, ...vectorQuery, '--include-vector']);
    const q = await cli(['-d', d1, ...vectorQuery, '--include-vector']);
    expect(q.code, q.stderr).toBe(0);
    expect(answer(q.stdout)).toEqual(answer(before.stdout));
    const orig = Buffer.from(v1);
    const b = Buffer.from(v1);
    const at = SegmentFile.open(new MemorySource(v1), idx1).sections.get('ids')!.offset + 40;
    b[at] = b[at]! ^ 0x24;
    writeFileSync(idx1, b);
    const bad = await cli(['-d', d1, ...vectorQuery]);
    expect(bad.code).toBe(5);
    expect(errorCode(bad.stderr)).toBe('CORRUPT_SEGMENT');
    writeFileSync(idx1, orig);
    // A writer upgrades the namespace: its new segment is in the current format and the manifest says so.
    expect((await cli(['-d', d1, 'import', 'ns', '-'], { input: JSON.stringify({ ...docs[0], id: 99999 }) })).code).toBe(0);
    const m = new Database(join(d1, 'ns', 'manifest.db'), { readonly: true });
    // 7: the new segment has a flat vector index and version 3 field indexes (format 7, above the 6 of
    // `page` stored once and the 5 of a schema stating full-text positions; not 8, which only an IVF of
    // 4-bit codes needs).
    expect(FORMAT_VERSION).toBeGreaterThan(COMPACT_INDEX_FORMAT_VERSION);
    expect(m.prepare("SELECT value FROM meta WHERE key = 'format_version'").pluck().get()).toBe(String(COMPACT_INDEX_FORMAT_VERSION));
    m.close();
    expect((await cli(['-d', d1, 'health', 'ns', '--deep'])).code).toBe(0);
  }, 60_000);
});
