/** What the CLI prints: vectors, summaries, events, and where each line goes (stdout vs stderr). */
import { execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

async function freshNs(dim = 3): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--dim', String(dim), '--full-text', 'title'])).code).toBe(0);
  return d;
}

describe('vectors print as the shortest float32 decimals', () => {
  const input = '{"id":1,"vector":[0.1941,-0.3,16777216],"attributes":{"title":"a b"}}\n{"id":2,"vector":[0.333333343267,1e-45,0.1],"attributes":{"title":"c"}}\n';

  it('export prints what was imported, not the float64 expansion', async () => {
    const d = await freshNs();
    expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input })).code).toBe(0);
    const journal = await cli(['-d', d, 'export', 'docs']);
    expect(journal.stdout).toContain('"vector":[0.1941,-0.3,16777216]');
    expect(journal.stdout).toContain('"vector":[0.33333334,1e-45,0.1]');
    expect((await cli(['-d', d, 'wal', 'replay', 'docs'])).code).toBe(0);
    const segment = await cli(['-d', d, 'export', 'docs']);
    expect(segment.stdout).toBe(journal.stdout);
    // and reads back as the same float32s
    const copy = join(tmpDir(), 'copy');
    expect((await cli(['-d', copy, 'init', 'docs', '--dim', '3', '--full-text', 'title'])).code).toBe(0);
    expect((await cli(['-d', copy, 'import', 'docs', '-'], { input: segment.stdout })).code).toBe(0);
    expect((await cli(['-d', copy, 'export', 'docs'])).stdout).toBe(segment.stdout);
  });

  it('query --include-vector prints the shortest decimals', async () => {
    const d = await freshNs();
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input })).code).toBe(0);
    const r = await cli(['-d', d, 'query', 'docs', '--vector', '[0.1941,-0.3,16777216]', '-k', '1', '--include-vector', '--format', 'ndjson']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"vector":[0.1941,-0.3,16777216]');
    expect(ndjson(r.stdout)[0]!.id).toBe(1);
  });
});

describe('import summaries and events', () => {
  const two = '{"id":1,"vector":[1,0,0]}\n{"id":2,"vector":[0,1,0]}\n';

  it('--json acknowledges each committed batch exactly once', async () => {
    const d = await freshNs();
    const r = await cli(['-d', d, '--json', 'import', 'docs', '-', '--batch-size', '1'], { input: two });
    expect(r.code, r.stderr).toBe(0);
    const events = ndjson(r.stderr).filter((e) => e.event === 'committed');
    expect(events.map((e) => e.documents)).toEqual([1, 2]);
  });

  it('--no-flush reports the documents as pending in the journal, not as "inserted 0, updated 0"', async () => {
    const d = await freshNs();
    const text = await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: two });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain('2 left in the journal');
    expect(text.stderr).not.toMatch(/inserted 0, updated 0/);
    const json = await cli(['-d', d, '--json', 'import', 'docs', '-', '--no-flush'], { input: '{"id":3,"vector":[0,0,1]}\n' });
    expect(json.code, json.stderr).toBe(0);
    // the earlier backlog was flushed when this writer opened; this import's document waits
    expect(JSON.parse(json.stdout)).toMatchObject({ committed: 1, pending: 1, inserted: 0, updated: 0 });
    const flushed = await cli(['-d', d, '--json', 'import', 'docs', '-'], { input: two });
    expect(JSON.parse(flushed.stdout)).toMatchObject({ pending: 0 });
  });

  it('--progress draws the bar when stderr is not a terminal, as its help says', async () => {
    const d = await freshNs();
    const file = join(tmpDir(), 'in.ndjson');
    writeFileSync(file, two);
    const forced = await cli(['-d', d, 'import', 'docs', file, '--progress']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/import \|.*\| 100% \| 2 docs/);
    const plain = await cli(['-d', d, 'import', 'docs', file]);
    expect(plain.stderr).not.toContain('import |');
  });
});

describe('summaries go to stderr, results to stdout', () => {
  it('query --format table prints rows on stdout and "(N results in T ms)" on stderr', async () => {
    const d = await freshNs();
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":1,"vector":[1,0,0]}\n' })).code).toBe(0);
    const r = await cli(['-d', d, 'query', 'docs', '--vector', '[1,0,0]', '--format', 'table']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2); // header + one row
    expect(r.stdout).not.toContain('results in');
    expect(r.stderr).toMatch(/\(1 results in [\d.]+ ms\)/);
  });

  it('wal inspect prints its table on stdout and the total line on stderr', async () => {
    const d = await freshNs();
    expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: '{"id":1,"vector":[1,0,0]}\n' })).code).toBe(0);
    const r = await cli(['-d', d, 'wal', 'inspect', 'docs']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('total:');
    expect(r.stdout.split('\n').filter((l) => l !== '').every((l) => l.split('\t').length === 9)).toBe(true);
    expect(r.stderr).toMatch(/^total: 1 pending entries/m);
  });
});

/** Run a command on a pseudo-terminal (util-linux `script`), so the ink screens are drawn. */
function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const cmd = `stty cols 120 rows 40; ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`;
  return new Promise((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...env } }, (_e, stdout) => resolve(stdout));
  });
}

describe('ink screens', () => {
  it.skipIf(!existsSync('/usr/bin/script'))('honour NO_COLOR', async () => {
    const d = await freshNs();
    const colour = /\x1b\[(3\d|9\d|1|2)m/;
    const coloured = await onTerminal(['-d', d, 'health'], { NO_COLOR: '', FORCE_COLOR: '' });
    expect(coloured).toContain('HEALTHY');
    expect(coloured).toMatch(colour); // the screen is drawn in colour by default...
    const plain = await onTerminal(['-d', d, 'health'], { NO_COLOR: '1' });
    expect(plain).toContain('HEALTHY');
    expect(plain).not.toMatch(colour); // ...and without any with NO_COLOR
  });
});

describe('stdout to a reader that stops or a non-blocking descriptor', () => {
  // 20,000 text documents: an export of ~1.4 MB, far past what a pipe or socket buffers (64-208 KiB).
  let big: Promise<{ d: string; expected: string }> | undefined;
  const bigNamespace = () => (big ??= makeBigNamespace());
  async function makeBigNamespace(): Promise<{ d: string; expected: string }> {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'docs', '--text-only', '--full-text', 'title'])).code).toBe(0);
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(JSON.stringify({ id: i, attributes: { title: `document number ${i} of the export test` } }));
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: `${lines.join('\n')}\n` })).code).toBe(0);
    const all = await cli(['-d', d, 'export', 'docs']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.split('\n')).toHaveLength(20_001);
    return { d, expected: all.stdout };
  }

  it('a reader that goes away (`export | head -1`) ends the export quietly with status 0', async () => {
    const { d } = await bigNamespace();
    const r = await new Promise<{ code: number | null; stderr: string; first: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN, '-d', d, 'export', 'docs'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let first = '';
      c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      // Close the read end at the first chunk: the export still has over a MB to write, so it meets EPIPE.
      c.stdout.once('data', (b: Buffer) => {
        first = b.toString().split('\n')[0]!;
        c.stdout.destroy();
      });
      c.on('close', (code) => resolve({ code, stderr, first }));
    });
    expect(JSON.parse(r.first).id).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a non-blocking stdout inherited from the caller loses nothing', async () => {
    const { d, expected } = await bigNamespace();
    // perl (perl-base is Essential in Debian) makes the stdout it was given non-blocking and execs
    // elacsym, which inherits the flag, as from a parent that made its own stdout non-blocking (a Node
    // parent cannot show it: libuv makes a child's stdio blocking). The export writes ~1.4 MB in 64 KiB
    // writes while this process reads; a write that would block fails with EAGAIN whenever the reader
    // lags, and the output must go on, in order, rather than be cut short or end in an error. (How many
    // writes meet EAGAIN depends on scheduling; what is asserted holds either way.)
    const set = 'fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die "fcntl: $!"; exec @ARGV or die "exec: $!"';
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn('perl', ['-MFcntl', '-e', set, process.execPath, BIN, '-d', d, 'export', 'docs'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
  });
});
