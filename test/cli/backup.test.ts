/**
 * backup and restore through the real binary: consistent while an import or a compaction runs, verified
 * on restore (a flipped byte is refused with a CORRUPT_* code), atomic to publish, never under a writer.
 * Synchronisation is on the import's --json committed-batch events, never on time.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, errorCode, exportMap, ndjson, tmpDir, writeNdjson } from '../helpers/cli.js';

afterAll(cleanupTmp);

const doc = (i: number) => ({ id: i, vector: [i % 7, (i * 3) % 11, 1, i / 100], attributes: { title: `document number ${i}`, n: i } });
const docs = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => doc(from + k));
const lines = (from: number, to: number) => docs(from, to).map((d) => `${JSON.stringify(d)}\n`).join('');

async function newNamespace(d: string, name = 'docs'): Promise<void> {
  const r = await cli(['-d', d, 'init', name, '--dim', '4', '--full-text', 'title']);
  expect(r.code, r.stderr).toBe(0);
}

/**
 * An import reading stdin that the test feeds chunk by chunk: while the test holds stdin open, the import
 * is running and holds the writer lock. `untilCommitted(n)` resolves on the --json event acknowledging n.
 */
function streamingImport(d: string, ns: string, extra: string[] = []) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) env[k] = v;
  const c = spawn(process.execPath, [BIN, '-d', d, '--json', 'import', ns, '-', ...extra], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let acked = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  c.stderr.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    for (const e of ndjson(stderr.split('\n').filter((l) => l.startsWith('{"event":"committed"')).join('\n'))) acked = Math.max(acked, Number(e.documents));
    for (const w of waiters.splice(0)) {
      if (acked >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<number>((resolve) => c.on('close', (code) => resolve(code ?? 137)));
  return {
    write: (text: string) => c.stdin.write(text),
    end: () => c.stdin.end(),
    untilCommitted: (n: number) =>
      new Promise<void>((resolve, reject) => {
        if (acked >= n) return resolve();
        waiters.push({ n, resolve });
        void exited.then((code) => reject(new Error(`import exited (${code}) before acknowledging ${n}: ${stderr}`)));
      }),
    exited,
    stderr: () => stderr,
  };
}

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

async function restoreAndCheck(backup: string, into: string, ns: string): Promise<Map<string, string>> {
  const r = await cli(['-d', into, '--json', 'restore', backup, ns]);
  expect(r.code, r.stderr).toBe(0);
  const h = await cli(['-d', into, '--json', 'health', ns, '--deep']);
  expect(h.code, h.stdout + h.stderr).toBe(0);
  expect(JSON.parse(h.stdout).namespaces[0].problems).toEqual([]);
  return exportMap(into, ns);
}

describe('backup and restore', () => {
  it('a backup taken during a running import restores, passes health --deep and holds every document acknowledged before it began', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    // Small batches and segments: the backup sees flushed segments and pending journal entries both. The
    // segment size is a multiple of the batch size, so every commit ends at a multiple of 200 (a batch also
    // ends where a segment does).
    const imp = streamingImport(d, 'docs', ['--batch-size', '200', '--segment-docs', '800']);
    imp.write(lines(0, 2000));
    await imp.untilCommitted(2000);
    // More writes race the backup from here on; the first 2000 were acknowledged before it began.
    imp.write(lines(2000, 5000));
    const b = await cli(['-d', d, '--json', 'backup', 'docs', join(dir, 'bk')]);
    expect(b.code, b.stderr).toBe(0);
    const report = JSON.parse(b.stdout);
    expect(report.segments).toBeGreaterThan(0);
    imp.end();
    expect(await imp.exited, imp.stderr()).toBe(0);

    const restored = await restoreAndCheck(join(dir, 'bk'), join(dir, 'other'), 'copy');
    const original = await exportMap(d, 'docs');
    const ids = [...restored.keys()].map(Number).sort((a, b) => a - b);
    // Every acknowledged document, exactly as imported; after them, whole batches only (a prefix of the input).
    for (let i = 0; i < 2000; i++) expect(restored.get(String(i)), `document ${i}`).toBe(original.get(String(i)));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i));
    expect(ids.length % 200).toBe(0);
    for (const [id, line] of restored) expect(line).toBe(original.get(id));
  });

  it('a backup taken while a compaction runs restores to the same documents', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    const file = join(dir, 'docs.ndjson');
    writeNdjson(file, docs(0, 3000));
    expect((await cli(['-d', d, 'import', 'docs', file, '--batch-size', '250', '--segment-docs', '250'])).code).toBe(0);
    const before = await exportMap(d, 'docs');
    // Run both at once; whichever order the kernel picks, the backup must be consistent (the fd/retry
    // paths are forced deterministically in test/integration/backup-race.test.ts).
    const [c, b1, b2] = await Promise.all([
      cli(['-d', d, 'compact', 'docs']),
      cli(['-d', d, 'backup', 'docs', join(dir, 'bk1')]),
      cli(['-d', d, 'backup', 'docs', join(dir, 'bk2'), '--copy']),
    ]);
    expect(c.code, c.stderr).toBe(0);
    expect(b1.code, b1.stderr).toBe(0);
    expect(b2.code, b2.stderr).toBe(0);
    expect(await restoreAndCheck(join(dir, 'bk1'), join(dir, 'r1'), 'docs')).toEqual(before);
    expect(await restoreAndCheck(join(dir, 'bk2'), join(dir, 'r2'), 'docs')).toEqual(before);
    expect(await exportMap(d, 'docs')).toEqual(before);
  });

  it('restore refuses an existing namespace without --force (CONFLICT), and --force never replaces it under a running writer (BUSY)', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d, 'a');
    const file = join(dir, 'a.ndjson');
    writeNdjson(file, docs(0, 300));
    expect((await cli(['-d', d, 'import', 'a', file])).code).toBe(0);
    expect((await cli(['-d', d, 'backup', 'a', join(dir, 'bk')])).code).toBe(0);
    await newNamespace(d, 'b');

    const refused = await cli(['-d', d, 'restore', join(dir, 'bk'), 'b']);
    expect(refused.code).toBe(4);
    expect(errorCode(refused.stderr)).toBe('NAMESPACE_EXISTS');
    expect((await exportMap(d, 'b')).size).toBe(0); // untouched

    const imp = streamingImport(d, 'b', ['--batch-size', '10']);
    imp.write(lines(1000, 1010));
    await imp.untilCommitted(10);
    const busy = await cli(['-d', d, 'restore', join(dir, 'bk'), 'b', '--force']);
    expect(busy.code).toBe(75);
    expect(errorCode(busy.stderr)).toBe('BUSY');
    imp.end();
    expect(await imp.exited).toBe(0);
    expect((await exportMap(d, 'b')).size).toBe(10); // the writer's namespace was left alone

    const forced = await cli(['-d', d, 'restore', join(dir, 'bk'), 'b', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await exportMap(d, 'b')).toEqual(await exportMap(d, 'a'));
    expect(readdirSync(d).filter((e) => e.startsWith('.'))).toEqual([]); // no leftovers
  });

  it('a damaged backup is refused with a CORRUPT_* code and publishes nothing', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    const file = join(dir, 'docs.ndjson');
    writeNdjson(file, docs(0, 500));
    expect((await cli(['-d', d, 'import', 'docs', file])).code).toBe(0);
    // --copy: a hard-linked backup shares its segment files with the namespace, and this test damages them.
    for (const name of ['m', 's']) expect((await cli(['-d', d, 'backup', 'docs', join(dir, name), '--copy'])).code).toBe(0);
    flipByte(join(dir, 'm', 'manifest.db'), 5000);
    const seg = readdirSync(join(dir, 's', 'segments')).find((f) => f.endsWith('.parquet'))!;
    flipByte(join(dir, 's', 'segments', seg), 100);
    for (const name of ['m', 's']) {
      const r = await cli(['-d', join(dir, 'out'), 'restore', join(dir, name), 'docs']);
      expect(r.code, r.stderr).toBe(5);
      expect(errorCode(r.stderr)).toMatch(/^CORRUPT_/);
      expect(existsSync(join(dir, 'out', 'docs'))).toBe(false);
    }
    const notBackup = await cli(['-d', join(dir, 'out'), 'restore', d, 'docs']);
    expect(notBackup.code).toBe(5);
    expect(errorCode(notBackup.stderr)).toBe('CORRUPT_BACKUP');
    expect(readdirSync(join(dir, 'out')).filter((e) => e.startsWith('.'))).toEqual([]);
  });

  it('a damaged segment file is refused by the backup (CORRUPT_SEGMENT), not copied into it', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    const file = join(dir, 'docs.ndjson');
    writeNdjson(file, docs(0, 100));
    expect((await cli(['-d', d, 'import', 'docs', file])).code).toBe(0);
    const segDir = join(d, 'docs', 'segments');
    flipByte(join(segDir, readdirSync(segDir).find((f) => f.endsWith('.parquet'))!), 50);
    const r = await cli(['-d', d, 'backup', 'docs', join(dir, 'bk')]);
    expect(r.code).toBe(5);
    expect(errorCode(r.stderr)).toBe('CORRUPT_SEGMENT');
    expect(readdirSync(dir).filter((e) => e.includes('bk'))).toEqual([]);
  });

  it('export of the restored namespace equals the original; a backup never overwrites an existing directory', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    const file = join(dir, 'docs.ndjson');
    writeNdjson(file, docs(0, 800));
    expect((await cli(['-d', d, 'import', 'docs', file, '--segment-docs', '300'])).code).toBe(0);
    expect((await cli(['-d', d, 'delete', 'docs', '--ids', '3,4,5'])).code).toBe(0); // pending journal entry
    expect((await cli(['-d', d, 'backup', 'docs', join(dir, 'bk')])).code).toBe(0);
    const again = await cli(['-d', d, 'backup', 'docs', join(dir, 'bk')]);
    expect(again.code).toBe(4);
    expect(errorCode(again.stderr)).toBe('BACKUP_EXISTS');
    const inside = await cli(['-d', d, 'backup', 'docs', join(d, 'bk')]); // would be listed as a namespace
    expect(inside.code).toBe(2);
    expect(errorCode(inside.stderr)).toBe('USAGE');
    expect((await cli(['-d', d, 'restore', join(dir, 'bk'), 'copy'])).code).toBe(0);
    const a = await cli(['-d', d, 'export', 'docs']);
    const b = await cli(['-d', d, 'export', 'copy']);
    expect(b.stdout).toBe(a.stdout);
    expect(ndjson(a.stdout).length).toBe(797);
  });

  it('a killed backup or restore leaves no backup and no namespace behind, and a rerun completes', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await newNamespace(d);
    const file = join(dir, 'docs.ndjson');
    writeNdjson(file, docs(0, 200));
    expect((await cli(['-d', d, 'import', 'docs', file])).code).toBe(0);
    const killed = await cli(['-d', d, 'backup', 'docs', join(dir, 'bk')], { env: { ELACSYM_FAILPOINTS: 'backup:before-rename' } });
    expect(killed.code).toBe(137);
    expect(existsSync(join(dir, 'bk'))).toBe(false);
    expect((await cli(['-d', d, 'backup', 'docs', join(dir, 'bk')])).code).toBe(0);
    expect(readdirSync(dir).filter((e) => e.startsWith('.'))).toEqual([]); // the dead run's temp dir is swept

    const k2 = await cli(['-d', d, 'restore', join(dir, 'bk'), 'r'], { env: { ELACSYM_FAILPOINTS: 'restore:before-publish' } });
    expect(k2.code).toBe(137);
    expect((await cli(['-d', d, 'describe', 'r'])).code).toBe(3);
    // Killed between moving the old namespace away and publishing the new one: no namespace, backup intact.
    await newNamespace(d, 'r');
    const k3 = await cli(['-d', d, 'restore', join(dir, 'bk'), 'r', '--force'], { env: { ELACSYM_FAILPOINTS: 'restore:after-old-renamed' } });
    expect(k3.code).toBe(137);
    const redo = await cli(['-d', d, 'restore', join(dir, 'bk'), 'r']);
    expect(redo.code, redo.stderr).toBe(0);
    expect(await exportMap(d, 'r')).toEqual(await exportMap(d, 'docs'));
    expect(readdirSync(d).filter((e) => e.startsWith('.'))).toEqual([]);
  });
});
