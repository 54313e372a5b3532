/**
 * The two races of a backup against compaction's garbage collection, forced deterministically through
 * the backup's hooks (a real compaction runs at the exact step, on real files):
 *  - the segment files of the copied manifest are unlinked before the backup opens them: the snapshot is
 *    taken again (and a namespace that keeps changing gives BUSY, not a torn backup);
 *  - they are unlinked after the backup opened them: the copy is made through the open descriptors.
 * Either way the backup restores to exactly the documents of the namespace.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../src/errors.js';
import { backupNamespace, restoreNamespace } from '../../src/store/backup.js';
import { compactNamespace } from '../../src/store/compact.js';
import { DataDir } from '../../src/store/data-dir.js';
import { Writer } from '../../src/store/writer.js';
import { cleanupTmp, cli, exportMap, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

let root: string;
let d: string;
let ns: string;
let expected: Map<string, string>;

async function compactNow(): Promise<void> {
  const w = await Writer.open(ns, 'docs', { recover: false });
  try {
    await compactNamespace(w, 'docs');
  } finally {
    w.close();
  }
}

async function addSegment(from: number): Promise<void> {
  const input = Array.from({ length: 50 }, (_, k) => JSON.stringify({ id: from + k, vector: [1, 2, from + k], attributes: { title: `t${from + k}` } })).join('\n');
  expect((await cli(['-d', d, 'import', 'docs', '-'], { input })).code).toBe(0);
}

beforeEach(async () => {
  root = tmpDir();
  d = join(root, 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--dim', '3', '--full-text', 'title'])).code).toBe(0);
  for (const from of [0, 50, 100]) await addSegment(from);
  ns = DataDir.open(d).namespacePath('docs');
  expected = await exportMap(d, 'docs');
});

async function restoredExport(backup: string): Promise<Map<string, string>> {
  restoreNamespace(DataDir.open(d), backup, 'restored');
  return exportMap(d, 'restored');
}

describe('backup racing compaction', () => {
  it('segment files unlinked between the manifest copy and their open: the snapshot is retaken', async () => {
    const r = await backupNamespace(ns, 'docs', join(root, 'bk'), {
      hooks: { afterManifestCopy: async (attempt) => (attempt === 1 ? compactNow() : undefined) },
    });
    expect(r.attempts).toBe(2);
    expect(r.segments).toBe(1); // the compacted generation
    expect(await restoredExport(join(root, 'bk'))).toEqual(expected);
  });

  it('segment files unlinked after they were opened: copied through the open descriptors', async () => {
    const r = await backupNamespace(ns, 'docs', join(root, 'bk'), {
      hooks: { afterOpen: async (attempt) => (attempt === 1 ? compactNow() : undefined) },
    });
    expect(r.attempts).toBe(1);
    expect(r.segments).toBe(3); // the generation before the compaction...
    expect(r.linked).toBe(0); // ...whose files were gone by the time of linking
    expect(r.copied).toBe(6);
    expect(await restoredExport(join(root, 'bk'))).toEqual(expected);
  });

  it('a namespace whose files change under every attempt gives BUSY and leaves nothing behind', async () => {
    let next = 1000;
    const err = await backupNamespace(ns, 'docs', join(root, 'bk'), {
      maxAttempts: 3,
      hooks: {
        afterManifestCopy: async () => {
          await addSegment((next += 50)); // a new segment, so the compaction always has work to do
          await compactNow();
        },
      },
    }).catch((e: unknown) => e);
    expect(isElacsymError(err, 'BUSY')).toBe(true);
    expect(readdirSync(root).filter((e) => e.startsWith('.') || e === 'bk')).toEqual([]);
  });
});
