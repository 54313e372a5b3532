/**
 * Tiny l2 distances through the real binary: [0,0] is nearer to the query [0,0] than [3e-24,0] is. The
 * WebAssembly kernels sum squares in float32, where (3e-24)^2 = 9e-48 underflows to 0: both documents
 * scored -0 and the tie went to the smaller id, 1. Distances whose squared sum is below 2^-100 are now
 * recomputed in float64 (distance.ts, "Tiny l2 distances"), in the journal's exact scan and in segments
 * (the IVF search and its exact re-scoring) alike.
 *
 * The CLI prints scores rounded to 6 decimals (man elacsym-query), so both print as 0 here; the scores
 * themselves (-0 and the float32 of -3e-24) are checked in test/unit/vector/l2-tiny.prop.test.ts.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const line = (id: number, vector: number[]) => JSON.stringify({ id, vector });

/** A namespace (dim 2, l2) with the documents of `steps`, each one `import` (or a `compact`). */
async function setup(steps: ({ docs: string[]; noFlush?: boolean } | 'compact')[]): Promise<string> {
  const d = join(tmpDir(), 'data');
  const init = await cli(['-d', d, 'init', 't', '--dim', '2', '--metric', 'l2']);
  expect(init.code, init.stderr).toBe(0);
  for (const s of steps) {
    const r =
      s === 'compact'
        ? await cli(['-d', d, '-q', 'compact', 't'])
        : await cli(['-d', d, '-q', 'import', 't', '-', ...(s.noFlush ? ['--no-flush'] : [])], { input: `${s.docs.join('\n')}\n` });
    expect(r.code, r.stderr).toBe(0);
  }
  return d;
}

async function query(d: string, vector: string, k: number): Promise<{ ids: unknown[]; scores: unknown[]; plans: unknown[] }> {
  const r = await cli(['-d', d, 'query', 't', '--vector', vector, '-k', String(k), '--explain', '--format', 'json']);
  expect(r.code, r.stderr).toBe(0);
  const o = JSON.parse(r.stdout) as { results: { id: number; score: number }[]; explain: { sources: { vector?: string }[] } };
  return { ids: o.results.map((h) => h.id), scores: o.results.map((h) => h.score), plans: o.explain.sources.map((s) => s.vector) };
}

const ONE = line(1, [3e-24, 0]);
const TWO = line(2, [0, 0]);
// 2,000 documents far away (ids 10 ..), so that the segment holding the two is searched through its IVF
// clusters and the re-scoring of quantized candidates, not only scanned
const FAR = Array.from({ length: 2000 }, (_, i) => line(10 + i, [1 + (i % 50) / 10, 1 + Math.floor(i / 50) / 10]));

const LAYOUTS: Record<string, ({ docs: string[]; noFlush?: boolean } | 'compact')[]> = {
  'unflushed (journal)': [{ docs: [ONE, TWO], noFlush: true }],
  'flushed by the import (one segment)': [{ docs: [ONE, TWO] }],
  'journal compacted into a segment': [{ docs: [ONE, TWO], noFlush: true }, 'compact'],
  'one segment, the other in the journal': [{ docs: [ONE] }, { docs: [TWO], noFlush: true }],
  'a segment of 2,002 documents': [{ docs: [...FAR, ONE, TWO] }],
};

describe('l2: a distance of 0 beats a distance of 3e-24', () => {
  for (const [layout, steps] of Object.entries(LAYOUTS)) {
    it(layout, async () => {
      const d = await setup(steps);
      const top1 = await query(d, '[0,0]', 1);
      expect(top1.ids).toEqual([2]);
      expect(top1.scores).toEqual([0]);
      const top2 = await query(d, '[0,0]', 2);
      expect(top2.ids).toEqual([2, 1]);
      expect(top2.scores).toEqual([0, 0]); // -0 and -3e-24, rounded to 6 decimals
      // Segments of fewer than 1,000 vectors have a flat index (scanned exactly); the large one is searched
      // through its IVF clusters.
      if (steps.some((s) => s === 'compact' || !s.noFlush)) expect(top2.plans).toContain(layout.startsWith('a segment of 2,002') ? 'ann' : 'exact-scan');
      // and the other way round: id 1 is at distance 0 from [3e-24,0]
      expect((await query(d, '[3e-24,0]', 1)).ids).toEqual([1]);
    });
  }

  it('the nearer document wins whichever id it has (no tie left to the id order)', async () => {
    for (const noFlush of [true, false]) {
      const d = await setup([{ docs: [line(1, [0, 0]), line(2, [3e-24, 0])], noFlush }]);
      expect((await query(d, '[3e-24,0]', 2)).ids).toEqual([2, 1]);
      expect((await query(d, '[0,0]', 2)).ids).toEqual([1, 2]);
    }
  });
});
