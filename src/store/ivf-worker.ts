/**
 * Worker thread entry: builds a segment's IVF index on the second core while the main thread writes the
 * Parquet file and the full-text postings (see segment-builder.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildIvf } from '../index/vector/ivf.js';
import type { Metric } from '../model/types.js';

const d = workerData as { vectors: Float32Array; ords: Uint32Array; dim: number; metric: Metric; seed: number };
// The vectors are shared with the thread writing them to Parquet (segment-builder.ts packVectors): the
// build only reads them (a cosine build normalizes each row as it reads it, not in place).
const out = buildIvf(d.vectors, d.ords, d.dim, d.metric, { seed: d.seed });
parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
