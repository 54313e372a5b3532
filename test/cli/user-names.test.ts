/**
 * Issue 9 §7: names that come from users (attribute and field names, schema keys, filter fields, request
 * keys) are data. Names that collide with Object.prototype members (constructor, toString, valueOf,
 * hasOwnProperty, __proto__) work in every command like any other name, and import applies the attribute
 * name rule of `init --schema`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf'];
// A schema declaring some of them (one full-text, one typed integer); the others arrive schemaless.
const SCHEMA = `{"vector_dim": 2, "vector_metric": "cosine", "attributes": {"constructor": {"type": "string", "full_text": true}, "__proto__": {"type": "integer"}, "toString": {"type": "string", "full_text": true}}}`;

const doc = (id: number, i: number) => {
  // Written by hand so that "__proto__" is a plain JSON key.
  const attrs = NAMES.map((n) => `${JSON.stringify(n)}: ${n === '__proto__' ? i : JSON.stringify(`${n} value${i}`)}`).join(', ');
  return `{"id": ${id}, "vector": [1, ${i}], "attributes": {${attrs}}}`;
};

let d: string;
beforeAll(async () => {
  d = join(tmpDir(), 'data');
  const init = await cli(['-d', d, 'init', 'ns', '--schema', '-'], { input: SCHEMA });
  expect(init.code, init.stderr).toBe(0);
  expect(init.stderr).toContain('3 attributes');
  const r = await cli(['-d', d, 'import', 'ns', '-'], { input: `${[doc(1, 1), doc(2, 2), doc(3, 3)].join('\n')}\n` });
  expect(r.code, r.stderr).toBe(0);
  const j = await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: `${doc(4, 4)}\n` });
  expect(j.code, j.stderr).toBe(0);
});

async function query(args: string[]): Promise<Record<string, unknown>[]> {
  const r = await cli(['-d', d, 'query', 'ns', ...args, '--format', 'ndjson']);
  expect(r.code, r.stderr).toBe(0);
  return ndjson(r.stdout);
}

describe('attribute names that are Object.prototype members are data', () => {
  it('are imported, typed by the schema, filtered on and projected, from segments and the journal', async () => {
    for (const n of NAMES) {
      const value = n === '__proto__' ? 4 : `${n} value4`;
      const hits = await query(['--filter', JSON.stringify({ field: n, op: 'eq', value }), '--include-attributes', n]);
      expect(hits.map((h) => h.id), n).toEqual([4]);
      expect(JSON.stringify(hits[0]!.attributes), n).toBe(`{${JSON.stringify(n)}:${JSON.stringify(value)}}`);
      const seg = await query(['--filter', JSON.stringify({ field: n, op: 'eq', value: n === '__proto__' ? 2 : `${n} value2` })]);
      expect(seg.map((h) => h.id), n).toEqual([2]);
    }
    // The schema's type still applies to "__proto__" (integer).
    const bad = await cli(['--json', '-d', d, 'import', 'ns', '-'], { input: '{"id": 9, "attributes": {"__proto__": "x"}}\n' });
    expect(bad.code).toBe(2);
    expect(errorCode(bad.stderr)).toBe('INVALID_DOCUMENT');
  });

  it('full-text fields and per-field weights named like them work', async () => {
    const hits = await query(['--text', 'value3', '--fields', 'constructor^2,toString', '--top-k', '1']);
    expect(hits.map((h) => h.id)).toEqual([3]);
    const req = JSON.stringify({ full_text: { query: 'value4', weights: { toString: 3 } }, top_k: 1, explain: true });
    const r = await cli(['-d', d, 'query', 'ns', '--request', '-'], { input: req });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { results: { id: number }[] }).results.map((h) => h.id)).toEqual([4]);
  });

  it('export, re-import and compaction keep every such attribute', async () => {
    const ex = await cli(['-d', d, 'export', 'ns']);
    expect(ex.code, ex.stderr).toBe(0);
    const lines = ex.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const l of lines) for (const n of NAMES) expect(l).toContain(JSON.stringify(n));
    const d2 = join(tmpDir(), 'data');
    expect((await cli(['-d', d2, 'init', 'ns', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
    const im = await cli(['-d', d2, 'import', 'ns', '-'], { input: ex.stdout });
    expect(im.code, im.stderr).toBe(0);
    expect((await cli(['-d', d2, 'compact', 'ns'])).code).toBe(0);
    const ex2 = await cli(['-d', d2, 'export', 'ns']);
    expect(ex2.stdout.trim().split('\n').sort()).toEqual([...lines].sort());
    const hits = await cli(['-d', d2, 'query', 'ns', '--filter', '{"field": "__proto__", "op": "gte", "value": 3}', '--format', 'ndjson']);
    expect(ndjson(hits.stdout).map((h) => h.id)).toEqual([3, 4]);
  });

  it('init --full-text takes such names as fields, and refuses what the schema rule refuses', async () => {
    const d2 = join(tmpDir(), 'data');
    const init = await cli(['-d', d2, 'init', 'ft', '--text-only', '--full-text', 'constructor,__proto__']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toContain('2 attributes');
    const im = await cli(['-d', d2, '-q', 'import', 'ft', '-'], { input: '{"id": 1, "attributes": {"__proto__": "red apple"}}\n{"id": 2, "attributes": {"constructor": "green apple"}}\n' });
    expect(im.code, im.stderr).toBe(0);
    const r = await cli(['-d', d2, 'query', 'ft', '--text', 'apple', '--fields', '__proto__', '--format', 'ndjson']);
    expect(ndjson(r.stdout).map((h) => h.id)).toEqual([1]);
    // health counts coverage per field name: a number, not Object.prototype.constructor + 2
    const h = await cli(['--json', '-d', d2, 'health', 'ft']);
    expect(h.code, h.stderr).toBe(0);
    const cov = (JSON.parse(h.stdout) as { namespaces: { index_coverage: Record<string, { indexed: unknown }> }[] }).namespaces[0]!.index_coverage;
    expect(cov['fulltext:constructor']!.indexed).toBe(2);
    expect(cov['fulltext:__proto__']!.indexed).toBe(2);
    const bad = await cli(['-d', join(tmpDir(), 'data'), 'init', 'x', '--text-only', '--full-text', 'a\u0001b']);
    expect(bad.code).toBe(2);
    expect(errorCode(bad.stderr)).toBe('INVALID_SCHEMA');
  });

  it('schemaless attributes with such names are typed on first sight and recorded in the schema', async () => {
    const d2 = join(tmpDir(), 'data');
    expect((await cli(['-d', d2, 'init', 's', '--text-only'])).code).toBe(0);
    const first = await cli(['-d', d2, '-q', 'import', 's', '-'], { input: '{"id": 1, "attributes": {"__proto__": "a", "constructor": 1.5}}\n' });
    expect(first.code, first.stderr).toBe(0);
    for (const line of ['{"id": 2, "attributes": {"__proto__": 5}}', '{"id": 3, "attributes": {"constructor": "x"}}']) {
      const r = await cli(['--json', '-d', d2, 'import', 's', '-'], { input: `${line}\n` });
      expect(r.code, line).toBe(2);
      expect(errorCode(r.stderr), line).toBe('INVALID_DOCUMENT');
    }
    const hits = await cli(['-d', d2, 'query', 's', '--filter', '{"field": "constructor", "op": "gt", "value": 1}', '--format', 'ndjson']);
    expect(ndjson(hits.stdout).map((h) => h.attributes)).toEqual([JSON.parse('{"__proto__": "a", "constructor": 1.5}')]);
  });

  it('import refuses the attribute names init --schema refuses, naming the line and field', async () => {
    for (const name of ['', 'a\u0001b', 'x'.repeat(257)]) {
      const r = await cli(['--json', '-d', d, 'import', 'ns', '-'], { input: `{"id": 1}\n${JSON.stringify({ id: 7, attributes: { [name]: 'v' } })}\n` });
      expect(r.code, JSON.stringify(name)).toBe(2);
      const e = JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: { code: string; details: { line: number; field: string } } };
      expect(e.error.code).toBe('INVALID_DOCUMENT');
      expect(e.error.details.line).toBe(2);
      const s = await cli(['-d', join(tmpDir(), 'data'), 'init', 'x', '--schema', '-'], { input: JSON.stringify({ attributes: { [name]: { type: 'string' } } }) });
      expect(s.code).toBe(2);
    }
  });
});
