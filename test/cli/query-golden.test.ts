/**
 * Golden outputs of `elacsym query` on the bundled quick-start fixture, one per query kind. Outputs are
 * deterministic (ties broken by id); only took_ms varies and is removed before comparing.
 * Regenerate after an intended change with: UPDATE_GOLDEN=1 npx vitest run test/cli/query-golden.test.ts
 * and review the diff.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ROOT, tmpDir } from '../helpers/cli.js';

const FIX = join(ROOT, 'fixtures', 'quickstart');
const GOLDEN = join(ROOT, 'fixtures', 'golden');
let d: string;

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'qs', '--schema', join(FIX, 'schema.json')])).code).toBe(0);
  // Two imports and a delete, so results come from two segments with a dead row.
  const lines = readFileSync(join(FIX, 'docs.ndjson'), 'utf8').trim().split('\n');
  expect((await cli(['-d', d, 'import', 'qs', '-'], { input: lines.slice(0, 150).join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'qs', '-'], { input: lines.slice(150).join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'delete', 'qs', '--ids', '3'])).code).toBe(0);
});
afterAll(cleanupTmp);

const vec = () => readFileSync(join(FIX, 'query-vector.json'), 'utf8').trim();

const CASES: Record<string, string[]> = {
  vector: ['--vector', vec(), '--top-k', '5', '--include-attributes', 'title,category'],
  text: ['--text', 'a large group of people', '--top-k', '5', '--include-attributes', 'title'],
  phrase: ['--text', '"United States"', '--top-k', '5', '--include-attributes', 'body'],
  fields_weighted: ['--text', 'water plant', '--fields', 'title^3,body', '--top-k', '5', '--include-attributes', 'title'],
  filter_only: ['--filter', '{"type":"and","conditions":[{"field":"category","op":"eq","value":"music"},{"field":"price","op":"lt","value":300}]}', '--top-k', '5', '--include-attributes', 'category,price'],
  filtered_vector: ['--vector', vec(), '--filter', '{"field":"tags","op":"containsany","value":["red","rare"]}', '--top-k', '5', '--include-attributes', 'tags'],
  hybrid_explain: ['--vector', vec(), '--text', 'music instrument sound', '--top-k', '5', '--explain', '--include-attributes', 'title'],
  list_all: ['--top-k', '3', '--include-attributes', ''],
};

function normalize(stdout: string): unknown {
  const o = JSON.parse(stdout) as { took_ms?: number };
  delete o.took_ms;
  return o;
}

describe('query goldens', () => {
  it.each(Object.keys(CASES))('%s', async (name) => {
    const r = (await cli(['-d', d, 'query', 'qs', ...CASES[name]!, '--format', 'json']));
    expect(r.code, r.stderr).toBe(0);
    const got = normalize(r.stdout);
    const file = join(GOLDEN, `${name}.json`);
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
      if (!process.env.UPDATE_GOLDEN && process.env.CI) throw new Error(`missing golden ${file}`);
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(file, `${JSON.stringify(got, null, 2)}\n`);
    }
    expect(got).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });

  it('--batch answers each line in order, equal to single queries, and reports bad lines', async () => {
    const reqs = [
      { vector: JSON.parse(vec()), top_k: 3, include_attributes: ['title'] },
      { full_text: { field: 'body', query: 'a large group of people' }, top_k: 3 },
      { bogus: 1 },
      { filter: { field: 'year', op: 'gte', value: 2020 }, top_k: 2, include_attributes: [] },
    ];
    const r = (await cli(['-d', d, 'query', 'qs', '--batch', '-'], { input: reqs.map((x) => JSON.stringify(x)).join('\n') }));
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines[2].error.code).toBe('INVALID_QUERY');
    expect(lines[2].error.line).toBe(3);
    for (const i of [0, 1, 3]) {
      const single = (await cli(['-d', d, 'query', 'qs', '--request', '-', '--format', 'json'], { input: JSON.stringify(reqs[i]) }));
      expect(single.code, single.stderr).toBe(0);
      const a = normalize(single.stdout);
      delete lines[i].took_ms;
      expect(lines[i]).toEqual(a);
    }
  });

  it('flags and the ancestor request shape give the same answer', async () => {
    const flags = (await cli(['-d', d, 'query', 'qs', '--text', 'water plant', '--fields', 'title^3,body', '--top-k', '5', '--include-attributes', 'title', '--format', 'json']));
    const req = (await cli(['-d', d, 'query', 'qs', '--request', '-', '--format', 'json'], {
      input: JSON.stringify({ full_text: { fields: ['title', 'body'], query: 'water plant', weights: { title: 3 } }, top_k: 5, include_attributes: ['title'] }),
    }));
    expect(normalize(flags.stdout)).toEqual(normalize(req.stdout));
  });

  it('flags typed with --request override the request; flags that cannot apply are usage errors', async () => {
    const req = JSON.stringify({ full_text: { field: 'body', query: 'water plant people group' }, top_k: 3 });
    const r = await cli(['-d', d, 'query', 'qs', '--request', '-', '--top-k', '2', '--format', 'json'], { input: req });
    expect(JSON.parse(r.stdout).results).toHaveLength(2);
    const plain = await cli(['-d', d, 'query', 'qs', '--request', '-', '--format', 'json'], { input: req });
    expect(JSON.parse(plain.stdout).results).toHaveLength(3);
    expect((await cli(['-d', d, 'query', 'qs', '--vector', vec(), '--text-weight', '2'])).code).toBe(2);
    expect((await cli(['-d', d, 'query', 'qs', '--batch', '-', '--format', 'table'], { input: req })).code).toBe(2);
  });

  it('a vector query on a text-only namespace yields no vector candidates, not an error', async () => {
    expect((await cli(['-d', d, 'init', 'textonly', '--text-only', '--full-text', 'title'])).code).toBe(0);
    await cli(['-d', d, 'import', 'textonly', '-'], { input: '{"id":1,"attributes":{"title":"red fox"}}\n{"id":2,"attributes":{"title":"blue fox"}}\n' });
    const v = await cli(['-d', d, 'query', 'textonly', '--vector', '[1,2,3]', '--format', 'json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).results).toEqual([]);
    const h = await cli(['-d', d, 'query', 'textonly', '--vector', '[1,2,3]', '--text', 'red', '--format', 'json', '--include-attributes', '']);
    expect(JSON.parse(h.stdout).results.map((r: { id: number }) => r.id)).toEqual([1]);
  });

  it('rejects bad requests with INVALID_QUERY / INVALID_FILTER and exit 2', async () => {
    const bad: [string[], string][] = [
      [['--vector', '[1,2]'], 'INVALID_QUERY'],
      [['--text', 'x', '--fields', 'category'], 'INVALID_QUERY'],
      [['--filter', '{"field":"price","op":"between","value":1}'], 'INVALID_FILTER'],
      [['--filter', '{"type":"and","conditions":[{"field":"price","op":"gt","value":"cheap"}]}'], 'INVALID_FILTER'],
      [['--top-k', '0'], 'USAGE'],
    ];
    for (const [args, code] of bad) {
      const r = (await cli(['-d', d, 'query', 'qs', ...args]));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(code);
    }
  });
});
