/**
 * Issue 9 §5: numbers that would overflow a score are refused where they enter, naming the line and field
 * (documents) or the request field (queries, weights); inside the bound every score is finite, distinct
 * distances stay distinct, and no matching document is dropped.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

async function ns(metric: string, docs: unknown[]): Promise<string> {
  const d = join(tmpDir(), 'data');
  const schema = { vector_dim: 2, vector_metric: metric, attributes: { title: { type: 'string', full_text: true } } };
  expect((await cli(['-d', d, 'init', 'n', '--schema', '-'], { input: JSON.stringify(schema) })).code).toBe(0);
  const r = await cli(['-d', d, '-q', 'import', 'n', '-'], { input: `${docs.map((x) => JSON.stringify(x)).join('\n')}\n` });
  expect(r.code, r.stderr).toBe(0);
  return d;
}

const jsonError = (stderr: string) => (JSON.parse(stderr.trim().split('\n').pop()!) as { error: { code: string; details?: { line?: number; field?: string } } }).error;

describe('numbers that could overflow a score', () => {
  it('an import refuses a vector component beyond 1e15 with the line and field', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'n', '--dim', '2', '--metric', 'dot'])).code).toBe(0);
    const input = ['{"id":1,"vector":[1,1]}', '{"id":2,"vector":[1e20,1e20]}', '{"id":3,"vector":[-1e20,-1e20]}'].join('\n');
    const r = await cli(['--json', '-d', d, 'import', 'n', '-'], { input });
    expect(r.code).toBe(2);
    const e = jsonError(r.stderr);
    expect(e.code).toBe('INVALID_DOCUMENT');
    expect(e.details).toMatchObject({ line: 2, field: 'vector[0]' });
  });

  it('dot scores at the bound are finite and ordered, and every document is returned', async () => {
    const L = 1e15;
    const d = await ns('dot', [
      { id: 1, vector: [L, L] },
      { id: 2, vector: [1, 1] },
      { id: 3, vector: [-L, -L] },
    ]);
    const r = await cli(['-d', d, 'query', 'n', '--vector', JSON.stringify([L, L]), '--format', 'ndjson']);
    expect(r.code, r.stderr).toBe(0);
    const hits = ndjson(r.stdout);
    expect(hits.map((h) => h.id)).toEqual([1, 2, 3]);
    for (const h of hits) expect(Number.isFinite(h.score)).toBe(true);
  });

  it('l2 documents at different large distances keep distinct finite scores', async () => {
    const L = 1e15;
    const d = await ns('l2', [
      { id: 1, vector: [-L, -L] },
      { id: 2, vector: [-L, 0] },
      { id: 3, vector: [0, 0] },
    ]);
    const r = await cli(['-d', d, 'query', 'n', '--vector', JSON.stringify([L, L]), '--format', 'ndjson']);
    expect(r.code, r.stderr).toBe(0);
    const hits = ndjson(r.stdout);
    expect(hits.map((h) => h.id)).toEqual([3, 2, 1]);
    const scores = hits.map((h) => h.score as number);
    for (const s of scores) expect(Number.isFinite(s)).toBe(true);
    expect(new Set(scores).size).toBe(3);
  });

  it('query vectors and weights that could overflow are refused as invalid queries', async () => {
    const d = await ns('cosine', [{ id: 1, vector: [1, 0], attributes: { title: 'hello' } }]);
    const cases = [
      ['--vector', '[1e20,0]'],
      ['--text', 'hello', '--fields', 'title^1e308'],
      ['--vector', '[1,0]', '--text', 'hello', '--vector-weight', '1e308'],
      ['--vector', '[1,0]', '--text', 'hello', '--text-weight', '1e308'],
    ];
    for (const args of cases) {
      const r = await cli(['--json', '-d', d, 'query', 'n', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(jsonError(r.stderr).code, args.join(' ')).toBe('INVALID_QUERY');
    }
    const ok = await cli(['-d', d, 'query', 'n', '--vector', '[1,0]', '--text', 'hello', '--vector-weight', '1e6', '--format', 'ndjson']);
    expect(ok.code, ok.stderr).toBe(0);
    for (const h of ndjson(ok.stdout)) expect(Number.isFinite(h.score)).toBe(true);
  });
});
