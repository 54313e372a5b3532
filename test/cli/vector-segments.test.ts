/**
 * A vector query over several segments of unequal sizes, with updates and deletes between them, answers as
 * the exact scan of the same documents in the journal. Each segment's IVF ranks its candidates by scores
 * estimated from 4-bit codes trained on that segment alone, so the estimates of different segments are not
 * on one scale: a search that compared estimates across segments to choose which candidates to re-rank
 * (a pooled re-ranking, reverted after an adversarial review found recall@20 of 0.10 on its layout) gave
 * some segments none. Each segment re-ranks its own candidates; this test holds that in place, through the
 * real binary: --batch (segments in memory) and single queries (clusters read transiently, vectors by
 * range) under the three metrics, k of 10 and 200, one vector under several ids in several segments (ties
 * by id), and cosine with many zero vectors.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 32;
/** Segment sizes in import order; the later ones re-import ids of the first (updates). */
const SIZES = [7000, 5000, 3000, 1500, 1200, 300];
/** Segments of at least 1,000 rows get an IVF (ivf.ts FLAT_BELOW), the last a flat index. */
const ANN_SEGMENTS = 5;
const DUP = SIZES.length + 1; // ids 0..DUP-1 hold one vector, one per segment and two in the first (see layout)
/**
 * Each batch's vectors scaled and shifted from the common clusters, as data imported over months drifts:
 * each segment's quantizer is trained on its own range, so their estimated scores differ in scale and bias
 * (a search comparing estimates across segments had recall of 0.01 under l2 on this layout, 0.3 for one
 * cosine query).
 */
const SCALE = [3, 1, 0.5, 2, 0.3, 1];
const SHIFT = [0, 0.5, -0.5, 0, 1, 0];
type Hit = { id: number; score: number };

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The import batches: clustered vectors (20 centres); batch b > 0 holds new ids and re-imports (updates)
 * of earlier ones with new vectors; `zeros` of the vectors are zero vectors. Ids 0..DUP-1 share one vector
 * and are placed one per batch (the first two in batch 0), so a tie spans segments.
 */
function layout(zeros: number, seed: number): { batches: string[][]; deletes: number[]; dup: number[] } {
  const r = mulberry32(seed);
  const centres = Array.from({ length: 20 }, () => Array.from({ length: DIM }, () => 2 * gaussian(r)));
  const dup = centres[3]!.map((x) => round(x + 0.5));
  const vec = (b: number) => {
    if (r() < zeros) return Array.from({ length: DIM }, () => 0);
    const c = centres[Math.floor(r() * 20)]!;
    return c.map((x) => round(SCALE[b]! * (x + gaussian(r)) + SHIFT[b]!));
  };
  let next = DUP;
  const batches = SIZES.map((size, b) => {
    const lines: string[] = [];
    for (const id of b === 0 ? [0, 1] : [b + 1]) lines.push(JSON.stringify({ id, vector: dup }));
    while (lines.length < size) {
      // Later batches: a third of their rows update a document of an earlier batch.
      const id = b > 0 && r() < 0.33 ? DUP + Math.floor(r() * (next - DUP)) : next++;
      lines.push(JSON.stringify({ id, vector: vec(b) }));
    }
    return lines;
  });
  const deletes = Array.from({ length: 400 }, () => DUP + Math.floor(r() * (next - DUP)));
  return { batches, deletes: [...new Set(deletes)], dup };
}

/**
 * `seg`: one segment per batch, the deletes before batch 3. `jr`: the documents `seg` ends with, imported
 * once with --no-flush into an empty namespace, so its answers are an exact scan of the journal (a later
 * import would flush the journal first: --no-flush leaves only its own documents there).
 */
async function setup(metric: string, zeros: number, seed: number) {
  const d = join(tmpDir(), 'data');
  const l = layout(zeros, seed);
  const final = new Map<number, string>();
  for (const ns of ['seg', 'jr']) expect((await cli(['-d', d, 'init', ns, '--dim', String(DIM), '--metric', metric])).code).toBe(0);
  for (let b = 0; b < l.batches.length; b++) {
    if (b === 3) {
      const del = await cli(['-d', d, 'delete', 'seg', '--ids', l.deletes.join(',')]);
      expect(del.code, del.stderr).toBe(0);
      for (const id of l.deletes) final.delete(id);
    }
    const imp = await cli(['-d', d, '-q', 'import', 'seg', '-'], { input: `${l.batches[b]!.join('\n')}\n` });
    expect(imp.code, imp.stderr).toBe(0);
    for (const line of l.batches[b]!) final.set((JSON.parse(line) as { id: number }).id, line);
  }
  const imp = await cli(['-d', d, '-q', 'import', 'jr', '-', '--no-flush'], { input: `${[...final.values()].join('\n')}\n` });
  expect(imp.code, imp.stderr).toBe(0);
  const one = await single(d, 'jr', { vector: Array.from({ length: DIM }, () => 1), top_k: 1 });
  expect(one.sources.map((s) => s.vector)).toEqual(['exact-scan']);
  return { d, ...l };
}

async function batch(d: string, ns: string, requests: object[]): Promise<Hit[][]> {
  const res = await cli(['-d', d, 'query', ns, '--batch', '-'], { input: `${requests.map((x) => JSON.stringify(x)).join('\n')}\n` });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { results: Hit[] }).results);
}

async function single(d: string, ns: string, request: object): Promise<{ results: Hit[]; sources: { vector?: string }[] }> {
  const res = await cli(['-d', d, 'query', ns, '--request', '-', '--explain', '--format', 'json'], { input: JSON.stringify(request) });
  expect(res.code, res.stderr).toBe(0);
  const r = JSON.parse(res.stdout) as { results: Hit[]; explain: { sources: { vector?: string }[] } };
  return { results: r.results, sources: r.explain.sources };
}

/** The lowest and the mean recall over the queries (each query's share of its exact answer). */
function recall(got: Hit[][], want: Hit[][]): { min: number; mean: number } {
  let min = 1;
  let sum = 0;
  for (let i = 0; i < want.length; i++) {
    const exact = new Set(want[i]!.map((h) => h.id));
    let hit = 0;
    for (const h of got[i]!) if (exact.has(h.id)) hit++;
    expect(got[i]!.length).toBe(want[i]!.length);
    min = Math.min(min, hit / exact.size);
    sum += hit / exact.size;
  }
  return { min, mean: sum / want.length };
}

describe('vector queries over segments of unequal sizes, with updates and deletes', () => {
  it.each(['cosine', 'l2', 'dot'])('%s: each query answers as the exact scan', async (metric) => {
    const { d, dup } = await setup(metric, 0, 21);
    const q = mulberry32(8);
    const random = Array.from({ length: 30 }, () => Array.from({ length: DIM }, () => round(2 * gaussian(q))));
    const requests = [...random.map((vector) => ({ vector, top_k: 10 })), ...random.slice(0, 10).map((vector) => ({ vector, top_k: 200 }))];
    const want = await batch(d, 'jr', requests);
    const got = await batch(d, 'seg', requests);
    const r = recall(got, want);
    expect(r.mean).toBeGreaterThanOrEqual(0.98);
    expect(r.min).toBeGreaterThanOrEqual(0.9); // 1 and 1 for each metric when this was written
    // The layout is what this test is about: five segments searched by ANN, one flat.
    const one = await single(d, 'seg', requests[0]!);
    expect(one.sources.filter((s) => s.vector === 'ann')).toHaveLength(ANN_SEGMENTS);
    expect(one.results.map((h) => h.id)).toEqual(got[0]!.map((h) => h.id));
    const big = await single(d, 'seg', requests[30]!);
    expect(big.results.map((h) => h.id)).toEqual(got[30]!.map((h) => h.id));
    // A vector held by seven ids in six segments: under l2 and cosine they are the six best, in id order.
    if (metric !== 'dot') {
      const [tie] = await batch(d, 'seg', [{ vector: dup, top_k: 4 }]);
      expect(tie!.map((h) => h.id)).toEqual([0, 1, 2, 3]);
      expect(new Set(tie!.map((h) => h.score)).size).toBe(1);
    }
  });

  it('cosine with 90% zero vectors: the answer holds no zero vector and is the exact one', async () => {
    const { d } = await setup('cosine', 0.9, 22);
    const q = mulberry32(9);
    const requests = Array.from({ length: 10 }, () => ({ vector: Array.from({ length: DIM }, () => round(gaussian(q))), top_k: 50 }));
    const want = await batch(d, 'jr', requests);
    for (const w of want) expect(w.every((h) => h.score > 0)).toBe(true);
    const got = await batch(d, 'seg', requests);
    // Zero vectors crowd each segment's candidate list (their codes stand for unrelated directions):
    // recall@50 is lower here than on the layout above (0.84 to 1 a query, mean 0.95, when this was written).
    expect(recall(got, want).mean).toBeGreaterThanOrEqual(0.9);
    for (const g of got) expect(g.every((h) => h.score > 0)).toBe(true);
    const one = await single(d, 'seg', requests[0]!);
    expect(one.results.map((h) => h.id)).toEqual(got[0]!.map((h) => h.id));
  });
});
