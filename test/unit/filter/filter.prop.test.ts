import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileFilter, countMatches, evaluateColumns, type Column } from '../../../src/index/filter/evaluate.js';
import { filterFields, parseFilter, type Filter, type Op, type Scalar } from '../../../src/model/filter.js';
import type { AttrValue, Attributes } from '../../../src/model/types.js';

// ---------------------------------------------------------------------------------------------------
// Reference: a deliberately simple, direct transcription of the semantics table in evaluate.ts.
// ---------------------------------------------------------------------------------------------------

function naiveEval(f: Filter, doc: Attributes): boolean {
  if (f.type === 'not') return !naiveEval(f.condition, doc);
  if (f.type !== 'cond') {
    return f.type === 'and' ? f.conditions.every((c) => naiveEval(c, doc)) : f.conditions.some((c) => naiveEval(c, doc));
  }

  const x: AttrValue | undefined = Object.hasOwn(doc, f.field) ? doc[f.field] : undefined;
  const missing = x === undefined || x === null;
  const v = f.value;
  const list: Scalar[] = Array.isArray(v) ? v : [v];

  if (f.op === 'exists') return v === true ? !missing : missing;
  if (f.op === 'ne') return !naiveEval({ ...f, op: 'eq' }, doc);
  if (f.op === 'nin') return !naiveEval({ ...f, op: 'in' }, doc);
  if (missing) return false;

  if (Array.isArray(x)) {
    switch (f.op) {
      case 'eq':
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        return false;
      case 'in':
      case 'containsany':
        return x.some((e) => list.some((l) => l === e));
      case 'contains':
        return x.some((e) => e === v);
      case 'containsall':
        return list.every((l) => x.some((e) => e === l));
      case 'prefix':
        return x.some((e) => e.startsWith(v as string));
    }
  }

  switch (f.op) {
    case 'eq':
      return x === v;
    case 'in':
      return list.some((l) => l === x);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const bothNumbers = typeof x === 'number' && typeof v === 'number';
      const bothStrings = typeof x === 'string' && typeof v === 'string';
      if (!bothNumbers && !bothStrings) return false;
      const a = x as number | string;
      const b = v as number | string;
      if (f.op === 'gt') return a > b;
      if (f.op === 'gte') return a >= b;
      if (f.op === 'lt') return a < b;
      return a <= b;
    }
    case 'contains':
      return typeof x === 'string' && typeof v === 'string' && x.indexOf(v) !== -1;
    case 'containsany':
      return typeof x === 'string' && list.some((l) => typeof l === 'string' && x.indexOf(l) !== -1);
    case 'containsall':
      return typeof x === 'string' && list.every((l) => typeof l === 'string' && x.indexOf(l) !== -1);
    case 'prefix':
      return typeof x === 'string' && x.slice(0, (v as string).length) === v;
  }
  throw new Error(`unreachable: ${f.op}`);
}

// ---------------------------------------------------------------------------------------------------
// Generators: a few fields, small value domains so that equality/substring/prefix hits are common.
// ---------------------------------------------------------------------------------------------------

const FIELDS = ['a', 'b', 'c', 'd'] as const;
const smallString = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '1'), maxLength: 3 });
// Integers and halves: 1 and 1.0 are the same JS number; 1.5 vs 2 exercises int/float ordering.
const smallNumber = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -6, max: 6 }).map((i) => i / 2));
const scalar: fc.Arbitrary<Scalar> = fc.oneof(smallString, smallNumber, fc.boolean());

const attrValue: fc.Arbitrary<AttrValue> = fc.oneof(
  fc.constant(null),
  smallString,
  smallNumber,
  fc.boolean(),
  fc.array(smallString, { maxLength: 3 }),
);
const doc: fc.Arbitrary<Attributes> = fc.record(
  { a: attrValue, b: attrValue, c: attrValue, d: attrValue },
  { requiredKeys: [] },
) as fc.Arbitrary<Attributes>;

const scalarList = fc.array(scalar, { minLength: 1, maxLength: 3 });
// Strings plus the number 1, whose string form "1" occurs in generated strings: catches coercion bugs.
const mixedList = fc.array(fc.oneof(smallString, fc.constant(1)), { minLength: 1, maxLength: 3 });
const valueFor: Record<Op, fc.Arbitrary<Scalar | Scalar[]>> = {
  eq: scalar,
  ne: scalar,
  gt: fc.oneof(smallNumber, smallString),
  gte: fc.oneof(smallNumber, smallString),
  lt: fc.oneof(smallNumber, smallString),
  lte: fc.oneof(smallNumber, smallString),
  in: scalarList,
  nin: scalarList,
  contains: fc.oneof(smallString, fc.constant(1), scalar),
  containsany: fc.oneof(fc.array(smallString, { minLength: 1, maxLength: 3 }), mixedList, scalarList),
  containsall: fc.oneof(fc.array(smallString, { minLength: 1, maxLength: 3 }), mixedList, scalarList),
  prefix: smallString,
  exists: fc.boolean(),
};
const OPS = Object.keys(valueFor) as Op[];

const condition: fc.Arbitrary<Filter> = fc
  .tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...OPS))
  .chain(([field, op]) => valueFor[op].map((value): Filter => ({ type: 'cond', field, op, value })));

const { filter } = fc.letrec<{ filter: Filter }>((tie) => ({
  filter: fc.oneof(
    { maxDepth: 5, depthSize: 'small', withCrossShrink: true },
    condition,
    fc.record({
      type: fc.constantFrom('and' as const, 'or' as const),
      conditions: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({ type: fc.constant('not' as const), condition: tie('filter') }),
  ),
}));

function columnsOf(docs: Attributes[]): (field: string) => Column {
  return (field) => {
    const col: (AttrValue | undefined)[] = docs.map((d) => (Object.hasOwn(d, field) ? d[field] : undefined));
    // Drop trailing absent values: short columns must read as missing past their end.
    while (col.length > 0 && col[col.length - 1] === undefined) col.pop();
    return col;
  };
}

describe('filter properties', () => {
  it('compileFilter agrees with the naive reference, and evaluateColumns with compileFilter', () => {
    fc.assert(
      fc.property(filter, fc.array(doc, { minLength: 0, maxLength: 25 }), (f, docs) => {
        const row = compileFilter(f);
        const expected = docs.map((d) => naiveEval(f, d));
        expect(docs.map((d) => row(d))).toEqual(expected);
        const mask = evaluateColumns(f, columnsOf(docs), docs.length);
        expect(Array.from(mask, (b) => b === 1)).toEqual(expected);
        expect(countMatches(mask)).toBe(expected.filter(Boolean).length);
      }),
      { numRuns: 1500 },
    );
  });

  it('evaluateColumns overwrites a dirty out buffer completely', () => {
    fc.assert(
      fc.property(filter, fc.array(doc, { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 255 }), (f, docs, junk) => {
        const out = new Uint8Array(docs.length + 3).fill(junk);
        const mask = evaluateColumns(f, columnsOf(docs), docs.length, out);
        expect(Array.from(mask)).toEqual(docs.map((d) => (naiveEval(f, d) ? 1 : 0)));
      }),
      { numRuns: 300 },
    );
  });

  it('parseFilter round-trips generated filters through JSON', () => {
    fc.assert(
      fc.property(filter, (f) => {
        expect(parseFilter(JSON.parse(JSON.stringify(f)))).toEqual(f);
      }),
      { numRuns: 1000 },
    );
  });

  it('filterFields names exactly the fields of the conditions', () => {
    const walk = (f: Filter, acc: Set<string>): Set<string> => {
      if (f.type === 'cond') acc.add(f.field);
      else if (f.type === 'not') walk(f.condition, acc);
      else for (const c of f.conditions) walk(c, acc);
      return acc;
    };
    fc.assert(
      fc.property(filter, (f) => {
        const names = filterFields(f);
        expect(new Set(names).size).toBe(names.length);
        expect(new Set(names)).toEqual(walk(f, new Set()));
      }),
    );
  });
});
