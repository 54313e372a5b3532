/**
 * Every command that states how many documents a namespace holds states the same number: `count`,
 * `describe`, `health` (and so /metrics' elacsym_documents), `ls` and the lines `export` writes, while
 * pending journal entries update, delete and add documents over flushed ones. `describe` and `health` used
 * to add the journal's documents to the flushed ones, over-counting every pending update of a flushed id.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const line = (id: number | string, v: [number, number]) => JSON.stringify({ id, vector: v, attributes: { n: String(id) } });

async function counts(d: string): Promise<Record<string, number>> {
  const run = async (args: string[]) => {
    const r = await cli(['-d', d, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const described = JSON.parse(await run(['describe', 'ns', '--json'])) as { counts: { documents: number }; index_coverage: Record<string, { indexed: number; journal_only: number }> };
  const health = JSON.parse(await run(['health', 'ns', '--json'])) as { namespaces: { documents: number }[] };
  const rows = ndjson(await run(['ls', '--json'])) as { namespace: string; documents: number }[];
  const cov = described.index_coverage.vector!;
  return {
    count: Number((await run(['count', 'ns'])).trim()),
    describe: described.counts.documents,
    health: health.namespaces[0]!.documents,
    ls: rows.find((r) => r.namespace === 'ns')!.documents,
    export: ndjson(await run(['export', 'ns'])).length,
    coverage: cov.indexed + cov.journal_only,
  };
}

describe('document counts agree across commands', () => {
  it('with pending updates, deletes and new ids over flushed documents', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '2'])).code).toBe(0);
    // Flushed: ids 1-4 and "a".
    const flushed = [line(1, [1, 0]), line(2, [0, 1]), line(3, [1, 1]), line(4, [1, 2]), line('a', [2, 1])];
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: `${flushed.join('\n')}\n` })).code).toBe(0);
    expect(Object.values(await counts(d))).toEqual(Array(6).fill(5));

    // Pending: updates of 1 and "a" (twice), new ids 5 and 6, then deletes of flushed 2 and pending 6.
    const pending = [line(1, [2, 2]), line('a', [3, 1]), line('a', [3, 2]), line(5, [5, 1]), line(6, [6, 1])];
    expect((await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: `${pending.join('\n')}\n` })).code).toBe(0);
    const before = await counts(d);
    expect(before).toEqual({ count: 7, describe: 7, health: 7, ls: 7, export: 7, coverage: 7 });

    const del = await cli(['-d', d, 'delete', 'ns', '--ids', '2,6']);
    expect(del.code, del.stderr).toBe(0);
    const after = await counts(d);
    // 1, 3, 4, "a", 5 remain, whether the delete was journaled or flushed.
    expect(after).toEqual({ count: 5, describe: 5, health: 5, ls: 5, export: 5, coverage: 5 });
  });
});
