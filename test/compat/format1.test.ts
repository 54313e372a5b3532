/**
 * Old data keeps answering the same (issue 11): test/fixtures/format1 is a data directory written by the
 * release before storage format 2 (commit 53fa9cb: manifest format 3, index files with JSON attribute and
 * filter columns, float32 IVF clusters, Parquet with JSON attributes), with the answers that release gave
 * (expected.json; see make.mjs). The current binary must give the same answers on it as it is, after it is
 * converted (`wal replay` + `compact` rewrite every segment in the current layout), and on a fresh import
 * of the same documents.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ROOT, tmpDir } from '../helpers/cli.js';
import { createHash } from 'node:crypto';
import { SegmentFile } from '../../src/storage/segment-file.js';
import { MemorySource } from '../../src/util/bytes.js';

const FIXTURE = join(ROOT, 'test/fixtures/format1');
interface Expected {
  queries: { ns: string; args: string[]; result: { results?: Hit[]; matches?: number } }[];
  export: Record<string, { count: number; sha256: string }>;
  get: unknown[];
  count: string;
}
interface Hit {
  id: number | string;
  score?: number;
  attributes?: Record<string, unknown>;
}
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;

const canon = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await cli(args, { input });
  if (r.code !== 0) throw new Error(`elacsym ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Every recorded query: the same ids in the same order, the same scores (printed to 6 decimals), the same attributes. */
async function expectSameAnswers(data: string): Promise<void> {
  for (const q of expected.queries) {
    const got = JSON.parse(await ok(['-d', data, 'query', q.ns, '--format', 'json', ...q.args])) as { results: Hit[] };
    const want = q.result.results!;
    const where = `${q.ns} ${q.args.join(' ')}`;
    expect(got.results.map((h) => h.id), where).toEqual(want.map((h) => h.id));
    got.results.forEach((h, i) => {
      if (want[i]!.score !== undefined) expect(Math.abs(h.score! - want[i]!.score!), `${where} score of ${String(h.id)}`).toBeLessThanOrEqual(2e-6);
      expect(canon(h.attributes), where).toEqual(canon(want[i]!.attributes));
    });
  }
}

async function expectSameContents(data: string, namespaces = ['docs', 'l2', 'dot']): Promise<void> {
  for (const ns of namespaces) {
    const lines = (await ok(['-d', data, 'export', ns])).trim().split('\n');
    const docs = lines.map((l) => JSON.stringify(canon(JSON.parse(l)))).sort();
    expect({ ns, count: docs.length, sha256: createHash('sha256').update(docs.join('\n')).digest('hex') }).toEqual({ ns, ...expected.export[ns] });
  }
  const got = (await ok(['-d', data, 'get', 'docs', '10', 'doc-7', '13', '26'])).trim().split('\n').map((l) => canon(JSON.parse(l)));
  expect(got).toEqual(expected.get.map(canon));
  expect((await ok(['-d', data, 'count', 'docs'])).trim()).toBe(expected.count);
}

function copyFixture(): string {
  const data = join(tmpDir('elacsym-format1-'), 'data');
  cpSync(join(FIXTURE, 'data'), data, { recursive: true });
  return data;
}

describe('a version-1 data directory (test/fixtures/format1)', () => {
  afterAll(cleanupTmp);

  it('answers every recorded query, export, get and count as the release that wrote it did', async () => {
    const data = copyFixture();
    await expectSameAnswers(data);
    await expectSameContents(data);
    expect(JSON.parse(await ok(['-d', data, 'health', 'docs', '--deep', '--json'])).status).toBe('healthy');
  });

  it('gives the same answers after wal replay and compact rewrite it in the current layout', async () => {
    const data = copyFixture();
    const layouts = (ns: string) =>
      readdirSync(join(data, ns, 'segments'))
        .filter((f) => f.endsWith('.idx'))
        .map((f) => {
          const p = join(data, ns, 'segments', f);
          const file = SegmentFile.open(new MemorySource(readFileSync(p)), p, { verified: true });
          return file.has('vectors') || file.has('docs') ? 'release 1' : 'format 2';
        });
    expect(layouts('l2')).toEqual(['release 1']);
    // docs has a journal backlog (replayed first); l2 and dot are one clean segment each, which compact
    // must still rewrite: it is how old data is converted.
    await ok(['-d', data, 'wal', 'replay', 'docs']);
    for (const ns of ['docs', 'l2', 'dot']) {
      await ok(['-d', data, 'compact', ns]);
      expect(layouts(ns).length).toBeGreaterThan(0);
      expect(new Set(layouts(ns))).toEqual(new Set(['format 2']));
    }
    // and a second compact has nothing left to convert
    expect(JSON.parse(await ok(['-d', data, '--json', 'compact', 'l2'])).nothing_to_do).toBe(true);
    await expectSameAnswers(data);
    await expectSameContents(data);
    for (const ns of ['docs', 'l2', 'dot']) expect(JSON.parse(await ok(['-d', data, 'health', ns, '--deep', '--json'])).status).toBe('healthy');
  });

  it('gives the same answers when the same documents are imported afresh', async () => {
    const src = copyFixture();
    const data = join(tmpDir('elacsym-format1-fresh-'), 'data');
    for (const ns of ['docs', 'l2', 'dot']) {
      const schema = JSON.parse(await ok(['-d', src, 'describe', ns, '--json'])) as { schema: unknown };
      const schemaFile = join(data + '-' + ns + '.schema.json');
      writeFileSync(schemaFile, JSON.stringify(schema.schema));
      await ok(['-d', data, 'init', ns, '--schema', schemaFile]);
      await ok(['-d', data, 'import', ns, '-'], await ok(['-d', src, 'export', ns]));
    }
    await expectSameAnswers(data);
    await expectSameContents(data);
  });
});
