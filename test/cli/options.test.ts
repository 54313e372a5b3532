/** Number options and format versions are parsed strictly: a typo is a usage error, never another value. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

async function freshNs(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--dim', '2'])).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":1,"vector":[1,0]}\n' })).code).toBe(0);
  return d;
}

describe('number options', () => {
  it('refuses hex, exponent, padded and empty integers with a usage error naming the option', async () => {
    const d = await freshNs();
    const cases: [string[], string][] = [
      [['query', 'docs', '--vector', '[1,0]', '--top-k', '0x10'], '--top-k'],
      [['query', 'docs', '--vector', '[1,0]', '--top-k', '1e1'], '--top-k'],
      [['query', 'docs', '--vector', '[1,0]', '--top-k', ' 5'], '--top-k'],
      [['query', 'docs', '--vector', '[1,0]', '--top-k', ''], '--top-k'],
      [['query', 'docs', '--vector', '[1,0]', '--top-k', '5.0'], '--top-k'],
      [['query', 'docs', '--vector', '[1,0]', '--rrf-k', '0x3c'], '--rrf-k'],
      [['query', 'docs', '--vector', '[1,0]', '--vector-weight', 'Infinity'], '--vector-weight'],
      [['init', 'other', '--dim', '1e3'], '--dim'],
      [['import', 'docs', '-', '--batch-size', '0b11'], '--batch-size'],
      [['delete', 'docs', '--ids', '1', '--wait', '1e1'], '--wait'],
      [['health', '--max-backlog', '0x10'], '--max-backlog'],
    ];
    for (const [args, option] of cases) {
      const r = await cli(['-d', d, '--json', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      const e = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string; details?: { option?: string } } };
      expect(e.error.code, args.join(' ')).toBe('USAGE');
      expect(e.error.details?.option, args.join(' ')).toBe(option);
    }
  });

  it('accepts plain decimals, and exponents for non-integer numbers', async () => {
    const d = await freshNs();
    const r = await cli(['-d', d, 'query', 'docs', '--vector', '[1,0]', '--top-k', '16', '--vector-weight', '1e-3', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { results: unknown[] }).results).toHaveLength(1);
  });
});

describe('format versions', () => {
  it('refuses a data directory whose format version is 0 as too old', async () => {
    const d = await freshNs();
    writeFileSync(join(d, 'elacsym.json'), '{"format_version": 0}');
    const r = await cli(['-d', d, 'export', 'docs']);
    expect(r.code).toBe(5);
    expect(errorCode(r.stderr)).toBe('FORMAT_TOO_OLD');
  });

  it('refuses a data directory whose format version is not an integer', async () => {
    const d = await freshNs();
    writeFileSync(join(d, 'elacsym.json'), '{"format_version": 0.5}');
    const r = await cli(['-d', d, 'export', 'docs']);
    expect(r.code).toBe(5);
    expect(errorCode(r.stderr)).toBe('CORRUPT_MANIFEST');
  });

  it('refuses a manifest whose format version is 0 or not written as digits', async () => {
    for (const [v, code] of [['0', 'FORMAT_TOO_OLD'], ['0x1', 'CORRUPT_MANIFEST'], [' 1', 'CORRUPT_MANIFEST']] as const) {
      const d = await freshNs();
      const db = new Database(join(d, 'docs', 'manifest.db'));
      db.prepare("UPDATE meta SET value = ? WHERE key = 'format_version'").run(v);
      db.close();
      const r = await cli(['-d', d, 'export', 'docs']);
      expect(r.code, v).toBe(5);
      expect(errorCode(r.stderr), v).toBe(code);
    }
  });
});
