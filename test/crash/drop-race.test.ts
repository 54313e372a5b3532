/**
 * A writer holds the identity of what it locked: one queued on a namespace's lock while the namespace is
 * dropped and created again under the same name wakes up to NAMESPACE_NOT_FOUND (exit 3) and writes
 * nothing, instead of flushing into the new namespace and leaving its acknowledged documents unreadable.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDir } from '../../src/store/data-dir.js';
import { BIN, cleanupTmp, cli, errorCode, exportMap, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const doc = (id: number) => JSON.stringify({ id, vector: [id, 1, 0], attributes: { title: `doc ${id}` } });
const docs = (from: number, n: number) => Array.from({ length: n }, (_, i) => doc(from + i)).join('\n');

describe('drop while a writer waits on the lock', () => {
  it('the queued writer finds its namespace gone and never writes into the one created after the drop', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: docs(1, 50) })).code).toBe(0);

    // This test is the running `drop`: it holds the namespace's writer lock, as `drop` does.
    const lock = new Database(join(d, 'ns', 'writer.lock'));
    lock.exec('BEGIN EXCLUSIVE');
    let lockHeld = true;
    try {
      // A writer queues on the lock; its --json "waiting" event says it is queued.
      const b = spawn(process.execPath, [BIN, '-d', d, '--json', 'import', 'ns', '-', '--wait', '120'], { stdio: ['pipe', 'pipe', 'pipe'] });
      b.stdin.end(docs(1000, 30));
      let stderr = '';
      const exited = new Promise<number>((resolve) => b.on('close', (code) => resolve(code ?? -1)));
      await new Promise<void>((resolve, reject) => {
        b.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (stderr.includes('"event":"waiting"')) resolve();
        });
        b.on('close', () => reject(new Error(`writer exited before waiting: ${stderr}`)));
      });

      // The drop itself (what `elacsym drop` does under the lock), then a new namespace of the same name
      // with acknowledged documents.
      DataDir.open(d).dropNamespace('ns');
      expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
      expect((await cli(['-d', d, 'import', 'ns', '-'], { input: docs(500, 40) })).code).toBe(0);

      lock.exec('ROLLBACK');
      lock.close();
      lockHeld = false;
      expect(await exited).toBe(3);
      expect(errorCode(stderr)).toBe('NAMESPACE_NOT_FOUND');
    } finally {
      if (lockHeld) lock.close();
    }
    // The new namespace is intact: every acknowledged document, nothing of the queued writer's.
    const h = await cli(['-d', d, 'health', 'ns', '--deep']);
    expect(h.code, h.stdout + h.stderr).toBe(0);
    const got = await exportMap(d, 'ns');
    expect(got.size).toBe(40);
    expect((await cli(['-d', d, 'query', 'ns', '--vector', '[520,1,0]', '-k', '1', '--format', 'json'])).code).toBe(0);
  });
});
