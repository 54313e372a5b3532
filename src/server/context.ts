/** What every route group receives: the data directory, warm snapshots, the query pool, limits. */
import type { QueryPool } from './pool.js';
import type { ServerMetrics } from './metrics.js';
import type { PublishedWarm, RemoteSpec } from './published-warm.js';
import type { WarmSource } from './warm.js';
import type { WriteThread } from './write-thread.js';

export interface ServeOptions {
  dataDir: string;
  host: string;
  port: number;
  /** Bearer token required on every request; null = no authentication (loopback only). */
  token: string | null;
  /** Query worker threads; 0 = answer queries on the main thread. */
  workers: number;
  /** Largest JSON request body (bytes). */
  maxBodyBytes: number;
  /** Largest NDJSON line accepted by the import route (bytes). */
  maxLineBytes: number;
  /** Time limit of a query (ms); 0 = none. Writes are never cut short once started; streams are not limited. */
  requestTimeoutMs: number;
  /** How long a write waits for another process's writer lock before 503 (ms). */
  writeWaitMs: number;
  /** One JSON line per request, handed to this callback (the CLI writes it to stderr). */
  accessLog: ((line: string) => void) | null;
  /**
   * Serve the namespaces published to an object store (`dataDir` is then its s3:// URL): read-only, queries
   * only, see published-warm.ts. Null for a local data directory.
   */
  remote?: RemoteSpec | null;
}

export interface ServerContext {
  readonly opts: ServeOptions;
  readonly warm: WarmSource;
  /** Set when serving an object store (opts.remote): the main thread's published snapshots and cache. */
  readonly published: PublishedWarm | null;
  readonly pool: QueryPool | null;
  /** Imports, upserts and deletes run here, off the main thread (none when serving an object store). */
  readonly writes: WriteThread | null;
  readonly metrics: ServerMetrics;
  /** Set once shutdown began: streaming imports stop (committing what they read), new requests get 503. */
  readonly shutdown: { stopping: boolean; listeners: Set<() => void> };
  /** Labels a request for metrics (query kind) and remembers its error code. */
  label(req: object, kind: string, errorCode?: string): void;
}
