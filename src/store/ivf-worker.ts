/**
 * Worker thread entry: builds a segment's IVF index on the second core while the main thread writes the
 * Parquet file and the full-text postings (see segment-builder.ts IvfBuild).
 *
 * Two kinds of build. `whole`: workerData holds every vector (shared memory) and the ordinals; the worker
 * answers with the file. Streaming: workerData carries the build's parameters and its training sample
 * (trained on at once); each message is the next rows, `{ ords, vectors, ack }` in ordinal order (vectors
 * transferred, or a view of shared memory the parent keeps unchanged), answered by their byte count when
 * `ack`; `null` ends the rows and the worker answers with the file's bytes (transferred), then lets its
 * port go and exits. An error ends the thread (the parent's 'error' event).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildIvf, IvfStreamBuilder } from '../index/vector/ivf.js';
import type { Metric } from '../model/types.js';
import { fullCollection } from '../util/gc.js';

/** Bytes of copied rows between two collections of this thread's garbage. */
const COLLECT_EVERY_BYTES = 16 * 1024 * 1024;

const port = parentPort!;
if ((workerData as { whole?: boolean }).whole) {
  // A build from all the vectors at once, shared with the thread writing them to Parquet
  // (segment-builder.ts packVectors): only read (a cosine build normalizes each row as it reads it).
  const d = workerData as { vectors: Float32Array; ords: Uint32Array; dim: number; metric: Metric; seed: number };
  const out = buildIvf(d.vectors, d.ords, d.dim, d.metric, { seed: d.seed });
  port.postMessage(out, [out.buffer as ArrayBuffer]);
} else {
  const d = workerData as { dim: number; metric: Metric; seed: number; n: number; sample?: Float32Array; sampleOrds?: Uint32Array };
  const builder = new IvfStreamBuilder(d.dim, d.metric, d.seed, d.n, d.sample!, d.sampleOrds!);
  // The builder keeps what it trained, not the sample: let it go (workerData lives as long as the thread).
  delete d.sample;
  delete d.sampleOrds;
  let done = 0;
  port.on('message', (m: { ords: Uint32Array; vectors: Float32Array; ack: boolean } | null) => {
    if (m !== null) {
      builder.add(m.ords, m.vectors);
      if (!m.ack) return;
      // A copy made for this thread: the sender counts them (its backlog) until told they are done.
      port.postMessage(m.vectors.byteLength);
      // Copies done with are garbage V8 would let reach ~64 MB before collecting this small heap: a
      // collection costs little here, so one every COLLECT_EVERY_BYTES.
      done += m.vectors.byteLength;
      if (done >= COLLECT_EVERY_BYTES) {
        done = 0;
        fullCollection();
      }
      return;
    }
    const out = builder.finish();
    port.postMessage(out, [out.buffer as ArrayBuffer]);
    // Nothing else keeps the thread alive: it ends once the answer is sent.
    port.removeAllListeners('message');
  });
}
