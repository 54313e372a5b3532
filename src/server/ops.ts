/** Operations routes: GET /health (the findings of `elacsym health`) and GET /metrics (Prometheus). */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ElacsymError } from '../errors.js';
import { DataDir } from '../store/data-dir.js';
import { checkNamespace, healthVerdict, type NamespaceHealth, toPrometheus, type UncheckedNamespace } from '../store/health.js';
import type { ServerContext } from './context.js';

interface Checked {
  reports: NamespaceHealth[];
  /** Namespaces that could not be checked at all, as `elacsym health --json` lists them. */
  unchecked: UncheckedNamespace[];
}

function checkAll(dataDir: string, deep: boolean, maxBacklogDocs: number | undefined): Checked {
  const out: Checked = { reports: [], unchecked: [] };
  if (!existsSync(dataDir)) return out;
  const dir = DataDir.open(dataDir);
  for (const n of dir.listNamespaces()) {
    try {
      out.reports.push(checkNamespace(dir.namespacePath(n), n, { deep, maxBacklogDocs, cacheJournal: true }));
    } catch (e) {
      if (!(e instanceof ElacsymError)) throw e;
      if (e.code === 'NAMESPACE_NOT_FOUND') continue; // dropped meanwhile
      out.unchecked.push({ namespace: n, code: e.code, message: e.message });
    }
  }
  return out;
}

/** A /health query parameter: absent, or one of the values it takes (a typo is 400, not a silent default). */
function param(query: Record<string, string | undefined>, name: string, valid: (v: string) => boolean, what: string): string | undefined {
  const v = query[name];
  if (v !== undefined && !valid(v)) throw new ElacsymError('USAGE', `query parameter ${name} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

export function opsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // 200 when every namespace is healthy, 503 when one is degraded or corrupt (a load balancer's signal);
  // the body is `elacsym health --json`'s. ?deep=1 verifies every checksum (slow on big namespaces).
  app.get<{ Querystring: Record<string, string | undefined> }>('/health', async (req, reply) => {
    const unknown = Object.keys(req.query).filter((k) => k !== 'deep' && k !== 'max_backlog');
    if (unknown.length > 0) throw new ElacsymError('USAGE', `unknown query parameter ${unknown.join(', ')}; /health takes deep and max_backlog`);
    const deepValue = param(req.query, 'deep', (v) => ['0', '1', 'true', 'false'].includes(v), '0, 1, true or false');
    const deep = deepValue === '1' || deepValue === 'true';
    const maxBacklog = param(req.query, 'max_backlog', (v) => /^[0-9]{1,15}$/.test(v), 'a whole number of documents');
    const { reports, unchecked } = checkAll(ctx.opts.dataDir, deep, maxBacklog === undefined ? undefined : Number(maxBacklog));
    const status = healthVerdict(reports, unchecked);
    return reply.code(status === 'healthy' ? 200 : 503).send({ status, namespaces: reports, ...(unchecked.length > 0 ? { unchecked } : {}) });
  });

  app.get('/metrics', async (_req, reply) => {
    const snapshots = ctx.pool
      ? (await ctx.pool.stats()).flatMap((w, i) => w.warm.map((s) => ({ worker: String(i), ...s })))
      : ctx.warm.stats().map((s) => ({ worker: 'main', ...s }));
    const own = ctx.metrics.toText({ workers: ctx.pool?.size ?? 0, snapshots });
    const all = checkAll(ctx.opts.dataDir, false, undefined);
    const health = toPrometheus(all.reports, all.unchecked);
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(own + health);
  });
}
