/**
 * Document routes: the ancestor's upsert, fetch by id, delete by ids, streaming NDJSON import and export.
 * Validation and acknowledgement are the CLI's (store/ingest.ts importNdjson): a document is acknowledged
 * once its journal batch is committed.
 */
import { PassThrough, Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ElacsymError } from '../errors.js';
import { idKey, isCanonicalInteger, parseId } from '../model/document.js';
import type { DocId } from '../model/types.js';
import { namespaceDir } from '../store/data-dir.js';
import { docToJson, exportDocs } from '../store/export.js';
import { getDocuments } from '../store/get.js';
import type { ImportSummary } from '../store/ingest.js';
import type { ServerContext } from './context.js';
import { HttpOnlyError, toHttpError } from './http-errors.js';

type NsParams = { Params: { ns: string } };

/** Default documents per segment flush of an HTTP import (the CLI's is 100,000; see the import route). */
export const HTTP_SEGMENT_DOCS = 8192;

/**
 * An id from a URL path segment, typed as on the command line (cli/args.ts cliId): 42 is the integer id;
 * "42", abc and 007 are strings.
 */
export function pathId(raw: string): DocId {
  let v: unknown = raw;
  if (isCanonicalInteger(raw)) v = Number(raw);
  else if (raw.startsWith('"')) {
    try {
      v = JSON.parse(raw);
    } catch {
      throw new ElacsymError('USAGE', `document id ${raw} is not a valid JSON string`);
    }
  }
  try {
    return parseId(v);
  } catch (e) {
    throw new ElacsymError('USAGE', `document id: ${(e as Error).message}`);
  }
}

function intParam(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ElacsymError('USAGE', `query parameter ${name} must be an integer in ${min}..${max}`);
  return n;
}

async function* once(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * An invalid document of an upsert, told in the request's terms: the import under it names "line N" and
 * suggests ?skip_lines or ?on_error=skip, which this all-or-nothing route does not take (a tester's case).
 */
function upsertError(e: unknown): unknown {
  if (!(e instanceof ElacsymError) || e.code !== 'INVALID_DOCUMENT') return e;
  const line = e.details.line;
  if (typeof line !== 'number') return e;
  const field = typeof e.details.field === 'string' && e.details.field ? e.details.field : null;
  // "line N[, field F]: REASON; ... committed, nothing after" -> REASON
  const reason = e.message.replace(/^line \d+(, field [^:]*)?: /, '').replace(/; [^;]*, nothing after$/, '');
  return new ElacsymError('INVALID_DOCUMENT', `documents[${line - 1}]${field ? `, field ${field}` : ''}: ${reason}; nothing was written (an upsert is all or nothing)`, {
    hint: `fix documents[${line - 1}] and send the request again`,
    details: { index: line - 1, ...(field ? { field } : {}) },
  });
}

export function documentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { dataDir, writeWaitMs, maxLineBytes } = ctx.opts;

  // The ancestor's upsert: {"documents": [...]}, all or nothing (one journal batch), then flushed into a
  // segment as `elacsym import` does. Error messages count documents as "line N" (1-based).
  app.post<NsParams & { Body: unknown }>('/v1/namespaces/:ns/upsert', async (req) => {
    const name = req.params.ns;
    namespaceDir(dataDir, name); // 404 here; the write thread takes the lock
    const body = req.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || !Array.isArray(body.documents)) {
      throw new ElacsymError('INVALID_DOCUMENT', 'the request body must be {"documents": [...]}');
    }
    const docs = body.documents as unknown[];
    const ndjson = Buffer.from(docs.map((d) => JSON.stringify(d ?? null)).join('\n'));
    let s: Awaited<ReturnType<NonNullable<typeof ctx.writes>['import']>['done']>;
    try {
      s = await ctx.writes!.import(name, { onError: 'fail', batchDocs: Math.max(1, docs.length), maxLineBytes: Number.MAX_SAFE_INTEGER }, writeWaitMs, once(ndjson), null).done;
    } catch (e) {
      throw upsertError(e);
    }
    return { namespace: name, upserted: s.committed, inserted: s.inserted, updated: s.updated };
  });

  app.get<{ Params: { ns: string; id: string } }>('/v1/namespaces/:ns/documents/:id', async (req, reply) => {
    const id = pathId(req.params.id);
    const r = getDocuments(namespaceDir(dataDir, req.params.ns), [id]);
    const d = r.found[0];
    if (!d) {
      // Its own hint: the table's default speaks of the CLI's stdout.
      throw new ElacsymError('DOCUMENT_NOT_FOUND', `document ${JSON.stringify(id)} not found in ${req.params.ns}`, {
        hint: 'ids are exact: the number 42 and the string "42" (path %2242%22) are different documents',
        details: { missing: [id] },
      });
    }
    return reply.type('application/json').send(docToJson(d));
  });

  app.post<NsParams & { Body: unknown }>('/v1/namespaces/:ns/delete', async (req) => {
    const name = req.params.ns;
    namespaceDir(dataDir, name);
    const body = req.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || !Array.isArray(body.ids)) throw new ElacsymError('USAGE', 'the request body must be {"ids": [...]}');
    const ids = (body.ids as unknown[]).map((v, i) => {
      try {
        return parseId(v);
      } catch (e) {
        throw new ElacsymError('USAGE', `ids[${i}]: ${(e as Error).message}`);
      }
    });
    const r = await ctx.writes!.delete(name, ids, writeWaitMs);
    const unique = new Set(ids.map(idKey)).size;
    return { namespace: name, requested: ids.length, deleted: r.deleted, not_found: Math.max(0, unique - r.deleted) };
  });

  // Streaming import. The response is NDJSON events, started lazily: an error before the first event
  // (no namespace, writer busy, the first bad line with on_error=fail) is an ordinary error status; after
  // it, the last line is {"event":"done",...} or {"event":"error","error":{...}}.
  app.post<NsParams & { Querystring: Record<string, string | undefined> }>('/v1/namespaces/:ns/import', async (req, reply) => {
    const name = req.params.ns;
    const q = req.query;
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-ndjson')) {
      throw new HttpOnlyError('UNSUPPORTED_MEDIA_TYPE', 'the import body must be NDJSON: send Content-Type: application/x-ndjson');
    }
    namespaceDir(dataDir, name); // 404 before anything is streamed
    // A misspelt parameter (?skip_line=3) must not silently import everything again.
    const unknown = Object.keys(q).filter((k) => !IMPORT_PARAMS.includes(k));
    if (unknown.length > 0) throw new ElacsymError('USAGE', `unknown query parameter ${unknown.join(', ')}; the import route takes ${IMPORT_PARAMS.join(', ')}`);
    const onError = q.on_error ?? 'fail';
    if (onError !== 'fail' && onError !== 'skip') throw new ElacsymError('USAGE', 'query parameter on_error must be fail or skip');
    const batchDocs = intParam(q.batch_size, 'batch_size', 1, 1_000_000, 8192);
    // Far smaller than the CLI's 100,000 on purpose: a snapshot refresh decodes only new journal entries
    // (Snapshot.refresh), but every query thread still rebuilds its in-memory journal source (sorted
    // documents, packed vectors, a text index on first use) at each refresh, in proportion to the whole
    // pending journal; so the server flushes each batch and keeps the journal short while queries run next
    // to the import. The price is more, smaller segments: compact afterwards.
    const segmentDocs = intParam(q.segment_docs, 'segment_docs', 1, 100_000_000, Math.max(batchDocs, HTTP_SEGMENT_DOCS));
    const lineLimit = intParam(q.max_line_bytes, 'max_line_bytes', 1024, maxLineBytes, maxLineBytes);
    const skipLines = intParam(q.skip_lines, 'skip_lines', 0, Number.MAX_SAFE_INTEGER, 0);
    const flush = q.flush !== 'false';

    let out: PassThrough | null = null;
    const emit = (ev: Record<string, unknown>) => {
      if (!out) {
        out = new PassThrough();
        void reply.type('application/x-ndjson').send(out);
      }
      out.write(`${JSON.stringify(ev)}\n`);
    };
    const job = ctx.writes!.import(name, { onError, batchDocs, segmentDocs, maxLineBytes: lineLimit, skipLines, flush }, writeWaitMs, req.raw, emit);
    const onShutdown = () => job.stop();
    ctx.shutdown.listeners.add(onShutdown);
    let summary: ImportSummary;
    try {
      summary = await job.done;
    } catch (e) {
      if (!out) throw e;
      const h = toHttpError(e, ctx.opts.dataDir);
      ctx.label(req, '', h.code);
      endStream(out, { event: 'error', ...h.body });
      return reply;
    } finally {
      ctx.shutdown.listeners.delete(onShutdown);
    }
    const done = { event: 'done', namespace: name, ...summary };
    if (!out) return reply.type('application/x-ndjson').send(`${JSON.stringify(done)}\n`);
    endStream(out, done);
    return reply;
  });

  app.get<NsParams>('/v1/namespaces/:ns/export', async (req, reply) => {
    const dir = namespaceDir(dataDir, req.params.ns);
    return reply.type('application/x-ndjson').send(Readable.from(exportDocs(dir)));
  });
}

/** The import route's query parameters (man elacsym-serve). */
const IMPORT_PARAMS = ['on_error', 'batch_size', 'segment_docs', 'max_line_bytes', 'skip_lines', 'flush'];

/** Last line of an import stream (an unread rest of the body: app.ts lingeringClose). */
function endStream(out: PassThrough, ev: Record<string, unknown>): void {
  out.end(`${JSON.stringify(ev)}\n`);
}
