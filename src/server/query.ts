/** The ancestor's query route: the request shape `elacsym query --request` accepts, answered by a worker. */
import type { FastifyInstance } from 'fastify';
import { validateNamespaceName } from '../model/schema.js';
import type { ServerContext } from './context.js';
import { HttpOnlyError } from './http-errors.js';
import { answerQuery, type QueryAnswer, queryBodyValue, queryKind } from './query-exec.js';

export function queryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // The body reaches the query worker as its raw text, parsed there (queryBodyValue): parsing it here and
  // cloning the parsed value into the worker cost the HTTP thread, which serves every worker, ~3% of
  // its time per vector query. Scoped to this route by fastify's encapsulation; the size limit still applies.
  void app.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => done(null, text));
    scope.post<{ Params: { ns: string }; Body: unknown }>('/v1/namespaces/:ns/query', async (req, reply) => {
      const name = req.params.ns;
      validateNamespaceName(name);
      let a: QueryAnswer;
      // Read your writes: taken when the request arrives, after any write this server acknowledged.
      const fence = ctx.writes?.fence(name) ?? 0;
      try {
        if (ctx.pool) a = await ctx.pool.run(name, req.body, ctx.opts.requestTimeoutMs, fence);
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
          await ctx.warm.ready?.(name);
          a = answerQuery(ctx.warm, name, req.body, guard, fence);
        }
      } catch (e) {
        // the kind label of a failed request (rare: parsing the body again here costs nothing that matters)
        let kind: string = 'invalid';
        try {
          kind = queryKind(queryBodyValue(req.body));
        } catch {
          // not JSON: 'invalid'
        }
        ctx.label(req, kind);
        throw e;
      }
      ctx.label(req, a.kind);
      return reply.type('application/json').send(a.json);
    });
  });
}
