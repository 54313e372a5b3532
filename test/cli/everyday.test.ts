/**
 * Everyday commands (issue 13): describe, count, and init asking for the vector dimension instead of
 * guessing. Every test spawns the real binary on a real data directory.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const SCHEMA = JSON.stringify({
  vector_dim: 3,
  vector_metric: 'l2',
  attributes: { title: { type: 'string', full_text: { language: 'english' } }, year: { type: 'integer' }, tags: { type: 'array<string>' } },
});

function docs(n: number, from = 0): string {
  const out: string[] = [];
  for (let i = from; i < from + n; i++) {
    out.push(JSON.stringify({ id: i, vector: [i, 1, 0], attributes: { title: `doc number ${i}`, year: 2000 + (i % 10), tags: i % 2 ? ['odd'] : ['even'] } }));
  }
  return `${out.join('\n')}\n`;
}

async function populated(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'docs', '-'], { input: docs(100) })).code).toBe(0);
  // 10 deletions in the segment, 5 more documents left in the journal.
  expect((await cli(['-d', d, 'delete', 'docs', '--ids', '0,1,2,3,4,5,6,7,8,9'])).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: docs(5, 100) })).code).toBe(0);
  return d;
}

describe('describe', () => {
  it('reports the schema, analyzers, vector settings and exact counts of live, deleted and pending documents', async () => {
    const d = await populated();
    const r = await cli(['-d', d, '--json', 'describe', 'docs']);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.namespace).toBe('docs');
    expect(o.vector).toEqual({ dim: 3, metric: 'l2' });
    expect(o.fields.map((f: { name: string; type: string }) => `${f.name}:${f.type}`)).toEqual(['tags:array<string>', 'title:string', 'year:integer']);
    expect(o.fields.find((f: { name: string }) => f.name === 'title').full_text.language).toBe('english');
    expect(o.fields.find((f: { name: string }) => f.name === 'year').full_text).toBeNull();
    expect(o.counts.documents).toBe(95);
    expect(o.counts.pending_journal_documents).toBe(5);
    expect(o.segments.reduce((a: number, s: { live: number }) => a + s.live, 0)).toBe(90);
    expect(o.segments.reduce((a: number, s: { rows: number }) => a + s.rows, 0)).toBe(100);
    expect(o.disk_bytes).toBeGreaterThan(0);
    expect(Object.keys(o.index_coverage).sort()).toEqual(['fulltext:title', 'vector']);
  });

  it('has a readable text form and the alias info; a missing namespace is NOT_FOUND', async () => {
    const d = await populated();
    const r = await cli(['-d', d, 'info', 'docs']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^vector\s+3 dimensions, l2$/m);
    expect(r.stdout).toMatch(/^\s+title\s+string\s+full-text: language=english/m);
    expect(r.stdout).toMatch(/^documents\s+95 live/m);
    const missing = await cli(['-d', d, '--json', 'describe', 'nope']);
    expect(missing.code).toBe(3);
    expect(errorCode(missing.stderr)).toBe('NAMESPACE_NOT_FOUND');
  });
});

describe('count', () => {
  it('counts live documents across segments and the journal, and equals the ids a filter-only listing returns', async () => {
    const d = await populated();
    const all = await cli(['-d', d, 'count', 'docs']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe('95\n');
    const filters = [
      { field: 'year', op: 'gte', value: 2005 },
      { field: 'tags', op: 'contains', value: 'odd' },
      { type: 'and', conditions: [{ field: 'year', op: 'eq', value: 2003 }, { field: 'tags', op: 'contains', value: 'odd' }] },
      { field: 'title', op: 'prefix', value: 'nothing' },
    ];
    for (const f of filters) {
      const c = await cli(['-d', d, '--json', 'count', 'docs', '--filter', JSON.stringify(f)]);
      expect(c.code, c.stderr).toBe(0);
      const got = JSON.parse(c.stdout) as { count: number; total: number };
      const listed = await cli(['-d', d, 'query', 'docs', '--filter', JSON.stringify(f), '--top-k', '10000', '--format', 'ndjson']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(got.count, JSON.stringify(f)).toBe(ndjson(listed.stdout).length);
      expect(got.total).toBe(95);
    }
  });

  it('refuses a malformed filter with a usage status before counting', async () => {
    const d = await populated();
    const bad = await cli(['-d', d, '--json', 'count', 'docs', '--filter', '{"field":"year","op":"contains","value":3}']);
    expect(bad.code).toBe(2);
    expect(errorCode(bad.stderr)).toBe('INVALID_FILTER');
  });
});

describe('init asks for the vector dimension instead of guessing', () => {
  it('refuses init with a metric but no --dim, and creates nothing', async () => {
    const d = join(tmpDir(), 'data');
    const r = await cli(['-d', d, '--json', 'init', 'vecs', '--metric', 'cosine']);
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('USAGE');
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!).error.hint).toContain('--dim');
    expect((await cli(['-d', d, 'ls'])).stdout).toBe('');
  });

  it('accepts --dim 0 and --text-only as the explicit text-only choice, and refuses both with a dimension', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'a', '--dim', '0', '--full-text', 'title'])).code).toBe(0);
    expect((await cli(['-d', d, 'init', 'b', '--text-only'])).code).toBe(0);
    expect((await cli(['-d', d, 'init', 'c', '--text-only', '--dim', '3'])).code).toBe(2);
    const info = JSON.parse((await cli(['-d', d, '--json', 'describe', 'b'])).stdout);
    expect(info.vector).toBeNull();
  });
});

describe('delete --filter', () => {
  it('deletes exactly the ids a filter query lists, across segments and the journal, and --dry-run writes nothing', async () => {
    const d = await populated();
    const f = JSON.stringify({ field: 'tags', op: 'contains', value: 'odd' });
    const listed = ndjson((await cli(['-d', d, 'query', 'docs', '--filter', f, '--top-k', '10000', '--format', 'ndjson'])).stdout).map((r) => r.id);
    expect(listed.length).toBeGreaterThan(40);
    const dry = await cli(['-d', d, '--json', 'delete', 'docs', '--filter', f, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ namespace: 'docs', dry_run: true, would_delete: listed.length });
    expect((await cli(['-d', d, 'count', 'docs'])).stdout).toBe('95\n');
    const del = await cli(['-d', d, '--json', 'delete', 'docs', '--filter', f]);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout).deleted).toBe(listed.length);
    const left = ndjson((await cli(['-d', d, 'export', 'docs'])).stdout).map((r) => r.id as number);
    expect(left.length).toBe(95 - listed.length);
    for (const id of listed) expect(left).not.toContain(id);
    expect((await cli(['-d', d, 'count', 'docs', '--filter', f])).stdout).toBe('0\n');
  });

  it('refuses --filter with --ids, --dry-run without --filter, and a null filter', async () => {
    const d = await populated();
    for (const args of [
      ['--filter', '{"field":"year","op":"eq","value":1}', '--ids', '1'],
      ['--ids', '1', '--dry-run'],
      ['--filter', 'null'],
    ]) {
      const r = await cli(['-d', d, '--json', 'delete', 'docs', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect((await cli(['-d', d, 'count', 'docs'])).stdout).toBe('95\n');
  });
});
