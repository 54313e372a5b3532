// Field index version 3 (compact: bit-packed document lengths and docs parts, front-coded dictionary in
// blocks): layout, round trips against the version 1/2 writer, exact document lengths, damage, and the same
// answers from prefix, fuzzy, phrase and plain queries as versions 1/2.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import { type Token, createAnalyzer } from '../../../src/index/fulltext/analyzer.js';
import { type TextSource, liveStats, searchBm25 } from '../../../src/index/fulltext/bm25.js';
import {
  DICT_BLOCK_TERMS,
  DOCS_BLOCK,
  FIELD_INDEX_VERSION_COMPACT,
  FieldIndexReader,
  buildFieldIndex,
  decodeDocLens,
  encodeDocLens,
  fieldIndexVersion,
} from '../../../src/index/fulltext/postings.js';
import { type TextClause, parseTextQuery } from '../../../src/index/fulltext/text-query.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { mulberry32 } from '../../../src/util/prng.js';

// Terms sharing prefixes (front coding), multi-byte and astral characters (byte order != JS order).
const STEMS = ['a', 'ab', 'abc', 'abd', 'b', 'ba', 'é', 'ée', '日本', '日', '\uffe0', '𝄞', 'z', 'zz', '0', '10', '9'];

/** A seeded corpus: Zipf-like term choice (some terms in more than DOCS_BLOCK documents), a few long documents. */
function corpus(seed: number, maxDocs = 300): Array<Token[] | null> {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const vocab: string[] = [];
  const vocabSize = 1 + int(400);
  for (let i = 0; i < vocabSize; i++) vocab.push(STEMS[int(STEMS.length)]! + (i % 3 === 0 ? '' : STEMS[int(STEMS.length)]!) + (i > 40 ? String(i) : ''));
  const docs: Array<Token[] | null> = [];
  const n = int(maxDocs + 1);
  for (let d = 0; d < n; d++) {
    const r = rnd();
    if (r < 0.08) {
      docs.push(null);
      continue;
    }
    if (r < 0.1) {
      docs.push([]);
      continue;
    }
    const len = rnd() < 0.03 ? 200 + int(900) : 1 + int(12);
    const toks: Token[] = [];
    let pos = int(3);
    for (let k = 0; k < len; k++) {
      toks.push({ term: vocab[Math.floor(rnd() ** 3 * vocab.length)]!, pos });
      pos += rnd() < 0.05 ? 1 + int(100_000) : 1 + int(2);
    }
    docs.push(toks);
  }
  return docs;
}

/** Everything a reader answers, in plain values (for toEqual between versions). */
function dump(r: FieldIndexReader): unknown {
  const terms = [...r.terms()];
  return {
    numDocs: r.numDocs,
    docCount: r.docCount,
    sumDocLen: r.sumDocLen,
    numTerms: r.numTerms,
    hasPositions: r.hasPositions,
    docLens: [...r.docLens],
    terms,
    postings: terms.map((t) => {
      const p = r.postings(t)!;
      return { df: r.docFreq(t), ords: [...p.ords], tfs: [...p.tfs], positions: r.hasPositions ? [...p.positionData().flat] : null };
    }),
  };
}

const open = (b: Uint8Array): FieldIndexReader => FieldIndexReader.open(new MemorySource(b));

describe('field index version 3', () => {
  it('has the documented header, with or without positions', () => {
    const docs = corpus(7);
    for (const positions of [true, false]) {
      const b = buildFieldIndex(docs, positions);
      const dv = new DataView(b.buffer, b.byteOffset);
      expect(String.fromCharCode(...b.subarray(0, 4))).toBe('ELFT');
      expect(dv.getUint32(4, true)).toBe(FIELD_INDEX_VERSION_COMPACT);
      expect(fieldIndexVersion(b)).toBe(3);
      expect(dv.getUint32(8, true)).toBe(docs.length);
      expect(dv.getUint32(28, true)).toBe(positions ? 0 : 1);
      expect(dv.getUint32(44, true)).toBe(DICT_BLOCK_TERMS);
      const lensLen = dv.getUint32(32, true);
      const dictLen = dv.getUint32(36, true);
      const postingsLen = dv.getUint32(40, true);
      const numBlocks = Math.ceil(dv.getUint32(24, true) / DICT_BLOCK_TERMS);
      const align = (n: number) => Math.ceil(n / 4) * 4;
      expect(align(align(48 + lensLen) + 8 * numBlocks + dictLen) + postingsLen).toBe(b.length);
      const r = open(b);
      expect(r.version).toBe(3);
      expect(r.hasPositions).toBe(positions);
      r.verify();
      const legacy = buildFieldIndex(docs, positions, { legacy: true });
      expect(fieldIndexVersion(legacy)).toBe(positions ? 1 : 2);
      expect(b.length).toBeLessThan(legacy.length);
    }
  });

  it('answers exactly as versions 1/2 (seeded corpora, several block sizes, with and without positions)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom(1, 2, 3, 7, 32, 64), fc.constantFrom<boolean | 'auto'>(true, false, 'auto'), (seed, blockTerms, positions) => {
        const docs = corpus(seed);
        const v3 = open(buildFieldIndex(docs, positions, { blockTerms }));
        const old = open(buildFieldIndex(docs, positions, { legacy: true }));
        v3.verify();
        expect(v3.version).toBe(3);
        expect(dump(v3)).toEqual(dump(old));
        // Dictionary walks: lowerBound, termStartsWith, termAt, for terms, their prefixes and absent keys.
        const rnd = mulberry32(seed ^ 0x5bd1e995);
        const keys = ['', 'a', 'ab', 'abz', 'é', '日', '\uffff', '𝄞𝄞', 'zzz', '~'];
        const terms = [...old.terms()];
        for (let k = 0; k < 20 && terms.length > 0; k++) {
          const t = terms[Math.floor(rnd() * terms.length)]!;
          keys.push(t, t.slice(0, 1 + Math.floor(rnd() * t.length)), `${t}\u0000`, `${t}a`);
        }
        const enc = new TextEncoder();
        for (const key of keys) {
          const lb = v3.lowerBound(key);
          expect(lb).toBe(old.lowerBound(key));
          const prefix = enc.encode(key);
          for (let i = lb; i < Math.min(v3.numTerms, lb + 3); i++) {
            expect(v3.termStartsWith(i, prefix)).toBe(old.termStartsWith(i, prefix));
            expect(v3.termAt(i)).toBe(old.termAt(i));
          }
          expect(v3.postings(key) === null).toBe(old.postings(key) === null);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips docs parts of every block shape (df around multiples of DOCS_BLOCK, large tfs and ordinals)', () => {
    for (const df of [1, 2, DOCS_BLOCK - 1, DOCS_BLOCK, DOCS_BLOCK + 1, DOCS_BLOCK + 2, 2 * DOCS_BLOCK + 1, 300]) {
      const rnd = mulberry32(df);
      const docs: Array<Token[] | null> = [];
      const ords = new Set<number>();
      while (ords.size < df) ords.add(Math.floor(rnd() * 5000));
      for (let o = 0; o < 5000; o++) {
        if (!ords.has(o)) docs.push(rnd() < 0.5 ? null : [{ term: 'other', pos: 0 }]);
        else {
          const tf = rnd() < 0.1 ? 1 + Math.floor(rnd() * 3000) : 1 + Math.floor(rnd() * 3);
          docs.push(Array.from({ length: tf }, (_, k) => ({ term: 'x', pos: k * 7 })));
        }
      }
      for (const positions of [true, false]) {
        const r = open(buildFieldIndex(docs, positions));
        r.verify();
        expect(dump(r)).toEqual(dump(open(buildFieldIndex(docs, positions, { legacy: true }))));
      }
    }
  });

  it('keeps document lengths exact (bit-packed with escapes), whatever the widths', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(0, 1, 2, 3, 7, 8, 15, 255, 256, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1)), { maxLength: 300 }),
        (arr) => {
          const lens = Uint32Array.from(arr);
          const bytes = encodeDocLens(lens);
          const count = arr.filter((l) => l > 0).length;
          const sum = arr.reduce((a, b) => a + b, 0);
          expect([...decodeDocLens(bytes, lens.length, count, sum)]).toEqual(arr);
          // Never more than 32 bits each (plus the width byte, and a 0 escape for each 2^32 - 1).
          expect(bytes.length).toBeLessThanOrEqual(arr.length === 0 ? 0 : 1 + 4 * arr.length + arr.filter((l) => l === 2 ** 32 - 1).length);
          // The header's statistics are checked.
          if (arr.length > 0) expect(() => decodeDocLens(bytes, lens.length, count, sum + 1)).toThrow(ElacsymError);
        },
      ),
      { numRuns: 300 },
    );
    // Short documents: well under a byte each (the bench's titles and glosses).
    const short = Uint32Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 13);
    expect(encodeDocLens(short).length).toBeLessThanOrEqual(1 + 10_000 / 2 + 100);
  });

  it('reads the dictionary and document lengths at open in one range; postings on demand', () => {
    const docs = corpus(3, 800);
    const b = buildFieldIndex(docs, true);
    const reads: Array<[number, number]> = [];
    const inner = new MemorySource(b);
    const r = FieldIndexReader.open({
      length: inner.length,
      read: (o, l) => {
        reads.push([o, l]);
        return inner.read(o, l);
      },
      slice: (o, l) => inner.slice(o, l),
    });
    const postingsLen = new DataView(b.buffer, b.byteOffset).getUint32(40, true);
    expect(reads.length).toBe(2);
    expect(Math.max(...reads.map(([o, l]) => o + l))).toBe(b.length - postingsLen);
    reads.length = 0;
    const t = [...r.terms()][0]!;
    expect(reads.length).toBe(0);
    r.postings(t)!.positionData();
    expect(reads.length).toBe(2);
  });
});

describe('field index version 3: damage', () => {
  const expectCorruptOrFine = (b: Uint8Array, mustThrow: boolean): void => {
    let err: unknown = null;
    try {
      // Whatever verify() accepts reads consistently.
      const r = open(b);
      r.verify();
      dump(r);
    } catch (e) {
      err = e;
    }
    if (err === null) {
      expect(mustThrow).toBe(false);
      return;
    }
    if (!(err instanceof ElacsymError) || err.code !== 'CORRUPT_SEGMENT') throw err;
  };

  for (const positions of [true, false]) {
    it(`every truncation and every byte change throws CORRUPT_SEGMENT or reads consistently (positions: ${positions})`, () => {
      const docs = corpus(11, 60);
      const good = buildFieldIndex(docs, positions, { blockTerms: 4 });
      const dv = new DataView(good.buffer, good.byteOffset);
      const lensLen = dv.getUint32(32, true);
      const numBlocks = Math.ceil(dv.getUint32(24, true) / 4);
      const blockIndexEnd = Math.ceil((48 + lensLen) / 4) * 4 + 8 * numBlocks;
      for (let n = 0; n < good.length; n++) expectCorruptOrFine(good.subarray(0, n), true);
      const longer = new Uint8Array(good.length + 4);
      longer.set(good);
      expectCorruptOrFine(longer, true);
      for (let i = 0; i < good.length; i++) {
        for (const change of [(x: number) => x ^ 1, (x: number) => x ^ 0x80, () => 0, () => 0xff]) {
          const b = good.slice();
          b[i] = change(b[i]!);
          if (b[i] === good[i]) continue;
          // The header, the document lengths, their padding and the block index are checked whole; a changed
          // byte in a term's text or postings may still read as another consistent index (the segment file's
          // checksums are what catch those).
          expectCorruptOrFine(b, i < blockIndexEnd && !(i >= 16 && i < 24));
        }
      }
    });
  }

  it('a sumDocLen that disagrees with the lengths is caught', () => {
    const good = buildFieldIndex(corpus(5), true);
    const b = good.slice();
    const dv = new DataView(b.buffer);
    dv.setFloat64(16, dv.getFloat64(16, true) + 1, true);
    expect(() => open(b).docLens).toThrow(/document lengths disagree/);
  });

  it('terms out of order across blocks are caught by verify()', () => {
    // Two blocks of one term each: swap nothing but the first byte of the second block's term.
    const b = buildFieldIndex([[{ term: 'b', pos: 0 }, { term: 'c', pos: 1 }]], false, { blockTerms: 1 });
    const at = b.lastIndexOf('c'.charCodeAt(0));
    b[at] = 'a'.charCodeAt(0);
    const r = open(b);
    expect(() => r.verify()).toThrow(/not in ascending order/);
  });
});

describe('field index version 3: queries answer as versions 1/2', () => {
  const plain = createAnalyzer({ language: 'english', stemming: false, remove_stopwords: false, case_sensitive: false });
  const WORDS = ['vector', 'vectors', 'vectra', 'victor', 'vector-space', 'search', 'searching', 'seared', 'hybrid', 'high', 'bank', 'banks', 'new', 'york', 'times', 'café', 'cafe', 'naïve', '数据库', '数据'];

  function sources(values: Array<Array<string | null>>, legacy: boolean, positions: boolean): TextSource[] {
    return values.map((vals) => {
      const reader = open(buildFieldIndex(vals.map((v) => plain.analyzeValue(v)), positions, { legacy, blockTerms: 4 }));
      return { reader, stats: liveStats({ reader }, []), storedValue: (ord: number) => vals[ord] ?? undefined };
    });
  }

  it('prefix, fuzzy, phrase and term queries: same hits, same scores', () => {
    const rnd = mulberry32(2024);
    const seg = (n: number): Array<string | null> =>
      Array.from({ length: n }, () => (rnd() < 0.1 ? null : Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(' ')));
    const values = [seg(150), seg(90)];
    const queries = ['vect*', 'sear*', 'v*', 'ca*', '数*', 'vectr~1', 'vector~2', 'serch~', 'bnk~1', '"new york"', '"vector space"', '"high hybrid"', 'bank new', 'café cafe naïve', 'vect* "new york" hybrid~1'];
    for (const positions of [true, false]) {
      const a = sources(values, true, positions);
      const b = sources(values, false, positions);
      for (const q of queries) {
        const clauses: TextClause[] = parseTextQuery(q);
        const run = (srcs: TextSource[]) => searchBm25([{ field: 'f', weight: 1, analyzer: plain, sources: srcs }], clauses).map((h) => [h.source, h.ord, h.score]);
        const want = run(a);
        expect(run(b), q).toEqual(want);
        if (!q.startsWith('"')) expect(want.length, q).toBeGreaterThan(0);
      }
    }
  });
});
