/** Unknown names are errors, not silent empty answers; the document id can be filtered on. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DOCS = [
  { id: 1, vector: [1, 0], attributes: { title: 'one', colour: 'red' } },
  { id: 42, vector: [0, 1], attributes: { title: 'forty-two', colour: 'blue' } },
  { id: '42', vector: [1, 1], attributes: { title: 'string forty-two', colour: 'red' } },
  { id: 'abc', vector: [0.5, 0.5], attributes: { title: 'letters' } },
];
/** Ids as sorted JSON texts (42 and "42" stay apart). */
const keys = (ids: unknown[]) => ids.map((i) => JSON.stringify(i)).sort();
const lines = (docs: unknown[]) => `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`;

async function ns(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--dim', '2', '--full-text', 'title'])).code).toBe(0);
  return d;
}

async function queryError(d: string, args: string[]): Promise<{ code: string; message: string }> {
  const r = await cli(['-d', d, '--json', 'query', 'docs', ...args]);
  expect(r.code, r.stderr).toBe(2);
  return (JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
}

describe('unknown names', () => {
  it('a filter on a field the namespace does not know is INVALID_QUERY listing the known fields', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS) })).code).toBe(0);
    const e = await queryError(d, ['--vector', '[1,0]', '--filter', '{"field":"color","op":"eq","value":"red"}']);
    expect(e.code).toBe('INVALID_QUERY');
    expect(e.message).toContain('did you mean "colour"');
    expect(e.message).toMatch(/known fields: colour, id, title/);
    // an attribute typed by an import (undeclared at init) is known
    const ok = await cli(['-d', d, 'query', 'docs', '--vector', '[1,0]', '--filter', '{"field":"colour","op":"eq","value":"red"}', '--format', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('--fields naming an unknown attribute is INVALID_QUERY with a near miss', async () => {
    const d = await ns();
    const e = await queryError(d, ['--text', 'one', '--fields', 'titel']);
    expect(e.code).toBe('INVALID_QUERY');
    expect(e.message).toContain('did you mean "title"');
  });

  it('include_attributes naming an unknown attribute is INVALID_QUERY, from flags and from a request', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS) })).code).toBe(0);
    const e = await queryError(d, ['--vector', '[1,0]', '--include-attributes', 'title,Colour']);
    expect(e.code).toBe('INVALID_QUERY');
    expect(e.message).toContain('did you mean "colour"');
    const r = await cli(['-d', d, '--json', 'query', 'docs', '--batch', '-'], { input: '{"vector":[1,0],"include_attributes":["nope"]}\n' });
    expect(r.code).toBe(2);
    expect((ndjson(r.stdout)[0] as { error: { code: string } }).error.code).toBe('INVALID_QUERY');
  });
});

describe('filters on the document id', () => {
  for (const where of ['journal', 'segments', 'both'] as const) {
    it(`eq, in, ne and nin select by id (42 and "42" differ), documents in the ${where}`, async () => {
      const d = await ns();
      if (where === 'journal') expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: lines(DOCS) })).code).toBe(0);
      else if (where === 'segments') expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS) })).code).toBe(0);
      else {
        expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS.slice(0, 2)) })).code).toBe(0);
        expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: lines(DOCS.slice(2)) })).code).toBe(0);
      }
      const ids = async (filter: unknown, extra: string[] = ['--vector', '[1,0]']) => {
        const r = await cli(['-d', d, 'query', 'docs', ...extra, '--filter', JSON.stringify(filter), '--format', 'json']);
        expect(r.code, r.stderr).toBe(0);
        return keys((JSON.parse(r.stdout) as { results: { id: unknown }[] }).results.map((x) => x.id));
      };
      expect(await ids({ field: 'id', op: 'eq', value: 42 })).toEqual(keys([42]));
      expect(await ids({ field: 'id', op: 'eq', value: '42' })).toEqual(keys(['42']));
      expect(await ids({ field: 'id', op: 'in', value: [1, 'abc', 999] })).toEqual(keys([1, 'abc']));
      expect(await ids({ field: 'id', op: 'ne', value: 1 })).toEqual(keys(['42', 'abc', 42]));
      expect(await ids({ field: 'id', op: 'nin', value: [1, 42, '42'] })).toEqual(keys(['abc']));
      expect(await ids({ type: 'and', conditions: [{ field: 'id', op: 'in', value: [1, 42, '42'] }, { field: 'colour', op: 'eq', value: 'red' }] })).toEqual(keys(['42', 1]));
      // a text query with an id filter
      expect(await ids({ field: 'id', op: 'eq', value: '42' }, ['--text', 'forty'])).toEqual(keys(['42']));
    });
  }

  it('an upsert or delete of an id is seen by the id filter', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS) })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: lines([{ id: 42, vector: [1, 0], attributes: { title: 'new' } }]) })).code).toBe(0);
    expect((await cli(['-d', d, 'delete', 'docs', '--ids', '1'])).code).toBe(0);
    const r = await cli(['-d', d, 'query', 'docs', '--vector', '[1,0]', '--filter', '{"field":"id","op":"in","value":[1,42]}', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const res = (JSON.parse(r.stdout) as { results: { id: unknown; attributes: { title: string } }[] }).results;
    expect(res.map((x) => [x.id, x.attributes.title])).toEqual([[42, 'new']]);
  });

  it('refuses operators that make no sense on an id', async () => {
    const d = await ns();
    const e = await queryError(d, ['--vector', '[1,0]', '--filter', '{"field":"id","op":"gt","value":1}']);
    expect(e.code).toBe('INVALID_FILTER');
  });
});

describe('attribute names', () => {
  it('with an unpaired surrogate are refused where they are made (a tester\'s segment that could no longer be exported)', async () => {
    const d = await ns();
    const r = await cli(['-d', d, '--json', 'import', 'docs', '-'], { input: '{"id":1,"attributes":{"a\\ud800":"v"}}\n{"id":2,"attributes":{"t":"x"}}\n' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('unpaired surrogate');
    const bad = await cli(['-d', join(tmpDir(), 'data'), '--json', 'init', 'x', '--schema', '-'], { input: '{"attributes":{"b\\udc00":{"type":"string"}}}' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_SCHEMA');
    // A well-formed name of any script is fine, and reads back.
    const ok = await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":3,"attributes":{"weird name \u2713 \ud83d\ude00":"v"}}\n' });
    expect(ok.code, ok.stderr).toBe(0);
    const e = await cli(['-d', d, 'export', 'docs']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain('weird name');
  });
});

describe('the name id', () => {
  it('is the document id, so a new attribute of that name is refused where it is made (a tester\'s unfilterable attribute)', async () => {
    const d = await ns();
    const r = await cli(['-d', d, '--json', 'import', 'docs', '-'], { input: '{"id":1,"attributes":{"id":"foo"}}\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('field attributes.id: the name id is the document id');
    const bad = await cli(['-d', join(tmpDir(), 'data'), '--json', 'init', 'x', '--schema', '-'], { input: '{"attributes":{"id":{"type":"string"}}}' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_SCHEMA');
    const ft = await cli(['-d', join(tmpDir(), 'data'), 'init', 'y', '--text-only', '--full-text', 'id']);
    expect(ft.code).toBe(2);
    // ... while a filter on id keeps meaning the document id.
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: lines(DOCS) })).code).toBe(0);
    const q = await cli(['-d', d, '--json', 'query', 'docs', '--filter', '{"field":"id","op":"eq","value":42}', '-k', '10']);
    expect(q.code, q.stderr).toBe(0);
    expect((JSON.parse(q.stdout) as { results: { id: unknown }[] }).results.map((x) => x.id)).toEqual([42]);
  });
});

describe('ELACSYM_DATA_DIR', () => {
  it('set but empty counts as unset: the default ./elacsym-data, not a data directory named "" (a tester\'s case)', async () => {
    const cwd = tmpDir();
    expect((await cli(['init', 'docs', '--dim', '2'], { cwd })).code).toBe(0); // creates ./elacsym-data
    const r = await cli(['ls'], { cwd, env: { ELACSYM_DATA_DIR: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('docs\t0\n');
  });
});

describe('an integer id past 2^53', () => {
  it('is refused without printing the rounded number JSON made of it (a tester saw 9007199254740992 for 9007199254740993)', async () => {
    const d = await ns();
    const r = await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":9007199254740993,"vector":[1,0]}\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at or past 2^53');
    expect(r.stderr).not.toContain('9007199254740992');
  });
});
