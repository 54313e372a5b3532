/**
 * The main thread's handle on the write thread (write-worker.ts): one job per write request, request
 * bodies forwarded chunk by chunk with backpressure (at most MAX_IN_FLIGHT chunks not yet consumed).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ElacsymError, type ErrorCode, ERRORS } from '../errors.js';
import type { DocId } from '../model/types.js';
import type { FlushResult } from '../store/writer.js';
import type { ImportSummary } from '../store/ingest.js';
import type { ImportJobOptions } from './write-worker.js';

const MAX_IN_FLIGHT = 8;

interface Job {
  /** The namespace written (its write fence moves when the job ends). */
  name: string;
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
  onEvent: (e: Record<string, unknown>) => void;
  consumed: () => void;
}

function workerUrl(): URL {
  const here = import.meta.url;
  const url = [new URL('./write-worker.mjs', here), new URL('./write-worker.js', here)].find((u) => existsSync(fileURLToPath(u)));
  if (!url) throw new ElacsymError('INTERNAL', 'the write worker is not built; run npm run build');
  return url;
}

export class WriteThread {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private readonly fences = new Map<string, number>();

  constructor(dataDir: string) {
    this.worker = new Worker(workerUrl(), { workerData: { dataDir }, execArgv: [] }); // none of the process's Node options (see vector-peer.ts)
    this.worker.on('message', (m: { t: string; id: number; event?: Record<string, unknown>; result?: unknown; error?: { code: string; message: string; hint?: string; details?: Record<string, unknown> } }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      if (m.t === 'event') job.onEvent(m.event!);
      else if (m.t === 'consumed') job.consumed();
      else if (m.t === 'done') {
        this.jobs.delete(m.id);
        this.advance(job.name);
        job.resolve(m.result);
      } else if (m.t === 'error') {
        this.jobs.delete(m.id);
        this.advance(job.name); // a failed job may have committed batches before its error
        const code = (m.error!.code in ERRORS ? m.error!.code : 'INTERNAL') as ErrorCode;
        job.reject(new ElacsymError(code, m.error!.message, { hint: m.error!.hint, details: m.error!.details ?? {} }));
      }
    });
    const failAll = (why: string) => {
      for (const j of this.jobs.values()) this.advance(j.name);
      for (const j of this.jobs.values()) j.reject(new ElacsymError('INTERNAL', `write thread ${why}`));
      this.jobs.clear();
    };
    this.worker.on('error', (e) => failAll(`failed: ${e.message}`));
    this.worker.on('exit', (c) => failAll(`exited with code ${c}`));
  }

  /**
   * The write fence of a namespace: a number that moves, before the response is sent, every time a write
   * job of this server on it ends (upsert, delete, import; failed ones too, they may have committed). A
   * query carries the fence current when it arrived; a warm snapshot older than that fence is refreshed
   * without the rate limit of warm.ts, so a write this server acknowledged is visible to every request
   * that starts after the acknowledgement (read your writes).
   */
  fence(name: string): number {
    return this.fences.get(name) ?? 0;
  }

  private advance(name: string): void {
    this.fences.set(name, this.fence(name) + 1);
  }

  /**
   * Streams `body` into an import of `name`. `stop` (shutdown) aborts the job's AbortSignal: the core
   * commits the lines already received and ends it with INTERRUPTED. Resolves with the import's summary.
   */
  import(name: string, opts: ImportJobOptions, waitMs: number, body: AsyncIterable<Uint8Array>, onEvent: ((e: Record<string, unknown>) => void) | null): { done: Promise<ImportSummary>; stop: () => void } {
    const id = this.nextId++;
    let inFlight = 0;
    let wakePump: (() => void) | null = null;
    let finished = false;
    const done = new Promise<ImportSummary>((resolve, reject) => {
      this.jobs.set(id, {
        name,
        resolve: resolve as (r: unknown) => void,
        reject,
        onEvent: onEvent ?? (() => undefined),
        consumed: () => {
          inFlight--;
          wakePump?.();
        },
      });
    }).finally(() => {
      finished = true;
      wakePump?.();
    });
    this.worker.postMessage({ t: 'import', id, name, opts, waitMs, events: onEvent !== null });
    void (async () => {
      try {
        for await (const c of body) {
          // After the job ended (stopped by shutdown, a bad line with on_error=fail), the rest of the body
          // is read and dropped, not cut off: returning from this loop would destroy the request and its
          // socket, and a reset can discard the response's last event before the client reads it. The
          // server half-closes the connection so the client stops sending (app.ts lingeringClose).
          if (finished) continue;
          const copy = new Uint8Array(c); // http chunks may share a pooled buffer: copy, then transfer
          this.worker.postMessage({ t: 'chunk', id, chunk: copy }, [copy.buffer]);
          inFlight++;
          while (inFlight >= MAX_IN_FLIGHT && !finished) await new Promise<void>((r) => (wakePump = r));
          wakePump = null;
        }
        this.worker.postMessage({ t: 'end', id });
      } catch {
        // the client went away: the import ends without the rest (committed batches stay)
        this.worker.postMessage({ t: 'stop', id });
      }
    })();
    return { done, stop: () => this.worker.postMessage({ t: 'stop', id }) };
  }

  delete(name: string, ids: DocId[], waitMs: number): Promise<FlushResult> {
    const id = this.nextId++;
    const p = new Promise<FlushResult>((resolve, reject) => this.jobs.set(id, { name, resolve: resolve as (r: unknown) => void, reject, onEvent: () => undefined, consumed: () => undefined }));
    this.worker.postMessage({ t: 'delete', id, name, ids, waitMs });
    return p;
  }

  /** Waits for running jobs (the server stopped them first), then ends the thread. */
  async close(): Promise<void> {
    while (this.jobs.size > 0) await new Promise((r) => setTimeout(r, 10));
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
