/** The ancestor's query route: the request shape `elacsym query --request` accepts, answered by a worker. */
import type { FastifyInstance } from 'fastify';
import { validateNamespaceName } from '../model/schema.js';
import type { ServerContext } from './context.js';
import { HttpOnlyError } from './http-errors.js';
import { answerQuery, queryKind } from './query-exec.js';

export function queryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Params: { ns: string }; Body: unknown }>('/v1/namespaces/:ns/query', async (req, reply) => {
    const name = req.params.ns;
    validateNamespaceName(name);
    ctx.label(req, queryKind(req.body));
    let json: string;
    if (ctx.pool) json = (await ctx.pool.run(name, req.body, ctx.opts.requestTimeoutMs)).json;
    else {
      const t0 = Date.now();
      json = answerQuery(ctx.warm, name, req.body).json;
      // On the main thread a query cannot be interrupted; the limit still turns a late answer into 503.
      if (ctx.opts.requestTimeoutMs > 0 && Date.now() - t0 > ctx.opts.requestTimeoutMs) {
        throw new HttpOnlyError('TIMEOUT', `the query did not finish within the ${ctx.opts.requestTimeoutMs} ms request time limit (--request-timeout)`);
      }
    }
    return reply.type('application/json').send(json);
  });
}
