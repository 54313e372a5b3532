/**
 * `elacsym serve`: the HTTP front door. Like the CLI it only parses, calls the core and formats; the
 * routes (one file per group) call the same store/ functions as the commands. Loaded only by the serve
 * command (dist/server.mjs, a bundle of its own), so the CLI's other commands never load fastify.
 *
 * Request flow: auth (onRequest) -> fastify's JSON parser (bodyLimit -> 413) -> route -> error handler
 * (the one table in http-errors.ts) -> metrics + access log (onResponse).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyRequest } from 'fastify';
import { ElacsymError } from '../errors.js';
import type { ServeOptions, ServerContext } from './context.js';
import { documentRoutes } from './documents.js';
import { HttpOnlyError, toHttpError } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { namespaceRoutes } from './namespaces.js';
import { opsRoutes } from './ops.js';
import { QueryPool } from './pool.js';
import { queryRoutes } from './query.js';
import { PublishedWarm } from './published-warm.js';
import { publishedRoutes } from './published-routes.js';
import { WarmNamespaces, type WarmSource } from './warm.js';
import { WriteThread } from './write-thread.js';

export type { ServeOptions } from './context.js';

export interface RunningServer {
  /** http://host:port as bound (port 0 resolved). */
  url: string;
  workers: number;
  /**
   * Graceful stop: refuse new connections, stop streaming imports (they commit the lines already
   * received), finish in-flight requests, stop the workers, close snapshots. Every writer lock is
   * released when its request ends.
   */
  close(): Promise<void>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7).trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const metrics = new ServerMetrics();
  const remote = opts.remote ?? null;
  // An object store is served read-only: published snapshots, no write thread (see published-warm.ts).
  const published = remote ? new PublishedWarm(remote) : null;
  const warm: WarmSource = published ?? new WarmNamespaces(opts.dataDir);
  const pool = opts.workers > 0 ? new QueryPool(opts.dataDir, opts.workers, remote) : null;
  const writes = remote ? null : new WriteThread(opts.dataDir);
  const labels = new WeakMap<object, { kind: string; code?: string; t0: bigint }>();
  const ctx: ServerContext = {
    opts,
    warm,
    published,
    pool,
    writes,
    metrics,
    shutdown: { stopping: false, listeners: new Set() },
    label(req, kind, code) {
      const l = labels.get(req);
      if (l) {
        if (kind) l.kind = kind;
        if (code) l.code = code;
      }
    },
  };

  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    // Node's own timeouts would cut long streaming imports; queries have --request-timeout.
    requestTimeout: 0,
    connectionTimeout: 0,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // "__proto__" and "constructor" are ordinary attribute names (man elacsym-import): JSON.parse makes
    // them own data properties, and the store reads attributes as own keys only (model/schema.ts
    // dataRecord/ownValue), exactly as CLI import does. Fastify's default refused such bodies with 400.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
  });

  // NDJSON bodies are not parsed: the import route streams request.raw itself. Elsewhere NDJSON is the wrong
  // type (415), not an empty body that each route refused in its own words (400).
  app.addContentTypeParser('application/x-ndjson', (req, _payload, done) => {
    if (routeOf(req).endsWith('/import')) done(null, undefined);
    else done(new HttpOnlyError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be JSON: send Content-Type: application/json (application/x-ndjson is for POST /v1/namespaces/:ns/import)'), undefined);
  });
  // Bodies are JSON (or NDJSON for import). Fastify's default text/plain parser handed the routes a string:
  // /query parsed it as JSON while upsert, delete and PUT answered a misleading "the body must be
  // {...}". Without it every route answers 415 naming the type to send (setErrorHandler).
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (req, reply) => {
    labels.set(req, { kind: '', t0: process.hrtime.bigint() });
    metrics.inflight++;
    // Taken now: once the response finishes, Node detaches the socket from the request.
    const socket = req.raw.socket;
    reply.raw.once('finish', () => lingeringClose(req.raw, socket));
    if (opts.token !== null && !tokenMatches(req.headers.authorization, opts.token)) {
      throw new HttpOnlyError('UNAUTHORIZED', 'missing or wrong bearer token');
    }
    // Bodies are read as UTF-8 (JSON's encoding, RFC 8259 section 8.1). A body declared in another charset
    // was decoded as UTF-8 all the same: its non-ASCII text turned into U+FFFD in silence (a tester's case).
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(String(req.headers['content-type'] ?? ''))?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      throw new HttpOnlyError('UNSUPPORTED_MEDIA_TYPE', `request bodies are UTF-8; this one says charset=${charset}: send it as UTF-8 (charset=utf-8, or no charset)`);
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const l = labels.get(req);
    metrics.inflight--;
    const seconds = l ? Number(process.hrtime.bigint() - l.t0) / 1e9 : 0;
    const route = routeOf(req);
    metrics.observe(route, req.method, reply.statusCode, seconds, l?.kind ?? '', l?.code);
    if (opts.accessLog) {
      opts.accessLog(
        JSON.stringify({
          time: new Date().toISOString(),
          remote: req.ip,
          method: req.method,
          url: req.url,
          route,
          status: reply.statusCode,
          ms: Math.round(seconds * 1e6) / 1e3,
          ...(l?.kind ? { kind: l.kind } : {}),
          ...(l?.code ? { code: l.code } : {}),
        }),
      );
    }
  });

  app.setErrorHandler((e: FastifyError, req, reply) => {
    let err: unknown = e;
    // fastify's own errors (body parsing, limits, media type) -> the same JSON shape and codes
    if (typeof e.code === 'string' && e.code.startsWith('FST_')) {
      if (e.statusCode === 413) err = new HttpOnlyError('PAYLOAD_TOO_LARGE', `request body larger than ${opts.maxBodyBytes} bytes (--max-body-bytes); stream documents with POST /v1/namespaces/:ns/import`);
      else if (e.statusCode === 415) {
        const want = routeOf(req).endsWith('/import') ? 'NDJSON: send Content-Type: application/x-ndjson' : 'JSON: send Content-Type: application/json';
        err = new HttpOnlyError('UNSUPPORTED_MEDIA_TYPE', `the request body must be ${want} (got ${JSON.stringify(String(req.headers['content-type'] ?? ''))})`);
      }
      else if (e.statusCode === 503) err = new HttpOnlyError('SHUTTING_DOWN', 'the server is shutting down');
      else if (e.statusCode !== undefined && e.statusCode < 500) err = usageError(req, e.message);
    } else if (e instanceof SyntaxError) err = usageError(req, e.message);
    const h = toHttpError(err, ctx.opts.dataDir);
    ctx.label(req, '', h.code);
    if (h.retryAfter !== undefined) void reply.header('Retry-After', String(h.retryAfter));
    return reply.code(h.status).send(h.body);
  });

  app.setNotFoundHandler((req, reply) => {
    const h = toHttpError(new HttpOnlyError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
    ctx.label(req, '', h.code);
    return reply.code(h.status).send(h.body);
  });

  if (published) publishedRoutes(app, ctx, published);
  else {
    namespaceRoutes(app, ctx);
    documentRoutes(app, ctx);
    opsRoutes(app, ctx);
  }
  queryRoutes(app, ctx);

  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    warm.close();
    await pool?.close();
    await writes?.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    workers: pool?.size ?? 0,
    close() {
      closing ??= (async () => {
        ctx.shutdown.stopping = true;
        for (const stop of ctx.shutdown.listeners) stop();
        await app.close();
        await pool?.close();
        await writes?.close();
        warm.close();
      })();
      return closing;
    },
  };
}

/** How long a connection answered before its request body ended may go on sending after our FIN (ms). */
const LINGER_MS = 2000;

/**
 * After a response that finished before its request body did (an import stopped by shutdown or by a bad
 * line, a 4xx/5xx answered without reading the body), the connection is closed the lingering way, as HTTP
 * servers do (RFC 9112 section 9.6): our side is half-closed, so the client sees the end and stops
 * sending, while what it still sends is read and dropped (Node's own drain of an unread body, or the
 * import's pump). Kept alive instead, Node read the rest of the body for as long as the client sent it,
 * so the connection was never idle and a shutdown waited for --shutdown-timeout, then exited 1;
 * destroyed at once, a reset could discard the response's last bytes at the client before it read them.
 * A client that goes on sending is cut off after LINGER_MS.
 */
function lingeringClose(req: IncomingMessage, socket: Socket): void {
  if (req.complete || socket.destroyed) return;
  socket.end();
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  cut.unref();
  socket.once('close', () => clearTimeout(cut));
}

/** The route pattern (bounded label cardinality); unmatched requests share one label. */
function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? 'unmatched';
}

function usageError(req: FastifyRequest, message: string): ElacsymError {
  return new ElacsymError(routeOf(req).endsWith('/query') ? 'INVALID_QUERY' : 'USAGE', `request body: ${message}`);
}
