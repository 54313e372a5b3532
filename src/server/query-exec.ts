/**
 * One query against a warm snapshot: the same parse + execute path as `elacsym query --request`
 * (model/query.ts parseQueryRequest, query/engine.ts executeQuery). Shared by the main thread and the
 * query workers so both answer byte-identically.
 */
import { parseQueryRequest } from '../model/query.js';
import { executeQuery } from '../query/engine.js';
import type { WarmNamespaces } from './warm.js';

export interface QueryAnswer {
  /** The response JSON, already serialised (workers post strings: cheaper than structured clone). */
  json: string;
  kind: QueryKind;
  generation: number;
}

export type QueryKind = 'vector' | 'text' | 'hybrid' | 'filter' | 'invalid';

/** The kind label of a request for metrics (before validation; 'invalid' when it is not an object). */
export function queryKind(body: unknown): QueryKind {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'invalid';
  const b = body as Record<string, unknown>;
  const v = b.vector !== undefined && b.vector !== null;
  const t = b.full_text !== undefined && b.full_text !== null;
  return v && t ? 'hybrid' : v ? 'vector' : t ? 'text' : 'filter';
}

export function answerQuery(warm: WarmNamespaces, name: string, body: unknown): QueryAnswer {
  const lease = warm.acquire(name);
  try {
    const req = parseQueryRequest(body, lease.snap.schema, 'request');
    const resp = executeQuery(lease.ctx.sources, lease.snap.schema, req, (f) => lease.ctx.analyzerFor(f));
    return { json: JSON.stringify(resp), kind: queryKind(body), generation: lease.generation };
  } finally {
    lease.release();
  }
}
