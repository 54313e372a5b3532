import { ElacsymError } from '../../errors.js';
import { type BenchReport, type CompactionFigures, compareBaseline, KINDS, readReport, runBench } from '../../bench/run.js';
import type { ObjectStoreBenchTarget, ObjectStoreReport } from '../../bench/object-store.js';
import type { Metric } from '../../model/types.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { intOpt, numOpt } from '../args.js';
import { err, isTTY, outLine, printJson, type GlobalOptions } from '../output.js';
import { checkS3EndpointUse } from '../s3-settings.js';

/** The `object_store` section as text lines (the report's last lines). */
function objectStoreLines(s: ObjectStoreReport): string[] {
  const x = (v: number) => `${v.toFixed(2)}x`;
  return [
    `object store ${s.url} (namespace ${s.namespace}, ${s.kept ? 'kept' : 'deleted afterwards'}):`,
    `  import: ${s.import.docs_per_s} docs/s (${s.import.wall_s}s wall, commit included; peak RSS ${s.import.peak_rss_mb} MiB; ${s.import.objects_uploaded} objects, ${s.import.bytes_uploaded} bytes uploaded) = ${x(s.import.ratio_to_local)} local ${s.import.local_docs_per_s} docs/s (${s.import.local_wall_s}s wall)`,
    `  first vector query, fresh process, empty cache: ${s.first_query_ms.median} ms (median of ${s.first_query_ms.runs}, max ${s.first_query_ms.max}) vs local cold query ${s.first_query_ms.local_cold_ms} ms`,
    `  warm query --batch --warm-up ${s.warm_batch.warm_up_rounds} of ${s.warm_batch.queries} vector queries: p50 ${s.warm_batch.p50_ms} / p99 ${s.warm_batch.p99_ms} ms vs local p50 ${s.warm_batch.local_p50_ms} / p99 ${s.warm_batch.local_p99_ms} ms = ${x(s.warm_batch.p50_ratio_to_local)} (p50)`,
    `  stored: ${s.stored.objects} objects, ${s.stored.bytes} bytes, ${s.stored.bytes_per_doc} bytes/doc`,
  ];
}

/** The `compaction` section as text lines (after --compact). */
function compactionLines(c: CompactionFigures, k: number, rows: (l: BenchReport['latency_ms']) => string[]): string[] {
  const b = c.batch_process;
  return [
    `compact: ${c.segments_before} -> ${c.segments_after} segments in ${c.elapsed_s}s, peak RSS ${c.peak_rss_mb} MiB; disk ${c.disk.bytes} bytes, ${c.disk.bytes_per_doc} bytes/doc`,
    `after compaction, \`query --batch\` (no warm-up left out): ${b.queries_per_s} queries/s, ${b.wall_s}s wall`,
    ...rows(b.latency_ms),
    `again with --warm-up ${b.warm_up.rounds}: ${b.warm_up.queries_per_s} queries/s, ${b.warm_up.wall_s}s wall (warm-up included)`,
    ...rows(b.warm_up.latency_ms),
    `recall@${k} after compaction (the warmed batch's answers): vector ${c.recall_at_k.vector}, filtered 1% ${c.recall_at_k.filtered_1pct}, 10% ${c.recall_at_k.filtered_10pct}, 50% ${c.recall_at_k.filtered_50pct}`,
  ];
}

/** The report as the text lines `elacsym bench` prints (and its screen shows). */
export function reportTable(r: BenchReport): string[] {
  const rows = (l: BenchReport['latency_ms']) =>
    KINDS.map((k) => `  ${k.padEnd(16)} p50 ${l[k].p50.toFixed(3).padStart(8)}  p95 ${l[k].p95.toFixed(3).padStart(8)}  p99 ${l[k].p99.toFixed(3).padStart(8)}  (n=${l[k].n})`);
  const b = r.batch_process;
  return [
    `machine: ${r.machine.cpus} x ${r.machine.cpu_model}, ${r.machine.memory_gb} GiB, node ${r.machine.node}`,
    `dataset: ${r.dataset.docs} docs x ${r.dataset.dim} dims (${r.dataset.metric}), seed ${r.dataset.seed}, noise ${r.dataset.noise ?? 0.35}, ${r.dataset.text}`,
    `import${r.import.mode === 'bulk' ? ' --bulk' : ''}:  ${r.import.docs_per_s} docs/s fully indexed (${r.import.elapsed_s}s); durable+queryable ${r.import.durable_docs_per_s} docs/s (${r.import.durable_s}s) = ${(r.import.durable_vs_parse_floor * 100).toFixed(0)}% of the JSON.parse floor ${r.import.parse_floor_docs_per_s} docs/s; index build ${r.import.index_build_s}s; peak RSS ${r.import.peak_rss_mb} MiB; ${r.import.segments} segments`,
    `latency (ms, in-process like --batch, top ${r.dataset.top_k}):`,
    ...rows(r.latency_ms),
    `the same requests through one \`query --batch${b.threads > 1 ? ` --threads ${b.threads}` : ''}\` process, its took_ms from its start (no warm-up left out): ${b.queries_per_s} queries/s, ${b.wall_s}s wall`,
    ...rows(b.latency_ms),
    `again with --warm-up ${b.warm_up.rounds}: ${b.warm_up.queries_per_s} queries/s, ${b.warm_up.wall_s}s wall (warm-up included)`,
    ...rows(b.warm_up.latency_ms),
    `recall@${r.dataset.top_k} vs exact: vector ${r.recall_at_k.vector}, filtered 1% ${r.recall_at_k.filtered_1pct}, 10% ${r.recall_at_k.filtered_10pct}, 50% ${r.recall_at_k.filtered_50pct}`,
    `cold query: ${r.cold_query_ms.elacsym} ms vs node -e 0 ${r.cold_query_ms.node_e_0} ms = ${r.cold_query_ms.ratio}x; printing every attribute ${r.cold_query_ms.all_attributes} ms = ${r.cold_query_ms.all_attributes_ratio}x; filtered 1% ${r.cold_query_ms.filtered_1pct} ms = ${r.cold_query_ms.filtered_1pct_ratio}x, 10% ${r.cold_query_ms.filtered_10pct} ms = ${r.cold_query_ms.filtered_10pct_ratio}x, 50% ${r.cold_query_ms.filtered_50pct} ms = ${r.cold_query_ms.filtered_50pct_ratio}x${
      r.cold_query_ms.without_extra_ca_certs
        ? `; without NODE_EXTRA_CA_CERTS: ${r.cold_query_ms.without_extra_ca_certs.elacsym} ms vs node -e 0 ${r.cold_query_ms.without_extra_ca_certs.node_e_0} ms = ${r.cold_query_ms.without_extra_ca_certs.ratio}x`
        : ''
    }`,
    `disk: ${r.disk.bytes} bytes, ${r.disk.bytes_per_doc} bytes/doc`,
    ...(r.hnsw
      ? [`hnswlib-node (same vectors): build ${r.hnsw.build_s}s, index file load ${r.hnsw.load_ms} ms, p50 ${r.hnsw.p50_ms} / p99 ${r.hnsw.p99_ms} ms, recall@${r.dataset.top_k} ${r.hnsw.recall}, file ${r.hnsw.file_bytes} bytes`]
      : []),
    ...(r.object_store ? objectStoreLines(r.object_store) : []),
    ...(r.compaction ? compactionLines(r.compaction, r.dataset.top_k, rows) : []),
  ];
}

/**
 * --noise: 0 to 100. Past that the generated vectors leave the range imports accept (1e17 failed as
 * INVALID_DOCUMENT, 1e18 as a namespace name with an exponent in it: a tester's cases).
 */
function noiseOpt(v: unknown): number {
  const n = numOpt(v, '--noise', 0);
  if (n > 100) throw new ElacsymError('USAGE', `--noise expects a number from 0 to 100, got ${JSON.stringify(v)}`, { details: { option: '--noise' } });
  return n;
}

/**
 * The dataset options a --baseline report fixes, as (option attribute, flag, the report's value). A
 * comparison is only meaningful on the same dataset and import and query modes, so options left to their
 * defaults take the baseline's values, and an option given on the command line must agree with it.
 */
function baselineOptions(base: BenchReport): [string, string, string | number | boolean | undefined][] {
  const d = base.dataset;
  return [
    ['docs', '--docs', d.docs],
    ['dim', '--dim', d.dim],
    ['queries', '--queries', d.queries],
    ['topK', '--top-k', d.top_k],
    ['seed', '--seed', d.seed],
    ['noise', '--noise', d.noise],
    ['metric', '--metric', d.metric],
    ['bulk', '--bulk', base.import.mode === 'bulk'],
    ['threads', '--threads', base.batch_process?.threads ?? 1],
  ];
}

/**
 * Takes the baseline's dataset and modes into `o` for every option not given on the command line (see
 * baselineOptions); USAGE naming each option given with another value, before anything is generated (a
 * 1M run took minutes to end in a comparison with a report of another size).
 */
function adoptBaseline(o: Record<string, unknown>, explicit: ReadonlySet<string>, base: BenchReport, path: string): void {
  const d = base.dataset as Partial<BenchReport['dataset']> | undefined;
  if (d === undefined || typeof d.docs !== 'number' || typeof d.dim !== 'number' || typeof base.latency_ms !== 'object' || typeof base.recall_at_k !== 'object' || typeof base.import !== 'object') {
    throw new ElacsymError('USAGE', `baseline ${path} is not an \`elacsym bench --json\` report (no dataset, latency, recall or import figures)`);
  }
  const differ: string[] = [];
  for (const [key, flag, value] of baselineOptions(base)) {
    if (value === undefined) continue; // an older report without it: the default stands
    if (!explicit.has(key)) {
      o[key] = typeof value === 'boolean' ? value : String(value);
      continue;
    }
    const given = typeof value === 'boolean' ? Boolean(o[key]) : typeof value === 'number' ? Number(o[key]) : String(o[key]);
    if (given !== value) differ.push(`${flag} ${String(o[key])} (the baseline: ${typeof value === 'boolean' ? (value ? 'given' : 'not given') : value})`);
  }
  if (differ.length > 0) {
    throw new ElacsymError('USAGE', `baseline ${path} measured another run: ${differ.join(', ')}`, {
      hint: 'leave those options out to measure what the baseline measured, or compare with a report of this dataset',
    });
  }
}

/**
 * `elacsym bench`: on a local data directory (or a temporary one), or with `-d s3://bucket/prefix` the local
 * run in a temporary directory followed by the object-store measures on a fresh namespace of that store
 * (the AWS SDK loads only then).
 */
export default async function bench(_a: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  checkS3EndpointUse(o, g.dataDir);
  const onStore = isObjectStoreUrl(g.dataDir);
  const baseline = typeof o.baseline === 'string' ? readReport(o.baseline) : null;
  if (baseline) adoptBaseline(o, g.explicit, baseline, String(o.baseline));
  const opts = {
    docs: intOpt(o.docs, '--docs', 10, 100_000_000),
    dim: intOpt(o.dim, '--dim', 1, 4096),
    queries: intOpt(o.queries, '--queries', 1, 1_000_000),
    topK: intOpt(o.topK, '--top-k', 1, 1000),
    seed: intOpt(o.seed, '--seed', 0, 2 ** 31),
    noise: o.noise === undefined ? undefined : noiseOpt(o.noise),
    metric: String(o.metric ?? 'cosine') as Metric,
    dataDir: g.dataDirExplicit && !onStore ? g.dataDir : undefined,
    keep: Boolean(o.keep),
    compareHnsw: Boolean(o.compareHnsw),
    compact: Boolean(o.compact),
    bulk: Boolean(o.bulk),
    threads: o.threads === undefined ? 1 : intOpt(o.threads, '--threads', 1, 256),
    // The running binary itself (bin/elacsym), spawned as a command for the import, the queries and the
    // cold query, so its launcher's setting counts as it does for a user.
    bin: process.argv[1] ?? 'elacsym',
  };
  const maxPct = numOpt(o.maxRegression, '--max-regression', 0);
  const tty = isTTY('stderr') && !g.json && !g.quiet;
  let report: BenchReport;
  // The store is opened here (the SDK loads by dynamic import, for s3:// only) and closed at the end.
  let store: { target: ObjectStoreBenchTarget; close: () => Promise<void> } | undefined;
  if (onStore) {
    const { openRemoteStore } = await import('../remote.js');
    const { s3Settings } = await import('../s3-settings.js');
    const { opened } = await openRemoteStore(g.dataDir, o);
    const endpoint = s3Settings(o).endpoint;
    store = { target: { url: g.dataDir, store: opened.store, env: endpoint ? { ELACSYM_S3_ENDPOINT: endpoint } : {} }, close: () => opened.close() };
  }
  try {
    const full = { ...opts, ...(store ? { objectStore: store.target } : {}) };
    if (tty) {
      const { loadScreen } = await import('../ui/load.js');
      const { runBenchScreen } = await loadScreen<typeof import('../ui/bench-screen.js')>('bench-screen');
      report = await runBenchScreen((onProgress) => runBench({ ...full, onProgress }), reportTable);
    } else {
      report = await runBench({ ...full, onProgress: g.quiet || g.json ? undefined : (phase, done, total) => done === 0 && err(`bench: ${phase}${total > 1 ? ` (${total})` : ''}...`) });
      if (g.json) await printJson(report);
      else for (const l of reportTable(report)) await outLine(l);
    }
  } finally {
    await store?.close();
  }
  if (baseline) {
    const regressions = compareBaseline(report, baseline, maxPct);
    for (const r of regressions) err(`elacsym: regression: ${r}`);
    if (regressions.length > 0) throw new ElacsymError('REGRESSION', `${regressions.length} measurements regressed past ${maxPct}% of the baseline`);
  }
  return 0;
}
