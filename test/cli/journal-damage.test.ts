/**
 * A pending journal entry that fails its checksum is never skipped silently: every reader (query, export,
 * ls) fails with CORRUPT_JOURNAL (exit 5) rather than answering without it — the entry may hold an update
 * or a delete, so the rest alone is a wrong answer. After a writer sets it aside in quarantine (reported
 * by health), readers answer from the rest.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { encodeDeletes } from '../../src/storage/journal-codec.js';
import { crc32 } from '../../src/util/crc32.js';
import { cleanupTmp, cli, errorCode, exportMap, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const docs = [...generateDocs({ docs: 60, dim: 4, seed: 3 })];
const lines = docs.map((x) => JSON.stringify(x));

function damageEntry(d: string, seq: number): void {
  const db = new Database(join(d, 'ns', 'manifest.db'));
  const row = db.prepare('SELECT payload FROM journal WHERE seq = ?').get(seq) as { payload: Buffer };
  row.payload[row.payload.length - 3] = row.payload[row.payload.length - 3]! ^ 0x11;
  db.prepare('UPDATE journal SET payload = ? WHERE seq = ?').run(row.payload, seq);
  db.close();
}

/** A pending delete entry, as a writer killed before its flush leaves it (delete always flushes); its seq. */
function pendingDelete(d: string, ids: number[]): number {
  const db = new Database(join(d, 'ns', 'manifest.db'));
  const payload = encodeDeletes(ids);
  const seq = Number(
    db.prepare('INSERT INTO journal (op, count, bytes, crc32, committed_at, payload) VALUES (?, ?, ?, ?, ?, ?)').run('delete', ids.length, payload.length, crc32(payload), 0, payload)
      .lastInsertRowid,
  );
  db.close();
  return seq;
}

describe('a damaged pending journal entry', () => {
  it('export fails with CORRUPT_JOURNAL instead of exiting 0 with documents missing', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '20'], { input: lines.join('\n') })).code).toBe(0);
    damageEntry(d, 2);
    const e = await cli(['-d', d, 'export', 'ns']);
    expect(e.code).toBe(5);
    expect(errorCode(e.stderr)).toBe('CORRUPT_JOURNAL');
    const q = await cli(['-d', d, 'query', 'ns', '-k', '100']);
    expect(q.code).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_JOURNAL');
    // set aside by a writer: readers answer from the rest, and health keeps saying something is missing
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'])).code).toBe(0);
    expect((await exportMap(d, 'ns')).size).toBe(40);
    expect((await cli(['-d', d, 'health'])).code).toBe(6);
  });

  it('a delete entry whose checksum holds but whose ids are no ids is damage too: reported, set aside, never applied', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.slice(0, 10).join('\n') })).code).toBe(0);
    // the writer never writes these ids ([1.5], null, [2]): a payload decoding to them is not a delete
    const db = new Database(join(d, 'ns', 'manifest.db'));
    const payload = new TextEncoder().encode('[0,1.5,null,[2]]');
    db.prepare('INSERT INTO journal (op, count, bytes, crc32, committed_at, payload) VALUES (?, ?, ?, ?, ?, ?)').run('delete', 4, payload.length, crc32(payload), 0, payload);
    db.close();
    const ins = await cli(['-d', d, '--json', 'wal', 'inspect', 'ns']);
    expect(ins.code).toBe(5);
    const entry = JSON.parse(ins.stdout).entries.at(-1);
    expect(entry).toMatchObject({ op: 'delete', status: 'corrupt' });
    expect(entry.problem).toContain('id 2: id must be a non-negative integer');
    expect(errorCode((await cli(['-d', d, 'query', 'ns', '-k', '100'])).stderr)).toBe('CORRUPT_JOURNAL');
    const rep = JSON.parse((await cli(['-d', d, '--json', 'wal', 'replay', 'ns'])).stdout);
    expect(rep).toMatchObject({ applied_entries: 0, quarantined: 1, deleted: 0 });
    expect((await exportMap(d, 'ns')).size).toBe(10); // document 0 was not deleted by it
  });

  it('a damaged delete entry never lets a deleted document come back in a query', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.join('\n') })).code).toBe(0);
    const seq = pendingDelete(d, [1, 2, 3]);
    const clean = await cli(['-d', d, 'query', 'ns', '-k', '100', '--format', 'json']);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout).results).toHaveLength(57);
    damageEntry(d, seq);
    const q = await cli(['-d', d, 'query', 'ns', '-k', '100', '--format', 'json']);
    expect(q.code).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_JOURNAL');
  });

  it.each([
    ['import', (d: string) => cli(['-d', d, 'import', 'ns', '-'], { input: JSON.stringify({ id: 'extra', vector: [1, 2, 3, 4] }) })],
    ['delete', (d: string) => cli(['-d', d, 'delete', 'ns', '--ids', '59'])],
    ['compact', (d: string) => cli(['-d', d, 'compact', 'ns'])],
    ['import --json', (d: string) => cli(['-d', d, '--json', 'import', 'ns', '-'], { input: JSON.stringify({ id: 'extra', vector: [1, 2, 3, 4] }) })],
    ['wal replay --quiet', (d: string) => cli(['-d', d, '--quiet', 'wal', 'replay', 'ns'])],
  ] as const)('%s, whose writer sets a damaged entry aside in quarantine, says so on stderr', async (what, run) => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '20'], { input: lines.join('\n') })).code).toBe(0);
    damageEntry(d, 2);
    const r = await run(d);
    expect(r.code, r.stderr).toBe(0);
    if (what.endsWith('--json')) {
      const ev = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event?: string; entries?: number; hint?: string })
        .find((e) => e.event === 'quarantined');
      expect(ev).toMatchObject({ event: 'quarantined', namespace: 'ns', entries: 1 });
      expect(ev!.hint).toMatch(/`elacsym -d \S+ wal inspect ns --dump DIR`/);
    } else {
      expect(r.stderr).toMatch(/warning: 1 damaged journal entry of namespace ns set aside in quarantine: the documents of 1 upsert entry are not in the namespace \(re-import them from their source\)/);
      expect(r.stderr).toMatch(/hint: `elacsym -d \S+ wal inspect ns --dump DIR`/);
    }
    // Said once, by the writer that did it: the next writer has nothing to say.
    const again = await cli(['-d', d, 'delete', 'ns', '--ids', '58']);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/quarantine/);
  });

  it('a damaged delete entry set aside: the warning says its documents are live again, not to re-import them', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.join('\n') })).code).toBe(0);
    const seq = pendingDelete(d, [1, 2, 3]);
    damageEntry(d, seq);
    const r = await cli(['-d', d, 'compact', 'ns']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the documents 1 delete entry deleted are live again \(delete them again\)/);
    expect(r.stderr).not.toMatch(/re-import/);
  });
});
