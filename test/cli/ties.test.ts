/**
 * Issue 9 §6: equal scores are broken by id (integers ascending, then strings), on every vector path —
 * unflushed journal, one segment, several segments, segments plus journal, filtered exact scan and hybrid
 * fusion — whatever order the documents were imported in and whether they were imported together or not.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const SCHEMA = (metric: string) =>
  JSON.stringify({ vector_dim: 2, vector_metric: metric, attributes: { g: { type: 'string' }, t: { type: 'string', full_text: true } } });
const doc = (id: number | string) => JSON.stringify({ id, vector: [1, 0], attributes: { g: 'x', t: 'same words' } });

/** Creates a namespace and imports `batches` (each a list of ids, each an `import`, optionally --no-flush). */
async function setup(metric: string, batches: { ids: (number | string)[]; noFlush?: boolean }[]): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--schema', '-'], { input: SCHEMA(metric) })).code).toBe(0);
  for (const b of batches) {
    const r = await cli(['-d', d, '-q', 'import', 'ns', '-', ...(b.noFlush ? ['--no-flush'] : [])], { input: `${b.ids.map(doc).join('\n')}\n` });
    expect(r.code, r.stderr).toBe(0);
  }
  return d;
}

async function ids(d: string, args: string[]): Promise<unknown[]> {
  const r = await cli(['-d', d, 'query', 'ns', '--vector', '[1,0]', ...args, '--format', 'ndjson']);
  expect(r.code, r.stderr).toBe(0);
  return ndjson(r.stdout).map((h) => h.id);
}

const LAYOUTS: Record<string, { ids: (number | string)[]; noFlush?: boolean }[]> = {
  'one segment': [{ ids: [5, 3, 1, 4, 2] }],
  'journal only': [{ ids: [5, 3, 1, 4, 2], noFlush: true }],
  'several segments': [{ ids: [5, 3] }, { ids: [4] }, { ids: [1, 2] }],
  'segments and journal': [{ ids: [5, 2] }, { ids: [4, 3, 1], noFlush: true }],
};

describe('equal vector scores are ordered by id', () => {
  for (const [layout, batches] of Object.entries(LAYOUTS)) {
    for (const metric of ['cosine', 'l2', 'dot']) {
      it(`top-k keeps the smallest ids among ties: ${layout}, ${metric}`, async () => {
        const d = await setup(metric, batches);
        expect(await ids(d, ['-k', '1'])).toEqual([1]);
        expect(await ids(d, ['-k', '2'])).toEqual([1, 2]);
        expect(await ids(d, ['-k', '3', '--filter', '{"field":"g","op":"eq","value":"x"}'])).toEqual([1, 2, 3]);
        expect(await ids(d, ['-k', '3', '--text', 'same'])).toEqual([1, 2, 3]);
      });
    }
  }

  it('the IVF search (plain and filtered) of a large segment keeps the smallest ids among ties', async () => {
    // 5,000 documents imported in a scrambled id order: odd ids at [1,0], even at [0,1]; g = "y" on ids
    // ending in 1, so the filter matches 90% (4,500 documents, far above engine.ts exactScanMaxDocs: the
    // filtered ANN path, not the exact scan).
    const n = 5000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = ((i * 7919) % n) + 1;
      lines.push(JSON.stringify({ id, vector: id % 2 === 1 ? [1, 0] : [0, 1], attributes: { g: id % 10 === 1 ? 'y' : 'x', t: 'w' } }));
    }
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--schema', '-'], { input: SCHEMA('cosine') })).code).toBe(0);
    expect((await cli(['-d', d, '-q', 'import', 'ns', '-'], { input: `${lines.join('\n')}\n` })).code).toBe(0);
    const run = async (args: string[]) => {
      const r = await cli(['-d', d, 'query', 'ns', '--vector', '[1,0]', '-k', '3', '--explain', ...args, '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout) as { results: { id: number }[]; explain: { sources: { vector: string }[] } };
      return { ids: o.results.map((h) => h.id), plan: o.explain.sources[0]!.vector };
    };
    expect(await run([])).toEqual({ ids: [1, 3, 5], plan: 'ann' });
    expect(await run(['--filter', '{"field":"g","op":"eq","value":"x"}'])).toEqual({ ids: [3, 5, 7], plan: 'filtered-ann' });
  });

  it('integer ids rank before string ids, strings by code unit, across segments', async () => {
    const d = await setup('cosine', [{ ids: ['b', 10] }, { ids: ['a', 2], noFlush: true }]);
    expect(await ids(d, ['-k', '4'])).toEqual([2, 10, 'a', 'b']);
    expect(await ids(d, ['-k', '2'])).toEqual([2, 10]);
  });
});
