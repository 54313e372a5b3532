/**
 * Bounded resources whatever the input (issue 9 §4): batches, journal payloads, flushes, segments and
 * merges are bounded in bytes as well as documents. The bound is lowered through ELACSYM_SEGMENT_BYTES
 * (documented in man elacsym) so that a few MB exercise the paths that gigabyte documents take by default.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const BOUND = 256 * 1024; // ELACSYM_SEGMENT_BYTES: flushes hold at most ~256 KiB, import batches ~128 KiB
const env = { ELACSYM_SEGMENT_BYTES: String(BOUND) };
const BIG = 75_000; // bytes of text per document: one fits a batch, two do not

/** Eleven big documents, like the eleven 47 MB lines that crashed import, at 1/600 of the size. */
function bigDocs(n = 11): string[] {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
  return Array.from({ length: n }, (_, i) => {
    let body = '';
    for (let w = 0; body.length < BIG; w++) body += `${words[(w * 7 + i) % words.length]} `;
    return JSON.stringify({ id: i + 1, vector: [1, i], attributes: { title: `doc ${i + 1}`, body } });
  });
}

async function segments(d: string): Promise<number> {
  const r = await cli(['-d', d, '--json', 'health', 'ns']);
  return (JSON.parse(r.stdout) as { namespaces: { segments: number }[] }).namespaces[0]!.segments;
}

async function setup(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', '2', '--full-text', 'title,body'])).code).toBe(0);
  return d;
}

describe('byte bounds on the write path', () => {
  it('import cuts journal batches and segment flushes by bytes, not only by document count', async () => {
    const d = await setup();
    const r = await cli(['-d', d, '--json', 'import', 'ns', '-'], { input: bigDocs().join('\n'), env });
    expect(r.code, r.stderr).toBe(0);
    // --batch-size is 8192 documents, yet no batch may hold two 75 KB lines under a 128 KiB batch bound
    const committed = ndjson(r.stderr).filter((e) => e.event === 'committed').map((e) => e.documents as number);
    expect(new Set(committed).size).toBeGreaterThanOrEqual(11);
    // and no flush more than ~256 KiB: at most three documents per segment
    expect(await segments(d)).toBeGreaterThanOrEqual(4);
    expect((await exportMap(d, 'ns')).size).toBe(11);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });

  it('a journal backlog larger than one flush drains through any writer in bounded segments, and compaction stays bounded', async () => {
    const d = await setup();
    // Acknowledged but never flushed (as when every flush of the backlog used to crash)
    const imp = await cli(['-d', d, 'import', 'ns', '-', '--no-flush', '--batch-size', '1'], { input: bigDocs().join('\n') });
    expect(imp.code, imp.stderr).toBe(0);
    const q = await cli(['-d', d, 'query', 'ns', '--text', 'alpha', '--top-k', '20', '--include-attributes', 'title', '--format', 'json'], { env });
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout).results).toHaveLength(11);
    // Any writer recovers the backlog first, in flushes of at most the bound
    const del = await cli(['-d', d, 'delete', 'ns', '--ids', '11'], { env });
    expect(del.code, del.stderr).toBe(0);
    expect(await segments(d)).toBeGreaterThanOrEqual(4);
    expect((await exportMap(d, 'ns')).size).toBe(10);
    // A major compaction merges only as much as the bound allows
    const c = await cli(['-d', d, '--json', 'compact', 'ns'], { env });
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout).segments_after).toBeGreaterThanOrEqual(4);
    expect((await exportMap(d, 'ns')).size).toBe(10);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });

  it('a long delete list becomes journal entries of bounded size, committed all together', async () => {
    const d = await setup();
    const ids = Array.from({ length: 600 }, (_, i) => i + 1);
    const docs = ids.map((id) => JSON.stringify({ id, vector: [1, id], attributes: { title: 't' } }));
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: docs.join('\n') })).code).toBe(0);
    // Killed after its journal commit, before its flush commits: the journal shows how the ids were cut.
    const small = { ELACSYM_SEGMENT_BYTES: '2048' };
    const r = await cli(['-d', d, 'delete', 'ns', '--ids', ids.slice(0, 500).join(',')], { env: { ...small, ELACSYM_FAILPOINTS: 'flush:before-manifest-commit' } });
    expect(r.code).toBe(137);
    const wal = JSON.parse((await cli(['-d', d, '--json', 'wal', 'inspect', 'ns'])).stdout) as { entries: { op: string; documents: number; bytes: number }[] };
    const dels = wal.entries.filter((e) => e.op === 'delete');
    expect(dels.length).toBeGreaterThan(1);
    expect(dels.reduce((a, e) => a + e.documents, 0)).toBe(500); // all of them, or none: one transaction
    for (const e of dels) expect(e.bytes).toBeLessThanOrEqual(1024);
    expect((await cli(['-d', d, 'wal', 'replay', 'ns'], { env: small })).code).toBe(0);
    expect([...(await exportMap(d, 'ns')).keys()].map(Number).sort((a, b) => a - b)).toEqual(ids.slice(500));
  });

  it('refuses a malformed ELACSYM_SEGMENT_BYTES with a usage error', async () => {
    const d = await setup();
    const r = await cli(['-d', d, '--json', 'import', 'ns', '-'], { input: '{"id":1}', env: { ELACSYM_SEGMENT_BYTES: '1e6' } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!).error.code).toBe('USAGE');
  });
});

describe('compact with a journal backlog', () => {
  it('a major compaction leaves one segment, the backlog included', async () => {
    const d = await setup();
    const docs = (from: number) => Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: from + i, vector: [1, from + i], attributes: { title: `t ${from + i}` } }));
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: docs(0).join('\n') })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: docs(50).join('\n') })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: docs(100).join('\n') })).code).toBe(0);
    const r = await cli(['-d', d, '--json', 'compact', 'ns']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.journal_flushed_docs).toBe(50);
    expect(rep.segments_after).toBe(1);
    expect(await segments(d)).toBe(1);
    expect((await exportMap(d, 'ns')).size).toBe(150);
  });
});
