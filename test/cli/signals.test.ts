/**
 * SIGINT and SIGTERM, and the query server on stdin (issue 9 §8, §10). Every test keeps the child's stdin
 * open and synchronises on an event the child prints (a committed batch, a response line, a paused fail
 * point), then signals: never a sleep. A child that ignored the signal would hang, and the test fail.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, datasetFile, errorCode, exportMap, ndjson, ROOT, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first line of the stream that satisfies `pred` (already seen lines included). */
  line(stream: 'stdout' | 'stderr', pred: (l: string) => boolean): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: Record<string, string> = {}): Child {
  return startRaw(process.execPath, [BIN, ...args], env);
}

function startRaw(command: string, args: string[], env: Record<string, string> = {}): Child {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) clean[k] = v;
  const proc = spawn(command, args, { env: { ...clean, ...env }, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin.on('error', () => undefined); // writes after the child exited
  const text = { stdout: '', stderr: '' };
  const waiters: { stream: 'stdout' | 'stderr'; pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const hit = text[w.stream].split('\n').slice(0, -1).find(w.pred);
      if (hit !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  };
  for (const s of ['stdout', 'stderr'] as const) {
    proc[s].on('data', (b: Buffer) => {
      text[s] += b.toString();
      check();
    });
  }
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    line: (stream, pred) =>
      new Promise((resolve, reject) => {
        waiters.push({ stream, pred, resolve });
        check();
        void exit.then(() => reject(new Error(`exited before the expected ${stream} line; stderr: ${text.stderr}`)));
      }),
    exit,
  };
}

const doc = (id: number) => JSON.stringify({ id, vector: [Math.sin(id), Math.cos(id)], attributes: { title: `doc ${id}` } });
const isEvent = (name: string) => (l: string) => l.startsWith('{"event"') && (JSON.parse(l) as { event: string }).event === name;

async function ns(dim = 2): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(dim), '--full-text', 'title'])).code).toBe(0);
  return d;
}

describe('import from a quiet stdin', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s commits every complete line read before it, nothing after, and exits 130 INTERRUPTED', async (sig) => {
    const d = await ns();
    const c = start(['-d', d, '--json', 'import', 'ns', '-', '--batch-size', '2']);
    // One write: lines 1-3 arrive together; the committed event of lines 1-2 proves line 3 was read too.
    c.proc.stdin.write(`${doc(1)}\n${doc(2)}\n${doc(3)}\n{"id":4,"vec`);
    await c.line('stderr', (l) => isEvent('committed')(l) && (JSON.parse(l) as { lines: number }).lines === 2);
    c.proc.kill(sig);
    await c.line('stderr', isEvent('interrupted'));
    // Arrives after the signal was handled: must not be committed (nor must the partial line 4).
    c.proc.stdin.write(`tor":[1,0]}\n${doc(5)}\n`);
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
    const err = ndjson(c.stderr()).find((e) => e.error) as { error: { details: { committed: number; lines: number } } };
    expect(err.error.details).toMatchObject({ committed: 3, lines: 3 });
    expect([...(await exportMap(d, 'ns')).keys()].sort()).toEqual(['1', '2', '3']);
    // consistent; degraded (6) only because the interrupted import left its segment build to the next writer
    expect([0, 6]).toContain((await cli(['-d', d, 'health', '--deep'])).code);
  });

  it('after flushes, says how many documents are left in the journal, and leaves no free pages', async () => {
    const d = await ns();
    const c = start(['-d', d, '--json', 'import', 'ns', '-', '--batch-size', '2', '--segment-docs', '4']);
    // Lines 1-10 in batches of 2; flushes after lines 4 and 8. The event of lines 1-10 comes after the
    // flush of line 8 finished (each batch's commit includes its flush).
    c.proc.stdin.write(`${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(doc).join('\n')}\n`);
    await c.line('stderr', (l) => isEvent('committed')(l) && (JSON.parse(l) as { lines: number }).lines === 10);
    c.proc.kill('SIGTERM');
    expect((await c.exit).code, c.stderr()).toBe(130);
    const err = ndjson(c.stderr()).find((e) => e.error) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('INTERRUPTED');
    expect(err.error.message).toContain('interrupted after committing 10 documents');
    expect(err.error.message).toContain('2 documents in the journal');
    const db = new Database(join(d, 'ns', 'manifest.db'), { readonly: true });
    try {
      expect(Number(db.pragma('freelist_count', { simple: true }))).toBe(0);
    } finally {
      db.close();
    }
    expect((await exportMap(d, 'ns')).size).toBe(10);
  });

  it('with nothing read yet, exits 130 at once and commits nothing', async () => {
    const d = await ns();
    const c = start(['-d', d, 'import', 'ns', '-', '--wait', '30']);
    // The writer lock is taken before stdin is read: wait until a second writer is refused by it.
    for (;;) {
      const r = await cli(['-d', d, 'delete', 'ns', '--ids', '999']);
      if (r.code === 75) break;
      expect(r.code).toBe(0); // the import has not opened its writer yet
    }
    c.proc.kill('SIGINT');
    expect((await c.exit).code).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
    expect((await exportMap(d, 'ns')).size).toBe(0);
  });
});

describe('a writer waiting for the lock (--wait)', () => {
  it('says it waits, and a signal ends the wait at once with 130 and nothing written', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 50, dim: 8, seed: 6 });
    // The first writer holds the lock, paused inside its flush.
    const holder = start(['-d', d, 'import', 'ns', file], { ELACSYM_FAILPOINTS: 'flush:before-manifest-commit=pause' });
    await holder.line('stderr', (l) => l.startsWith('{"failpoint"'));
    const waiter = start(['-d', d, '--json', 'import', 'ns', '-', '--wait', '3600']);
    waiter.proc.stdin.write(`${doc(1000)}\n`);
    await waiter.line('stderr', isEvent('waiting'));
    waiter.proc.kill('SIGTERM');
    expect((await waiter.exit).code, waiter.stderr()).toBe(130);
    expect(errorCode(waiter.stderr())).toBe('INTERRUPTED');
    holder.proc.kill('SIGINT');
    expect((await holder.exit).code).toBe(130);
    const after = await exportMap(d, 'ns');
    expect(after.size).toBe(50); // the holder's acknowledged documents; nothing of the waiter
    expect(after.has('1000')).toBe(false);
  });
});

describe('commands without work to commit', () => {
  it('export blocked on a full pipe: SIGTERM exits 130 INTERRUPTED (not 143)', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 3000, dim: 8, seed: 7 }); // far more than the pipe buffers hold
    expect((await cli(['-d', d, 'import', 'ns', file])).code).toBe(0);
    const c = start(['-d', d, 'export', 'ns']);
    // Stop reading at the first output: the export cannot finish, it waits for the pipe to drain.
    await new Promise<void>((resolve) => c.proc.stdout.once('data', () => resolve()));
    c.proc.stdout.pause();
    const exited = new Promise<number | null>((resolve) => c.proc.once('exit', (code) => resolve(code)));
    c.proc.kill('SIGTERM');
    const code = await exited; // 'exit', not 'close': the paused stdout is drained only afterwards
    c.proc.stdout.resume();
    await c.exit;
    expect(code).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
  });
});

describe('import from a terminal', () => {
  // util-linux script(1) gives the child a pseudo-terminal as stdin, stdout and stderr.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('says it is reading standard input, then reads until Ctrl-D', async () => {
    const d = await ns();
    const cmd = [process.execPath, BIN, '-d', d, 'import', 'ns', '-'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const c = startRaw('script', ['-qfec', cmd, '/dev/null']);
    await c.line('stdout', (l) => l.includes('reading NDJSON from standard input'));
    c.proc.stdin.write(`${doc(1)}\n\u0004`);
    expect((await c.exit).code, c.stdout()).toBe(0);
    expect([...(await exportMap(d, 'ns')).keys()]).toEqual(['1']);
  });
});

describe('drop at its confirmation prompt', () => {
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('Ctrl-C exits 130 INTERRUPTED and keeps the namespace', async () => {
    const d = await ns();
    const cmd = [process.execPath, BIN, '-d', d, 'drop', 'ns'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const c = startRaw('script', ['-qfec', cmd, '/dev/null']);
    // the prompt has no newline: wait for its text
    for (;;) {
      if (c.stdout().includes('type its name to confirm')) break;
      await new Promise<void>((resolve) => c.proc.stdout.once('data', () => resolve()));
    }
    c.proc.stdin.write('\u0003');
    expect((await c.exit).code, c.stdout()).toBe(130);
    expect(c.stdout()).toContain('error[INTERRUPTED]');
    expect((await cli(['-d', d, 'ls'])).stdout).toContain('ns');
  });
});

describe('query --batch - as a co-process', () => {
  it('answers each request on its own flushed line while stdin stays open, and exits 130 on a signal', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: [1, 2, 3].map(doc).join('\n') })).code).toBe(0);
    const c = start(['-d', d, 'query', 'ns', '--batch', '-']);
    c.proc.stdin.write(`${JSON.stringify({ vector: [1, 0], top_k: 1 })}\n`);
    const first = JSON.parse(await c.line('stdout', () => true)) as { results: unknown[] };
    expect(first.results).toHaveLength(1);
    c.proc.stdin.write(`${JSON.stringify({ full_text: { query: 'doc' }, top_k: 3 })}\n`);
    await c.line('stdout', (l) => (JSON.parse(l) as { results: unknown[] }).results.length === 3);
    c.proc.kill('SIGTERM');
    const { code } = await c.exit;
    expect(code).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
    expect(c.stdout().split('\n').filter(Boolean)).toHaveLength(2);
  });
});

describe('compaction in several merge groups', () => {
  it("unlinks each group's retired files after its commit, before the next group commits", async () => {
    const d = await ns();
    // Three segments, each with a dead row; a merge budget below one segment makes each its own group.
    for (const ids of [[1, 2, 3], [4, 5, 6], [7, 8, 9]]) expect((await cli(['-d', d, 'import', 'ns', '-'], { input: ids.map(doc).join('\n') })).code).toBe(0);
    expect((await cli(['-d', d, 'delete', 'ns', '--ids', '2,5,8'])).code).toBe(0);
    const files = () => readdirSync(join(d, 'ns', 'segments')).filter((f) => /^seg-\d+\.(parquet|idx)$/.test(f));
    expect(files()).toContain('seg-00000001.parquet');
    const c = start(['-d', d, '--json', 'compact', 'ns'], { ELACSYM_SEGMENT_BYTES: '1024', ELACSYM_FAILPOINTS: 'compact:before-manifest-commit@2=pause' });
    await c.line('stderr', (l) => l.startsWith('{"failpoint"'));
    let mid: string[];
    try {
      mid = files();
    } finally {
      c.proc.kill('SIGTERM'); // never left paused, whatever the assertions below say
    }
    // The first group (segment 1) committed; the second is paused before its commit.
    expect(mid).not.toContain('seg-00000001.parquet');
    expect(mid).not.toContain('seg-00000001.idx');
    expect(mid).toContain('seg-00000002.parquet');
    expect((await c.exit).code, c.stderr()).toBe(130);
    expect([...(await exportMap(d, 'ns')).keys()].sort()).toEqual(['1', '3', '4', '6', '7', '9']);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });
});

describe('delete', () => {
  const paused = (l: string) => l.startsWith('{"failpoint"');

  it('SIGTERM after the delete is committed says it is committed, and queries no longer return the documents', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: Array.from({ length: 50 }, (_, i) => doc(i)).join('\n') })).code).toBe(0);
    const c = start(['-d', d, '--json', 'delete', 'ns', '--ids', '1,2,3'], { ELACSYM_FAILPOINTS: 'delete:after-journal-commit=pause' });
    await c.line('stderr', paused);
    c.proc.kill('SIGTERM');
    expect((await c.exit).code, c.stderr()).toBe(130);
    const e = (JSON.parse(c.stderr().split('\n').find((l) => l.startsWith('{"error"'))!) as { error: { code: string; message: string; hint: string; details: { committed: boolean } } }).error;
    expect(e.code).toBe('INTERRUPTED');
    expect(e.message).toMatch(/delete of 3 ids from ns was committed: queries no longer return those documents/);
    expect(e.details.committed).toBe(true);
    expect(e.hint).toMatch(/nothing to run again/);
    const ids = [...(await exportMap(d, 'ns')).keys()];
    expect(ids).toHaveLength(47);
    for (const id of ['1', '2', '3']) expect(ids).not.toContain(id);
  });

  it('SIGTERM while its writer still builds segments from an earlier backlog says nothing was deleted', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 300, dim: 8, seed: 5 });
    expect((await cli(['-d', d, 'import', 'ns', file, '--no-flush'])).code).toBe(0);
    const c = start(['-d', d, '--json', 'delete', 'ns', '--ids', '1,2,3'], { ELACSYM_FAILPOINTS: 'flush:before-manifest-commit=pause' });
    await c.line('stderr', paused);
    c.proc.kill('SIGTERM');
    expect((await c.exit).code, c.stderr()).toBe(130);
    const e = (JSON.parse(c.stderr().split('\n').find((l) => l.startsWith('{"error"'))!) as { error: { code: string; message: string; hint: string; details: { committed: boolean } } }).error;
    expect(e.code).toBe('INTERRUPTED');
    expect(e.message).toMatch(/the delete was not committed: nothing was deleted/);
    expect(e.details.committed).toBe(false);
    expect(e.hint).toBe('run the delete again');
    expect((await exportMap(d, 'ns')).size).toBe(300);
  });
});

describe('export -o', () => {
  it('SIGTERM in the middle of an export to a file exits 130 and leaves the file as it was, without a temporary file', async () => {
    const dir = tmpDir();
    const d = await ns(32);
    const file = datasetFile(dir, { docs: 5000, dim: 32, seed: 8 });
    expect((await cli(['-d', d, 'import', 'ns', file])).code).toBe(0);
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    const target = join(outDir, 'backup.ndjson');
    writeFileSync(target, 'the previous export\n');
    // The fail point sends SIGTERM after the first MiB is written; the export must notice it then, not
    // after reading the rest (its reads complete without a turn of the event loop).
    const r = await cli(['-d', d, 'export', 'ns', '-o', target], { env: { ELACSYM_FAILPOINTS: 'export:after-chunk=sigterm' } });
    expect(r.code, r.stderr).toBe(130);
    expect(errorCode(r.stderr)).toBe('INTERRUPTED');
    expect(r.stderr).toContain(`${target} is left as it was`);
    expect(readFileSync(target, 'utf8')).toBe('the previous export\n');
    expect(readdirSync(outDir)).toEqual(['backup.ndjson']);
    // Unarmed, the same export replaces the file whole.
    expect((await cli(['-d', d, 'export', 'ns', '-o', target])).code).toBe(0);
    expect(readFileSync(target, 'utf8').trim().split('\n')).toHaveLength(5000);
    expect(readdirSync(outDir)).toEqual(['backup.ndjson']);
    // Through a symbolic link: the file it names is replaced, the link stays a link.
    const link = join(dir, 'latest.ndjson');
    symlinkSync(target, link);
    writeFileSync(target, 'the previous export\n');
    expect((await cli(['-d', d, 'export', 'ns', '-o', link])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8').trim().split('\n')).toHaveLength(5000);
    expect(readdirSync(outDir)).toEqual(['backup.ndjson']);
    // -o /dev/stdout is standard output itself: appended to the file the shell opened, with what the
    // shell writes before and after it kept (resolving the name replaced that file).
    const log = join(dir, 'log.txt');
    writeFileSync(log, 'header\n');
    const sh = spawnSync('sh', ['-c', `{ "${process.execPath}" "${BIN}" -d "${d}" export ns -o /dev/stdout; echo footer; } >> "${log}"`], { encoding: 'utf8' });
    expect(sh.status, sh.stderr).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5002);
    expect(lines[0]).toBe('header');
    expect(lines[5001]).toBe('footer');
  });
});

describe('writers stopped inside their segment build', () => {
  const paused = (l: string) => l.startsWith('{"failpoint"');

  it.each(['SIGINT', 'SIGTERM'] as const)('import: %s during the index build exits 130 with every document kept in the journal', async (sig) => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 300, dim: 8, seed: 5 });
    const c = start(['-d', d, 'import', 'ns', file], { ELACSYM_FAILPOINTS: 'flush:before-manifest-commit=pause' });
    await c.line('stderr', paused);
    c.proc.kill(sig);
    expect((await c.exit).code, c.stderr()).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
    expect((await exportMap(d, 'ns')).size).toBe(300); // acknowledged, in the journal
    const replay = await cli(['-d', d, '--json', 'wal', 'replay', 'ns']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout).documents).toBe(300);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });

  // A signal that arrives while a segment is being built (CPU-bound, its awaits settling as microtasks):
  // the fail point sends SIGTERM from inside the build, at a row group of its writing pass. A tester's
  // compaction ran on for 45-58 s after such a signal and committed with status 0.
  it('compact: SIGTERM in the middle of a merge stops it at the next row group, 130, nothing changed', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 600, dim: 8, seed: 6 });
    expect((await cli(['-d', d, 'import', 'ns', file, '--segment-docs', '300'])).code).toBe(0);
    const before = await exportMap(d, 'ns');
    const r = await cli(['-d', d, '--json', 'compact', 'ns'], { env: { ELACSYM_FAILPOINTS: 'build:row-group=sigterm' } });
    expect(r.code, r.stderr).toBe(130);
    expect(errorCode(r.stderr)).toBe('INTERRUPTED');
    expect(await exportMap(d, 'ns')).toEqual(before);
    const h = await cli(['-d', d, '--json', 'health', 'ns', '--deep']);
    expect(h.code, h.stdout).toBe(0);
    expect(readdirSync(join(d, 'ns', 'segments')).filter((f) => f.startsWith('seg-'))).toHaveLength(4); // the two inputs, no orphans
  });

  it('import: SIGTERM in the middle of a flush stops it at the next row group, 130, every document in the journal', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 300, dim: 8, seed: 7 });
    const r = await cli(['-d', d, 'import', 'ns', file], { env: { ELACSYM_FAILPOINTS: 'build:row-group=sigterm' } });
    expect(r.code, r.stderr).toBe(130);
    expect((await exportMap(d, 'ns')).size).toBe(300);
    expect(readdirSync(join(d, 'ns', 'segments')).filter((f) => f.startsWith('seg-'))).toHaveLength(0);
    const replay = await cli(['-d', d, '--json', 'wal', 'replay', 'ns']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout).documents).toBe(300);
  });

  // After the writing pass no row group is left to notice a signal: the index file's phases (columns,
  // postings, the IVF) check it too. A tester's SIGTERM at flush:after-parquet-write used to let the import
  // build and commit the segment and exit 0.
  it.each(['flush:after-parquet-write', 'flush:after-index-write'])('import: SIGTERM at %s stops the flush, 130, every document in the journal, no files left', async (fp) => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 300, dim: 8, seed: 9 });
    const r = await cli(['-d', d, '--json', 'import', 'ns', file], { env: { ELACSYM_FAILPOINTS: `${fp}=sigterm` } });
    expect(r.code, r.stderr).toBe(130);
    expect(errorCode(r.stderr)).toBe('INTERRUPTED');
    expect(readdirSync(join(d, 'ns', 'segments')).filter((f) => f.startsWith('seg-'))).toHaveLength(0);
    expect((await exportMap(d, 'ns')).size).toBe(300);
    const replay = await cli(['-d', d, '--json', 'wal', 'replay', 'ns']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout).documents).toBe(300);
  });

  it('compact: SIGTERM once a merge\'s files are written stops before its commit, 130, nothing changed, no orphans', async () => {
    const dir = tmpDir();
    const d = await ns(8);
    const file = datasetFile(dir, { docs: 600, dim: 8, seed: 10 });
    expect((await cli(['-d', d, 'import', 'ns', file, '--segment-docs', '300'])).code).toBe(0);
    const before = await exportMap(d, 'ns');
    const r = await cli(['-d', d, '--json', 'compact', 'ns'], { env: { ELACSYM_FAILPOINTS: 'compact:after-segment-write=sigterm' } });
    expect(r.code, r.stderr).toBe(130);
    expect(errorCode(r.stderr)).toBe('INTERRUPTED');
    expect(await exportMap(d, 'ns')).toEqual(before);
    expect(readdirSync(join(d, 'ns', 'segments')).filter((f) => f.startsWith('seg-'))).toHaveLength(4);
  });

  it.each([
    ['compact', ['compact', 'ns'], 'compact:before-manifest-commit'],
    ['wal replay', ['wal', 'replay', 'ns'], 'flush:before-manifest-commit'],
    // delete's first flush is its writer's recovery of the backlog; the second is of its own deletes
    ['delete', ['delete', 'ns', '--ids', '1,2'], 'flush:before-manifest-commit@2'],
  ])('%s: SIGTERM exits 130 INTERRUPTED (not 143), leaving the namespace consistent', async (_name, args, fp) => {
    const d = await ns();
    // Two segments (compact has work) and a journal backlog (replay has work).
    for (const ids of [[1, 2, 3], [4, 5, 6]]) expect((await cli(['-d', d, 'import', 'ns', '-'], { input: ids.map(doc).join('\n') })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: [7, 8].map(doc).join('\n') })).code).toBe(0);
    const before = await exportMap(d, 'ns');
    const c = start(['-d', d, ...args], { ELACSYM_FAILPOINTS: `${fp}=pause` });
    await c.line('stderr', paused);
    c.proc.kill('SIGTERM');
    expect((await c.exit).code, c.stderr()).toBe(130);
    expect(errorCode(c.stderr())).toBe('INTERRUPTED');
    const after = await exportMap(d, 'ns');
    if (args[0] === 'delete') {
      // the deletes were committed to the journal before the flush was interrupted
      for (const id of ['1', '2']) before.delete(id);
    }
    expect(after).toEqual(before);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });
});
