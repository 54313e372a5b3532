/**
 * A filter on an integer attribute compares values, not rounded differences: with a segment whose
 * smallest value is -2^31, `x = 1e-7` matched x = -2^31 (1e-7 - (-2^31) rounds to 2^31 in float64), and
 * `delete --filter x <= -1e-7` deleted the document with x = 0 too (found by a tester). The same filters
 * must answer the same before the flush (journal, row by row) and after it (segment, stored codes).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DOCS = [
  { id: 1, vector: [1, 0], attributes: { x: -2147483648 } },
  { id: 2, vector: [0, 1], attributes: { x: 0 } },
  { id: 3, vector: [1, 1], attributes: { x: 5 } },
];
const input = `${DOCS.map((d) => JSON.stringify(d)).join('\n')}\n`;

async function namespace(flush: boolean): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, '-q', 'init', 'm', '--dim', '2'])).code).toBe(0);
  const r = await cli(['-d', d, '-q', 'import', 'm', '-', ...(flush ? [] : ['--no-flush'])], { input });
  expect(r.code, r.stderr).toBe(0);
  return d;
}

const count = async (d: string, filter: object): Promise<number> => {
  const r = await cli(['-d', d, '--json', 'count', 'm', '--filter', JSON.stringify(filter)]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { count: number }).count;
};

describe('integer filters against a large base', () => {
  for (const flush of [true, false]) {
    it(`count what a row-by-row comparison counts (${flush ? 'segment' : 'journal'})`, async () => {
      const d = await namespace(flush);
      for (const [op, value, want] of [
        ['eq', 1e-7, 0],
        ['gte', 1e-7, 1],
        ['lt', 1e-7, 2],
        ['gt', -1e-7, 2],
        ['lte', -1e-7, 1],
        ['eq', 5e-324, 0],
        ['gt', -2147483648.5, 3],
        ['eq', -2147483648, 1],
      ] as const) {
        expect(await count(d, { field: 'x', op, value }), `${op} ${value}`).toBe(want);
      }
      const del = await cli(['-d', d, '-q', 'delete', 'm', '--filter', JSON.stringify({ field: 'x', op: 'lte', value: -1e-7 })]);
      expect(del.code, del.stderr).toBe(0);
      expect(await count(d, { field: 'x', op: 'exists', value: true })).toBe(2);
      expect(await count(d, { field: 'x', op: 'eq', value: 0 })).toBe(1);
    });
  }
});
