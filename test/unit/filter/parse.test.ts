import { describe, expect, it } from 'vitest';
import { describeFilter, filterFields, MAX_FILTER_DEPTH, parseFilter, type Filter } from '../../../src/model/filter.js';
import type { Schema } from '../../../src/model/types.js';
import { ElacsymError } from '../../../src/errors.js';

function parseError(json: unknown, schema?: Schema): ElacsymError {
  try {
    parseFilter(json, schema);
  } catch (e) {
    if (e instanceof ElacsymError) return e;
    throw e;
  }
  throw new Error(`expected parseFilter to throw for ${JSON.stringify(json)}`);
}

function expectInvalid(json: unknown, path: string, fragment?: string, schema?: Schema): void {
  const e = parseError(json, schema);
  expect(e.code).toBe('INVALID_FILTER');
  expect(e.message.startsWith(`${path}: `), `message "${e.message}" should start with "${path}: "`).toBe(true);
  expect(e.details.path).toBe(path);
  if (fragment !== undefined) expect(e.message).toContain(fragment);
}

const schema: Schema = {
  vector_dim: 0,
  vector_metric: 'cosine',
  attributes: {
    title: { type: 'string', full_text: null },
    price: { type: 'float', full_text: null },
    year: { type: 'integer', full_text: null },
    active: { type: 'boolean', full_text: null },
    tags: { type: 'array<string>', full_text: null },
  },
};

describe('parseFilter: accepted shapes', () => {
  it('null means no filter', () => {
    expect(parseFilter(null)).toBeNull();
  });

  it("parses the ancestor's shape", () => {
    const json = {
      type: 'and',
      conditions: [
        { field: 'category', op: 'eq', value: 'tech' },
        { type: 'or', conditions: [{ field: 'price', op: 'lt', value: 10 }, { field: 'tags', op: 'containsany', value: ['a', 'b'] }] },
        { field: 'title', op: 'contains', value: 'rust' },
      ],
    };
    expect(parseFilter(json)).toEqual({
      type: 'and',
      conditions: [
        { type: 'cond', field: 'category', op: 'eq', value: 'tech' },
        {
          type: 'or',
          conditions: [
            { type: 'cond', field: 'price', op: 'lt', value: 10 },
            { type: 'cond', field: 'tags', op: 'containsany', value: ['a', 'b'] },
          ],
        },
        { type: 'cond', field: 'title', op: 'contains', value: 'rust' },
      ],
    });
  });

  it('parses a bare top-level condition, with or without type "cond"', () => {
    const expected: Filter = { type: 'cond', field: 'a', op: 'gte', value: 1.5 };
    expect(parseFilter({ field: 'a', op: 'gte', value: 1.5 })).toEqual(expected);
    expect(parseFilter({ type: 'cond', field: 'a', op: 'gte', value: 1.5 })).toEqual(expected);
  });

  it('parses not with "condition" and with a one-element "conditions"', () => {
    const expected: Filter = { type: 'not', condition: { type: 'cond', field: 'a', op: 'exists', value: false } };
    expect(parseFilter({ type: 'not', condition: { field: 'a', op: 'exists', value: false } })).toEqual(expected);
    expect(parseFilter({ type: 'not', conditions: [{ field: 'a', op: 'exists', value: false }] })).toEqual(expected);
  });

  it('accepts every operator with a fitting value', () => {
    const ok: [string, unknown][] = [
      ['eq', 'x'], ['eq', 1], ['eq', true], ['ne', false], ['ne', -2.5],
      ['gt', 1], ['gte', 'a'], ['lt', 0], ['lte', ''],
      ['in', ['a', 1, true]], ['nin', [1]], ['contains', 'x'], ['contains', 3],
      ['containsany', ['a']], ['containsall', ['a', 'b']], ['exists', true], ['exists', false], ['prefix', ''],
    ];
    for (const [op, value] of ok) expect(parseFilter({ field: 'f', op, value })).toEqual({ type: 'cond', field: 'f', op, value });
  });

  it('does not alias the input arrays', () => {
    const value = ['a'];
    const g = parseFilter({ field: 'f', op: 'in', value });
    value.push('b');
    expect(g).toEqual({ type: 'cond', field: 'f', op: 'in', value: ['a'] });
  });

  it(`accepts nesting of exactly ${MAX_FILTER_DEPTH} levels and rejects ${MAX_FILTER_DEPTH + 1}`, () => {
    const nest = (levels: number): unknown => {
      let node: unknown = { field: 'a', op: 'eq', value: 1 };
      for (let i = 1; i < levels; i++) node = { type: 'not', condition: node };
      return node;
    };
    expect(parseFilter(nest(MAX_FILTER_DEPTH))).not.toBeNull();
    const deepPath = `filter${'.condition'.repeat(MAX_FILTER_DEPTH)}`;
    expectInvalid(nest(MAX_FILTER_DEPTH + 1), deepPath, 'deeper than 32');
    // Very deep input fails cleanly, not with a stack overflow.
    expect(parseError(nest(100_000)).code).toBe('INVALID_FILTER');
  });
});

describe('parseFilter: errors name the JSON path', () => {
  it('unknown operator', () => {
    expectInvalid(
      { type: 'and', conditions: [{ field: 'a', op: 'eq', value: 1 }, { field: 'b', op: 'eq', value: 1 }, { field: 'c', op: 'equals', value: 1 }] },
      'filter.conditions[2].op',
      'unknown operator "equals"; expected one of eq, ne,',
    );
    expectInvalid({ field: 'a', op: 'EQ', value: 1 }, 'filter.op', 'did you mean "eq"');
    expectInvalid({ field: 'a', op: 7, value: 1 }, 'filter.op');
  });

  it('non-object filters and empty objects', () => {
    expectInvalid({}, 'filter', 'empty filter object');
    expectInvalid([], 'filter');
    expectInvalid('category = tech', 'filter');
    expectInvalid(undefined, 'filter');
    expectInvalid(42, 'filter');
    expectInvalid({ type: 'and', conditions: [{ field: 'a', op: 'eq', value: 1 }, null] }, 'filter.conditions[1]');
    expectInvalid(new Date(), 'filter');
  });

  it('group errors', () => {
    expectInvalid({ type: 'and', conditions: [] }, 'filter.conditions', 'at least one');
    expectInvalid({ type: 'or' }, 'filter.conditions');
    expectInvalid({ type: 'or', conditions: {} }, 'filter.conditions');
    expectInvalid({ type: 'xor', conditions: [] }, 'filter.type', 'unknown filter type "xor"');
    expectInvalid({ conditions: [{ field: 'a', op: 'eq', value: 1 }] }, 'filter.type');
    expectInvalid({ type: 'and', conditions: [{ field: 'a', op: 'eq', value: 1 }], extra: 1 }, 'filter', 'unknown key "extra"');
    expectInvalid({ type: 'not' }, 'filter', 'needs a "condition"');
    expectInvalid({ type: 'not', conditions: [] }, 'filter.conditions', 'exactly one');
    expectInvalid(
      { type: 'not', conditions: [{ field: 'a', op: 'eq', value: 1 }, { field: 'a', op: 'eq', value: 2 }] },
      'filter.conditions',
      'exactly one',
    );
    expectInvalid({ type: 'not', condition: { field: 'a', op: 'eq', value: 1 }, conditions: [] }, 'filter', 'not both');
    expectInvalid({ type: 'not', condition: { field: 'a', op: 'eq' } }, 'filter.condition', 'needs "value"');
    expectInvalid({ type: 'not', conditions: [{ field: '', op: 'eq', value: 1 }] }, 'filter.conditions[0].field');
  });

  it('condition errors', () => {
    expectInvalid({ op: 'eq', value: 1 }, 'filter', 'needs "field"');
    expectInvalid({ field: '', op: 'eq', value: 1 }, 'filter.field', 'non-empty');
    expectInvalid({ field: 3, op: 'eq', value: 1 }, 'filter.field');
    expectInvalid({ field: 'a', value: 1 }, 'filter', 'needs "op"');
    expectInvalid({ field: 'a', op: 'eq' }, 'filter', 'needs "value"');
    expectInvalid({ field: 'a', op: 'eq', value: 1, vaule: 2 }, 'filter', 'unknown key "vaule"');
    expectInvalid({ type: 'cond', field: 'a', op: 'eq', value: 1, conditions: [] }, 'filter', 'unknown key "conditions"');
  });

  it('value must fit the operator', () => {
    const at = (op: string, value: unknown): unknown => ({ type: 'or', conditions: [{ field: 'x', op: 'eq', value: 1 }, { field: 'x', op, value }] });
    const P = 'filter.conditions[1].value';
    expectInvalid(at('eq', ['a']), P, 'use in');
    expectInvalid(at('ne', ['a']), P, 'got an array');
    expectInvalid(at('eq', null), P, 'got null');
    expectInvalid(at('eq', { a: 1 }), P, 'got an object');
    expectInvalid(at('eq', Number.NaN), P, 'non-finite');
    expectInvalid(at('eq', Number.POSITIVE_INFINITY), P, 'non-finite');
    expectInvalid(at('gt', true), P, 'number or a string');
    expectInvalid(at('lte', [1]), P);
    expectInvalid(at('gte', Number.NEGATIVE_INFINITY), P, 'non-finite');
    expectInvalid(at('in', 'a'), P, 'non-empty array');
    expectInvalid(at('nin', []), P, 'non-empty array');
    expectInvalid(at('containsany', []), P);
    expectInvalid(at('containsall', 'a'), P);
    expectInvalid(at('in', ['a', null]), `${P}[1]`, 'got null');
    expectInvalid(at('in', ['a', ['b']]), `${P}[1]`, 'got an array');
    expectInvalid(at('containsany', [1, Number.NaN]), `${P}[1]`, 'non-finite');
    expectInvalid(at('prefix', 1), P, 'needs a string');
    expectInvalid(at('exists', 'yes'), P, 'true');
    expectInvalid(at('exists', 1), P);
    expectInvalid(at('contains', ['a']), P, 'containsany');
    expectInvalid(at('contains', null), P);
  });
});

describe('parseFilter with a schema', () => {
  const ok = (field: string, op: string, value: unknown): void => {
    expect(parseFilter({ field, op, value }, schema)).toEqual({ type: 'cond', field, op, value });
  };

  it('accepts values that fit the attribute type', () => {
    ok('price', 'gt', 10);
    ok('price', 'eq', 3);
    ok('year', 'in', [2020, 2021]);
    ok('title', 'contains', 'rust');
    ok('title', 'gte', 'm');
    ok('title', 'prefix', 'Intro');
    ok('active', 'eq', true);
    ok('active', 'nin', [false]);
    ok('tags', 'contains', 'a');
    ok('tags', 'containsall', ['a', 'b']);
    ok('tags', 'in', ['a']);
    ok('tags', 'prefix', 'lang:');
    for (const f of ['title', 'price', 'year', 'active', 'tags']) ok(f, 'exists', false);
    // Without a schema any field is accepted (the schema is what knows the names).
    expect(parseFilter({ field: 'other', op: 'gt', value: 'x' })).toEqual({ type: 'cond', field: 'other', op: 'gt', value: 'x' });
  });

  it('refuses a field the schema does not know with INVALID_QUERY listing the known fields and a near miss', () => {
    const code = (f: unknown): { code: string; message: string } => {
      try {
        parseFilter(f, schema);
      } catch (e) {
        return e as { code: string; message: string };
      }
      return { code: 'no error', message: '' };
    };
    const e = code({ field: 'titel', op: 'eq', value: 'x' });
    expect(e.code).toBe('INVALID_QUERY');
    expect(e.message).toContain('"title"');
    expect(code({ type: 'and', conditions: [{ field: 'price', op: 'gt', value: 1 }, { field: 'colour', op: 'exists', value: true }] }).code).toBe('INVALID_QUERY');
    expect(code({ type: 'not', condition: { field: 'Year', op: 'eq', value: 1 } }).message).toContain('did you mean "year"');
  });

  it('reads field "id" as the document id: eq, ne, in, nin with integer or string ids', () => {
    ok('id', 'eq', 42);
    ok('id', 'eq', '42');
    ok('id', 'in', [1, 'a']);
    ok('id', 'nin', [3]);
    ok('id', 'ne', 'x');
    for (const [op, value] of [['gt', 1], ['prefix', 'a'], ['contains', 'a'], ['exists', true]] as const) {
      expectInvalid({ field: 'id', op, value }, 'filter.op', undefined, schema);
    }
    expectInvalid({ field: 'id', op: 'eq', value: -1 }, 'filter.value', undefined, schema);
    expectInvalid({ field: 'id', op: 'eq', value: 1.5 }, 'filter.value', undefined, schema);
    expectInvalid({ field: 'id', op: 'in', value: [1, ''] }, 'filter.value[1]', undefined, schema);
    expectInvalid({ field: 'id', op: 'eq', value: true }, 'filter.value', undefined, schema);
  });

  it('rejects values that do not fit the attribute type', () => {
    expectInvalid({ field: 'price', op: 'gt', value: '10' }, 'filter.value', 'float attribute "price" needs a number', schema);
    expectInvalid({ field: 'year', op: 'eq', value: 'x' }, 'filter.value', undefined, schema);
    expectInvalid({ field: 'year', op: 'in', value: [1, '2'] }, 'filter.value[1]', undefined, schema);
    expectInvalid({ field: 'price', op: 'contains', value: 1 }, 'filter.op', 'not supported on float attribute', schema);
    expectInvalid({ field: 'year', op: 'prefix', value: '19' }, 'filter.op', undefined, schema);
    expectInvalid({ field: 'title', op: 'eq', value: 1 }, 'filter.value', 'needs a string', schema);
    expectInvalid({ field: 'title', op: 'gt', value: 1 }, 'filter.value', undefined, schema);
    expectInvalid({ field: 'title', op: 'containsany', value: ['a', 2] }, 'filter.value[1]', undefined, schema);
    expectInvalid({ field: 'active', op: 'gt', value: 1 }, 'filter.op', undefined, schema);
    expectInvalid({ field: 'active', op: 'eq', value: 'true' }, 'filter.value', 'needs a boolean', schema);
    expectInvalid({ field: 'active', op: 'contains', value: true }, 'filter.op', undefined, schema);
    expectInvalid({ field: 'tags', op: 'eq', value: 'a' }, 'filter.op', 'use contains', schema);
    expectInvalid({ field: 'tags', op: 'lt', value: 'a' }, 'filter.op', undefined, schema);
    expectInvalid({ field: 'tags', op: 'contains', value: 1 }, 'filter.value', undefined, schema);
    expectInvalid(
      { type: 'and', conditions: [{ field: 'title', op: 'eq', value: 'x' }, { type: 'not', condition: { field: 'price', op: 'lt', value: 'cheap' } }] },
      'filter.conditions[1].condition.value',
      undefined,
      schema,
    );
  });

  it('the same filters parse without a schema', () => {
    expect(parseFilter({ field: 'price', op: 'gt', value: '10' })).not.toBeNull();
    expect(parseFilter({ field: 'tags', op: 'eq', value: 'a' })).not.toBeNull();
  });
});

describe('filterFields and describeFilter', () => {
  const g = parseFilter({
    type: 'and',
    conditions: [
      { field: 'category', op: 'eq', value: 'tech' },
      { field: 'price', op: 'gte', value: 10 },
      { type: 'or', conditions: [{ field: 'tags', op: 'containsany', value: ['a', 'b'] }, { type: 'not', condition: { field: 'category', op: 'exists', value: true } }] },
    ],
  }) as Filter;

  it('filterFields lists distinct fields in order of first use', () => {
    expect(filterFields(g)).toEqual(['category', 'price', 'tags']);
    expect(filterFields({ type: 'cond', field: 'x', op: 'eq', value: 1 })).toEqual(['x']);
  });

  it('describeFilter renders a compact string', () => {
    expect(describeFilter(parseFilter({ type: 'and', conditions: [{ field: 'category', op: 'eq', value: 'tech' }, { field: 'price', op: 'gte', value: 10 }] }) as Filter)).toBe(
      '(category = "tech" AND price >= 10)',
    );
    expect(describeFilter(g)).toBe('(category = "tech" AND price >= 10 AND (tags CONTAINS ANY ["a", "b"] OR NOT (category EXISTS)))');
    expect(describeFilter({ type: 'cond', field: 'x', op: 'exists', value: false })).toBe('x NOT EXISTS');
    expect(describeFilter({ type: 'cond', field: 'my field', op: 'nin', value: [1, true] })).toBe('`my field` NOT IN [1, true]');
    expect(describeFilter({ type: 'not', condition: { type: 'or', conditions: [{ type: 'cond', field: 'a', op: 'prefix', value: 'x' }, { type: 'cond', field: 'b', op: 'ne', value: false }] } })).toBe(
      'NOT (a STARTS WITH "x" OR b != false)',
    );
    expect(describeFilter({ type: 'cond', field: 't', op: 'containsall', value: ['a'] })).toBe('t CONTAINS ALL ["a"]');
    expect(describeFilter({ type: 'cond', field: 't', op: 'lt', value: 1.5 })).toBe('t < 1.5');
  });
});
