/**
 * Worker thread entry: builds a segment's IVF index on the second core while the main thread writes the
 * Parquet file and the full-text postings (see segment-builder.ts IvfBuild).
 *
 * Protocol: workerData carries the build's parameters and its training sample (trained on at once); each
 * message is the next rows, `{ ords, vectors, ack }` in ordinal order (vectors transferred, or a view of
 * shared memory the parent keeps unchanged), answered by their byte count when `ack`; `null` ends the rows
 * and the worker answers with the file's bytes (transferred), then lets its port go and exits. An error
 * ends the thread (the parent's 'error' event).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IvfStreamBuilder } from '../index/vector/ivf.js';
import type { Metric } from '../model/types.js';

const d = workerData as { dim: number; metric: Metric; seed: number; n: number; sample: Float32Array; sampleOrds: Uint32Array };
const builder = new IvfStreamBuilder(d.dim, d.metric, d.seed, d.n, d.sample, d.sampleOrds);
const port = parentPort!;
port.on('message', (m: { ords: Uint32Array; vectors: Float32Array; ack: boolean } | null) => {
  if (m !== null) {
    builder.add(m.ords, m.vectors);
    // A copy made for this thread: the sender counts them (its backlog) until told they are done.
    if (m.ack) port.postMessage(m.vectors.byteLength);
    return;
  }
  const out = builder.finish();
  port.postMessage(out, [out.buffer as ArrayBuffer]);
  // Nothing else keeps the thread alive: it ends once the answer is sent.
  port.removeAllListeners('message');
});
