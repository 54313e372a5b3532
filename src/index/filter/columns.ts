/**
 * Compact typed attribute columns (index file sections `col:<name>`) and the per-document attribute
 * shapes (section `attrs`): together they hold every attribute value of a segment once, serve the filter
 * evaluator whole (typed arrays and dictionary codes, no JS value per row) and rebuild one document's
 * attributes by a few range reads (`ColumnReader`, `AttributeShapes`), so a cold query that prints ten
 * documents reads a few blocks, not whole columns.
 *
 * Every integer is little-endian. Offsets are from the start of the section (sections start on an
 * 8-byte boundary in the file, see storage/segment-file.ts, so the f64 payload is 8-aligned there).
 *
 * Column section `col:<name>`, layout version 1 (the JSON array written before it starts with "[",
 * 0x5B, and is still read: see `isTypedColumn`):
 *   0   u8[4]  magic "ECOL" (0x45 0x43 0x4F 0x4C)
 *   4   u8     layout version, 1
 *   5   u8     kind: 0 none (no row holds a value), 1 f64, 2 integer, 3 boolean, 4 string, 5 array<string>
 *   6   u8     width w in bytes (1, 2 or 4) of a code (kinds 4 and 5) or of an integer (kind 2), else 0
 *   7   u8     kinds 4, 5: dictionary text: 0 UTF-8; 1 each entry is a JSON string literal in UTF-8 (set
 *              when some value holds a lone surrogate, which UTF-8 cannot carry); kind 2: decimal scale
 *              k (0-6); else 0
 *   8   u32    n, rows (= the segment's documents)
 *   12  u32    d, dictionary entries (kinds 4, 5); kind 2: i32 base (the smallest value); else 0
 *   16  u32    m, array elements over all rows (kind 5), else 0
 *   20  u32    dictionary text bytes (kinds 4, 5), else 0
 *   24  presence bitmap, ceil(n/8) bytes: bit (i & 7) of byte (i >> 3) is 1 when row i holds a value
 *       (neither absent nor null); zero padded to a multiple of 8
 *   then by kind (each part zero padded to a multiple of 8):
 *     0  nothing
 *     1  f64[n], numbers (0 where the bit is 0). -0 is stored as 0 (JSON, the old form, had no -0)
 *     2  when every number times 10^k is an integer in [-2^31, 2^31) for some k in 0..6 (the smallest),
 *        and dividing it by 10^k gives the number back exactly (prices, ratings, years):
 *        u8/u16/u32[n] by w, value = (base + u) / 10^k (u = 0 where the bit is 0), w the narrowest that
 *        holds max - min of the scaled integers; padded
 *     3  value bitmap, ceil(n/8) bytes, bit set = true; padded
 *     4  codes[n] (u8/u16/u32 by w, 0 where the bit is 0); padded; dictionary
 *     5  u32 starts[n+1] (row i's elements are codes[starts[i] .. starts[i+1]), in document order;
 *        equal for an absent row); padded; codes[m] (by w); padded; dictionary
 *   dictionary: u32 offsets[d+1] (into the text) | text: the d distinct values (of every row, or every
 *   element) in ascending JS order (UTF-16 code units, `<`, the order of string ranges in filters)
 *   The section ends there: its length must be exactly what the header implies.
 *
 * Attribute shapes section `attrs`, layout version 1 (a file without it has a `docs` section instead):
 *   0   u8[4]  magic "ESHP"
 *   4   u8     layout version, 1
 *   5   u8     code width w (1, 2 or 4); 0 when every document has the same shape (no codes then)
 *   6   u16    0
 *   8   u32    n, rows
 *   12  u32    J, bytes of the table below
 *   16  codes[n] (by w): row i's shape; zero padded to a multiple of 8 (nothing when w is 0)
 *   then J bytes: UTF-8 JSON {"names": [attribute names], "shapes": [[name index, ...], ...]}; a shape is
 *   the document's attribute keys in their insertion order (keys whose value is null included: the
 *   column's presence bit tells null from a value), so a rebuilt document deep-equals the imported one,
 *   key order included. JSON escapes lone surrogates, so any name survives.
 *
 * A segment whose attribute values do not fit one kind per attribute (never written by a validated
 * import) keeps the release-1 form for every attribute: a `docs` section and JSON columns.
 */
import { ElacsymError } from '../../errors.js';
import type { AttrValue, Attributes } from '../../model/types.js';
import { setOwnValue } from '../../model/schema.js';
import { type ByteSource, MemorySource } from '../../util/bytes.js';
import { hasLoneSurrogate } from '../../util/utf16.js';

const COL_MAGIC = 0x4c4f4345; // "ECOL" little-endian
const SHAPE_MAGIC = 0x50485345; // "ESHP" little-endian
const LAYOUT_VERSION = 1;
const HEADER = 24;

export const KIND_NONE = 0;
export const KIND_F64 = 1;
export const KIND_INT = 2;
export const KIND_BOOL = 3;
export const KIND_STRING = 4;
export const KIND_STRINGS = 5;
export type ColumnKind = 0 | 1 | 2 | 3 | 4 | 5;

const enc = new TextEncoder();
// ignoreBOM: stored strings may begin with U+FEFF, which is data here, not a byte-order mark to drop.
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const pad8 = (n: number) => Math.ceil(n / 8) * 8;

function corrupt(what: string, why: string): never {
  throw new ElacsymError('CORRUPT_SEGMENT', `${what}: ${why}`, { details: { path: what } });
}

/** Whether a `col:` section is in the typed form (else it is the release-1 JSON array). */
export function isTypedColumn(first4: Uint8Array): boolean {
  return first4.length >= 4 && first4[0] === 0x45 && first4[1] === 0x43 && first4[2] === 0x4f && first4[3] === 0x4c;
}

const MAX_SCALE = 6;

/**
 * The smallest k in 1..6 such that every number times 10^k is an integer s in [-2^31, 2^31) with
 * s / 10^k === the number (so decoding gives back exactly the same double), with the scaled min and max;
 * null when there is none (the column is stored as f64).
 */
function decimalScale(values: ReadonlyArray<AttrValue | undefined>): { scale: number; min: number; max: number } | null {
  outer: for (let k = 1; k <= MAX_SCALE; k++) {
    const p = 10 ** k;
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      if (typeof v !== 'number') continue;
      const s = Math.round(v * p);
      if (s < -(2 ** 31) || s >= 2 ** 31 || s / p !== v) continue outer;
      if (s < min) min = s;
      if (s > max) max = s;
    }
    return { scale: k, min, max };
  }
  return null;
}

/** Bytes for unsigned integers up to `range`. */
function intWidth(range: number): 1 | 2 | 4 {
  return range < 0x100 ? 1 : range < 0x10000 ? 2 : 4;
}

function codeWidth(d: number): 1 | 2 | 4 {
  return d <= 0x100 ? 1 : d <= 0x10000 ? 2 : 4;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Dict {
  values: string[];
  index: Map<string, number>;
  json: boolean;
  text: Uint8Array;
  offsets: Uint32Array;
}

function buildDict(distinct: Set<string>): Dict {
  const values = [...distinct].sort(compareStrings);
  const index = new Map<string, number>();
  values.forEach((v, i) => index.set(v, i));
  const json = values.some(hasLoneSurrogate);
  const parts = values.map((v) => enc.encode(json ? JSON.stringify(v) : v));
  let len = 0;
  for (const p of parts) len += p.length;
  const text = new Uint8Array(len);
  const offsets = new Uint32Array(values.length + 1);
  let at = 0;
  parts.forEach((p, i) => {
    offsets[i] = at;
    text.set(p, at);
    at += p.length;
  });
  offsets[values.length] = at;
  return { values, index, json, text, offsets };
}

function writeCodes(out: Uint8Array, at: number, w: 1 | 2 | 4, codes: ArrayLike<number>): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (w === 1) out[at + i] = c;
    else if (w === 2) dv.setUint16(at + 2 * i, c, true);
    else dv.setUint32(at + 4 * i, c, true);
  }
}

/**
 * The typed column of one attribute over `values` (index = ordinal; undefined or null = no value), or
 * null when the values are of more than one kind (the caller keeps the JSON form then).
 */
export function encodeColumn(values: ReadonlyArray<AttrValue | undefined>): Uint8Array | null {
  const b = new ColumnBuilder(values.length);
  for (let i = 0; i < values.length; i++) b.add(values[i]);
  return b.finish();
}

/**
 * encodeColumn fed one row at a time, in ordinal order, holding what the section needs rather than the
 * values: numbers in a Float64Array, booleans as bits, strings as the distinct values and a code per row
 * (array<string>: a code per element), so a segment build need not keep each document's values as
 * JavaScript objects (issue 11, bounded merge memory). The bytes are encodeColumn's exactly.
 */
export class ColumnBuilder {
  private kind: ColumnKind = KIND_NONE;
  private mixed = false;
  private i = 0;
  private readonly presence: Uint8Array;
  // Numbers (the value as given; -0 kept: decimalScale and the f64 payload treat it as encodeColumn does).
  private nums: Float64Array | null = null;
  private allInt = true;
  private min = Infinity;
  private max = -Infinity;
  // Booleans.
  private bits: Uint8Array | null = null;
  // Strings: first-seen order ids, turned into sorted dictionary codes at finish.
  private readonly ids = new Map<string, number>();
  private readonly distinct: string[] = [];
  private codes: Uint32Array | null = null;
  /** array<string>: row i's elements are codes[starts[i] .. starts[i + 1]). */
  private starts: Uint32Array | null = null;
  private m = 0;
  /** `n`: the rows that will be added. */
  constructor(private readonly n: number) {
    this.presence = new Uint8Array(pad8(Math.ceil(n / 8)));
  }

  private idOf(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.distinct.length;
      this.ids.set(s, id);
      this.distinct.push(s);
    }
    return id;
  }

  /** The next row's value (undefined or null: none). */
  add(v: AttrValue | undefined): void {
    const i = this.i++;
    if (i >= this.n) throw new RangeError(`more than the ${this.n} rows announced`);
    if (this.mixed || v === undefined || v === null) {
      if (this.starts) this.starts[i + 1] = this.m;
      return;
    }
    const k: ColumnKind = typeof v === 'number' ? KIND_F64 : typeof v === 'boolean' ? KIND_BOOL : typeof v === 'string' ? KIND_STRING : Array.isArray(v) ? KIND_STRINGS : KIND_NONE;
    if (k === KIND_NONE || (this.kind !== KIND_NONE && this.kind !== k)) {
      this.mixed = true;
      return;
    }
    if (this.kind === KIND_NONE) {
      this.kind = k;
      const n = this.n;
      if (k === KIND_F64) this.nums = new Float64Array(n);
      else if (k === KIND_BOOL) this.bits = new Uint8Array(this.presence.length);
      else if (k === KIND_STRING) this.codes = new Uint32Array(n);
      else {
        this.starts = new Uint32Array(pad8(4 * (n + 1)) / 4);
        this.codes = new Uint32Array(Math.max(16, n));
      }
    }
    this.presence[i >> 3]! |= 1 << (i & 7);
    switch (k) {
      case KIND_F64: {
        const x = v as number;
        this.nums![i] = x;
        if (this.allInt && x !== (x | 0)) this.allInt = false;
        if (x < this.min) this.min = x;
        if (x > this.max) this.max = x;
        break;
      }
      case KIND_BOOL:
        if (v === true) this.bits![i >> 3]! |= 1 << (i & 7);
        break;
      case KIND_STRING:
        this.codes![i] = this.idOf(v as string);
        break;
      case KIND_STRINGS: {
        const arr = v as unknown[];
        for (const e of arr) {
          if (typeof e !== 'string') {
            this.mixed = true;
            return;
          }
        }
        if (this.m + arr.length > this.codes!.length) {
          const grown = new Uint32Array(Math.max(this.codes!.length * 2, this.m + arr.length));
          grown.set(this.codes!.subarray(0, this.m));
          this.codes = grown;
        }
        for (const e of arr as string[]) this.codes![this.m++] = this.idOf(e);
        this.starts![i + 1] = this.m;
        break;
      }
    }
  }

  /** The section's bytes, or null when the values were of more than one kind. */
  finish(): Uint8Array | null {
    const n = this.n;
    if (this.i !== n) throw new RangeError(`${this.i} of the ${n} rows announced`);
    if (this.mixed) return null;
    let kind = this.kind;
    let { min, max } = this;
    const nums = this.nums;
    const present = (i: number) => (this.presence[i >> 3]! & (1 << (i & 7))) !== 0;
    let scale = 0;
    if (kind === KIND_F64 && !this.allInt) {
      const vals: (number | undefined)[] = new Array(n);
      for (let i = 0; i < n; i++) if (present(i)) vals[i] = nums![i]!;
      const d = decimalScale(vals);
      if (d) ({ scale, min, max } = d);
    }
    if (kind === KIND_F64 && (this.allInt || scale > 0)) kind = KIND_INT;
    const bitmapLen = this.presence.length;
    let payload: Uint8Array[] = [];
    let w: 0 | 1 | 2 | 4 = 0;
    let base = 0;
    let dict: Dict | null = null;
    let m = 0;
    switch (kind) {
      case KIND_NONE:
        break;
      case KIND_F64: {
        const a = new Float64Array(n);
        // `+ 0` turns -0 into 0: JSON (the old form) wrote -0 as 0, and rebuilt documents must not differ.
        for (let i = 0; i < n; i++) if (present(i)) a[i] = nums![i]! + 0;
        payload = [new Uint8Array(a.buffer)];
        break;
      }
      case KIND_INT: {
        // min/max are in [-2^31, 2^31): max - min fits 32 bits unsigned. -0 | 0 is 0.
        base = min | 0;
        w = intWidth(max - min);
        const p = 10 ** scale;
        const a = w === 1 ? new Uint8Array(pad8(n)) : w === 2 ? new Uint16Array(pad8(2 * n) / 2) : new Uint32Array(pad8(4 * n) / 4);
        for (let i = 0; i < n; i++) {
          if (!present(i)) continue;
          const v = nums![i]!;
          a[i] = (scale === 0 ? v : Math.round(v * p)) - base;
        }
        payload = [new Uint8Array(a.buffer)];
        break;
      }
      case KIND_BOOL:
        payload = [this.bits!];
        break;
      case KIND_STRING:
      case KIND_STRINGS: {
        dict = buildDict(new Set(this.distinct));
        const final = new Uint32Array(this.distinct.length);
        this.distinct.forEach((v, id) => (final[id] = dict!.index.get(v)!));
        w = codeWidth(dict.values.length);
        const codes = this.codes!;
        if (kind === KIND_STRING) {
          for (let i = 0; i < n; i++) if (present(i)) codes[i] = final[codes[i]!]!;
          const c = new Uint8Array(pad8(n * w));
          writeCodes(c, 0, w, codes);
          payload = [c];
        } else {
          m = this.m;
          for (let j = 0; j < m; j++) codes[j] = final[codes[j]!]!;
          const c = new Uint8Array(pad8(m * w));
          writeCodes(c, 0, w, codes.subarray(0, m));
          payload = [new Uint8Array(this.starts!.buffer), c];
        }
        break;
      }
    }
    const dictParts = dict ? [new Uint8Array(dict.offsets.buffer), dict.text] : [];
    let total = HEADER + bitmapLen;
    for (const p of [...payload, ...dictParts]) total += p.length;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, COL_MAGIC, true);
    out[4] = LAYOUT_VERSION;
    out[5] = kind;
    out[6] = w;
    out[7] = kind === KIND_INT ? scale : dict?.json ? 1 : 0;
    dv.setUint32(8, n, true);
    if (kind === KIND_INT) dv.setInt32(12, base, true);
    else dv.setUint32(12, dict ? dict.values.length : 0, true);
    dv.setUint32(16, m, true);
    dv.setUint32(20, dict ? dict.text.length : 0, true);
    out.set(this.presence, HEADER);
    let at = HEADER + bitmapLen;
    for (const p of [...payload, ...dictParts]) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Where the parts of a column lie, from its 24-byte header (bounds checked against the section length). */
interface Layout {
  kind: ColumnKind;
  w: 0 | 1 | 2 | 4;
  json: boolean;
  n: number;
  d: number;
  /** kind 2: the value of u = 0, and the decimal scale k (value = (base + u) / 10^k). */
  base: number;
  scale: number;
  m: number;
  presence: number;
  payload: number;
  /** kind 5: where codes[m] start. */
  codes: number;
  dictOffsets: number;
  dictText: number;
  textBytes: number;
}

function readLayout(h: Uint8Array, sectionLength: number, what: string): Layout {
  if (h.length < HEADER) corrupt(what, 'column section too short');
  const dv = new DataView(h.buffer, h.byteOffset, HEADER);
  if (dv.getUint32(0, true) !== COL_MAGIC) corrupt(what, 'not a typed column (bad magic)');
  if (h[4] !== LAYOUT_VERSION) corrupt(what, `unsupported column layout version ${h[4]}`);
  const kind = h[5]! as ColumnKind;
  const w = h[6]! as 0 | 1 | 2 | 4;
  const n = dv.getUint32(8, true);
  const isInt = kind === KIND_INT;
  const d = isInt ? 0 : dv.getUint32(12, true);
  const base = isInt ? dv.getInt32(12, true) : 0;
  const m = dv.getUint32(16, true);
  const textBytes = dv.getUint32(20, true);
  if (kind > KIND_STRINGS) corrupt(what, `unknown column kind ${kind}`);
  const dictKind = kind === KIND_STRING || kind === KIND_STRINGS;
  if (dictKind ? w !== codeWidth(d) : isInt ? w !== 1 && w !== 2 && w !== 4 : w !== 0) corrupt(what, 'bad code width');
  if (!dictKind && (d !== 0 || m !== 0 || textBytes !== 0 || (isInt ? h[7]! > MAX_SCALE : h[7] !== 0))) corrupt(what, 'bad column header');
  if (kind === KIND_STRING && m !== 0) corrupt(what, 'bad column header');
  if (dictKind && h[7]! > 1) corrupt(what, 'bad dictionary encoding');
  const bitmapLen = pad8(Math.ceil(n / 8));
  const presence = HEADER;
  const payload = presence + bitmapLen;
  let codes = 0;
  let end = payload;
  switch (kind) {
    case KIND_F64:
      end += 8 * n;
      break;
    case KIND_INT:
      end += pad8(w * n);
      break;
    case KIND_BOOL:
      end += bitmapLen;
      break;
    case KIND_STRING:
      end += pad8(n * w);
      break;
    case KIND_STRINGS:
      codes = payload + pad8(4 * (n + 1));
      end = codes + pad8(m * w);
      break;
  }
  const dictOffsets = end;
  const dictText = dictKind ? dictOffsets + 4 * (d + 1) : end;
  const total = dictKind ? dictText + textBytes : end;
  if (total !== sectionLength) corrupt(what, `column section is ${sectionLength} bytes, its header says ${total}`);
  return { kind, w, json: dictKind && h[7] === 1, scale: isInt ? h[7]! : 0, n, d, base, m, presence, payload, codes, dictOffsets, dictText, textBytes };
}

function decodeText(bytes: Uint8Array, json: boolean, what: string): string {
  try {
    const s = dec.decode(bytes);
    if (!json) return s;
    const v: unknown = JSON.parse(s);
    if (typeof v !== 'string') throw new Error('not a string');
    return v;
  } catch {
    return corrupt(what, 'dictionary entry is not valid text');
  }
}

/**
 * Every dictionary entry at once: the text is decoded in one call (validating all of it) and cut into
 * entries (substrings share the decoded text), instead of one decoder call per entry. The entries are
 * laid out back to back; each cut must fall on a character boundary.
 */
function decodeDictionary(offs: Uint32Array, text: Uint8Array, json: boolean, what: string): string[] {
  const d = offs.length - 1;
  if (offs[0] !== 0 || offs[d] !== text.length) corrupt(what, 'dictionary offsets out of bounds');
  let whole = '';
  try {
    whole = dec.decode(text);
  } catch {
    corrupt(what, 'dictionary text is not UTF-8');
  }
  const out = new Array<string>(d);
  if (whole.length === text.length) {
    // ASCII only (any other character takes more bytes than UTF-16 units): byte offsets are string offsets.
    for (let i = 0; i < d; i++) {
      const a = offs[i]!;
      const b = offs[i + 1]!;
      if (b < a || b > text.length) corrupt(what, 'dictionary offsets out of order');
      out[i] = whole.substring(a, b);
    }
  } else {
    // Walk the bytes once, counting UTF-16 units (a 4-byte sequence is a surrogate pair).
    let byte = 0;
    let unit = 0;
    let start = 0;
    for (let i = 0; i < d; i++) {
      const b = offs[i + 1]!;
      if (b < byte || b > text.length) corrupt(what, 'dictionary offsets out of order');
      for (; byte < b; byte++) {
        const c = text[byte]!;
        if ((c & 0xc0) !== 0x80) unit += c >= 0xf0 ? 2 : 1;
      }
      if (b < text.length && (text[b]! & 0xc0) === 0x80) corrupt(what, 'dictionary entry cut inside a character');
      out[i] = whole.substring(start, unit);
      start = unit;
    }
  }
  if (json) for (let i = 0; i < d; i++) out[i] = parseJsonString(out[i]!, what);
  return out;
}

function parseJsonString(s: string, what: string): string {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    corrupt(what, 'dictionary entry is not valid text');
  }
  if (typeof v !== 'string') corrupt(what, 'dictionary entry is not valid text');
  return v;
}

function codesView(bytes: Uint8Array, at: number, count: number, w: 1 | 2 | 4): Uint8Array | Uint16Array | Uint32Array {
  const part = bytes.subarray(at, at + count * w);
  if (w === 1) return part;
  // A typed view needs its alignment; a copy when the bytes happen not to be aligned.
  const src = part.byteOffset % w === 0 ? part : part.slice();
  return w === 2 ? new Uint16Array(src.buffer, src.byteOffset, count) : new Uint32Array(src.buffer, src.byteOffset, count);
}

/**
 * A whole column in its typed form, for the filter evaluator (which reads the typed arrays directly) and
 * for whole-column readers (sorting, re-analysis) through `get`.
 */
export class TypedColumn {
  /** Row i holds a value: `(presence[i >> 3] >> (i & 7)) & 1`. */
  readonly presence: Uint8Array;
  /**
   * Kind 2 without a scale: the stored integers as they are (a view of the section, no copy), each value
   * being `intBase` + its code. A filter compares the codes (evaluate.ts typedRows); `numbers` widens them
   * only when a value itself is needed: a cold filtered query over 1M rows in 11 segments spent ~23 ms
   * widening (an interpreted loop and 0.4 MB of new memory a segment) values it only compared.
   */
  readonly intCodes: Uint8Array | Uint16Array | Uint32Array | null = null;
  readonly intBase: number = 0;
  private _numbers: Float64Array | Int32Array | null = null;
  /** Kinds 1 and 2: every row's number (0 where absent). */
  get numbers(): Float64Array | Int32Array | null {
    const u = this.intCodes;
    if (this._numbers === null && u !== null) {
      const a = new Int32Array(this.length);
      const base = this.intBase;
      for (let i = 0; i < a.length; i++) a[i] = base + u[i]!;
      this._numbers = a;
    }
    return this._numbers;
  }
  /** Kind 3: value bits, like presence. */
  readonly bools: Uint8Array | null = null;
  /** Kind 4: one code per row; kind 5: element codes (row i: starts[i] .. starts[i+1]). */
  readonly codes: Uint8Array | Uint16Array | Uint32Array | null = null;
  readonly starts: Uint32Array | null = null;
  /** Kinds 4 and 5: the distinct values, ascending (JS order). */
  readonly dict: readonly string[] = [];
  readonly kind: ColumnKind;
  readonly length: number;

  /** `bytes`: the whole, verified section. */
  constructor(
    bytes: Uint8Array,
    private readonly what: string,
  ) {
    const L = readLayout(bytes, bytes.length, what);
    this.kind = L.kind;
    this.length = L.n;
    const n = L.n;
    this.presence = bytes.subarray(L.presence, L.presence + Math.ceil(n / 8));
    const aligned = (at: number, len: number, a: number) => {
      const part = bytes.subarray(at, at + len);
      return part.byteOffset % a === 0 ? part : part.slice();
    };
    switch (L.kind) {
      case KIND_F64: {
        const p = aligned(L.payload, 8 * n, 8);
        this._numbers = new Float64Array(p.buffer, p.byteOffset, n);
        break;
      }
      case KIND_INT: {
        const w = L.w as 1 | 2 | 4;
        const p = aligned(L.payload, w * n, w);
        const u = w === 1 ? p : w === 2 ? new Uint16Array(p.buffer, p.byteOffset, n) : new Uint32Array(p.buffer, p.byteOffset, n);
        const base = L.base;
        if (L.scale === 0) {
          // widened to i32 on first use of `numbers` (see intCodes)
          this.intCodes = u;
          this.intBase = base;
        } else {
          const p = 10 ** L.scale;
          const a = new Float64Array(n);
          for (let i = 0; i < n; i++) a[i] = (base + u[i]!) / p;
          this._numbers = a;
        }
        break;
      }
      case KIND_BOOL:
        this.bools = bytes.subarray(L.payload, L.payload + Math.ceil(n / 8));
        break;
      case KIND_STRING:
        this.codes = codesView(bytes, L.payload, n, L.w as 1 | 2 | 4);
        break;
      case KIND_STRINGS: {
        const p = aligned(L.payload, 4 * (n + 1), 4);
        this.starts = new Uint32Array(p.buffer, p.byteOffset, n + 1);
        this.codes = codesView(bytes, L.codes, L.m, L.w as 1 | 2 | 4);
        let prev = 0;
        for (let i = 0; i <= n; i++) {
          const s = this.starts[i]!;
          if (s < prev || s > L.m || (i === 0 && s !== 0)) corrupt(what, 'array offsets out of order');
          prev = s;
        }
        if (prev !== L.m) corrupt(what, 'array offsets do not cover the elements');
        break;
      }
    }
    if (L.kind === KIND_STRING || L.kind === KIND_STRINGS) {
      const op = aligned(L.dictOffsets, 4 * (L.d + 1), 4);
      const dict = decodeDictionary(new Uint32Array(op.buffer, op.byteOffset, L.d + 1), bytes.subarray(L.dictText, L.dictText + L.textBytes), L.json, what);
      // Codes are not checked one by one here (a cold filter would pay a pass over every row): the
      // section's checksums vouch for them, get() and ColumnReader check the ones they read, and the
      // evaluator reads a code outside the dictionary as false.
      this.dict = dict;
    }
  }

  private entry(code: number): string {
    const s = this.dict[code];
    if (s === undefined) corrupt(this.what, 'code outside the dictionary');
    return s;
  }

  has(i: number): boolean {
    return ((this.presence[i >> 3]! >> (i & 7)) & 1) === 1;
  }

  /** Row i's value, undefined when it has none (absent or null: the same to filters and sorting). */
  get(i: number): AttrValue | undefined {
    if (i < 0 || i >= this.length || !this.has(i)) return undefined;
    switch (this.kind) {
      case KIND_F64:
      case KIND_INT:
        return this.numbers![i]!;
      case KIND_BOOL:
        return ((this.bools![i >> 3]! >> (i & 7)) & 1) === 1;
      case KIND_STRING:
        return this.entry(this.codes![i]!);
      case KIND_STRINGS: {
        const out: string[] = [];
        for (let j = this.starts![i]!; j < this.starts![i + 1]!; j++) out.push(this.entry(this.codes![j]!));
        return out;
      }
      default:
        return undefined;
    }
  }
}

/**
 * One row at a time from a column section read by range: a header read once, then a few small reads per
 * value (presence byte, value or code, dictionary offsets and text). For rebuilding the attributes of the
 * few documents a query prints, without reading whole columns.
 */
/** Dictionaries up to this many entries are kept decoded by ColumnReader (see `small`). */
const SMALL_DICT = 4096;

export class ColumnReader {
  private readonly L: Layout;
  /**
   * The reads of one value (a presence byte, a code, two offsets: 1-8 bytes) land in this scratch, not in an
   * array of their own: a query prints ~10 rows of several attributes, and those arrays and their DataViews
   * were ~13 KB of garbage a request in a 1M --batch (docs/performance.md, session 40).
   */
  private readonly scratch = new Uint8Array(8);
  private readonly view = new DataView(this.scratch.buffer);
  private readonly widths = [1, 2, 4, 8].map((n) => this.scratch.subarray(0, n));
  constructor(
    private readonly src: ByteSource,
    private readonly what: string,
  ) {
    this.L = readLayout(src.read(0, Math.min(HEADER, src.length)), src.length, what);
  }

  get length(): number {
    return this.L.n;
  }

  /** Bytes [offset, offset + n) of the section into `scratch` (n = 1, 2, 4 or 8), read as `view`. */
  private fill(offset: number, n: 1 | 2 | 4 | 8): DataView {
    const out = this.widths[n === 8 ? 3 : n >> 1]!;
    const src = this.src;
    if (src instanceof MemorySource) for (let j = 0; j < n; j++) out[j] = src.byteAt(offset + j);
    else if (src.readInto !== undefined) src.readInto(offset, out);
    else out.set(src.read(offset, n));
    return this.view;
  }

  /** An unsigned little-endian integer of w bytes (1, 2 or 4) at `offset`. */
  private uint(offset: number, w: number): number {
    const v = this.fill(offset, w as 1 | 2 | 4);
    return w === 1 ? v.getUint8(0) : w === 2 ? v.getUint16(0, true) : v.getUint32(0, true);
  }

  private code(base: number, j: number): number {
    const w = this.L.w;
    const c = this.uint(base + j * w, w);
    if (c >= this.L.d) corrupt(this.what, 'code outside the dictionary');
    return c;
  }

  /**
   * Decoded entries of a small dictionary (categories, tags: at most SMALL_DICT entries), filled as read:
   * every answer reads the same few values again. Large dictionaries (titles) are decoded per read.
   */
  private small: (string | undefined)[] | null = null;

  private entry(c: number): string {
    const L = this.L;
    if (L.d <= SMALL_DICT) {
      this.small ??= new Array<string | undefined>(L.d);
      return (this.small[c] ??= this.decodeEntry(c));
    }
    return this.decodeEntry(c);
  }

  private decodeEntry(c: number): string {
    const L = this.L;
    const dv = this.fill(L.dictOffsets + 4 * c, 8);
    const a = dv.getUint32(0, true);
    const b = dv.getUint32(4, true);
    if (b < a || b > L.textBytes) corrupt(this.what, 'dictionary offsets out of bounds');
    return decodeText(this.src.read(L.dictText + a, b - a), L.json, this.what);
  }

  /** Whether row i has a value (its presence bit): asked only where the stored value is 0. */
  private present(i: number): boolean {
    return ((this.uint(this.L.presence + (i >> 3), 1) >> (i & 7)) & 1) === 1;
  }

  /**
   * Row i's value; undefined when it has none. A row without a value stores 0 (no code, false, no
   * elements), so a non-zero value proves presence and the presence bit (another block, often) is read
   * only for a stored 0.
   */
  get(i: number): AttrValue | undefined {
    const L = this.L;
    if (i < 0 || i >= L.n) return undefined;
    switch (L.kind) {
      case KIND_F64: {
        const x = this.fill(L.payload + 8 * i, 8).getFloat64(0, true);
        return x !== 0 ? x : this.present(i) ? 0 : undefined;
      }
      case KIND_INT: {
        const u = this.uint(L.payload + L.w * i, L.w);
        if (u === 0 && !this.present(i)) return undefined;
        return L.scale === 0 ? L.base + u : (L.base + u) / 10 ** L.scale;
      }
      case KIND_BOOL:
        return ((this.uint(L.payload + (i >> 3), 1) >> (i & 7)) & 1) === 1 ? true : this.present(i) ? false : undefined;
      case KIND_STRING: {
        const c = this.code(L.payload, i);
        return c !== 0 || this.present(i) ? this.entry(c) : undefined;
      }
      case KIND_STRINGS: {
        const dv = this.fill(L.payload + 4 * i, 8);
        const s = dv.getUint32(0, true);
        const e = dv.getUint32(4, true);
        if (e < s || e > L.m) corrupt(this.what, 'array offsets out of bounds');
        if (e === s && !this.present(i)) return undefined;
        const out: string[] = [];
        for (let j = s; j < e; j++) out.push(this.entry(this.code(L.codes, j)));
        return out;
      }
      default:
        return undefined;
    }
  }
}

/** The `attrs` section: each document's attribute keys, in insertion order, as a shape code. */
export function encodeAttributeShapes(docs: ReadonlyArray<Readonly<Attributes>>): Uint8Array {
  const b = new AttributeShapesBuilder(docs.length);
  for (const d of docs) b.add(d);
  return b.finish();
}

/** encodeAttributeShapes, fed one document at a time (a segment build that does not hold its documents). */
export class AttributeShapesBuilder {
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  private readonly shapes: number[][] = [];
  private readonly shapeIndex = new Map<string, number>();
  private readonly codes: Uint32Array;
  private i = 0;
  /** `n`: how many documents will be added. */
  constructor(private readonly n: number) {
    this.codes = new Uint32Array(n);
  }

  add(attributes: Readonly<Attributes>): void {
    const keys = Object.keys(attributes);
    const shape = keys.map((k) => {
      let j = this.nameIndex.get(k);
      if (j === undefined) {
        this.nameIndex.set(k, (j = this.names.length));
        this.names.push(k);
      }
      return j;
    });
    const key = shape.join(',');
    let s = this.shapeIndex.get(key);
    if (s === undefined) {
      this.shapeIndex.set(key, (s = this.shapes.length));
      this.shapes.push(shape);
    }
    if (this.i >= this.n) throw new RangeError(`more than the ${this.n} documents announced`);
    this.codes[this.i++] = s;
  }

  finish(): Uint8Array {
    const { n, names, shapes, codes } = this;
    if (this.i !== n) throw new RangeError(`${this.i} of the ${n} documents announced`);
    // One shape (the usual case: documents written by one program) needs no codes at all.
    const w = shapes.length <= 1 ? 0 : codeWidth(shapes.length);
    const table = enc.encode(JSON.stringify({ names, shapes }));
    const codesLen = pad8(n * w);
    const out = new Uint8Array(16 + codesLen + table.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, SHAPE_MAGIC, true);
    out[4] = LAYOUT_VERSION;
    out[5] = w;
    dv.setUint32(8, n, true);
    dv.setUint32(12, table.length, true);
    if (w !== 0) writeCodes(out, 16, w, codes);
    out.set(table, 16 + codesLen);
    return out;
  }
}

/** Reads the `attrs` section by range: the shape table once, then one code per document. */
export class AttributeShapes {
  readonly length: number;
  private readonly w: 0 | 1 | 2 | 4;
  private readonly names: string[];
  private readonly shapes: string[][];
  constructor(
    private readonly src: ByteSource,
    private readonly what: string,
  ) {
    if (src.length < 16) corrupt(what, 'attribute shapes section too short');
    const h = src.read(0, 16);
    const dv = new DataView(h.buffer, h.byteOffset, 16);
    if (dv.getUint32(0, true) !== SHAPE_MAGIC || h[4] !== LAYOUT_VERSION) corrupt(what, 'not an attribute shapes section');
    const w = h[5]!;
    if (w !== 0 && w !== 1 && w !== 2 && w !== 4) corrupt(what, 'bad code width');
    this.w = w;
    this.length = dv.getUint32(8, true);
    const j = dv.getUint32(12, true);
    const tableAt = 16 + pad8(this.length * w);
    if (tableAt + j !== src.length) corrupt(what, 'attribute shapes section has the wrong length');
    let t: { names?: unknown; shapes?: unknown };
    try {
      t = JSON.parse(dec.decode(src.read(tableAt, j))) as typeof t;
    } catch {
      corrupt(what, 'attribute shape table is not valid JSON');
    }
    const names = t.names;
    const shapes = t.shapes;
    if (!Array.isArray(names) || !names.every((x) => typeof x === 'string') || !Array.isArray(shapes)) corrupt(what, 'bad attribute shape table');
    this.names = names as string[];
    this.shapes = (shapes as unknown[]).map((s) => {
      if (!Array.isArray(s) || !s.every((x) => Number.isInteger(x) && x >= 0 && x < this.names.length)) corrupt(what, 'bad attribute shape');
      return (s as number[]).map((x) => this.names[x]!);
    });
    if (w === 0 && this.shapes.length > 1) corrupt(what, 'several attribute shapes but no shape codes');
  }

  /** Every attribute name of the segment. */
  get allNames(): readonly string[] {
    return this.names;
  }

  /** Document i's attribute keys, in the order it was written with. */
  keysOf(i: number): readonly string[] {
    const w = this.w;
    let c = 0;
    if (w !== 0) {
      const b = this.src.read(16 + i * w, w);
      const dv = new DataView(b.buffer, b.byteOffset, w);
      c = w === 1 ? b[0]! : w === 2 ? dv.getUint16(0, true) : dv.getUint32(0, true);
    }
    const s = this.shapes[c];
    if (!s) return corrupt(this.what, `shape ${c} of document ${i} is not in the table`);
    return s;
  }
}

/**
 * A document's attributes rebuilt from its keys and the columns: a key whose column has no value for the
 * document holds null (absent keys are not in `keys`). "__proto__" is written as an own property, as
 * JSON.parse (the old path) makes it.
 */
export function buildAttributes(keys: readonly string[], valueOf: (name: string) => AttrValue | undefined): Attributes {
  const out: Attributes = {};
  for (const k of keys) {
    const v = valueOf(k);
    const value = v === undefined ? null : v;
    setOwnValue(out, k, value);
  }
  return out;
}
