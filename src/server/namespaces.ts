/** Namespace routes: list, create (the ancestor's PUT), describe, drop. */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ElacsymError } from '../errors.js';
import { parseSchema } from '../model/schema.js';
import { validateNamespaceName } from '../model/schema.js';
import { DataDir, namespaceDir } from '../store/data-dir.js';
import { describeNamespace, type NamespaceSummary, summarizeNamespace } from '../store/describe.js';
import type { UncheckedNamespace } from '../store/health.js';
import { assertWritable } from '../util/env-error.js';
import type { ServerContext } from './context.js';
import { withWriterLock } from './writes.js';

type NsParams = { Params: { ns: string } };

export function namespaceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const dataDir = ctx.opts.dataDir;

  // A namespace that cannot be read (damaged, another user's) is listed under `unreadable` with its error
  // code: one such namespace answered 500 for the whole list (a tester's case). GET /v1/namespaces/:ns
  // and /health say more about it.
  app.get('/v1/namespaces', async () => {
    const namespaces: NamespaceSummary[] = [];
    const unreadable: UncheckedNamespace[] = [];
    if (existsSync(dataDir)) {
      const dir = DataDir.open(dataDir);
      for (const name of dir.listNamespaces()) {
        try {
          namespaces.push(summarizeNamespace(dir.namespacePath(name), name));
        } catch (e) {
          if (!(e instanceof ElacsymError)) throw e;
          if (e.code === 'NAMESPACE_NOT_FOUND') continue; // dropped meanwhile
          unreadable.push({ namespace: name, code: e.code, message: e.message });
        }
      }
    }
    return unreadable.length > 0 ? { namespaces, unreadable } : { namespaces };
  });

  // The ancestor's create: {"schema": {...}} in the shape `elacsym init --schema` reads. 409 if it exists.
  app.put<NsParams & { Body: unknown }>('/v1/namespaces/:ns', async (req) => {
    const name = req.params.ns;
    validateNamespaceName(name);
    const body = req.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !('schema' in body)) {
      throw new ElacsymError('INVALID_SCHEMA', 'the request body must be {"schema": {...}}');
    }
    const schema = parseSchema(body.schema, 'schema');
    return { namespace: name, schema: DataDir.open(dataDir, { create: true }).initNamespace(name, schema) };
  });

  app.get<NsParams>('/v1/namespaces/:ns', async (req) => describeNamespace(namespaceDir(dataDir, req.params.ns), req.params.ns));

  // Like `elacsym drop --yes`: holds the writer lock so a running import is not pulled out from under.
  app.delete<NsParams>('/v1/namespaces/:ns', async (req) => {
    const name = req.params.ns;
    const nsDir = namespaceDir(dataDir, name);
    // As `elacsym drop`: where nothing may be written, say so (PERMISSION_DENIED, 403) before taking the lock.
    assertWritable([dataDir, nsDir], `namespace ${name}`);
    await withWriterLock(nsDir, name, ctx.opts.writeWaitMs, () => DataDir.open(dataDir).dropNamespace(name));
    ctx.warm.forget(name);
    return { dropped: name };
  });
}
