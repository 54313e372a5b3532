/**
 * Data where thousands of rows score exactly alike (zero vectors, duplicated vectors): every query's k-th
 * place is a tie, broken by id ("score descending, then id ascending"). Two shortcuts serve it and must not
 * change an answer: a segment whose ties became frequent ranks its ids once (SegmentSource.buildIdRank) and
 * compares ranks instead of decoded ids; an IVF search whose widened candidate list would hold a quarter
 * of the segment scans it exactly instead (IvfReader.search, EXACT_AFTER_WIDENING).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareIds } from '../../src/model/document.js';
import type { DocId } from '../../src/model/types.js';
import { QueryContext } from '../../src/store/search-sources.js';
import { Snapshot } from '../../src/store/snapshot.js';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

const N = 4000;
const DIM = 8;
let data: string;
/** Ids of the zero vectors, in id order (compareIds); of those with bucket < 5. */
let zeroIds: DocId[];
let zeroLowIds: DocId[];
let seed = 7;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};

beforeAll(async () => {
  data = join(tmpDir(), 'data');
  // Ids in no relation to write order: numbers and strings of different lengths, shuffled.
  const ids: DocId[] = Array.from({ length: N }, (_, i) => (i % 4 === 0 ? 50_000 - 7 * i : `d${(i * 7919) % 100_003}`));
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const dups = Array.from({ length: 5 }, () => Array.from({ length: DIM }, () => rand() * 4 - 2));
  const zeros: DocId[] = [];
  const zerosLow: DocId[] = [];
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    let vector: number[];
    if (i % 8 < 4) {
      vector = new Array<number>(DIM).fill(0);
      zeros.push(ids[i]!);
      if (i % 10 < 5) zerosLow.push(ids[i]!);
    } else if (i % 8 === 4) vector = dups[i % 5]!;
    else vector = Array.from({ length: DIM }, () => rand() * 6 - 3);
    lines.push(JSON.stringify({ id: ids[i], vector, attributes: { bucket: i % 10 } }));
  }
  zeroIds = zeros.sort(compareIds);
  zeroLowIds = zerosLow.sort(compareIds);
  const file = join(tmpDir(), 'docs.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  expect((await cli(['-d', data, 'init', 'ns', '--dim', String(DIM), '--metric', 'l2'])).code).toBe(0);
  const imp = await cli(['-d', data, 'import', 'ns', file]);
  expect(imp.code, imp.stderr).toBe(0);
}, 120_000);

afterAll(cleanupTmp);

describe('ties by id on data where thousands of rows score alike', () => {
  it('a segment ranks its ids once ties are frequent: the same order as comparing the ids', () => {
    const snap = Snapshot.open(join(data, 'ns'), { loadFully: true });
    const ctx = new QueryContext(snap);
    try {
      const src = ctx.sources[0] as unknown as { size: number; tie: (a: number, b: number) => number; idOf(o: number): DocId; idRank: Uint32Array | null };
      expect(src.size).toBe(N);
      const pairs = Array.from({ length: 20_000 }, () => [Math.floor(rand() * N), Math.floor(rand() * N)] as const);
      const byIds = pairs.map(([a, b]) => Math.sign(compareIds(src.idOf(a), src.idOf(b))));
      expect(src.idRank).toBeNull();
      // Enough calls to pass the threshold (50,000 + 2 x size), then the same pairs through the ranks.
      for (let i = 0; src.idRank === null && i < 200_000; i++) src.tie(i % N, (i * 31) % N);
      expect(src.idRank).not.toBeNull();
      const rank = src.idRank!;
      expect([...rank].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(pairs.map(([a, b]) => Math.sign(src.tie(a, b)))).toEqual(byIds);
    } finally {
      ctx.release();
      snap.close();
    }
  });

  it('the k nearest are the zero vectors of smallest id, the same in one query, through a --batch run and with --exact', async () => {
    const q = Array.from({ length: DIM }, () => rand() * 0.02 - 0.01);
    const requests = [
      { vector: q, top_k: 300 },
      { vector: q, top_k: 300, filter: { field: 'bucket', op: 'lt', value: 5 } },
      { vector: q, top_k: 40 },
    ];
    const expected = [zeroIds.slice(0, 300), zeroLowIds.slice(0, 300), zeroIds.slice(0, 40)];
    const idsOf = (out: string) => (JSON.parse(out) as { results: { id: DocId }[] }).results.map((r) => r.id);
    const single = await Promise.all(requests.map(async (r) => {
      const f = join(tmpDir(), `req-${Math.random()}.json`);
      writeFileSync(f, JSON.stringify(r));
      const res = await cli(['-d', data, '--json', 'query', 'ns', '--request', f]);
      expect(res.code, res.stderr).toBe(0);
      return idsOf(res.stdout);
    }));
    const exact = await Promise.all(requests.map(async (r) => {
      const f = join(tmpDir(), `req-${Math.random()}.json`);
      writeFileSync(f, JSON.stringify({ ...r, exact: true }));
      const res = await cli(['-d', data, '--json', 'query', 'ns', '--request', f]);
      expect(res.code, res.stderr).toBe(0);
      return idsOf(res.stdout);
    }));
    expect(single).toEqual(exact);
    expect(zeroLowIds.length).toBeGreaterThan(300);
    expect(single).toEqual(expected);
    // 60 rounds of the three requests in one process: the ranks take over partway; every answer the same.
    const batch = join(tmpDir(), 'batch.ndjson');
    writeFileSync(batch, `${Array.from({ length: 60 }, () => requests.map((r) => JSON.stringify(r)).join('\n')).join('\n')}\n`);
    const b = await cli(['-d', data, '--json', 'query', 'ns', '--batch', batch]);
    expect(b.code, b.stderr).toBe(0);
    const answers = ndjson(b.stdout).map((a) => (a as { results: { id: DocId }[] }).results.map((r) => r.id));
    expect(answers.length).toBe(180);
    answers.forEach((ids, i) => expect(ids, `answer ${i}`).toEqual(single[i % 3]));
  }, 120_000);
});
