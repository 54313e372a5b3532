/**
 * One query against a warm snapshot: the same parse + execute path as `elacsym query --request`
 * (model/query.ts parseQueryRequest, query/engine.ts executeQuery). Shared by the main thread and the
 * query workers so both answer byte-identically.
 */
import type { Column } from '../index/filter/evaluate.js';
import type { LiveStats } from '../index/fulltext/bm25.js';
import type { FieldIndexReader } from '../index/fulltext/postings.js';
import type { Hits } from '../index/vector/topk.js';
import { parseQueryRequest } from '../model/query.js';
import type { Attributes, DocId } from '../model/types.js';
import { executeQuery, type SearchSource } from '../query/engine.js';
import type { WarmSource } from './warm.js';
import { ElacsymError } from '../errors.js';

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

/**
 * `guard` (the request time limit): called before each segment's share of the work (its filter column,
 * vector search, postings); it throws to stop the query there. A query is synchronous JavaScript, so
 * between segments is where it can be stopped without leaving anything half-done: nothing is written.
 */
/**
 * The request body as a value: the query route hands the body over as its raw text (parsed here, on the
 * query worker, instead of on the thread that serves HTTP for every worker); anything else is already one.
 * Text that is not JSON is INVALID_QUERY, as the body parser answers for the other routes.
 */
export function queryBodyValue(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch (e) {
    throw new ElacsymError('INVALID_QUERY', `request body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** `fence`: the namespace's write fence when the request arrived (WarmSource.acquire). */
export function answerQuery(warm: WarmSource, name: string, rawBody: unknown, guard?: () => void, fence = 0): QueryAnswer {
  guard?.();
  const body = queryBodyValue(rawBody);
  const lease = warm.acquire(name, fence);
  try {
    const req = parseQueryRequest(body, lease.snap.schema, 'request');
    const sources = guard ? lease.ctx.sources.map((s) => new GuardedSource(s, guard)) : lease.ctx.sources;
    const resp = executeQuery(sources, lease.snap.schema, req, (f) => lease.ctx.analyzerFor(f));
    return { json: JSON.stringify(resp), kind: queryKind(body), generation: lease.generation };
  } finally {
    lease.release();
  }
}

/** A source that calls `guard` before each step that does a segment's work (see answerQuery). */
class GuardedSource implements SearchSource {
  readonly name: string;
  readonly size: number;
  readonly liveCount: number;
  readonly dead: Uint8Array | null;
  readonly hasVectors: boolean;
  readonly ordsOfIds?: (ids: readonly DocId[]) => Iterable<number>;
  readonly maskCache?: Map<string, Uint8Array>;

  constructor(
    private readonly s: SearchSource,
    private readonly guard: () => void,
  ) {
    this.name = s.name;
    this.size = s.size;
    this.liveCount = s.liveCount;
    this.dead = s.dead;
    this.hasVectors = s.hasVectors;
    if (s.ordsOfIds) this.ordsOfIds = (ids) => s.ordsOfIds!(ids);
    this.maskCache = s.maskCache;
  }
  idOf(ord: number): DocId {
    return this.s.idOf(ord);
  }
  attributesOf(ord: number, only?: readonly string[]): Attributes {
    return this.s.attributesOf(ord, only);
  }
  vectorOf(ord: number): Float32Array | null {
    return this.s.vectorOf(ord);
  }
  column(field: string): Column {
    this.guard();
    return this.s.column(field);
  }
  vectorSearch(q: Float32Array, k: number, allow?: (ord: number) => boolean, selectivity?: number, nprobe?: number, mask?: Uint8Array, floor?: number): Hits {
    this.guard();
    return this.s.vectorSearch(q, k, allow, selectivity, nprobe, mask, floor);
  }
  vectorExact(q: Float32Array, k: number, ords: Iterable<number>): Hits {
    this.guard();
    return this.s.vectorExact(q, k, ords);
  }
  vectorReadBytes(): number {
    return this.s.vectorReadBytes?.() ?? 0;
  }
  lastVectorSearch(): { probes: number; candidates: number } | null {
    return this.s.lastVectorSearch?.() ?? null;
  }
  textIndex(field: string): FieldIndexReader | null {
    this.guard();
    return this.s.textIndex(field);
  }
  textStats(field: string): LiveStats {
    return this.s.textStats(field);
  }
  checkpoint(): void {
    this.guard();
  }
}
