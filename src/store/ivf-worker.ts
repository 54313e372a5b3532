/**
 * Worker thread entry: builds a segment's IVF index on the second core while the main thread writes the
 * Parquet file and the full-text postings (see segment-builder.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildIvf } from '../index/vector/ivf.js';
import type { Metric } from '../model/types.js';

const d = workerData as { vectors: Float32Array; ords: Uint32Array; dim: number; metric: Metric; seed: number };
// The vectors were transferred to this thread: the build may normalize them in place.
const out = buildIvf(d.vectors, d.ords, d.dim, d.metric, { seed: d.seed, consumeVectors: true });
parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
