import { describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import type { Token } from '../../../src/index/fulltext/analyzer.js';
import { AUTO_POSITIONS_MIN_TOKENS, FieldIndexReader, buildFieldIndex } from '../../../src/index/fulltext/postings.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource, MemorySource, type ByteSource } from '../../../src/util/bytes.js';

const toks = (s: string, base = 0): Token[] =>
  s.split(' ').flatMap((term, i) => (term === '_' ? [] : [{ term, pos: base + i }]));

/** Records every read made through it. */
class SpySource implements ByteSource {
  reads: Array<[number, number]> = [];
  constructor(private readonly inner: ByteSource) {}
  get length(): number {
    return this.inner.length;
  }
  read(offset: number, length: number): Uint8Array {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }
  slice(offset: number, length: number): ByteSource {
    return this.inner.slice(offset, length);
  }
}

/** Reads everything a query could read; checks the invariants a consumer relies on (plain checks: fast). */
function readAll(r: FieldIndexReader): number {
  const fail = (msg: string): never => {
    throw new Error(`invariant broken: ${msg}`);
  };
  let n = 0;
  for (let ord = 0; ord < r.numDocs; ord++) n += r.docLen(ord);
  for (const term of r.terms()) {
    const p = r.postings(term);
    if (p === null) continue;
    if (p.ords.length !== p.tfs.length || p.ords.length === 0) fail('lengths');
    for (let i = 0; i < p.ords.length; i++) {
      if (p.ords[i]! >= r.numDocs) fail('ordinal out of range');
      if (i > 0 && p.ords[i]! <= p.ords[i - 1]!) fail('ordinals not ascending');
      if (p.tfs[i]! > r.docLen(p.ords[i]!)) fail('tf > docLen');
      const pos = p.positions(i);
      if (pos.length !== p.tfs[i]) fail('positions length');
      for (let k = 1; k < pos.length; k++) if (pos[k]! < pos[k - 1]!) fail('positions not ascending');
      n += pos.length;
    }
  }
  return n;
}

// The tests below this line run on both writers: versions 1/2 (legacy) and 3. Layout-specific checks of
// version 3 are in postings-v3.test.ts.
for (const legacy of [true, false]) describe(`field index (${legacy ? 'versions 1 and 2' : 'version 3'})`, () => {
  const build = (d: ReadonlyArray<Token[] | null>, positions: boolean | 'auto' = true): Uint8Array => buildFieldIndex(d, positions, { legacy });
  const docs: Array<Token[] | null> = [
    toks('the quick brown fox'),
    null,
    toks('quick quick _ fox jumps'),
    [],
    toks('é 日本 𝄞 fox'),
  ];

  it('round-trips a small index', () => {
    const r = FieldIndexReader.open(new MemorySource(build(docs)));
    expect(r.numDocs).toBe(5);
    expect(r.docCount).toBe(3);
    expect(r.sumDocLen).toBe(4 + 4 + 4);
    expect([0, 1, 2, 3, 4].map((o) => r.docLen(o))).toEqual([4, 0, 4, 0, 4]);
    expect(r.docLen(99)).toBe(0);
    expect([...r.terms()]).toEqual(['brown', 'fox', 'jumps', 'quick', 'the', 'é', '日本', '𝄞']);
    const fox = r.postings('fox')!;
    expect([...fox.ords]).toEqual([0, 2, 4]);
    expect([...fox.tfs]).toEqual([1, 1, 1]);
    expect([...fox.positions(1)]).toEqual([3]);
    const quick = r.postings('quick')!;
    expect([...quick.ords]).toEqual([0, 2]);
    expect([...quick.tfs]).toEqual([1, 2]);
    expect([...quick.positions(1)]).toEqual([0, 1]);
    expect([...r.postings('𝄞')!.positions(0)]).toEqual([2]);
    expect(r.postings('cat')).toBeNull();
    expect(r.postings('')).toBeNull();
    expect(r.postings('foxes')).toBeNull();
    expect(r.docFreq('fox')).toBe(3);
    expect(r.docFreq('zzz')).toBe(0);
    expect(() => fox.positions(3)).toThrow(RangeError);
  });

  it('reads through a FileSource slice at an unaligned file offset', () => {
    const bytes = build(docs);
    const dir = mkdtempSync(join(tmpdir(), 'elacsym-ft-'));
    try {
      const path = join(dir, 'seg');
      const file = new Uint8Array(bytes.length + 7);
      file.set(bytes, 3);
      writeFileSync(path, file);
      const fsrc = FileSource.open(path);
      try {
        const r = FieldIndexReader.open(fsrc.slice(3, bytes.length));
        r.verify();
        const m = FieldIndexReader.open(new MemorySource(bytes));
        expect([...r.terms()]).toEqual([...m.terms()]);
        for (const term of m.terms()) {
          const a = r.postings(term)!;
          const b = m.postings(term)!;
          expect([...a.ords]).toEqual([...b.ords]);
          expect([...a.tfs]).toEqual([...b.tfs]);
          for (let i = 0; i < a.ords.length; i++) expect([...a.positions(i)]).toEqual([...b.positions(i)]);
        }
        expect([...r.docLens]).toEqual([4, 0, 4, 0, 4]);
      } finally {
        fsrc.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('handles empty indexes', () => {
    for (const d of [[], [null, null], [[], null]] as Array<Array<Token[] | null>>) {
      const r = FieldIndexReader.open(new MemorySource(build(d)));
      expect(r.numDocs).toBe(d.length);
      expect(r.docCount).toBe(0);
      expect(r.sumDocLen).toBe(0);
      expect([...r.terms()]).toEqual([]);
      expect(r.postings('x')).toBeNull();
    }
  });

  it('sorts unsorted input positions and keeps large positions', () => {
    const bytes = build([[{ term: 'a', pos: 4_000_000_000 }, { term: 'a', pos: 7 }, { term: 'b', pos: 0 }]]);
    const r = FieldIndexReader.open(new MemorySource(bytes));
    expect([...r.postings('a')!.positions(0)]).toEqual([7, 4_000_000_000]);
  });

  it.runIf(legacy)('is 4-byte aligned little-endian with the documented header', () => {
    const bytes = build(docs);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('ELFT');
    expect(dv.getUint32(4, true)).toBe(1);
    expect(dv.getUint32(8, true)).toBe(5);
    expect(dv.getUint32(12, true)).toBe(3);
    expect(dv.getFloat64(16, true)).toBe(12);
    expect(dv.getUint32(24, true)).toBe(8);
    expect(dv.getUint32(40, true)).toBe(4); // docLens[0]
  });

  it.runIf(legacy)('without positions: version 2, the no-positions flag, no positions part, positions refused', () => {
    const bytes = build(docs, false);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(dv.getUint32(4, true)).toBe(2);
    expect(dv.getUint32(36, true)).toBe(1);
    const r = FieldIndexReader.open(new MemorySource(bytes));
    expect(r.hasPositions).toBe(false);
    r.verify();
    const withPos = FieldIndexReader.open(new MemorySource(build(docs)));
    for (const t of withPos.terms()) {
      expect([...r.postings(t)!.ords]).toEqual([...withPos.postings(t)!.ords]);
      expect([...r.postings(t)!.tfs]).toEqual([...withPos.postings(t)!.tfs]);
    }
    expect(() => r.postings('quick')!.positionData()).toThrow(/without them/);
    // The flag and the version must agree; a positions part in a version 2 file is damage.
    const flip = (off: number, v: number): Uint8Array => {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(off, v, true);
      return b;
    };
    expect(() => FieldIndexReader.open(new MemorySource(flip(36, 0)))).toThrow(/bad flags/);
    expect(() => FieldIndexReader.open(new MemorySource(flip(36, 3)))).toThrow(/bad flags/);
    const v1 = build(docs);
    const b = v1.slice();
    new DataView(b.buffer).setUint32(4, 2, true);
    new DataView(b.buffer).setUint32(36, 1, true);
    const damaged = FieldIndexReader.open(new MemorySource(b));
    expect(() => damaged.verify()).toThrow(/bad positions size/);
  });

  it('"auto" keeps positions when the documents with tokens average more than AUTO_POSITIONS_MIN_TOKENS', () => {
    const doc = (n: number): Token[] => Array.from({ length: n }, (_, i) => ({ term: `w${i % 5}`, pos: i }));
    const at = (lens: number[]) => FieldIndexReader.open(new MemorySource(build(lens.map((n) => (n === 0 ? null : doc(n))), 'auto'))).hasPositions;
    const t = AUTO_POSITIONS_MIN_TOKENS;
    expect(at([t, t])).toBe(false);
    expect(at([t, t + 2])).toBe(true);
    // Absent and empty values do not count towards the average.
    expect(at([t + 1, 0, 0, 0])).toBe(true);
    expect(at([])).toBe(false);
  });

  it('does not read postings on open, and positions only when asked', () => {
    const big: Token[][] = [];
    for (let d = 0; d < 500; d++) big.push(toks(`alpha beta w${d % 37} gamma alpha w${d % 11}`));
    const bytes = build(big);
    const spy = new SpySource(new MemorySource(bytes));
    const r = FieldIndexReader.open(spy);
    const dictEnd = Math.max(...spy.reads.map(([o, l]) => o + l));
    expect(spy.reads.length).toBeLessThanOrEqual(2);
    const postingsLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(legacy ? 32 : 40, true);
    expect(dictEnd).toBe(bytes.length - postingsLen);
    spy.reads = [];
    const p = r.postings('alpha')!;
    expect(p.ords.length).toBe(500);
    expect(spy.reads.length).toBe(1);
    const docsPart = spy.reads[0]![1];
    expect(docsPart).toBeLessThan(500 * 2 + 1); // varint pairs only, no positions
    p.positions(3);
    expect(spy.reads.length).toBe(2);
    p.positions(4);
    expect(spy.reads.length).toBe(2);
    expect([...p.positions(499)]).toEqual([0, 4]);
    // A second lookup of the same term is served from the cache.
    r.postings('alpha');
    expect(spy.reads.length).toBe(2);
  });

  it.runIf(legacy)('detects corruption: bad magic, version, truncation, header sizes', () => {
    const good = build(docs);
    const expectCorrupt = (bytes: Uint8Array): void => {
      let err: unknown;
      try {
        const r = FieldIndexReader.open(new MemorySource(bytes));
        readAll(r);
        r.verify();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ElacsymError);
      expect((err as ElacsymError).code).toBe('CORRUPT_SEGMENT');
    };
    const mutate = (f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    expectCorrupt(new Uint8Array(0));
    expectCorrupt(good.subarray(0, 39));
    expectCorrupt(good.subarray(0, good.length - 1));
    expectCorrupt(mutate((b) => (b[0] = 0x46)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(4, 2, true)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(8, 0xffffffff, true)));
    // Caught by verify() (open only does O(1) checks).
    expectCorrupt(mutate((_, dv) => dv.setUint32(12, 4, true)));
    expectCorrupt(mutate((_, dv) => dv.setFloat64(16, 13, true)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(40, 5, true)));
    // Terms out of order: "brown" -> "frown" sorts after "fox".
    const brown = good.findIndex((_, i) => String.fromCharCode(...good.subarray(i, i + 5)) === 'brown');
    expectCorrupt(mutate((b) => (b[brown] = 'f'.charCodeAt(0))));
    // Dictionary entry pointing outside the postings blob.
    const termMetaOff = 40 + 5 * 4 + 9 * 4;
    expectCorrupt(mutate((_, dv) => dv.setUint32(termMetaOff + 4, 0x7fffffff, true)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(termMetaOff, 0, true)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(24, 0x40000000, true)));
    expectCorrupt(mutate((_, dv) => dv.setUint32(32, 0xfffffff0, true)));
    // Bigger than described.
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expectCorrupt(longer);
  });

  it('never hangs or reads out of bounds on random damage', () => {
    const base: Token[][] = [];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let d = 0; d < 60; d++) {
      const words: string[] = [];
      const len = rnd(12);
      for (let i = 0; i < len; i++) words.push(`t${rnd(20)}`);
      base.push(words.map((term, pos) => ({ term, pos: pos * (1 + rnd(300)) })));
    }
    const good = build(base);
    const goodReader = FieldIndexReader.open(new MemorySource(good));
    goodReader.verify();
    const expected = readAll(goodReader);
    let corrupt = 0;
    let fine = 0;
    for (let trial = 0; trial < 3000; trial++) {
      let b = good.slice();
      const kind = rnd(3);
      if (kind === 0) b = b.slice(0, rnd(b.length));
      else {
        const flips = 1 + rnd(kind === 1 ? 1 : 8);
        for (let f = 0; f < flips; f++) {
          const i = rnd(b.length);
          b[i] = kind === 1 ? b[i]! ^ (1 << rnd(8)) : rnd(256);
        }
      }
      try {
        const r = FieldIndexReader.open(new MemorySource(b));
        const n = readAll(r);
        if (trial % 2 === 0) r.verify();
        expect(n).toBeGreaterThanOrEqual(0);
        fine++;
      } catch (e) {
        if (!(e instanceof ElacsymError) || e.code !== 'CORRUPT_SEGMENT') throw e;
        corrupt++;
      }
    }
    expect(expected).toBeGreaterThan(0);
    expect(corrupt).toBeGreaterThan(1000);
    expect(fine).toBeGreaterThan(0);
  });
});
