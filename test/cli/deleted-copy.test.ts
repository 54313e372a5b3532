/**
 * The dead rows (the manifest's `deleted` table) and their copy (`deleted_copy`, storage/manifest.ts).
 * SQLite checksums no page, so a bit flipped inside a row of `deleted` leaves a valid table that brings a
 * deleted document back and hides a live one. Every reader of the whole set (queries, export, count,
 * compaction, `health --deep`) reads both b-trees and fails (CORRUPT_MANIFEST, exit 5) when they disagree,
 * instead of answering from the damaged one with exit 0.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const id = (i: number) => `doc-${String(i).padStart(5, '0')}`;
const doc = (i: number) => JSON.stringify({ id: id(i), vector: [i, 1, 0], attributes: { title: `title ${i}` } });
const DELETED = [100, 120, 125, 130];

const manifest = (d: string) => join(d, 'ns', 'manifest.db');

/** 200 documents in one segment (rows 0-199 in input order), three of them deleted and applied. */
async function setup(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
  const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: Array.from({ length: 200 }, (_, i) => doc(i)).join('\n') });
  expect(imp.code, imp.stderr).toBe(0);
  const del = await cli(['-d', d, 'delete', 'ns', '--ids', DELETED.map(id).join(',')]);
  expect(del.code, del.stderr).toBe(0);
  const rep = await cli(['-d', d, 'wal', 'replay', 'ns']);
  expect(rep.code, rep.stderr).toBe(0);
  const db = new Database(manifest(d));
  expect(db.prepare('SELECT ord FROM deleted ORDER BY ord').pluck().all()).toEqual(DELETED);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return d;
}

/**
 * Flips the lowest bit of row `ord`'s value where one b-tree stores it in the file at rest: row 120 read
 * as row 121. Segment 1 is SQLite's constant-one serial type (9, no body byte); a row number below 128 is
 * one byte (serial type 1). The cell is [payload 4][header 3][types][value].
 */
function flipOrd(d: string, ord: number, btree: 'deleted' | 'deleted_copy'): void {
  const db = new Database(manifest(d), { readonly: true });
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const pages = db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'").pluck().all(btree) as number[];
  db.close();
  expect(pages.length).toBeGreaterThan(0);
  const buf = readFileSync(manifest(d));
  const needle = Buffer.from(btree === 'deleted' ? [4, 3, 9, 1, ord] : [4, 3, 1, 9, ord]);
  const hits: number[] = [];
  for (const p of pages) {
    const page = buf.subarray((p - 1) * pageSize, p * pageSize);
    for (let at = page.indexOf(needle); at >= 0; at = page.indexOf(needle, at + 1)) hits.push((p - 1) * pageSize + at);
  }
  expect(hits).toHaveLength(1);
  const at = hits[0]! + needle.length - 1;
  buf[at] = buf[at]! ^ 1;
  writeFileSync(manifest(d), buf);
}

async function queryIds(d: string): Promise<{ code: number; ids: string[]; stderr: string }> {
  const q = await cli(['-d', d, 'query', 'ns', '-k', '1000', '--format', 'json', '--include-attributes', '']);
  return { code: q.code, stderr: q.stderr, ids: q.code === 0 ? (JSON.parse(q.stdout) as { results: { id: string }[] }).results.map((r) => r.id) : [] };
}

describe('the dead rows and their copy', () => {
  it('answers without the deleted documents while both agree', async () => {
    const d = await setup();
    const q = await queryIds(d);
    expect(q.code, q.stderr).toBe(0);
    expect(q.ids).toHaveLength(196);
    for (const i of DELETED) expect(q.ids).not.toContain(id(i));
    expect((await cli(['-d', d, 'health', 'ns', '--deep'])).code).toBe(0);
  });

  it.each(['deleted', 'deleted_copy'] as const)('a flipped bit in a dead row (in %s) fails every reader instead of bringing a deleted document back', async (btree) => {
    const d = await setup();
    flipOrd(d, 120, btree);
    // An ordinary read of that b-tree gets no error from SQLite, only the changed row (120 -> 121, still
    // in order before 130): the b-tree is valid, and only a comparison with the other copy shows it.
    const db = new Database(manifest(d), { readonly: true });
    const how = btree === 'deleted' ? 'INDEXED BY sqlite_autoindex_deleted_1' : 'INDEXED BY deleted_copy';
    expect(db.prepare(`SELECT ord FROM deleted ${how}`).pluck().all()).toEqual([100, 121, 125, 130]);
    db.close();

    const q = await queryIds(d);
    expect(q.code, q.ids.join(',')).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_MANIFEST');
    expect(q.stderr).toMatch(/deleted rows and its copy hold different rows/);
    for (const args of [['export', 'ns'], ['count', 'ns'], ['get', 'ns', id(5)], ['compact', 'ns']]) {
      const r = await cli(['-d', d, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stdout.slice(0, 200)}`).toBe(5);
      expect(errorCode(r.stderr), args.join(' ')).toBe('CORRUPT_MANIFEST');
    }
    const h = await cli(['-d', d, '--json', 'health', 'ns', '--deep']);
    expect(h.code).toBe(5);
    const problems = (JSON.parse(h.stdout) as { namespaces: { problems: { code: string; message: string }[] }[] }).namespaces[0]!.problems;
    expect(problems.some((p) => p.code === 'CORRUPT_MANIFEST' && /its copy hold different rows/.test(p.message))).toBe(true);
  });

  it('two flipped bits in the same b-tree whose changes cancel out (row 120 -> 121, row 125 -> 124) are found too', async () => {
    const d = await setup();
    flipOrd(d, 120, 'deleted');
    flipOrd(d, 125, 'deleted');
    const q = await queryIds(d);
    expect(q.code, q.ids.join(',')).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_MANIFEST');
  });

  it('a manifest written before the copy existed is read as before, and its next writer adds the copy', async () => {
    const d = await setup();
    const db = new Database(manifest(d));
    db.exec('DROP INDEX deleted_copy');
    db.close();
    const q = await queryIds(d);
    expect(q.code, q.stderr).toBe(0);
    expect(q.ids).toHaveLength(196);
    expect((await cli(['-d', d, 'delete', 'ns', '--ids', id(7)])).code).toBe(0);
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'])).code).toBe(0);
    const after = new Database(manifest(d), { readonly: true });
    expect(after.prepare('SELECT ord FROM deleted INDEXED BY deleted_copy ORDER BY ord').pluck().all()).toEqual([7, ...DELETED]);
    after.close();
    const q2 = await queryIds(d);
    expect(q2.code, q2.stderr).toBe(0);
    expect(q2.ids).toHaveLength(195);
  });
});
