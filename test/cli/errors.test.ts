/** Errors a script can rely on: every error, commander's usage errors included, is the documented object. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

interface JsonError {
  error: { code: string; message: string; hint: string };
}

/** stderr must be exactly one JSON error object (nothing else: no commander text, no help). */
function onlyJsonError(stderr: string): JsonError['error'] {
  const lines = stderr.split('\n').filter((l) => l.trim());
  expect(lines, stderr).toHaveLength(1);
  const e = (JSON.parse(lines[0]!) as JsonError).error;
  expect(typeof e.message).toBe('string');
  expect(typeof e.hint).toBe('string');
  return e;
}

/** A hint names a command the user can paste: no `<command>`/`<namespace>` placeholders. */
function expectConcrete(hint: string): void {
  expect(hint).not.toMatch(/<[a-z-]+>/);
}

describe('usage errors under --json', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown option', ['query', 'ns', '--bogus'], /`elacsym query --help`/],
    ['missing argument', ['init'], /`elacsym init --help`/],
    ['invalid choice', ['init', 'ns', '--metric', 'manhattan'], /`elacsym init --help`/],
    ['unknown command', ['frobnicate'], /`elacsym --help`/],
    ['missing option argument', ['query', 'ns', '--top-k'], /`elacsym query --help`/],
    ['missing subcommand', ['wal'], /`elacsym wal --help`/],
    ['unknown option of a subcommand', ['wal', 'inspect', 'ns', '--bogus'], /`elacsym wal inspect --help`/],
  ];
  for (const [what, args, hint] of cases) {
    it(`reports a ${what} as one JSON error object on stderr with status 2`, async () => {
      const r = await cli(['--json', ...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const e = onlyJsonError(r.stderr);
      expect(e.code).toBe('USAGE');
      expect(e.hint).toMatch(hint);
      expectConcrete(e.hint);
    });
  }

  it('reports a usage error in text mode with its code and a real command in the hint', async () => {
    const r = await cli(['query', 'ns', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[USAGE\]/);
    expect(r.stderr).toContain('`elacsym query --help`');
  });
});

describe('hints name a real command', () => {
  it('fills the namespace and the data directory into the default hints', async () => {
    const d = join(tmpDir(), 'data dir');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '3'])).code).toBe(0);
    const exists = await cli(['-d', d, '--json', 'init', 'docs', '--dim', '3']);
    expect(exists.code).toBe(4);
    const e = onlyJsonError(exists.stderr);
    expect(e.code).toBe('NAMESPACE_EXISTS');
    expect(e.hint).toContain(`\`elacsym -d '${d}' drop docs --yes\``);

    const usage = onlyJsonError((await cli(['-d', d, '--json', 'query', 'docs', '--top-k', 'x'])).stderr);
    expect(usage.code).toBe('USAGE');
    expect(usage.hint).toContain('query --help');
    expectConcrete(usage.hint);
  });

  it('a missing data directory points at an init that works as written once given the dimension', async () => {
    const d = join(tmpDir(), 'new dir');
    const e = onlyJsonError((await cli(['-d', d, '--json', 'query', 'docs', '--vector', '[1,2,3]'])).stderr);
    expect(e.code).toBe('DATA_DIR_NOT_FOUND');
    expect(e.hint).toContain(`\`elacsym -d '${d}' init docs --dim N\``);
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '3'])).code).toBe(0);
  });

  it('an interrupted wal replay and a health problem name the namespace and the data directory', async () => {
    const d = join(tmpDir(), 'data dir');
    expect((await cli(['-d', d, 'init', 'docs', '--dim', '3'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: '{"id":1,"vector":[1,2,3]}' })).code).toBe(0);
    const h = await cli(['-d', d, '--json', 'health', 'docs']);
    const problems = (JSON.parse(h.stdout) as { namespaces: { problems: { code: string; message: string }[] }[] }).namespaces[0]!.problems;
    expect(problems.find((p) => p.code === 'INDEX_EMPTY')?.message).toContain(`\`elacsym -d '${d}' wal replay docs\``);
    const r = await cli(['-d', d, '--json', 'wal', 'replay', 'docs'], { env: { ELACSYM_FAILPOINTS: 'flush:after-parquet-write=sigterm' } });
    expect(r.code).toBe(130);
    const e = (JSON.parse(r.stderr.split('\n').filter((l) => l.startsWith('{"error"'))[0]!) as JsonError).error;
    expect(e.code).toBe('INTERRUPTED');
    expect(e.hint).toContain(`\`elacsym -d '${d}' wal replay docs\``);
  });

  it('never prints a placeholder when the command covers every namespace', async () => {
    const missing = join(tmpDir(), 'nope');
    for (const args of [['health'], ['compact', '--all'], ['query', 'docs', '--text', 'a'], ['wal', 'inspect', 'docs']]) {
      const r = await cli(['-d', missing, '--json', ...args]);
      expect(r.code, args.join(' ')).toBe(3);
      const e = onlyJsonError(r.stderr);
      expect(e.code).toBe('DATA_DIR_NOT_FOUND');
      expectConcrete(e.hint);
    }
  });
});
