import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Analyzer, type Token, createAnalyzer } from '../../../src/index/fulltext/analyzer.js';
import {
  type FieldQuery,
  type TextSource,
  bm25TermScore,
  liveStats,
  searchBm25,
  searchBm25BySource,
} from '../../../src/index/fulltext/bm25.js';
import { FieldIndexReader, buildFieldIndex } from '../../../src/index/fulltext/postings.js';
import type { TextClause } from '../../../src/index/fulltext/text-query.js';
import { MemorySource } from '../../../src/util/bytes.js';

const K1 = 1.2;
const B = 0.75;

// Stopwords, words sharing a stem, and ordinary words.
const VOCAB = ['the', 'of', 'and', 'run', 'running', 'runs', 'bank', 'banks', 'america', 'new', 'york', 'data', 'fast'];

const titleAnalyzer = createAnalyzer({ language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false });
const bodyAnalyzer = createAnalyzer({ language: 'english', stemming: false, remove_stopwords: true, case_sensitive: false });

interface Doc {
  title: string | null;
  body: string | string[] | null;
  dead: boolean;
  /** Rejected by the query filter (when the filter is on). */
  hidden: boolean;
  source: number;
}

const textArb = fc.array(fc.constantFrom(...VOCAB), { maxLength: 10 }).map((w) => w.join(' '));
const docArb: fc.Arbitrary<Doc> = fc.record({
  title: fc.option(textArb, { freq: 4 }),
  body: fc.option(fc.oneof(textArb, fc.array(textArb, { maxLength: 3 })), { freq: 4 }),
  dead: fc.nat(3).map((x) => x === 0),
  hidden: fc.nat(2).map((x) => x === 0),
  source: fc.nat(5),
});
const clauseArb: fc.Arbitrary<TextClause> = fc.oneof(
  fc.constantFrom(...VOCAB).map((text) => ({ kind: 'term' as const, text })),
  fc.array(fc.constantFrom(...VOCAB), { minLength: 1, maxLength: 3 }).map((w) => ({ kind: 'phrase' as const, text: w.join(' ') })),
);
const weightsArb = fc.tuple(fc.constantFrom(0, 0.5, 1, 2), fc.constantFrom(0.25, 1, 3));

/** Textbook BM25 over the live documents only, straight from the token lists. */
function naive(docs: Doc[], fields: Array<{ name: 'title' | 'body'; weight: number; analyzer: Analyzer }>, query: TextClause[]): Map<number, number> {
  const live = docs.map((d, i) => [d, i] as const).filter(([d]) => !d.dead);
  const scores = new Map<number, number>();
  for (const f of fields) {
    if (f.weight <= 0) continue;
    const toks = new Map<number, Token[]>(live.map(([d, i]) => [i, f.analyzer.analyzeValue(d[f.name])]));
    const withField = [...toks.values()].filter((t) => t.length > 0);
    const N = withField.length;
    if (N === 0) continue;
    const avgdl = withField.reduce((s, t) => s + t.length, 0) / N;
    const df = (term: string): number => withField.filter((t) => t.some((x) => x.term === term)).length;
    const idf = (term: string): number => Math.log(1 + (N - df(term) + 0.5) / (df(term) + 0.5));
    for (const c of query) {
      const q = f.analyzer.analyze(c.text);
      if (c.kind === 'term' || q.length === 1) {
        for (const qt of q) {
          for (const [i, t] of toks) {
            const tf = t.filter((x) => x.term === qt.term).length;
            if (tf > 0) scores.set(i, (scores.get(i) ?? 0) + f.weight * bm25TermScore(tf, t.length, avgdl, N, df(qt.term), K1, B));
          }
        }
      } else if (q.length > 1) {
        const idfSum = q.reduce((s, x) => s + idf(x.term), 0);
        for (const [i, t] of toks) {
          let tf = 0;
          for (const start of t) {
            if (start.term !== q[0]!.term) continue;
            if (q.every((x) => t.some((y) => y.term === x.term && y.pos === start.pos + x.pos - q[0]!.pos))) tf++;
          }
          if (tf > 0) {
            const s = (idfSum * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * t.length) / avgdl));
            scores.set(i, (scores.get(i) ?? 0) + f.weight * s);
          }
        }
      }
    }
  }
  return scores;
}

/** Splits the corpus (dead documents included) into `k` sources; returns global doc index -> score. */
function engine(
  docs: Doc[],
  k: number,
  weights: [number, number],
  query: TextClause[],
  cachedStats: boolean,
  filter: boolean,
): Map<number, number> {
  const members: number[][] = Array.from({ length: k }, () => []);
  docs.forEach((d, i) => members[d.source % k]!.push(i));
  const mk = (name: 'title' | 'body', a: Analyzer): TextSource[] =>
    members.map((m) => {
      const reader = FieldIndexReader.open(new MemorySource(buildFieldIndex(m.map((i) => a.analyzeValue(docs[i]![name])))));
      const deadOrds = m.flatMap((i, ord) => (docs[i]!.dead ? [ord] : []));
      // Without dead documents, isLive may be omitted.
      const isLive = deadOrds.length === 0 && cachedStats ? undefined : (ord: number): boolean => !docs[m[ord]!]!.dead;
      const accept = filter ? (ord: number): boolean => !docs[m[ord]!]!.hidden : undefined;
      return cachedStats ? { reader, isLive, accept, stats: liveStats({ reader }, deadOrds) } : { reader, isLive, accept };
    });
  const fields: FieldQuery[] = [
    { field: 'title', weight: weights[0], analyzer: titleAnalyzer, sources: mk('title', titleAnalyzer) },
    { field: 'body', weight: weights[1], analyzer: bodyAnalyzer, sources: mk('body', bodyAnalyzer) },
  ];
  const out = new Map<number, number>();
  for (const h of searchBm25(fields, query, { k1: K1, b: B })) {
    const id = members[h.source]![h.ord]!;
    expect(out.has(id)).toBe(false);
    expect(docs[id]!.dead).toBe(false);
    if (filter) expect(docs[id]!.hidden).toBe(false);
    out.set(id, h.score);
  }
  // The allocation-free variant returns exactly the same hits and scores.
  const dense = new Map<number, number>();
  for (const r of searchBm25BySource(fields, query, { k1: K1, b: B })) {
    expect(r.ords.length).toBeGreaterThan(0);
    for (const ord of r.ords) {
      const id = members[r.source]![ord]!;
      expect(dense.has(id)).toBe(false);
      dense.set(id, r.scores[ord]!);
    }
  }
  expect(dense).toEqual(out);
  return out;
}

function expectSameScores(got: Map<number, number>, want: Map<number, number>, tol: number): void {
  expect([...got.keys()].sort((a, b) => a - b)).toEqual([...want.keys()].sort((a, b) => a - b));
  for (const [id, s] of want) {
    expect(Math.abs(got.get(id)! - s)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(s)));
  }
}

describe('bm25 (property)', () => {
  it('equals a naive textbook implementation, whatever the split into sources, the dead documents and the filter', () => {
    fc.assert(
      fc.property(
        fc.array(docArb, { maxLength: 30 }),
        fc.array(clauseArb, { minLength: 1, maxLength: 4 }),
        weightsArb,
        fc.boolean(),
        fc.boolean(),
        (docs, query, weights, cachedStats, filter) => {
          const want = naive(
            docs,
            [
              { name: 'title', weight: weights[0], analyzer: titleAnalyzer },
              { name: 'body', weight: weights[1], analyzer: bodyAnalyzer },
            ],
            query,
          );
          // The filter restricts the hits but changes no score.
          if (filter) for (const [id] of want) if (docs[id]!.hidden) want.delete(id);
          const one = engine(docs, 1, weights, query, cachedStats, filter);
          expectSameScores(one, want, 1e-9);
          for (const k of [2, 3]) {
            const split = engine(docs, k, weights, query, cachedStats, filter);
            // Splitting must not change any score (beyond float noise).
            expectSameScores(split, one, 1e-9);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
