/**
 * Index files written since issue 11 hold each attribute once, in typed columns plus the `attrs` shapes
 * (no `docs` section, no JSON columns). The same namespace with its index files rewritten in the older
 * form (a `docs` section and JSON `col:` arrays) must answer every filter, listing, sort and `get`
 * identically; rebuilt attributes deep-equal the imported ones with their key order, whether the file is
 * read whole or by range.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { idKey } from '../../src/model/document.js';
import { buildSegmentFile, encodeStringTable, SegmentFile, StringTable } from '../../src/storage/segment-file.js';
import { DataDir } from '../../src/store/data-dir.js';
import { SegmentSource } from '../../src/store/search-sources.js';
import { Snapshot } from '../../src/store/snapshot.js';
import { ElacsymError } from '../../src/errors.js';
import { MemorySource } from '../../src/util/bytes.js';
import { crc32 } from '../../src/util/crc32.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 4;
// Generated documents plus awkward ones: varying key order, explicit nulls, "__proto__", unicode, lone
// surrogates, empty strings and arrays, big and negative integers, floats, booleans.
const base = [...generateDocs({ docs: 600, dim: DIM, seed: 11 })];
const docs: { id: number | string; vector?: number[]; attributes: Record<string, unknown> }[] = base.map((x, i) => {
  const a: Record<string, unknown> = {};
  const extra: [string, unknown][] = [
    ['flag', i % 3 === 0 ? null : i % 2 === 0],
    ['big', i % 5 === 0 ? Number.MAX_SAFE_INTEGER - i : -i * 1000],
    ['note', i % 7 === 0 ? '' : i % 11 === 0 ? 'caf\u00e9 \ud800 \u65e5\u672c' : `n${i % 13}`],
    ['__proto__', i % 4 === 0 ? null : `p${i % 3}`],
  ];
  const entries = [...Object.entries(x.attributes), ...extra];
  if (i % 2 === 1) entries.reverse();
  if (i % 9 === 0) entries.splice(2, 2); // some documents lack some attributes
  for (const [k, v] of entries) Object.defineProperty(a, k, { value: i % 6 === 0 && k === 'tags' ? [] : v, enumerable: true, writable: true, configurable: true });
  return { ...x, id: i % 10 === 0 ? `s${i}` : i, attributes: a };
});
const lines = docs.map((x) => JSON.stringify(x));

let d = '';
let legacy = '';

/** Rewrite an index file in the release-1 attribute form: `docs` JSON objects and JSON `col:` arrays. */
function toLegacyAttributes(path: string): Uint8Array {
  const f = SegmentFile.open(new MemorySource(readFileSync(path)), path);
  const ids = StringTable.open(f.source('ids')!, path);
  const byKey = new Map(docs.map((x) => [idKey(x.id), x]));
  const attrs = Array.from({ length: ids.length }, (_, o) => byKey.get(ids.get(o))!.attributes);
  const names = [...new Set(attrs.flatMap((a) => Object.keys(a)))].sort();
  const sections: { name: string; bytes: Uint8Array }[] = [];
  for (const s of f.sections.values()) {
    if (s.name.startsWith('crc:') || s.name.startsWith('col:') || s.name === 'attrs') continue;
    sections.push({ name: s.name, bytes: f.readVerified(s.name)! });
    if (s.name === 'ids') sections.push({ name: 'docs', bytes: encodeStringTable(attrs.map((a) => JSON.stringify(a))) });
  }
  for (const n of names) {
    const col = attrs.map((a) => (Object.hasOwn(a, n) ? a[n] : null) ?? null);
    sections.push({ name: `col:${n}`, bytes: new TextEncoder().encode(JSON.stringify(col)) });
  }
  const chunks = buildSegmentFile(sections);
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM), '--full-text', 'title,body'])).code).toBe(0);
  // three imports, three segments
  for (const part of [lines.slice(0, 200), lines.slice(200, 400), lines.slice(400)]) {
    const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: part.join('\n') });
    expect(imp.code, imp.stderr).toBe(0);
  }
  legacy = join(tmpDir(), 'legacy');
  cpSync(d, legacy, { recursive: true });
  const segDir = join(legacy, 'ns', 'segments');
  const db = new Database(join(legacy, 'ns', 'manifest.db'));
  for (const name of readdirSync(segDir).filter((n) => n.endsWith('.idx'))) {
    const bytes = toLegacyAttributes(join(segDir, name));
    writeFileSync(join(segDir, name), bytes);
    db.prepare('UPDATE segments SET index_bytes = ?, index_crc32 = ? WHERE index_file = ?').run(bytes.length, crc32(bytes), name);
  }
  db.close();
}, 120_000);

describe('typed attribute columns', () => {
  it('replace the docs section and the JSON columns in new index files', () => {
    const segDir = join(d, 'ns', 'segments');
    const names = readdirSync(segDir).filter((n) => n.endsWith('.idx'));
    expect(names.length).toBe(3);
    for (const name of names) {
      const f = SegmentFile.open(new MemorySource(readFileSync(join(segDir, name))), name);
      expect(f.has('docs')).toBe(false);
      expect(f.has('attrs')).toBe(true);
      expect(f.readVerified('col:price')![0]).toBe(0x45); // "ECOL", not "["
    }
  });

  it('rebuild every document exactly, key order included, read whole or by range', () => {
    const byKey = new Map(docs.map((x) => [idKey(x.id), x]));
    for (const readWholeBytes of [undefined, 0]) {
      const snap = Snapshot.open(DataDir.open(d).namespacePath('ns'), { readWholeBytes });
      try {
        let n = 0;
        for (const s of snap.segments) {
          for (let o = 0; o < s.docCount; o++) {
            const want = byKey.get(s.ids.get(o))!.attributes;
            const got = s.attributesOf(o);
            expect(JSON.stringify(got)).toBe(JSON.stringify(want));
            expect(got).toEqual(JSON.parse(JSON.stringify(want)));
            n++;
          }
        }
        expect(n).toBe(docs.length);
      } finally {
        snap.close();
      }
    }
  });

  const filters = [
    { field: 'category', op: 'eq', value: 'tech' },
    { field: 'category', op: 'in', value: ['tech', 'food', 'nope'] },
    { field: 'price', op: 'gte', value: 500.5 },
    { field: 'big', op: 'lt', value: -100_000 },
    { field: 'big', op: 'eq', value: Number.MAX_SAFE_INTEGER },
    { field: 'tags', op: 'contains', value: 'blue' },
    { field: 'tags', op: 'containsall', value: ['blue', 'red'] },
    { field: 'tags', op: 'nin', value: ['blue'] },
    { field: 'tags', op: 'exists', value: true },
    { field: 'flag', op: 'eq', value: false },
    { field: 'flag', op: 'exists', value: false },
    { field: 'note', op: 'prefix', value: 'n1' },
    { field: 'note', op: 'contains', value: '\u65e5' },
    { field: '__proto__', op: 'ne', value: 'p1' },
    { type: 'not', condition: { type: 'or', conditions: [{ field: 'year', op: 'gt', value: 2010 }, { field: 'title', op: 'gte', value: 'm' }] } },
  ];

  it.each(filters.map((f) => [JSON.stringify(f), f]))('answer the filter %s exactly as the older form does', async (_, f) => {
    const run = async (dir: string, args: string[]) => {
      const r = await cli(['-d', dir, 'query', 'ns', '--filter', JSON.stringify(f), ...args, '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout) as { results: unknown[] };
      return { results: o.results, text: JSON.stringify(o.results) };
    };
    const list = ['--sort', 'price:desc,note', '--limit', '1000'];
    const vec = ['--vector', JSON.stringify(docs[3]!.vector), '-k', '20'];
    for (const args of [list, vec]) {
      const a = await run(d, args);
      const b = await run(legacy, args);
      expect(a.text).toBe(b.text); // same ids, scores, attributes and key order
      expect(a.results.length).toBeGreaterThan(0); // every filter here selects something
    }
  });

  it('get prints each document as imported, as the older form does', async () => {
    const ids = ['"s0"', '1', '7', '"s10"', '99', '599'];
    const a = await cli(['-d', d, 'get', 'ns', ...ids]);
    const b = await cli(['-d', legacy, 'get', 'ns', ...ids]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const byId = new Map(docs.map((x) => [JSON.stringify(x.id), x]));
    for (const line of a.stdout.trim().split('\n')) {
      const got = JSON.parse(line) as { id: number | string; attributes: unknown };
      expect(JSON.stringify(got.attributes)).toBe(JSON.stringify(byId.get(JSON.stringify(got.id))!.attributes));
    }
  });

  it('a flipped byte in a typed column fails filters and rebuilt attributes with CORRUPT_SEGMENT, read by range or whole', async () => {
    const dir = join(tmpDir(), 'flip');
    cpSync(d, dir, { recursive: true });
    const segDir = join(dir, 'ns', 'segments');
    const name = readdirSync(segDir).filter((n) => n.endsWith('.idx')).sort()[0]!;
    const path = join(segDir, name);
    const orig = readFileSync(path);
    const f = SegmentFile.open(new MemorySource(orig), path);
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        if (e instanceof ElacsymError) return e.code;
        throw e;
      }
    };
    for (const [col, rel] of [['price', 40], ['note', -3], ['tags', 30]] as const) {
      const s = f.sections.get(`col:${col}`)!;
      const b = Buffer.from(orig);
      const at = rel >= 0 ? s.offset + rel : s.offset + s.length + rel;
      b[at] = b[at]! ^ 0x10;
      writeFileSync(path, b);
      // by range (block checksums): the whole column for a filter, and each document's attributes
      const snap = Snapshot.open(DataDir.open(dir).namespacePath('ns'), { readWholeBytes: 0 });
      try {
        const seg = snap.segments.find((x) => x.row.index_file === name)!;
        expect(code(() => new SegmentSource(seg).column(col))).toBe('CORRUPT_SEGMENT');
        const results = Array.from({ length: seg.docCount }, (_, o) => code(() => seg.attributesOf(o)));
        expect(results).toContain('CORRUPT_SEGMENT');
        expect(results.every((r) => r === 'ok' || r === 'CORRUPT_SEGMENT')).toBe(true);
      } finally {
        snap.close();
      }
      // read whole (the CLI on a small file): the file's CRC-32
      const q = await cli(['-d', dir, 'query', 'ns', '--filter', JSON.stringify({ field: col, op: 'exists', value: true })]);
      expect(q.code).toBe(5);
      writeFileSync(path, orig);
    }
  });
});
