/**
 * The journal is written once (writer.ts, walCheckpointPages): an import's batches go into the SQLite WAL,
 * and the flush that builds their segment deletes them before its one checkpoint, which then leaves their
 * pages out of the database file. With SQLite's default (a checkpoint whenever the WAL passes 1,000 pages)
 * every batch was copied into manifest.db as well. What must hold: journal appends leave manifest.db at
 * its size; after the flush the WAL is truncated and manifest.db holds no journal page; a writer that does
 * not flush still keeps the WAL bounded; and every appended document is there after a reopen (the journal
 * read back from the WAL).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Doc, Schema } from '../../../src/model/types.js';
import { DataDir, namespaceDir } from '../../../src/store/data-dir.js';
import { Snapshot } from '../../../src/store/snapshot.js';
import { walCheckpointPages, Writer } from '../../../src/store/writer.js';
import { mulberry32 } from '../../../src/util/prng.js';

const root = mkdtempSync(join(tmpdir(), 'elacsym-journal-wal-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const dim = 256;
const schema: Schema = { vector_dim: dim, vector_metric: 'l2', attributes: { n: { type: 'integer', full_text: null } } };

/** `count` documents from id `from`: ~1 KiB of vector each, as an import batch holds them. */
function batch(from: number, count: number, seed: number): Doc[] {
  const r = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => ({ id: from + i, vector: Float32Array.from({ length: dim }, () => r() * 2 - 1), attributes: { n: from + i } }));
}

const size = (p: string): number => (existsSync(p) ? statSync(p).size : 0);

async function namespace(name: string): Promise<string> {
  const data = join(root, name);
  DataDir.open(data, { create: true }).initNamespace('ns', schema);
  return namespaceDir(data, 'ns');
}

describe('journal in the WAL', () => {
  it('appends leave manifest.db at its size; the flush truncates the WAL and manifest.db holds no journal page', async () => {
    const dir = await namespace('once');
    const db = join(dir, 'manifest.db');
    const w = await Writer.open(dir, 'ns');
    try {
      const before = size(db);
      // 12 batches of ~1 MiB: 12 MiB of journal, three times SQLite's default checkpoint threshold
      for (let b = 0; b < 12; b++) w.appendUpserts(batch(b * 1000, 1000, b), new Map());
      expect(size(`${db}-wal`)).toBeGreaterThan(12 * 1000 * dim * 4);
      // with the default, the checkpoints after each batch would have copied ~12 MiB into manifest.db
      expect(size(db) - before).toBeLessThan(1024 * 1024);
      const f = await w.flush();
      expect(f.inserted).toBe(12_000);
      expect(size(`${db}-wal`)).toBe(0);
      expect(size(db)).toBeLessThan(before + 2 * 1024 * 1024);
    } finally {
      w.close();
    }
    const snap = Snapshot.open(dir);
    try {
      expect(snap.liveCount).toBe(12_000);
    } finally {
      snap.close();
    }
  });

  it('a writer that does not flush keeps the WAL bounded by walCheckpointPages, and loses nothing', async () => {
    const dir = await namespace('bounded');
    const db = join(dir, 'manifest.db');
    const segmentBytes = 2 * 1024 * 1024;
    const w = await Writer.open(dir, 'ns', { segmentBytes });
    const bound = walCheckpointPages(segmentBytes, 4096) * 4096;
    let maxWal = 0;
    try {
      // 20 MiB in batches of ~0.5 MiB, never flushed (as `import --no-flush` leaves them)
      for (let b = 0; b < 40; b++) {
        w.appendUpserts(batch(b * 500, 500, 100 + b), new Map());
        w.forgetPending();
        maxWal = Math.max(maxWal, size(`${db}-wal`));
      }
    } finally {
      w.close();
    }
    // a checkpoint once the WAL passed the bound: it never holds more than that and one batch more
    expect(maxWal).toBeLessThan(bound + 2 * 500 * dim * 4);
    expect(size(db)).toBeGreaterThan(19 * 500 * dim * 4 * 2);
    const again = await Writer.open(dir, 'ns', { segmentBytes, recover: false });
    try {
      expect(again.pendingDocCount).toBe(20_000);
    } finally {
      again.close();
    }
  });
});
