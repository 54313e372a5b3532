/**
 * Per-segment, per-field inverted index, serialized to bytes.
 *
 * FORMAT (versions 1 and 2). Little-endian. Every section starts at a multiple of 4 (zero padding in between).
 * Version 2 is version 1 without positions: the header's u32 at 36 holds flags (bit 0 set: no positions,
 * every term's posLen is 0) where version 1 has 0. A field built with positions is written as version 1, so
 * its bytes are those of every earlier release; a field built without them (the schema's full-text option
 * `positions: false`, or "auto" on short values: see AUTO_POSITIONS_MIN_TOKENS) is version 2.
 *
 *   offset size  field
 *   0      4     magic "ELFT" (0x45 0x4C 0x46 0x54)
 *   4      4     u32 version = 1
 *   8      4     u32 numDocs      ordinal count (length of the docs array given to buildFieldIndex)
 *   12     4     u32 docCount     number of documents with at least one token in this field (see below)
 *   16     8     f64 sumDocLen    total number of tokens over all documents (an integer)
 *   24     4     u32 numTerms     V
 *   28     4     u32 termBytesLen byte length of the term text blob
 *   32     4     u32 postingsLen  byte length of the postings blob
 *   36     4     u32 flags: version 1: 0; version 2: bit 0 = no positions (the only flag; the rest 0)
 *   40           u32[numDocs]     docLens: token count of each ordinal (0 when absent or empty)
 *                u32[V + 1]       termOffsets: term i's UTF-8 bytes are termBytes[termOffsets[i], termOffsets[i+1])
 *                u32[V * 4]       termMeta: per term i: df (documents containing it, dead ones included),
 *                                 postOff (byte offset of its postings from the start of the postings blob),
 *                                 docsLen, posLen (byte lengths of its docs and positions parts)
 *                u8[termBytesLen] termBytes: the terms' UTF-8 bytes, sorted by byte-wise comparison
 *                                 (= Unicode code point order), concatenated; then padding to 4
 *                u8[postingsLen]  postings blob; per term, at postOff:
 *                                 docs part (docsLen bytes): df pairs of varints (ord delta, tf), where the
 *                                   first delta is the ordinal itself and later ones are > 0 (ordinals ascend);
 *                                 positions part (posLen bytes, right after the docs part): for each posting,
 *                                   tf varints: first position, then non-negative deltas (positions ascend);
 *                                   empty (posLen 0) in a file without positions.
 *   The file ends exactly after the postings blob.
 *
 * Varints are unsigned LEB128 (7 bits per byte, low first, at most 5 bytes for a u32).
 * There is no checksum here: byte-level integrity is the job of the segment file that embeds this section.
 *
 * "docCount" counts documents with at least one token (Lucene's convention) rather than documents where the
 * value is non-null: an empty or all-stopword value is indistinguishable from an absent one in docLens, and
 * this way the live statistics of a source can be recomputed exactly from docLens (see bm25.ts liveStats).
 *
 * Reading: `FieldIndexReader.open` reads the header and one contiguous range with docLens + the term
 * dictionary and does O(1) checks (sizes add up to the source length exactly); term lookups are a binary
 * search over the UTF-8 bytes (no decoding of the dictionary at open). Postings of a term are read on demand
 * with `src.read`: the docs part on `postings(term)`, the positions part only when positions are first
 * asked for (then decoded all at once for that term). Any inconsistency met on the way throws
 * ElacsymError('CORRUPT_SEGMENT'); reads never leave the source's bounds; `verify()` checks everything.
 */
import { ElacsymError } from '../../errors.js';
import type { ByteSource } from '../../util/bytes.js';
import type { Token } from './analyzer.js';

export const FIELD_INDEX_MAGIC = 0x54464c45; // "ELFT" read as a little-endian u32
export const FIELD_INDEX_VERSION = 1;
/** The version of a field index without positions (see FORMAT). */
export const FIELD_INDEX_VERSION_NO_POSITIONS = 2;
const FLAG_NO_POSITIONS = 1;
/**
 * `positions: "auto"` keeps positions in a segment whose documents (those with a token in the field)
 * average more than this many tokens. Checking a phrase against stored text costs about the text's length
 * per candidate: negligible for titles and one-line descriptions (the bench's glosses average 7 tokens),
 * seconds per query for pages (the documentation set's average 720: 1.4 s instead of 0.2 s for 778 pages).
 */
export const AUTO_POSITIONS_MIN_TOKENS = 32;
const HEADER_SIZE = 40;
const META_WORDS = 4;
const U32_MAX = 0xffffffff;

export interface Postings {
  /** Document ordinals, ascending. */
  readonly ords: Uint32Array;
  /** Term frequency of each posting (>= 1). */
  readonly tfs: Uint32Array;
  /**
   * Positions of the i-th posting, ascending (length tfs[i]). The term's positions are read and decoded on
   * the first call (a view into `positionData().flat`; do not modify).
   */
  positions(i: number): Uint32Array;
  /** All positions of the term: posting i's are flat[starts[i], starts[i+1]). Same lazy loading. */
  positionData(): PositionData;
}

export interface PositionData {
  readonly flat: Uint32Array;
  /** Length ords.length + 1 (prefix sums of tfs). */
  readonly starts: Uint32Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const encoder = new TextEncoder();
// ignoreBOM: a term may begin with U+FEFF (data, not a byte-order mark).
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function align4(n: number): number {
  return Math.ceil(n / 4) * 4; // not `& ~3`: sizes read from a damaged header may exceed 2^31
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Growable byte buffer for varint output. */
class ByteWriter {
  buf: Uint8Array;
  len = 0;
  constructor(initial: number) {
    this.buf = new Uint8Array(initial);
  }
  private grow(extra: number): void {
    let cap = this.buf.length;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  varint(v: number): void {
    if (this.len + 5 > this.buf.length) this.grow(5);
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.len++] = v;
  }
}

function u32Checked(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new ElacsymError('INTERNAL', `full-text index: ${what} ${v} does not fit in 32 bits`);
  }
  return v;
}

/**
 * Builds the serialized index of one field. docs[ord] = analyzed tokens of ordinal `ord` (null = absent).
 * Token positions must be non-negative integers < 2^32; within a document they are normally ascending
 * (they are sorted per term here anyway).
 *
 * Implementation: tokens are flattened into typed arrays (term id, ordinal, position) and counting-sorted by
 * term id, which keeps document order and token order within a document: no per-term JS arrays, little GC.
 */
export function buildFieldIndex(docs: ReadonlyArray<Token[] | null>, positions: boolean | 'auto' = true): Uint8Array {
  const b = new FieldIndexBuilder(docs.length, positions);
  for (let ord = 0; ord < docs.length; ord++) b.add(docs[ord] ?? null);
  return b.finish();
}

/**
 * buildFieldIndex one document at a time: `add` the tokens of ordinals 0, 1, 2, ... in order, then `finish`.
 * A segment build analyzes each document and hands its tokens over at once, so the analyzed tokens of a
 * whole segment (a JS object per token: ~70 MB for 100k short documents) never exist together; what is kept
 * is three u32 per token. The bytes are buildFieldIndex's: term ids are given in order of first appearance
 * either way.
 */
export class FieldIndexBuilder {
  private docLens: Uint32Array;
  private numDocs = 0;
  private docCount = 0;
  private total = 0;
  private readonly ids = new Map<string, number>();
  private readonly termList: string[] = [];
  private tokTerm = new Uint32Array(1024);
  private tokOrd = new Uint32Array(1024);
  private tokPos = new Uint32Array(1024);

  /** Whether `finish` writes positions (decided there for "auto"). */
  private withPositions = true;

  /**
   * `expectedDocs`: the ordinal count if known (sizes the per-document array once). `positions`: false
   * writes a version 2 index, without the positions part (phrase queries then check candidates against
   * the stored text: see bm25.ts); "auto" keeps them when the documents with a token average more than
   * AUTO_POSITIONS_MIN_TOKENS tokens, where checking the stored text would cost most.
   */
  constructor(
    expectedDocs = 0,
    private readonly positions: boolean | 'auto' = true,
  ) {
    this.docLens = new Uint32Array(Math.max(16, expectedDocs));
  }

  /** The tokens of the next ordinal (null or empty: absent). */
  add(toks: readonly Token[] | null): void {
    const ord = this.numDocs++;
    u32Checked(this.numDocs, 'document count');
    if (ord >= this.docLens.length) {
      const next = new Uint32Array(this.docLens.length * 2);
      next.set(this.docLens);
      this.docLens = next;
    }
    if (toks === null || toks.length === 0) return;
    this.docLens[ord] = u32Checked(toks.length, 'document length');
    this.docCount++;
    const need = this.total + toks.length;
    if (need > this.tokTerm.length) {
      let cap = this.tokTerm.length;
      while (cap < need) cap *= 2;
      const grow = (a: Uint32Array) => {
        const next = new Uint32Array(cap);
        next.set(a.subarray(0, this.total));
        return next;
      };
      this.tokTerm = grow(this.tokTerm);
      this.tokOrd = grow(this.tokOrd);
      this.tokPos = grow(this.tokPos);
    }
    const { ids, termList, tokTerm, tokOrd, tokPos } = this;
    let t = this.total;
    for (let k = 0; k < toks.length; k++) {
      const tok = toks[k]!;
      let id = ids.get(tok.term);
      if (id === undefined) {
        id = termList.length;
        ids.set(tok.term, id);
        termList.push(tok.term);
      }
      const pos = tok.pos;
      if (!(pos >= 0 && pos <= U32_MAX && Number.isInteger(pos))) u32Checked(pos, 'token position');
      tokTerm[t] = id;
      tokOrd[t] = ord;
      tokPos[t] = pos;
      t++;
    }
    this.total = t;
  }

  finish(): Uint8Array {
    const { numDocs, docCount, total, termList } = this;
    this.withPositions = this.positions === 'auto' ? docCount > 0 && total / docCount > AUTO_POSITIONS_MIN_TOKENS : this.positions;
    const docLens = this.docLens.subarray(0, numDocs);
    const sumDocLen = total;
    const tokTerm = this.tokTerm;
    const tokOrd = this.tokOrd;
    const tokPos = this.tokPos;
    // Counting sort of token indices by term id (stable).
    const numTerms = termList.length;
    const termStart = new Uint32Array(numTerms + 1);
    for (let i = 0; i < total; i++) termStart[tokTerm[i]! + 1]!++;
    for (let i = 0; i < numTerms; i++) termStart[i + 1]! += termStart[i]!;
    // Scatter (ordinal, position) into term order: sequential reads, writes into one stream per term.
    const fill = termStart.slice(0, numTerms);
    const sOrd = new Uint32Array(total);
    const sPos = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const dst = fill[tokTerm[i]!]!++;
      sOrd[dst] = tokOrd[i]!;
      sPos[dst] = tokPos[i]!;
    }

    // Dictionary order: UTF-8 bytes.
    const entries = termList.map((term, id) => ({ bytes: encoder.encode(term), id }));
    entries.sort((a, b) => compareBytes(a.bytes, b.bytes));

    const termOffsets = new Uint32Array(numTerms + 1);
    const termMeta = new Uint32Array(numTerms * META_WORDS);
    let termBytesLen = 0;
    for (let i = 0; i < numTerms; i++) {
      termOffsets[i] = termBytesLen;
      termBytesLen += entries[i]!.bytes.length;
    }
    termOffsets[numTerms] = u32Checked(termBytesLen, 'term dictionary size');

    const w = new ByteWriter(Math.max(1024, total * 3));
    let scratch = new Uint32Array(16);
    for (let i = 0; i < numTerms; i++) {
      const id = entries[i]!.id;
      const from = termStart[id]!;
      const to = termStart[id + 1]!;
      const start = w.len;
      // Docs part: (ord delta, tf) per run of equal ordinals.
      let df = 0;
      let prev = 0;
      for (let k = from; k < to; ) {
        const ord = sOrd[k]!;
        let e = k + 1;
        while (e < to && sOrd[e]! === ord) e++;
        w.varint(ord - prev);
        w.varint(e - k);
        prev = ord;
        df++;
        k = e;
      }
      const docsLen = w.len - start;
      // Positions part.
      for (let k = from; k < to && this.withPositions; ) {
        const ord = sOrd[k]!;
        let e = k + 1;
        let sorted = true;
        while (e < to && sOrd[e]! === ord) {
          if (sPos[e]! < sPos[e - 1]!) sorted = false;
          e++;
        }
        let last = 0;
        if (sorted) {
          for (let j = k; j < e; j++) {
            const x = sPos[j]!;
            w.varint(x - last);
            last = x;
          }
        } else {
          if (scratch.length < e - k) scratch = new Uint32Array(e - k);
          const run = scratch.subarray(0, e - k);
          for (let j = k; j < e; j++) run[j - k] = sPos[j]!;
          run.sort();
          for (const x of run) {
            w.varint(x - last);
            last = x;
          }
        }
        k = e;
      }
      termMeta[i * META_WORDS] = df;
      termMeta[i * META_WORDS + 1] = u32Checked(start, 'postings offset');
      termMeta[i * META_WORDS + 2] = docsLen;
      termMeta[i * META_WORDS + 3] = u32Checked(w.len - start - docsLen, 'positions size');
    }
    const postingsLen = u32Checked(w.len, 'postings size');

    const docLensOff = HEADER_SIZE;
    const termOffsetsOff = docLensOff + numDocs * 4;
    const termMetaOff = termOffsetsOff + (numTerms + 1) * 4;
    const termBytesOff = termMetaOff + numTerms * META_WORDS * 4;
    const postingsOff = align4(termBytesOff + termBytesLen);
    const out = new Uint8Array(postingsOff + postingsLen);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, FIELD_INDEX_MAGIC, true);
    dv.setUint32(4, this.withPositions ? FIELD_INDEX_VERSION : FIELD_INDEX_VERSION_NO_POSITIONS, true);
    dv.setUint32(8, numDocs, true);
    dv.setUint32(12, docCount, true);
    dv.setFloat64(16, sumDocLen, true);
    dv.setUint32(24, numTerms, true);
    dv.setUint32(28, termBytesLen, true);
    dv.setUint32(32, postingsLen, true);
    dv.setUint32(36, this.withPositions ? 0 : FLAG_NO_POSITIONS, true);
    writeU32s(dv, docLensOff, docLens);
    writeU32s(dv, termOffsetsOff, termOffsets);
    writeU32s(dv, termMetaOff, termMeta);
    let o = termBytesOff;
    for (const e of entries) {
      out.set(e.bytes, o);
      o += e.bytes.length;
    }
    out.set(w.buf.subarray(0, w.len), postingsOff);
    return out;
  }
}

function writeU32s(dv: DataView, off: number, arr: Uint32Array): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(dv.buffer, dv.byteOffset + off, arr.length * 4).set(new Uint8Array(arr.buffer, arr.byteOffset, arr.length * 4));
  } else {
    for (let i = 0; i < arr.length; i++) dv.setUint32(off + i * 4, arr[i]!, true);
  }
}

/** A little-endian u32 array view of bytes[off, off + 4n); copies when unaligned or on big-endian hosts. */
function u32View(bytes: Uint8Array, off: number, n: number): Uint32Array {
  const abs = bytes.byteOffset + off;
  if (LITTLE_ENDIAN && abs % 4 === 0) return new Uint32Array(bytes.buffer, abs, n);
  const dv = new DataView(bytes.buffer, abs, n * 4);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

/** End offset of the varint last decoded by readVarint. */
let varintEnd = 0;

/** Decodes the u32 varint at buf[p] (not past `end`), setting varintEnd; -1 when malformed or truncated. */
function readVarint(buf: Uint8Array, p: number, end: number): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (p >= end || shift > 28) return -1;
    const b = buf[p++]!;
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) break;
  }
  if (v > U32_MAX) return -1;
  varintEnd = p;
  return v;
}

function corrupt(msg: string): ElacsymError {
  return new ElacsymError('CORRUPT_SEGMENT', `full-text index: ${msg}`);
}

export class FieldIndexReader {
  /** Ordinal count. */
  readonly numDocs: number;
  /** Documents with at least one token in this field. */
  readonly docCount: number;
  /** Total token count. */
  readonly sumDocLen: number;
  /** Token count per ordinal (0 = absent/empty). Do not modify. */
  readonly docLens: Uint32Array;
  readonly numTerms: number;
  /**
   * Whether the index holds token positions (version 1). Without them (version 2) `Postings.positions`
   * and `positionData` throw: phrase matching then re-analyzes the candidates' stored values.
   */
  readonly hasPositions: boolean;

  private readonly termOffsets: Uint32Array;
  private readonly termMeta: Uint32Array;
  private readonly termBytes: Uint8Array;
  private readonly cache = new Map<string, Postings>();
  // Decoded postings of common terms: a --batch run sees the same common terms again and again, and they
  // are the ones that cost to decode. Rare terms are not cached: they decode in microseconds and seldom
  // come back, and caching them made every cached entry a mid-lived object (promoted by the young-
  // generation GC, then evicted), which lengthened the GC pauses that showed in the --batch p99.
  private static readonly CACHE_MAX = 512;
  private static readonly CACHE_MIN_DF = 256;

  private constructor(
    private readonly src: ByteSource,
    private readonly postingsBase: number,
    private readonly postingsLen: number,
    f: {
      numDocs: number;
      docCount: number;
      sumDocLen: number;
      numTerms: number;
      docLens: Uint32Array;
      termOffsets: Uint32Array;
      termMeta: Uint32Array;
      termBytes: Uint8Array;
      hasPositions: boolean;
    },
  ) {
    this.hasPositions = f.hasPositions;
    this.numDocs = f.numDocs;
    this.docCount = f.docCount;
    this.sumDocLen = f.sumDocLen;
    this.numTerms = f.numTerms;
    this.docLens = f.docLens;
    this.termOffsets = f.termOffsets;
    this.termMeta = f.termMeta;
    this.termBytes = f.termBytes;
  }

  static open(src: ByteSource): FieldIndexReader {
    const size = src.length;
    if (size < HEADER_SIZE) throw corrupt(`${size} bytes is shorter than the ${HEADER_SIZE}-byte header`);
    const head = src.read(0, HEADER_SIZE);
    const dv = new DataView(head.buffer, head.byteOffset, HEADER_SIZE);
    if (dv.getUint32(0, true) !== FIELD_INDEX_MAGIC) throw corrupt('bad magic');
    const version = dv.getUint32(4, true);
    if (version !== FIELD_INDEX_VERSION && version !== FIELD_INDEX_VERSION_NO_POSITIONS) {
      throw corrupt(`unsupported version ${version} (expected ${FIELD_INDEX_VERSION} or ${FIELD_INDEX_VERSION_NO_POSITIONS})`);
    }
    // Version 1 wrote 0 here; version 2 has exactly the no-positions flag (anything else is damage).
    const flags = dv.getUint32(36, true);
    if (flags !== (version === FIELD_INDEX_VERSION ? 0 : FLAG_NO_POSITIONS)) throw corrupt(`bad flags ${flags} for version ${version}`);
    const hasPositions = version === FIELD_INDEX_VERSION;
    const numDocs = dv.getUint32(8, true);
    const docCount = dv.getUint32(12, true);
    const sumDocLen = dv.getFloat64(16, true);
    const numTerms = dv.getUint32(24, true);
    const termBytesLen = dv.getUint32(28, true);
    const postingsLen = dv.getUint32(32, true);
    const termOffsetsOff = HEADER_SIZE + numDocs * 4;
    const termMetaOff = termOffsetsOff + (numTerms + 1) * 4;
    const termBytesOff = termMetaOff + numTerms * META_WORDS * 4;
    const postingsOff = align4(termBytesOff + termBytesLen);
    if (postingsOff + postingsLen !== size) {
      throw corrupt(`header describes ${postingsOff + postingsLen} bytes but the source has ${size}`);
    }
    if (docCount > numDocs) throw corrupt(`docCount ${docCount} > numDocs ${numDocs}`);
    if (!Number.isSafeInteger(sumDocLen) || sumDocLen < 0) throw corrupt(`bad sumDocLen ${sumDocLen}`);

    const body = src.read(HEADER_SIZE, postingsOff - HEADER_SIZE);
    const docLens = u32View(body, 0, numDocs);
    const termOffsets = u32View(body, termOffsetsOff - HEADER_SIZE, numTerms + 1);
    const termMeta = u32View(body, termMetaOff - HEADER_SIZE, numTerms * META_WORDS);
    const termBytes = body.subarray(termBytesOff - HEADER_SIZE, termBytesOff - HEADER_SIZE + termBytesLen);

    // O(1) checks only: open must stay cheap for a cold query. Term offsets are checked when used;
    // verify() does the full scan.
    if (termOffsets[0] !== 0 || termOffsets[numTerms] !== termBytesLen) throw corrupt('bad term offsets');
    return new FieldIndexReader(src, postingsOff, postingsLen, {
      numDocs,
      docCount,
      sumDocLen,
      numTerms,
      docLens,
      termOffsets,
      termMeta,
      termBytes,
      hasPositions,
    });
  }

  docLen(ord: number): number {
    return this.docLens[ord] ?? 0;
  }

  /** Index of the term in the dictionary, or -1 (binary search over the UTF-8 bytes). */
  private find(term: string): number {
    const key = encoder.encode(term);
    const tb = this.termBytes;
    const to = this.termOffsets;
    let lo = 0;
    let hi = this.numTerms - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = to[mid]!;
      const e = to[mid + 1]!;
      if (e < s || e > tb.length) throw corrupt(`bad offsets for term #${mid}`);
      const n = Math.min(e - s, key.length);
      let c = 0;
      for (let i = 0; i < n && c === 0; i++) c = tb[s + i]! - key[i]!;
      if (c === 0) c = e - s - key.length;
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * Index of the first dictionary term >= `key` in UTF-8 byte order (numTerms when none): where a prefix's
   * terms start, since the dictionary is sorted (see `termAt`, `termStartsWith`).
   */
  lowerBound(key: string): number {
    const k = encoder.encode(key);
    const tb = this.termBytes;
    const to = this.termOffsets;
    let lo = 0;
    let hi = this.numTerms;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = to[mid]!;
      const e = to[mid + 1]!;
      if (e < s || e > tb.length) throw corrupt(`bad offsets for term #${mid}`);
      if (compareBytes(tb.subarray(s, e), k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Does dictionary term `i` start with the UTF-8 bytes `prefix`? */
  termStartsWith(i: number, prefix: Uint8Array): boolean {
    const s = this.termOffsets[i]!;
    const e = this.termOffsets[i + 1]!;
    if (e < s || e > this.termBytes.length) throw corrupt(`bad offsets for term #${i}`);
    if (e - s < prefix.length) return false;
    const tb = this.termBytes;
    for (let j = 0; j < prefix.length; j++) if (tb[s + j] !== prefix[j]) return false;
    return true;
  }

  /** Dictionary term `i` (0 <= i < numTerms). */
  termAt(i: number): string {
    const s = this.termOffsets[i]!;
    const e = this.termOffsets[i + 1]!;
    if (!(i >= 0 && i < this.numTerms) || e < s || e > this.termBytes.length) throw corrupt(`bad offsets for term #${i}`);
    return decoder.decode(this.termBytes.subarray(s, e));
  }

  /** Raw document frequency of a term in this source (dead documents included); 0 when absent. */
  docFreq(term: string): number {
    const i = this.find(term);
    return i < 0 ? 0 : this.termMeta[i * META_WORDS]!;
  }

  /**
   * Postings of a term, or null when the term does not occur. Decoded postings of common terms (df >=
   * CACHE_MIN_DF) are cached, up to CACHE_MAX terms, oldest out first.
   */
  postings(term: string): Postings | null {
    const hit = this.cache.get(term);
    if (hit !== undefined) return hit;
    const i = this.find(term);
    if (i < 0) return null;
    const p = this.decode(i);
    if (p.ords.length < FieldIndexReader.CACHE_MIN_DF) return p;
    if (this.cache.size >= FieldIndexReader.CACHE_MAX) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(term, p);
    return p;
  }

  private decode(i: number): Postings {
    const m = this.termMeta;
    const df = m[i * META_WORDS]!;
    const off = m[i * META_WORDS + 1]!;
    const docsLen = m[i * META_WORDS + 2]!;
    const posLen = m[i * META_WORDS + 3]!;
    if (df === 0 || off + docsLen + posLen > this.postingsLen || docsLen < 2 * df || docsLen > 10 * df || df > this.numDocs) {
      throw corrupt(`bad dictionary entry for term #${i}`);
    }
    const buf = this.src.read(this.postingsBase + off, docsLen);
    const ords = new Uint32Array(df);
    const tfs = new Uint32Array(df);
    let p = 0;
    let prev = 0;
    let totalTf = 0;
    const numDocs = this.numDocs;
    const lens = this.docLens;
    for (let j = 0; j < df; j++) {
      // Varints: one-byte fast path inline (most deltas and tfs), the rest in readVarint.
      let v: number;
      if (p < docsLen && (v = buf[p]!) < 0x80) p++;
      else {
        v = readVarint(buf, p, docsLen);
        if (v < 0) throw corrupt(`bad varint in postings of term #${i}`);
        p = varintEnd;
      }
      const ord = prev + v;
      if ((j > 0 && v === 0) || ord >= numDocs) throw corrupt(`bad ordinal in postings of term #${i}`);
      prev = ord;
      ords[j] = ord;
      let tf: number;
      if (p < docsLen && (tf = buf[p]!) < 0x80) p++;
      else {
        tf = readVarint(buf, p, docsLen);
        if (tf < 0) throw corrupt(`bad varint in postings of term #${i}`);
        p = varintEnd;
      }
      if (tf === 0 || tf > lens[ord]!) throw corrupt(`bad term frequency in postings of term #${i}`);
      tfs[j] = tf;
      totalTf += tf;
    }
    if (p !== docsLen) throw corrupt(`postings of term #${i} have trailing bytes`);
    if (this.hasPositions ? posLen < totalTf || posLen > totalTf * 5 : posLen !== 0) throw corrupt(`bad positions size for term #${i}`);
    const hasPositions = this.hasPositions;
    const src = this.src;
    const posAbs = this.postingsBase + off + docsLen;
    let data: PositionData | null = null;
    // The whole positions part of the term is decoded at once, on first use: phrase queries visit many
    // postings, and a flat array + prefix sums makes each positions(i) a cheap subarray.
    const load = (): PositionData => {
      if (!hasPositions) throw new ElacsymError('INTERNAL', 'full-text index: positions asked of an index built without them');
      const pb = src.read(posAbs, posLen);
      const starts = new Uint32Array(df + 1);
      const flat = new Uint32Array(totalTf);
      let q = 0;
      let n = 0;
      for (let j = 0; j < df; j++) {
        starts[j] = n;
        const tf = tfs[j]!;
        let pos = 0;
        for (let k = 0; k < tf; k++) {
          let v: number;
          if (q < posLen && (v = pb[q]!) < 0x80) q++;
          else {
            v = readVarint(pb, q, posLen);
            if (v < 0) throw corrupt(`bad varint in positions of term #${i}`);
            q = varintEnd;
          }
          pos += v;
          if (pos > U32_MAX) throw corrupt(`position overflow in term #${i}`);
          flat[n++] = pos;
        }
      }
      if (q !== posLen) throw corrupt(`positions of term #${i} have trailing bytes`);
      starts[df] = n;
      return { flat, starts };
    };
    return {
      ords,
      tfs,
      positions(j: number): Uint32Array {
        if (!(j >= 0 && j < df)) throw new RangeError(`posting index ${j} out of range [0, ${df})`);
        const d = data ?? (data = load());
        return d.flat.subarray(d.starts[j]!, d.starts[j + 1]!);
      },
      positionData(): PositionData {
        return data ?? (data = load());
      },
    };
  }

  /** All terms, in dictionary (UTF-8 byte) order. For tests and debugging. */
  *terms(): Iterable<string> {
    for (let i = 0; i < this.numTerms; i++) {
      const s = this.termOffsets[i]!;
      const e = this.termOffsets[i + 1]!;
      if (e < s || e > this.termBytes.length) throw corrupt(`bad offsets for term #${i}`);
      yield decoder.decode(this.termBytes.subarray(s, e));
    }
  }

  /**
   * Full consistency check (for `health --deep`): document lengths agree with the header, terms are
   * strictly ascending, and every term's postings and positions decode. Throws CORRUPT_SEGMENT.
   * Reads all the postings; does not populate the postings cache.
   */
  verify(): void {
    let count = 0;
    let sum = 0;
    for (let i = 0; i < this.numDocs; i++) {
      const l = this.docLens[i]!;
      if (l > 0) {
        count++;
        sum += l;
      }
    }
    if (count !== this.docCount || sum !== this.sumDocLen) throw corrupt('document lengths disagree with the header');
    const tb = this.termBytes;
    const to = this.termOffsets;
    for (let i = 0; i < this.numTerms; i++) {
      const s = to[i]!;
      const e = to[i + 1]!;
      if (e < s || e > tb.length) throw corrupt(`bad offsets for term #${i}`);
      if (i > 0 && compareBytes(tb.subarray(to[i - 1]!, s), tb.subarray(s, e)) >= 0) {
        throw corrupt(`terms #${i - 1} and #${i} are not in ascending order`);
      }
      const p = this.decode(i);
      if (this.hasPositions) p.positionData();
    }
  }
}
