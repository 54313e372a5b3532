/**
 * Changing a field's full-text settings after init: answers follow the new analyzer at once (outdated
 * segments are re-analyzed at query time), health shows the outdated coverage, compact re-indexes, and
 * BM25 scores are the same before and after the compaction.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { COMPACT_INDEX_FORMAT_VERSION, POSITIONS_FORMAT_VERSION, SEGMENT_FORMAT_VERSION } from '../../src/storage/manifest.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';

let d: string;
const docs = (from: number, texts: string[]) => texts.map((t, i) => JSON.stringify({ id: from + i, attributes: { title: t, body: t } })).join('\n');

async function hits(args: string[]): Promise<Array<{ id: number; score: number }>> {
  const r = await cli(['-d', d, 'query', 'al', ...args, '--format', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: Array<{ id: number; score: number }> }).results;
}
const ids = async (args: string[]) => (await hits(args)).map((h) => h.id).sort((a, b) => a - b);

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'al', '--text-only', '--full-text', 'title'])).code).toBe(0);
  // Two imports = two flushed segments, then the body attribute exists but is not full-text.
  expect((await cli(['-d', d, 'import', 'al', '-'], { input: docs(1, ['Café crème', 'a cafe near the station']) })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'al', '-'], { input: docs(3, ['Crème brûlée recipes', 'tea and biscuits']) })).code).toBe(0);
});
afterAll(cleanupTmp);

describe('elacsym alter', () => {
  it('changes the analyzer: old segments answer with the new one at once, health shows them, compact re-indexes them', async () => {
    expect(await ids(['--text', 'creme'])).toEqual([]);
    const r = await cli(['-d', d, '--json', 'alter', 'al', 'title', '--full-text', '{"language":"english","ascii_folding":true}']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { changed: boolean; segments_to_reindex: number; documents_to_reindex: number };
    expect(rep).toMatchObject({ changed: true, segments_to_reindex: 2, documents_to_reindex: 4, reanalyzed_by_queries: true });

    // A document written after the change, still in the journal or in a new segment: new analyzer too.
    expect((await cli(['-d', d, 'import', 'al', '-'], { input: docs(5, ['CAFÉ society']) })).code).toBe(0);
    const before = await hits(['--text', 'creme cafe']);
    expect(before.map((h) => h.id).sort()).toEqual([1, 2, 3, 5]);

    const h1 = await cli(['-d', d, 'health', 'al', '--json']);
    expect(h1.code).toBe(6);
    const health1 = (JSON.parse(h1.stdout) as { namespaces: Array<{ index_coverage: Record<string, { outdated?: number }>; problems: Array<{ code: string }> }> }).namespaces[0]!;
    expect(health1.index_coverage['fulltext:title']?.outdated).toBe(4);
    expect(health1.problems.map((p) => p.code)).toContain('TEXT_REINDEX_PENDING');

    expect((await cli(['-d', d, 'compact', 'al'])).code).toBe(0);
    const after = await hits(['--text', 'creme cafe']);
    // Same hits, same scores: the BM25 of a re-analyzed segment equals that of a re-indexed one.
    expect(after.map((h) => h.id)).toEqual(before.map((h) => h.id));
    for (let i = 0; i < after.length; i++) expect(after[i]!.score).toBeCloseTo(before[i]!.score, 9);

    const h2 = await cli(['-d', d, 'health', 'al', '--json']);
    expect(h2.code, h2.stdout).toBe(0);
    const health2 = (JSON.parse(h2.stdout) as { namespaces: Array<{ index_coverage: Record<string, { outdated?: number; ratio: number }> }> }).namespaces[0]!;
    expect(health2.index_coverage['fulltext:title']?.outdated).toBeUndefined();
    expect(health2.index_coverage['fulltext:title']?.ratio).toBe(1);
  });

  it('a manifest is at the segment format, and a manifest of format 2 is raised by what it could not read', async () => {
    const db = (ns: string, readonly = true) => new Database(join(d, ns, 'manifest.db'), { readonly });
    const version = (ns: string): number => {
      const m = db(ns);
      try {
        return Number((m.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string }).value);
      } finally {
        m.close();
      }
    };
    const setVersion = (ns: string, v: number) => {
      const m = db(ns, false);
      m.prepare("UPDATE meta SET value = ? WHERE key = 'format_version'").run(String(v));
      m.close();
    };
    // Full-text fields created now state `positions` (false): format 5, which an elacsym of format 4 refuses;
    // 'al' has segments, whose full-text indexes (version 3) raised it to 7.
    expect(version('al')).toBe(COMPACT_INDEX_FORMAT_VERSION);
    expect((await cli(['-d', d, 'init', 'plain', '--text-only', '--full-text', 'title'])).code).toBe(0);
    expect(version('plain')).toBe(POSITIONS_FORMAT_VERSION);
    expect((await cli(['-d', d, 'init', 'novec', '--text-only'])).code).toBe(0);
    expect(version('novec')).toBe(SEGMENT_FORMAT_VERSION);
    // A manifest an older release wrote (format 2, release-1 segments) is raised by a new segment, never lowered:
    // to 7, since the segment's full-text index is a version 3 field index (index/fulltext/postings.ts).
    setVersion('plain', 2);
    expect((await cli(['-d', d, 'import', 'plain', '-'], { input: docs(1, ['one']) })).code).toBe(0);
    expect(version('plain')).toBe(COMPACT_INDEX_FORMAT_VERSION);
    // and by an alter an elacsym of format 2 would misread, even before any segment is written
    setVersion('plain', 2);
    expect((await cli(['-d', d, 'alter', 'plain', 'title', '--full-text', '{"language":"chinese"}'])).code).toBe(0);
    expect(version('plain')).toBe(POSITIONS_FORMAT_VERSION);
    expect((await cli(['-d', d, 'import', 'plain', '-'], { input: docs(2, ['two']) })).code).toBe(0);
    expect(version('plain')).toBe(COMPACT_INDEX_FORMAT_VERSION);
    // A schema from before the option (no `positions` key: positions kept) does not raise the manifest to 5;
    // its new segment's full-text index (version 3) raises it to 7.
    const m = db('novec', false);
    m.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(JSON.stringify({ vector_dim: 0, vector_metric: 'cosine', attributes: { title: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } } } }));
    m.close();
    expect((await cli(['-d', d, 'import', 'novec', '-'], { input: docs(3, ['three']) })).code).toBe(0);
    expect(version('novec')).toBe(COMPACT_INDEX_FORMAT_VERSION);
  });

  it('turns full-text on for an existing string attribute and off again', async () => {
    expect(errorCode((await cli(['-d', d, 'query', 'al', '--text', 'biscuits', '--fields', 'body'])).stderr)).toBe('INVALID_QUERY');
    expect((await cli(['-d', d, 'alter', 'al', 'body', '--full-text', 'true'])).code).toBe(0);
    expect(await ids(['--text', 'biscuits', '--fields', 'body'])).toEqual([4]);
    expect((await cli(['-d', d, 'alter', 'al', 'body', '--full-text', 'false'])).code).toBe(0);
    expect(errorCode((await cli(['-d', d, 'query', 'al', '--text', 'biscuits', '--fields', 'body'])).stderr)).toBe('INVALID_QUERY');
  });

  it('alters a field named "__proto__" like any other (a tester\'s case: the change was lost)', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `{"id":${i},"attributes":{"__proto__":"${i % 2 ? 'running dogs' : 'run dog runs'} in new york ${i}"}}`).join('\n');
    expect((await cli(['-d', d, 'init', 'pr', '--text-only', '--full-text', '__proto__'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'pr', '-'], { input: text })).code).toBe(0);
    const count = async (q: string) => {
      const r = await cli(['-d', d, 'query', 'pr', '--text', q, '-k', '100', '--format', 'ndjson']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').filter(Boolean).length;
    };
    expect([await count('running'), await count('run')]).toEqual([60, 60]); // stemmed: one term
    const r = await cli(['-d', d, '--json', 'alter', 'pr', '__proto__', '--full-text', '{"stemming":false}']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true, segments_to_reindex: 1, reanalyzed_by_queries: true });
    // Answers follow the new analyzer at once; health names the pending re-index; compact does it.
    expect([await count('running'), await count('run')]).toEqual([30, 30]);
    expect((await cli(['-d', d, 'health', 'pr'])).code).toBe(6);
    expect((await cli(['-d', d, 'compact', 'pr'])).code).toBe(0);
    expect((await cli(['-d', d, 'health', 'pr'])).code).toBe(0);
    expect([await count('running'), await count('run')]).toEqual([30, 30]);
  });

  it('refuses an unknown attribute, an unknown language and bad JSON with INVALID_SCHEMA', async () => {
    for (const args of [
      ['nope', '--full-text', 'true'],
      ['title', '--full-text', '{"language":"klingon"}'],
      ['title', '--full-text', '{oops'],
    ]) {
      const r = await cli(['-d', d, 'alter', 'al', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorCode(r.stderr)).toBe('INVALID_SCHEMA');
    }
  });
});
