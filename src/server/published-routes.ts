/**
 * Routes of a server on an object store (`elacsym serve -d s3://bucket/prefix`, published namespaces):
 * `GET /v1/namespaces` (the published names), `GET /health` (each namespace this process serves: its
 * version and the age of that version's commit; the block cache) and `GET /metrics` (the server's own
 * metrics plus the version, manifest age and block cache of every query thread). The query route is the
 * same as a local server's. Writing routes answer USAGE (400): a query machine is read-only; writes go
 * through the CLI on the store (cli/remote-write.ts) or a local data directory and `elacsym publish`.
 */
import type { FastifyInstance } from 'fastify';
import { ElacsymError } from '../errors.js';
import { asyncStoreOf, SyncObjectStore } from '../objstore/sync-store.js';
import { listPublished } from '../store/published.js';
import type { ServerContext } from './context.js';
import { esc, num } from './metrics.js';
import type { PublishedStats, PublishedWarm } from './published-warm.js';


/** Prometheus lines for the published snapshots and block cache of each query thread. */
export function publishedMetrics(threads: { worker: string; stats: PublishedStats }[]): string {
  const l: string[] = [];
  const gauge = (name: string, help: string, rows: [string, number][]) => {
    l.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) l.push(`${name}{${labels}} ${num(v)}`);
  };
  const counter = (name: string, help: string, rows: [string, number][]) => {
    l.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const [labels, v] of rows) l.push(`${name}{${labels}} ${num(v)}`);
  };
  const ns = threads.flatMap((t) => t.stats.namespaces.map((n) => [`worker="${t.worker}",namespace="${esc(n.namespace)}"`, n] as const));
  gauge('elacsym_published_version', 'The published version of a namespace a query thread serves.', ns.map(([k, n]) => [k, n.version]));
  gauge('elacsym_published_manifest_age_seconds', 'Seconds since the version a query thread serves was committed.', ns.map(([k, n]) => [k, n.manifest_age_s]));
  const c = threads.map((t) => [`worker="${t.worker}"`, t.stats.cache] as const);
  counter('elacsym_cache_hits_total', 'Blocks of segment objects served from the cache (memory or disk).', c.map(([k, s]) => [k, s.hits]));
  counter('elacsym_cache_misses_total', 'Blocks of segment objects fetched from the store.', c.map(([k, s]) => [k, s.misses]));
  counter('elacsym_cache_fetched_bytes_total', 'Bytes received from the object store.', c.map(([k, s]) => [k, s.bytesFetched]));
  counter('elacsym_cache_evictions_total', 'Block files removed to keep the cache within its bound.', c.map(([k, s]) => [k, s.evictions]));
  gauge('elacsym_cache_hit_ratio', 'Hits / (hits + misses) of the block cache since start (loads only: loaded snapshots answer from memory).', c.map(([k, s]) => [k, s.hit_rate]));
  counter('elacsym_cache_query_hits_total', 'Queries answered without fetching from the store.', c.map(([k, s]) => [k, s.query_hits ?? 0]));
  counter('elacsym_cache_query_misses_total', 'Queries that waited for a fetch from the store (a namespace or a new version loaded).', c.map(([k, s]) => [k, s.query_misses ?? 0]));
  gauge('elacsym_cache_query_hit_ratio', 'Query hits / (query hits + query misses) since start: the cache hit rate a client sees.', c.map(([k, s]) => [k, s.query_hit_rate ?? 0]));
  gauge('elacsym_cache_bytes', 'Bytes of block files in the cache directory, as the query thread last saw them.', c.map(([k, s]) => [k, s.bytes]));
  gauge('elacsym_cache_max_bytes', 'The bound of the cache directory (ELACSYM_CACHE_MAX_BYTES).', c.map(([k, s]) => [k, s.max_bytes]));
  return `${l.join('\n')}\n`;
}

export function publishedRoutes(app: FastifyInstance, ctx: ServerContext, main: PublishedWarm): void {
  const threads = async (): Promise<{ worker: string; stats: PublishedStats }[]> =>
    ctx.pool
      ? (await ctx.pool.stats()).map((w, i) => ({
          worker: String(i),
          stats: { namespaces: w.warm as PublishedStats['namespaces'], cache: w.cache ?? { ...main.publishedStats().cache } },
        }))
      : [{ worker: 'main', stats: main.publishedStats() }];

  app.get('/v1/namespaces', async () => {
    const bridge = new SyncObjectStore(ctx.opts.remote!.spec);
    try {
      const names = await listPublished(asyncStoreOf(bridge));
      return { namespaces: names.map((name) => ({ name })) };
    } finally {
      bridge.close();
    }
  });

  // 200 while every namespace served was confirmed current at its last check; 503 'degraded' when a check
  // failed (the store unavailable, or a damaged manifest object) and an older, loaded version is served.
  // Damage inside a version surfaces as CORRUPT_* on the query that meets it. The body says what is served.
  app.get('/health', async (_req, reply) => {
    const t = await threads();
    const degraded = t.some((x) => x.stats.namespaces.some((n) => n.last_error !== undefined));
    return reply.code(degraded ? 503 : 200).send({ status: degraded ? 'degraded' : 'healthy', mode: 'published', location: ctx.opts.dataDir, threads: t.map((x) => ({ worker: x.worker, ...x.stats })) });
  });

  app.get('/metrics', async (_req, reply) => {
    const t = await threads();
    const own = ctx.metrics.toText({ workers: ctx.pool?.size ?? 0, snapshots: t.flatMap((x) => x.stats.namespaces.map((s) => ({ worker: x.worker, ...s }))) });
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(own + publishedMetrics(t));
  });

  const readOnly = async () => {
    throw new ElacsymError('USAGE', `this server answers queries on namespaces published to ${ctx.opts.dataDir}; it does not write or read documents by id`, {
      hint: 'write with the CLI on the store (`elacsym -d <s3-url> import <namespace> FILE`, ...: this server sees each commit within --refresh-interval), or on a local data directory and `elacsym publish`',
    });
  };
  app.put('/v1/namespaces/:ns', readOnly);
  app.delete('/v1/namespaces/:ns', readOnly);
  app.get('/v1/namespaces/:ns', readOnly);
  for (const route of ['upsert', 'delete', 'import']) app.post(`/v1/namespaces/:ns/${route}`, readOnly);
  app.get('/v1/namespaces/:ns/documents/:id', readOnly);
  app.get('/v1/namespaces/:ns/export', readOnly);
}
