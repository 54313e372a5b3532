/**
 * Recall property: on clustered data, IvfReader.search at its default (adaptive) nprobe finds >= 95% of
 * the exact top-10, for every metric, unfiltered and with filters letting ~50% and ~10% of the documents
 * through. fast-check draws the data shape (rows, dimensions, clusters, how far apart they are) and the
 * seeds; queries are fresh points from the same distribution. Both builds: buildIvf (every row at once)
 * and the streaming build a segment uses (a reservoir sample, then the rows in chunks of random sizes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIvf, IvfReader } from '../../../src/index/vector/ivf.js';
import { streamBuild } from '../../helpers/ivf-stream.js';
import type { Metric } from '../../../src/model/types.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { gaussian as gauss, mulberry32 as rng } from '../../../src/util/prng.js';


interface Shape {
  n: number;
  dim: number;
  clusters: number;
  /** standard deviation of the cluster centers; points have unit variance around theirs */
  spread: number;
  seed: number;
}

const QUERIES = 20;

function recallFor(metric: Metric, shape: Shape, build: 'whole' | 'stream' = 'whole'): Record<string, number> {
  const { n, dim, clusters, spread, seed } = shape;
  const r = rng(seed);
  const centers = Float32Array.from({ length: clusters * dim }, () => gauss(r) * spread);
  const all = new Float32Array((n + QUERIES) * dim);
  for (let i = 0; i < n + QUERIES; i++) {
    const c = Math.floor(r() * clusters);
    for (let j = 0; j < dim; j++) all[i * dim + j] = centers[c * dim + j]! + gauss(r);
  }
  const ords = Uint32Array.from({ length: n }, (_, i) => i * 2 + 1);
  // version 2 (quantized codes): candidates re-scored from the original vectors, ordinal i * 2 + 1 is row i
  const vectors = all.subarray(0, n * dim);
  const file = build === 'whole' ? buildIvf(vectors, ords, dim, metric, { seed }) : streamBuild(vectors, ords, dim, metric, seed);
  const rd = IvfReader.open(new MemorySource(file), {
    vectorOf: (o) => all.subarray(((o - 1) / 2) * dim, ((o - 1) / 2 + 1) * dim),
  });
  const filters: Record<string, ((o: number) => boolean) | undefined> = {
    unfiltered: undefined,
    '50%': (o) => ((o * 2654435761) >>> 0) % 100 < 50,
    '10%': (o) => ((o * 2654435761) >>> 0) % 100 < 10,
  };
  const out: Record<string, number> = {};
  for (const [name, allow] of Object.entries(filters)) {
    let hit = 0;
    let total = 0;
    for (let i = 0; i < QUERIES; i++) {
      const q = all.subarray((n + i) * dim, (n + i + 1) * dim);
      const want = new Set(rd.exact(q, 10, allow).ords);
      const got = rd.search(q, 10, { allow });
      expect(got.ords.length).toBe(want.size);
      for (const o of got.ords) if (want.has(o)) hit++;
      total += want.size;
    }
    out[name] = hit / total;
  }
  return out;
}

const shapes = fc.record({
  n: fc.integer({ min: 5000, max: 8000 }),
  dim: fc.constantFrom(32, 48, 64),
  clusters: fc.integer({ min: 10, max: 60 }),
  spread: fc.double({ min: 0.8, max: 2.5, noNaN: true }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

describe.each([
  ['cosine', 'whole'],
  ['l2', 'whole'],
  ['dot', 'whole'],
  ['cosine', 'stream'],
  ['l2', 'stream'],
  ['dot', 'stream'],
] as const)('IVF recall@10 (%s, %s build)', (metric, build) => {
  it('is >= 0.95 at the default nprobe, unfiltered and at ~50% and ~10% selectivity', () => {
    fc.assert(
      fc.property(shapes, (shape) => {
        const recall = recallFor(metric, shape, build);
        for (const [name, value] of Object.entries(recall)) {
          expect(value, `${name} recall for ${JSON.stringify(shape)}`).toBeGreaterThanOrEqual(0.95);
        }
      }),
      { numRuns: 3, seed: 20240611 + metric.length },
    );
  });
});
