import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Token } from '../../../src/index/fulltext/analyzer.js';
import { FieldIndexReader, buildFieldIndex } from '../../../src/index/fulltext/postings.js';
import { MemorySource } from '../../../src/util/bytes.js';

// Vocabulary mixing ASCII, prefixes of each other, accented letters, CJK and astral-plane characters, so the
// dictionary order (UTF-8 bytes) differs from JS string order for some pairs.
const VOCAB = ['a', 'ab', 'abc', 'b', 'z', 'é', 'ée', '日本', '\uffe0x', '𝄞', '𝄞a', 'zz', '0', '10', '9'];

const docArb: fc.Arbitrary<Token[] | null> = fc.option(
  fc.array(fc.tuple(fc.constantFrom(...VOCAB), fc.integer({ min: 1, max: 200 })), { maxLength: 25 }).map((pairs) => {
    let pos = -1;
    return pairs.map(([term, gap]) => {
      pos += gap === 1 || gap > 150 ? gap : 1;
      return { term, pos };
    });
  }),
  { freq: 5 },
);

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

describe('field index round trip (property)', () => {
  it('postings, tfs, positions and lengths equal a naive inverted index (with positions or without)', () => {
    fc.assert(
      fc.property(fc.array(docArb, { maxLength: 40 }), fc.boolean(), (docs, withPositions) => {
        // Naive index: term -> ord -> positions.
        const naive = new Map<string, Map<number, number[]>>();
        let docCount = 0;
        let sum = 0;
        docs.forEach((d, ord) => {
          if (d === null || d.length === 0) return;
          docCount++;
          sum += d.length;
          for (const t of d) {
            let m = naive.get(t.term);
            if (m === undefined) naive.set(t.term, (m = new Map()));
            let p = m.get(ord);
            if (p === undefined) m.set(ord, (p = []));
            p.push(t.pos);
          }
        });
        const bytes = buildFieldIndex(docs, withPositions);
        const r = FieldIndexReader.open(new MemorySource(bytes));
        expect(r.hasPositions).toBe(withPositions);
        r.verify();
        // Without positions the file is the one with positions minus every positions part (and version 2).
        if (!withPositions) {
          const full = buildFieldIndex(docs, true);
          const totalTokens = docs.reduce((n, d) => n + (d?.length ?? 0), 0);
          expect(full.length - bytes.length).toBeGreaterThanOrEqual(totalTokens);
        }
        expect(r.numDocs).toBe(docs.length);
        expect(r.docCount).toBe(docCount);
        expect(r.sumDocLen).toBe(sum);
        docs.forEach((d, ord) => expect(r.docLen(ord)).toBe(d?.length ?? 0));
        expect([...r.terms()]).toEqual([...naive.keys()].sort(utf8Compare));
        for (const [term, m] of naive) {
          const p = r.postings(term);
          expect(p).not.toBeNull();
          const ords = [...m.keys()].sort((x, y) => x - y);
          expect([...p!.ords]).toEqual(ords);
          expect([...p!.tfs]).toEqual(ords.map((o) => m.get(o)!.length));
          if (withPositions) ords.forEach((o, i) => expect([...p!.positions(i)]).toEqual(m.get(o)!.sort((x, y) => x - y)));
          else if (ords.length > 0) expect(() => p!.positions(0)).toThrow(/without them/);
          expect(r.docFreq(term)).toBe(ords.length);
        }
        for (const term of VOCAB) if (!naive.has(term)) expect(r.postings(term)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});
