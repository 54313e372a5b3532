/**
 * Warm-up for a long-lived batch (`query --batch --warm-up N`): N rounds of vector, full-text, hybrid and
 * filtered queries built from the namespace's own documents, answered and thrown away before the first
 * request.
 *
 * Why: a fresh process runs its first requests in still-cold code (V8 optimizes a function only after it
 * has run for a while) and pays one-time costs on the first request of each kind (the IVF clusters pinned
 * into the scoring kernels, stemmers and postings dictionaries loaded). Measured on the 100k x 128
 * benchmark, those first ~20 requests set the p99 of a 1,500-request batch (hybrid 2.9-3.9 ms); 30 rounds
 * of warm-up brought it to 1.3-2.1 ms. For a query server fed through stdin that is the latency its
 * first users see; for a short batch it is wasted, so it is opt-in.
 *
 * Each round also asks one filtered query, on the attributes in turn (full-text ones excepted), with a
 * condition built from the sampled document's own value: the first filter on a field loads its column in
 * every segment (a 1M namespace in 10 segments: the first `bucket < 1` took 18.7 ms, the next ones 5-6),
 * and without it that first request was the filtered p99 of a warmed batch.
 *
 * After the rounds, each source computes ahead what they computed for the clusters and rows they met (the
 * IVF's quadratic terms of every cluster, every row's inverse norm: IvfReader.warm); without it the first
 * ~10 requests of a 1M vector batch still took ~1.4x the later ones.
 *
 * The queries only read: results are discarded and nothing about later answers changes (caches fill,
 * which is the point). A namespace without vectors or text gets only the kinds it can answer.
 */
import { ElacsymError } from '../errors.js';
import type { Analyzer } from '../index/fulltext/analyzer.js';
import { parseQueryRequest } from '../model/query.js';
import type { Schema } from '../model/types.js';
import { fullCollection } from '../util/gc.js';
import { executeQuery, type SearchSource, type VectorPeer } from './engine.js';

export interface WarmUpResult {
  /** Queries answered. */
  queries: number;
  ms: number;
}

/** Documents to draw from: spread over the sources with a fixed stride, live ones only. */
function* sampleDocs(sources: readonly SearchSource[], count: number): Generator<[SearchSource, number]> {
  const total = sources.reduce((a, s) => a + s.size, 0);
  if (total === 0 || count <= 0) return;
  // A stride coprime with the total, so the samples do not collapse onto a few documents.
  let stride = 7919 % total || 1;
  while (gcd(stride, total) !== 1) stride++;
  let found = 0;
  // Visit at most a few times `count` ordinals: a namespace of mostly deleted documents ends early.
  for (let i = 0; i < count * 4 && found < count; i++) {
    let at = (i * stride) % total;
    const s = sources.find((src) => {
      if (at < src.size) return true;
      at -= src.size;
      return false;
    })!;
    if (s.dead && s.dead[at] === 1) continue;
    found++;
    yield [s, at];
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The first few words of the first full-text attribute a document has. */
function textOf(attrs: Record<string, unknown>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = Object.hasOwn(attrs, f) ? attrs[f] : undefined;
    const s = typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : null;
    if (s === null) continue;
    const words = s.slice(0, 200).split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2);
    if (words.length > 0) return words.slice(0, 3).join(' ');
  }
  return null;
}

export function warmUp(
  sources: readonly SearchSource[],
  schema: Schema,
  analyzerFor: (field: string) => Analyzer,
  rounds: number,
  peer?: VectorPeer,
): WarmUpResult {
  const t0 = performance.now();
  const textFields = Object.entries(schema.attributes)
    .filter(([, a]) => a.full_text)
    .map(([name]) => name);
  let queries = 0;
  const ask = (json: unknown): void => {
    try {
      executeQuery(sources, schema, parseQueryRequest(json, schema, 'warm-up'), analyzerFor, undefined, peer);
      queries++;
    } catch (e) {
      // A request the data cannot answer (say, text of a field since deleted) is skipped: warming up
      // must never fail the batch. Anything else is a bug and surfaces.
      if (!(e instanceof ElacsymError)) throw e;
    }
  };
  const filterFields = Object.entries(schema.attributes)
    .filter(([, a]) => !a.full_text)
    .map(([name]) => name);
  let round = 0;
  for (const [s, ord] of sampleDocs(sources, rounds)) {
    let vector: number[] | null = null;
    let text: string | null = null;
    let filter: unknown = null;
    try {
      const v = schema.vector_dim > 0 ? s.vectorOf(ord) : null;
      vector = v ? Array.from(v) : null;
      const attrs = textFields.length > 0 || filterFields.length > 0 ? s.attributesOf(ord) : {};
      text = textFields.length > 0 ? textOf(attrs, textFields) : null;
      if (filterFields.length > 0) {
        const field = filterFields[round % filterFields.length]!;
        filter = conditionOn(field, Object.hasOwn(attrs, field) ? attrs[field] : undefined);
      }
    } catch (e) {
      // A damaged segment fails the requests that read it, not the batch.
      if (!(e instanceof ElacsymError)) throw e;
      continue;
    }
    if (vector) ask({ vector, top_k: 10 });
    if (text) ask({ full_text: { query: text }, top_k: 10 });
    if (vector && text) ask({ vector, full_text: { query: text }, top_k: 10 });
    if (filter !== null) {
      if (vector) ask({ vector, filter, top_k: 10 });
      else if (text) ask({ full_text: { query: text }, filter, top_k: 10 });
      else ask({ filter, top_k: 10 });
    }
    round++;
  }
  // What the rounds' queries computed for the clusters and rows they met, for all of them (IvfReader.warm).
  if (round > 0) for (const s of sources) s.warmVectors?.();
  // The rounds' garbage collected now rather than by the first requests: V8 had incremental marking under
  // way at the end of a 1M warm-up and finished it a few requests in (a 6-8 ms request among the first 12).
  if (round > 0) fullCollection();
  return { queries, ms: performance.now() - t0 };
}

/**
 * A condition a document's own value satisfies, of the kind most filters on such a field are: a range for a
 * number, equality for a string or boolean, membership for an array; `exists` when the document lacks it.
 */
function conditionOn(field: string, value: unknown): unknown {
  if (typeof value === 'number') return { field, op: 'lte', value };
  if (typeof value === 'string' || typeof value === 'boolean') return { field, op: 'eq', value };
  if (Array.isArray(value) && typeof value[0] === 'string') return { field, op: 'contains', value: value[0] };
  return { field, op: 'exists', value: true };
}
