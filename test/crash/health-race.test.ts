/**
 * health reads one consistent snapshot: racing imports, flushes and compactions, it never fails with
 * INTERNAL and never reports their in-flight or just-retired files as damage (corrupt).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const doc = (id: number) => JSON.stringify({ id, vector: [id % 7, 1, id % 3], attributes: { title: `t ${id}` } });

describe('health racing writers', () => {
  it('never exits 1 (INTERNAL) or 5 (corrupt) while imports flush and compactions retire segments', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: Array.from({ length: 50 }, (_, i) => doc(i)).join('\n') })).code).toBe(0);
    // One writer process: a long import that flushes a segment every 40 documents, then compactions.
    let done = false;
    const writer = (async () => {
      // Rounds of an import that flushes a segment every 20 documents, then a compaction that retires them.
      for (let round = 0; round < 4; round++) {
        const lines = Array.from({ length: 160 }, (_, i) => doc(1000 + round * 200 + i)).join('\n');
        await new Promise<void>((resolve) => {
          const p = spawn(process.execPath, [BIN, '-d', d, 'import', 'ns', '-', '--batch-size', '20', '--segment-docs', '20', '--wait', '60'], { stdio: ['pipe', 'ignore', 'ignore'] });
          p.stdin.end(lines);
          p.on('close', () => resolve());
        });
        await cli(['-d', d, 'compact', 'ns', '--wait', '60']);
      }
      done = true;
    })();
    const seen: { code: number; out: string }[] = [];
    // health runs back to back for as long as the writer works (at least once after it is done).
    for (let deep = false; ; deep = !deep) {
      const finished = done;
      const h = await cli(['-d', d, '--json', 'health', ...(deep ? ['ns', '--deep'] : [])]);
      seen.push({ code: h.code, out: h.stdout + h.stderr });
      if (finished) break;
    }
    await writer;
    for (const s of seen) expect([0, 6], s.out).toContain(s.code);
    expect(seen.at(-1)!.code).toBe(0);
  }, 120_000);
});
