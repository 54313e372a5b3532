/**
 * A vector-peer thread (see vector-peer.ts): opens the segments it was given as the main thread's snapshot
 * holds them (rows and dead rows from that snapshot, files verified again), then answers each task with
 * `retrieveVectors` over them. Replies are posted BEFORE the shared flag is raised, so the main thread,
 * blocked in `Atomics.wait`, always finds the reply it was woken for (as objstore/store-worker.ts does).
 *
 * Protocol on `port`: in, `{ id, task }`; out, `{ id, ok: true, result }` or `{ id, ok: false, error }`.
 * Reply 0 says the segments are open (or why they are not: the main thread then searches them itself).
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { toWire } from '../util/wire-error.js';
import type { SegmentRow } from '../storage/manifest.js';
import { retrieveVectors, type SearchSource, type VectorTask } from '../query/engine.js';
import { SegmentSource } from './search-sources.js';
import { openSegmentHandles, type SegmentHandle } from './snapshot.js';

export interface PeerWorkerData {
  dir: string;
  port: MessagePort;
  flag: Int32Array;
  /** The main thread's source index of each segment below. */
  indexes: number[];
  rows: SegmentRow[];
  dead: (Uint8Array | null)[];
  dim: number;
}

const { dir, port, flag, indexes, rows, dead, dim } = workerData as PeerWorkerData;

function reply(r: unknown): void {
  port.postMessage(r);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

// Sparse: only this thread's sources are present, at the main thread's indexes.
const sources: SearchSource[] = [];
let handles: SegmentHandle[] = [];
let opened = false;
try {
  handles = openSegmentHandles(dir, rows, dead, { loadFully: true });
  // No text is searched here: no analyzer is ever asked for.
  handles.forEach((h, j) => (sources[indexes[j]!] = new SegmentSource(h, () => null)));
  opened = true;
  reply({ id: 0, ok: true });
} catch (e) {
  reply({ id: 0, ok: false, error: toWire(e) });
}

if (opened) {
  // Tasks are taken synchronously: the main thread raises `flag[1]` after posting one, and this thread,
  // blocked in Atomics.wait between tasks, takes it with receiveMessageOnPort (a 'message' listener,
  // woken through the event loop, measured alike: 1M --batch p50 ~1.4 ms either way). `{ close }` ends
  // the loop: the segments' files are closed (a terminated worker would leave its descriptors open).
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (m === undefined) {
      Atomics.wait(flag, 1, 0);
      Atomics.store(flag, 1, 0);
      continue;
    }
    const t = m.message as { id: number; task: VectorTask } | { close: true };
    if ('close' in t) {
      for (const h of handles) h.close();
      break;
    }
    try {
      reply({ id: t.id, ok: true, result: retrieveVectors(sources, indexes, t.task, dim) });
    } catch (e) {
      reply({ id: t.id, ok: false, error: toWire(e) });
    }
  }
  port.close();
}
