/**
 * Vector peers: threads that each search some of a snapshot's segments for a `--batch`, so that one query
 * over a namespace of several large segments uses more than one core (query/engine.ts VectorPeer).
 *
 * Why: a vector query's cost at 1M x 128 is its ten segments' IVF searches one after the other (~0.2 ms
 * each); their answers are independent up to the merge, which orders by exact score, then id. A peer opens
 * its segments once from the rows and dead rows of the main thread's snapshot (never from the manifest
 * again: the same state, whatever a writer committed since), holds them resident as the batch does, and
 * answers each query's task while the main thread searches its own share.
 *
 * The main thread blocks in `Atomics.wait` for a reply (a query is synchronous) and takes it with
 * `receiveMessageOnPort`, as the object-store bridge does (objstore/sync-store.ts). A peer that cannot open
 * its segments (a compaction retired a file since the snapshot) or that dies is dropped: the main thread
 * then searches those segments itself, as without peers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { SearchSource, VectorPeer, VectorTask, VectorTaskResult } from '../query/engine.js';
import type { Snapshot } from './snapshot.js';
import { SegmentSource } from './search-sources.js';
import type { PeerWorkerData } from './vector-peer-worker.js';
import { fromWire, type WireError } from '../util/wire-error.js';

/**
 * How long the main thread waits for one reply before it gives the peer up and searches those segments
 * itself (the same answer, later). A peer whose isolate died (out of memory) never answers, and its exit
 * event cannot reach a thread blocked in Atomics.wait: this bounds that wait. A slow but live peer's late
 * reply is dropped by its id.
 */
const REPLY_TIMEOUT_MS = 60_000;

function workerUrl(): URL | undefined {
  // dist/vector-peer-worker.mjs next to the CLI bundle, or dist/store/vector-peer-worker.js next to tsc's output.
  return [new URL('./vector-peer-worker.mjs', import.meta.url), new URL('./vector-peer-worker.js', import.meta.url)].find((u) => existsSync(fileURLToPath(u)));
}

/**
 * Which sources go to which thread: index lists, the first for the main thread. Segments with vectors are
 * dealt out largest first to the least loaded thread (ties to the lowest index); the main thread also keeps
 * the journal's source. One list only (nothing handed over) for one thread or fewer than two such segments.
 */
export function planPeers(sources: readonly SearchSource[], threads: number): number[][] {
  const segs: number[] = [];
  let load = 0;
  sources.forEach((s, i) => {
    if (s instanceof SegmentSource && s.hasVectors) segs.push(i);
    else load += s.size;
  });
  const n = Math.min(Math.max(1, Math.floor(threads)), segs.length);
  if (n < 2) return [sources.map((_, i) => i)];
  const lists: number[][] = Array.from({ length: n }, () => []);
  const loads = new Array<number>(n).fill(0);
  loads[0] = load;
  const mine = new Set(segs);
  segs.sort((a, b) => sources[b]!.size - sources[a]!.size || a - b);
  for (const i of segs) {
    let t = 0;
    for (let j = 1; j < n; j++) if (loads[j]! < loads[t]!) t = j;
    lists[t]!.push(i);
    loads[t]! += sources[i]!.size;
  }
  sources.forEach((_, i) => {
    if (!mine.has(i)) lists[0]!.push(i);
  });
  for (const l of lists) l.sort((a, b) => a - b);
  return lists;
}

/** One peer thread and the sources it searches. */
class PeerThread {
  /** [0]: raised by the peer after each reply; [1]: raised here after each task (see vector-peer-worker.ts). */
  private readonly flag = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private nextId = 1;
  /** False once the peer failed to open its segments or gave no reply: its sources are searched here. */
  alive = true;
  private ready = false;

  constructor(
    url: URL,
    dir: string,
    readonly indexes: number[],
    sources: readonly SearchSource[],
    dim: number,
  ) {
    const { port1, port2 } = new MessageChannel();
    const handles = indexes.map((i) => (sources[i] as SegmentSource).handle);
    const data: PeerWorkerData = { dir, port: port2, flag: this.flag, indexes, rows: handles.map((h) => h.row), dead: handles.map((h) => h.dead), dim };
    // No execArgv: the worker needs none, and some of the process's own are refused for a worker
    // (`node --trace-gc bin/elacsym` failed with "invalid execArgv flags"; `--input-type` of a `node -e`
    // parent would keep it from loading its file). V8 flags are process-wide and apply to it anyway.
    this.worker = new Worker(url, { workerData: data, transferList: [port2], execArgv: [] });
    this.worker.unref();
    this.worker.on('error', () => undefined); // a dead peer shows as a missing reply (below)
    port1.unref();
    this.port = port1;
  }

  start(task: VectorTask): number {
    const id = this.nextId++;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ id, task });
    Atomics.store(this.flag, 1, 1);
    Atomics.notify(this.flag, 1);
    return id;
  }

  /** The reply to `id`, or null when the peer is gone (it could not open its segments, or did not answer). */
  finish(id: number): VectorTaskResult | null {
    if (!this.ready) {
      const r = this.await(0);
      this.ready = true;
      if (r === null || !r.ok) return this.drop();
    }
    const r = this.await(id);
    if (r === null) return this.drop();
    if (!r.ok) throw fromWire(r.error!);
    return r.result!;
  }

  private await(id: number): { ok: boolean; result?: VectorTaskResult; error?: WireError } | null {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      // Replies to tasks a failed query never waited for are older: dropped.
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const r = m.message as { id: number; ok: boolean; result?: VectorTaskResult; error?: WireError };
        if (r.id === id) return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      // The peer posts, then raises the flag: reset it before looking at the port again so no wake is lost.
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      Atomics.store(this.flag, 0, 0);
    }
  }

  private drop(): null {
    this.alive = false;
    this.port.close();
    void this.worker.terminate();
    return null;
  }

  /** Asks the peer to close its segments and end (it is between tasks: every task was waited for). */
  close(): void {
    if (!this.alive) return;
    this.alive = false;
    // The port stays open for the message to arrive (the peer closes it); neither it nor the worker keeps
    // the process alive (both unref'd).
    this.port.postMessage({ close: true });
    Atomics.store(this.flag, 1, 1);
    Atomics.notify(this.flag, 1);
  }
}

/**
 * The peers of one batch over `snap` (whose sources `sources` are, in the engine's order): one VectorPeer
 * for the engine that fans each task out to every live peer thread and merges their replies.
 */
export class VectorPeers implements VectorPeer {
  private readonly threads: PeerThread[];
  private ids: number[] = [];
  private _delegated: Set<number>;

  private constructor(threads: PeerThread[]) {
    this.threads = threads;
    this._delegated = new Set(threads.flatMap((t) => t.indexes));
  }

  /**
   * Peers for a batch over a local data directory's snapshot with `threads` threads in all (this one
   * included), or null when planPeers hands nothing over or the worker is not built.
   */
  static start(snap: Snapshot, sources: readonly SearchSource[], threads: number): VectorPeers | null {
    const plan = planPeers(sources, threads);
    const url = workerUrl();
    if (plan.length < 2 || !url) return null;
    const started: PeerThread[] = [];
    try {
      for (const indexes of plan.slice(1)) started.push(new PeerThread(url, snap.dir, indexes, sources, snap.schema.vector_dim));
    } catch {
      // A thread that cannot start (resource limits): this thread searches everything, as without peers.
      for (const t of started) t.close();
      return null;
    }
    return new VectorPeers(started);
  }

  get delegated(): ReadonlySet<number> {
    return this._delegated;
  }

  start(task: VectorTask): void {
    this.ids = this.threads.map((t) => (t.alive ? t.start(task) : 0));
  }

  finish(): VectorTaskResult | null {
    const all: VectorTaskResult = { src: [], ords: [], scores: [], counts: [], segs: [] };
    let lost = false;
    // Every live peer's reply is awaited before an error is thrown: no peer is still on this task when the
    // next one is posted (a late reply would be dropped by its id anyway).
    let error: unknown = null;
    this.threads.forEach((t, j) => {
      if (!t.alive) return;
      try {
        const r = t.finish(this.ids[j]!);
        if (r === null) lost = true;
        else merge(all, r);
      } catch (e) {
        error ??= e;
      }
    });
    if (error !== null) throw error;
    if (!lost) return reorder(all, this.order());
    // A peer is gone: the engine searches every delegated source itself for this query (the others' hits
    // are dropped: simpler than a partial answer, and it happens at most once per peer), and only the live
    // peers' sources stay delegated.
    this._delegated = new Set(this.threads.filter((t) => t.alive).flatMap((t) => t.indexes));
    return null;
  }

  /** The delegated indexes in the order the merged counts and plans are in (peer by peer). */
  private order(): number[] {
    return this.threads.filter((t) => t.alive).flatMap((t) => t.indexes);
  }

  close(): void {
    for (const t of this.threads) t.close();
  }
}

function merge(into: VectorTaskResult, r: VectorTaskResult): void {
  for (let j = 0; j < r.src.length; j++) {
    into.src.push(r.src[j]!);
    into.ords.push(r.ords[j]!);
    into.scores.push(r.scores[j]!);
  }
  into.counts.push(...r.counts);
  into.segs.push(...r.segs);
}

/** Counts and plans by ascending source index (the order executeQuery reads them in: `delegated` sorted). */
function reorder(r: VectorTaskResult, order: number[]): VectorTaskResult {
  const pos = order.map((i, j) => [i, j] as const).sort((a, b) => a[0] - b[0]);
  return { ...r, counts: pos.map(([, j]) => r.counts[j]!), segs: r.segs.length > 0 ? pos.map(([, j]) => r.segs[j]!) : [] };
}
