/**
 * A vector query over several segments re-ranks one pool of candidates (query/engine.ts rescorePool): each
 * segment's ANN gives its candidates with scores estimated from 4-bit codes, and only the best of all of
 * them are read and scored exactly, instead of every segment's whole list. Through the real binary, single
 * queries (clusters read transiently, vectors by range) and --batch (in memory): answers agree with the
 * exact scan of the same documents in the journal, the plan re-ranks fewer candidates than the segments
 * found, and under cosine with many zero vectors (whose codes stand for unrelated directions) the answer is
 * still the exact one: a pooled answer holding a score of 0 is computed again per segment.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 32;
const PART = 2000; // each part is flushed as its own segment: 3 IVF segments
const ZEROS = 5700; // of 6,000, in the zero-vector case
type Hit = { id: number; score: number };
type Source = { vector?: string; candidates?: number; reranked?: number; pool?: string };

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Clustered vectors (20 centres), ids 0..n-1; the first `zeros` are zero vectors. */
function docs(n: number, zeros: number, seed: number): string[] {
  const r = mulberry32(seed);
  const centres = Array.from({ length: 20 }, () => Array.from({ length: DIM }, () => 2 * gaussian(r)));
  return Array.from({ length: n }, (_, i) => {
    const c = centres[Math.floor(r() * 20)]!;
    return JSON.stringify({ id: i, vector: c.map((x) => (i < zeros ? 0 : round(x + gaussian(r)))) });
  });
}

async function setup(metric: string, lines: string[]): Promise<string> {
  const d = join(tmpDir(), 'data');
  for (const ns of ['seg', 'jr']) {
    expect((await cli(['-d', d, 'init', ns, '--dim', String(DIM), '--metric', metric])).code).toBe(0);
    const parts = ns === 'seg' ? [0, 1, 2].map((p) => lines.slice(p * PART, (p + 1) * PART)) : [lines];
    for (const part of parts) {
      const imp = await cli(['-d', d, '-q', 'import', ns, '-', ...(ns === 'jr' ? ['--no-flush'] : [])], { input: `${part.join('\n')}\n` });
      expect(imp.code, imp.stderr).toBe(0);
    }
  }
  return d;
}

async function batch(d: string, ns: string, requests: object[]): Promise<Hit[][]> {
  const res = await cli(['-d', d, 'query', ns, '--batch', '-'], { input: `${requests.map((x) => JSON.stringify(x)).join('\n')}\n` });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { results: Hit[] }).results);
}

async function single(d: string, ns: string, request: object): Promise<{ results: Hit[]; sources: Source[] }> {
  const res = await cli(['-d', d, 'query', ns, '--request', '-', '--explain', '--format', 'json'], { input: JSON.stringify(request) });
  expect(res.code, res.stderr).toBe(0);
  const r = JSON.parse(res.stdout) as { results: Hit[]; explain: { sources: Source[] } };
  return { results: r.results, sources: r.explain.sources };
}

function recall(got: Hit[][], want: Hit[][]): number {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < want.length; i++) {
    const exact = new Set(want[i]!.map((h) => h.id));
    total += exact.size;
    for (const h of got[i]!) if (exact.has(h.id)) hit++;
  }
  return hit / total;
}

describe('one re-ranking pool over several segments', () => {
  it.each(['cosine', 'l2', 'dot'])('%s: answers as the exact scan, re-ranking fewer candidates than the segments found', async (metric) => {
    const lines = docs(3 * PART, 0, 11);
    const d = await setup(metric, lines);
    const q = mulberry32(5);
    const requests = [
      ...[10, 2500, 5999].map((i) => ({ vector: (JSON.parse(lines[i]!) as { vector: number[] }).vector, top_k: 10 })),
      ...Array.from({ length: 25 }, () => ({ vector: Array.from({ length: DIM }, () => round(2 * gaussian(q))), top_k: 10 })),
    ];
    const want = await batch(d, 'jr', requests);
    const got = await batch(d, 'seg', requests);
    if (metric !== 'dot') expect(got.slice(0, 3).map((g) => g[0]!.id)).toEqual([10, 2500, 5999]);
    expect(recall(got, want)).toBeGreaterThanOrEqual(0.95);
    // Single queries: the same answers as the batch, with the plan in the explain output.
    for (const i of [0, 5, 20]) {
      const one = await single(d, 'seg', requests[i]!);
      expect(one.results.map((h) => h.id)).toEqual(got[i]!.map((h) => h.id));
      const segs = one.sources.filter((s) => s.vector === 'ann');
      expect(segs).toHaveLength(3);
      const candidates = segs.reduce((a, s) => a + s.candidates!, 0);
      const reranked = segs.reduce((a, s) => a + s.reranked!, 0);
      expect(candidates).toBe(3 * 60); // each segment's list for k = 10 (rerankCount)
      expect(reranked).toBeLessThanOrEqual(2 * 60); // the pool: twice one segment's list
      expect(reranked).toBeGreaterThanOrEqual(10);
    }
  });

  it('cosine with 95% of the documents zero vectors: a pooled answer with a score of 0 is computed per segment, and is exact', async () => {
    const lines = docs(3 * PART, ZEROS, 12); // ids below ZEROS are zero vectors
    // Zero vectors spread over the segments: shuffle the lines (ids stay).
    const r = mulberry32(3);
    for (let i = lines.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
    const d = await setup('cosine', lines);
    const q = mulberry32(9);
    // k = 90% of the real documents of positive cosine with the query (counted by an exact scan): the
    // exact answer holds no zero vector and reaches documents of small cosine, which zero vectors, coded as
    // random directions, outrank by estimate: a pool by estimate need not hold k positive ones.
    const vectors = Array.from({ length: 4 }, () => Array.from({ length: DIM }, () => round(gaussian(q))));
    const all = await batch(d, 'jr', vectors.map((vector) => ({ vector, top_k: 3 * PART })));
    const requests = vectors.map((vector, i) => ({ vector, top_k: Math.floor(0.9 * all[i]!.filter((h) => h.score > 0).length) }));
    for (const r of requests) expect(r.top_k).toBeGreaterThan(50);
    const want = await batch(d, 'jr', requests);
    for (const w of want) expect(w.filter((h) => h.id < ZEROS)).toEqual([]);
    const got = await batch(d, 'seg', requests);
    expect(recall(got, want)).toBeGreaterThanOrEqual(0.99);
    for (const g of got) expect(g.filter((h) => h.id < ZEROS)).toEqual([]);
    let repeated = 0;
    for (const req of requests.slice(0, 2)) {
      const one = await single(d, 'seg', req);
      expect(one.results.filter((h) => h.id < ZEROS)).toEqual([]);
      repeated += one.sources.filter((s) => s.pool !== undefined).length;
    }
    // the fallback ran (this data is chosen to need it)
    expect(repeated).toBeGreaterThan(0);
  });
});
