/**
 * Request -> ranked hits, over any number of sources (segments and the journal) seen through the small
 * `SearchSource` interface, so this layer never touches files.
 *
 * Plan, per source:
 *   1. filter: evaluate it on the source's columns -> a match mask (exact selectivity, not an estimate);
 *   2. vector: no filter -> IVF ANN; filter matching few documents (<= exactScanMaxDocs: the exact scan's
 *      work against the filtered ANN's estimated work) -> exact scan of just those documents; otherwise
 *      IVF ANN restricted to the mask, probing more clusters as selectivity falls. Filtering happens before
 *      the top-k cut either way.
 *   3. text: BM25 over every source at once with namespace-wide live statistics, restricted to the mask.
 * Then: merge sources (score desc, id asc), fuse retrievers with RRF when both ran, project attributes.
 */
import { ElacsymError } from '../errors.js';
import { compareIds } from '../model/document.js';
import { describeFilter, type Filter, ID_FIELD } from '../model/filter.js';
import { dataRecord } from '../model/schema.js';
import type { QueryRequest } from '../model/query.js';
import type { Attributes, DocId, Schema } from '../model/types.js';
import { columnValue, countMatches, evaluateColumns, type Column } from '../index/filter/evaluate.js';
import type { Analyzer } from '../index/fulltext/analyzer.js';
import { type Bm25SourceHits, type FieldQuery, type LiveStats, searchBm25, searchBm25BySource, type TextSource } from '../index/fulltext/bm25.js';
import type { FieldIndexReader } from '../index/fulltext/postings.js';
import { parseTextQuery } from '../index/fulltext/text-query.js';
import { filteredScanBaseRows } from '../index/vector/ivf.js';
import type { Hits } from '../index/vector/topk.js';
import { rrf } from './fusion.js';
import { KthLargest } from '../util/kth-largest.js';
import { float32ToJson } from '../util/float32.js';

/**
 * The exact scan or the filtered ANN, per source (vectorRetrieve): the exact scan reads and scores each of
 * the m matching vectors (m x dim floats); the filtered IVF ANN scans about filteredScanRows(n, m / n) rows
 * of dim-byte codes (its base probes raised by 1 / sqrt(selectivity), at most all n rows) and re-scores a
 * few candidates. Both grow with dim, so the choice does not depend on the dimension as such, but on what
 * a row of each costs: exact iff m <= ratio x filteredScanRows(n, m / n), i.e. m <= exactScanMaxDocs.
 *
 * Measured (docs/performance.md, "Exact scan or filtered ANN"): with the vectors in memory (--batch,
 * serve, small files) the exact scan of a row costs about as much as 25 rows of the ANN's scan at 128, 384
 * and 768 dimensions alike (ratio 0.04). Read one by one (a single query of a large segment), each vector
 * is a verified block read, ~20-50 us on the VMs we measure on whatever the dimension, against ~0.2 us for
 * an ANN row of 128 dimensions (4-bit codes: dim / 2 bytes): ratio dim / COLD_READ_DIMS, at most 0.04
 * (session 21: a 1% filter over 1M x 128 in 11 segments, 965 matches a segment, took 499 ms scanned
 * exactly and 320 ms by the filtered ANN; 3% of 100k x 768 in 5 segments, 668 matches a segment, 401 and
 * 273 ms; the same answers, 30 and 20 queries). (The rule before priced a read by its bytes, dim / (4 KiB
 * + 4 dim), and preferred the exact scan read per vector over the one in memory at high dimension.)
 * The former rule (<= 4,096 matches or 5% of the source, whatever the dimension or size) scanned exactly
 * up to 3-10x slower than the ANN: 10% of 50k x 768 (3 segments) took 21 ms in memory instead of 7.
 */
export const EXACT_SCAN_WORK_RATIO = 0.04;
/** Up to this many matches a source is always scanned exactly (tiny segments: the ANN's fixed costs dominate). */
export const EXACT_SCAN_MIN_DOCS = 256;

/** The exact-scan-to-ANN row cost ratio of a vector read by range is dim / COLD_READ_DIMS (see above). */
export const COLD_READ_DIMS = 32_768;

/**
 * The exact-scan-to-ANN row cost ratio for a source of dim-dimensional vectors: EXACT_SCAN_WORK_RATIO when
 * they are in memory (`readBytes` 0), else (each vector read by range) dim / COLD_READ_DIMS, at most that.
 */
export function exactScanRatio(dim: number, readBytes = 0): number {
  return readBytes > 0 ? Math.min(EXACT_SCAN_WORK_RATIO, dim / COLD_READ_DIMS) : EXACT_SCAN_WORK_RATIO;
}

/**
 * The most matches of a source of n rows that are scanned exactly: the largest m with
 * m <= ratio x filteredScanRows(n, m / n), i.e. min(ratio x n, cbrt((ratio x base)^2 x n)) where base =
 * filteredScanBaseRows(n), and at least EXACT_SCAN_MIN_DOCS. E.g. ratio 0.04: n = 22,000 -> 838;
 * n = 98,304 -> 1,580; n = 1,000,000 -> 15,874.
 */
export function exactScanMaxDocs(n: number, ratio: number = EXACT_SCAN_WORK_RATIO): number {
  const base = filteredScanBaseRows(n);
  // (x + 1e-9): the cube root of an exact cube lands just below it in floating point
  const m = Math.min(ratio * n, Math.cbrt((ratio * base) ** 2 * n));
  return Math.max(EXACT_SCAN_MIN_DOCS, Math.floor(m + 1e-9));
}
/** Candidates each retriever contributes to fusion: max(MIN_FUSION_CANDIDATES, FUSION_FACTOR * top_k). */
export const MIN_FUSION_CANDIDATES = 100;
export const FUSION_FACTOR = 4;

export interface SearchSource {
  readonly name: string;
  /** Number of ordinals (live or not). */
  readonly size: number;
  readonly liveCount: number;
  /** null when nothing is dead. */
  readonly dead: Uint8Array | null;
  idOf(ord: number): DocId;
  /**
   * A document's attributes; with `only`, at least those of them it has (others may be left out: a
   * segment then reads only the columns asked for, e.g. not a page of stored text for a title).
   */
  attributesOf(ord: number, only?: readonly string[]): Attributes;
  vectorOf(ord: number): Float32Array | null;
  column(field: string): Column;
  /** Ordinals holding these ids (for `id` filters), looked up rather than scanned; optional for test doubles. */
  ordsOfIds?(ids: readonly DocId[]): Iterable<number>;
  /** Has vectors at all (false for sources without any, and then vector search yields nothing). */
  readonly hasVectors: boolean;
  /**
   * Approximate top-k (an IVF search where the source has one; exact elsewhere). `nprobe`: clusters to
   * probe at least instead of the index's adaptive default (ignored by sources searched exactly). `mask`:
   * the filter `allow` tests as one byte per ordinal (1 = allowed), which an IVF scan tests inside its
   * kernel (optional; never a different set from `allow`).
   */
  /**
   * `floor`: the k-th best exact score the query's other sources have returned so far (-Infinity before k
   * were): an ANN search need not re-score candidates that cannot reach it (the query's top k cannot
   * contain them whatever this source returns).
   */
  vectorSearch(q: Float32Array, k: number, allow?: (ord: number) => boolean, selectivity?: number, nprobe?: number, mask?: Uint8Array, floor?: number): Hits;
  vectorExact(q: Float32Array, k: number, ords: Iterable<number>): Hits;
  /**
   * What the last `vectorSearch` of an IVF index did, for --explain: clusters probed and candidates
   * re-scored exactly; null where it scanned exactly (optional: absent = nothing to report).
   */
  lastVectorSearch?(): { probes: number; candidates: number } | null;
  /**
   * Computes ahead what the first queries would otherwise compute as they meet it (warm-up.ts, after its
   * rounds): answers unchanged. Optional: absent = nothing to do.
   */
  warmVectors?(): void;
  /** The segment's vectors have a flat index: `vectorSearch` scans them exactly (no ANN to plan for). */
  readonly flatVectors?: boolean;
  /**
   * Bytes that reading one vector for an exact scan costs when they are read one by one (a segment not
   * held in memory: whole checksummed blocks), or 0 when the vectors are in memory. Optional: absent = 0.
   */
  vectorReadBytes?(): number;
  textIndex(field: string): FieldIndexReader | null;
  /** Live statistics of a field (cached by the source). */
  textStats(field: string): LiveStats;
  /**
   * Filter masks already computed on this source, by filter (see filterMask): only a source whose rows,
   * columns and dead rows never change once made (a segment's) has one.
   */
  readonly maskCache?: Map<string, Uint8Array>;
  /**
   * Called now and then during long work inside one source (phrases checked against stored values): a
   * server's source throws there when the request's time is up. Optional.
   */
  checkpoint?(): void;
}

export interface ResultRow {
  id: DocId;
  score: number;
  attributes?: Attributes;
  vector?: number[] | null;
  explain?: Record<string, unknown>;
}

export interface QueryResponse {
  results: ResultRow[];
  took_ms: number;
  explain?: Record<string, unknown>;
  warnings?: string[];
}

interface Hit {
  src: number;
  ord: number;
  score: number;
  id?: DocId;
}

/** Best k hits by score desc then id asc; exact with ties at the boundary (all tied hits are compared by id). */
export function selectTop(hits: Hit[], k: number, sources: readonly SearchSource[]): Hit[] {
  if (hits.length === 0 || k <= 0) return [];
  let threshold = -Infinity;
  if (hits.length > k) {
    const heap = new KthLargest(k);
    for (const h of hits) heap.push(h.score);
    threshold = heap.value;
  }
  // A NaN score would fail every comparison and silently drop its document: refused (see finiteScore).
  for (const h of hits) finiteScore(h.score, sources[h.src]!.name);
  const keep = hits.filter((h) => h.score >= threshold);
  for (const h of keep) h.id ??= sources[h.src]!.idOf(h.ord);
  keep.sort((a, b) => b.score - a.score || compareIds(a.id!, b.id!));
  return keep.slice(0, k);
}

/**
 * A query's vector candidates as parallel arrays (source index, ordinal, exact score): each source's top
 * `fetch` are appended here, and Hit objects are made only for those that can place in the query's top
 * `fetch` (selectTopBuffered). An object per candidate was the largest share of a --batch process's garbage
 * at 1M x 128 in 10 segments (a hybrid query appends 10 x 100; ~140 KB a round of the bench's six request
 * kinds: docs/performance.md, session 40), and the young generation's collections land in the tail.
 * One buffer per thread is reused (`borrowHits`); queries are synchronous, so it is never shared.
 */
class HitBuffer {
  src = new Int32Array(128);
  ord = new Uint32Array(128);
  score = new Float64Array(128);
  length = 0;
  inUse = false;

  push(src: number, ord: number, score: number): void {
    const n = this.length;
    if (n === this.score.length) this.grow();
    this.src[n] = src;
    this.ord[n] = ord;
    this.score[n] = score;
    this.length = n + 1;
  }

  /** Appends a source's hits (ords and scores in the same order). */
  pushHits(src: number, h: Hits): void {
    const ords = h.ords;
    const scores = h.scores;
    for (let j = 0; j < ords.length; j++) this.push(src, ords[j]!, scores[j]!);
  }

  private grow(): void {
    const cap = 2 * this.score.length;
    const src = new Int32Array(cap);
    const ord = new Uint32Array(cap);
    const score = new Float64Array(cap);
    src.set(this.src);
    ord.set(this.ord);
    score.set(this.score);
    this.src = src;
    this.ord = ord;
    this.score = score;
  }
}

const threadHits = new HitBuffer();

/** The thread's hit buffer, emptied (a fresh one if it is in use: never, as queries are synchronous). */
function borrowHits(): HitBuffer {
  const b = threadHits.inUse ? new HitBuffer() : threadHits;
  b.inUse = true;
  b.length = 0;
  return b;
}

function returnHits(b: HitBuffer): void {
  b.inUse = false;
}

/** selectTop over a buffer: the same hits, in the same order, with objects only for those at or above the k-th score. */
function selectTopBuffered(b: HitBuffer, k: number, sources: readonly SearchSource[]): Hit[] {
  const n = b.length;
  if (n === 0 || k <= 0) return [];
  const score = b.score;
  const src = b.src;
  // A NaN score would fail every comparison and silently drop its document: refused (see finiteScore).
  for (let j = 0; j < n; j++) if (!Number.isFinite(score[j]!)) finiteScore(score[j]!, sources[src[j]!]!.name);
  let threshold = -Infinity;
  if (n > k) {
    const heap = new KthLargest(k);
    for (let j = 0; j < n; j++) heap.push(score[j]!);
    threshold = heap.value;
  }
  const keep: Hit[] = [];
  for (let j = 0; j < n; j++) if (score[j]! >= threshold) keep.push({ src: src[j]!, ord: b.ord[j]!, score: score[j]! });
  return selectTop(keep, k, sources);
}

/**
 * The text hits that can place in the top `fetch`: a size-`fetch` heap over the score arrays gives the
 * threshold, then objects are made only for hits at or above it (ties at the threshold are all kept for
 * selectTop's id tie-break). The loops are small functions of their own so V8 optimizes them within the
 * first queries of a --batch run (see bm25.ts).
 */
function textCandidates(bySource: readonly Bm25SourceHits[], fetch: number): Hit[] {
  let total = 0;
  for (const r of bySource) total += r.ords.length;
  let threshold = -Infinity;
  if (total > fetch) {
    const heap = new KthLargest(fetch);
    for (const r of bySource) pushScores(heap, r.scores, r.ords);
    threshold = heap.value;
  }
  const all: Hit[] = [];
  for (const r of bySource) collectAtLeast(all, r.source, r.scores, r.ords, threshold);
  return all;
}

function pushScores(heap: KthLargest, scores: Float64Array, ords: Uint32Array): void {
  for (let j = 0; j < ords.length; j++) heap.push(scores[ords[j]!]!);
}

function collectAtLeast(out: Hit[], src: number, scores: Float64Array, ords: Uint32Array, threshold: number): void {
  for (let j = 0; j < ords.length; j++) {
    const ord = ords[j]!;
    const score = scores[ord]!;
    if (score >= threshold) out.push({ src, ord, score });
  }
}

/**
 * One source's vector candidates, appended to `out`; returns the source's plan for --explain. Few matches
 * -> exact scan of just those; otherwise IVF ANN, restricted to the mask when there is a filter.
 */
function vectorRetrieve(
  s: SearchSource,
  i: number,
  q: Float32Array,
  fetch: number,
  m: Uint8Array | null,
  matches: number,
  dim: number,
  out: HitBuffer,
  accuracy: { exact: boolean; nprobe: number | null; explain?: boolean } = { exact: false, nprobe: null },
  floor = -Infinity,
): Record<string, unknown> | null {
  // The plan is built only to be printed (--explain): a record per source and query otherwise.
  const seg: Record<string, unknown> | null = accuracy.explain === true ? { source: s.name, docs: s.size, live: s.liveCount, matches } : null;
  if (!s.hasVectors || dim === 0 || matches === 0) {
    if (seg) seg.vector = 'none';
    return seg;
  }
  let h: Hits;
  let exactMax = 0;
  const nprobe = accuracy.nprobe ?? undefined;
  if (accuracy.exact) {
    // "exact": every matching live document's vector scored, whatever the plan would have chosen.
    h = s.vectorExact(q, fetch, m !== null ? maskOrds(m, matches) : liveOrds(s));
    if (seg) Object.assign(seg, { vector: 'exact-scan', exact: 'requested' });
    out.pushHits(i, h);
    return seg;
  }
  if (m !== null) {
    const ratio = exactScanRatio(dim, s.vectorReadBytes?.() ?? 0);
    exactMax = exactScanMaxDocs(s.size, ratio);
    if (seg) seg.exact_scan = { ratio: round(ratio), max_docs: exactMax };
  }
  if (m !== null && (matches <= exactMax || s.flatVectors === true)) {
    h = s.vectorExact(q, fetch, maskOrds(m, matches));
    if (seg) seg.vector = 'exact-scan';
  } else if (m !== null) {
    const sel = s.size > 0 ? matches / s.size : 1;
    h = s.vectorSearch(q, fetch, (ord) => m[ord] === 1, sel, nprobe, m, floor);
    if (seg) {
      seg.vector = 'filtered-ann';
      seg.selectivity = round(sel);
      if (nprobe !== undefined) seg.nprobe = nprobe;
      probeStats(s, seg);
    }
  } else {
    const dead = s.dead;
    h = s.vectorSearch(q, fetch, dead ? (ord) => dead[ord] === 0 : undefined, undefined, nprobe, undefined, floor);
    if (seg) {
      seg.vector = s.flatVectors === true ? 'exact-scan' : 'ann';
      if (nprobe !== undefined && s.flatVectors !== true) seg.nprobe = nprobe;
      if (s.flatVectors !== true) probeStats(s, seg);
    }
  }
  out.pushHits(i, h);
  return seg;
}

/**
 * --explain: the clusters an IVF search probed and the candidates it re-scored (`probes`, `candidates`).
 * Only when explaining (the plan record itself is built only then).
 */
function probeStats(s: SearchSource, seg: Record<string, unknown>): void {
  const st = s.lastVectorSearch?.() ?? null;
  if (st === null) return;
  seg.probes = st.probes;
  seg.candidates = st.candidates;
}

/** Every live ordinal of a source, ascending (an exact scan without a filter). */
function liveOrds(s: SearchSource): Uint32Array {
  const dead = s.dead;
  const out = new Uint32Array(s.size);
  let n = 0;
  for (let o = 0; o < s.size; o++) if (!dead || dead[o] === 0) out[n++] = o;
  return out.subarray(0, n);
}

/** m[i] = 0 wherever dead[i] = 1. */
function clearDead(m: Uint8Array, dead: Uint8Array): void {
  for (let i = 0; i < m.length; i++) if (dead[i] === 1) m[i] = 0;
}

/** The ordinals set in a mask, ascending (`count` = how many are set); kept with a cached mask (see filterMask). */
function maskOrds(m: Uint8Array, count: number): Uint32Array {
  const kept = cachedMasks.get(m);
  if (kept?.ords) return kept.ords;
  const ords = new Uint32Array(count);
  let n = 0;
  for (let o = 0; o < m.length; o++) if (m[o] === 1) ords[n++] = o;
  if (kept) kept.ords = ords;
  return ords;
}

/**
 * The rows of `s` that are live and match `filter`: 1 per matching ordinal. The one place a filter meets a
 * source (queries, `count`, `delete --filter`, listings), so they all agree. Field "id" is the document
 * id: looked up when the source can, else compared row by row.
 */
export function filterMask(s: SearchSource, filter: Filter): Uint8Array {
  // A segment's mask for a filter never changes: --batch and serve answer a repeated filter (a tenant, a
  // category) without evaluating it again over every row (~1.5 ms per 100k rows here), as Lucene's query
  // cache does. At most MASK_CACHE_MAX filters per source, the oldest out first. The mask is shared:
  // callers only read it.
  const cache = s.maskCache;
  const key = cache ? filterKey(filter) : '';
  const hit = cache?.get(key);
  if (hit !== undefined) return hit;
  const lookup = s.ordsOfIds ? (ids: readonly DocId[]) => s.ordsOfIds!(ids) : undefined;
  const m = evaluateColumns(filter, (f) => (f === ID_FIELD ? Array.from({ length: s.size }, (_, o) => s.idOf(o)) : s.column(f)), s.size, undefined, lookup);
  if (s.dead) clearDead(m, s.dead);
  if (cache) {
    if (cache.size >= MASK_CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, m);
    cachedMasks.set(m, { count: countMatches(m) });
  }
  return m;
}

/** Filters whose masks a source keeps (a mask is one byte per row: 1.6 MB for 16 filters at 100k rows). */
const MASK_CACHE_MAX = 16;
/** What is kept with a cached mask: its match count, and its ordinals once an exact scan listed them. */
const cachedMasks = new WeakMap<Uint8Array, { count: number; ords?: Uint32Array }>();
function matchCount(m: Uint8Array): number {
  return cachedMasks.get(m)?.count ?? countMatches(m);
}
/** A filter's cache key, made once per filter object (a query asks it of every segment; ids lists can be long). */
const filterKeys = new WeakMap<Filter, string>();
function filterKey(filter: Filter): string {
  let k = filterKeys.get(filter);
  if (k === undefined) filterKeys.set(filter, (k = JSON.stringify(filter)));
  return k;
}

/**
 * Milliseconds from a monotonic clock. Not `performance.now()`: its first use loads perf_hooks and eight
 * internal modules (~1.7 ms of a cold query, measured with `node -e` on this machine).
 */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * The vector retrieval of some of a query's sources, run by another thread (store/vector-peer.ts) while
 * this one runs the others': a `--batch` over a namespace of several large segments uses both cores for
 * each query. Only vector queries without text are handed over (text needs namespace-wide statistics).
 * The peer's hits are what `retrieveVectors` gives on the same sources, with exact scores, and the merge
 * (selectTop) orders by score, then id. A peer's segments know fewer other segments' k-th scores (their
 * vectorSearch floor), so each re-scores a superset of its one-thread candidates: the answer is one
 * thread's, or one holding a true neighbour that one thread's candidates missed.
 */
export interface VectorPeer {
  /** Indexes into the query's sources that the peer searches: this thread evaluates neither their filter nor their vectors. */
  readonly delegated: ReadonlySet<number>;
  /** Hands the task over (returns at once). */
  start(task: VectorTask): void;
  /**
   * Blocks until the peer answers the task last started: its hits, or null when the peer is gone (it
   * failed to open its segments, or died): the caller then searches the delegated sources itself, and
   * `delegated` is empty from then on. A query error (damaged data) is thrown as this thread would.
   */
  finish(): VectorTaskResult | null;
}

/** What a peer searches: the parts of a QueryRequest that vector retrieval reads. */
export interface VectorTask {
  vector: Float32Array;
  fetch: number;
  filter: Filter | null;
  exact: boolean;
  nprobe: number | null;
  explain: boolean;
}

/** A peer's answer: hits as parallel arrays (source index, ordinal, exact score), per-source plans and match counts. */
export interface VectorTaskResult {
  src: number[];
  ords: number[];
  scores: number[];
  /** Match counts of the searched sources, in the order of `indexes`. */
  counts: number[];
  /** --explain plans of the searched sources, in the same order (empty without explain). */
  segs: Record<string, unknown>[];
}

/**
 * Vector retrieval over `sources[i]` for each i of `indexes` (in that order), as a peer thread runs it:
 * retrieveInto, its hits as parallel arrays (structured clone copies them cheaper than objects).
 */
export function retrieveVectors(sources: readonly SearchSource[], indexes: readonly number[], task: VectorTask, dim: number): VectorTaskResult {
  const out = borrowHits();
  try {
    const { counts, segs } = retrieveInto(sources, indexes, task, dim, out);
    const n = out.length;
    return { src: Array.from(out.src.subarray(0, n)), ords: Array.from(out.ord.subarray(0, n)), scores: Array.from(out.score.subarray(0, n)), counts, segs };
  } finally {
    returnHits(out);
  }
}

/**
 * Vector retrieval over `sources[i]` for each i of `indexes` (in that order), hits appended to `out`: each
 * source's filter mask (from `masks` when the caller has them), then its candidates (vectorRetrieve), the
 * best exact scores found so far passed on as the next source's floor. The one loop of executeQuery and of
 * a VectorPeer's thread. Returns the sources' match counts and (with task.explain) plans, in that order.
 */
function retrieveInto(
  sources: readonly SearchSource[],
  indexes: readonly number[],
  task: VectorTask,
  dim: number,
  out: HitBuffer,
  masks?: readonly (Uint8Array | null)[],
): { counts: number[]; segs: Record<string, unknown>[] } {
  const counts: number[] = [];
  const segs: Record<string, unknown>[] = [];
  // The fetch-th best exact score of the sources searched so far: later ones need not re-score
  // candidates below it (vectorSearch's floor). Every hit is a live matching document with its exact
  // score, so the final fetch-th can only be higher.
  const kth = new KthLargest(task.fetch);
  for (const i of indexes) {
    const s = sources[i]!;
    const m = masks ? masks[i]! : task.filter ? filterMask(s, task.filter) : null;
    const matches = m ? matchCount(m) : s.liveCount;
    counts.push(matches);
    const before = out.length;
    const seg = vectorRetrieve(s, i, task.vector, task.fetch, m, matches, dim, out, task, kth.value);
    for (let j = before; j < out.length; j++) kth.push(out.score[j]!);
    if (seg) segs.push(seg);
  }
  return { counts, segs };
}

export function executeQuery(
  sources: readonly SearchSource[],
  schema: Schema,
  req: QueryRequest,
  analyzerFor: (field: string) => Analyzer,
  now: () => number = monotonicMs,
  vectorPeer?: VectorPeer,
): QueryResponse {
  const t0 = now();
  const k = req.top_k;
  const hybrid = req.vector !== null && req.text !== null;
  const fetch = hybrid ? Math.max(MIN_FUSION_CANDIDATES, FUSION_FACTOR * k) : k;
  const explainSegs: Record<string, unknown>[] = [];
  // A vector query without text: the peer (if any) takes its sources' filter and vector search.
  const peer = vectorPeer !== undefined && req.vector !== null && req.text === null && vectorPeer.delegated.size > 0 ? vectorPeer : null;
  const task: VectorTask | null = req.vector ? { vector: req.vector, fetch, filter: (req.filter as Filter | null) ?? null, exact: req.exact, nprobe: req.nprobe, explain: req.explain } : null;
  if (peer) peer.start(task!);
  const mine = peer ? sources.map((_, i) => i).filter((i) => !peer.delegated.has(i)) : sources.map((_, i) => i);

  // 1. Filter masks (live AND filter). null mask = every live document matches. (A vector query without
  // text evaluates them source by source in retrieveVectors, below.)
  const masks: (Uint8Array | null)[] = sources.map((s) => (req.filter && !(req.vector && !req.text) ? filterMask(s, req.filter as Filter) : null));
  const matchCounts = sources.map((s, i) => (masks[i] ? matchCount(masks[i]!) : s.liveCount));

  // 2. Vector retriever.
  let vectorHits: Hit[] | null = null;
  if (req.vector) {
    const buffered = borrowHits();
    const bySource: Record<string, unknown>[] = [];
    const note = (r: { counts: number[]; segs: Record<string, unknown>[] }, indexes: readonly number[]) =>
      indexes.forEach((i, j) => {
        matchCounts[i] = r.counts[j]!;
        if (req.explain) bySource[i] = r.segs[j]!;
      });
    // Hybrid: the masks above serve the text retriever too.
    try {
      note(retrieveInto(sources, mine, task!, schema.vector_dim, buffered, req.text ? masks : undefined), mine);
      if (peer) {
        const theirs = [...peer.delegated].sort((a, b) => a - b);
        // null: the peer is gone; its sources are searched here (the same answer, one core).
        const r = peer.finish();
        if (r === null) note(retrieveInto(sources, theirs, task!, schema.vector_dim, buffered), theirs);
        else {
          for (let j = 0; j < r.src.length; j++) buffered.push(r.src[j]!, r.ords[j]!, r.scores[j]!);
          note(r, theirs);
        }
      }
      vectorHits = selectTopBuffered(buffered, fetch, sources);
    } finally {
      returnHits(buffered);
    }
    for (let i = 0; i < sources.length; i++) if (bySource[i]) explainSegs.push(bySource[i]!);
  }

  // 3. Text retriever. Collection statistics cover live documents only (`isLive`), never the filter:
  // a filter restricts which documents are returned (`accept`), not how terms are weighted.
  let textHits: Hit[] | null = null;
  let perField: Map<DocId, Record<string, number>> | null = null;
  if (req.text) {
    const names = req.text.fields.length > 0 ? req.text.fields : Object.entries(schema.attributes).filter(([, a]) => a.full_text).map(([name]) => ({ name, weight: 1 }));
    const clauses = parseTextQuery(req.text.query);
    const fields: FieldQuery[] = names.map(({ name, weight }) => ({
      field: name,
      weight,
      analyzer: analyzerFor(name),
      sources: sources.map((s, i): TextSource => {
        const reader = s.textIndex(name);
        if (!reader) return { reader: EMPTY_READER, stats: { docCount: 0, sumDocLen: 0 } };
        const dead = s.dead;
        const mask = masks[i];
        let col: Column | null = null;
        let calls = 0;
        return {
          reader,
          isLive: dead ? (o) => dead[o] === 0 : undefined,
          accept: mask ? (o) => mask[o] === 1 : undefined,
          stats: s.textStats(name),
          // Phrases on an index without positions are checked against the stored values (a request time
          // limit is checked every 64 of them: each may be a page of text to analyze).
          storedValue: reader.hasPositions
            ? undefined
            : (o) => {
                if ((++calls & 63) === 0) s.checkpoint?.();
                return columnValue((col ??= s.column(name)), o);
              },
        };
      }),
    }));
    const bySource = searchBm25BySource(fields, clauses);
    const all = textCandidates(bySource, fetch);
    textHits = selectTop(all, fetch, sources);
    if (req.explain && textHits.length > 0) {
      // Per-field contributions only for the returned hits (the explain path may be slower).
      perField = new Map();
      const wanted = new Set(textHits.map((h) => `${h.src}:${h.ord}`));
      for (const h of searchBm25(fields, clauses, { perField: true })) {
        if (wanted.has(`${h.source}:${h.ord}`) && h.perField) perField.set(sources[h.source]!.idOf(h.ord), h.perField);
      }
    }
  }

  // 4. Fusion, or the single retriever's own order, or an id-ordered listing.
  let rows: { hit: Hit; score: number; explain?: Record<string, unknown> }[];
  const fusion = { method: 'rrf', k: req.rrf_k, weights: { vector: req.vector_weight, text: req.text?.weight ?? 1 } };
  if (vectorHits && textHits) {
    const fused = rrf(
      [
        { name: 'vector', weight: req.vector_weight, ids: vectorHits.map((h) => h.id!) },
        { name: 'text', weight: req.text!.weight, ids: textHits.map((h) => h.id!) },
      ],
      req.rrf_k,
      req.explain,
    ).slice(0, k);
    // Each fused id's hits: only the top k's (an entry for each of the ~200 candidates was garbage).
    const byId = new Map<DocId, { v?: Hit; t?: Hit }>();
    for (const f of fused) byId.set(f.id, {});
    for (const h of vectorHits) {
      const e = byId.get(h.id!);
      if (e) e.v = h;
    }
    for (const h of textHits) {
      const e = byId.get(h.id!);
      if (e) e.t = h;
    }
    rows = fused.map((f) => {
      const e = byId.get(f.id)!;
      const hit = (e.v ?? e.t)!;
      if (!req.explain) return { hit, score: f.score };
      const explain: Record<string, unknown> = {};
      if (e.v) explain.vector = { rank: f.terms.vector!.rank, score: round(e.v.score) };
      if (e.t) explain.text = { rank: f.terms.text!.rank, score: round(e.t.score), ...(perField?.get(f.id) ? { fields: perField.get(f.id) } : {}) };
      explain.fusion = Object.fromEntries(Object.entries(f.terms).map(([n, t]) => [n, t.term]));
      return { hit, score: f.score, explain };
    });
  } else if (vectorHits || textHits) {
    const name = vectorHits ? 'vector' : 'text';
    rows = (vectorHits ?? textHits)!.slice(0, k).map((hit, i) => ({
      hit,
      score: hit.score,
      explain: req.explain
        ? { [name]: { rank: i + 1, score: round(hit.score), ...(name === 'text' && perField?.get(hit.id!) ? { fields: perField.get(hit.id!) } : {}) } }
        : undefined,
    }));
  } else {
    const all: Hit[] = [];
    sources.forEach((s, i) => {
      const m = masks[i];
      for (let o = 0; o < s.size; o++) {
        if (m ? m[o] === 1 : !s.dead || s.dead[o] === 0) all.push({ src: i, ord: o, score: 0 });
      }
    });
    for (const h of all) h.id = sources[h.src]!.idOf(h.ord);
    all.sort((a, b) => compareIds(a.id!, b.id!));
    rows = all.slice(0, k).map((hit) => ({ hit, score: 0 }));
  }

  // 5. Project.
  const results: ResultRow[] = rows.map(({ hit, score, explain }) => {
    const s = sources[hit.src]!;
    const row: ResultRow = { id: hit.id ?? s.idOf(hit.ord), score: finiteScore(round(score), s.name) };
    if (req.include_attributes === null || req.include_attributes.length > 0) {
      const attrs = s.attributesOf(hit.ord, req.include_attributes ?? undefined);
      if (req.include_attributes === null) row.attributes = attrs;
      else {
        // Names are data: own properties only, into a null-prototype object ("__proto__" stays a key).
        const pick: Attributes = dataRecord();
        for (const a of req.include_attributes) if (Object.hasOwn(attrs, a)) pick[a] = attrs[a]!;
        row.attributes = pick;
      }
    }
    if (req.include_vector) {
      const v = s.vectorOf(hit.ord);
      row.vector = v ? float32ToJson(v) : null; // printed as the shortest decimals of the float32 values
    }
    if (explain) row.explain = explain;
    return row;
  });

  const resp: QueryResponse = { results, took_ms: 0 };
  if (req.explain) {
    const totalLive = sources.reduce((a, s) => a + s.liveCount, 0);
    const totalMatches = matchCounts.reduce((a, b) => a + b, 0);
    resp.explain = {
      retrievers: [...(req.vector ? ['vector'] : []), ...(req.text ? ['text'] : [])],
      top_k: k,
      candidates_per_retriever: fetch,
      ...(hybrid ? { fusion } : {}),
      ...(req.text ? { text: { query: req.text.query, clauses: parseTextQuery(req.text.query), fields: req.text.fields.length ? req.text.fields : 'all full-text fields', bm25: { k1: 1.2, b: 0.75 } } } : {}),
      ...(req.filter ? { filter: { expr: describeFilter(req.filter as Filter), matches: totalMatches, selectivity: round(totalLive ? totalMatches / totalLive : 0) } } : {}),
      exact_scan: { min_docs: EXACT_SCAN_MIN_DOCS, ratio_in_memory: EXACT_SCAN_WORK_RATIO },
      sources: explainSegs.length ? explainSegs : sources.map((s, i) => ({ source: s.name, docs: s.size, live: s.liveCount, matches: matchCounts[i] })),
    };
  }
  resp.took_ms = round(now() - t0);
  return resp;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * The last guard of issue 9 §5: a response never holds a non-finite score (JSON would print null, and
 * Infinity ties every overflowing document). Imports and queries bound vector components and weights
 * (MAX_VECTOR_COMPONENT, MAX_WEIGHT) so that no score can overflow; a non-finite score here means a stored
 * vector beyond those bounds (written before they existed) or a bug, and the query fails loudly instead of
 * printing a wrong ranking.
 */
function finiteScore(x: number, source: string): number {
  if (Number.isFinite(x)) return x;
  throw new ElacsymError('INTERNAL', `a score computed from ${source} is not finite (${x})`, {
    hint: 'a stored vector has components beyond ±1e15 (written by an older elacsym?): re-import those documents; otherwise rerun with --debug and report this bug',
  });
}

const EMPTY_READER = {
  docCount: 0,
  sumDocLen: 0,
  numDocs: 0,
  docLens: new Uint32Array(0),
  docLen: () => 0,
  postings: () => null,
  terms: () => [][Symbol.iterator](),
  numTerms: 0,
  lowerBound: () => 0,
} as unknown as FieldIndexReader;
