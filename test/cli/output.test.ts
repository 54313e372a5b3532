/** What the CLI prints: vectors, summaries, events, and where each line goes (stdout vs stderr). */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

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
