import { describe, expect, it } from 'vitest';
import { compileFilter, countMatches, evaluateColumns, type Column } from '../../../src/index/filter/evaluate.js';
import { parseFilter, type Filter } from '../../../src/model/filter.js';
import type { Attributes } from '../../../src/model/types.js';
import { isElacsymError } from '../../../src/errors.js';

function f(json: unknown): Filter {
  const g = parseFilter(json);
  if (g === null) throw new Error('unexpected null filter');
  return g;
}

/** Evaluates one document both row-wise and columnar and insists they agree. */
function evalDoc(filter: Filter, attrs: Attributes): boolean {
  const row = compileFilter(filter)(attrs);
  const mask = evaluateColumns(filter, (field) => [Object.hasOwn(attrs, field) ? attrs[field] : undefined], 1);
  expect(mask[0], 'columnar result must equal row result').toBe(row ? 1 : 0);
  return row;
}

const cond = (field: string, op: string, value: unknown): Filter => f({ field, op, value });

type Case = [op: string, value: unknown, doc: Attributes, expected: boolean, why: string];

// x is always attribute "x"; {} = absent, {x:null} = null.
const cases: Case[] = [
  // eq
  ['eq', 'tech', { x: 'tech' }, true, 'string equal'],
  ['eq', 'tech', { x: 'Tech' }, false, 'case-sensitive'],
  ['eq', 'tech', {}, false, 'absent'],
  ['eq', 'tech', { x: null }, false, 'null'],
  ['eq', 'tech', { x: ['tech'] }, false, 'array never equals scalar'],
  ['eq', 1, { x: '1' }, false, 'number vs string, no coercion'],
  ['eq', '1', { x: 1 }, false, 'string vs number, no coercion'],
  ['eq', 1, { x: 1.0 }, true, 'integer vs float'],
  ['eq', 1.5, { x: 1.5 }, true, 'float'],
  ['eq', true, { x: true }, true, 'boolean'],
  ['eq', true, { x: 1 }, false, 'boolean vs number'],
  ['eq', false, { x: 0 }, false, 'boolean false vs 0'],
  // ne
  ['ne', 'tech', { x: 'tech' }, false, 'equal'],
  ['ne', 'tech', { x: 'news' }, true, 'different'],
  ['ne', 'tech', {}, true, 'absent -> true'],
  ['ne', 'tech', { x: null }, true, 'null -> true'],
  ['ne', 'tech', { x: ['tech'] }, true, 'array never equals'],
  ['ne', 1, { x: '1' }, true, 'number vs string'],
  ['ne', 1, { x: 1.0 }, false, 'integer vs float'],
  // gt/gte/lt/lte
  ['gt', 1.5, { x: 2 }, true, 'int > float'],
  ['gt', 2, { x: 2 }, false, 'strict'],
  ['gte', 2, { x: 2.0 }, true, 'gte equal'],
  ['lt', 2, { x: 1.5 }, true, 'float < int'],
  ['lte', 1, { x: 1.0 }, true, 'lte equal int/float'],
  ['lt', 0, { x: -0.5 }, true, 'negative'],
  ['gt', 10, { x: '20' }, false, 'string doc vs number filter'],
  ['gt', '10', { x: 20 }, false, 'number doc vs string filter'],
  ['gt', 'b', { x: 'c' }, true, 'lexicographic'],
  ['gt', 'b', { x: 'B' }, false, 'code units: upper < lower'],
  ['lt', 'b', { x: 'abc' }, true, 'lexicographic prefix'],
  ['gt', '10', { x: '9' }, true, 'strings are not numeric'],
  ['gte', 'a', { x: 'a' }, true, 'gte equal string'],
  ['lte', 'a', { x: '' }, true, 'empty string is smallest'],
  ['gt', 0, {}, false, 'absent'],
  ['gt', 0, { x: null }, false, 'null'],
  ['gte', 0, {}, false, 'absent'],
  ['gte', 0, { x: null }, false, 'null'],
  ['lt', 0, {}, false, 'absent'],
  ['lt', 'a', { x: null }, false, 'null'],
  ['lte', 'a', {}, false, 'absent'],
  ['lte', 0, { x: null }, false, 'null'],
  ['lt', 'z', { x: ['a'] }, false, 'array'],
  ['lte', 1, { x: true }, false, 'boolean never ordered'],
  ['gt', 0, { x: true }, false, 'boolean never ordered'],
  // in / nin
  ['in', ['a', 'b'], { x: 'b' }, true, 'scalar in list'],
  ['in', ['a', 'b'], { x: 'c' }, false, 'scalar not in list'],
  ['in', [1, 2], { x: 2.0 }, true, 'numeric'],
  ['in', [1, 2], { x: '1' }, false, 'no coercion'],
  ['in', [true], { x: true }, true, 'boolean'],
  ['in', ['a', 'b'], { x: ['z', 'b'] }, true, 'array: some element listed'],
  ['in', ['a', 'b'], { x: ['z'] }, false, 'array: no element listed'],
  ['in', ['a'], { x: [] }, false, 'empty array'],
  ['in', ['a'], {}, false, 'absent'],
  ['in', ['a'], { x: null }, false, 'null'],
  ['nin', ['a', 'b'], { x: 'b' }, false, 'scalar in list'],
  ['nin', ['a', 'b'], { x: 'c' }, true, 'scalar not in list'],
  ['nin', ['a', 'b'], { x: ['z', 'b'] }, false, 'array: some element listed'],
  ['nin', ['a', 'b'], { x: ['z'] }, true, 'array: no element listed'],
  ['nin', ['a'], { x: [] }, true, 'empty array'],
  ['nin', ['a'], {}, true, 'absent -> true'],
  ['nin', ['a'], { x: null }, true, 'null -> true'],
  ['nin', [1], { x: '1' }, true, 'no coercion'],
  // contains
  ['contains', 'ec', { x: 'tech' }, true, 'string: substring'],
  ['contains', 'EC', { x: 'tech' }, false, 'string: case-sensitive'],
  ['contains', '', { x: 'tech' }, true, 'empty substring'],
  ['contains', 'ec', { x: ['tech'] }, false, 'array: element equality, not substring'],
  ['contains', 'tech', { x: ['news', 'tech'] }, true, 'array: element equals'],
  ['contains', 'tech', { x: [] }, false, 'empty array'],
  ['contains', 'tech', {}, false, 'absent'],
  ['contains', 'tech', { x: null }, false, 'null'],
  ['contains', 1, { x: 1 }, false, 'number attribute'],
  ['contains', 1, { x: '1' }, false, 'non-string value on string'],
  ['contains', 'true', { x: true }, false, 'boolean attribute'],
  // containsany
  ['containsany', ['zz', 'ec'], { x: 'tech' }, true, 'string: some substring'],
  ['containsany', ['zz', 'yy'], { x: 'tech' }, false, 'string: no substring'],
  ['containsany', [1, 'ec'], { x: 'tech' }, true, 'string: non-strings ignored'],
  ['containsany', ['a', 'b'], { x: ['b', 'c'] }, true, 'array: some element listed'],
  ['containsany', ['a', 'b'], { x: ['c'] }, false, 'array: none listed'],
  ['containsany', ['a'], { x: [] }, false, 'empty array'],
  ['containsany', ['a'], {}, false, 'absent'],
  ['containsany', ['a'], { x: null }, false, 'null'],
  ['containsany', [1], { x: 1 }, false, 'number attribute'],
  // containsall
  ['containsall', ['te', 'ch'], { x: 'tech' }, true, 'string: all substrings'],
  ['containsall', ['te', 'zz'], { x: 'tech' }, false, 'string: one missing'],
  ['containsall', ['te', 1], { x: 'tech' }, false, 'string: non-string listed -> false'],
  ['containsall', ['a', 1], { x: 'a1' }, false, 'string: no number-to-string coercion'],
  ['containsany', [1], { x: 'a1' }, false, 'string: no number-to-string coercion'],
  ['contains', 1, { x: 'a1' }, false, 'string: no number-to-string coercion'],
  ['contains', 1, { x: ['1'] }, false, 'array: no number-to-string coercion'],
  ['in', [1], { x: ['1'] }, false, 'array: no coercion'],
  ['containsall', ['a', 'b'], { x: ['b', 'c', 'a'] }, true, 'array: all elements'],
  ['containsall', ['a', 'b'], { x: ['a'] }, false, 'array: one missing'],
  ['containsall', ['a', 'a'], { x: ['a'] }, true, 'array: duplicates in list'],
  ['containsall', ['a'], { x: [] }, false, 'empty array'],
  ['containsall', ['a'], {}, false, 'absent'],
  ['containsall', ['a'], { x: null }, false, 'null'],
  ['containsall', [true], { x: true }, false, 'boolean attribute'],
  // prefix
  ['prefix', 'te', { x: 'tech' }, true, 'startsWith'],
  ['prefix', 'ch', { x: 'tech' }, false, 'not at start'],
  ['prefix', '', { x: '' }, true, 'empty prefix'],
  ['prefix', 'Te', { x: 'tech' }, false, 'case-sensitive'],
  ['prefix', 'la', { x: ['x', 'lang:en'] }, true, 'array: some element starts with'],
  ['prefix', 'la', { x: ['x'] }, false, 'array: none'],
  ['prefix', '1', { x: 12 }, false, 'number attribute'],
  ['prefix', 'a', {}, false, 'absent'],
  ['prefix', 'a', { x: null }, false, 'null'],
  // exists
  ['exists', true, { x: 'a' }, true, 'string present'],
  ['exists', true, { x: 0 }, true, 'zero present'],
  ['exists', true, { x: false }, true, 'false present'],
  ['exists', true, { x: '' }, true, 'empty string present'],
  ['exists', true, { x: [] }, true, 'empty array present'],
  ['exists', true, {}, false, 'absent'],
  ['exists', true, { x: null }, false, 'null'],
  ['exists', false, { x: 'a' }, false, 'present'],
  ['exists', false, { x: [] }, false, 'empty array present'],
  ['exists', false, {}, true, 'absent -> true'],
  ['exists', false, { x: null }, true, 'null -> true'],
];

describe('operators', () => {
  it.each(cases)('%s %j on %j -> %s (%s)', (op, value, doc, expected) => {
    expect(evalDoc(cond('x', op, value), doc)).toBe(expected);
  });

  it('every operator has a case for an absent and for a null attribute', () => {
    for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'containsany', 'containsall', 'prefix', 'exists']) {
      expect(cases.some(([o, , d]) => o === op && !('x' in d)), `${op} absent`).toBe(true);
      expect(cases.some(([o, , d]) => o === op && d['x'] === null), `${op} null`).toBe(true);
    }
  });

  it('ne is not(eq) and nin is not(in) on every case document', () => {
    const docs: Attributes[] = [{}, { x: null }, { x: 'a' }, { x: 1 }, { x: true }, { x: ['a'] }, { x: [] }];
    for (const d of docs) {
      for (const v of ['a', 1, true]) {
        expect(evalDoc(cond('x', 'ne', v), d)).toBe(!evalDoc(cond('x', 'eq', v), d));
        expect(evalDoc(cond('x', 'nin', [v]), d)).toBe(!evalDoc(cond('x', 'in', [v]), d));
      }
    }
  });

  it('treats inherited Object.prototype members as missing', () => {
    for (const field of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(compileFilter(cond(field, 'exists', true))({})).toBe(false);
      expect(compileFilter(cond(field, 'exists', false))({})).toBe(true);
      expect(compileFilter(cond(field, 'ne', 'x'))({})).toBe(true);
      expect(compileFilter(cond(field, 'nin', ['x']))({})).toBe(true);
    }
    const own = JSON.parse('{"__proto__": "p", "constructor": "c"}') as Attributes;
    expect(compileFilter(cond('__proto__', 'eq', 'p'))(own)).toBe(true);
    expect(compileFilter(cond('constructor', 'eq', 'c'))(own)).toBe(true);
  });
});

describe('groups', () => {
  const doc: Attributes = { category: 'tech', price: 12, tags: ['a', 'b'], flag: null };
  const eqTech = { field: 'category', op: 'eq', value: 'tech' };
  const cheap = { field: 'price', op: 'lt', value: 10 };
  const tagA = { field: 'tags', op: 'contains', value: 'a' };

  it('and / or', () => {
    expect(evalDoc(f({ type: 'and', conditions: [eqTech, tagA] }), doc)).toBe(true);
    expect(evalDoc(f({ type: 'and', conditions: [eqTech, cheap] }), doc)).toBe(false);
    expect(evalDoc(f({ type: 'or', conditions: [cheap, tagA] }), doc)).toBe(true);
    expect(evalDoc(f({ type: 'or', conditions: [cheap, { field: 'tags', op: 'contains', value: 'z' }] }), doc)).toBe(false);
    expect(evalDoc(f({ type: 'and', conditions: [eqTech, tagA, cheap] }), doc)).toBe(false);
    expect(evalDoc(f({ type: 'or', conditions: [cheap, cheap, eqTech] }), doc)).toBe(true);
  });

  it('not is plain negation, including on missing fields', () => {
    expect(evalDoc(f({ type: 'not', condition: eqTech }), doc)).toBe(false);
    expect(evalDoc(f({ type: 'not', condition: cheap }), doc)).toBe(true);
    expect(evalDoc(f({ type: 'not', condition: { field: 'missing', op: 'eq', value: 1 } }), doc)).toBe(true);
    expect(evalDoc(f({ type: 'not', condition: { field: 'flag', op: 'eq', value: 1 } }), doc)).toBe(true);
    expect(evalDoc(f({ type: 'not', conditions: [{ type: 'not', condition: eqTech }] }), doc)).toBe(true);
  });

  it('nested and/or/not', () => {
    const nested = {
      type: 'and',
      conditions: [
        { type: 'or', conditions: [cheap, { type: 'not', condition: { field: 'tags', op: 'contains', value: 'z' } }] },
        { type: 'not', condition: { type: 'and', conditions: [eqTech, cheap] } },
        { type: 'or', conditions: [{ type: 'and', conditions: [tagA, { field: 'flag', op: 'exists', value: false }] }, cheap] },
      ],
    };
    expect(evalDoc(f(nested), doc)).toBe(true);
    expect(evalDoc(f(nested), { ...doc, flag: 1 })).toBe(false);
    expect(evalDoc(f(nested), { ...doc, price: 5 })).toBe(false);
  });

  it('empty groups are rejected (by parseFilter and so by the evaluators)', () => {
    for (const g of [{ type: 'and', conditions: [] }, { type: 'or', conditions: [] }] as Filter[]) {
      expect(() => compileFilter(g)).toThrow();
      expect(() => evaluateColumns(g, () => [], 1)).toThrow();
    }
  });
});

describe('compileFilter / evaluateColumns validation', () => {
  it('rejects invalid built filters with INVALID_FILTER', () => {
    const bad = { type: 'cond', field: 'x', op: 'eq', value: ['a'] } as unknown as Filter;
    let err: unknown;
    try {
      compileFilter(bad);
    } catch (e) {
      err = e;
    }
    expect(isElacsymError(err, 'INVALID_FILTER')).toBe(true);
    expect(() => evaluateColumns(bad, () => [], 0)).toThrow();
  });
});

describe('evaluateColumns', () => {
  const docs: Attributes[] = [
    { category: 'tech', price: 5 },
    { category: 'news', price: 15 },
    { price: 20 },
    { category: 'tech', price: null },
    { category: 'tech', price: 30, tags: ['x'] },
  ];
  const getColumn = (field: string): Column => docs.map((d) => (Object.hasOwn(d, field) ? d[field] : undefined));

  it('returns the row results as a 0/1 mask', () => {
    const filter = f({ type: 'and', conditions: [{ field: 'category', op: 'eq', value: 'tech' }, { field: 'price', op: 'gte', value: 10 }] });
    const mask = evaluateColumns(filter, getColumn, docs.length);
    expect([...mask]).toEqual([0, 0, 0, 0, 1]);
    expect(countMatches(mask)).toBe(1);
    expect([...evaluateColumns(f({ field: 'category', op: 'ne', value: 'tech' }), getColumn, docs.length)]).toEqual([0, 1, 1, 0, 0]);
  });

  it('fetches each column once', () => {
    const calls: string[] = [];
    const filter = f({ type: 'or', conditions: [{ field: 'price', op: 'lt', value: 10 }, { field: 'price', op: 'gt', value: 25 }] });
    const mask = evaluateColumns(filter, (field) => (calls.push(field), getColumn(field)), docs.length);
    expect([...mask]).toEqual([1, 0, 0, 0, 1]);
    expect(calls).toEqual(['price']);
  });

  it('writes into out and returns it; longer out gives a subarray', () => {
    const out = new Uint8Array(5).fill(7);
    const filter = f({ field: 'category', op: 'exists', value: true });
    expect(evaluateColumns(filter, getColumn, 5, out)).toBe(out);
    expect([...out]).toEqual([1, 1, 0, 1, 1]);
    const longer = new Uint8Array(8).fill(9);
    const r = evaluateColumns(filter, getColumn, 5, longer);
    expect(r.length).toBe(5);
    expect(r.buffer).toBe(longer.buffer);
    expect([...longer]).toEqual([1, 1, 0, 1, 1, 9, 9, 9]);
    expect(() => evaluateColumns(filter, getColumn, 5, new Uint8Array(3))).toThrow();
  });

  it('treats rows past the end of a short column as missing', () => {
    const short: Column = ['a'];
    const g = (field: string): Column => (field === 's' ? short : ['a', 'a', 'a']);
    expect([...evaluateColumns(f({ field: 's', op: 'eq', value: 'a' }), g, 3)]).toEqual([1, 0, 0]);
    expect([...evaluateColumns(f({ field: 's', op: 'ne', value: 'a' }), g, 3)]).toEqual([0, 1, 1]);
    expect([...evaluateColumns(f({ type: 'and', conditions: [{ field: 't', op: 'eq', value: 'a' }, { field: 's', op: 'exists', value: false }] }), g, 3)]).toEqual([0, 1, 1]);
    expect([...evaluateColumns(f({ type: 'or', conditions: [{ field: 's', op: 'eq', value: 'a' }, { field: 's', op: 'nin', value: ['a'] }] }), g, 3)]).toEqual([1, 1, 1]);
  });

  it('n = 0 gives an empty mask', () => {
    expect(evaluateColumns(f({ field: 'x', op: 'eq', value: 1 }), () => [], 0).length).toBe(0);
  });

  it('countMatches counts ones', () => {
    expect(countMatches(new Uint8Array([1, 0, 1, 1, 0]))).toBe(3);
    expect(countMatches(new Uint8Array(0))).toBe(0);
  });
});
