/**
 * The full-text option `positions` (issue 11: positions only for fields that ask for phrase search):
 * fields created now have none by default, phrase queries give the same ids and scores as an index with
 * positions (segments and pending journal alike), the postings are smaller, and changing the option with
 * `alter` re-indexes nothing.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

let d: string;
const WORDS = ['bank', 'of', 'america', 'river', 'the', 'big', 'city', 'new', 'york', 'times', 'square', 'bank', 'old', 'a'];
// Deterministic pseudo-random sentences, with repeated words so phrases occur several times.
function sentences(n: number, seed: number): string[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: 3 + Math.floor(rnd() * 12) }, () => WORDS[Math.floor(rnd() * WORDS.length)]!).join(' '));
}
const lines = (from: number, texts: string[]) =>
  texts.map((t, i) => JSON.stringify({ id: from + i, attributes: { title: t, tags: [t.split(' ').slice(0, 5).join(' '), t.split(' ').slice(5).join(' ')] } })).join('\n');
const PHRASES = ['"bank of america"', '"new york times"', '"the big city"', '"river bank"', '"bank bank"', '"a bank of the river"', 'big "york times square" old', '"america"'];

/** Every phrase query on `field` (and on both fields) in one `query --batch`: one response line each. */
async function answers(ns: string): Promise<unknown[]> {
  const reqs = PHRASES.flatMap((query) => [
    { full_text: { field: 'title', query }, top_k: 1000, include_attributes: false },
    { full_text: { field: 'tags', query }, top_k: 1000, include_attributes: false },
  ]);
  const r = await cli(['-d', d, 'query', ns, '--batch', '-'], { input: reqs.map((q) => JSON.stringify(q)).join('\n') });
  expect(r.code, r.stderr).toBe(0);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { results: unknown[] });
  expect(out.length).toBe(reqs.length);
  return out.map((o) => o.results);
}
const ftBytes = (ns: string): number =>
  readdirSync(join(d, ns, 'segments'))
    .filter((f) => f.endsWith('.idx'))
    .reduce((n, f) => n + statSync(join(d, ns, 'segments', f)).size, 0);

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  const schema = (positions: boolean | undefined) =>
    JSON.stringify({
      vector_dim: 0,
      attributes: {
        title: { type: 'string', full_text: positions === undefined ? true : { positions } },
        tags: { type: 'array<string>', full_text: positions === undefined ? true : { positions } },
      },
    });
  for (const [ns, p] of [['dflt', undefined], ['pos', true], ['nopos', false]] as const) {
    const f = join(d, `../${ns}.json`);
    writeFileSync(f, schema(p));
    const r = await cli(['-d', d, 'init', ns, '--schema', f]);
    expect(r.code, r.stderr).toBe(0);
    // Two segments and a pending journal.
    expect((await cli(['-d', d, 'import', ns, '-'], { input: lines(1, sentences(300, 7)) })).code).toBe(0);
    expect((await cli(['-d', d, 'import', ns, '-'], { input: lines(301, sentences(300, 8)) })).code).toBe(0);
    expect((await cli(['-d', d, 'import', ns, '-', '--no-flush'], { input: lines(601, sentences(50, 9)) })).code).toBe(0);
  }
});
afterAll(cleanupTmp);

describe('full-text positions', () => {
  it('is "auto" by default for new fields and stated in the stored schema; auto keeps none for short values', () => {
    for (const [ns, want] of [['dflt', 'auto'], ['pos', true], ['nopos', false]] as const) {
      const db = new Database(join(d, ns, 'manifest.db'), { readonly: true });
      const schema = JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value);
      db.close();
      expect(schema.attributes.title.full_text.positions).toBe(want);
      expect(schema.attributes.tags.full_text.positions).toBe(want);
    }
    // The postings without positions are smaller (the rest of the index files is the same); the sentences
    // average fewer than AUTO_POSITIONS_MIN_TOKENS tokens, so "auto" stores none.
    expect(ftBytes('nopos')).toBeLessThan(ftBytes('pos'));
    expect(ftBytes('dflt')).toBe(ftBytes('nopos'));
  });

  it('"auto" keeps positions for long values (a page of text), segment by segment', async () => {
    const long = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, attributes: { title: sentences(12, from + i).join(' ') } })).join('\n');
    for (const [ns, p] of [['longauto', undefined], ['longpos', true], ['longnopos', false]] as const) {
      const f = join(d, `../${ns}.json`);
      writeFileSync(f, JSON.stringify({ vector_dim: 0, attributes: { title: { type: 'string', full_text: p === undefined ? true : { positions: p } } } }));
      expect((await cli(['-d', d, 'init', ns, '--schema', f])).code).toBe(0);
      expect((await cli(['-d', d, 'import', ns, '-'], { input: long(1, 60) })).code).toBe(0);
    }
    expect(ftBytes('longauto')).toBe(ftBytes('longpos'));
    expect(ftBytes('longnopos')).toBeLessThan(ftBytes('longpos'));
    // A later segment of short values in the same namespace: none there.
    expect((await cli(['-d', d, 'import', 'longauto', '-'], { input: lines(1000, sentences(60, 3)) })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'longpos', '-'], { input: lines(1000, sentences(60, 3)) })).code).toBe(0);
    expect(ftBytes('longauto')).toBeLessThan(ftBytes('longpos'));
    const q = async (ns: string) => {
      const r = await cli(['-d', d, 'query', ns, '--text', '"bank of america" "the big"', '--top-k', '100', '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).results;
    };
    const want = await q('longpos');
    expect(want.length).toBeGreaterThan(10);
    expect(await q('longauto')).toEqual(want);
  });

  it('refuses a positions value that is not true, false or "auto"', async () => {
    const f = join(d, '../bad.json');
    writeFileSync(f, JSON.stringify({ vector_dim: 0, attributes: { title: { type: 'string', full_text: { positions: 'yes' } } } }));
    const r = await cli(['-d', d, 'init', 'bad', '--schema', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('positions');
    expect(r.stderr).toContain('"auto"');
  });

  it('phrase queries: the same ids and scores with or without positions, on segments and journal', async () => {
    const want = await answers('pos');
    // Every phrase matches titles; some match within the tags (array elements are analyzed one by one).
    want.forEach((w, i) => i % 2 === 0 && expect((w as unknown[]).length, PHRASES[i / 2]).toBeGreaterThan(0));
    expect(want.filter((w, i) => i % 2 === 1 && (w as unknown[]).length > 0).length).toBeGreaterThan(4);
    expect(await answers('nopos')).toEqual(want);
    expect(await answers('dflt')).toEqual(want);
  });

  it('alter of positions: readers use the segments as they are, compaction rewrites them with the new setting', async () => {
    const r = await cli(['-d', d, '--json', 'alter', 'nopos', 'title', '--full-text', '{"positions":true}']);
    expect(r.code, r.stderr).toBe(0);
    // Two segments for the next compaction to rewrite; the pending journal is not in a segment yet.
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true, segments_to_reindex: 2, documents_to_reindex: 600, reanalyzed_by_queries: false });
    // Said as such on stderr (not "re-analyzed by every query").
    const said = await cli(['-d', d, 'alter', 'nopos', 'tags', '--full-text', '{"positions":true}']);
    expect(said.stderr).toContain('keep their postings until `elacsym compact nopos` rewrites them');
    expect((await cli(['-d', d, 'alter', 'nopos', 'tags', '--full-text', '{"positions":false}'])).code).toBe(0);
    // The same settings in another key order change nothing.
    const again = await cli(['-d', d, '--json', 'alter', 'nopos', 'title', '--full-text', '{"positions":true,"case_sensitive":false,"stemming":true,"remove_stopwords":true,"language":"english"}']);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, segments_to_reindex: 2 });
    const h = await cli(['-d', d, 'health', 'nopos', '--json']);
    expect(h.code, h.stdout).toBe(0);
    expect((JSON.parse(h.stdout) as { namespaces: Array<{ index_coverage: Record<string, { outdated?: number }> }> }).namespaces[0]!.index_coverage['fulltext:title']?.outdated).toBeUndefined();
    expect(await answers('nopos')).toEqual(await answers('pos'));
    // A compaction rewrites the segments: title with positions, tags still without.
    const c = await cli(['-d', d, 'compact', 'nopos']);
    expect(c.code, c.stderr).toBe(0);
    expect(await answers('nopos')).toEqual(await answers('pos'));
    expect((await cli(['-d', d, 'compact', 'pos'])).code).toBe(0);
    expect(ftBytes('nopos')).toBeLessThan(ftBytes('pos'));
    expect(await answers('nopos')).toEqual(await answers('pos'));
    // A namespace already in one segment: the compaction still rewrites it (not "nothing to do").
    const before = ftBytes('nopos');
    const off = await cli(['-d', d, '--json', 'alter', 'nopos', 'title', '--full-text', '{"positions":false}']);
    expect(JSON.parse(off.stdout)).toMatchObject({ changed: true, segments_to_reindex: 1 });
    const c2 = await cli(['-d', d, 'compact', 'nopos']);
    expect(c2.code, c2.stderr).toBe(0);
    expect(c2.stderr + c2.stdout).not.toContain('nothing to do');
    expect(ftBytes('nopos')).toBeLessThan(before);
    expect(await answers('nopos')).toEqual(await answers('pos'));
    const deep = await cli(['-d', d, 'health', 'nopos', '--deep']);
    expect(deep.code, deep.stdout + deep.stderr).toBe(0);
  });
});
