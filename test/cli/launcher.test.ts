/**
 * bin/elacsym run as a command: its first lines are sh that set glibc's malloc arenas to one and exec Node
 * on the same file. Every other CLI test runs `node bin/elacsym` (its JavaScript only); these run it as a
 * command, through a symbolic link as `npm link` installs it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { binArgv } from '../../src/bench/object-store.js';
import { cleanupTmp, LAUNCHER, launcherEnv, ROOT, runFile, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A link to the launcher in a directory of its own, as npm links a package's bin. */
function linked(): string {
  const link = join(tmpDir(), 'elacsym');
  symlinkSync(LAUNCHER, link);
  return link;
}

/** Starts `import ns -` through the launcher and resolves once its first document is committed. */
async function runningImport(env: Record<string, string>): Promise<{ child: ChildProcess; link: string; exited: Promise<[number | null, NodeJS.Signals | null]> }> {
  const d = join(tmpDir(), 'data');
  const bin = linked();
  expect((await runFile(bin, ['-d', d, 'init', 'ns', '--text-only'], env)).code).toBe(0);
  const child = spawn(bin, ['-d', d, '--json', 'import', 'ns', '-', '--batch-size', '1'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, signal) => r([code, signal])));
  const committed = new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('"event":"committed"')) resolve();
    });
    void exited.then(([code]) => reject(new Error(`import exited with ${code} before committing: ${buf}`)));
  });
  child.stdin!.write('{"id":1}\n');
  await committed;
  return { child, link: bin, exited };
}

/** A process's command line, from /proc/PID/cmdline. */
function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').slice(0, -1);
}

/**
 * A pattern for the entry NAME=VALUE in the raw /proc/PID/environ. glibc up to 2.38 NUL-terminates each
 * tunable's value it recognizes inside that original block while parsing GLIBC_TUNABLES (the process
 * itself reads an intact copy), so a ':' between two tunables may read as NUL there.
 */
function environEntry(name: string, value: string): RegExp {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|\\0)${esc(name)}=${value.split(':').map(esc).join('[:\\0]')}\\0`);
}

describe('bin/elacsym (the launcher)', () => {
  it('runs the CLI through a symbolic link, passes every argument as given and returns its exit status', async () => {
    const bin = linked();
    const v = await runFile(bin, ['--version'], launcherEnv());
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(VERSION);
    // Also where Node keeps the link's directory as the script's (__dirname).
    const kept = await runFile(bin, ['--version'], launcherEnv({ NODE_OPTIONS: '--preserve-symlinks-main' }));
    expect(kept.code, kept.stderr).toBe(0);

    // A data directory and a document with spaces, quotes and shell characters, and an empty argument: all
    // arrive as given; the exit statuses are the CLI's own (3 for a missing namespace, 2 for a bad name).
    const d = join(tmpDir(), 'data dir * with "quotes" and $HOME');
    expect((await runFile(bin, ['-d', d, 'init', 'ns', '--text-only'], launcherEnv())).code).toBe(0);
    const text = `it's "quoted" * $HOME \\ \`x\``;
    const file = join(tmpDir(), 'doc *.ndjson');
    writeFileSync(file, `${JSON.stringify({ id: 'a b', attributes: { text } })}\n`);
    expect((await runFile(bin, ['-d', d, 'import', 'ns', file], launcherEnv())).code).toBe(0);
    const out = await runFile(bin, ['-d', d, 'export', 'ns'], launcherEnv());
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ id: 'a b', attributes: { text } });
    const missing = await runFile(bin, ['-d', d, '--json', 'query', 'missing', '--text', 'x'], launcherEnv());
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stderr.trim().split('\n').at(-1)!).error.code).toBe('NAMESPACE_NOT_FOUND');
    const bad = await runFile(bin, ['-d', d, '--json', 'query', 'no such $x *', '--text', ''], launcherEnv());
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr.trim().split('\n').at(-1)!).error.message).toContain('"no such $x *"');
  });

  it('is Node itself (exec): the process has one malloc arena set, and SIGKILL reaches it', async () => {
    const { child, link, exited } = await runningImport(launcherEnv());
    const pid = child.pid!;
    // The process the caller started is Node running the linked file, not a shell waiting for it.
    expect(realpathSync(readlinkSync(`/proc/${pid}/exe`))).toBe(realpathSync(process.execPath));
    expect(cmdline(pid).slice(1, 2)).toEqual([link]);
    expect(readFileSync(`/proc/${pid}/environ`, 'latin1')).toMatch(environEntry('GLIBC_TUNABLES', 'glibc.malloc.arena_max=1'));
    child.kill('SIGKILL');
    expect(await exited).toEqual([null, 'SIGKILL']);
  });

  it('keeps a GLIBC_TUNABLES that names arena_max or a MALLOC_ARENA_MAX, and adds the arena to other tunables', async () => {
    const { child, exited } = await runningImport(launcherEnv({ MALLOC_ARENA_MAX: '8' }));
    const environ = readFileSync(`/proc/${child.pid!}/environ`, 'latin1');
    expect(environ).toMatch(environEntry('MALLOC_ARENA_MAX', '8'));
    expect(environ).not.toMatch(/(^|\0)GLIBC_TUNABLES=/); // glibc's tunable would override the variable
    child.stdin!.end();
    expect(await exited).toEqual([0, null]);
    for (const [given, expected] of [
      ['glibc.malloc.arena_max=2', 'glibc.malloc.arena_max=2'],
      ['glibc.malloc.trim_threshold=65536', 'glibc.malloc.trim_threshold=65536:glibc.malloc.arena_max=1'],
    ] as const) {
      const { child, exited } = await runningImport(launcherEnv({ GLIBC_TUNABLES: given }));
      expect(readFileSync(`/proc/${child.pid!}/environ`, 'latin1')).toMatch(environEntry('GLIBC_TUNABLES', expected));
      child.stdin!.end();
      expect(await exited).toEqual([0, null]);
    }
  });

  it('leaves the other commands (serve here, whose query workers are faster with their own arenas) without it', async () => {
    const d = join(tmpDir(), 'data');
    const bin = linked();
    expect((await runFile(bin, ['-d', d, 'init', 'import', '--text-only'], launcherEnv())).code).toBe(0);
    const child = spawn(bin, ['-d', d, 'serve', '--port', '0'], { env: launcherEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, signal) => r([code, signal])));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stderr!.on('data', (b: Buffer) => {
        buf += b.toString();
        if (buf.includes('"listening"')) resolve();
      });
      void exited.then(([code]) => reject(new Error(`serve exited with ${code}: ${buf}`)));
    });
    expect(realpathSync(readlinkSync(`/proc/${child.pid!}/exe`))).toBe(realpathSync(process.execPath));
    expect(readFileSync(`/proc/${child.pid!}/environ`, 'latin1')).not.toMatch(/(^|\0)GLIBC_TUNABLES=/);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    // A namespace called "import" gives a command on it the setting, which changes nothing else.
    const c = await runFile(bin, ['-d', d, 'count', 'import'], launcherEnv());
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout.trim()).toBe('0');
  });

  it('the bench spawns the file as a command when it can be executed, else through Node', () => {
    const f = join(tmpDir(), 'elacsym');
    writeFileSync(f, '#!/bin/sh\n');
    chmodSync(f, 0o644); // a copy that lost its mode bits
    expect(binArgv(f, ['--version'])).toEqual([process.execPath, [f, '--version']]);
    chmodSync(f, 0o755);
    expect(binArgv(f, ['--version'])).toEqual([f, ['--version']]);
    expect(binArgv(join(ROOT, 'dist', 'elacsym.js'), [])).toEqual([process.execPath, [join(ROOT, 'dist', 'elacsym.js')]]);
  });

  it('says what is missing when node is not on PATH (127, as a shell does for a missing command)', async () => {
    const r = await runFile(LAUNCHER, ['--version'], { ...launcherEnv(), PATH: join(tmpDir(), 'empty') });
    expect(r.code).toBe(127);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^elacsym: cannot find node \(Node\.js >= 20\.19\) on PATH/);
  });
});
