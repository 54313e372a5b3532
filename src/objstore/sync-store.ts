/**
 * Synchronous calls into an asynchronous ObjectStore. The query engine reads segment ranges synchronously
 * (`ByteSource.read`), but an S3 client only has promises; a worker thread (store-worker.ts) owns the store
 * and the calling thread blocks in `Atomics.wait` on a SharedArrayBuffer until the worker has posted its
 * reply, then takes it with `receiveMessageOnPort` (the technique of the `synckit` package, written out here
 * because it is small and it lets us keep error codes, bound every wait and discard late replies; see
 * docs/object-storage.md).
 *
 * Invariants:
 * - Every wait is bounded (`timeoutMs`): a store that accepts a connection and never answers (or stalls a
 *   body mid-download, which the SDK's request timeout does not cover) gives STORE_UNAVAILABLE, never a hang.
 * - Errors keep their codes: an ElacsymError comes back as an ElacsymError with the same code, hint and
 *   details; a Node errno error (ENOENT...) as an Error with the same `code` and `path`.
 * - A reply that arrives after its call gave up is recognised by its id and dropped.
 * - The worker is unref'd: an idle bridge never keeps the process alive; `close()` terminates it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { ElacsymError } from '../errors.js';
import { fromWire, type WireError } from '../util/wire-error.js';
import type { ByteRange, ObjectInfo, ObjectStore } from './object-store.js';
import type { S3StoreOptions } from './s3.js';

/** What the worker opens: the same two implementations as `openObjectStore`. */
export type StoreSpec = { kind: 'local'; root: string } | { kind: 's3'; options: S3StoreOptions };

export type WireRequest =
  | { id: number; op: 'head' | 'get'; key: string }
  | { id: number; op: 'getRanges'; key: string; ranges: ByteRange[] }
  | { id: number; op: 'putIfAbsent'; key: string; bytes: Uint8Array }
  | { id: number; op: 'list'; prefix: string }
  | { id: number; op: 'delete'; keys: string[] }
  | { id: number; op: 'ping' };

export type { WireError };
export type WireReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

// Distributive Omit over the request union.
type Req = WireRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** The worker file: dist/store-worker.mjs beside the CLI bundle, tsc's output beside this module, or (from
 *  TypeScript sources, i.e. tests) tsc's output in dist/ — run `npm run build` first. */
function workerUrl(): URL {
  const here = import.meta.url;
  const candidates = [new URL('./store-worker.mjs', here), new URL('./store-worker.js', here), new URL('../../dist/objstore/store-worker.js', here)];
  const url = candidates.find((u) => existsSync(fileURLToPath(u)));
  if (!url) throw new ElacsymError('INTERNAL', 'the object-store worker is not built; run npm run build');
  return url;
}

/** Bound on a worker's start (loading the SDK takes ~0.3 s here). */
const STARTUP_TIMEOUT_MS = 30_000;

export interface SyncObjectStoreOptions {
  /** Longest wait for one call, in ms (default 120 s: above the SDK's own bound of 3 attempts x 30 s). */
  timeoutMs?: number;
}

/** An ObjectStore's operations, called synchronously through a worker thread. */
export class SyncObjectStore {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  /** Reply id 0 is the worker's 'ready'. */
  private nextId = 1;
  readonly timeoutMs: number;

  constructor(
    readonly spec: StoreSpec,
    opts: SyncObjectStoreOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** Started on first use, so constructing a store costs nothing until it is read. */
  private start(): MessagePort {
    if (this.port) return this.port;
    const { port1, port2 } = new MessageChannel();
    // None of the process's Node options (execArgv: [], as vector-peer.ts): the worker loads no user code
    // they could concern, `--input-type` (a `node -e` script) made it refuse its own file, and passed
    // explicitly, a V8 option such as `--trace-gc` or `--stack-size` is refused for a worker
    // (ERR_WORKER_INVALID_EXEC_ARGV: every s3:// command failed under `node --trace-gc bin/elacsym`).
    Atomics.store(this.flag, 0, 0);
    const worker = new Worker(workerUrl(), { workerData: { spec: this.spec, port: port2, flag: this.flag }, transferList: [port2], execArgv: [] });
    this.worker = worker;
    worker.unref();
    // A worker that died (seen whenever the event loop runs between calls, e.g. in `serve`) is replaced
    // at the next call instead of costing every later call its whole bound.
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.port?.close();
      this.port = undefined;
    });
    worker.on('error', () => undefined); // reported through the calls that fail; never an uncaught error
    port1.unref();
    this.port = port1;
    // A worker that cannot start dies silently while this thread waits: its 'error' event needs the event
    // loop this thread is blocking. So it says 'ready' (reply id 0) first, awaited with a bound of its own.
    try {
      this.await(0, Math.min(this.timeoutMs, STARTUP_TIMEOUT_MS), 'start');
    } catch (e) {
      this.close();
      if (e instanceof ElacsymError && e.code === 'STORE_UNAVAILABLE') {
        throw new ElacsymError('INTERNAL', `the object-store worker did not start within ${Math.min(this.timeoutMs, STARTUP_TIMEOUT_MS)} ms`, { cause: e });
      }
      throw e;
    }
    return port1;
  }

  /** One request, answered or failed within `timeoutMs`. */
  call(req: Req, transfer: ArrayBuffer[] = []): unknown {
    const port = this.start();
    const id = this.nextId++;
    Atomics.store(this.flag, 0, 0);
    port.postMessage({ ...req, id }, transfer);
    return this.await(id, this.timeoutMs, req.op);
  }

  /** Block until the reply with this id arrives (its value, or its error rebuilt), or `timeoutMs` passes. */
  private await(id: number, timeoutMs: number, op: string): unknown {
    const port = this.port!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Take every reply already posted; older ones belong to calls that gave up and are dropped.
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const r = m.message as WireReply;
        if (r.id !== id) continue;
        if (r.ok) return r.value;
        throw fromWire(r.error);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ElacsymError('STORE_UNAVAILABLE', `${op} on ${this.describe()}: no answer within ${timeoutMs} ms`, {
          details: { timeout_ms: timeoutMs, op },
        });
      }
      // The worker posts, then raises the flag: reset it before re-checking the port so no wake is lost.
      Atomics.wait(this.flag, 0, 0, left);
      Atomics.store(this.flag, 0, 0);
    }
  }

  private describe(): string {
    return this.location;
  }

  /** Where the store is, for messages: a directory, or `s3://bucket/prefix`. */
  get location(): string {
    return this.spec.kind === 'local' ? this.spec.root : `s3://${this.spec.options.bucket}/${this.spec.options.prefix ?? ''}`;
  }

  head(key: string): ObjectInfo | null {
    return this.call({ op: 'head', key }) as ObjectInfo | null;
  }

  get(key: string): Uint8Array | null {
    return this.call({ op: 'get', key }) as Uint8Array | null;
  }

  /** Several ranges of one object in one round trip (fetched in parallel by the worker). */
  getRanges(key: string, ranges: ByteRange[]): (Uint8Array | null)[] {
    return this.call({ op: 'getRanges', key, ranges }) as (Uint8Array | null)[];
  }

  putIfAbsent(key: string, bytes: Uint8Array): 'created' | 'exists' {
    return this.call({ op: 'putIfAbsent', key, bytes }) as 'created' | 'exists';
  }

  list(prefix: string): string[] {
    return this.call({ op: 'list', prefix }) as string[];
  }

  delete(keys: string[]): void {
    this.call({ op: 'delete', keys });
  }

  /** Stop the worker (and its connections). Idempotent; a later call starts a new worker. */
  close(): void {
    const w = this.worker;
    this.worker = undefined;
    this.port?.close();
    this.port = undefined;
    void w?.terminate();
  }
}

/**
 * The ObjectStore port over a synchronous bridge, for a process that reads through the bridge anyway (a CLI
 * query on an s3:// data directory): the SDK is then loaded once, in the bridge's worker, instead of once
 * more on the main thread. Reads only: `put` (replace) is not part of the bridge's protocol.
 */
export function asyncStoreOf(s: SyncObjectStore): ObjectStore {
  return {
    location: s.location,
    get: async (key, range) => (range === undefined ? s.get(key) : (s.getRanges(key, [range])[0] ?? null)),
    head: async (key) => s.head(key),
    putIfAbsent: async (key, bytes) => s.putIfAbsent(key, bytes),
    put: async () => {
      throw new ElacsymError('INTERNAL', 'put (replace) is not available through the read bridge');
    },
    list: async (prefix, opts = {}) => {
      const keys = s.list(prefix);
      const after = opts.startAfter;
      return after === undefined ? keys : keys.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0);
    },
    delete: async (keys) => s.delete([...keys]),
  };
}
