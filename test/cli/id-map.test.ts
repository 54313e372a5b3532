/**
 * The manifest's id map (the docs table: id -> segment row) against the segments. `health --deep` finds
 * every inconsistency (an id changed into another, a live row no id names, an id naming a dead row or a
 * row holding another id), and writers never turn such damage into a document live twice.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, exportMap, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const id = (i: number) => `doc-${String(i).padStart(5, '0')}`;
const doc = (i: number, v = 0) => JSON.stringify({ id: id(i), vector: [i, 1, v], attributes: { title: `title ${i} v${v}` } });

async function setup(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
  const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: Array.from({ length: 200 }, (_, i) => doc(i)).join('\n') });
  expect(imp.code, imp.stderr).toBe(0);
  return d;
}

const manifest = (d: string) => join(d, 'ns', 'manifest.db');

async function deepProblems(d: string): Promise<{ code: number; problems: { code: string; message: string }[] }> {
  const h = await cli(['-d', d, '--json', 'health', 'ns', '--deep']);
  const rep = JSON.parse(h.stdout) as { namespaces: { problems: { code: string; message: string }[] }[] };
  return { code: h.code, problems: rep.namespaces[0]!.problems };
}

/** Flip one bit of an id key where it is stored in the docs table's b-tree pages (the file at rest). */
function flipKeyBit(d: string, key: string, bit: number, btree: 'docs' | 'docs_copy' = 'docs'): void {
  const db = new Database(manifest(d), { readonly: true });
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const pages = (db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'").pluck().all(btree) as number[]).sort((a, b) => a - b);
  db.close();
  const buf = readFileSync(manifest(d));
  const needle = Buffer.from(JSON.stringify(key));
  const hits: number[] = [];
  for (const p of pages) {
    const page = buf.subarray((p - 1) * pageSize, p * pageSize);
    for (let at = page.indexOf(needle); at >= 0; at = page.indexOf(needle, at + 1)) hits.push((p - 1) * pageSize + at);
  }
  expect(hits).toHaveLength(1);
  const at = hits[0]! + needle.length - 2; // the last digit
  buf[at] = buf[at]! ^ (1 << bit);
  writeFileSync(manifest(d), buf);
}

describe('the id map against the segments', () => {
  it('health --deep finds an id key changed into another (a consistent b-tree, as after a bad write)', async () => {
    const d = await setup();
    expect((await cli(['-d', d, 'health', 'ns', '--deep'])).code).toBe(0);
    const db = new Database(manifest(d));
    db.prepare('UPDATE docs SET id_key = ? WHERE id_key = ?').run(JSON.stringify('zzz-not-an-id'), JSON.stringify(id(5)));
    db.close();
    const { code, problems } = await deepProblems(d);
    expect(code).toBe(5);
    expect(problems.map((p) => p.code)).toContain('CORRUPT_MANIFEST');
  });

  it('health --deep finds a live row that no id names and an id naming a dead row', async () => {
    const d = await setup();
    const db = new Database(manifest(d));
    const row = db.prepare('SELECT segment_id, ord FROM docs WHERE id_key = ?').get(JSON.stringify(id(9))) as { segment_id: number; ord: number };
    db.prepare('DELETE FROM docs WHERE id_key = ?').run(JSON.stringify(id(9)));
    db.prepare('INSERT INTO deleted (segment_id, ord) VALUES (?, ?)').run(row.segment_id, row.ord + 1); // id 10's row, still named
    db.close();
    const { code, problems } = await deepProblems(d);
    expect(code).toBe(5);
    expect(problems.filter((p) => p.code === 'CORRUPT_MANIFEST').length).toBeGreaterThanOrEqual(2);
  });

  it('health (without --deep) finds the id map and the segments counting different live documents', async () => {
    const d = await setup();
    const db = new Database(manifest(d));
    db.prepare('DELETE FROM docs WHERE id_key = ?').run(JSON.stringify(id(9)));
    db.close();
    expect((await cli(['-d', d, 'health', 'ns'])).code).toBe(5);
  });

  it('a single flipped bit in an id key of the docs table is found by health --deep', async () => {
    const d = await setup();
    flipKeyBit(d, id(5), 1); // doc-00005 -> doc-00007, which exists: the table holds it twice, out of order
    const { code, problems } = await deepProblems(d);
    expect(code).toBe(5);
    expect(problems.map((p) => p.code)).toContain('CORRUPT_MANIFEST');
  });

  it('a segment row count changed in the manifest fails queries and health instead of pairing rows wrongly', async () => {
    const d = await setup();
    const db = new Database(manifest(d));
    db.prepare('UPDATE segments SET doc_count = doc_count - 1').run();
    db.close();
    const q = await cli(['-d', d, 'query', 'ns', '-k', '1000', '--format', 'json']);
    expect(q.code, q.stdout.slice(0, 200)).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_SEGMENT');
    expect((await cli(['-d', d, 'health', 'ns'])).code).toBe(5);
  });

  it.each(['docs', 'docs_copy'] as const)('after a flipped bit in an id key (in %s), writers refuse rather than make an id live twice', async (btree) => {
    const d = await setup();
    flipKeyBit(d, id(5), 1, btree); // doc-00005 -> doc-00007
    const up = await cli(['-d', d, 'import', 'ns', '-'], { input: doc(5, 1) });
    expect(up.code).toBe(5);
    expect(errorCode(up.stderr)).toBe('CORRUPT_MANIFEST');
    const c = await cli(['-d', d, 'compact', 'ns']);
    expect(c.code).toBe(5);
    expect(errorCode(c.stderr)).toBe('CORRUPT_MANIFEST');
    // Readers still answer, each id once (the acknowledged update is pending in the journal).
    const ex = await exportMap(d, 'ns');
    expect(ex.size).toBe(200);
    expect(JSON.parse(ex.get(JSON.stringify(id(5)))!).attributes.title).toBe('title 5 v1');
    const q = await cli(['-d', d, 'query', 'ns', '-k', '1000', '--format', 'json', '--include-attributes', '']);
    expect(q.code, q.stderr).toBe(0);
    const ids = (JSON.parse(q.stdout) as { results: { id: string }[] }).results.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(200);
  });
});
