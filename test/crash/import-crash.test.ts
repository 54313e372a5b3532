/**
 * Crash tests of the write path: the real binary is killed (fail points, or SIGKILL at seeded random
 * instants) and the namespace must then hold the old or the new state of every batch, never half of one,
 * with every acknowledged document present exactly once.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, cliAsync, datasetFile, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

/** Highest acknowledged line count in the --json progress events on stderr. */
function ackedLines(stderr: string): number {
  let lines = 0;
  // (other events, e.g. {"event":"recovered"} after a kill, carry no line count)
  for (const e of ndjson(stderr.split('\n').filter((l) => l.startsWith('{"event"')).join('\n'))) if (e.event === 'committed') lines = Math.max(lines, Number(e.lines));
  return lines;
}

function idsOf(m: Map<string, string>): number[] {
  return [...m.keys()].map(Number).sort((a, b) => a - b);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('fail points on the import and flush path', () => {
  const points = [
    'import:before-journal-commit',
    'import:after-journal-commit',
    'build:row-group',
    'flush:after-parquet-write',
    'flush:after-index-write',
    'flush:before-manifest-commit',
    'flush:after-manifest-commit',
    'flush:after-gc',
  ];
  it.each(points)('%s: old or new state, acknowledged documents kept, import completes after restart', async (fp) => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    const file = datasetFile(dir, { docs: 300, dim: 4, seed: 3 });
    const r = (await cli(['-d', d, '--json', 'import', 'docs', file, '--batch-size', '100'], { env: { ELACSYM_FAILPOINTS: fp } }));
    expect(r.code).toBe(137); // killed by its own fail point
    const acked = ackedLines(r.stderr);
    // before-commit: nothing committed; after-commit: the first batch is durable though never acknowledged
    if (fp.startsWith('import:')) expect(acked).toBe(0);
    else expect(acked).toBe(300);
    const after = (await exportMap(d, 'docs')); // reopening works and yields no duplicate ids
    const ids = idsOf(after);
    expect(ids.length % 100 === 0 || ids.length === 300).toBe(true); // whole batches only
    expect(ids).toEqual(range(ids.length));
    expect(ids.length).toBeGreaterThanOrEqual(acked);
    if (fp === 'import:before-journal-commit') expect(ids.length).toBe(0);
    if (fp === 'import:after-journal-commit') expect(ids.length).toBe(100);
    // queries agree with export while the data may still be partly in the journal
    const q = JSON.parse((await cli(['-d', d, 'query', 'docs', '--top-k', '1000', '--format', 'json'])).stdout);
    expect(q.results.length).toBe(ids.length);
    // finishing the import yields the same state as an uninterrupted run
    const fin = (await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']));
    expect(fin.code, fin.stderr).toBe(0);
    expect(idsOf((await exportMap(d, 'docs')))).toEqual(range(300));
  });

  it('drop killed after its rename leaves no namespace', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    (await cli(['-d', d, 'init', 'docs', '--dim', '2']));
    const r = (await cli(['-d', d, 'drop', 'docs', '--yes'], { env: { ELACSYM_FAILPOINTS: 'drop:after-rename' } }));
    expect(r.code).toBe(137);
    expect((await cli(['-d', d, 'ls'])).stdout).toBe('');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '2'])).code).toBe(0);
  });

  it('init killed before its rename leaves no namespace and a later init succeeds', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    const r = (await cli(['-d', d, 'init', 'docs', '--dim', '2'], { env: { ELACSYM_FAILPOINTS: 'init:after-dir-create' } }));
    expect(r.code).toBe(137);
    expect((await cli(['-d', d, 'ls'])).stdout).toBe('');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '2'])).code).toBe(0);
  });
});

/**
 * These tests run ~50 processes each; on a machine whose cores are busy that takes minutes. The timeout
 * only guards against a hang: no outcome depends on how fast the machine is.
 */
const HANG_GUARD_MS = 900_000;

/** A child killed by its own fail point or by the test: the shell's status for SIGKILL. */
const KILLED = 137;

/**
 * Run the binary and SIGKILL it right after its `killAtEvent`-th committed-batch event on stderr (if
 * given). Kills are driven by progress, never by wall-clock delays, so the number of kills is the same on
 * a fast or a slow machine: the armed fail points are a backstop that kills the run at a fixed progress
 * point if the test's own SIGKILL has not landed yet.
 */
function runUntilKilled(args: string[], failpoints: string[], killAtEvent?: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = cliAsync(args, { ELACSYM_FAILPOINTS: failpoints.join(',') });
    let stderr = '';
    let events = 0;
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString();
      stderr += text;
      events += text.split('\n').filter((l) => l.startsWith('{"event":"committed"')).length;
      if (killAtEvent !== undefined && events >= killAtEvent) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGKILL' ? KILLED : 1), stderr }));
  });
}

describe('SIGKILL at seeded progress points during a large import', () => {
  it('survives exactly 20 kills: consistent after each, complete and equal to an uninterrupted run at the end', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    const total = 8000;
    const batch = 100; // 80 batches; each round below commits at most 3, so 20 rounds never finish the import
    const file = datasetFile(dir, { docs: total, dim: 16, seed: 11 });
    for (const ns of ['docs', 'reference']) {
      expect((await cli(['-d', d, 'init', ns, '--dim', '16', '--full-text', 'title,body'])).code).toBe(0);
    }
    const ref = await cli(['-d', d, 'import', 'reference', file]);
    expect(ref.code, ref.stderr).toBe(0);
    const rand = mulberry32(2024);
    // --segment-docs 200: a flush every two batches, so kills also land inside flushes (and recoveries).
    const args = ['-d', d, '--json', 'import', 'docs', file, '--resume', '--batch-size', String(batch), '--segment-docs', '200'];
    const flushPoints = ['flush:after-parquet-write', 'flush:after-index-write', 'flush:before-manifest-commit', 'flush:after-manifest-commit', 'flush:after-gc'];
    const kinds: string[] = [];
    for (let round = 0; round < 20; round++) {
      const n = 1 + Math.floor(rand() * 2); // 1 or 2
      const backstop = `import:after-journal-commit@${n + 1}`;
      const pick = rand();
      let r: { code: number | null; stderr: string };
      if (pick < 0.5) {
        // the test's own SIGKILL, at whatever instant of the next batch or flush it lands
        kinds.push('event');
        r = await runUntilKilled(args, [backstop], n);
      } else if (pick < 0.65) {
        kinds.push('before-commit');
        r = await runUntilKilled(args, [`import:before-journal-commit@${n + 1}`]);
      } else {
        const fp = flushPoints[Math.floor(rand() * flushPoints.length)]!;
        kinds.push(fp);
        r = await runUntilKilled(args, [`${fp}@${n}`, backstop]);
      }
      expect(r.code, `round ${round} (${kinds[round]}) was not killed: ${r.stderr}`).toBe(KILLED);
      const acked = ackedLines(r.stderr);
      const ids = idsOf(await exportMap(d, 'docs'));
      // every acknowledged line is present exactly once; nothing beyond whole committed batches
      expect(ids).toEqual(range(ids.length));
      expect(ids.length).toBeGreaterThanOrEqual(acked);
      expect(ids.length % batch).toBe(0);
      expect(ids.length).toBeLessThan(total);
    }
    expect(new Set(kinds).size).toBeGreaterThan(3); // the seed exercises several kinds of kill
    const fin = await cli(args);
    expect(fin.code, fin.stderr).toBe(0);
    const got = await exportMap(d, 'docs');
    const want = await exportMap(d, 'reference');
    expect(got.size).toBe(total);
    expect([...got.values()].sort()).toEqual([...want.values()].sort());
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  }, HANG_GUARD_MS);
});

describe('SIGKILL at seeded steps of compaction', () => {
  it('leaves the namespace complete and consistent after each of 10 kills', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '16', '--full-text', 'title,body'])).code).toBe(0);
    const file = datasetFile(dir, { docs: 3000, dim: 16, seed: 12 });
    expect((await cli(['-d', d, 'import', 'docs', file, '--segment-docs', '500', '--batch-size', '250'])).code).toBe(0);
    expect((await cli(['-d', d, 'delete', 'docs', '--ids', range(150).map((i) => i * 7).join(',')])).code).toBe(0);
    const before = await exportMap(d, 'docs');
    const segments = async () => (JSON.parse((await cli(['-d', d, '--json', 'health', 'docs'])).stdout) as { namespaces: { segments: number }[] }).namespaces[0]!.segments;
    const rand = mulberry32(99);
    const points = ['compact:after-segment-write', 'compact:before-manifest-commit', 'compact:after-manifest-commit', 'compact:after-gc'];
    let kills = 0;
    for (let round = 0; round < 10; round++) {
      if ((await segments()) < 2) {
        // the last kill came after the swap: fragment again so this round has a merge to kill
        expect((await cli(['-d', d, 'import', 'docs', '-', '--segment-docs', '500'], { input: [...before.values()].slice(0, 1000).join('\n') })).code).toBe(0);
      }
      const fp = points[Math.floor(rand() * points.length)]!;
      const r = await runUntilKilled(['-d', d, 'compact', 'docs'], [fp]);
      expect(r.code, `${fp}: ${r.stderr}`).toBe(KILLED);
      kills++;
      expect(await exportMap(d, 'docs')).toEqual(before);
      expect([0, 6]).toContain((await cli(['-d', d, 'health', '--deep'])).code); // 6: orphans until the next writer
    }
    expect(kills).toBe(10);
    expect((await cli(['-d', d, 'compact', 'docs'])).code).toBe(0);
    expect(await exportMap(d, 'docs')).toEqual(before);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  }, HANG_GUARD_MS);
});
