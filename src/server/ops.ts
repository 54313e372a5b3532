/** Operations routes: GET /health (the findings of `elacsym health`) and GET /metrics (Prometheus). */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { DataDir } from '../store/data-dir.js';
import { checkNamespace, type NamespaceHealth, toPrometheus } from '../store/health.js';
import type { ServerContext } from './context.js';

function checkAll(dataDir: string, deep: boolean, maxBacklogDocs: number | undefined): NamespaceHealth[] {
  if (!existsSync(dataDir)) return [];
  const dir = DataDir.open(dataDir);
  return dir.listNamespaces().map((n) => checkNamespace(dir.namespacePath(n), n, { deep, maxBacklogDocs, cacheJournal: true }));
}

export function opsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // 200 when every namespace is healthy, 503 when one is degraded or corrupt (a load balancer's signal);
  // the body is `elacsym health --json`'s. ?deep=1 verifies every checksum (slow on big namespaces).
  app.get<{ Querystring: { deep?: string; max_backlog?: string } }>('/health', async (req, reply) => {
    const deep = req.query.deep === '1' || req.query.deep === 'true';
    const maxBacklog = req.query.max_backlog === undefined ? undefined : Number(req.query.max_backlog);
    const reports = checkAll(ctx.opts.dataDir, deep, Number.isFinite(maxBacklog) ? maxBacklog : undefined);
    const status = reports.some((r) => r.status === 'corrupt') ? 'corrupt' : reports.some((r) => r.status === 'degraded') ? 'degraded' : 'healthy';
    return reply.code(status === 'healthy' ? 200 : 503).send({ status, namespaces: reports });
  });

  app.get('/metrics', async (_req, reply) => {
    const snapshots = ctx.pool
      ? (await ctx.pool.stats()).flatMap((w, i) => w.warm.map((s) => ({ worker: String(i), ...s })))
      : ctx.warm.stats().map((s) => ({ worker: 'main', ...s }));
    const own = ctx.metrics.toText({ workers: ctx.pool?.size ?? 0, snapshots });
    const health = toPrometheus(checkAll(ctx.opts.dataDir, false, undefined));
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(own + health);
  });
}
