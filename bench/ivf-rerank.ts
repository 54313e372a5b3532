// IVF version 1 (float32 clusters) against version 4 (int8 codes + exact re-ranking) and version 5 (4-bit
// residual codes + exact re-ranking, the default) on one seeded clustered data set: file bytes, recall@k
// against exact search and search latency per re-rank width.
// A benchmark, not a test. Usage (from the repository):
//   npx esbuild bench/ivf-rerank.ts --bundle --platform=node --format=esm --outfile=/tmp/ivf-rerank.mjs
//   node /tmp/ivf-rerank.mjs [docs=100000] [metric=cosine]
import { buildIvf, IvfReader } from '../src/index/vector/ivf.js';
import type { Metric } from '../src/model/types.js';
import { MemorySource } from '../src/util/bytes.js';
import { gaussian as gauss, mulberry32 as rng } from '../src/util/prng.js';

const N = Number(process.argv[2] ?? 100000);
const metric = (process.argv[3] ?? 'cosine') as Metric;
const DIM = 128;
const NQ = 200;
const CLUSTERS = 300;
const r = rng(7);
const centers = Float32Array.from({ length: CLUSTERS * DIM }, () => gauss(r));
const all = new Float32Array((N + NQ) * DIM);
for (let i = 0; i < N + NQ; i++) {
  const c = Math.floor(r() * CLUSTERS);
  for (let j = 0; j < DIM; j++) all[i * DIM + j] = centers[c * DIM + j]! + gauss(r);
}
const ords = Uint32Array.from({ length: N }, (_, i) => i);
const vecs = all.subarray(0, N * DIM);
const vectorOf = (o: number): Float32Array => vecs.subarray(o * DIM, (o + 1) * DIM);
const b1 = buildIvf(vecs, ords, DIM, metric, { version: 1 });
const b4 = buildIvf(vecs, ords, DIM, metric, { version: 4 });
const b5 = buildIvf(vecs, ords, DIM, metric);
console.log(`${N} x ${DIM} ${metric}: IVF file bytes v1 ${b1.length}, v4 ${b4.length}, v5 ${b5.length}`);
const qs = Array.from({ length: NQ }, (_, i) => all.subarray((N + i) * DIM, (N + i + 1) * DIM));
for (const resident of [false, true]) {
  const r1 = IvfReader.open(new MemorySource(b1), { resident, cacheBytes: 256 << 20 });
  const r4 = IvfReader.open(new MemorySource(b4), { resident, vectorOf, cacheBytes: 256 << 20 });
  const r5 = IvfReader.open(new MemorySource(b5), { resident, vectorOf, cacheBytes: 256 << 20 });
  for (const k of [10, 100]) {
    const truth = qs.map((q) => new Set(r1.exact(q, k).ords));
    const variants: Array<[string, IvfReader, number | undefined]> = [
      ['v1', r1, undefined],
      ['v4 rerank default', r4, undefined],
      ['v5 rerank 2k', r5, 2 * k],
      ['v5 rerank default', r5, undefined],
      ['v5 rerank 4k', r5, 4 * k],
      ['v4 rerank default', r4, undefined],
      ['v5 rerank default', r5, undefined],
    ];
    for (const [name, rd, rerank] of variants) {
      let line = '';
      for (let rep = 0; rep < 2; rep++) {
        const lat: number[] = [];
        let hit = 0;
        qs.forEach((q, i) => {
          const t0 = performance.now();
          const h = rd.search(q, k, { rerank });
          lat.push(performance.now() - t0);
          for (const o of h.ords) if (truth[i]!.has(o)) hit++;
        });
        lat.sort((a, b) => a - b);
        line = `resident=${resident} k=${k} ${name}: recall ${(hit / (k * NQ)).toFixed(4)}, p50 ${lat[NQ >> 1]!.toFixed(3)} ms, p99 ${lat[Math.floor(NQ * 0.99)]!.toFixed(3)} ms`;
      }
      console.log(line); // the second pass (the first warms up)
    }
  }
  r1.release();
  r4.release();
  r5.release();
}
