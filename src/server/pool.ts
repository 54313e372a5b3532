/**
 * The query worker pool: Node runs JavaScript on one thread, so queries are answered by N worker threads
 * (default: os.availableParallelism()), each with its own warm snapshots. The main thread only parses
 * HTTP, routes and writes. A request goes to the worker with the fewest requests in flight.
 * A worker that dies fails its in-flight requests with INTERNAL and is replaced.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ElacsymError, type ErrorCode, ERRORS } from '../errors.js';
import { HttpOnlyError } from './http-errors.js';
import type { QueryAnswer } from './query-exec.js';
import type { PublishedStats, RemoteSpec } from './published-warm.js';
import type { WarmStats } from './warm.js';

/** One worker's snapshots, and its block cache when it serves an object store. */
export interface WorkerStats {
  warm: WarmStats[];
  cache: PublishedStats['cache'] | null;
}

interface Pending {
  resolve: (a: QueryAnswer) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Pending>;
  /** Shared with the worker: [0] = the id (31 bits) of the last request given up on (see query-worker.ts). */
  cancel: Int32Array;
}

type Reply = { id: number; json: string; kind: QueryAnswer['kind']; generation: number } | { id: number; error: { code: string; message: string; hint?: string; details?: { line?: number } } };

/** The worker file beside this module: dist/query-worker.mjs beside the server bundle, or tsc's output. */
function workerUrl(): URL {
  const here = import.meta.url;
  const url = [new URL('./query-worker.mjs', here), new URL('./query-worker.js', here)].find((u) => existsSync(fileURLToPath(u)));
  if (!url) throw new ElacsymError('INTERNAL', 'the query worker is not built; run npm run build');
  return url;
}

export class QueryPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;
  private readonly statsWaiters = new Map<number, (w: WorkerStats) => void>();

  constructor(
    private readonly dataDir: string,
    readonly size: number,
    private readonly remote: RemoteSpec | null = null,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(workerUrl(), { workerData: { dataDir: this.dataDir, cancel, remote: this.remote }, execArgv: [] }); // none of the process's Node options (see vector-peer.ts)
    const slot: Slot = { worker, inflight: new Map(), cancel };
    worker.on('message', (m: Reply | ({ stats: number } & WorkerStats)) => {
      if ('stats' in m) {
        this.statsWaiters.get(m.stats)?.({ warm: m.warm, cache: m.cache });
        return;
      }
      const p = slot.inflight.get(m.id);
      if (!p) return;
      slot.inflight.delete(m.id);
      if (p.timer) clearTimeout(p.timer);
      if ('error' in m) {
        if (m.error.code === 'TIMEOUT') {
          p.reject(new HttpOnlyError('TIMEOUT', `the query did not finish within the request time limit (--request-timeout)`));
          return;
        }
        const code = (m.error.code in ERRORS ? m.error.code : 'INTERNAL') as ErrorCode;
        p.reject(new ElacsymError(code, m.error.message, { hint: m.error.hint, details: m.error.details?.line !== undefined ? { line: m.error.details.line } : {} }));
      } else p.resolve({ json: m.json, kind: m.kind, generation: m.generation });
    });
    const fail = (why: string) => {
      for (const p of slot.inflight.values()) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(new ElacsymError('INTERNAL', `query worker ${why}`));
      }
      slot.inflight.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closing) this.slots[i] = this.spawn();
    };
    worker.on('error', (e) => fail(`failed: ${e.message}`));
    worker.on('exit', (code) => {
      if (!this.closing) fail(`exited with code ${code}`);
    });
    return slot;
  }

  get inflight(): number {
    let n = 0;
    for (const s of this.slots) n += s.inflight.size;
    return n;
  }

  /** `fence`: the namespace's write fence when the request arrived (WarmSource.acquire). */
  run(ns: string, body: unknown, timeoutMs: number, fence = 0): Promise<QueryAnswer> {
    let best = this.slots[0]!;
    for (const s of this.slots) if (s.inflight.size < best.inflight.size) best = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: null };
      if (timeoutMs > 0) {
        // The client gets its answer on time; the worker is told to stop (it checks between segments,
        // and before starting a request that waited in its queue past the deadline), so a runaway query
        // does not keep a worker from the requests behind it.
        p.timer = setTimeout(() => {
          best.inflight.delete(id);
          Atomics.store(best.cancel, 0, id & 0x7fffffff);
          Atomics.notify(best.cancel, 0);
          reject(new HttpOnlyError('TIMEOUT', `the query did not finish within the ${timeoutMs} ms request time limit (--request-timeout)`));
        }, timeoutMs);
      }
      best.inflight.set(id, p);
      best.worker.postMessage({ id, ns, body, fence, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : 0 });
    });
  }

  /** Each worker's warm snapshots (generation, refresh age) and block cache, for /metrics and /health. */
  async stats(): Promise<WorkerStats[]> {
    return Promise.all(
      this.slots.map(
        (s) =>
          new Promise<WorkerStats>((resolve) => {
            const id = this.nextId++;
            const timer = setTimeout(() => done({ warm: [], cache: null }), 1000);
            const done = (w: WorkerStats) => {
              clearTimeout(timer);
              this.statsWaiters.delete(id);
              resolve(w);
            };
            this.statsWaiters.set(id, done);
            s.worker.postMessage({ stats: id });
          }),
      ),
    );
  }

  /** Waits for in-flight queries (bounded by their own timeouts), then stops the workers. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (s) => {
        while (s.inflight.size > 0) await new Promise((r) => setTimeout(r, 10));
        s.worker.postMessage({ close: true });
        await s.worker.terminate();
      }),
    );
  }
}
