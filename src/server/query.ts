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
      // On the main thread (--workers 0) the query stops between segments once past the limit.
      const limit = ctx.opts.requestTimeoutMs;
      const deadline = Date.now() + limit;
      const guard =
        limit > 0
          ? () => {
              if (Date.now() > deadline) throw new HttpOnlyError('TIMEOUT', `the query did not finish within the ${limit} ms request time limit (--request-timeout)`);
            }
          : undefined;
      json = answerQuery(ctx.warm, name, req.body, guard).json;
    }
    return reply.type('application/json').send(json);
  });
}
