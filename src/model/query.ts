/**
 * Query requests in the ancestor's JSON shape, validated into a `QueryRequest`:
 *
 *   {"vector": [...], "full_text": {"field": "title", "query": "...", "weight": 0.5}
 *                              | {"fields": ["title", "body"], "query": "...", "weights": {"title": 2.0}},
 *    "filter": {...}, "top_k": 10, "include_vector": false, "include_attributes": ["title"]}
 *
 * Extensions: "rrf_k" (default 60), "vector_weight" (fusion weight of the vector retriever, default 1),
 * full_text "weight" is the fusion weight of the text retriever (default 1), "explain": true, and the vector
 * retriever's accuracy: "nprobe" (IVF clusters each segment's search probes at least, instead of the
 * adaptive default) or "exact": true (every matching vector scored exactly: no approximation; ground truth
 * for measuring recall@k, at the cost of reading every vector). Both need "vector"; they exclude each other.
 */
import { ElacsymError } from '../errors.js';
import { type Filter, parseFilter } from './filter.js';
import { unknownName } from './names.js';
import { attributeOf, MAX_VECTOR_COMPONENT, MAX_WEIGHT, ownValue } from './schema.js';
import type { Schema } from './types.js';

export const DEFAULT_TOP_K = 10;
export const MAX_TOP_K = 10_000;
export const DEFAULT_RRF_K = 60;
/** The largest `nprobe` accepted; an index has at most this many clusters (ivf.ts MAX_NLIST is far below). */
export const MAX_NPROBE = 65_536;

export interface TextRequest {
  query: string;
  /** Field -> BM25 weight; empty = every full-text field with weight 1. */
  fields: { name: string; weight: number }[];
  /** Fusion weight of the text retriever. */
  weight: number;
}

export interface QueryRequest {
  vector: Float32Array | null;
  text: TextRequest | null;
  filter: Filter | null;
  top_k: number;
  include_vector: boolean;
  /** null = all attributes. */
  include_attributes: string[] | null;
  rrf_k: number;
  vector_weight: number;
  explain: boolean;
  /**
   * IVF clusters each segment's ANN search probes at least (more when a filter lowers selectivity, and
   * until top_k matching rows were found); null = the adaptive default (ivf.ts `IvfReader.search`).
   */
  nprobe: number | null;
  /** Score every matching vector exactly (no ANN): the exact top-k, for every source. */
  exact: boolean;
}

const bad = (path: string, msg: string): never => {
  throw new ElacsymError('INVALID_QUERY', `${path}: ${msg}`, { details: { field: path } });
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(v: unknown, path: string, min: number, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(path, max === Infinity ? `expected a finite number >= ${min}` : `expected a number between ${min} and ${max}`);
  return v as number;
}

function toVector(v: unknown, schema: Schema, path: string): Float32Array {
  if (!Array.isArray(v)) bad(path, 'expected an array of numbers');
  const arr = v as unknown[];
  // A text-only namespace answers a vector query with no vector candidates, not an error.
  if (schema.vector_dim !== 0 && arr.length !== schema.vector_dim) bad(path, `expected ${schema.vector_dim} numbers, got ${arr.length}`);
  const out = new Float32Array(arr.length);
  arr.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) bad(`${path}[${i}]`, 'expected a finite number');
    // Bounded like stored components, so no score can overflow (see MAX_VECTOR_COMPONENT).
    if (Math.abs(x as number) > MAX_VECTOR_COMPONENT) bad(`${path}[${i}]`, 'expected a number between -1e15 and 1e15');
    out[i] = x as number;
  });
  // Under cosine and dot a zero query scores every document exactly 0: nothing to rank by, and an ANN index
  // would return arbitrary documents, not the smallest ids the tie rule promises. (Under l2 it asks for
  // the vectors nearest the origin, a real question.)
  if (schema.vector_dim !== 0 && schema.vector_metric !== 'l2' && out.every((x) => x === 0)) {
    bad(path, `every component is 0: under ${schema.vector_metric} a zero vector scores every document 0, so it ranks nothing; send a nonzero vector, or none for a text or filter-only query`);
  }
  return out;
}

function toText(v: unknown, schema: Schema, path: string): TextRequest {
  if (!isObj(v)) bad(path, 'expected {"field"|"fields": ..., "query": "..."}');
  const o = v as Record<string, unknown>;
  const known = new Set(['field', 'fields', 'query', 'weight', 'weights']);
  for (const k of Object.keys(o)) if (!known.has(k)) bad(`${path}.${k}`, 'unknown key; expected field, fields, query, weight, weights');
  if (typeof o.query !== 'string') bad(`${path}.query`, 'expected a string');
  const names: string[] = [];
  if (o.field !== undefined) {
    if (typeof o.field !== 'string') bad(`${path}.field`, 'expected a string');
    names.push(o.field as string);
  }
  if (o.fields !== undefined) {
    if (!Array.isArray(o.fields) || o.fields.some((f) => typeof f !== 'string')) bad(`${path}.fields`, 'expected an array of strings');
    names.push(...(o.fields as string[]));
  }
  const weights = o.weights === undefined ? {} : o.weights;
  if (!isObj(weights)) bad(`${path}.weights`, 'expected an object of field -> weight');
  for (const [f, w] of Object.entries(weights as Record<string, unknown>)) {
    num(w, `${path}.weights.${f}`, 0, MAX_WEIGHT);
    if (!names.includes(f)) names.push(f);
  }
  const fields = [...new Set(names)].map((name) => {
    const a = attributeOf(schema, name);
    if (!a?.full_text) {
      const ft = Object.entries(schema.attributes).filter(([, x]) => x.full_text).map(([n]) => n);
      if (a === undefined) bad(`${path}.fields`, unknownName('attribute', name, ft, 'full-text fields'));
      bad(`${path}.fields`, `${JSON.stringify(name)} is not a full-text field${ft.length ? `; full-text fields: ${ft.join(', ')}` : '; this namespace has none (init with --full-text or a schema)'}`);
    }
    const w = ownValue(weights as Record<string, number>, name);
    return { name, weight: w ?? 1 };
  });
  if (fields.length === 0 && !Object.values(schema.attributes).some((a) => a.full_text)) {
    bad(path, 'this namespace has no full-text fields (init with --full-text or a schema)');
  }
  return { query: o.query as string, fields, weight: o.weight === undefined ? 1 : num(o.weight, `${path}.weight`, 0, MAX_WEIGHT) };
}

export function parseQueryRequest(json: unknown, schema: Schema, where = 'request'): QueryRequest {
  if (!isObj(json)) bad(where, 'expected a JSON object');
  const o = json as Record<string, unknown>;
  const req: QueryRequest = {
    vector: null,
    text: null,
    filter: null,
    top_k: DEFAULT_TOP_K,
    include_vector: false,
    include_attributes: null,
    rrf_k: DEFAULT_RRF_K,
    vector_weight: 1,
    explain: false,
    nprobe: null,
    exact: false,
  };
  for (const [k, v] of Object.entries(o)) {
    const p = `${where}.${k}`;
    switch (k) {
      case 'vector':
        if (v !== null) req.vector = toVector(v, schema, p);
        break;
      case 'full_text':
        if (v !== null) req.text = toText(v, schema, p);
        break;
      case 'filter':
        try {
          req.filter = parseFilter(v, schema);
        } catch (e) {
          if (e instanceof ElacsymError) throw new ElacsymError(e.code, `${where}.${e.message}`, { details: e.details });
          throw e;
        }
        break;
      case 'top_k':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TOP_K) bad(p, `expected an integer between 1 and ${MAX_TOP_K}`);
        req.top_k = v as number;
        break;
      case 'include_vector':
        if (typeof v !== 'boolean') bad(p, 'expected true or false');
        req.include_vector = v as boolean;
        break;
      case 'include_attributes':
        if (v === null || v === true) req.include_attributes = null;
        else if (v === false) req.include_attributes = [];
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
          // Unknown names are errors, not a silently smaller answer (known: see src/model/filter.ts).
          (v as string[]).forEach((name, i) => {
            if (!Object.hasOwn(schema.attributes, name)) bad(`${p}[${i}]`, unknownName('attribute', name, Object.keys(schema.attributes), 'known attributes'));
          });
          req.include_attributes = v as string[];
        } else bad(p, 'expected an array of attribute names, true or false');
        break;
      case 'rrf_k':
        req.rrf_k = num(v, p, 0);
        break;
      case 'vector_weight':
        req.vector_weight = num(v, p, 0, MAX_WEIGHT);
        break;
      case 'explain':
        if (typeof v !== 'boolean') bad(p, 'expected true or false');
        req.explain = v as boolean;
        break;
      case 'nprobe':
        if (v === null) break;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_NPROBE) bad(p, `expected an integer between 1 and ${MAX_NPROBE} (IVF clusters probed per segment)`);
        req.nprobe = v as number;
        break;
      case 'exact':
        if (v === null) break; // as "nprobe": null, the default
        if (typeof v !== 'boolean') bad(p, 'expected true or false');
        req.exact = v as boolean;
        break;
      default:
        bad(p, 'unknown key; expected vector, full_text, filter, top_k, include_vector, include_attributes, rrf_k, vector_weight, explain, nprobe, exact');
    }
  }
  // The vector retriever's accuracy settings mean nothing without it: an error, not a silently ignored key.
  if (req.vector === null && (req.nprobe !== null || req.exact)) {
    bad(`${where}.${req.exact ? 'exact' : 'nprobe'}`, 'applies to vector search, and the request has no "vector"');
  }
  if (req.exact && req.nprobe !== null) bad(`${where}.nprobe`, '"exact": true scores every vector, so no clusters are probed; send one of "exact" and "nprobe"');
  return req;
}
