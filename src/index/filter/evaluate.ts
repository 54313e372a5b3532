/**
 * Filter evaluation, row-wise (`compileFilter`) and columnar (`evaluateColumns`). Both apply exactly the
 * semantics below; a property test checks them against each other and against a naive reference.
 *
 * Filter semantics (normative; copied into docs/reference.md)
 * ----------------------------------------------------
 * "Missing" means the attribute is absent from the document or its value is null. "Scalar" means a
 * string, number or boolean. `x` is the document's value, `v` the filter's value.
 *
 * Types and comparison
 * - Integers and floats are both JS numbers and compare numerically with each other: 1 = 1.0, 2 > 1.5.
 * - Strings compare lexicographically by UTF-16 code units (JS `<`), case-sensitively, no collation.
 * - A number never equals or orders against a string, and there is no coercion: price gt "10" is false
 *   for price = 20, and category eq 1 is false for category = "1".
 * - Booleans only take part in eq/ne/in/nin; gt/gte/lt/lte on a boolean value are false.
 * - An array<string> value never equals a scalar: eq is false and ne is true; ordering is false.
 *
 *   op           x missing  x scalar (string / number / boolean)        x array<string>
 *   -----------  ---------  -------------------------------------------  -----------------------------------
 *   eq v         false      x === v (same type and value)                false
 *   ne v         TRUE       not (x eq v)                                 true
 *   gt/gte/      false      both numbers: numeric; both strings:         false
 *   lt/lte v                lexicographic; otherwise false
 *   in [..]      false      x equals some listed value                   some element is listed
 *   nin [..]     TRUE       not (x in [..])                              no element is listed
 *   contains v   false      string x: v is a string and a substring      some element equals v
 *                           of x; number/boolean x: false
 *   containsany  false      string x: some listed string is a            some element is listed
 *   [..]                    substring of x; otherwise false
 *   containsall  false      string x: every listed value is a string     every listed value is an element
 *   [..]                    and a substring of x; otherwise false
 *   prefix v     false      string x: x starts with v; otherwise false   some element starts with v
 *   exists true  false      true                                         true (also for [])
 *   exists false TRUE       false                                        false
 *
 * - ne and nin are true on a missing attribute (unlike SQL's NULL logic): "not equal to x" holds for a
 *   document without the attribute. Exactly: ne = not eq, nin = not in, for every document.
 * - An empty array attribute ([]) exists, contains nothing, is in nothing and nin everything.
 * - The empty string "" is a substring and a prefix of every string.
 * - `not` is plain logical negation of its child, so not(category eq "x") is true where category is
 *   missing. `and`/`or` are the usual conjunction/disjunction (groups are never empty: parseFilter
 *   rejects them).
 *
 * Filters handed to compileFilter/evaluateColumns are validated with parseFilter (no schema) first and
 * rejected with INVALID_FILTER when they break its rules.
 */
import { ElacsymError } from '../../errors.js';
import { ID_FIELD, parseFilter, type Filter, type FilterCondition, type Scalar } from '../../model/filter.js';
import type { AttrValue, Attributes, DocId } from '../../model/types.js';
import { countNonZeroBytes, maskCodes } from '../vector/distance.js';
import { KIND_BOOL, KIND_F64, KIND_INT, KIND_STRING, KIND_STRINGS, TypedColumn } from './columns.js';

/**
 * The ordinals holding the given document ids (ids the source does not hold are simply absent; dead rows
 * may be included, the caller clears them). Lets an `id` condition look ids up instead of comparing every
 * row's id.
 */
export type IdLookup = (ids: readonly DocId[]) => Iterable<number>;

/**
 * One attribute of a segment, indexed by doc ordinal; undefined or null = missing. Either JS values (the
 * pending journal, release-1 JSON columns, ids) or a typed column (index/filter/columns.ts) that the
 * evaluator reads without making a JS value per row.
 */
export type Column = ReadonlyArray<AttrValue | undefined> | TypedColumn;

/** Row i's value of a column of either form. */
export function columnValue(c: Column, i: number): AttrValue | undefined {
  return c instanceof TypedColumn ? c.get(i) : c[i];
}

/** A column's values as a JS array (for readers that want every value, e.g. re-analysis). */
export function columnValues(c: Column): ReadonlyArray<AttrValue | undefined> {
  if (!(c instanceof TypedColumn)) return c;
  const out = new Array<AttrValue | undefined>(c.length);
  for (let i = 0; i < c.length; i++) out[i] = c.get(i);
  return out;
}

/** A predicate over one attribute value (undefined = absent). */
export type ValuePredicate = (x: AttrValue | undefined) => boolean;

function validated(f: Filter): Filter {
  const g = parseFilter(f);
  if (g === null) throw new ElacsymError('INVALID_FILTER', 'filter: expected a filter, got null');
  return g;
}

function isPresent(x: unknown): boolean {
  return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' || Array.isArray(x);
}

function asList(v: Scalar | Scalar[]): Scalar[] {
  return Array.isArray(v) ? v : [v];
}

/** Compiles one condition to a predicate over the attribute's value. Assumes a validated condition. */
export function compileCondition(c: FilterCondition): ValuePredicate {
  const v = c.value;
  switch (c.op) {
    case 'eq':
      return (x) => x === v;
    case 'ne':
      return (x) => x !== v;
    case 'gt':
      return typeof v === 'number'
        ? (x) => typeof x === 'number' && x > v
        : (x) => typeof x === 'string' && x > (v as string);
    case 'gte':
      return typeof v === 'number'
        ? (x) => typeof x === 'number' && x >= v
        : (x) => typeof x === 'string' && x >= (v as string);
    case 'lt':
      return typeof v === 'number'
        ? (x) => typeof x === 'number' && x < v
        : (x) => typeof x === 'string' && x < (v as string);
    case 'lte':
      return typeof v === 'number'
        ? (x) => typeof x === 'number' && x <= v
        : (x) => typeof x === 'string' && x <= (v as string);
    case 'in': {
      const set = new Set<unknown>(asList(v));
      return (x) => (Array.isArray(x) ? x.some((e) => set.has(e)) : set.has(x) && x !== undefined);
    }
    case 'nin': {
      const set = new Set<unknown>(asList(v));
      return (x) => !(Array.isArray(x) ? x.some((e) => set.has(e)) : set.has(x) && x !== undefined);
    }
    case 'contains':
      if (typeof v === 'string') {
        return (x) => (typeof x === 'string' ? x.includes(v) : Array.isArray(x) && x.includes(v));
      }
      return (x) => Array.isArray(x) && (x as unknown[]).includes(v);
    case 'containsany': {
      const list = asList(v);
      const set = new Set<unknown>(list);
      const strings = list.filter((s): s is string => typeof s === 'string');
      return (x) => {
        if (typeof x === 'string') {
          for (const s of strings) if (x.includes(s)) return true;
          return false;
        }
        return Array.isArray(x) && x.some((e) => set.has(e));
      };
    }
    case 'containsall': {
      const list = asList(v);
      const allStrings = list.every((s) => typeof s === 'string');
      return (x) => {
        if (typeof x === 'string') {
          if (!allStrings) return false;
          for (const s of list) if (!x.includes(s as string)) return false;
          return true;
        }
        if (!Array.isArray(x)) return false;
        for (const s of list) if (!(x as unknown[]).includes(s)) return false;
        return true;
      };
    }
    case 'prefix': {
      const p = v as string;
      return (x) =>
        typeof x === 'string' ? x.startsWith(p) : Array.isArray(x) && x.some((e) => typeof e === 'string' && e.startsWith(p));
    }
    case 'exists':
      return v === true ? (x) => isPresent(x) : (x) => !isPresent(x);
  }
}

type RowFn = (attrs: Attributes) => boolean;

function buildRow(n: Filter): RowFn {
  switch (n.type) {
    case 'cond': {
      const p = compileCondition(n);
      const field = n.field;
      // Own properties only: a field named "constructor" must not read Object.prototype.constructor.
      return (a) => p(Object.hasOwn(a, field) ? a[field] : undefined);
    }
    case 'not': {
      const c = buildRow(n.condition);
      return (a) => !c(a);
    }
    case 'and':
    case 'or': {
      const cs = n.conditions.map(buildRow);
      const isAnd = n.type === 'and';
      if (cs.length === 0) return () => isAnd;
      const [c0, c1] = cs;
      if (cs.length === 1 && c0) return c0;
      if (cs.length === 2 && c0 && c1) return isAnd ? (a) => c0(a) && c1(a) : (a) => c0(a) || c1(a);
      return isAnd
        ? (a) => {
            for (const c of cs) if (!c(a)) return false;
            return true;
          }
        : (a) => {
            for (const c of cs) if (c(a)) return true;
            return false;
          };
    }
  }
}

/**
 * Compiles a filter to a row predicate once (closures; no AST walking per document). Attribute values
 * that are not AttrValues (e.g. inherited Object.prototype members for a field named "constructor")
 * are treated as missing.
 */
export function compileFilter(f: Filter): (attrs: Attributes) => boolean {
  return buildRow(validated(f));
}

// Mask combination modes for the columnar evaluator.
const SET = 0; // m[i] = node(i)
const AND = 1; // m[i] = m[i] && node(i)   (node evaluated only where m[i] = 1)
const OR = 2; // m[i] = m[i] || node(i)    (node evaluated only where m[i] = 0)
type Mode = typeof SET | typeof AND | typeof OR;

/**
 * Evaluates a filter over columns, returning a 0/1 mask of length n (index = doc ordinal). `getColumn`
 * is called at most once per distinct field; a column shorter than n is treated as missing past its end.
 * When `out` is given it must have at least n elements; the first n are overwritten and returned (as a
 * subarray when it is longer).
 */
export function evaluateColumns(f: Filter, getColumn: (field: string) => Column, n: number, out?: Uint8Array, ordsOfIds?: IdLookup): Uint8Array {
  const g = validated(f);
  if (!Number.isSafeInteger(n) || n < 0) throw new ElacsymError('INTERNAL', `evaluateColumns: bad row count ${n}`);
  let mask: Uint8Array;
  if (out === undefined) mask = new Uint8Array(n);
  else if (out.length === n) mask = out;
  else if (out.length > n) mask = out.subarray(0, n);
  else throw new ElacsymError('INTERNAL', `evaluateColumns: out has ${out.length} elements, need ${n}`);

  const cache = new Map<string, Column>();
  const col = (field: string): Column => {
    let c = cache.get(field);
    if (c === undefined) {
      c = getColumn(field);
      cache.set(field, c);
    }
    return c;
  };

  const evalInto = (node: Filter, m: Uint8Array, mode: Mode): void => {
    switch (node.type) {
      case 'cond':
        // The document id (field "id"): looked up when the caller can; otherwise getColumn("id") must
        // return the ids by ordinal.
        if (node.field === ID_FIELD && ordsOfIds) idInto(node, ordsOfIds, m, mode);
        else {
          const c = col(node.field);
          const p = compileCondition(node);
          // SET: straight into m (no second mask of n bytes, fresh pages in a cold query)
          if (c instanceof TypedColumn) {
            if (mode === SET) typedRows(node, p, c, m.length, m);
            else combineInto(typedRows(node, p, c, m.length), m, mode);
          }
          else condInto((i) => p(c[i]), c.length, m, mode, p(undefined));
        }
        return;
      case 'and': {
        const cs = node.conditions;
        if (cs.length === 0) {
          if (mode === SET) m.fill(1);
          else if (mode === OR) m.fill(1);
          return; // AND with true: unchanged
        }
        if (mode === OR) {
          // t = rows still undecided (m = 0); AND the conjunction into them, then OR back.
          const t = new Uint8Array(m.length);
          for (let i = 0; i < t.length; i++) t[i] = m[i] === 0 ? 1 : 0;
          for (const c of cs) evalInto(c, t, AND);
          for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) | (t[i] as number);
          return;
        }
        let first = true;
        for (const c of cs) {
          evalInto(c, m, first && mode === SET ? SET : AND);
          first = false;
        }
        return;
      }
      case 'or': {
        const cs = node.conditions;
        if (cs.length === 0) {
          if (mode === SET || mode === AND) m.fill(0);
          return; // OR with false: unchanged
        }
        if (mode === AND) {
          // t = 1 on rows already false (so they are skipped), OR the disjunction in, then AND back.
          const t = new Uint8Array(m.length);
          for (let i = 0; i < t.length; i++) t[i] = m[i] === 0 ? 1 : 0;
          for (const c of cs) evalInto(c, t, OR);
          for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) & (t[i] as number);
          return;
        }
        let first = true;
        for (const c of cs) {
          evalInto(c, m, first && mode === SET ? SET : OR);
          first = false;
        }
        return;
      }
      case 'not': {
        if (mode === SET) {
          evalInto(node.condition, m, SET);
          for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) ^ 1;
          return;
        }
        // AND: t = m && child, then m = m && !child = m & ~t.  OR: t = !m && child, then m = m | !t.
        const t = new Uint8Array(m.length);
        if (mode === AND) t.set(m);
        else for (let i = 0; i < t.length; i++) t[i] = m[i] === 0 ? 1 : 0;
        evalInto(node.condition, t, AND);
        if (mode === AND) for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) & ((t[i] as number) ^ 1);
        else for (let i = 0; i < m.length; i++) m[i] = (m[i] as number) | ((t[i] as number) ^ 1);
        return;
      }
    }
  };

  evalInto(g, mask, SET);
  return mask;
}

/** An id condition (eq/in, or their negations ne/nin) from looked-up ordinals: O(ids + n) memset-like work. */
function idInto(c: FilterCondition, ordsOfIds: IdLookup, m: Uint8Array, mode: Mode): void {
  const n = m.length;
  const ids = (Array.isArray(c.value) ? c.value : [c.value]) as DocId[];
  const ords: number[] = [];
  for (const o of ordsOfIds(ids)) if (o >= 0 && o < n) ords.push(o);
  const negate = c.op === 'ne' || c.op === 'nin';
  const hit = negate ? 0 : 1;
  if (mode === SET) {
    m.fill(hit ^ 1);
    for (const o of ords) m[o] = hit;
  } else if (mode === AND ? !negate : negate) {
    // m AND inSet, or m OR NOT inSet: every row outside the set becomes 0 (resp. 1); the looked-up rows
    // keep their current value.
    const keep = ords.map((o) => m[o]!);
    m.fill(mode === AND ? 0 : 1);
    ords.forEach((o, i) => {
      m[o] = keep[i]!;
    });
  } else {
    // m AND NOT inSet clears the looked-up rows; m OR inSet sets them.
    for (const o of ords) m[o] = mode === AND ? 0 : 1;
  }
}

/**
 * Applies a row test (rows below `len`; rows past it are missing, `pMissing`) to the mask in `mode`. The
 * test is called only on rows the mode leaves undecided.
 */
function condInto(test: (i: number) => boolean, len0: number, m: Uint8Array, mode: Mode, pMissing0: boolean): void {
  const n = m.length;
  const len = Math.min(n, len0);
  const pMissing = pMissing0 ? 1 : 0;
  if (mode === SET) {
    for (let i = 0; i < len; i++) m[i] = test(i) ? 1 : 0;
    if (len < n) m.fill(pMissing, len, n);
  } else if (mode === AND) {
    for (let i = 0; i < len; i++) if (m[i] !== 0) m[i] = test(i) ? 1 : 0;
    if (len < n && pMissing === 0) m.fill(0, len, n);
  } else {
    for (let i = 0; i < len; i++) if (m[i] === 0) m[i] = test(i) ? 1 : 0;
    if (len < n && pMissing === 1) m.fill(1, len, n);
  }
}

/** m = r, m && r or m || r (r: one 0/1 per row). */
function combineInto(r: Uint8Array, m: Uint8Array, mode: Mode): void {
  const n = m.length;
  if (mode === SET) m.set(r.subarray(0, n));
  else if (mode === AND) for (let i = 0; i < n; i++) m[i] = (m[i] as number) & (r[i] as number);
  else for (let i = 0; i < n; i++) m[i] = (m[i] as number) | (r[i] as number);
}

/** Conditions true of an array exactly when some element, alone in an array, makes them true. */
const SOME_ELEMENT = new Set(['in', 'contains', 'containsany', 'prefix']);
/** Conditions on an array value that do not depend on its elements (see the table above). */
const ELEMENT_BLIND = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'exists']);

/**
 * The condition's 0/1 per row (n rows; rows past the column are missing) over a typed column, with
 * exactly `p`'s semantics, in a new array or written over `into`'s first n bytes. `p` is evaluated once
 * per distinct value where it can (dictionary entry, boolean), and every row is then a table lookup or a
 * range test, in the WebAssembly kernels where they run (maskCodes) or a plain loop (no call per row: a
 * cold query runs these loops before the JIT has compiled much):
 * - strings: p of each dictionary entry, then a lookup by code;
 * - arrays: "some element" conditions (in, contains, containsany, prefix) test each dictionary entry
 *   alone ([e]) and a row is true when one of its codes is; nin is the negation of in, so a row is true
 *   when all of its codes are (true for []); element-blind ones (eq, ne, ordering, exists) are p([]) for
 *   every array; containsall (all listed values among the elements) rebuilds the row's array;
 * - numbers: direct comparisons on the typed array for ordering and equality with a number;
 * - booleans: p(true) and p(false).
 * Rows without a value get p(undefined). A code outside the dictionary (only in a damaged file, which
 * its checksums refuse first) reads as false.
 */
function typedRows(cond: FilterCondition, p: ValuePredicate, c: TypedColumn, n: number, into?: Uint8Array): Uint8Array {
  const miss = p(undefined) ? 1 : 0;
  const r = into === undefined ? new Uint8Array(n) : into.subarray(0, n);
  const len = Math.min(n, c.length);
  if (miss === 1 || into !== undefined) r.fill(miss);
  const pres = c.presence;
  // rows with a value, in order (a byte of the presence bitmap at a time; absent rows keep `miss`)
  const eachPresent = (f: (i: number) => void) => {
    for (let b = 0; b < pres.length; b++) {
      const bits = pres[b]!;
      if (bits === 0) continue;
      const base = b << 3;
      for (let k = 0; k < 8; k++) if ((bits >> k) & 1 && base + k < len) f(base + k);
    }
  };
  switch (c.kind) {
    case KIND_F64:
    case KIND_INT: {
      const v = cond.value;
      const op = cond.op;
      const u = c.intCodes;
      if (u !== null && typeof v === 'number' && (op === 'eq' || op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte')) {
        // The range of stored codes the condition admits (value = base + code; no widened copy, see
        // TypedColumn.intCodes). Values are integers, so x > v is x >= floor(v) + 1, x < v is
        // x <= ceil(v) - 1 and x = v needs an integer v: integer bounds on the value first, then minus the
        // base. Both are integers, and the difference is exact wherever it can fall inside [0, top].
        // Subtracting first rounded a small fraction away against a large base (-2^31 + 1e-7 is -2^31:
        // `x = 1e-7` matched x = -2^31, and `x <= -1e-7` deleted x = 0; found by a tester). NaN admits
        // nothing, as every comparison with it is false.
        const base = c.intBase;
        const top = 2 ** (8 * u.BYTES_PER_ELEMENT) - 1;
        const lo = (op === 'gt' ? Math.floor(v) + 1 : op === 'gte' || op === 'eq' ? Math.ceil(v) : -Infinity) - base;
        const hi = (op === 'lt' ? Math.ceil(v) - 1 : op === 'lte' || op === 'eq' ? Math.floor(v) : Infinity) - base;
        if (Number.isNaN(v) || lo > hi || hi < 0 || lo > top) r.fill(0, 0, len);
        else {
          const a = Math.max(0, lo);
          const b = Math.min(top, hi);
          // through the kernel (maskCodes), else the same range here
          if (!maskCodes(u, len, a, b, null, r)) for (let i = 0; i < len; i++) r[i] = u[i]! >= a && u[i]! <= b ? 1 : 0;
        }
        fixAbsent(r, pres, len, miss);
        return r;
      }
      const a = c.numbers!;
      if (typeof v === 'number' && (op === 'eq' || op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte')) {
        // One loop per operator, straight over the typed array; absent rows are fixed up after.
        if (op === 'eq') for (let i = 0; i < len; i++) r[i] = a[i] === v ? 1 : 0;
        else if (op === 'gt') for (let i = 0; i < len; i++) r[i] = a[i]! > v ? 1 : 0;
        else if (op === 'gte') for (let i = 0; i < len; i++) r[i] = a[i]! >= v ? 1 : 0;
        else if (op === 'lt') for (let i = 0; i < len; i++) r[i] = a[i]! < v ? 1 : 0;
        else for (let i = 0; i < len; i++) r[i] = a[i]! <= v ? 1 : 0;
        fixAbsent(r, pres, len, miss);
      } else eachPresent((i) => (r[i] = p(a[i]) ? 1 : 0));
      return r;
    }
    case KIND_BOOL: {
      const bits = c.bools!;
      const t = p(true) ? 1 : 0;
      const f = p(false) ? 1 : 0;
      for (let i = 0; i < len; i++) r[i] = (bits[i >> 3]! >> (i & 7)) & 1 ? t : f;
      fixAbsent(r, pres, len, miss);
      return r;
    }
    case KIND_STRING: {
      const hit = Uint8Array.from(c.dict, (s) => (p(s) ? 1 : 0));
      const codes = c.codes!;
      if (!maskCodes(codes, len, 0, 0, hit, r)) for (let i = 0; i < len; i++) r[i] = hit[codes[i]!] ?? 0;
      fixAbsent(r, pres, len, miss);
      return r;
    }
    case KIND_STRINGS: {
      const codes = c.codes!;
      const starts = c.starts!;
      if (ELEMENT_BLIND.has(cond.op)) {
        const any = p([]) ? 1 : 0;
        eachPresent((i) => (r[i] = any));
        return r;
      }
      const some = SOME_ELEMENT.has(cond.op);
      if (some || cond.op === 'nin') {
        const hit = Uint8Array.from(c.dict, (s) => (p([s]) ? 1 : 0));
        // some: true when an element hits; nin: true unless an element is listed (hit = 0)
        const stop = some ? 1 : 0;
        const found = some ? 1 : 0;
        eachPresent((i) => {
          let v = found ^ 1;
          for (let j = starts[i]!; j < starts[i + 1]!; j++) {
            if ((hit[codes[j]!] ?? 0) === stop) {
              v = found;
              break;
            }
          }
          r[i] = v;
        });
        return r;
      }
      eachPresent((i) => (r[i] = p(c.get(i)) ? 1 : 0));
      return r;
    }
    default:
      return r;
  }
}

/** Rows without a value (presence bit 0) get `miss`. */
function fixAbsent(r: Uint8Array, pres: Uint8Array, len: number, miss: number): void {
  for (let b = 0; b < pres.length; b++) {
    const bits = pres[b]!;
    if (bits === 0xff) continue;
    const base = b << 3;
    for (let k = 0; k < 8 && base + k < len; k++) if (((bits >> k) & 1) === 0) r[base + k] = miss;
  }
}

/** Number of 1s in a 0/1 mask. */
export function countMatches(mask: Uint8Array): number {
  return countNonZeroBytes(mask);
}
