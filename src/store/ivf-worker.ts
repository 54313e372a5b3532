/**
 * Worker thread entry: builds a segment's IVF index on the second core while the main thread writes the
 * Parquet file and the full-text postings (see segment-builder.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildIvf } from '../index/vector/ivf.js';
import type { Metric } from '../model/types.js';

const d = workerData as { vectors: Float32Array; ords: Uint32Array; dim: number; metric: Metric; seed: number };
const out = buildIvf(d.vectors, d.ords, d.dim, d.metric, { seed: d.seed });
parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
