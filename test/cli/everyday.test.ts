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

  it('counts a repeated id once: in the message and in not_found', async () => {
    const d = await populated();
    const listed = ndjson((await cli(['-d', d, 'export', 'docs'])).stdout).map((r) => r.id as number);
    const [a, b] = listed;
    const r = await cli(['-d', d, 'delete', 'docs', '--ids', `${a},${a},${b},424242`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe(`deleted 2 of 3 ids from docs (1 not found; 1 repeated id counted once)`);
    const j = await cli(['-d', d, '--json', 'delete', 'docs', '--ids', `${a},${a},424242`]);
    expect(JSON.parse(j.stdout)).toEqual({ namespace: 'docs', requested: 3, deleted: 0, not_found: 2 });
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

describe('filter-only listing: --sort, --limit, --offset, --after', () => {
  async function sortNs(): Promise<string> {
    const d = join(tmpDir(), 'data');
    const schema = JSON.stringify({ vector_dim: 0, attributes: { year: { type: 'integer' }, title: { type: 'string' } } });
    expect((await cli(['-d', d, 'init', 'docs', '--schema', '-'], { input: schema })).code).toBe(0);
    const lines: string[] = [];
    // ids 1..30; year repeats (ties broken by id), every 7th document has no year.
    for (let i = 1; i <= 30; i++) lines.push(JSON.stringify({ id: i, attributes: i % 7 === 0 ? { title: `t${i}` } : { year: 2000 + (i % 4), title: `t${i}` } }));
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: `${lines.join('\n')}\n` })).code).toBe(0);
    return d;
  }
  const ids = (stdout: string) => (JSON.parse(stdout) as { results: { id: number }[] }).results.map((r) => r.id);


  it('sorts by the document id (asc and desc, mixed with attributes), paging included', async () => {
    const d = await sortNs();
    const ids = async (args: string[]) => ndjson((await cli(['-d', d, 'query', 'docs', ...args, '--format', 'ndjson'])).stdout).map((r) => r.id);
    expect(await ids(['--sort', 'id:desc', '--limit', '5'])).toEqual([30, 29, 28, 27, 26]);
    expect(await ids(['--sort', 'id', '--limit', '3'])).toEqual([1, 2, 3]);
    // year (missing last), then id descending within a year
    const byYear = await ids(['--sort', 'year,id:desc', '--limit', '4']);
    expect(byYear).toEqual([24, 20, 16, 12]); // 28 has no year (every 7th)
    const p1 = JSON.parse((await cli(['-d', d, 'query', 'docs', '--sort', 'id:desc', '--limit', '10', '--format', 'json'])).stdout) as { results: { id: number }[]; next_cursor: string };
    const p2 = await ids(['--sort', 'id:desc', '--limit', '10', '--after', p1.next_cursor]);
    expect(p2).toEqual([20, 19, 18, 17, 16, 15, 14, 13, 12, 11]);
  });
  it('sorts by several keys in either direction, ties by id, missing values last', async () => {
    const d = await sortNs();
    const r = await cli(['-d', d, 'query', 'docs', '--sort', 'year:desc', '--limit', '100', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const expected = Array.from({ length: 30 }, (_, i) => i + 1).sort((a, b) => {
      const ya = a % 7 === 0 ? null : 2000 + (a % 4);
      const yb = b % 7 === 0 ? null : 2000 + (b % 4);
      if (ya === null || yb === null) return ya === yb ? a - b : ya === null ? 1 : -1;
      return yb - ya || a - b;
    });
    expect(ids(r.stdout)).toEqual(expected);
    const two = await cli(['-d', d, 'query', 'docs', '--sort', 'year,title:desc', '--limit', '5', '--format', 'json', '--filter', '{"field":"year","op":"eq","value":2001}']);
    expect(ids(two.stdout)).toEqual([9, 5, 29, 25, 17]); // titles t9 > t5 > t29 > t25 > t17 by code unit
    expect(JSON.parse(two.stdout).matches).toBe(7);
  });

  it('pages with --offset and with --after exactly like one big page, beyond 10,000 rows per page allowed', async () => {
    const d = await sortNs();
    const all = ids((await cli(['-d', d, 'query', 'docs', '--sort', 'year', '--limit', '20000', '--format', 'json'])).stdout);
    expect(all.length).toBe(30);
    const byOffset: number[] = [];
    for (let off = 0; off < 30; off += 7) byOffset.push(...ids((await cli(['-d', d, 'query', 'docs', '--sort', 'year', '--limit', '7', '--offset', String(off), '--format', 'json'])).stdout));
    expect(byOffset).toEqual(all);
    const byCursor: number[] = [];
    let cursor: string | null = null;
    do {
      const r = await cli(['-d', d, 'query', 'docs', '--sort', 'year', '--limit', '7', '--format', 'json', ...(cursor ? ['--after', cursor] : [])]);
      expect(r.code, r.stderr).toBe(0);
      const page = JSON.parse(r.stdout) as { results: { id: number }[]; next_cursor: string | null };
      byCursor.push(...page.results.map((x) => x.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(byCursor).toEqual(all);
  });

  it('a cursor walk while another process imports and deletes never repeats an id and never skips a document that existed throughout', async () => {
    const d = await sortNs();
    const before = new Set(ids((await cli(['-d', d, 'query', 'docs', '--limit', '1000', '--format', 'json'])).stdout));
    const seen: number[] = [];
    const deleted = new Set<number>();
    let cursor: string | null = null;
    let step = 0;
    do {
      const r = await cli(['-d', d, 'query', 'docs', '--sort', 'year:desc', '--limit', '4', '--format', 'json', ...(cursor ? ['--after', cursor] : [])]);
      expect(r.code, r.stderr).toBe(0);
      const page = JSON.parse(r.stdout) as { results: { id: number }[]; next_cursor: string | null };
      seen.push(...page.results.map((x) => x.id));
      cursor = page.next_cursor;
      // Between pages another process writes: new documents on both sides of the cursor, and a deletion.
      step++;
      const add = [100 + step, 200 + step].map((id, j) => JSON.stringify({ id, attributes: { year: j ? 1990 : 2010, title: 'new' } }));
      expect((await cli(['-d', d, 'import', 'docs', '-'], { input: `${add.join('\n')}\n` })).code).toBe(0);
      const victim = 30 - step;
      deleted.add(victim);
      expect((await cli(['-d', d, 'delete', 'docs', '--ids', String(victim)])).code).toBe(0);
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of before) if (!deleted.has(id)) expect(seen, `id ${id}`).toContain(id);
  });

  it('refuses a cursor of another sort, --after with --offset, listing flags with --vector, and sorting by an array', async () => {
    const d = await sortNs();
    const first = JSON.parse((await cli(['-d', d, 'query', 'docs', '--sort', 'year', '--limit', '3', '--format', 'json'])).stdout) as { next_cursor: string };
    for (const args of [
      ['--sort', 'title', '--after', first.next_cursor],
      ['--after', 'garbage!'],
      ['--sort', 'year', '--after', first.next_cursor, '--offset', '3'],
      ['--sort', 'year', '--vector', '[1]'],
      ['--sort', 'year:sideways'],
    ]) {
      const r = await cli(['-d', d, '--json', 'query', 'docs', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorCode(r.stderr), args.join(' ')).toBe('USAGE');
    }
  });
});

describe('get', () => {
  it('prints documents by id in the import shape and order asked, from segments and the journal, newest write winning', async () => {
    const d = await populated();
    // 50 is in the segment, 102 only in the journal, 7 was deleted; 60 is overwritten in the journal.
    expect((await cli(['-d', d, 'import', 'docs', '-', '--no-flush'], { input: `${JSON.stringify({ id: 60, vector: [9, 9, 9], attributes: { title: 'rewritten' } })}\n` })).code).toBe(0);
    const r = await cli(['-d', d, 'get', 'docs', '102', '50', '60', '50']);
    expect(r.code, r.stderr).toBe(0);
    const docsOut = ndjson(r.stdout);
    expect(docsOut.map((x) => x.id)).toEqual([102, 50, 60]);
    expect(docsOut[1]).toEqual({ id: 50, vector: [50, 1, 0], attributes: { title: 'doc number 50', year: 2000, tags: ['even'] } });
    expect(docsOut[2]).toEqual({ id: 60, vector: [9, 9, 9], attributes: { title: 'rewritten' } });
    // Round trip: what get prints, import accepts.
    const e = JSON.parse(r.stdout.split('\n')[1]!);
    expect(e.attributes.year).toBe(2000);
  });

  it('prints the found documents and fails with DOCUMENT_NOT_FOUND listing the missing and deleted ids', async () => {
    const d = await populated();
    const r = await cli(['-d', d, '--json', 'get', 'docs', '7', '11', '"nope"']);
    expect(r.code).toBe(3);
    expect(errorCode(r.stderr)).toBe('DOCUMENT_NOT_FOUND');
    expect(ndjson(r.stdout).map((x) => x.id)).toEqual([11]);
    const e = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
    expect(e.details.missing).toEqual([7, 'nope']);
  });

  it('reads ids from --ids-file on stdin and refuses a call without ids', async () => {
    const d = await populated();
    const r = await cli(['-d', d, 'get', 'docs', '--ids-file', '-'], { input: '12\n13\n\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(ndjson(r.stdout).map((x) => x.id)).toEqual([12, 13]);
    expect((await cli(['-d', d, 'get', 'docs'])).code).toBe(2);
  });
});

describe('table output', () => {
  it('prints one column per attribute fitted to the width, and --explain as readable lines', async () => {
    const d = await populated();
    const r = await cli(['-d', d, 'query', 'docs', '--vector', '[50,1,0]', '--text', 'number', '-k', '3', '--format', 'table', '--explain'], { env: { COLUMNS: '50' } });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^rank\s+id\s+score\s+title\s+year\s+tags$/);
    for (const l of lines.slice(0, 4)) expect(l.length, l).toBeLessThanOrEqual(50);
    expect(lines.slice(1, 4).every((l) => /^\s+\d\s+\d+\s+0\.\d{6}\s/.test(l))).toBe(true);
    expect(r.stdout).toMatch(/^plan:$/m);
    expect(r.stdout).toMatch(/^per result:$/m);
    expect(r.stdout).toMatch(/id\s+vector rank\s+vector score\s+text rank\s+text score/);
    expect(r.stdout).not.toContain('{\n'); // no raw JSON dump
  });
});

describe('configuration is validated by every command', () => {
  it('a broken elacsym.toml or a non-decimal ELACSYM_* number is a usage error for ls, count and get too', async () => {
    const d = await populated();
    const { writeFileSync: write } = await import('node:fs');
    write(join(d, 'elacsym.toml'), '[output\n');
    for (const args of [['ls'], ['count', 'docs'], ['get', 'docs', '11']]) {
      const r = await cli(['-d', d, '--json', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorCode(r.stderr), args.join(' ')).toBe('USAGE');
    }
    write(join(d, 'elacsym.toml'), '');
    for (const v of ['0x10', '1e1', 'abc']) {
      const r = await cli(['-d', d, '--json', 'ls'], { env: { ELACSYM_COMPACTION_MAX_SEGMENTS: v } });
      expect(r.code, v).toBe(2);
      expect(r.stderr, v).toContain('decimal');
    }
    expect((await cli(['-d', d, 'ls'], { env: { ELACSYM_COMPACTION_MAX_SEGMENTS: '32' } })).code).toBe(0);
  });
});
