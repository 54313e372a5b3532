/**
 * The object-storage part of `elacsym bench -d s3://bucket/prefix`: the dataset the local part generated is
 * written to a fresh namespace of the store by the real `elacsym init` and `elacsym import` (child processes
 * with `-d <url>`), then read back by fresh processes: the first vector query of a machine with an empty
 * cache, and a warm `query --batch` of the query vectors, the same batch answered on the local data
 * directory for the ratio. Reported next to the local figures of the same run (issue 14's targets: import
 * >= 50% of local, first query <= 1 s, warm p50 within 1.2x of local).
 *
 * Nothing here loads the AWS SDK: the caller (cli/commands/bench.ts) opens the store and passes it in as a
 * `BenchStore`; the children open their own. Failures of a child surface with the child's own error code
 * (STORE_UNAVAILABLE, STORE_ACCESS_DENIED, BUCKET_NOT_FOUND...), never as INTERNAL.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError, ERRORS, type ErrorCode } from '../errors.js';

/**
 * What the bench needs of the store (a subset of objstore's ObjectStore, structurally: bench/ does not
 * import objstore/). Keys are relative to the URL's prefix.
 */
export interface BenchStore {
  /** `s3://bucket/prefix/`, for messages. */
  readonly location: string;
  /** Every key starting with `prefix`, all pages read. */
  list(prefix: string): Promise<string[]>;
  /** The object's size in bytes, or null when no object has the key. */
  head(key: string): Promise<{ size: number } | null>;
  /** Delete these keys; missing ones are ignored. */
  delete(keys: readonly string[]): Promise<void>;
}

export interface ObjectStoreBenchTarget {
  /** The s3:// data directory as the user typed it (children get it as `-d`). */
  url: string;
  store: BenchStore;
  /** Variables added to the children's environment (ELACSYM_S3_ENDPOINT from --s3-endpoint). */
  env?: Record<string, string>;
}

/** The `object_store` section of a bench report. Times in ms or s as named, rates in documents per second. */
export interface ObjectStoreReport {
  url: string;
  /** The namespace written for the run (`bench-<8 hex>`); deleted afterwards unless `kept`. */
  namespace: string;
  kept: boolean;
  import: {
    /** Wall time of the `import` process on the store, from spawn to exit (the commit's upload included). */
    wall_s: number;
    /** docs / wall_s. */
    docs_per_s: number;
    /** Wall time of the local run's `import` process, and its docs / wall_s: the same measure, locally. */
    local_wall_s: number;
    local_docs_per_s: number;
    /** docs_per_s / local_docs_per_s (target >= 0.5). */
    ratio_to_local: number;
    /** The import's own peak RSS (its --json summary), taken before the commit's upload. */
    peak_rss_mb: number;
    /** What its commit uploaded (its `published` event). */
    objects_uploaded: number;
    bytes_uploaded: number;
  };
  /**
   * One vector query (top 10, two attributes, JSON) in a fresh process with an empty ELACSYM_CACHE_DIR,
   * wall time from spawn to exit: the median and the slowest of `runs` (target <= 1000 ms on 100k x 128).
   */
  first_query_ms: { median: number; max: number; runs: number; local_cold_ms: number };
  /**
   * The query vectors as one `query --batch --warm-up <rounds>` process, each answered on the store (cache
   * warmed by the first queries) and locally: percentiles of the took_ms each printed, in ms.
   */
  warm_batch: { queries: number; warm_up_rounds: number; p50_ms: number; p99_ms: number; local_p50_ms: number; local_p99_ms: number; p50_ratio_to_local: number };
  /** The namespace's objects on the store after the import: count and bytes (HEAD of each). */
  stored: { objects: number; bytes: number; bytes_per_doc: number };
}

/** What the local run hands over: its files and figures (see runBench). */
export interface LocalBenchFiles {
  bin: string;
  /** The children's base environment (the caller's; bench/ reads no environment itself). */
  env: NodeJS.ProcessEnv;
  docs: number;
  /** NDJSON of the dataset, the schema JSON, one query vector (JSON array), the vector batch (NDJSON requests). */
  file: string;
  schemaFile: string;
  queryFile: string;
  vectorBatchFile: string;
  queries: number;
  /** Scratch directory (caches of the children go under it; the caller removes it). */
  work: string;
  /** The local data directory and namespace holding the same dataset. */
  localDataDir: string;
  localNamespace: string;
  localImportWallS: number;
  localColdMs: number;
  warmUpRounds: number;
  keep: boolean;
  progress: (phase: string, done: number, total: number) => void;
}

/** Processes of the first-query measure, each with a new empty cache. */
const FRESH_RUNS = 3;

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** A fresh namespace name for the run: `bench-` and 8 random hex digits. */
export function benchNamespaceName(): string {
  return `bench-${randomBytes(4).toString('hex')}`;
}

/**
 * Checks, before anything is generated, that the store answers, lets us list and holds no namespace of
 * this name: an unreachable endpoint or refused credentials fail the bench at once with their own codes.
 */
export async function preflightStore(t: ObjectStoreBenchTarget, ns: string): Promise<void> {
  const there = await t.store.list(`${ns}/`);
  if (there.length > 0) throw new ElacsymError('NAMESPACE_EXISTS', `${t.url}: ${ns} already holds ${there.length} objects`, { hint: 'run the bench again (it picks a new random name)' });
}

/**
 * [file, args] that run `bin` with `args`: bin/elacsym (whose first lines are sh that exec Node on it) as a
 * command, so its setting counts as for a user; a JavaScript entry (`.cjs`, `.js`, `.mjs`), or a file that
 * cannot be executed (a copy without its mode bits, a noexec mount), through this process's Node.
 */
export function binArgv(bin: string, args: string[]): [string, string[]] {
  if (/\.[cm]?js$/.test(bin)) return [process.execPath, [bin, ...args]];
  try {
    accessSync(bin, constants.X_OK);
    return [bin, args];
  } catch {
    return [process.execPath, [bin, ...args]];
  }
}

/**
 * Runs a child `elacsym` with `--json`; returns its stdout, stderr and wall time in ms. A failure is
 * rethrown with the child's own error code (its JSON error line on stderr), INTERNAL only when it printed
 * none (a crash).
 */
export function runChild(bin: string, args: string[], env: NodeJS.ProcessEnv, what: string): { stdout: string; stderr: string; ms: number } {
  const t = performance.now();
  const r: SpawnSyncReturns<string> = spawnSync(...binArgv(bin, ['--json', ...args]), { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw childError(r, what);
  return { stdout: r.stdout, stderr: r.stderr, ms };
}

/** The error a failed child reported (`{"error":{"code","message","hint"}}` on its stderr), as ours. */
export function childError(r: { status: number | null; signal?: NodeJS.Signals | null; stderr: string; error?: Error }, what: string): ElacsymError {
  for (const line of (r.stderr ?? '').split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const e = (JSON.parse(line) as { error?: { code?: string; message?: string; hint?: string; details?: Record<string, unknown> } }).error;
      if (e?.code && Object.hasOwn(ERRORS, e.code)) {
        return new ElacsymError(e.code as ErrorCode, `bench: ${what}: ${e.message ?? ''}`, { ...(e.hint ? { hint: e.hint } : {}), details: e.details ?? {} });
      }
    } catch {
      // not a JSON line
    }
  }
  const how = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return new ElacsymError('INTERNAL', `bench: ${what} failed (${how}): ${(r.stderr ?? '').trim().slice(-2000)}`);
}

/** took_ms of every response line of a `query --batch` run. */
function tookMs(stdout: string, expected: number, what: string): number[] {
  const took = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { took_ms: number }).took_ms);
  if (took.length !== expected) throw new ElacsymError('INTERNAL', `bench: ${what} answered ${took.length} of ${expected} requests`);
  return took;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Sizes of these keys, 16 HEADs at a time: [objects found, total bytes]. */
async function sizeOf(store: BenchStore, keys: string[]): Promise<[number, number]> {
  let objects = 0;
  let bytes = 0;
  for (let i = 0; i < keys.length; i += 16) {
    for (const h of await Promise.all(keys.slice(i, i + 16).map((k) => store.head(k)))) {
      if (h) {
        objects++;
        bytes += h.size;
      }
    }
  }
  return [objects, bytes];
}

/** Deletes every object of the namespace `ns` (keys under `<ns>/`); returns how many there were. */
export async function deleteBenchNamespace(store: BenchStore, ns: string): Promise<number> {
  const keys = await store.list(`${ns}/`);
  if (keys.length > 0) await store.delete(keys);
  return keys.length;
}

/**
 * The object-storage measures (see the module comment) on namespace `ns` of `t.url`, with the local run's
 * files and figures `l`. The namespace's objects are deleted at the end unless `l.keep`, also when a step
 * fails (best effort then: the step's error is the one thrown).
 */
export async function benchObjectStore(t: ObjectStoreBenchTarget, ns: string, l: LocalBenchFiles): Promise<ObjectStoreReport> {
  const childEnv = (cache: string): NodeJS.ProcessEnv => {
    mkdirSync(cache, { recursive: true });
    return { ...l.env, ...t.env, ELACSYM_CACHE_DIR: cache };
  };
  const on = ['-d', t.url];
  let done = false;
  try {
    // 1. init + import into the store, the writer with a cache of its own.
    l.progress('object store: import', 0, 1);
    const writerEnv = childEnv(join(l.work, 'cache-writer'));
    runChild(l.bin, [...on, 'init', ns, '--schema', l.schemaFile], writerEnv, `init ${ns} on ${t.url}`);
    const imp = runChild(l.bin, [...on, 'import', ns, l.file], writerEnv, `import into ${ns} on ${t.url}`);
    const summary = JSON.parse(imp.stdout.trim().split('\n').pop() ?? '{}') as { committed?: number; peak_rss_bytes?: number };
    const published = imp.stderr
      .split('\n')
      .filter((x) => x.startsWith('{"event":"published"'))
      .map((x) => JSON.parse(x) as { objects_uploaded: number; bytes_uploaded: number })
      .pop();
    const importS = imp.ms / 1000;
    const docsPerS = (summary.committed ?? l.docs) / importS;
    const localDocsPerS = l.docs / l.localImportWallS;

    // 2. The first vector query of a machine with an empty cache: a new cache directory per run.
    l.progress('object store: first query', 0, FRESH_RUNS);
    const queryArgs = ['query', ns, '--vector', `@${l.queryFile}`, '--top-k', '10', '--include-attributes', 'title,category', '--format', 'json'];
    const readerCache = join(l.work, 'cache-reader-0');
    const fresh: number[] = [];
    for (let i = 0; i < FRESH_RUNS; i++) {
      fresh.push(runChild(l.bin, [...on, ...queryArgs], childEnv(i === 0 ? readerCache : join(l.work, `cache-reader-${i}`)), `first query on ${ns} at ${t.url}`).ms);
    }

    // 3. Warm: the vector batch through one process on the store (the first reader's cache, now warm), then
    // the same batch on the local data directory.
    l.progress('object store: warm batch', 0, 1);
    const batchArgs = ['--batch', l.vectorBatchFile, '--warm-up', String(l.warmUpRounds), '--quiet'];
    const remote = tookMs(runChild(l.bin, [...on, 'query', ns, ...batchArgs], childEnv(readerCache), `query --batch on ${ns} at ${t.url}`).stdout, l.queries, 'query --batch on the store').sort((a, b) => a - b);
    const local = tookMs(runChild(l.bin, ['-d', l.localDataDir, 'query', l.localNamespace, ...batchArgs], { ...l.env }, 'local query --batch').stdout, l.queries, 'local query --batch').sort(
      (a, b) => a - b,
    );

    // 4. What the namespace holds on the store.
    l.progress('object store: stored bytes', 0, 1);
    const [objects, bytes] = await sizeOf(t.store, await t.store.list(`${ns}/`));
    const report: ObjectStoreReport = {
      url: t.url,
      namespace: ns,
      kept: l.keep,
      import: {
        wall_s: r3(importS),
        docs_per_s: Math.round(docsPerS),
        local_wall_s: r3(l.localImportWallS),
        local_docs_per_s: Math.round(localDocsPerS),
        ratio_to_local: r3(docsPerS / localDocsPerS),
        peak_rss_mb: Math.round((summary.peak_rss_bytes ?? 0) / 1048576),
        objects_uploaded: published?.objects_uploaded ?? 0,
        bytes_uploaded: published?.bytes_uploaded ?? 0,
      },
      first_query_ms: { median: r3(median(fresh)), max: r3(Math.max(...fresh)), runs: fresh.length, local_cold_ms: r3(l.localColdMs) },
      warm_batch: {
        queries: l.queries,
        warm_up_rounds: l.warmUpRounds,
        p50_ms: r3(pct(remote, 50)),
        p99_ms: r3(pct(remote, 99)),
        local_p50_ms: r3(pct(local, 50)),
        local_p99_ms: r3(pct(local, 99)),
        p50_ratio_to_local: pct(local, 50) > 0 ? r3(pct(remote, 50) / pct(local, 50)) : 0,
      },
      stored: { objects, bytes, bytes_per_doc: Math.round(bytes / l.docs) },
    };
    done = true;
    return report;
  } finally {
    if (!l.keep) {
      l.progress('object store: delete', 0, 1);
      // After a failure the cleanup is best effort: the failure is what the user needs to see.
      if (done) await deleteBenchNamespace(t.store, ns);
      else await deleteBenchNamespace(t.store, ns).catch(() => undefined);
    }
  }
}
