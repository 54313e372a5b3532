import { ElacsymError } from '../errors.js';
import type { AttrType, AttrValue, AttributeSchema, FullTextOptions, Metric, Schema } from './types.js';
import { hasLoneSurrogate } from '../util/utf16.js';

export const ATTR_TYPES: readonly AttrType[] = ['string', 'integer', 'float', 'boolean', 'array<string>'];
export const METRICS: readonly Metric[] = ['cosine', 'l2', 'dot'];
export const MAX_DIM = 65_536;
/**
 * Largest magnitude of a vector component, in documents and queries (issue 9 §5). The scoring kernels
 * accumulate in float32 (max 3.4e38): with |x| <= 1e15 and dim <= MAX_DIM, a dot product is at most
 * 65,536 * 1e30 = 6.6e34 and a squared l2 distance at most 65,536 * (2e15)^2 = 2.6e35, so no score, partial
 * sum or product can overflow to Infinity (or NaN, from Infinity - Infinity) whatever the vectors: every
 * score is finite and every document stays comparable. Real embeddings are many orders of magnitude below.
 */
export const MAX_VECTOR_COMPONENT = 1e15; // messages and docs spell it 1e15
/**
 * Largest query weight (`--fields name^W`, `--text-weight`, `--vector-weight`, request weights): a BM25
 * field score or an RRF term (at most weight / (rrf_k + 1)) times it stays far inside float64.
 */
export const MAX_WEIGHT = 1e6;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const ATTR_NAME_RE = /^[^\u0000-\u001f]{1,256}$/u;

export const DEFAULT_FULL_TEXT: FullTextOptions = {
  language: 'english',
  stemming: true,
  remove_stopwords: true,
  case_sensitive: false,
};

/**
 * User-supplied names (attribute and field names, schema keys, weights) are data (issue 9 §7): a name such
 * as "constructor", "toString" or "__proto__" must not reach Object.prototype. Objects keyed by such names
 * are created with `dataRecord()` (null prototype: writing "__proto__" makes an own property) and read with
 * `ownValue()`/`attributeOf()` (own properties only), which also works on plain objects from JSON.parse.
 */
export function dataRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * rec[key] = value as an own, enumerable property, on an ordinary object too: "__proto__" becomes a key,
 * as JSON.parse makes it, never the object's prototype.
 */
export function setOwnValue<T>(rec: Record<string, T>, key: string, value: NoInfer<T>): void {
  if (key === '__proto__') Object.defineProperty(rec, key, { value, enumerable: true, writable: true, configurable: true });
  else rec[key] = value;
}

/** rec[key] if it is an own property of rec, else undefined (never an inherited Object.prototype member). */
export function ownValue<T>(rec: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

/** The schema's definition of attribute `name`, if it has one. */
export function attributeOf(s: Schema, name: string): AttributeSchema | undefined {
  return ownValue(s.attributes, name);
}

/**
 * Why `name` is not a valid attribute name for a new attribute (the one rule for schemas, --full-text
 * and imports), or null. `id` is the document id's name wherever a field is named (filters, --sort,
 * --fields): an attribute of that name could be stored but never filtered on (a tester's case), so a new
 * one is refused. A namespace whose schema already declares one keeps it.
 */
export function attributeNameProblem(name: string): string | null {
  if (name === RESERVED_ID) return 'the name id is the document id in filters and sorts; name the attribute otherwise (e.g. external_id)';
  // A segment's Parquet column is named after the attribute, in UTF-8, which has no form for an unpaired
  // surrogate: such a name was accepted, then its segment could not be exported or compacted (a tester's case).
  if (hasLoneSurrogate(name)) return 'attribute names must be valid Unicode text; this one has an unpaired surrogate (such as \\ud800)';
  return knownAttributeNameProblem(name);
}

const RESERVED_ID = 'id';

/** attributeNameProblem without the rule for new names: for schemas that exist already (alter, shard stages). */
function knownAttributeNameProblem(name: string): string | null {
  return ATTR_NAME_RE.test(name) ? null : 'attribute names are 1-256 characters without control characters';
}

export function validateNamespaceName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new ElacsymError('INVALID_NAMESPACE_NAME', `invalid namespace name ${JSON.stringify(name)}`);
  }
}

function bad(path: string, msg: string): never {
  throw new ElacsymError('INVALID_SCHEMA', `${path}: ${msg}`, { details: { field: path } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseFullText(v: unknown, path: string, type: AttrType): FullTextOptions | null {
  if (v === undefined || v === false || v === null) return null;
  if (type !== 'string' && type !== 'array<string>') bad(path, `full_text needs a string or array<string> attribute, not ${type}`);
  if (v === true) return { ...DEFAULT_FULL_TEXT };
  if (!isObject(v)) bad(path, 'expected true, false or an object');
  const out: FullTextOptions = { ...DEFAULT_FULL_TEXT };
  for (const [k, val] of Object.entries(v)) {
    if (k === 'language') {
      if (typeof val !== 'string' || val === '') bad(`${path}.language`, 'expected a language name such as "english"');
      out.language = val.toLowerCase();
    } else if (k === 'positions') {
      if (typeof val !== 'boolean' && val !== 'auto') bad(`${path}.positions`, 'expected true, false or "auto"');
      out.positions = val;
    } else if (k === 'stemming' || k === 'remove_stopwords' || k === 'case_sensitive' || k === 'ascii_folding') {
      if (typeof val !== 'boolean') bad(`${path}.${k}`, 'expected true or false');
      out[k] = val;
    } else if (k === 'tokenizer') {
      if (val !== 'legacy' && val !== 'unicode') bad(`${path}.tokenizer`, 'expected "legacy" or "unicode"');
      out.tokenizer = val;
    } else if (k === 'stopwords') {
      if (!Array.isArray(val) || !val.every((w) => typeof w === 'string' && w.length > 0)) bad(`${path}.stopwords`, 'expected a list of words');
      out.stopwords = [...(val as string[])];
    } else {
      bad(`${path}.${k}`, 'unknown key; expected language, stemming, remove_stopwords, case_sensitive, ascii_folding, stopwords, tokenizer, positions');
    }
  }
  // The language-neutral analyzer folds unless told not to; every other language folds only when asked
  // (and schemas written before the option have no key, hence no folding: see FullTextOptions).
  if (out.language === 'unicode' && out.ascii_folding === undefined) out.ascii_folding = true;
  return out;
}

/**
 * Parse a schema in the ancestor's JSON shape:
 * `{"vector_dim": 384, "vector_metric": "cosine", "attributes": {"title": {"type": "string", "full_text": true}}}`.
 * Pure: language names are checked by the store (they need the analyzer's language table).
 * `existing`: the schema of a namespace that exists already (a shard stage's copy, an `alter`), whose
 * attribute names were accepted when they were made; otherwise (init, the HTTP create route) new names
 * follow attributeNameProblem in full.
 */
export function parseSchema(json: unknown, where = 'schema', existing = false): Schema {
  if (!isObject(json)) bad(where, 'expected a JSON object');
  const schema: Schema = { vector_dim: 0, vector_metric: 'cosine', attributes: dataRecord() };
  for (const [k, v] of Object.entries(json)) {
    if (k === 'vector_dim') {
      if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_DIM)) {
        bad(`${where}.vector_dim`, `expected an integer between 0 and ${MAX_DIM}`);
      }
      schema.vector_dim = v ?? 0;
    } else if (k === 'vector_metric') {
      if (typeof v !== 'string' || !METRICS.includes(v as Metric)) bad(`${where}.vector_metric`, `expected one of ${METRICS.join(', ')}`);
      schema.vector_metric = v as Metric;
    } else if (k === 'attributes') {
      if (!isObject(v)) bad(`${where}.attributes`, 'expected an object of attribute definitions');
      for (const [name, def] of Object.entries(v)) {
        const p = `${where}.attributes.${name}`;
        const problem = existing ? knownAttributeNameProblem(name) : attributeNameProblem(name);
        if (problem !== null) bad(p, problem);
        if (!isObject(def)) bad(p, 'expected {"type": ...}');
        const type = def.type;
        if (typeof type !== 'string' || !ATTR_TYPES.includes(type as AttrType)) {
          bad(`${p}.type`, `expected one of ${ATTR_TYPES.join(', ')}`);
        }
        for (const key of Object.keys(def)) {
          if (key !== 'type' && key !== 'full_text') bad(`${p}.${key}`, 'unknown key; expected type, full_text');
        }
        schema.attributes[name] = { type: type as AttrType, full_text: parseFullText(def.full_text, `${p}.full_text`, type as AttrType) };
      }
    } else {
      bad(`${where}.${k}`, 'unknown key; expected vector_dim, vector_metric, attributes');
    }
  }
  return schema;
}

/** The schema in the ancestor's shape, for `elacsym schema` and `export`. */
export function toSchemaJson(s: Schema): Record<string, unknown> {
  const attributes = dataRecord<unknown>();
  for (const [name, a] of Object.entries(s.attributes)) {
    attributes[name] = a.full_text ? { type: a.type, full_text: a.full_text } : { type: a.type };
  }
  return { vector_dim: s.vector_dim, vector_metric: s.vector_metric, attributes };
}

/** The type a schemaless attribute gets on first sight; null for null (untyped until a real value). */
export function inferType(v: AttrValue): AttrType | null {
  if (v === null) return null;
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  // JSON does not tell 9 from 9.0: inferring "integer" would reject a later 9.5, so numbers start as float.
  if (typeof v === 'number') return 'float';
  return 'array<string>';
}

/** Does `v` (already a valid AttrValue) fit `a`? Integers are accepted by float attributes. */
export function fitsType(a: AttributeSchema, v: AttrValue): boolean {
  if (v === null) return true;
  switch (a.type) {
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'float':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'array<string>':
      return Array.isArray(v);
  }
}

export function fullTextFields(s: Schema): string[] {
  return Object.entries(s.attributes)
    .filter(([, a]) => a.full_text !== null)
    .map(([n]) => n)
    .sort();
}
