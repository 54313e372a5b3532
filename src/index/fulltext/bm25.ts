/**
 * BM25 over many sources (segments + the in-memory journal index) with namespace-wide statistics.
 *
 * Statistics are computed over LIVE documents only, summed over all sources of a field:
 *   N      = live documents with at least one token in the field,
 *   avgdl  = live total token count / N,
 *   df(t)  = live documents containing t.
 * Dead (deleted/superseded) documents are excluded from matching and from the statistics, so a document's
 * score does not depend on how the data is split into segments nor on garbage awaiting compaction.
 * A query filter (`TextSource.accept`) only restricts which documents are returned: statistics, hence
 * scores, are the same with or without it.
 *
 * Scoring (Lucene's BM25Similarity without its length-norm quantization):
 *   idf(t)            = ln(1 + (N - df + 0.5) / (df + 0.5))
 *   score(tf, dl)     = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))      k1 = 1.2, b = 0.75
 *   phrase clause     : tf = number of occurrences of the phrase in the document, idf = sum of the idf of its
 *                       member terms (Lucene's PhraseWeight convention)
 *   document score    = sum over fields of weight * sum over clauses of the clause score (clauses are OR-ed).
 * Each clause is analyzed with the field's analyzer: a term clause yielding no token (a stopword) is ignored,
 * one yielding several tokens counts as several term clauses; a phrase yielding one token is a term clause.
 * Phrase matching uses analyzer positions, so stopword gaps in the query phrase must be matched exactly:
 * "bank of america" (bank@0, america@2) matches a document where america is 2 positions after bank.
 * A source whose index has no positions (the full-text option `positions`) matches a phrase on the
 * documents holding every member term (from the postings), whose stored value (`TextSource.storedValue`)
 * is analyzed again with the field's analyzer: the same tokens and positions the index would have held, so
 * the same tf and score (tested against indexes with positions).
 * A prefix (`vect*`) or fuzzy (`vectr~1`) clause stands for the indexed terms it expands to (see
 * expandPattern and MAX_EXPANSIONS), each scored as a term clause of its own.
 */
import { ElacsymError } from '../../errors.js';
import type { AttrValue } from '../../model/types.js';
import type { Analyzer } from './analyzer.js';
import type { FieldIndexReader, Postings } from './postings.js';
import type { TextClause } from './text-query.js';

/** Collection statistics of the live documents of one source for one field. */
export interface LiveStats {
  /** Live documents with at least one token in the field. */
  docCount: number;
  /** Total token count of those documents. */
  sumDocLen: number;
}

export interface TextSource {
  reader: FieldIndexReader;
  /**
   * false for deleted/superseded ordinals: they are excluded from matching AND from the statistics.
   * Omit it (or pass null) when the source has no dead document: no per-posting call is made then.
   * Do NOT pass a query filter here (it would change df and so the scores): use `accept`.
   */
  isLive?: ((ord: number) => boolean) | null;
  /**
   * Optional query filter: only ordinals for which it returns true (and that are live) are returned.
   * It does not change the statistics: a document's score is the same with or without a filter.
   */
  accept?: ((ord: number) => boolean) | null;
  /**
   * Live statistics of this source, normally `liveStats(src, deadOrds)` cached by the caller per
   * (segment, field, set of dead ordinals); they must agree with isLive. When omitted, they are recomputed
   * on every search by calling isLive on every ordinal (O(numDocs)).
   */
  stats?: LiveStats;
  /**
   * The stored value of the field for an ordinal: needed (and only called) for phrase clauses when the
   * reader has no positions (`reader.hasPositions` false); a phrase then matches nothing without it.
   */
  storedValue?: ((ord: number) => AttrValue | undefined) | null;
}

export interface FieldQuery {
  field: string;
  /**
   * Multiplies the field's contribution. Must be finite; a field with weight <= MIN_FIELD_WEIGHT is ignored
   * (so that no contribution can underflow to 0).
   */
  weight: number;
  analyzer: Analyzer;
  /** sources[i] is source i; every field has the same number of sources, aligned (same segment). */
  sources: TextSource[];
}

export interface Bm25Options {
  k1?: number;
  b?: number;
  /** Also return each hit's weighted contribution per field (slower; for `--explain`-style output). */
  perField?: boolean;
}

export interface Bm25Hit {
  source: number;
  ord: number;
  score: number;
  /** Only with opts.perField: field -> weight * that field's BM25 score (they sum to `score`). */
  perField?: Record<string, number>;
}

export const DEFAULT_K1 = 1.2;
export const MIN_FIELD_WEIGHT = 1e-200;
export const DEFAULT_B = 0.75;

/** Lucene's BM25 idf. */
export function bm25Idf(N: number, df: number): number {
  return Math.log(1 + (N - df + 0.5) / (df + 0.5));
}

/** The textbook per-term BM25 score (Lucene idf). */
export function bm25TermScore(
  tf: number,
  dl: number,
  avgdl: number,
  N: number,
  df: number,
  k1: number = DEFAULT_K1,
  b: number = DEFAULT_B,
): number {
  return (bm25Idf(N, df) * (tf * (k1 + 1))) / (tf + k1 * (1 - b + (b * dl) / avgdl));
}

/**
 * Live statistics of a source given the ordinals that are dead (duplicates and out-of-range ordinals are
 * ignored). Cost O(|deadOrds|): cache the result per source and pass it as `TextSource.stats`.
 */
export function liveStats(src: { reader: FieldIndexReader }, deadOrds: Iterable<number>): LiveStats {
  const r = src.reader;
  let docCount = r.docCount;
  let sumDocLen = r.sumDocLen;
  const seen = new Set<number>();
  for (const ord of deadOrds) {
    if (seen.has(ord)) continue;
    seen.add(ord);
    const l = r.docLen(ord);
    if (l > 0) {
      docCount--;
      sumDocLen -= l;
    }
  }
  return { docCount, sumDocLen };
}

/** Live statistics by scanning every ordinal with isLive (O(numDocs); O(1) without isLive). */
export function liveStatsByScan(src: Pick<TextSource, 'reader' | 'isLive'>): LiveStats {
  const isLive = src.isLive;
  if (isLive === undefined || isLive === null) return { docCount: src.reader.docCount, sumDocLen: src.reader.sumDocLen };
  const lens = src.reader.docLens;
  let docCount = 0;
  let sumDocLen = 0;
  for (let ord = 0; ord < lens.length; ord++) {
    const l = lens[ord]!;
    if (l > 0 && isLive(ord)) {
      docCount++;
      sumDocLen += l;
    }
  }
  return { docCount, sumDocLen };
}

interface PhraseSpec {
  terms: string[];
  /** offsets[j] = position of terms[j] relative to terms[0] in the analyzed query phrase. */
  offsets: number[];
}

/** A prefix or fuzzy term, expanded against the dictionaries of a field's sources (see expandPattern). */
interface PatternSpec {
  kind: 'prefix' | 'fuzzy';
  /** The prefix (normalized, not stemmed), or the analyzed term a fuzzy term is compared with. */
  term: string;
  distance: number;
}

/**
 * Bounds of prefix and fuzzy expansion, per clause and field. At most MAX_EXPANSIONS indexed terms are
 * kept (prefix: the first ones in dictionary order; fuzzy: the closest, ties in dictionary order), among
 * at most MAX_SCANNED distinct dictionary terms examined. Both orders and the liveness test depend on
 * namespace-wide data only, so the expansion (hence the scores) is the same however the data is split.
 */
export const MAX_EXPANSIONS = 64;
export const MAX_SCANNED = 50_000;

/** Analyzes the clauses for one field: term -> multiplicity, the multi-token phrases, the patterns. */
function analyzeClauses(
  analyzer: Analyzer,
  query: readonly TextClause[],
): { terms: Map<string, number>; phrases: PhraseSpec[]; patterns: PatternSpec[] } {
  const terms = new Map<string, number>();
  const phrases: PhraseSpec[] = [];
  const patterns: PatternSpec[] = [];
  for (const c of query) {
    if (c.kind === 'prefix') {
      // Compared with the dictionary unstemmed: "vect*" must not become "vect" -> stem. Earlier words of a
      // prefix that tokenizes into several ("e-ma*") are ordinary terms.
      const words = analyzer.normalizeWords(c.text);
      const last = words.pop();
      for (const w of words) for (const t of analyzer.analyze(w)) terms.set(t.term, (terms.get(t.term) ?? 0) + 1);
      if (last !== undefined) patterns.push({ kind: 'prefix', term: last, distance: 0 });
      continue;
    }
    const toks = analyzer.analyze(c.text);
    if (c.kind === 'fuzzy') {
      // The analyzed (stemmed) term is what the dictionary holds, so "runnin~1" compares "runnin"'s stem.
      for (const t of toks) patterns.push({ kind: 'fuzzy', term: t.term, distance: c.distance ?? 2 });
      continue;
    }
    if (c.kind === 'phrase' && toks.length > 1) {
      const p0 = toks[0]!.pos;
      phrases.push({ terms: toks.map((t) => t.term), offsets: toks.map((t) => t.pos - p0) });
    } else {
      for (const t of toks) terms.set(t.term, (terms.get(t.term) ?? 0) + 1);
    }
  }
  return { terms, phrases, patterns };
}

/** Code point order (= UTF-8 byte order, the dictionaries' order). */
function compareTerms(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions, as Lucene's fuzzy query)
 * between code point arrays, or max + 1 as soon as it must exceed `max`.
 */
export function editDistance(a: readonly number[], b: readonly number[], max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const m = b.length;
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m]!;
}

/**
 * The distinct dictionary terms of all sources that start with `prefix`, in dictionary order, merged
 * lazily (k-way over each source's sorted range); `visit` returns false to stop.
 */
function forEachTermWithPrefix(sources: readonly TextSource[], prefix: string, visit: (term: string) => boolean): void {
  const key = new TextEncoder().encode(prefix);
  const cursors = sources.map((s) => ({ r: s.reader, i: s.reader.numTerms > 0 ? s.reader.lowerBound(prefix) : 0, term: null as string | null }));
  const advance = (c: (typeof cursors)[number]): void => {
    c.term = c.i < c.r.numTerms && c.r.termStartsWith(c.i, key) ? c.r.termAt(c.i) : null;
    c.i++;
  };
  for (const c of cursors) advance(c);
  for (;;) {
    let min: string | null = null;
    for (const c of cursors) if (c.term !== null && (min === null || compareTerms(c.term, min) < 0)) min = c.term;
    if (min === null) return;
    for (const c of cursors) if (c.term === min) advance(c);
    if (!visit(min)) return;
  }
}

/** The indexed terms a prefix or fuzzy pattern stands for (live ones only; bounded, see MAX_EXPANSIONS). */
function expandPattern(sources: readonly TextSource[], p: PatternSpec, isLiveTerm: (term: string) => boolean): string[] {
  const out: string[] = [];
  let scanned = 0;
  if (p.kind === 'prefix') {
    forEachTermWithPrefix(sources, p.term, (t) => {
      if (isLiveTerm(t)) out.push(t);
      return out.length < MAX_EXPANSIONS && ++scanned < MAX_SCANNED;
    });
    return out;
  }
  // Fuzzy: candidates share the first character (Elasticsearch's prefix_length 1), which keeps the scan
  // to one range of the sorted dictionary instead of all of it.
  const target = [...p.term].map((c) => c.codePointAt(0)!);
  if (target.length === 0) return out;
  const first = String.fromCodePoint(target[0]!);
  const found: Array<{ t: string; d: number }> = [];
  forEachTermWithPrefix(sources, first, (t) => {
    const d = editDistance([...t].map((c) => c.codePointAt(0)!), target, p.distance);
    if (d <= p.distance) found.push({ t, d });
    return ++scanned < MAX_SCANNED;
  });
  found.sort((x, y) => x.d - y.d || compareTerms(x.t, y.t));
  for (const { t } of found) {
    if (out.length >= MAX_EXPANSIONS) break;
    if (isLiveTerm(t)) out.push(t);
  }
  return out;
}

/** The matchable (live and accepted) postings of one term in one source. */
interface LivePostings {
  p: Postings;
  /** Indices into `p` of the matchable entries, or null when every entry is. */
  live: Uint32Array | null;
  /** Number of matchable entries. */
  n: number;
}

interface TermInfo {
  idf: number;
  /** Live documents containing the term. */
  df: number;
  /** Per source; null when the term has no matchable posting there. */
  perSource: Array<LivePostings | null>;
}

/** Smallest index i >= from with arr[i] >= target (arr ascending), or arr.length. */
function lowerBound(arr: Uint32Array, from: number, target: number): number {
  let lo = from;
  let hi = arr.length;
  // Gallop first: the next match is usually close.
  let step = 1;
  while (lo + step < hi && arr[lo + step]! < target) {
    lo += step;
    step *= 2;
  }
  hi = Math.min(hi, lo + step + 1);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function contains(arr: Uint32Array, from: number, to: number, x: number): boolean {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = arr[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/**
 * Number of start positions where every phrase member occurs at its offset. Member j's positions in the
 * document are flats[j][from[j], to[j]).
 */
function countPhrase(flats: Uint32Array[], from: Int32Array, to: Int32Array, offsets: readonly number[]): number {
  const first = flats[0]!;
  const m = flats.length;
  let n = 0;
  outer: for (let k = from[0]!; k < to[0]!; k++) {
    const base = first[k]!;
    for (let j = 1; j < m; j++) {
      if (!contains(flats[j]!, from[j]!, to[j]!, base + offsets[j]!)) continue outer;
    }
    n++;
  }
  return n;
}

const NO_POSITIONS = new Uint32Array(0);

/**
 * Positions of `terms` in one stored value, analyzed as the index builder analyzes it: term -> ascending
 * positions (terms that do not occur are absent).
 */
function termPositions(analyzer: Analyzer, value: AttrValue | undefined, terms: ReadonlySet<string>): Map<string, Uint32Array> {
  const toks = typeof value === 'string' || Array.isArray(value) ? analyzer.analyzeValue(value) : [];
  const lists = new Map<string, number[]>();
  for (const t of toks) {
    if (!terms.has(t.term)) continue;
    const l = lists.get(t.term);
    if (l === undefined) lists.set(t.term, [t.pos]);
    else l.push(t.pos);
  }
  const out = new Map<string, Uint32Array>();
  for (const [t, l] of lists) out.set(t, Uint32Array.from(l.sort((a, b) => a - b)));
  return out;
}

/** Score accumulator of one source: a dense array (sources hold up to ~100k ordinals) + touched list. */
class Accumulator {
  readonly scores: Float64Array;
  touched: Uint32Array;
  count = 0;
  constructor(size: number) {
    this.scores = new Float64Array(size);
    this.touched = new Uint32Array(Math.min(size, 1024));
  }
  /** Records the first contribution to `ord` (call when its score is still 0). */
  touch(ord: number): void {
    if (this.count === this.touched.length) {
      const next = new Uint32Array(Math.max(1, Math.min(this.scores.length, this.touched.length * 2)));
      next.set(this.touched);
      this.touched = next;
    }
    this.touched[this.count++] = ord;
  }
  /** Records distinct ordinals, none touched before (used on an empty accumulator). */
  touchAll(ords: Uint32Array): void {
    this.reserve(ords.length);
    this.touched.set(ords, this.count);
    this.count += ords.length;
  }
  /** Room for `extra` more touched ordinals (never more than the number of ordinals). */
  reserve(extra: number): void {
    const need = Math.min(this.scores.length, this.count + extra);
    if (need > this.touched.length) {
      const next = new Uint32Array(Math.min(this.scores.length, Math.max(need, this.touched.length * 2)));
      next.set(this.touched.subarray(0, this.count));
      this.touched = next;
    }
  }
  /** Back to all zeros, touching only what was used. */
  reset(): void {
    const sc = this.scores;
    const t = this.touched;
    for (let i = 0; i < this.count; i++) sc[t[i]!] = 0;
    this.count = 0;
  }
  add(ord: number, s: number): void {
    const sc = this.scores;
    if (sc[ord] === 0) this.touch(ord);
    sc[ord]! += s;
  }
}

/**
 * Accumulators are pooled: a query over 100k documents would otherwise allocate (and the GC later
 * sweep) a zeroed Float64Array of 100k scores per source and field, which showed up as 5-10 ms GC
 * pauses in `--batch` runs. The arrays handed out by one search are reset at the start of the next, so
 * results of `searchBm25BySource` are valid until the next search (searchBm25 copies them out).
 */
const pool = new Map<number, Accumulator[]>();
let lent: Accumulator[] = [];
/** Bytes of score arrays in the pool. */
let pooledBytes = 0;
/**
 * What the pool may keep: every accumulator of a query over 1M documents in 10 segments with two text
 * fields (20 x 800 KB). It kept 8 before: such a query then allocated 12 new arrays (9.6 MB outside V8's
 * heap) every time, and the external memory set off a full collection every few text queries: 20 of them,
 * 2-20 ms each, in 1,200 requests of the bench's mixed 1M batch (docs/performance.md, "Session 35").
 */
const POOL_BYTES = 64 * 1024 * 1024;

/** Accumulators made since the process started (the pool's test reads it). */
let accumulatorsMade = 0;

/** The pool's state: the score arrays made so far and the bytes kept for the next searches. */
export function accumulatorPoolStats(): { made: number; pooledBytes: number } {
  return { made: accumulatorsMade, pooledBytes };
}

function takeAccumulator(size: number): Accumulator {
  const a = pool.get(size)?.pop();
  if (a === undefined) {
    accumulatorsMade++;
    const made = new Accumulator(size);
    lent.push(made);
    return made;
  }
  pooledBytes -= a.scores.byteLength;
  lent.push(a);
  return a;
}

function recycleAccumulators(): void {
  for (const a of lent) {
    if (pooledBytes + a.scores.byteLength > POOL_BYTES) continue;
    a.reset();
    let free = pool.get(a.scores.length);
    if (!free) pool.set(a.scores.length, (free = []));
    free.push(a);
    pooledBytes += a.scores.byteLength;
  }
  lent = [];
}

/*
 * The per-posting loops live in small functions of their own, not inline in `accumulate`: V8 optimizes a
 * small hot function within a query or two (and compiles it in a few ms), while a big function like
 * `accumulate` takes 100+ ms of background compilation on this class of machine and deoptimizes as a
 * whole; until then every posting runs in the interpreter. That warm-up showed as the p99 tail of
 * `--batch` (the first few hundred queries of a run were 5-10x slower than the rest).
 */

/** First term in a fresh accumulator: every ordinal is new, so no zero check per posting. */
function scoreFresh(acc: Accumulator, ords: Uint32Array, tfs: Uint32Array, lens: Uint32Array, w: number, c0: number, c1: number): void {
  const scores = acc.scores;
  acc.touchAll(ords);
  for (let j = 0; j < ords.length; j++) {
    const ord = ords[j]!;
    const tf = tfs[j]!;
    scores[ord] = (w * tf) / (tf + c0 + c1 * lens[ord]!);
  }
}

/** The hot loop (no deletions, no filter, no per-field output). */
function scoreAdd(acc: Accumulator, ords: Uint32Array, tfs: Uint32Array, lens: Uint32Array, w: number, c0: number, c1: number): void {
  acc.reserve(ords.length);
  const scores = acc.scores;
  const touched = acc.touched;
  let count = acc.count;
  for (let j = 0; j < ords.length; j++) {
    const ord = ords[j]!;
    const tf = tfs[j]!;
    const prev = scores[ord]!;
    if (prev === 0) touched[count++] = ord;
    scores[ord] = prev + (w * tf) / (tf + c0 + c1 * lens[ord]!);
  }
  acc.count = count;
}

/** Postings restricted to `live` (indices into ords; null = all n), optionally also per field. */
function scoreSelected(
  acc: Accumulator,
  facc: Accumulator | null,
  live: Uint32Array | null,
  n: number,
  ords: Uint32Array,
  tfs: Uint32Array,
  lens: Uint32Array,
  w: number,
  c0: number,
  c1: number,
): void {
  for (let k = 0; k < n; k++) {
    const j = live === null ? k : live[k]!;
    const ord = ords[j]!;
    const tf = tfs[j]!;
    const sc = (w * tf) / (tf + c0 + c1 * lens[ord]!);
    acc.add(ord, sc);
    if (facc !== null) facc.add(ord, sc);
  }
}

interface Accumulated {
  total: Array<Accumulator | null>;
  perField: Map<string, Array<Accumulator | null>> | null;
}

function accumulate(fields: readonly FieldQuery[], query: readonly TextClause[], opts: Bm25Options): Accumulated {
  const k1 = opts.k1 ?? DEFAULT_K1;
  const b = opts.b ?? DEFAULT_B;
  if (!(k1 >= 0 && Number.isFinite(k1)) || !(b >= 0 && b <= 1)) {
    throw new ElacsymError('INVALID_QUERY', `BM25 parameters out of range: k1=${k1} (>= 0), b=${b} (0..1)`);
  }
  if (fields.length === 0 || query.length === 0) return { total: [], perField: null };
  const nSrc = fields[0]!.sources.length;
  const accSize = new Array<number>(nSrc).fill(0);
  for (const f of fields) {
    if (!Number.isFinite(f.weight)) throw new ElacsymError('INVALID_QUERY', `weight of field "${f.field}" must be a finite number`);
    if (f.sources.length !== nSrc) {
      throw new ElacsymError('INTERNAL', `field "${f.field}" has ${f.sources.length} text sources, expected ${nSrc}`);
    }
    for (let s = 0; s < nSrc; s++) accSize[s] = Math.max(accSize[s]!, f.sources[s]!.reader.numDocs);
  }

  recycleAccumulators();
  const total: Array<Accumulator | null> = new Array<Accumulator | null>(nSrc).fill(null);
  const accFor = (accs: Array<Accumulator | null>, s: number): Accumulator => {
    let a = accs[s];
    if (a === null || a === undefined) accs[s] = a = takeAccumulator(accSize[s]!);
    return a;
  };
  const perField = opts.perField === true ? new Map<string, Array<Accumulator | null>>() : null;

  for (const f of fields) {
    if (!(f.weight > MIN_FIELD_WEIGHT)) continue;
    const { terms, phrases, patterns } = analyzeClauses(f.analyzer, query);
    if (terms.size === 0 && phrases.length === 0 && patterns.length === 0) continue;

    let N = 0;
    let sumLen = 0;
    for (const src of f.sources) {
      const st = src.stats ?? liveStatsByScan(src);
      N += st.docCount;
      sumLen += st.sumDocLen;
    }
    if (N <= 0 || sumLen <= 0) continue;
    const avgdl = sumLen / N;
    // tf / (tf + k1 * (1 - b + b * dl / avgdl)) = tf / (tf + c0 + c1 * dl)
    const c0 = k1 * (1 - b);
    const c1 = (k1 * b) / avgdl;

    let fieldAcc: Array<Accumulator | null> | null = null;
    if (perField !== null) {
      fieldAcc = new Array<Accumulator | null>(nSrc).fill(null);
      perField.set(f.field, fieldAcc);
    }

    const infoCache = new Map<string, TermInfo>();
    const termInfo = (term: string): TermInfo => {
      let info = infoCache.get(term);
      if (info !== undefined) return info;
      let df = 0;
      const perSource: Array<LivePostings | null> = [];
      for (let s = 0; s < nSrc; s++) {
        const src = f.sources[s]!;
        const p = src.reader.postings(term);
        if (p === null) {
          perSource.push(null);
          continue;
        }
        const ords = p.ords;
        const isLive = src.isLive ?? null;
        const accept = src.accept ?? null;
        if (isLive === null && accept === null) {
          df += ords.length;
          perSource.push({ p, live: null, n: ords.length });
          continue;
        }
        // df counts live postings; matching also needs `accept`.
        const live = new Uint32Array(ords.length);
        let n = 0;
        for (let j = 0; j < ords.length; j++) {
          const ord = ords[j]!;
          if (isLive !== null && !isLive(ord)) continue;
          df++;
          if (accept === null || accept(ord)) live[n++] = j;
        }
        perSource.push(n === 0 ? null : { p, live: n === ords.length ? null : live.subarray(0, n), n });
      }
      info = { idf: df > 0 ? bm25Idf(N, df) : 0, df, perSource };
      infoCache.set(term, info);
      return info;
    };

    // Prefix and fuzzy terms: each indexed term they expand to is one more term clause, scored like any
    // other (its own idf), so the BM25 of an expanded query is the BM25 of the equivalent OR of terms.
    // A term is live when a live document (filter or not: the expansion must not depend on the filter)
    // contains it; `df > 0` is read from termInfo, whose df counts live postings.
    for (const p of patterns) {
      for (const t of expandPattern(f.sources, p, (x) => termInfo(x).df > 0)) terms.set(t, (terms.get(t) ?? 0) + 1);
    }

    // Highest df first (ties by term): the first term of a source fills its fresh accumulator without
    // per-posting checks. The order depends only on global statistics, so it is the same however the data
    // is split into sources (scores are summed in the same order).
    const termOrder = [...terms.keys()].map((t) => ({ t, info: termInfo(t) }));
    termOrder.sort((x, y) => x.info.idf - y.info.idf || (x.t < y.t ? -1 : x.t > y.t ? 1 : 0));
    for (const { t: term, info } of termOrder) {
      const mult = terms.get(term)!;
      if (!(info.idf > 0)) continue;
      const w = f.weight * mult * info.idf * (k1 + 1);
      for (let s = 0; s < nSrc; s++) {
        const lp = info.perSource[s];
        if (lp === null || lp === undefined) continue;
        const { ords, tfs } = lp.p;
        const lens = f.sources[s]!.reader.docLens;
        const acc = accFor(total, s);
        const facc = fieldAcc === null ? null : accFor(fieldAcc, s);
        const live = lp.live;
        if (live === null && facc === null) {
          if (acc.count === 0) scoreFresh(acc, ords, tfs, lens, w, c0, c1);
          else scoreAdd(acc, ords, tfs, lens, w, c0, c1);
        } else {
          scoreSelected(acc, facc, live, lp.n, ords, tfs, lens, w, c0, c1);
        }
      }
    }

    // Sources without positions: per source, ordinal -> positions of every phrase term of this field.
    const phraseTerms = new Set(phrases.flatMap((ph) => ph.terms));
    const analyzed: Array<Map<number, Map<string, Uint32Array>>> = [];
    for (const ph of phrases) {
      const infos = ph.terms.map(termInfo);
      let idf = 0;
      for (const inf of infos) idf += inf.idf;
      if (!(idf > 0)) continue;
      const w = f.weight * idf * (k1 + 1);
      const m = infos.length;
      const flats = new Array<Uint32Array>(m);
      const from = new Int32Array(m);
      const to = new Int32Array(m);
      for (let s = 0; s < nSrc; s++) {
        const lps: LivePostings[] = [];
        for (const inf of infos) {
          const lp = inf.perSource[s];
          if (lp === null || lp === undefined) break;
          lps.push(lp);
        }
        if (lps.length !== m) continue;
        // Drive by the rarest member; advance cursors on the others.
        let driver = 0;
        for (let j = 1; j < m; j++) if (lps[j]!.n < lps[driver]!.n) driver = j;
        const cursors = new Array<number>(m).fill(0);
        const lens = f.sources[s]!.reader.docLens;
        const dlp = lps[driver]!;
        const dLive = dlp.live;
        const dOrds = dlp.p.ords;
        const starts: Uint32Array[] = [];
        const src = f.sources[s]!;
        const reanalyze = !src.reader.hasPositions;
        if (reanalyze && !src.storedValue) continue;
        // Without positions in the index: each candidate's positions come from its stored value, analyzed
        // once per query whatever the number of phrases (below).
        if (reanalyze) for (let j = 0; j < m; j++) from[j] = 0;
        for (let j = 0; j < m && !reanalyze; j++) {
          const pd = lps[j]!.p.positionData();
          flats[j] = pd.flat;
          starts.push(pd.starts);
        }
        let acc: Accumulator | null = null;
        docs: for (let k = 0; k < dlp.n; k++) {
          const dj = dLive === null ? k : dLive[k]!;
          const ord = dOrds[dj]!;
          for (let j = 0; j < m; j++) {
            let idx: number;
            if (j === driver) {
              idx = dj;
            } else {
              const ords = lps[j]!.p.ords;
              idx = lowerBound(ords, cursors[j]!, ord);
              cursors[j] = idx;
              if (idx >= ords.length) break docs;
              if (ords[idx] !== ord) continue docs;
            }
            if (!reanalyze) {
              from[j] = starts[j]![idx]!;
              to[j] = starts[j]![idx + 1]!;
            }
          }
          if (reanalyze) {
            const cache = (analyzed[s] ??= new Map());
            let pos = cache.get(ord);
            if (pos === undefined) cache.set(ord, (pos = termPositions(f.analyzer, src.storedValue!(ord), phraseTerms)));
            for (let j = 0; j < m; j++) {
              flats[j] = pos.get(ph.terms[j]!) ?? NO_POSITIONS;
              to[j] = flats[j]!.length;
            }
          }
          const tf = countPhrase(flats, from, to, ph.offsets);
          if (tf > 0) {
            const sc = (w * tf) / (tf + c0 + c1 * lens[ord]!);
            (acc ??= accFor(total, s)).add(ord, sc);
            if (fieldAcc !== null) accFor(fieldAcc, s).add(ord, sc);
          }
        }
      }
    }
  }

  return { total, perField };
}

/**
 * Scores every live document matching at least one clause in at least one field, as one object per hit.
 * Unordered; the caller sorts and takes the top k. For large result sets prefer `searchBm25BySource`
 * (creating ~30k hit objects costs about as much as the scoring itself).
 */
export function searchBm25(fields: readonly FieldQuery[], query: readonly TextClause[], opts: Bm25Options = {}): Bm25Hit[] {
  const { total, perField } = accumulate(fields, query, opts);
  const hits: Bm25Hit[] = [];
  for (let s = 0; s < total.length; s++) {
    const a = total[s];
    if (a === null || a === undefined) continue;
    const { scores, touched } = a;
    for (let i = 0; i < a.count; i++) {
      const ord = touched[i]!;
      const score = scores[ord]!;
      if (!(score > 0)) continue;
      if (perField === null) {
        hits.push({ source: s, ord, score });
      } else {
        const pf: Record<string, number> = Object.create(null); // field names are data ("__proto__" too)
        for (const [field, accs] of perField) {
          const fa = accs[s];
          const v = fa === null || fa === undefined ? 0 : fa.scores[ord]!;
          if (v > 0) pf[field] = (Object.hasOwn(pf, field) ? pf[field]! : 0) + v;
        }
        hits.push({ source: s, ord, score, perField: pf });
      }
    }
  }
  return hits;
}

/**
 * The hits of one source from `searchBm25BySource`: `ords` lists the matching ordinals (unordered, each
 * once); `scores` is indexed by ordinal (scores[ord] > 0 for every ord in ords; other entries are 0).
 */
export interface Bm25SourceHits {
  source: number;
  ords: Uint32Array;
  scores: Float64Array;
}

/**
 * Same hits and scores as `searchBm25` (opts.perField is ignored) without building one object per hit:
 * the per-source accumulators are returned as they are, which spares a pass over the hits (that matters
 * for a cold CLI process, where such loops run in the interpreter). Sources without hits are omitted.
 */
export function searchBm25BySource(
  fields: readonly FieldQuery[],
  query: readonly TextClause[],
  opts: Bm25Options = {},
): Bm25SourceHits[] {
  const { total } = accumulate(fields, query, { ...opts, perField: false });
  const out: Bm25SourceHits[] = [];
  for (let s = 0; s < total.length; s++) {
    const a = total[s];
    if (a === null || a === undefined || a.count === 0) continue;
    out.push({ source: s, ords: a.touched.subarray(0, a.count), scores: a.scores });
  }
  return out;
}
