import { ElacsymError } from '../errors.js';
import { attributeNameProblem, attributeOf, fitsType, inferType, MAX_VECTOR_COMPONENT } from './schema.js';
import type { AttrValue, Attributes, Doc, DocId, Schema } from './types.js';

export const MAX_STRING_ID_BYTES = 512;

/**
 * Ids are non-negative safe integers (0 .. 2^53-1) or non-empty strings of at most 512 UTF-8 bytes.
 * 42 and "42" are different ids: ids keep their JSON type so `export | import` round-trips exactly.
 */
export function parseId(v: unknown): DocId {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    // A JSON number past 2^53 has lost digits before it gets here: printing it would show another number
    // than the one written (9007199254740993 read as 9007199254740992).
    if (Number.isInteger(v) && v >= 2 ** 53) throw new Error('id must be a non-negative integer below 2^53 or a string; this number is at or past 2^53, where JSON numbers lose digits: write it as a string id ("...")');
    throw new Error(`id must be a non-negative integer below 2^53 or a string, got ${JSON.stringify(v)}`);
  }
  if (typeof v === 'string') {
    if (v.length === 0) throw new Error('id must not be an empty string');
    if (Buffer.byteLength(v) > MAX_STRING_ID_BYTES) throw new Error(`id longer than ${MAX_STRING_ID_BYTES} bytes`);
    return v;
  }
  throw new Error(`id must be a non-negative integer or a string, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
}

/** The unique key of an id: its JSON text (so 42 and "42" differ). */
export function idKey(id: DocId): string {
  return typeof id === 'number' ? String(id) : JSON.stringify(id);
}

export function idFromKey(key: string): DocId {
  return key.charCodeAt(0) === 34 /* " */ ? (JSON.parse(key) as string) : Number(key);
}

/** Total order on ids used to break ties: integers ascending, then strings by code unit. */
export function compareIds(a: DocId, b: DocId): number {
  if (typeof a === 'number') {
    if (typeof b === 'number') return a - b;
    return -1;
  }
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An invalid document: `field` is the JSON path of the offending value. */
export class DocumentError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Whether `t` is a safe non-negative integer in its one canonical decimal form (no sign, no leading
 * zeros): the text an integer id prints as, so that reading it back gives the same id. Text ids typed by
 * a user (the command line, a CSV cell) are integers only then, strings otherwise.
 */
export function isCanonicalInteger(t: string): boolean {
  return /^(0|[1-9]\d*)$/.test(t) && Number.isSafeInteger(Number(t));
}

/**
 * Validate one parsed NDJSON object against the schema. New attributes are typed on first sight and
 * reported through `newAttrs` (the caller records them in the schema with the batch).
 * Throws DocumentError naming the field. `slab`, when given, supplies the vector's storage (see VectorSlab).
 */
export function toDoc(obj: unknown, schema: Schema, newAttrs: Map<string, AttrValue>, slab?: VectorSlab): Doc {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new DocumentError('', 'expected a JSON object like {"id": 1, "vector": [...], "attributes": {...}}');
  }
  const o = obj as Record<string, unknown>;
  let id: DocId;
  try {
    id = parseId(o.id);
  } catch (e) {
    throw new DocumentError('id', (e as Error).message);
  }
  let vector: Float32Array | null = null;
  let attributes: Attributes = {};
  // First sightings are recorded only if the whole document is valid.
  const fresh: [string, AttrValue][] = [];
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (key === 'id') continue;
    if (key === 'vector') {
      if (v === null || v === undefined) continue;
      vector = toVector(v, schema.vector_dim, slab);
    } else if (key === 'attributes') {
      if (v === null || v === undefined) continue;
      attributes = toAttributes(v, schema, newAttrs, fresh);
    } else {
      throw new DocumentError(key, 'unknown key; a document has id, vector and attributes');
    }
  }
  for (const [name, val] of fresh) newAttrs.set(name, val);
  return { id, vector, attributes };
}

/** Bytes of one VectorSlab block by default: large enough for glibc to map it on its own (>= 128 KiB). */
const SLAB_BYTES = 512 * 1024;

/**
 * Storage for parsed vectors, cut as views from blocks of `rows` vectors. An import's documents wait in
 * their batch until the writer copies the batch's vectors into its arena; with a Float32Array of its own,
 * each vector was one small C allocation (and an ArrayBuffer for V8 to track), 100k of them per segment,
 * that glibc kept, fragmented, long after the copy (~15 MiB of a 100k import's peak).
 *
 * `recycle()` hands the same blocks out again: the import calls it once a batch is committed, when the
 * writer has copied the vectors it keeps and nothing holds a view any more. Dropped instead, each batch's
 * blocks (4 MB for 8,192 vectors of 128 dimensions) waited in the C heap (one malloc arena, bin/elacsym)
 * for V8 to collect their wrappers, which an import's large old generation made rare: a 400k import
 * peaked at 330-407 MiB from one run to the next, 333-336 MiB with the blocks recycled
 * (docs/performance.md, "Session 28").
 */
export class VectorSlab {
  private readonly blocks: Float32Array[] = [];
  /** The block views are cut from now (blocks[at]), and how many rows of it are handed out. */
  private at = -1;
  private used = 0;

  /** `dim` floats a vector; `rows` vectors a block (by default ~512 KiB of them: 1,024 at 128 dimensions). */
  constructor(
    readonly dim: number,
    private readonly rows = Math.max(16, Math.floor(SLAB_BYTES / (4 * dim))),
  ) {}

  /** A view of `dim` floats, its contents unspecified (a recycled row keeps an earlier vector's values). */
  next(): Float32Array {
    if (this.at < 0 || this.used === this.rows) {
      this.at++;
      if (this.at === this.blocks.length) this.blocks.push(new Float32Array(this.rows * this.dim));
      this.used = 0;
    }
    const block = this.blocks[this.at]!;
    const at = this.used++ * this.dim;
    return block.subarray(at, at + this.dim);
  }

  /**
   * Every view handed out so far is done with (the caller holds none of them): their rows are handed out
   * again. Blocks beyond SLAB_KEEP_BYTES are let go of (a batch of unusual size).
   */
  recycle(): void {
    const keep = Math.max(1, Math.floor(SLAB_KEEP_BYTES / (this.rows * this.dim * 4)));
    if (this.blocks.length > keep) this.blocks.length = keep;
    this.at = -1;
    this.used = 0;
  }
}

/** The most a VectorSlab keeps for reuse: the blocks of a default batch (8,192 vectors) up to 1,024 dimensions. */
const SLAB_KEEP_BYTES = 32 * 1024 * 1024;

function toVector(v: unknown, dim: number, slab?: VectorSlab): Float32Array {
  if (!Array.isArray(v)) throw new DocumentError('vector', 'expected an array of numbers');
  if (dim === 0) throw new DocumentError('vector', 'this namespace has no vectors (vector_dim 0); drop the field or re-init with --dim');
  if (v.length !== dim) throw new DocumentError('vector', `expected ${dim} numbers, got ${v.length}`);
  // A row of a rejected document is simply left unused.
  const out = slab !== undefined && slab.dim === dim ? slab.next() : new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new DocumentError(`vector[${i}]`, `expected a finite number, got ${x === undefined ? 'nothing' : typeof x === 'number' ? 'a number out of range (such as 1e999, NaN or Infinity)' : JSON.stringify(x)}`);
    }
    // Bounded so that no score computed from it can overflow (see MAX_VECTOR_COMPONENT).
    if (Math.abs(x) > MAX_VECTOR_COMPONENT) {
      throw new DocumentError(`vector[${i}]`, `${JSON.stringify(x)} is out of range; vector components must be between -1e15 and 1e15`);
    }
    out[i] = x;
  }
  return out;
}

function toAttributes(v: unknown, schema: Schema, newAttrs: ReadonlyMap<string, AttrValue>, fresh: [string, AttrValue][]): Attributes {
  if (typeof v !== 'object' || Array.isArray(v) || v === null) throw new DocumentError('attributes', 'expected an object');
  const attrs = v as Record<string, unknown>;
  // Own keys only, looked up as own properties: names such as "constructor" or "__proto__" are data.
  for (const name of Object.keys(attrs)) {
    const val = attrs[name];
    const path = `attributes.${name}`;
    checkValue(val, path);
    const def = attributeOf(schema, name);
    if (def) {
      if (!fitsType(def, val as AttrValue)) {
        throw new DocumentError(path, `expected ${def.type}, got ${describe(val)}`);
      }
    } else {
      // The rule init --schema applies: a name the schema could not hold is refused here too.
      const problem = attributeNameProblem(name);
      if (problem !== null) throw new DocumentError(path, problem);
      if (val === null) continue;
      const seen = newAttrs.get(name);
      if (seen === undefined) fresh.push([name, val as AttrValue]);
      else if (inferType(seen) !== inferType(val as AttrValue)) {
        throw new DocumentError(path, `expected ${inferType(seen)} (typed on first sight), got ${describe(val)}`);
      }
    }
  }
  return attrs as Attributes;
}

function checkValue(val: unknown, path: string): void {
  if (val === null || typeof val === 'string' || typeof val === 'boolean') return;
  if (typeof val === 'number') {
    if (!Number.isFinite(val)) throw new DocumentError(path, 'numbers must be finite');
    return;
  }
  if (Array.isArray(val)) {
    for (let i = 0; i < val.length; i++) {
      if (typeof val[i] !== 'string') throw new DocumentError(`${path}[${i}]`, `arrays hold strings only, got ${describe(val[i])}`);
    }
    return;
  }
  throw new DocumentError(path, `unsupported value ${describe(val)}; use a string, number, boolean, array of strings or null`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)})`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Wrap a DocumentError as the public error, naming the 1-based input line. */
export function toInvalidDocument(e: DocumentError, line: number): ElacsymError {
  const where = e.field ? `line ${line}, field ${e.field}` : `line ${line}`;
  return new ElacsymError('INVALID_DOCUMENT', `${where}: ${e.message}`, { details: { line, field: e.field } });
}
