/**
 * Data where thousands of rows score exactly alike (zero vectors, duplicated vectors): every query's k-th
 * place is a tie, broken by id ("score descending, then id ascending"). An IVF search whose widened
 * candidate list would hold a quarter of the segment scans it exactly instead (IvfReader.search,
 * EXACT_AFTER_WIDENING): the answers must be the exact scan's, in one query and through a long --batch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareIds } from '../../src/model/document.js';
import type { DocId } from '../../src/model/types.js';
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
  it('the k nearest are the zero vectors of smallest id, the same in one query, through a --batch run and with --exact', async () => {
    const q = Array.from({ length: DIM }, () => rand() * 0.02 - 0.01);
    const requests = [
      { vector: q, top_k: 300 },
      { vector: q, top_k: 300, filter: { field: 'bucket', op: 'lt', value: 5 } },
      { vector: q, top_k: 40 },
    ];
    const expected = [zeroIds.slice(0, 300), zeroLowIds.slice(0, 300), zeroIds.slice(0, 40)];
    const idsOf = (out: string) => (JSON.parse(out) as { results: { id: DocId }[] }).results.map((r) => r.id);
    const ask = async (r: object) => {
      const f = join(tmpDir(), `req-${Math.random()}.json`);
      writeFileSync(f, JSON.stringify(r));
      const res = await cli(['-d', data, '--json', 'query', 'ns', '--request', f]);
      expect(res.code, res.stderr).toBe(0);
      return idsOf(res.stdout);
    };
    const single = await Promise.all(requests.map((r) => ask(r)));
    const exact = await Promise.all(requests.map((r) => ask({ ...r, exact: true })));
    expect(single).toEqual(exact);
    expect(zeroLowIds.length).toBeGreaterThan(300);
    expect(single).toEqual(expected);
    // 60 rounds of the three requests in one process (resident segments): every answer the same.
    const batch = join(tmpDir(), 'batch.ndjson');
    writeFileSync(batch, `${Array.from({ length: 60 }, () => requests.map((r) => JSON.stringify(r)).join('\n')).join('\n')}\n`);
    const b = await cli(['-d', data, '--json', 'query', 'ns', '--batch', batch]);
    expect(b.code, b.stderr).toBe(0);
    const answers = ndjson(b.stdout).map((a) => (a as { results: { id: DocId }[] }).results.map((r) => r.id));
    expect(answers.length).toBe(180);
    answers.forEach((ids, i) => expect(ids, `answer ${i}`).toEqual(single[i % 3]));
  }, 120_000);
});
