import { ElacsymError, ERRORS, EXIT } from '../../errors.js';
import { namespaceDir } from '../../store/data-dir.js';
import { MAX_NPROBE, parseQueryRequest, type QueryRequest } from '../../model/query.js';
import type { Schema } from '../../model/types.js';
import { executeQuery, type QueryResponse, type VectorPeer } from '../../query/engine.js';
import type { VectorPeers } from '../../store/vector-peer.js';
import { warmUp } from '../../query/warm-up.js';
import { QueryContext } from '../../store/search-sources.js';
import { Snapshot } from '../../store/snapshot.js';
import type { RemoteNamespace } from '../remote.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { intOpt, jsonArg, numOpt, readInput } from '../args.js';
import type { fitCell as FitCell, renderTable as RenderTable, TableColumn } from '../table.js';
import { loadConfig } from '../config.js';
import { interruptSignal } from '../interrupt.js';
import { concreteHint, err, flushOut, isTTY, out, outLine, printJson, type GlobalOptions } from '../output.js';

/** Flags that turn `query` into a sorted, paged listing (src/cli/commands/query-list.ts). */
const LISTING_FLAGS = ['sort', 'limit', 'offset', 'after'] as const;

const FLAG_KEYS = ['vector', 'text', 'fields', 'filter', 'includeVector', 'includeAttributes'] as const;

/** Turn the command-line flags into a request in the ancestor's JSON shape (one validation path). */
export function flagsToRequest(o: Record<string, unknown>): Record<string, unknown> {
  const r: Record<string, unknown> = { top_k: intOpt(o.topK, '--top-k', 1, 10_000) };
  if (typeof o.vector === 'string') r.vector = jsonArg(o.vector, '--vector');
  if (typeof o.text === 'string') {
    const ft: Record<string, unknown> = { query: o.text, weight: numOpt(o.textWeight, '--text-weight', 0) };
    if (typeof o.fields === 'string') {
      const fields: string[] = [];
      const weights: Record<string, number> = Object.create(null); // field names are data ("__proto__" too)
      for (const part of o.fields.split(',').map((s) => s.trim()).filter(Boolean)) {
        const [name, w] = part.split('^');
        fields.push(name!);
        if (w !== undefined) weights[name!] = numOpt(w, `--fields ${part}`, 0);
      }
      ft.fields = fields;
      ft.weights = weights;
    }
    r.full_text = ft;
  } else if (o.fields !== undefined) throw new ElacsymError('USAGE', '--fields needs --text');
  if (typeof o.filter === 'string') r.filter = jsonArg(o.filter, '--filter');
  if (o.includeVector) r.include_vector = true;
  if (typeof o.includeAttributes === 'string') r.include_attributes = o.includeAttributes.split(',').map((s) => s.trim()).filter(Boolean);
  r.rrf_k = numOpt(o.rrfK, '--rrf-k', 0);
  r.vector_weight = numOpt(o.vectorWeight, '--vector-weight', 0);
  if (o.explain) r.explain = true;
  accuracyFlags(o, r);
  return r;
}

/** --nprobe and --exact into a request (validated with it: see parseQueryRequest). */
function accuracyFlags(o: Record<string, unknown>, r: Record<string, unknown>): void {
  if (o.nprobe !== undefined) r.nprobe = intOpt(o.nprobe, '--nprobe', 1, MAX_NPROBE);
  if (o.exact) r.exact = true;
}

/** Display cells a table may use: the terminal's width, else $COLUMNS, else unlimited (no cutting). */
function tableWidth(): number {
  if (isTTY('stdout') && process.stdout.columns) return process.stdout.columns;
  const c = Number(process.env.COLUMNS);
  return Number.isInteger(c) && c > 0 ? c : Infinity;
}

function formatOf(o: Record<string, unknown>, g: GlobalOptions, configured: string | null): 'json' | 'ndjson' | 'table' {
  if (typeof o.format === 'string') return o.format as 'json' | 'ndjson' | 'table';
  if (g.json) return 'json';
  if (configured) return configured as 'json' | 'ndjson' | 'table'; // ELACSYM_OUTPUT_FORMAT or [output] format
  return isTTY('stdout') ? 'table' : 'json';
}

async function print(resp: QueryResponse, format: 'json' | 'ndjson' | 'table', schema: Schema, width: number): Promise<void> {
  if (format === 'json') return printJson(resp);
  if (format === 'ndjson') {
    for (const r of resp.results) await printJson(r);
    return;
  }
  // Loaded only for tables (terminals): JSON output never pays for display-width tables.
  const { fitCell, renderTable } = await import('../table.js');
  // One column per attribute (in schema order, then any others in first-seen order), fitted to the terminal.
  const names: string[] = [];
  const seen = new Set<string>();
  for (const n of [...Object.keys(schema.attributes), ...resp.results.flatMap((r) => (r.attributes ? Object.keys(r.attributes) : []))]) {
    if (!seen.has(n) && resp.results.some((r) => r.attributes && Object.hasOwn(r.attributes, n))) {
      seen.add(n);
      names.push(n);
    }
  }
  const hasVec = resp.results.some((r) => r.vector);
  const cell = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const cols: TableColumn[] = [
    { head: 'rank', shrink: false, right: true },
    { head: 'id', shrink: false },
    { head: 'score', shrink: false, right: true },
    ...names.map((n) => ({ head: n, shrink: true })),
    ...(hasVec ? [{ head: 'vector', shrink: true }] : []),
  ];
  const rows = resp.results.map((r, i) => [
    String(i + 1),
    JSON.stringify(r.id),
    r.score.toFixed(6),
    ...names.map((n) => cell(r.attributes && Object.hasOwn(r.attributes, n) ? r.attributes[n] : undefined)),
    ...(hasVec ? [cell(r.vector)] : []),
  ]);
  for (const l of renderTable(cols, rows, width)) await outLine(l);
  // A summary, not a result: stderr, so `query ... --format table | wc -l` counts rows only.
  err(`(${resp.results.length} results in ${resp.took_ms.toFixed(2)} ms)`);
  if (resp.explain) for (const l of explainText(resp, width, fitCell, renderTable)) await outLine(l);
}

/** --explain in table form: the plan as indented key: value lines, then per result the retrievers' ranks. */
function explainText(resp: QueryResponse, width: number, fitCell: typeof FitCell, renderTable: typeof RenderTable): string[] {
  const lines = ['', 'plan:'];
  const walk = (v: unknown, indent: string, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      lines.push(`${indent}${key}:`);
      for (const [k, x] of Object.entries(v)) walk(x, `${indent}  `, k);
    } else if (Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object')) {
      lines.push(`${indent}${key}:`);
      v.forEach((x, i) => walk(x, `${indent}  `, `[${i}]`));
    } else lines.push(fitCell(`${indent}${key}: ${JSON.stringify(v)}`, width));
  };
  for (const [k, v] of Object.entries(resp.explain ?? {})) walk(v, '  ', k);
  const per = resp.results.filter((r) => r.explain);
  if (per.length > 0) {
    lines.push('', 'per result:');
    const kinds = ['vector', 'text'].filter((k) => per.some((r) => r.explain![k]));
    const cols: TableColumn[] = [{ head: 'id', shrink: false }, ...kinds.flatMap((k) => [{ head: `${k} rank`, shrink: false, right: true }, { head: `${k} score`, shrink: false, right: true }])];
    if (per.some((r) => r.explain!.fusion)) cols.push({ head: 'fusion', shrink: true });
    const rows = per.map((r) => {
      const e = r.explain as Record<string, { rank?: number; score?: number } | undefined>;
      const row = [JSON.stringify(r.id), ...kinds.flatMap((k) => [e[k]?.rank === undefined ? '-' : String(e[k]!.rank), e[k]?.score === undefined ? '-' : String(e[k]!.score)])];
      if (cols.at(-1)!.head === 'fusion') row.push(e.fusion ? JSON.stringify(e.fusion) : '');
      return row;
    });
    lines.push(...renderTable(cols, rows, width).map((l) => `  ${l}`));
  }
  return lines;
}

function run(ctx: QueryContext, schema: Schema, json: unknown, where: string, peer?: VectorPeer): QueryResponse {
  const req: QueryRequest = parseQueryRequest(json, schema, where);
  return executeQuery(ctx.sources, schema, req, (f) => ctx.analyzerFor(f), undefined, peer);
}

export default async function query([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (LISTING_FLAGS.some((k) => o[k] !== undefined)) {
    checkS3EndpointUse(o, g.dataDir);
    return (await import('./query-list.js')).default(name!, o, g);
  }
  // An s3:// data directory has no local namespace directory: the published namespace is opened below.
  checkS3EndpointUse(o, g.dataDir);
  const dir = isObjectStoreUrl(g.dataDir) ? '' : namespaceDir(g.dataDir, name!);
  const usesFlags = FLAG_KEYS.some((k) => o[k] !== undefined);
  if ((o.request !== undefined || o.batch !== undefined) && usesFlags) {
    throw new ElacsymError('USAGE', '--request/--batch carry the whole request; do not combine them with --vector, --text, --filter, --fields or --include-*');
  }
  if (o.request !== undefined && o.batch !== undefined) throw new ElacsymError('USAGE', '--request and --batch are exclusive');
  if (g.explicit.has('textWeight') && o.text === undefined) throw new ElacsymError('USAGE', '--text-weight needs --text');
  if (o.batch !== undefined && g.explicit.has('format') && o.format !== 'ndjson') {
    throw new ElacsymError('USAGE', '--batch writes one JSON response per line; --format does not apply');
  }
  // With --request/--batch, flags typed on the command line override the request's own values.
  const overrides = (json: unknown): unknown => {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
    const r = json as Record<string, unknown>;
    if (g.explicit.has('topK')) r.top_k = intOpt(o.topK, '--top-k', 1, 10_000);
    if (g.explicit.has('rrfK')) r.rrf_k = numOpt(o.rrfK, '--rrf-k', 0);
    if (g.explicit.has('vectorWeight')) r.vector_weight = numOpt(o.vectorWeight, '--vector-weight', 0);
    if (o.explain) r.explain = true;
    // A flag typed on the command line replaces the request's own accuracy setting (both are one setting).
    // In a batch it applies to the requests that have a vector: text-only and filter-only lines stay valid.
    if ((o.nprobe !== undefined || o.exact) && (!batch || (r.vector !== undefined && r.vector !== null))) {
      delete r.nprobe;
      delete r.exact;
      accuracyFlags(o, r);
    }
    return r;
  };
  const format = formatOf(o, g, (await loadConfig(g.dataDir))['output.format'].value as string | null);
  const batch = typeof o.batch === 'string';
  const warmRounds = intOpt(o.warmUp ?? '0', '--warm-up', 0, 100_000);
  if (g.explicit.has('warmUp') && !batch) throw new ElacsymError('USAGE', '--warm-up applies to --batch only');
  if (o.threads !== undefined && !batch) throw new ElacsymError('USAGE', '--threads applies to --batch only');
  const threadsOpt = o.threads !== undefined ? intOpt(o.threads, '--threads', 1, 256) : null;
  if (o.nprobe !== undefined) intOpt(o.nprobe, '--nprobe', 1, MAX_NPROBE); // checked even if no request uses it
  if (o.nprobe !== undefined && o.exact) throw new ElacsymError('USAGE', '--exact scores every vector, so no clusters are probed; pass one of --exact and --nprobe');
  // An s3:// data directory: the namespace's latest published version, its segments read through the cache.
  let remote: RemoteNamespace | null = null;
  let snap: Snapshot;
  if (isObjectStoreUrl(g.dataDir)) {
    try {
      ({ remote, snap } = await (await import('../remote.js')).openRemoteSnapshot(g.dataDir, name!, o, { loadFully: batch }));
    } catch (e) {
      throw remoteDamage(e);
    }
  } else snap = Snapshot.open(dir, { loadFully: batch });
  let peers: VectorPeers | null = null;
  try {
    const ctx = new QueryContext(snap);
    if (!batch) {
      let json: unknown;
      if (typeof o.request === 'string') {
        try {
          json = JSON.parse(readInput(o.request, 'request'));
        } catch (e) {
          if (e instanceof ElacsymError) throw e;
          throw new ElacsymError('INVALID_QUERY', `request is not valid JSON: ${(e as Error).message}`);
        }
        json = overrides(json);
      } else json = flagsToRequest(o);
      await print(run(ctx, snap.schema, json, 'request'), format, snap.schema, tableWidth());
      return 0;
    }
    // --threads: threads that search a vector query's segments beside this one (a local data directory;
    // see store/vector-peer.ts). The answers are one thread's (or hold a nearer document it missed). One by default: on the 2-vCPU
    // machine we measure on, two threads lower a 1M batch's mean latency by a quarter to a third but
    // raise its p99 (docs/performance.md, session 34).
    const threads = threadsOpt ?? 1;
    peers = remote === null && threads > 1 ? (await import('../../store/vector-peer.js')).VectorPeers.start(snap, ctx.sources, threads) : null;
    const peer = peers ?? undefined;
    if (warmRounds > 0) {
      const w = warmUp(ctx.sources, snap.schema, (f) => ctx.analyzerFor(f), warmRounds, peer);
      if (!g.quiet) err(`elacsym: warmed up with ${w.queries} queries in ${w.ms.toFixed(0)} ms`);
    }
    // --batch: one response line per request line, in order; a bad line yields an error line and exit 2.
    const { createReadStream, fstatSync, statSync } = await import('node:fs');
    const { readLines, DEFAULT_MAX_LINE_BYTES } = await import('../../store/ingest.js');
    const fromStdin = o.batch === '-';
    const input = fromStdin ? process.stdin : createReadStream(String(o.batch));
    // A query server on a pipe (a co-process client writes a request and waits for its answer): each
    // answer is flushed as soon as it is written. A regular file keeps the buffered 64 KiB writes.
    let perLine: boolean;
    try {
      perLine = !(fromStdin ? fstatSync(0) : statSync(String(o.batch))).isFile();
    } catch {
      perLine = fromStdin; // a missing file is reported by the read below
    }
    // SIGINT/SIGTERM: answer the request in hand, then stop reading and exit 130. The line reader is
    // import's: linear in the line length, bounded (an over-long line is an error line, not a heap
    // exhaustion), and it stops at once on the signal even while stdin is quiet.
    const signal = interruptSignal();
    let line = 0;
    let answered = 0;
    let failed = 0;
    /** The first line that failed on damaged data: the batch then exits like a single query would (5). */
    let corrupt: ElacsymError | null = null;
    try {
      for await (const { bytes, consumed } of readLines(input, DEFAULT_MAX_LINE_BYTES, signal)) {
        if (signal.aborted) break;
        line++;
        const text = consumed < 0 ? '' : bytes.toString('utf8');
        if (consumed >= 0 && text.trim() === '') continue;
        try {
          let json: unknown;
          if (consumed < 0) throw new ElacsymError('INVALID_QUERY', `line ${line}: longer than ${DEFAULT_MAX_LINE_BYTES} bytes`);
          try {
            json = JSON.parse(text);
          } catch (e) {
            throw new ElacsymError('INVALID_QUERY', `line ${line}: not valid JSON: ${(e as Error).message}`);
          }
          await out(`${JSON.stringify(run(ctx, snap.schema, overrides(json), `line ${line}`, peer))}\n`);
        } catch (e) {
          if (!(e instanceof ElacsymError)) throw e;
          failed++;
          if (ERRORS[e.code].exit === EXIT.CORRUPT) corrupt ??= e;
          await out(`${JSON.stringify({ error: { code: e.code, message: e.message, hint: concreteHint(e.hint, g), line } })}\n`);
        }
        answered++;
        // The event loop turns between two requests (a pipe's flush turns it too, ~3 us): V8 then runs the
        // collections it scheduled as tasks (a scavenge as the young generation nears full, incremental
        // marking steps) between requests, and not inside the next one when its allocations find the space
        // full. A 1M mixed batch of 5,400 requests: 23 of 51 scavenges and a mark-compact ran inside requests,
        // none of 38 with the turn (docs/performance.md, session 40). The work is the same; where it lands is not.
        if (perLine) await flushOut();
        else await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ElacsymError('FILE_NOT_FOUND', `batch file ${o.batch} does not exist`);
      throw e;
    } finally {
      if (fromStdin) process.stdin.destroy();
    }
    if (signal.aborted) {
      await flushOut();
      throw new ElacsymError('INTERRUPTED', `interrupted after answering ${answered} requests (input lines 1-${line})`, {
        hint: `send the remaining requests again${fromStdin ? '' : ` (the file's lines after ${line})`}`,
        details: { answered, lines: line },
      });
    }
    if (failed > 0) {
      err(`elacsym: ${failed} of ${line} batch lines failed (see their error lines on stdout)${corrupt ? `; data is damaged (${corrupt.code}): ${corrupt.message}` : ''}`);
      // Damage outranks bad requests: a script that checks for status 5 must not miss it in batch mode.
      return corrupt ? EXIT.CORRUPT : 2;
    }
    return 0;
  } catch (e) {
    throw remote ? remoteDamage(e) : e;
  } finally {
    peers?.close();
    snap.close();
    await remote?.closeAll();
  }
}

/**
 * Damage met in a namespace on an object store is repaired by publishing again (damaged objects are
 * written anew) from a machine that holds it locally, or by restoring a backup there.
 */
function remoteDamage(e: unknown): unknown {
  if (!(e instanceof ElacsymError) || !e.code.startsWith('CORRUPT_')) return e;
  return new ElacsymError(e.code, e.message, {
    cause: e,
    details: e.details,
    hint: 'the latest version is damaged in the store: publish the namespace again from a machine that holds it locally (`elacsym publish <namespace> s3://bucket/prefix`), which writes damaged objects anew; `elacsym health <namespace> --deep` on the store names what is damaged',
  });
}
