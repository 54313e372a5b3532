/**
 * Typed attribute columns (src/index/filter/columns.ts): every value of every kind survives encoding
 * exactly as the release-1 JSON path returned it, whole (TypedColumn) and by range (ColumnReader); rebuilt
 * attributes deep-equal the written ones, key order included; filters give the same rows on typed
 * columns as on the JSON columns of older files; structural damage is CORRUPT_SEGMENT.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttributeShapes, buildAttributes, ColumnReader, encodeAttributeShapes, encodeColumn, isTypedColumn, TypedColumn } from '../../../src/index/filter/columns.js';
import { compileFilter, type Column, evaluateColumns } from '../../../src/index/filter/evaluate.js';
import type { Filter, Op, Scalar } from '../../../src/model/filter.js';
import type { AttrValue, Attributes } from '../../../src/model/types.js';
import { ElacsymError } from '../../../src/errors.js';
import { MemorySource } from '../../../src/util/bytes.js';

/** What the release-1 path (JSON column, JSON docs section) gave back for a value: null/absent -> undefined. */
const viaJson = (v: AttrValue | undefined): AttrValue | undefined => (v === undefined || v === null ? undefined : (JSON.parse(JSON.stringify(v)) as AttrValue));

/** Strings of any UTF-16 code units (lone surrogates included), plus the awkward ones by name. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: fc.constantFrom('a', 'b', 'é', '😀', '\ud800', '\udc00', '\u0000'), maxLength: 4 }),
  fc.constantFrom('', '__proto__', 'constructor', 'toString', 'Ünïcödé', '日本語'),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(-0, 0, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, 1e-300, 1.7976931348623157e308),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const kinds: fc.Arbitrary<AttrValue>[] = [anyString, anyNumber, fc.boolean(), fc.array(anyString, { maxLength: 4 })];
const missing = fc.constantFrom(null, undefined);
/** A column: the values of one kind, some missing. */
const columnValues = fc.constantFrom(0, 1, 2, 3).chain((k) => fc.array(fc.oneof({ weight: 3, arbitrary: kinds[k]! }, { weight: 1, arbitrary: missing }), { maxLength: 40 }));

function decodeAll(bytes: Uint8Array): { whole: (AttrValue | undefined)[]; ranged: (AttrValue | undefined)[] } {
  const t = new TypedColumn(bytes, 'test');
  const r = new ColumnReader(new MemorySource(bytes), 'test');
  return { whole: Array.from({ length: t.length }, (_, i) => t.get(i)), ranged: Array.from({ length: r.length }, (_, i) => r.get(i)) };
}

function corruptCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof ElacsymError) return e.code;
    throw e;
  }
}

describe('typed columns', () => {
  it('round-trip every kind exactly as the JSON path did, whole and by range', () => {
    fc.assert(
      fc.property(columnValues, (values) => {
        const bytes = encodeColumn(values);
        expect(bytes).not.toBeNull();
        expect(isTypedColumn(bytes!)).toBe(true);
        const { whole, ranged } = decodeAll(bytes!);
        const expected = values.map(viaJson);
        expect(whole).toEqual(expected);
        expect(ranged).toEqual(expected);
        // -0 comes back as 0, like JSON: no rebuilt document differs from an old one
        for (const v of whole) if (typeof v === 'number') expect(Object.is(v, -0)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('store integers in the narrowest width from their smallest value, and safe integers beyond 32 bits exactly', () => {
    const widths = ([[1, -5, null, 250], [2000, 2000 + 65535], [-(2 ** 31), 2 ** 31 - 1]] as const).map((v) => {
      const bytes = encodeColumn(v)!;
      expect(bytes[5]).toBe(2); // integer
      expect(decodeAll(bytes).ranged).toEqual(v.map(viaJson));
      expect(decodeAll(bytes).whole).toEqual(v.map(viaJson));
      return bytes[6];
    });
    expect(widths).toEqual([1, 2, 4]);
    const big = encodeColumn([1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 31])!;
    expect(big[5]).toBe(1); // f64
    expect(decodeAll(big).ranged).toEqual([1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 31]);
  });

  it('store decimals (prices) as scaled integers when that gives every double back exactly, else as f64', () => {
    const prices = [0, 9.99, 1234.5, 0.01, null, 99999.99, -3.25];
    const bytes = encodeColumn(prices)!;
    expect([bytes[5], bytes[7]]).toEqual([2, 2]); // integer kind, scale 10^2
    expect(decodeAll(bytes).whole).toEqual(prices.map(viaJson));
    expect(decodeAll(bytes).ranged).toEqual(prices.map(viaJson));
    for (const odd of [[0.1 + 0.2, 1], [1e-7, 2], [2 ** 40 + 0.5, 1]]) {
      const b = encodeColumn(odd)!;
      expect(b[5]).toBe(1); // f64
      expect(decodeAll(b).ranged).toEqual(odd);
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(10 ** 8), max: 10 ** 8 }).map((c) => c / 100), { minLength: 1 }), (xs) => {
        const b = encodeColumn(xs)!;
        expect(b[5]).toBe(2);
        expect(decodeAll(b).whole).toEqual(xs.map(viaJson));
        expect(decodeAll(b).ranged).toEqual(xs.map(viaJson));
      }),
    );
  });

  it('refuse values of more than one kind (the builder keeps the JSON form then)', () => {
    expect(encodeColumn(['a', 1])).toBeNull();
    expect(encodeColumn([true, ['a']])).toBeNull();
  });

  it('code dictionaries in the narrowest width: 1 byte up to 256 values, 2 up to 65536', () => {
    expect(encodeColumn(Array.from({ length: 256 }, (_, i) => `v${i}`))![6]).toBe(1);
    expect(encodeColumn(Array.from({ length: 257 }, (_, i) => `v${i}`))![6]).toBe(2);
    const many = Array.from({ length: 70_000 }, (_, i) => [`w${i}`]);
    const bytes = encodeColumn(many)!;
    expect(bytes[6]).toBe(4);
    expect(new ColumnReader(new MemorySource(bytes), 't').get(69_999)).toEqual(['w69999']);
  });

  it('a truncated or damaged column is CORRUPT_SEGMENT, never a crash', () => {
    fc.assert(
      fc.property(columnValues, fc.nat(), fc.integer({ min: 1, max: 255 }), (values, pos, x) => {
        const bytes = encodeColumn(values)!;
        // truncation is always detected
        expect(corruptCode(() => new TypedColumn(bytes.subarray(0, bytes.length - 1), 't'))).toBe('CORRUPT_SEGMENT');
        // a flipped byte anywhere: decoded, or refused with CORRUPT_SEGMENT, never another kind of failure
        // (the section's block checksums are what catch a flip; see test/cli/range-read-integrity.test.ts)
        const b = bytes.slice();
        const at = pos % b.length;
        b[at] = b[at]! ^ x;
        const code = corruptCode(() => decodeAll(b));
        if (code !== null) expect(code).toBe('CORRUPT_SEGMENT');
        // the magic, the layout version and the kind are always checked
        if (at < 5) expect(code).toBe('CORRUPT_SEGMENT');
      }),
      { numRuns: 300 },
    );
  });
});

// Attributes as a validated import writes them: one kind per name, any key order, explicit nulls.
const NAMES = ['__proto__', 'constructor', 'a', 'é', ''] as const;
const docsArb = fc
  .tuple(...NAMES.map(() => fc.constantFrom(0, 1, 2, 3)))
  .chain((ks) =>
    fc.array(
      fc.shuffledSubarray(
        NAMES.map((n, j) => [n, j] as const),
        { minLength: 0 },
      ).chain((entries) => fc.tuple(...entries.map(([n, j]) => fc.oneof({ weight: 4, arbitrary: kinds[ks[j]!]! }, { weight: 1, arbitrary: fc.constant(null) }).map((v) => [n, v] as const)))),
      { maxLength: 30 },
    ),
  )
  .map((docs) =>
    docs.map((entries) => {
      const o: Attributes = {};
      for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  );

function writeSegmentColumns(docs: Attributes[]): { shapes: Uint8Array; columns: Map<string, Uint8Array> } {
  const names = new Set<string>();
  for (const d of docs) for (const k of Object.keys(d)) names.add(k);
  const columns = new Map<string, Uint8Array>();
  for (const n of names) columns.set(n, encodeColumn(docs.map((d) => (Object.hasOwn(d, n) ? d[n] : undefined)))!);
  return { shapes: encodeAttributeShapes(docs), columns };
}

describe('rebuilt attributes', () => {
  it('need no per-document codes when every document has the same keys in the same order', () => {
    const one = encodeAttributeShapes([{ a: 1, b: null }, { a: 2, b: 'x' }]);
    expect(one[5]).toBe(0);
    expect(new AttributeShapes(new MemorySource(one), 't').keysOf(1)).toEqual(['a', 'b']);
    const two = encodeAttributeShapes([{ a: 1, b: null }, { b: 'x', a: 2 }]);
    expect(two[5]).toBe(1);
    expect(new AttributeShapes(new MemorySource(two), 't').keysOf(1)).toEqual(['b', 'a']);
  });

  it('deep-equal what the JSON docs section returned, key order and "__proto__" included', () => {
    fc.assert(
      fc.property(docsArb, (docs) => {
        const { shapes, columns } = writeSegmentColumns(docs);
        const s = new AttributeShapes(new MemorySource(shapes), 't');
        expect(s.length).toBe(docs.length);
        const readers = new Map([...columns].map(([n, b]) => [n, new ColumnReader(new MemorySource(b), n)]));
        docs.forEach((d, i) => {
          const old = JSON.parse(JSON.stringify(d)) as Attributes;
          const rebuilt = buildAttributes(s.keysOf(i), (n) => readers.get(n)!.get(i));
          expect(Object.keys(rebuilt)).toEqual(Object.keys(old));
          expect(rebuilt).toEqual(old);
          expect(Object.getPrototypeOf(rebuilt)).toBe(Object.prototype);
          expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(old));
        });
      }),
      { numRuns: 300 },
    );
  });
});

// Filters over the four kinds (field = kind), values from small domains so hits are common.
const FIELDS = ['s', 'n', 'b', 'arr'] as const;
const smallString = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '1'), maxLength: 3 });
const smallNumber = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -6, max: 6 }).map((i) => i / 2), fc.constant(-0));
const scalar: fc.Arbitrary<Scalar> = fc.oneof(smallString, smallNumber, fc.boolean());
const scalarList = fc.array(scalar, { minLength: 1, maxLength: 3 });
const valueFor: Record<Op, fc.Arbitrary<Scalar | Scalar[]>> = {
  eq: scalar,
  ne: scalar,
  gt: fc.oneof(smallNumber, smallString),
  gte: fc.oneof(smallNumber, smallString),
  lt: fc.oneof(smallNumber, smallString),
  lte: fc.oneof(smallNumber, smallString),
  in: scalarList,
  nin: scalarList,
  contains: scalar,
  containsany: scalarList,
  containsall: fc.oneof(fc.array(smallString, { minLength: 1, maxLength: 3 }), scalarList),
  prefix: smallString,
  exists: fc.boolean(),
};
const condition: fc.Arbitrary<Filter> = fc
  .tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...(Object.keys(valueFor) as Op[])))
  .chain(([field, op]) => valueFor[op].map((value): Filter => ({ type: 'cond', field, op, value })));
const { filter } = fc.letrec<{ filter: Filter }>((tie) => ({
  filter: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    condition,
    fc.record({ type: fc.constantFrom('and' as const, 'or' as const), conditions: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant('not' as const), condition: tie('filter') }),
  ),
}));
const typedDoc: fc.Arbitrary<Attributes> = fc.record(
  {
    s: fc.oneof(smallString, fc.constant(null)),
    n: fc.oneof(smallNumber, fc.constant(null)),
    b: fc.oneof(fc.boolean(), fc.constant(null)),
    arr: fc.oneof(fc.array(smallString, { maxLength: 3 }), fc.constant(null)),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<Attributes>;

describe('filters on typed columns', () => {
  it('select exactly the rows they select on the JSON columns of older files (and row by row)', () => {
    fc.assert(
      fc.property(filter, fc.array(typedDoc, { maxLength: 30 }), (f, docs) => {
        const values = (field: string) => docs.map((d) => (Object.hasOwn(d, field) ? d[field] : undefined));
        // the release-1 column: JSON of the values with null for missing, as the old builder wrote it
        const jsonCol = (field: string): Column => JSON.parse(JSON.stringify(values(field).map((v) => v ?? null))) as Column;
        const typedCol = (field: string): Column => new TypedColumn(encodeColumn(values(field))!, field);
        const old = evaluateColumns(f, jsonCol, docs.length);
        const typed = evaluateColumns(f, typedCol, docs.length);
        expect(Array.from(typed)).toEqual(Array.from(old));
        const row = compileFilter(f);
        expect(Array.from(typed, (b) => b === 1)).toEqual(docs.map((d) => row(d)));
      }),
      { numRuns: 1500 },
    );
  });
});
