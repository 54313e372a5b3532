import { describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import type { FullTextOptions } from '../../../src/model/types.js';
import { type Analyzer, createAnalyzer } from '../../../src/index/fulltext/analyzer.js';
import {
  type FieldQuery,
  type TextSource,
  accumulatorPoolStats,
  bm25Idf,
  bm25TermScore,
  liveStats,
  liveStatsByScan,
  MAX_EXPANSIONS,
  searchBm25,
} from '../../../src/index/fulltext/bm25.js';
import { FieldIndexReader, buildFieldIndex } from '../../../src/index/fulltext/postings.js';
import { type TextClause, parseTextQuery } from '../../../src/index/fulltext/text-query.js';
import { MemorySource } from '../../../src/util/bytes.js';

const EN: FullTextOptions = { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false };
const en = createAnalyzer(EN);
const plain = createAnalyzer({ ...EN, stemming: false, remove_stopwords: false });

function source(a: Analyzer, values: Array<string | string[] | null>, dead: number[] = []): TextSource {
  const reader = FieldIndexReader.open(new MemorySource(buildFieldIndex(values.map((v) => a.analyzeValue(v)))));
  const deadSet = new Set(dead);
  return { reader, isLive: (ord) => !deadSet.has(ord), stats: liveStats({ reader }, dead) };
}

function search(a: Analyzer, values: Array<string | string[] | null>, q: string, dead: number[] = []): Map<number, number> {
  const hits = searchBm25([{ field: 'f', weight: 1, analyzer: a, sources: [source(a, values, dead)] }], parseTextQuery(q));
  return new Map(hits.map((h) => [h.ord, h.score]));
}

describe('bm25', () => {
  it('bm25TermScore is the textbook formula', () => {
    // tf = 1, dl = avgdl: the length norm is 1 and tf*(k1+1)/(tf+k1) = 1, so the score is the idf.
    expect(bm25TermScore(1, 10, 10, 1, 1)).toBeCloseTo(Math.log(4 / 3), 12);
    expect(bm25Idf(10, 3)).toBeCloseTo(Math.log(1 + 7.5 / 3.5), 12);
    const tf = 3;
    const dl = 7;
    const avgdl = 5;
    const expected = Math.log(1 + (20 - 4 + 0.5) / (4 + 0.5)) * ((tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * dl) / avgdl)));
    expect(bm25TermScore(tf, dl, avgdl, 20, 4)).toBeCloseTo(expected, 12);
    expect(bm25TermScore(tf, dl, avgdl, 20, 4, 2, 0.5)).toBeCloseTo(
      Math.log(1 + 16.5 / 4.5) * ((3 * 3) / (3 + 2 * (0.5 + (0.5 * 7) / 5))),
      12,
    );
  });

  it('scores a term query against the formula, with stemming', () => {
    const docs = ['running fast', 'the runner runs and runs', 'nothing useful', null, 'run'];
    const got = search(en, docs, 'RUNS');
    // Analyzed lengths: 2, 3 (the/and removed), 2, -, 1 -> N = 4, avgdl = 2
    const N = 4;
    const avgdl = 2;
    expect([...got.keys()].sort()).toEqual([0, 1, 4]);
    expect(got.get(0)).toBeCloseTo(bm25TermScore(1, 2, avgdl, N, 3), 12);
    expect(got.get(1)).toBeCloseTo(bm25TermScore(2, 3, avgdl, N, 3), 12);
    expect(got.get(4)).toBeCloseTo(bm25TermScore(1, 1, avgdl, N, 3), 12);
  });

  it('sums clauses and counts repeated query terms twice', () => {
    const docs = ['apple banana', 'apple', 'cherry'];
    const one = search(plain, docs, 'apple');
    const two = search(plain, docs, 'apple apple');
    const mix = search(plain, docs, 'apple cherry banana');
    expect(two.get(0)).toBeCloseTo(2 * one.get(0)!, 12);
    expect(mix.get(0)).toBeCloseTo(bm25TermScore(1, 2, 4 / 3, 3, 2) + bm25TermScore(1, 2, 4 / 3, 3, 1), 12);
    expect(mix.get(2)).toBeCloseTo(bm25TermScore(1, 1, 4 / 3, 3, 1), 12);
  });

  it('ignores stopword-only clauses and empty queries; splits multi-token terms', () => {
    const docs = ['e mail', 'the mail', 'email'];
    expect(search(en, docs, 'the of')).toEqual(new Map());
    expect(search(en, docs, '')).toEqual(new Map());
    expect(search(en, docs, '"the of"')).toEqual(new Map());
    const split = search(plain, docs, 'e-mail');
    const sep = search(plain, docs, 'e mail');
    expect([...split.keys()].sort()).toEqual([0, 1]);
    for (const [k, v] of sep) expect(split.get(k)).toBeCloseTo(v, 12);
  });

  it('phrases match consecutive positions, honouring stopword gaps', () => {
    const docs = [
      'Bank of America', // 0: bank@0 america@2
      'bank in america', // 1: "in" is a stopword too: same positions
      'bank america', // 2: america@1
      'america of bank', // 3
      'the bank of the america', // 4: bank@1 america@4
      'banks of america', // 5: stems to bank
      ['bank of', 'america'], // 6: array elements: never one phrase
    ];
    expect([...search(en, docs, '"bank of america"').keys()].sort()).toEqual([0, 1, 5]);
    expect([...search(en, docs, '"bank america"').keys()].sort()).toEqual([2]);
    expect([...search(en, docs, '"america bank"').keys()].sort()).toEqual([]);
    expect([...search(en, docs, '"bank of the america"').keys()].sort()).toEqual([4]);
    // Without stopword removal the gap is a real word: "bank in america" no longer matches "bank of america".
    expect([...search(plain, docs, '"bank of america"').keys()].sort()).toEqual([0]);
    // A one-word phrase is a term.
    const t = search(en, docs, 'bank');
    const p = search(en, docs, '"bank"');
    expect(p).toEqual(t);
  });

  it('phrase tf counts occurrences and idf sums member idfs', () => {
    const docs = ['la la la', 'la di la', 'di la la di', 'x'];
    const got = search(plain, docs, '"la la"');
    expect([...got.keys()].sort()).toEqual([0, 2]);
    const N = 4;
    const avgdl = (3 + 3 + 4 + 1) / 4;
    const idfLa = bm25Idf(N, 3);
    const norm = (tf: number, dl: number): number => (tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * dl) / avgdl));
    expect(got.get(0)).toBeCloseTo(2 * idfLa * norm(2, 3), 12);
    expect(got.get(2)).toBeCloseTo(2 * idfLa * norm(1, 4), 12);
    const three = search(plain, docs, '"di la la di"');
    expect([...three.keys()]).toEqual([2]);
    expect(three.get(2)).toBeCloseTo((2 * bm25Idf(N, 2) + 2 * idfLa) * norm(1, 4), 12);
  });

  it('excludes dead documents from matching and statistics', () => {
    const withDead = search(plain, ['apple pie', 'apple apple apple tart', 'pie'], 'apple pie', [1]);
    const without = search(plain, ['apple pie', 'pie'], 'apple pie');
    expect([...withDead.keys()].sort()).toEqual([0, 2]);
    expect(withDead.get(0)).toBeCloseTo(without.get(0)!, 12);
    expect(withDead.get(2)).toBeCloseTo(without.get(1)!, 12);
  });

  it('a filter (accept) restricts hits without changing scores; isLive may be omitted', () => {
    const values = ['apple pie', 'apple tart', 'pie', 'apple apple'];
    const reader = FieldIndexReader.open(new MemorySource(buildFieldIndex(values.map((v) => plain.analyzeValue(v)))));
    const q = parseTextQuery('apple pie');
    const run = (src: TextSource): Map<number, number> =>
      new Map(searchBm25([{ field: 'f', weight: 1, analyzer: plain, sources: [src] }], q).map((h) => [h.ord, h.score]));
    const all = run({ reader });
    expect([...all.keys()].sort()).toEqual([0, 1, 2, 3]);
    expect(run({ reader, isLive: () => true })).toEqual(all);
    expect(run({ reader, stats: liveStats({ reader }, []) })).toEqual(all);
    const filtered = run({ reader, accept: (o) => o % 2 === 0 });
    expect([...filtered.keys()].sort()).toEqual([0, 2]);
    expect(filtered.get(0)).toBe(all.get(0));
    expect(filtered.get(2)).toBe(all.get(2));
    // Dead + filter: dead documents leave the statistics, the filter does not.
    const deadOnly = run({ reader, isLive: (o) => o !== 1, stats: liveStats({ reader }, [1]) });
    const both = run({ reader, isLive: (o) => o !== 1, accept: (o) => o !== 3, stats: liveStats({ reader }, [1]) });
    expect([...both.keys()].sort()).toEqual([0, 2]);
    expect(both.get(0)).toBe(deadOnly.get(0));
    expect(both.get(0)).not.toBe(all.get(0));
  });

  it('liveStats equals a scan, ignores duplicates and out-of-range ordinals', () => {
    const src = source(plain, ['a b c', null, 'd', '', 'e f'], []);
    const dead = [0, 0, 1, 3, 99];
    const deadSet = new Set(dead);
    const scanned = liveStatsByScan({ reader: src.reader, isLive: (o) => !deadSet.has(o) });
    expect(liveStats(src, dead)).toEqual(scanned);
    expect(scanned).toEqual({ docCount: 2, sumDocLen: 3 });
    // Without cached stats the search scans and gets the same scores.
    const q = parseTextQuery('d e');
    const a = searchBm25([{ field: 'f', weight: 1, analyzer: plain, sources: [{ ...src, isLive: (o) => !deadSet.has(o), stats: liveStats(src, dead) }] }], q);
    const b = searchBm25([{ field: 'f', weight: 1, analyzer: plain, sources: [{ reader: src.reader, isLive: (o) => !deadSet.has(o) }] }], q);
    expect(b).toEqual(a);
    expect(a.length).toBe(2);
  });

  it('combines fields with weights and reports per-field contributions', () => {
    const titles = ['search engine', 'cooking', 'engine room'];
    const bodies = ['fast search over data', 'search recipes and engines', null];
    const fields = (wt: number, wb: number): FieldQuery[] => [
      { field: 'title', weight: wt, analyzer: en, sources: [source(en, titles)] },
      { field: 'body', weight: wb, analyzer: plain, sources: [source(plain, bodies)] },
    ];
    const q = parseTextQuery('search engine');
    const byOrd = (hits: ReturnType<typeof searchBm25>): Map<number, number> => new Map(hits.map((h) => [h.ord, h.score]));
    const t = byOrd(searchBm25(fields(1, 0), q));
    const b = byOrd(searchBm25(fields(0, 1), q));
    expect([...t.keys()].sort()).toEqual([0, 2]);
    expect([...b.keys()].sort()).toEqual([0, 1]); // plain analyzer: "engines" is not "engine"
    const hits = searchBm25(fields(2, 0.5), q, { perField: true });
    const both = byOrd(hits);
    expect([...both.keys()].sort()).toEqual([0, 1, 2]);
    for (const ord of [0, 1, 2]) {
      expect(both.get(ord)).toBeCloseTo(2 * (t.get(ord) ?? 0) + 0.5 * (b.get(ord) ?? 0), 12);
    }
    const h0 = hits.find((h) => h.ord === 0)!;
    expect(h0.perField!['title']).toBeCloseTo(2 * t.get(0)!, 12);
    expect(h0.perField!['body']).toBeCloseTo(0.5 * b.get(0)!, 12);
    expect(hits.find((h) => h.ord === 2)!.perField).toEqual({ title: 2 * t.get(2)! });
    expect(searchBm25(fields(2, 0.5), q)[0]!.perField).toBeUndefined();
  });

  it('reuses its score arrays from one search to the next, however many sources and fields a query has', () => {
    // 12 sources x 2 fields: 24 accumulators a search (a 1M namespace of 10 segments with two text fields
    // needs 20; the pool kept 8, and each query made the rest anew, outside V8's heap)
    const titles = Array.from({ length: 12 }, (_, i) => source(en, [`search engine ${i}`, 'cooking', `engine room ${i}`]));
    const bodies = Array.from({ length: 12 }, (_, i) => source(plain, ['fast search over data', `search recipes ${i}`, null]));
    const fields: FieldQuery[] = [
      { field: 'title', weight: 1, analyzer: en, sources: titles },
      { field: 'body', weight: 1, analyzer: plain, sources: bodies },
    ];
    const q = parseTextQuery('search engine');
    const first = searchBm25(fields, q);
    const made = accumulatorPoolStats().made;
    for (let i = 0; i < 3; i++) expect(searchBm25(fields, q)).toEqual(first); // reset arrays: the same scores
    expect(accumulatorPoolStats().made).toBe(made);
    expect(accumulatorPoolStats().pooledBytes).toBeGreaterThan(0);
  });

  it('rejects misaligned sources and bad parameters', () => {
    const s = source(plain, ['a']);
    const f: FieldQuery[] = [
      { field: 'x', weight: 1, analyzer: plain, sources: [s] },
      { field: 'y', weight: 1, analyzer: plain, sources: [s, s] },
    ];
    let code: string | undefined;
    try {
      searchBm25(f, parseTextQuery('a'));
    } catch (e) {
      code = isElacsymError(e) ? e.code : 'other';
    }
    expect(code).toBe('INTERNAL');
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (e) {
        return isElacsymError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => searchBm25([f[0]!], parseTextQuery('a'), { b: 2 }))).toBe('INVALID_QUERY');
    expect(codeOf(() => searchBm25([f[0]!], parseTextQuery('a'), { k1: -1 }))).toBe('INVALID_QUERY');
    expect(codeOf(() => searchBm25([{ ...f[0]!, weight: Number.NaN }], parseTextQuery('a')))).toBe('INVALID_QUERY');
    expect(searchBm25([{ ...f[0]!, weight: 0 }], parseTextQuery('a'))).toEqual([]);
    expect(searchBm25([f[0]!], parseTextQuery('a')).length).toBe(1);
    expect(searchBm25([], parseTextQuery('a'))).toEqual([]);
  });
});

describe('prefix and fuzzy expansion', () => {
  const an = createAnalyzer({ language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false });
  const src = (texts: string[]): TextSource => ({ reader: FieldIndexReader.open(new MemorySource(buildFieldIndex(texts.map((t) => an.analyzeValue(t))))) });
  const hitsOf = (texts: string[], clauses: TextClause[]) =>
    searchBm25([{ field: 'f', weight: 1, analyzer: an, sources: [src(texts)] }], clauses).map((h) => h.ord).sort((a, b) => a - b);

  it('vect* matches every term starting with vect, unstemmed; vectr~1 matches vector', () => {
    const docs = ['vector search', 'vectors everywhere', 'victory', 'a plain doc'];
    expect(hitsOf(docs, [{ kind: 'prefix', text: 'vect' }])).toEqual([0, 1]);
    expect(hitsOf(docs, [{ kind: 'prefix', text: 'VECT' }])).toEqual([0, 1]);
    expect(hitsOf(docs, [{ kind: 'fuzzy', text: 'vectr', distance: 1 }])).toEqual([0, 1]);
    expect(hitsOf(docs, [{ kind: 'fuzzy', text: 'vetcor', distance: 1 }])).toEqual([0, 1]); // a transposition is one edit
    expect(hitsOf(docs, [{ kind: 'fuzzy', text: 'vctry', distance: 1 }])).toEqual([]);
    expect(hitsOf(docs, [{ kind: 'fuzzy', text: 'victri', distance: 2 }])).toEqual([2]);
  });

  it(`expands to at most MAX_EXPANSIONS (${MAX_EXPANSIONS}) terms, the first in dictionary order`, () => {
    const words = Array.from({ length: MAX_EXPANSIONS + 10 }, (_, i) => `w${String(i).padStart(3, '0')}x`);
    const hits = hitsOf(words, [{ kind: 'prefix', text: 'w' }]);
    expect(hits).toEqual(Array.from({ length: MAX_EXPANSIONS }, (_, i) => i));
  });

  it('terms only in dead documents do not take expansion slots', () => {
    const words = Array.from({ length: MAX_EXPANSIONS + 5 }, (_, i) => `w${String(i).padStart(3, '0')}x`);
    const s: TextSource = { ...src(words), isLive: (ord) => ord >= 5 };
    const hits = searchBm25([{ field: 'f', weight: 1, analyzer: an, sources: [s] }], [{ kind: 'prefix', text: 'w' }]).map((h) => h.ord);
    expect(hits.sort((a, b) => a - b)).toEqual(Array.from({ length: MAX_EXPANSIONS }, (_, i) => i + 5));
  });
});
