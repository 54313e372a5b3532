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
import { editDistance } from '../../../src/index/fulltext/bm25.js';
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
    // All live terms of the field, in code point order, for prefix and fuzzy expansion.
    const vocab = [...new Set(withField.flat().map((x) => x.term))].sort((a, b) => {
      const x = [...a].map((c) => c.codePointAt(0)!);
      const y = [...b].map((c) => c.codePointAt(0)!);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length;
    });
    const cps = (t: string) => [...t].map((c) => c.codePointAt(0)!);
    for (const c0 of query) {
      let clauses: TextClause[] = [c0];
      if (c0.kind === 'prefix') {
        const words = f.analyzer.normalizeWords(c0.text);
        const last = words.pop();
        clauses = words.map((w) => ({ kind: 'term' as const, text: w }));
        if (last !== undefined) clauses.push(...vocab.filter((t) => t.startsWith(last)).slice(0, 64).map((t) => ({ kind: 'raw' as 'term', text: t })));
      } else if (c0.kind === 'fuzzy') {
        clauses = [];
        for (const qt of f.analyzer.analyze(c0.text)) {
          const d = c0.distance ?? 2;
          const first = [...qt.term][0]!;
          const m = vocab
            .filter((t) => t.startsWith(first))
            .map((t) => ({ t, e: editDistance(cps(t), cps(qt.term), d) }))
            .filter((x) => x.e <= d)
            .sort((a, b) => a.e - b.e || vocab.indexOf(a.t) - vocab.indexOf(b.t))
            .slice(0, 64);
          clauses.push(...m.map((x) => ({ kind: 'raw' as 'term', text: x.t })));
        }
      }
      for (const c of clauses) {
      const q = (c.kind as string) === 'raw' ? [{ term: c.text, pos: 0 }] : f.analyzer.analyze(c.text);
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
  analyzers: [Analyzer, Analyzer] = [titleAnalyzer, bodyAnalyzer],
  /** 0: every source's index has positions; 1: none has (phrases checked on stored values); 2: mixed. */
  positionMode = 0,
): Map<number, number> {
  const [titleA, bodyA] = analyzers;
  const members: number[][] = Array.from({ length: k }, () => []);
  docs.forEach((d, i) => members[d.source % k]!.push(i));
  const mk = (name: 'title' | 'body', a: Analyzer): TextSource[] =>
    members.map((m, si) => {
      const positions = positionMode === 0 || (positionMode === 2 && si % 2 === 0);
      const reader = FieldIndexReader.open(new MemorySource(buildFieldIndex(m.map((i) => a.analyzeValue(docs[i]![name])), positions)));
      expect(reader.hasPositions).toBe(positions);
      const deadOrds = m.flatMap((i, ord) => (docs[i]!.dead ? [ord] : []));
      // Without dead documents, isLive may be omitted.
      const isLive = deadOrds.length === 0 && cachedStats ? undefined : (ord: number): boolean => !docs[m[ord]!]!.dead;
      const accept = filter ? (ord: number): boolean => !docs[m[ord]!]!.hidden : undefined;
      const storedValue = positions ? undefined : (ord: number) => docs[m[ord]!]![name] ?? undefined;
      return cachedStats ? { reader, isLive, accept, stats: liveStats({ reader }, deadOrds), storedValue } : { reader, isLive, accept, storedValue };
    });
  const fields: FieldQuery[] = [
    { field: 'title', weight: weights[0], analyzer: titleA, sources: mk('title', titleA) },
    { field: 'body', weight: weights[1], analyzer: bodyA, sources: mk('body', bodyA) },
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
        fc.nat(2),
        (docs, query, weights, cachedStats, filter, positionMode) => {
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
          const one = engine(docs, 1, weights, query, cachedStats, filter, undefined, positionMode);
          expectSameScores(one, want, 1e-9);
          for (const k of [2, 3]) {
            const split = engine(docs, k, weights, query, cachedStats, filter, undefined, positionMode);
            // Splitting must not change any score (beyond float noise).
            expectSameScores(split, one, 1e-9);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // The later analyzers (segmentation, folding, Snowball stemmers) and prefix / fuzzy terms.
  const MULTI = ['我们', '数据库', '向量数据库', '東京の天気', '天気', 'Café', 'cafe', 'crème', 'élèves', 'eleve', 'kitaplar', 'kitap', 've', 'ﬁne', 'ＡＢＣ', 'talossa', 'talo', 'ja'];
  const ANALYZERS: Array<[Analyzer, Analyzer]> = [
    [createAnalyzer({ language: 'unicode', stemming: true, remove_stopwords: true, case_sensitive: false }), createAnalyzer({ language: 'chinese', stemming: true, remove_stopwords: true, case_sensitive: false })],
    [createAnalyzer({ language: 'french', stemming: true, remove_stopwords: true, case_sensitive: false, ascii_folding: true }), createAnalyzer({ language: 'japanese', stemming: true, remove_stopwords: true, case_sensitive: false })],
    [createAnalyzer({ language: 'turkish', stemming: true, remove_stopwords: true, case_sensitive: false }), createAnalyzer({ language: 'finnish', stemming: true, remove_stopwords: true, case_sensitive: false, stopwords: ['ja', 've'] })],
  ];
  const multiText = fc.array(fc.constantFrom(...MULTI), { maxLength: 8 }).map((w) => w.join(' '));
  const multiDoc: fc.Arbitrary<Doc> = fc.record({
    title: fc.option(multiText, { freq: 4 }),
    body: fc.option(fc.oneof(multiText, fc.array(multiText, { maxLength: 3 })), { freq: 4 }),
    dead: fc.nat(3).map((x) => x === 0),
    hidden: fc.nat(2).map((x) => x === 0),
    source: fc.nat(5),
  });
  const PREFIXES = ['c', 'ca', 'caf', 'ta', 'kit', '数', '天', 'é', 'el', 'ab', 'fi', 'zz'];
  const multiClause: fc.Arbitrary<TextClause> = fc.oneof(
    fc.constantFrom(...MULTI).map((text) => ({ kind: 'term' as const, text })),
    fc.array(fc.constantFrom(...MULTI), { minLength: 1, maxLength: 3 }).map((w) => ({ kind: 'phrase' as const, text: w.join(' ') })),
    fc.constantFrom(...PREFIXES).map((text) => ({ kind: 'prefix' as const, text })),
    fc.tuple(fc.constantFrom(...MULTI, 'kitab', 'cafes', 'talo', 'tlao'), fc.constantFrom(1, 2)).map(([text, distance]) => ({ kind: 'fuzzy' as const, text, distance })),
  );

  it('stays exact over the later analyzers and prefix/fuzzy terms, whatever the split into sources', () => {
    fc.assert(
      fc.property(
        fc.array(multiDoc, { maxLength: 25 }),
        fc.array(multiClause, { minLength: 1, maxLength: 4 }),
        weightsArb,
        fc.boolean(),
        fc.boolean(),
        fc.nat(ANALYZERS.length - 1),
        fc.nat(2),
        (docs, query, weights, cachedStats, filter, ai, positionMode) => {
          const [ta, ba] = ANALYZERS[ai]!;
          const want = naive(
            docs,
            [
              { name: 'title', weight: weights[0], analyzer: ta },
              { name: 'body', weight: weights[1], analyzer: ba },
            ],
            query,
          );
          if (filter) for (const [id] of want) if (docs[id]!.hidden) want.delete(id);
          const one = engine(docs, 1, weights, query, cachedStats, filter, [ta, ba], positionMode);
          expectSameScores(one, want, 1e-9);
          for (const k of [2, 3]) expectSameScores(engine(docs, k, weights, query, cachedStats, filter, [ta, ba], positionMode), one, 1e-9);
        },
      ),
      { numRuns: 200 },
    );
  });
});
