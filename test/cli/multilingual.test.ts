/**
 * Full-text in many languages through the real binary: CJK words found alone and in phrases, folding on
 * the index and query sides, unknown languages refused at init with the list of valid ones.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';

let d: string;
let dir: string;

const ft = (language: string, extra: Record<string, unknown> = {}) => ({ type: 'string', full_text: { language, ...extra } });
const DOCS = [
  { id: 1, attributes: { zh: '我们正在构建向量数据库', ja: '東京の天気は晴れです', en: 'Café crème and croissants', th: 'ฉันชอบกินข้าวผัด', en2: 'Café crème and croissants' } },
  { id: 2, attributes: { zh: '今天的天气很好', ja: '大阪の料理はおいしい', en: 'A cup of tea', th: 'วันนี้อากาศดี' } },
  { id: 3, attributes: { zh: '数据科学很有趣', ja: '京都の寺は古い', en: 'The coffee shop near the cafe', th: 'ร้านนี้อร่อย' } },
];

async function ids(args: string[]): Promise<number[]> {
  const r = await cli(['-d', d, 'query', 'ml', ...args, '--format', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: Array<{ id: number }> }).results.map((h) => h.id);
}

beforeAll(async () => {
  dir = tmpDir();
  d = join(dir, 'data');
  const schema = { attributes: { zh: ft('chinese'), ja: ft('japanese'), en: ft('english', { ascii_folding: true }), th: ft('thai'), en2: ft('english') } };
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(schema));
  expect((await cli(['-d', d, 'init', 'ml', '--schema', join(dir, 'schema.json')])).code).toBe(0);
  // Two imports: one flushed segment and the rest in the journal (both text sources are exercised).
  expect((await cli(['-d', d, 'import', 'ml', '-'], { input: DOCS.slice(0, 2).map((x) => JSON.stringify(x)).join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'ml', '-'], { input: JSON.stringify(DOCS[2]) })).code).toBe(0);
});
afterAll(cleanupTmp);

describe('multilingual full-text', () => {
  it('a Chinese word inside a sentence is found alone and in a phrase', async () => {
    expect(await ids(['--text', '数据库', '--fields', 'zh'])).toEqual([1, 3]);
    expect(await ids(['--text', '"向量数据库"', '--fields', 'zh'])).toEqual([1]);
  });

  it('a Japanese word inside a sentence is found alone and in a phrase', async () => {
    expect(await ids(['--text', '天気', '--fields', 'ja'])).toEqual([1]);
    expect(await ids(['--text', '"天気は晴れ"', '--fields', 'ja'])).toEqual([1]);
    expect(await ids(['--text', '"晴れは天気"', '--fields', 'ja'])).toEqual([]);
  });

  it('a Thai word is found', async () => {
    expect(await ids(['--text', 'ข้าวผัด', '--fields', 'th'])).toEqual([1]);
  });

  it('ascii_folding: cafe finds Café and café finds cafe, in terms and phrases', async () => {
    expect((await ids(['--text', 'cafe', '--fields', 'en'])).sort()).toEqual([1, 3]);
    expect((await ids(['--text', 'CAFÉ', '--fields', 'en'])).sort()).toEqual([1, 3]);
    expect(await ids(['--text', '"cafe creme"', '--fields', 'en'])).toEqual([1]);
  });

  it('fields that differ only in folding each use their own analyzer within one query', async () => {
    // Without folding, en2 indexed "café"; a query analyzer shared with the folding field would look for
    // "cafe" in en2 and miss it.
    const r = await cli(['-d', d, 'query', 'ml', '--text', 'café', '--fields', 'en,en2', '--explain', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    type Hit = { id: number; explain?: { text?: { fields?: Record<string, number> } } };
    const hit = (JSON.parse(r.stdout) as { results: Hit[] }).results.find((h) => h.id === 1);
    expect(hit?.explain?.text?.fields?.['en2']).toBeGreaterThan(0);
    expect(hit?.explain?.text?.fields?.['en']).toBeGreaterThan(0);
    expect(await ids(['--text', 'cafe', '--fields', 'en2'])).toEqual([]);
  });

  it('an unknown language is refused at init, naming the valid ones', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ attributes: { t: ft('klingon') } }));
    const r = await cli(['-d', d, 'init', 'bad', '--schema', join(dir, 'bad.json')]);
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('INVALID_SCHEMA');
    for (const l of ['chinese', 'japanese', 'korean', 'thai', 'unicode', 'turkish', 'finnish']) expect(r.stderr).toContain(l);
  });
});

describe('prefix and fuzzy terms through the CLI', () => {
  let dd: string;
  beforeAll(async () => {
    dd = join(tmpDir(), 'data');
    expect((await cli(['-d', dd, 'init', 'pf', '--dim', '2', '--full-text', 'title'])).code).toBe(0);
    const docs = [
      { id: 1, vector: [1, 0], attributes: { title: 'vector databases' } },
      { id: 2, vector: [0, 1], attributes: { title: 'victory parade' } },
      { id: 3, vector: [1, 1], attributes: { title: 'plain text' } },
    ];
    expect((await cli(['-d', dd, 'import', 'pf', '-'], { input: docs.map((x) => JSON.stringify(x)).join('\n') })).code).toBe(0);
  });
  const q = async (args: string[]) => {
    const r = await cli(['-d', dd, 'query', 'pf', ...args, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { results: Array<{ id: number }> }).results.map((h) => h.id);
  };

  it('vect* and vectr~1 find the vector document in BM25 queries', async () => {
    expect(await q(['--text', 'vect*'])).toEqual([1]);
    expect(await q(['--text', 'vectr~1'])).toEqual([1]);
    expect((await q(['--text', 'v*'])).sort()).toEqual([1, 2]);
  });

  it('prefix and fuzzy terms work in the text part of hybrid queries', async () => {
    const hybrid = await q(['--text', 'vectr~1', '--vector', '[0,1]', '--top-k', '3']);
    expect(hybrid).toContain(1);
    const withExplain = await q(['--text', 'vict*', '--vector', '[1,0]', '--top-k', '3', '--explain']);
    expect(withExplain).toContain(2);
  });

  it('an edit distance above 2 is a usage error', async () => {
    const r = await cli(['-d', dd, 'query', 'pf', '--text', 'vector~3']);
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('INVALID_QUERY');
  });
});
