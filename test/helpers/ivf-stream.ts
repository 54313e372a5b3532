import { IvfStreamBuilder, VectorReservoir } from '../../src/index/vector/ivf.js';
import type { Metric } from '../../src/model/types.js';
import { mulberry32 } from '../../src/util/prng.js';

/**
 * The streaming IVF build a segment build does (store/segment-builder.ts): a reservoir sample of the rows as
 * a first pass gives them, then the rows again in chunks of random sizes (drawn from `chunkSeed`).
 */
export function streamBuild(vectors: Float32Array, ords: Uint32Array, dim: number, metric: Metric, seed: number, chunkSeed = seed): Uint8Array {
  const n = ords.length;
  const reservoir = new VectorReservoir(dim, n + 37, seed);
  for (let i = 0; i < n; i++) reservoir.add(ords[i]!, vectors, i * dim);
  const { sample, sampleOrds } = reservoir.finish();
  const b = new IvfStreamBuilder(dim, metric, seed, n, sample, sampleOrds);
  const r = mulberry32(chunkSeed);
  for (let at = 0; at < n; ) {
    const end = Math.min(n, at + 1 + Math.floor(r() * 3000));
    b.add(ords.slice(at, end), vectors.slice(at * dim, end * dim));
    at = end;
  }
  return b.finish();
}
