import { ElacsymError } from '../../errors.js';
import { namespaceDir } from '../../store/data-dir.js';
import { parseQueryRequest, type QueryRequest } from '../../model/query.js';
import type { Schema } from '../../model/types.js';
import { executeQuery, type QueryResponse } from '../../query/engine.js';
import { warmUp } from '../../query/warm-up.js';
import { QueryContext } from '../../store/search-sources.js';
import { Snapshot } from '../../store/snapshot.js';
import { intOpt, jsonArg, numOpt, readInput } from '../args.js';
import { concreteHint, err, isTTY, out, outLine, printJson, type GlobalOptions } from '../output.js';

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
  return r;
}

function formatOf(o: Record<string, unknown>, g: GlobalOptions): 'json' | 'ndjson' | 'table' {
  if (typeof o.format === 'string') return o.format as 'json' | 'ndjson' | 'table';
  if (g.json) return 'json';
  return isTTY('stdout') ? 'table' : 'json';
}

async function print(resp: QueryResponse, format: 'json' | 'ndjson' | 'table'): Promise<void> {
  if (format === 'json') return printJson(resp);
  if (format === 'ndjson') {
    for (const r of resp.results) await printJson(r);
    return;
  }
  const rows = resp.results.map((r, i) => [String(i + 1), JSON.stringify(r.id), r.score.toFixed(6), r.attributes ? truncate(JSON.stringify(r.attributes), 80) : '']);
  const head = ['rank', 'id', 'score', 'attributes'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  await outLine(line(head));
  for (const r of rows) await outLine(line(r));
  // A summary, not a result: stderr, so `query ... --format table | wc -l` counts rows only.
  err(`(${resp.results.length} results in ${resp.took_ms.toFixed(2)} ms)`);
  if (resp.explain) await outLine(JSON.stringify(resp.explain, null, 2));
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function run(ctx: QueryContext, schema: Schema, json: unknown, where: string): QueryResponse {
  const req: QueryRequest = parseQueryRequest(json, schema, where);
  return executeQuery(ctx.sources, schema, req, (f) => ctx.analyzerFor(f));
}

export default async function query([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (LISTING_FLAGS.some((k) => o[k] !== undefined)) return (await import('./query-list.js')).default(name!, o, g);
  const dir = namespaceDir(g.dataDir, name!);
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
    return r;
  };
  const format = formatOf(o, g);
  const batch = typeof o.batch === 'string';
  const warmRounds = intOpt(o.warmUp ?? '0', '--warm-up', 0, 100_000);
  if (g.explicit.has('warmUp') && !batch) throw new ElacsymError('USAGE', '--warm-up applies to --batch only');
  const snap = Snapshot.open(dir, { loadFully: batch });
  try {
    for (const w of snap.warnings) err(`elacsym: warning: journal entry ${w.seq} skipped: ${w.reason} (see \`elacsym wal inspect ${name}\`)`);
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
      await print(run(ctx, snap.schema, json, 'request'), format);
      return 0;
    }
    if (warmRounds > 0) {
      const w = warmUp(ctx.sources, snap.schema, (f) => ctx.analyzerFor(f), warmRounds);
      if (!g.quiet) err(`elacsym: warmed up with ${w.queries} queries in ${w.ms.toFixed(0)} ms`);
    }
    // --batch: one response line per request line, in order; a bad line yields an error line and exit 2.
    const [{ createReadStream }, { createInterface }] = await Promise.all([import('node:fs'), import('node:readline')]);
    const input = o.batch === '-' ? process.stdin : createReadStream(String(o.batch));
    const rl = createInterface({ input, crlfDelay: Infinity });
    let line = 0;
    let failed = 0;
    try {
      for await (const text of rl) {
        line++;
        if (text.trim() === '') continue;
        try {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch (e) {
            throw new ElacsymError('INVALID_QUERY', `line ${line}: not valid JSON: ${(e as Error).message}`);
          }
          await out(`${JSON.stringify(run(ctx, snap.schema, overrides(json), `line ${line}`))}\n`);
        } catch (e) {
          if (!(e instanceof ElacsymError)) throw e;
          failed++;
          await out(`${JSON.stringify({ error: { code: e.code, message: e.message, hint: concreteHint(e.hint, g), line } })}\n`);
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ElacsymError('FILE_NOT_FOUND', `batch file ${o.batch} does not exist`);
      throw e;
    }
    if (failed > 0) {
      err(`elacsym: ${failed} of ${line} batch lines failed (see their error lines on stdout)`);
      return 2;
    }
    return 0;
  } finally {
    snap.close();
  }
}
