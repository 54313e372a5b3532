/**
 * The attribute filter language: its AST, strict parsing/validation from JSON, and helpers
 * (`filterFields`, `describeFilter`). Evaluation lives in `src/index/filter/evaluate.ts`, whose header
 * comment is the normative semantics table (missing attributes, type mixing, arrays).
 *
 * JSON grammar (the ancestor's shape, plus `not`, a bare condition at top level, and more operators):
 *
 *   filter    := group | not | condition
 *   group     := {"type": "and" | "or", "conditions": [filter, ...]}      (non-empty)
 *   not       := {"type": "not", "condition": filter}
 *              | {"type": "not", "conditions": [filter]}                  (exactly one element)
 *   condition := {"field": NAME, "op": OP, "value": VALUE}               ("type": "cond" optional)
 *
 * `null` means "no filter" (parseFilter returns null); `{}` and any other shape is an error. Unknown keys
 * are errors; nesting deeper than MAX_FILTER_DEPTH (32) levels is an error.
 *
 * Operators and the value each needs (a "scalar" is a string, a finite number or a boolean):
 *
 *   eq, ne                     a scalar (never an array: use `in` for "any of", `contains` for elements)
 *   gt, gte, lt, lte           a number or a string
 *   in, nin                    a non-empty array of scalars
 *   contains                   a scalar
 *   containsany, containsall   a non-empty array of scalars
 *   prefix                     a string
 *   exists                     a boolean (true: present and not null; false: absent or null)
 *
 * `contains` on a string attribute means substring; on an array<string> attribute it means "some element
 * equals the value" (element equality, not substring). `containsany`/`containsall` follow the same split
 * (any/all of the listed values are substrings, resp. elements). `prefix` on a string is startsWith; on an
 * array<string> it means some element starts with the value.
 *
 * When a schema is passed and the field is declared in `schema.attributes`, the value must also make
 * sense for the attribute's type, otherwise the filter is rejected instead of silently never matching:
 *
 *   integer, float   eq ne in nin gt gte lt lte take numbers; contains* and prefix are errors
 *   string           every operator takes strings
 *   boolean          eq ne in nin take booleans; ordering, contains* and prefix are errors
 *   array<string>    contains* in nin prefix take strings; eq ne and ordering are errors
 *   (any)            exists is always allowed
 *
 * Known names. With a schema (every query), a field must be a known attribute: one in
 * `schema.attributes`, which holds the attributes declared by `init` and every attribute an import typed
 * on its first non-null value (an attribute only ever seen as null is not known). Any other field is
 * refused with INVALID_QUERY listing the known names (and a near miss), instead of silently matching
 * nothing. Without a schema (unit tests, the bench's oracle) any field is accepted.
 *
 * The document id. The field "id" is the document's id, not an attribute (an attribute named "id" is not
 * filterable): eq, ne take one id, in, nin a list of ids; an id is a non-negative integer or a non-empty
 * string, and 42 and "42" are different ids (as everywhere). Other operators are refused. Every document
 * has an id, so ne/nin are plain negations. Evaluation looks the ids up (see `evaluateColumns`).
 */
import { ElacsymError } from '../errors.js';
import { parseId } from './document.js';
import { unknownName } from './names.js';
import type { AttrType, Schema } from './types.js';

/** The filter field that means the document id (see the header). */
export const ID_FIELD = 'id';
const ID_OPS: ReadonlySet<string> = new Set(['eq', 'ne', 'in', 'nin']);

export const OPS = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'contains',
  'containsany',
  'containsall',
  'in',
  'nin',
  'exists',
  'prefix',
] as const;
export type Op = (typeof OPS)[number];

export type Scalar = string | number | boolean;
export type FilterValue = Scalar | Scalar[];

export type Filter =
  | { type: 'and' | 'or'; conditions: Filter[] }
  | { type: 'not'; condition: Filter }
  | { type: 'cond'; field: string; op: Op; value: FilterValue };

export type FilterCondition = Extract<Filter, { type: 'cond' }>;

/** Maximum nesting depth; a bare condition has depth 1, `and[cond]` has depth 2. */
export const MAX_FILTER_DEPTH = 32;

const OP_SET: ReadonlySet<string> = new Set(OPS);
const LIST_OPS: ReadonlySet<Op> = new Set<Op>(['in', 'nin', 'containsany', 'containsall']);
const ORDER_OPS: ReadonlySet<Op> = new Set<Op>(['gt', 'gte', 'lt', 'lte']);
const CONTAINS_OPS: ReadonlySet<Op> = new Set<Op>(['contains', 'containsany', 'containsall']);

function fail(path: string, message: string): never {
  throw new ElacsymError('INVALID_FILTER', `${path}: ${message}`, { details: { path } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return typeof v;
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return typeof v;
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' && !Number.isFinite(v)) return `a non-finite number (${String(v)})`;
  return `a ${typeof v}`;
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string, what: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      fail(path, `unknown key ${show(k)} in ${what}; allowed keys: ${allowed.join(', ')}`);
    }
  }
}

/**
 * Parses and validates a filter given as parsed JSON (or an already-built Filter, which is accepted as
 * is). Returns null for `null` (no filter). Throws ElacsymError('INVALID_FILTER') whose message starts
 * with the JSON path of the problem, e.g. `filter.conditions[2].op: unknown operator "equals"; ...`;
 * the path is also in `error.details.path`.
 */
export function parseFilter(json: unknown, schema?: Schema): Filter | null {
  if (json === null) return null;
  return parseNode(json, 'filter', 1, schema);
}

function parseNode(json: unknown, path: string, depth: number, schema: Schema | undefined): Filter {
  if (depth > MAX_FILTER_DEPTH) fail(path, `filter is nested deeper than ${MAX_FILTER_DEPTH} levels`);
  if (!isPlainObject(json)) {
    fail(path, `expected a filter object (a condition {"field", "op", "value"} or a group {"type", "conditions"}), got ${kindOf(json)}`);
  }
  const keys = Object.keys(json);
  if (keys.length === 0) fail(path, 'empty filter object; pass null (or omit the filter) for "no filter"');

  const type = json['type'];
  if (type === undefined && (Object.hasOwn(json, 'conditions') || Object.hasOwn(json, 'condition'))) {
    fail(`${path}.type`, 'a group needs "type": "and", "or" or "not"');
  }
  if (type === undefined || type === 'cond') return parseCondition(json, path, schema);
  if (type === 'and' || type === 'or') {
    checkKeys(json, ['type', 'conditions'], path, `an "${type}" group`);
    const conds = json['conditions'];
    if (!Array.isArray(conds)) fail(`${path}.conditions`, `expected a non-empty array of filters, got ${kindOf(conds)}`);
    if (conds.length === 0) fail(`${path}.conditions`, `an "${type}" group needs at least one condition`);
    const out: Filter[] = [];
    for (let i = 0; i < conds.length; i++) {
      out.push(parseNode(conds[i], `${path}.conditions[${i}]`, depth + 1, schema));
    }
    return { type, conditions: out };
  }
  if (type === 'not') {
    checkKeys(json, ['type', 'condition', 'conditions'], path, 'a "not" group');
    const hasOne = Object.hasOwn(json, 'condition');
    const hasMany = Object.hasOwn(json, 'conditions');
    if (hasOne && hasMany) fail(path, 'a "not" group takes "condition" or "conditions", not both');
    if (hasOne) return { type: 'not', condition: parseNode(json['condition'], `${path}.condition`, depth + 1, schema) };
    if (hasMany) {
      const conds = json['conditions'];
      if (!Array.isArray(conds) || conds.length !== 1) {
        fail(`${path}.conditions`, `a "not" group needs exactly one condition, got ${Array.isArray(conds) ? `${conds.length}` : kindOf(conds)}`);
      }
      return { type: 'not', condition: parseNode(conds[0], `${path}.conditions[0]`, depth + 1, schema) };
    }
    fail(path, 'a "not" group needs a "condition"');
  }
  fail(`${path}.type`, `unknown filter type ${show(type)}; expected one of and, or, not (or omit it for a condition)`);
}

function parseCondition(json: Record<string, unknown>, path: string, schema: Schema | undefined): Filter {
  checkKeys(json, ['type', 'field', 'op', 'value'], path, 'a condition');
  const field = json['field'];
  if (field === undefined) fail(path, 'a condition needs "field", "op" and "value" (or use "type": "and" | "or" | "not" for a group)');
  if (typeof field !== 'string' || field.length === 0) {
    fail(`${path}.field`, `expected a non-empty attribute name, got ${typeof field === 'string' ? 'an empty string' : kindOf(field)}`);
  }
  const rawOp = json['op'];
  if (rawOp === undefined) fail(path, 'a condition needs "op"');
  if (typeof rawOp !== 'string' || !OP_SET.has(rawOp)) {
    const lower = typeof rawOp === 'string' ? rawOp.toLowerCase() : '';
    const hint = OP_SET.has(lower) ? ` (did you mean "${lower}"?)` : '';
    fail(`${path}.op`, `unknown operator ${show(rawOp)}${hint}; expected one of ${OPS.join(', ')}`);
  }
  const op = rawOp as Op;
  if (!Object.hasOwn(json, 'value')) fail(path, `a condition needs "value" (operator ${op})`);
  const value = json['value'];
  const vpath = `${path}.value`;

  let parsed: FilterValue;
  if (LIST_OPS.has(op)) {
    if (!Array.isArray(value)) fail(vpath, `${op} needs a non-empty array of strings, numbers or booleans, got ${kindOf(value)}`);
    if (value.length === 0) fail(vpath, `${op} needs a non-empty array, got []`);
    const list: Scalar[] = [];
    for (let i = 0; i < value.length; i++) {
      const el: unknown = value[i];
      if (!isScalar(el)) fail(`${vpath}[${i}]`, `expected a string, a finite number or a boolean, got ${kindOf(el)}`);
      list.push(el);
    }
    parsed = list;
  } else if (op === 'exists') {
    if (typeof value !== 'boolean') fail(vpath, `exists needs true (present and not null) or false (absent or null), got ${kindOf(value)}`);
    parsed = value;
  } else if (ORDER_OPS.has(op)) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)))) {
      fail(vpath, `${op} needs a finite number or a string, got ${kindOf(value)}`);
    }
    parsed = value;
  } else if (op === 'prefix') {
    if (typeof value !== 'string') fail(vpath, `prefix needs a string, got ${kindOf(value)}`);
    parsed = value;
  } else {
    // eq, ne, contains
    if (Array.isArray(value)) {
      const alt = op === 'contains' ? 'containsany or containsall' : op === 'eq' ? 'in (any of), or contains (array element)' : 'nin';
      fail(vpath, `${op} needs a single string, number or boolean, got an array; use ${alt}`);
    }
    if (!isScalar(value)) fail(vpath, `${op} needs a string, a finite number or a boolean, got ${kindOf(value)}`);
    parsed = value;
  }

  if (field === ID_FIELD) {
    checkIdCondition(op, parsed, path);
    return { type: 'cond', field, op, value: parsed };
  }
  if (schema !== undefined && !Object.hasOwn(schema.attributes, field)) {
    const known = [...Object.keys(schema.attributes), ID_FIELD];
    throw new ElacsymError('INVALID_QUERY', `${path}.field: ${unknownName('attribute', field, known, 'known fields')}`, { details: { path: `${path}.field`, field } });
  }
  if (schema !== undefined && Object.hasOwn(schema.attributes, field)) {
    const attr = schema.attributes[field];
    if (attr !== undefined) checkAgainstType(field, attr.type, op, parsed, path);
  }
  return { type: 'cond', field, op, value: parsed };
}

function checkIdCondition(op: Op, value: FilterValue, path: string): void {
  if (!ID_OPS.has(op)) fail(`${path}.op`, `${op} is not supported on the document id; use eq, ne (one id) or in, nin (a list of ids)`);
  const list = Array.isArray(value) ? value : [value];
  for (let i = 0; i < list.length; i++) {
    try {
      parseId(list[i]);
    } catch (e) {
      fail(Array.isArray(value) ? `${path}.value[${i}]` : `${path}.value`, (e as Error).message);
    }
  }
}

function checkAgainstType(field: string, type: AttrType, op: Op, value: FilterValue, path: string): void {
  if (op === 'exists') return;
  const where = `${type} attribute "${field}"`;
  const vpath = `${path}.value`;
  const wantEach = (want: 'number' | 'string' | 'boolean'): void => {
    const list = Array.isArray(value) ? value : [value];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (typeof v !== want) {
        const p = Array.isArray(value) ? `${vpath}[${i}]` : vpath;
        fail(p, `${op} on ${where} needs ${want === 'number' ? 'a number' : `a ${want}`}, got ${kindOf(v)} ${show(v)}`);
      }
    }
  };
  const opErr = (why: string): never => fail(`${path}.op`, `${op} is not supported on ${where}; ${why}`);
  switch (type) {
    case 'integer':
    case 'float':
      if (CONTAINS_OPS.has(op) || op === 'prefix') opErr('use eq, ne, in, nin, gt, gte, lt, lte or exists');
      wantEach('number');
      return;
    case 'string':
      wantEach('string');
      return;
    case 'boolean':
      if (ORDER_OPS.has(op) || CONTAINS_OPS.has(op) || op === 'prefix') opErr('use eq, ne, in, nin or exists');
      wantEach('boolean');
      return;
    case 'array<string>':
      if (op === 'eq' || op === 'ne') opErr('arrays never equal a single value; use contains (some element equals) or in/nin');
      if (ORDER_OPS.has(op)) opErr('use contains, containsany, containsall, in, nin, prefix or exists');
      wantEach('string');
      return;
  }
}

/** Distinct attribute names referenced by the filter, in order of first appearance. */
export function filterFields(f: Filter): string[] {
  const seen = new Set<string>();
  const walk = (n: Filter): void => {
    switch (n.type) {
      case 'cond':
        seen.add(n.field);
        return;
      case 'not':
        walk(n.condition);
        return;
      default:
        for (const c of n.conditions) walk(c);
    }
  };
  walk(f);
  return [...seen];
}

const OP_TEXT: Record<Op, string> = {
  eq: '=',
  ne: '!=',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  contains: 'CONTAINS',
  containsany: 'CONTAINS ANY',
  containsall: 'CONTAINS ALL',
  in: 'IN',
  nin: 'NOT IN',
  exists: 'EXISTS',
  prefix: 'STARTS WITH',
};

function fieldText(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) ? name : `\`${name.replace(/`/g, '``')}\``;
}

function valueText(v: FilterValue): string {
  return Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : JSON.stringify(v);
}

/**
 * A compact human-readable rendering for --explain, e.g. `(category = "tech" AND price >= 10)`.
 * Groups are parenthesised; a top-level condition is not.
 */
export function describeFilter(f: Filter): string {
  switch (f.type) {
    case 'cond':
      if (f.op === 'exists') return `${fieldText(f.field)} ${f.value === true ? 'EXISTS' : 'NOT EXISTS'}`;
      return `${fieldText(f.field)} ${OP_TEXT[f.op]} ${valueText(f.value)}`;
    case 'not':
      return f.condition.type === 'cond' ? `NOT (${describeFilter(f.condition)})` : `NOT ${describeFilter(f.condition)}`;
    default:
      return `(${f.conditions.map(describeFilter).join(f.type === 'and' ? ' AND ' : ' OR ')})`;
  }
}
