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

  it('a damaged delete entry never lets a deleted document come back in a query', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '4'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: lines.join('\n') })).code).toBe(0);
    // A pending delete entry, as a writer killed before its flush leaves it (delete always flushes).
    const db = new Database(join(d, 'ns', 'manifest.db'));
    const payload = encodeDeletes([1, 2, 3]);
    const seq = Number(
      db.prepare('INSERT INTO journal (op, count, bytes, crc32, committed_at, payload) VALUES (?, ?, ?, ?, ?, ?)').run('delete', 3, payload.length, crc32(payload), 0, payload)
        .lastInsertRowid,
    );
    db.close();
    const clean = await cli(['-d', d, 'query', 'ns', '-k', '100', '--format', 'json']);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout).results).toHaveLength(57);
    damageEntry(d, seq);
    const q = await cli(['-d', d, 'query', 'ns', '-k', '100', '--format', 'json']);
    expect(q.code).toBe(5);
    expect(errorCode(q.stderr)).toBe('CORRUPT_JOURNAL');
  });
});
