/**
 * Filter-only listing with a sort order and keyset paging (`query --sort/--limit/--offset/--after`).
 *
 * Order: the sort keys in turn, then the id ascending (`compareIds`), so the order is total and a page
 * boundary is never ambiguous. Values of one key compare by type rank first — numbers, then strings
 * (UTF-16 code units, like filters), then booleans (false < true), then arrays (by their JSON text) —
 * then by value; a missing (absent or null) value sorts after every present one in both directions
 * (SQL's NULLS LAST).
 *
 * Paging: `after` is an opaque cursor holding the sort values and id of the last row of the previous page
 * plus a fingerprint of the sort and filter. The next page is the rows strictly after it in the order
 * above — keyset pagination (Winand, "Use the Index, Luke", ch. "Paging Through Results") — so a walk
 * never returns an id twice and never skips a document that existed for the whole walk while other
 * processes write, as long as that document's sort attributes do not change. `offset` counts from the
 * start of the current snapshot and shifts when documents are inserted or deleted before it.
 */
import { ElacsymError } from '../errors.js';
import { compareIds } from '../model/document.js';
import { describeFilter, type Filter, ID_FIELD } from '../model/filter.js';
import { unknownName } from '../model/names.js';
import { dataRecord } from '../model/schema.js';
import type { AttrValue, Attributes, DocId, Schema } from '../model/types.js';
import { columnValue } from '../index/filter/evaluate.js';
import { filterMask } from '../query/engine.js';
import { crc32 } from '../util/crc32.js';
import { QueryContext } from './search-sources.js';
import type { Snapshot } from './snapshot.js';

export interface SortKey {
  field: string;
  desc: boolean;
}

export interface ListOptions {
  filter: Filter | null;
  sort: readonly SortKey[];
  /** Rows per page, >= 1 (no upper cap: listing holds only the matches' keys). */
  limit: number;
  /** Rows to skip from the start; exclusive with `after`. */
  offset?: number;
  /** A cursor from a previous page's `next_cursor`. */
  after?: string;
  /** null = every attribute; [] = none. */
  include_attributes: string[] | null;
  include_vector: boolean;
}

export interface ListRow {
  id: DocId;
  attributes?: Attributes;
  vector?: number[] | null;
}

export interface ListPage {
  results: ListRow[];
  /** Matching live documents in the snapshot (all pages). */
  matches: number;
  /** Pass as `after` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** Parses `year:desc,title` (direction defaults to asc). Throws USAGE naming the bad part. */
export function parseSort(spec: string, schema: Schema): SortKey[] {
  const keys: SortKey[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.lastIndexOf(':');
    const field = i < 0 ? part : part.slice(0, i);
    const dir = i < 0 ? 'asc' : part.slice(i + 1);
    if (dir !== 'asc' && dir !== 'desc') throw new ElacsymError('USAGE', `--sort ${part}: direction must be asc or desc`);
    if (field === '') throw new ElacsymError('USAGE', `--sort ${part}: missing attribute name`);
    // `id` is the document id, as in filters (even where an old schema declares an attribute of that name).
    if (field === ID_FIELD) {
      keys.push({ field, desc: dir === 'desc' });
      continue;
    }
    const a = Object.hasOwn(schema.attributes, field) ? schema.attributes[field] : undefined;
    // An unknown name is an error, as in filters and --fields: a typo must not sort by nothing.
    if (!a) throw new ElacsymError('INVALID_QUERY', `--sort: ${unknownName('attribute', field, [...Object.keys(schema.attributes), ID_FIELD], 'known fields')}`);
    if (a.type === 'array<string>') throw new ElacsymError('USAGE', `--sort ${field}: array attributes have no order; sort by a scalar attribute`);
    keys.push({ field, desc: dir === 'desc' });
  }
  if (keys.length === 0) throw new ElacsymError('USAGE', '--sort needs at least one attribute');
  return keys;
}

const rank = (v: AttrValue | undefined): number =>
  v === undefined || v === null ? 4 : typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : 3;

/** Order of two values of one sort key, ascending, missing last. */
export function compareValues(a: AttrValue | undefined, b: AttrValue | undefined): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return (a as number) - (b as number);
    case 1:
      return a! < b! ? -1 : a! > b! ? 1 : 0;
    case 2:
      return Number(a) - Number(b);
    case 3: {
      const x = JSON.stringify(a);
      const y = JSON.stringify(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default:
      return 0;
  }
}

interface Key {
  values: (AttrValue | undefined)[];
  id: DocId;
}

function compareKeys(sort: readonly SortKey[], a: Key, b: Key): number {
  for (let i = 0; i < sort.length; i++) {
    const va = a.values[i];
    const vb = b.values[i];
    // The id key holds the id itself (never missing), in the order of the id tie-break.
    let c = sort[i]!.field === ID_FIELD ? compareIds(va as DocId, vb as DocId) : compareValues(va, vb);
    // Missing stays last in both directions: only present-vs-present comparisons flip.
    if (c !== 0 && sort[i]!.desc && rank(va) !== 4 && rank(vb) !== 4) c = -c;
    if (c !== 0) return c;
  }
  return compareIds(a.id, b.id);
}

function fingerprint(sort: readonly SortKey[], filter: Filter | null): number {
  return crc32(new TextEncoder().encode(JSON.stringify([sort, filter ? describeFilter(filter) : null])));
}

function encodeCursor(k: Key, fp: number): string {
  // undefined is not JSON: missing values travel as {"m":1}.
  const values = k.values.map((v) => (v === undefined || v === null ? { m: 1 } : { v }));
  return Buffer.from(JSON.stringify({ f: fp, k: values, id: k.id })).toString('base64url');
}

function decodeCursor(s: string, fp: number, n: number): Key {
  let o: { f?: unknown; k?: unknown; id?: unknown };
  try {
    o = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as typeof o;
  } catch {
    throw new ElacsymError('USAGE', '--after: not a cursor printed by elacsym (pass next_cursor from the previous page)');
  }
  if (o.f !== fp || !Array.isArray(o.k) || o.k.length !== n || (typeof o.id !== 'number' && typeof o.id !== 'string')) {
    throw new ElacsymError('USAGE', '--after: the cursor belongs to another --sort or --filter; page with the same options as the first page');
  }
  const values = (o.k as { m?: number; v?: AttrValue }[]).map((e) => (e && e.m === 1 ? undefined : e?.v));
  return { values, id: o.id };
}

/** One page of the live documents of `snap` matching `opts.filter`, in the sort order. */
export function listDocuments(snap: Snapshot, opts: ListOptions): ListPage {
  if (opts.after !== undefined && opts.offset) throw new ElacsymError('USAGE', '--after and --offset are exclusive');
  const ctx = new QueryContext(snap);
  const fp = fingerprint(opts.sort, opts.filter);
  const after = opts.after !== undefined ? decodeCursor(opts.after, fp, opts.sort.length) : null;
  const cands: { key: Key; src: number; ord: number }[] = [];
  let matches = 0;
  ctx.sources.forEach((s, si) => {
    const mask = opts.filter ? filterMask(s, opts.filter) : null;
    const cols = opts.sort.map((k) => (k.field === ID_FIELD ? null : s.column(k.field)));
    for (let o = 0; o < s.size; o++) {
      if (s.dead && s.dead[o]) continue;
      if (mask && mask[o] !== 1) continue;
      matches++;
      const id = s.idOf(o);
      const key: Key = { values: cols.map((c) => (c === null ? id : columnValue(c, o))), id };
      if (after && compareKeys(opts.sort, key, after) <= 0) continue;
      cands.push({ key, src: si, ord: o });
    }
  });
  cands.sort((a, b) => compareKeys(opts.sort, a.key, b.key));
  const start = opts.offset ?? 0;
  const page = cands.slice(start, start + opts.limit);
  const more = cands.length > start + opts.limit;
  const results = page.map(({ key, src, ord }) => {
    const s = ctx.sources[src]!;
    const row: ListRow = { id: key.id };
    if (opts.include_attributes === null || opts.include_attributes.length > 0) {
      const attrs = s.attributesOf(ord, opts.include_attributes ?? undefined);
      if (opts.include_attributes === null) row.attributes = attrs;
      else {
        const pick: Attributes = dataRecord(); // "__proto__" is a name like any other
        for (const a of opts.include_attributes) if (Object.hasOwn(attrs, a)) pick[a] = attrs[a]!;
        row.attributes = pick;
      }
    }
    if (opts.include_vector) {
      const v = s.vectorOf(ord);
      row.vector = v ? Array.from(v) : null;
    }
    return row;
  });
  const last = page[page.length - 1];
  return { results, matches, next_cursor: more && last ? encodeCursor(last.key, fp) : null };
}
