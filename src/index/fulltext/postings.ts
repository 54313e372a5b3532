/**
 * Per-segment, per-field inverted index, serialized to bytes.
 *
 * Three versions share the magic and the first 28 bytes of the header. Version 3 (compact, format 7 of the
 * manifest) is what every new field index is written in, with or without positions; versions 1 and 2 are
 * still read (segments written before format 7), and written only on request (`legacy`, for tests).
 *
 * FORMAT (versions 1 and 2). Little-endian. Every section starts at a multiple of 4 (zero padding in between).
 * Version 2 is version 1 without positions: the header's u32 at 36 holds flags (bit 0 set: no positions,
 * every term's posLen is 0) where version 1 has 0. A field built with positions was written as version 1,
 * without them (the schema's full-text option `positions: false`, or "auto" on short values: see
 * AUTO_POSITIONS_MIN_TOKENS) as version 2.
 *
 *   offset size  field
 *   0      4     magic "ELFT" (0x45 0x4C 0x46 0x54)
 *   4      4     u32 version = 1 or 2
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
 * FORMAT (version 3). Same conventions; the header is 48 bytes:
 *
 *   0      4     magic "ELFT"
 *   4      4     u32 version = 3
 *   8      4     u32 numDocs, 12 u32 docCount, 16 f64 sumDocLen, 24 u32 numTerms V: as above
 *   28     4     u32 flags: bit 0 = no positions (the only flag; the rest 0)
 *   32     4     u32 lensLen      byte length of the document lengths
 *   36     4     u32 dictLen      byte length of the term blocks
 *   40     4     u32 postingsLen  byte length of the postings blob
 *   44     4     u32 B            terms per dictionary block (1..4096; written: DICT_BLOCK_TERMS = 32)
 *   48           u8[lensLen]      document lengths (empty when numDocs is 0): u8 w (1..32), then numDocs
 *                                 values of w bits, bit-packed LSB first (value i in bits [i*w, (i+1)*w) of
 *                                 the bytes that follow, the last byte's unused high bits 0), then for each
 *                                 value equal to 2^w - 1, in ordinal order, a varint: length - (2^w - 1).
 *                                 w is the one that makes the whole shortest (encodeDocLens). Exact.
 *                                 Then zero padding to 4.
 *                u32[2 * ceil(V / B)]  block index: per block k: the byte offset of block k in the term
 *                                 blocks, the postings offset of its first term (both 0 for block 0)
 *                u8[dictLen]      term blocks: terms in UTF-8 byte order, B per block (the last one may hold
 *                                 fewer). Per term: varint shared prefix length with the previous term of
 *                                 the block (0 for a block's first term, which is so stored whole), varint
 *                                 suffix length, the suffix bytes, varint df, varint docsLen, and (with
 *                                 positions only) varint posLen. A term's postings offset is implicit: its
 *                                 block's offset plus the docsLen + posLen of the terms before it in the
 *                                 block; the last term of a block ends where the next block's postings
 *                                 start (the last block's: postingsLen). Then zero padding to 4.
 *                u8[postingsLen]  postings blob; per term, at its offset:
 *                                 docs part (docsLen bytes): the df postings in blocks of DOCS_BLOCK = 64
 *                                   (the last one may hold fewer). A block of m >= 2 postings: u8 gw, u8 tw
 *                                   (0..32), m ordinal deltas of gw bits, then m values tf - 1 of tw bits,
 *                                   each array bit-packed LSB first in ceil(m * w / 8) bytes (unused high
 *                                   bits 0). A last block of one posting: a varint pair (ord delta, tf) as in
 *                                   version 1. Deltas as in version 1 (the first is the ordinal itself).
 *                                 positions part (posLen bytes): as in version 1.
 *   The file ends exactly after the postings blob.
 *
 * Why these encodings (measured on the bench set, 98,304 WordNet glosses, fields title and body without
 * positions, and on 778 documentation pages, field content with positions; see docs/performance.md):
 * - Document lengths: 4 bytes a document in version 1; bit-packed with the escape they take 0.28 byte a
 *   document for the bench's titles and 0.57 for its bodies (w = 2 and 4). BM25 needs them exact, and they
 *   are: the escape holds any u32.
 * - Dictionary: version 1 spends 20 bytes a term on offsets and metadata before the text. Front coding in
 *   blocks with varint metadata (block index included): 7.4 bytes a term in all for the bench's titles
 *   (927 KB -> 250 KB), 13.5 for the pages (404 KB -> 167 KB). B = 32: 64 and 128 saved under 1% more of
 *   the whole field index, and a lookup decodes one block (a binary search over the blocks' first terms,
 *   then one block: measured about as fast as version 1's binary search); 8 and 16 cost 1-6% more bytes.
 * - Docs part: the varint pairs spend a whole byte on tf = 1 and on small deltas. Bit-packed blocks: bench
 *   body 1,911 KB -> 1,184 KB, title 419 KB -> 308 KB, pages 280 KB -> 194 KB. Blocks of 64 beat 128 and
 *   256 (narrower widths); a single-posting last block as a varint pair saves the two width bytes.
 *   Decoding is faster than the varints on the bench (more postings per term), slower on the pages.
 * - Positions stay varints: bit-packing per term in blocks of 32, 64 or 128 deltas, with or without
 *   exceptions (patched frame of reference), came within -4%..+4% of the varints on the pages (the first
 *   position of each posting is an absolute offset in a long page and sets the width).
 * Totals: bench ft:body 3.07 MB -> 1.45 MB, ft:title 1.74 MB -> 0.59 MB; pages ft:content 1.42 MB -> 1.09 MB.
 *
 * Varints are unsigned LEB128 (7 bits per byte, low first, at most 5 bytes for a u32).
 * There is no checksum here: byte-level integrity is the job of the segment file that embeds this section.
 *
 * "docCount" counts documents with at least one token (Lucene's convention) rather than documents where the
 * value is non-null: an empty or all-stopword value is indistinguishable from an absent one in docLens, and
 * this way the live statistics of a source can be recomputed exactly from docLens (see bm25.ts liveStats).
 *
 * Reading: `FieldIndexReader.open` reads the header and one contiguous range with the document lengths and
 * the term dictionary and does O(1) checks (sizes add up to the source length exactly). Versions 1/2: term
 * lookups are a binary search over the UTF-8 bytes (no decoding of the dictionary at open). Version 3: the
 * document lengths are unpacked on first use (checked against docCount and sumDocLen), and a lookup is a
 * binary search over the blocks' first terms, then the decoding of one block (checked whole: lengths,
 * ascending terms, its postings sizes against the block index); the last block decoded is kept, so prefix
 * and fuzzy walks (lowerBound, termStartsWith, termAt in order) decode each block once. Postings of a term
 * are read on demand with `src.read`: the docs part on `postings(term)`, the positions part only when
 * positions are first asked for (then decoded all at once for that term). Any inconsistency met on the way
 * throws ElacsymError('CORRUPT_SEGMENT'); reads never leave the source's bounds; `verify()` checks
 * everything (every block, the order across blocks, every term UTF-8, every postings list and positions).
 */
import { ElacsymError } from '../../errors.js';
import type { ByteSource } from '../../util/bytes.js';
import type { Analyzer, Token } from './analyzer.js';

export const FIELD_INDEX_MAGIC = 0x54464c45; // "ELFT" read as a little-endian u32
export const FIELD_INDEX_VERSION = 1;
/** The version of a field index without positions (see FORMAT). */
export const FIELD_INDEX_VERSION_NO_POSITIONS = 2;
/** The compact version, with or without positions (see FORMAT): what every new field index is written in. */
export const FIELD_INDEX_VERSION_COMPACT = 3;
/** Terms per dictionary block in version 3 (see FORMAT: measured, 32 is where the block index stops paying). */
export const DICT_BLOCK_TERMS = 32;
/** Postings per bit-packed block of a version 3 docs part (see FORMAT). */
export const DOCS_BLOCK = 64;
const FLAG_NO_POSITIONS = 1;
/**
 * `positions: "auto"` keeps positions in a segment whose documents (those with a token in the field)
 * average more than this many tokens. Checking a phrase against stored text costs about the text's length
 * per candidate: negligible for titles and one-line descriptions (the bench's glosses average 7 tokens),
 * seconds per query for pages (the documentation set's average 720: 1.4 s instead of 0.2 s for 778 pages).
 */
export const AUTO_POSITIONS_MIN_TOKENS = 32;
const HEADER_SIZE = 40;
const HEADER_SIZE_V3 = 48;
/** Largest accepted dictionary block (a damaged header must not make the reader allocate much). */
const MAX_BLOCK_TERMS = 4096;
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
/** For verify(): a term that is not well-formed UTF-8 (the writer never makes one) is damage. */
const strictDecoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

function checkUtf8(bytes: Uint8Array, i: number): void {
  try {
    strictDecoder.decode(bytes);
  } catch {
    throw corrupt(`term #${i} is not UTF-8`);
  }
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4; // not `& ~3`: sizes read from a damaged header may exceed 2^31
}

/** compareBytes of a[as, ae) and b[bs, be), without subarrays. */
function compareRange(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = (a[as + i] as number) - (b[bs + i] as number);
    if (d !== 0) return d;
  }
  return ae - as - (be - bs);
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
  byte(v: number): void {
    if (this.len + 1 > this.buf.length) this.grow(1);
    this.buf[this.len++] = v;
  }
  /** arr[from, from + count) in `width` bits each, LSB first, in ceil(count * width / 8) bytes. */
  packBits(arr: Uint32Array, from: number, count: number, width: number): void {
    const nbytes = Math.ceil((count * width) / 8);
    if (this.len + nbytes > this.buf.length) this.grow(nbytes);
    const buf = this.buf;
    let p = this.len;
    let acc = 0; // < 2^39: plain arithmetic, not 32-bit operators
    let accBits = 0;
    for (let k = 0; k < count; k++) {
      acc += arr[from + k]! * 2 ** accBits;
      accBits += width;
      while (accBits >= 8) {
        const low = acc % 256;
        buf[p++] = low;
        acc = (acc - low) / 256;
        accBits -= 8;
      }
    }
    if (accBits > 0) buf[p++] = acc;
    this.len = p;
  }
  bytes(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
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
export function buildFieldIndex(docs: ReadonlyArray<Token[] | null>, positions: boolean | 'auto' = true, options: FieldIndexOptions = {}): Uint8Array {
  const b = new FieldIndexBuilder(docs.length, positions, options);
  for (let ord = 0; ord < docs.length; ord++) b.add(docs[ord] ?? null);
  return b.finish();
}

export interface FieldIndexOptions {
  /**
   * Write versions 1/2 (what every release before format 7 wrote) instead of version 3. For tests of the
   * older readers and for measurements; no writer of the store asks for it.
   */
  legacy?: boolean;
  /** Terms per dictionary block of version 3 (default DICT_BLOCK_TERMS). For tests and measurements. */
  blockTerms?: number;
}

/** A broken invariant of the builder itself (never the data's fault). */
function internal(why: string): never {
  throw new ElacsymError('INTERNAL', `full-text index build: ${why}`);
}

/**
 * buildFieldIndex one document at a time: `add` the tokens of ordinals 0, 1, 2, ... in order, then `finish`
 * (once: it spends the builder). A segment build analyzes each document and hands its tokens over at once,
 * so the analyzed tokens of a whole segment (a JS object per token: ~70 MB for 100k short documents) never
 * exist together; what is kept is one or two u32 per token (see the constructor). The bytes are
 * buildFieldIndex's: term ids are given in order of first appearance either way.
 */
export class FieldIndexBuilder {
  private docLens: Uint32Array;
  private numDocs = 0;
  private docCount = 0;
  private total = 0;
  private readonly ids = new Map<string, number>();
  private readonly termList: string[] = [];
  // Each token's term id and position, in ordinal order. A token's ordinal is not stored: the tokens of
  // ordinal k follow those of ordinals < k, docLens[k] of them (finish walks docLens). Positions are not
  // kept at all when the index will have none (`positions: false`).
  private tokTerm = new Uint32Array(1024);
  private tokPos: Uint32Array | null;

  /** Whether `finish` writes positions (decided there for "auto"). */
  private withPositions = true;
  private finished = false;

  /**
   * `expectedDocs`: the ordinal count if known (sizes the per-document array once, and lets the token
   * arrays grow to the size the documents so far predict instead of doubling). `positions`: false
   * writes an index without the positions part (version 3 with the flag; version 2 with `legacy`): phrase
   * queries then check candidates against the stored text (see bm25.ts); "auto" keeps them when the documents with a token average more than
   * AUTO_POSITIONS_MIN_TOKENS tokens, where checking the stored text would cost most.
   *
   * Memory, for T tokens: 8 bytes per token while adding (4 without positions), plus up to a quarter more
   * of spare capacity; `finish` adds 8 per token (its term-ordered copy) and frees the first arrays before
   * it encodes. (It held 12 per token, up to twice over while doubling, with the term-ordered copy on top:
   * ~130 MB for the 4.3M tokens of a 213k-document merge.)
   */
  constructor(
    private readonly expectedDocs = 0,
    private readonly positions: boolean | 'auto' = true,
    private readonly options: FieldIndexOptions = {},
  ) {
    this.docLens = new Uint32Array(Math.max(16, expectedDocs));
    this.tokPos = positions === false ? null : new Uint32Array(1024);
  }

  /** The tokens of the next ordinal (null or empty: absent). */
  add(toks: readonly Token[] | null): void {
    const ord = this.nextOrd();
    if (toks === null || toks.length === 0) return;
    this.docLens[ord] = u32Checked(toks.length, 'document length');
    this.docCount++;
    const need = this.total + toks.length;
    if (need > this.tokTerm.length) this.grow(need);
    for (let k = 0; k < toks.length; k++) this.sink(toks[k]!.term, toks[k]!.pos);
  }

  /**
   * The next ordinal's value, analyzed here: the tokens `analyzer.analyzeValue(value)` gives, taken one at
   * a time (no Token objects); the same index as `add` of them.
   */
  addValue(analyzer: Pick<Analyzer, 'forEachToken'>, value: string | readonly string[] | null | undefined): void {
    const ord = this.nextOrd();
    const first = this.total;
    analyzer.forEachToken(value, this.sink);
    const n = this.total - first;
    if (n === 0) return;
    this.docLens[ord] = u32Checked(n, 'document length');
    this.docCount++;
  }

  /** Counts one more ordinal (its length 0 until its tokens are added) and returns it. */
  private nextOrd(): number {
    const ord = this.numDocs++;
    u32Checked(this.numDocs, 'document count');
    if (ord >= this.docLens.length) {
      const next = new Uint32Array(this.docLens.length * 2);
      next.set(this.docLens);
      this.docLens = next;
    }
    return ord;
  }

  /** Appends one token of the current ordinal (a field made once: addValue hands it to the analyzer). */
  private readonly sink = (term: string, pos: number): void => {
    const t = this.total;
    if (t >= this.tokTerm.length) this.grow(t + 1);
    let id = this.ids.get(term);
    if (id === undefined) {
      id = this.termList.length;
      this.ids.set(term, id);
      this.termList.push(term);
    }
    if (!(pos >= 0 && pos <= U32_MAX && Number.isInteger(pos))) u32Checked(pos, 'token position');
    this.tokTerm[t] = id;
    if (this.tokPos !== null) this.tokPos[t] = pos;
    this.total = t + 1;
  };

  /**
   * Room for `need` tokens. With the ordinal count known, the arrays grow to what the documents so far
   * predict for all of them (5% over), at least a quarter more and at most twice the current capacity;
   * otherwise they double. Growing copies, so the old and new arrays are briefly both alive: doubling made
   * that three times the tokens held.
   */
  private grow(need: number): void {
    const cap = this.tokTerm.length;
    const predicted = this.expectedDocs > this.numDocs ? Math.ceil((need / this.numDocs) * this.expectedDocs * 1.05) : 2 * cap;
    const next = Math.max(need, Math.min(2 * cap, Math.max(Math.ceil(cap * 1.25), predicted)));
    const copy = (a: Uint32Array) => {
      const b = new Uint32Array(next);
      b.set(a.subarray(0, this.total));
      return b;
    };
    this.tokTerm = copy(this.tokTerm);
    if (this.tokPos !== null) this.tokPos = copy(this.tokPos);
  }

  /**
   * The tokens in term order (a stable counting sort by term id: within a term, ordinals ascend and each
   * ordinal's positions keep their order), and the start of each term's run. Frees the builder's token
   * arrays: the builder is spent.
   */
  private byTerm(): { termStart: Uint32Array; sOrd: Uint32Array; sPos: Uint32Array | null } {
    const { numDocs, total, tokTerm, tokPos, docLens } = this;
    const numTerms = this.termList.length;
    const termStart = new Uint32Array(numTerms + 1);
    for (let i = 0; i < total; i++) termStart[tokTerm[i]! + 1]!++;
    for (let i = 0; i < numTerms; i++) termStart[i + 1]! += termStart[i]!;
    // Scatter (ordinal, position) into term order: sequential reads, writes into one stream per term.
    const fill = termStart.slice(0, numTerms);
    const sOrd = new Uint32Array(total);
    const sPos = this.withPositions && tokPos !== null ? new Uint32Array(total) : null;
    let i = 0;
    for (let ord = 0; ord < numDocs; ord++) {
      for (const end = i + docLens[ord]!; i < end; i++) {
        const dst = fill[tokTerm[i]!]!++;
        sOrd[dst] = ord;
        if (sPos !== null) sPos[dst] = tokPos![i]!;
      }
    }
    if (i !== total) internal(`the builder's document lengths add up to ${i} tokens, not ${total}`);
    this.tokTerm = new Uint32Array(0);
    this.tokPos = null;
    return { termStart, sOrd, sPos };
  }

  finish(): Uint8Array {
    if (this.finished) internal('FieldIndexBuilder.finish called twice');
    this.finished = true;
    const { numDocs, docCount, total, termList } = this;
    this.withPositions = this.positions === 'auto' ? docCount > 0 && total / docCount > AUTO_POSITIONS_MIN_TOKENS : this.positions;
    const docLens = this.docLens.subarray(0, numDocs);
    const sumDocLen = total;
    const numTerms = termList.length;
    const { termStart, sOrd, sPos: sPosOrNull } = this.byTerm();
    const sPos = sPosOrNull ?? new Uint32Array(0); // read only when withPositions, and then byTerm made it

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
    const compact = this.options.legacy !== true;
    let gaps = new Uint32Array(64);
    let tfm1 = new Uint32Array(64);
    for (let i = 0; i < numTerms; i++) {
      const id = entries[i]!.id;
      const from = termStart[id]!;
      const to = termStart[id + 1]!;
      const start = w.len;
      // Docs part: (ord delta, tf) per run of equal ordinals; version 3 bit-packs them (writePackedDocs).
      let df = 0;
      let prev = 0;
      for (let k = from; k < to; ) {
        const ord = sOrd[k]!;
        let e = k + 1;
        while (e < to && sOrd[e]! === ord) e++;
        if (compact) {
          if (df === gaps.length) {
            const g = new Uint32Array(df * 2);
            g.set(gaps);
            gaps = g;
            const t = new Uint32Array(df * 2);
            t.set(tfm1);
            tfm1 = t;
          }
          gaps[df] = ord - prev;
          tfm1[df] = e - k - 1;
        } else {
          w.varint(ord - prev);
          w.varint(e - k);
        }
        prev = ord;
        df++;
        k = e;
      }
      if (compact) writePackedDocs(w, gaps, tfm1, df);
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
    if (this.options.legacy !== true) {
      return writeCompact({
        numDocs,
        docCount,
        sumDocLen,
        withPositions: this.withPositions,
        docLens,
        terms: entries.map((e) => e.bytes),
        termMeta,
        postings: w.buf.subarray(0, w.len),
        blockTerms: this.options.blockTerms ?? DICT_BLOCK_TERMS,
      });
    }

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

function bitWidth(v: number): number {
  return v === 0 ? 0 : 32 - Math.clz32(v);
}

/**
 * A version 3 docs part (see FORMAT): blocks of DOCS_BLOCK postings, each the widths of its ordinal deltas
 * and of its tf - 1 (one byte each) and the two bit-packed arrays; a last block of one posting is a varint
 * pair as in version 1.
 */
function writePackedDocs(w: ByteWriter, gaps: Uint32Array, tfm1: Uint32Array, n: number): void {
  for (let i = 0; i < n; i += DOCS_BLOCK) {
    const m = Math.min(DOCS_BLOCK, n - i);
    if (m === 1) {
      w.varint(gaps[i]!);
      w.varint(tfm1[i]! + 1);
      continue;
    }
    let g = 0;
    let t = 0;
    for (let k = i; k < i + m; k++) {
      g |= gaps[k]!;
      t |= tfm1[k]!;
    }
    const gw = bitWidth(g >>> 0);
    const tw = bitWidth(t >>> 0);
    w.byte(gw);
    w.byte(tw);
    w.packBits(gaps, i, m, gw);
    w.packBits(tfm1, i, m, tw);
  }
}

/**
 * Unpacks `count` values of `width` bits (LSB first) from buf[p, p + ceil(count * width / 8)) into
 * out[at, at + count) (the caller checked both ranges); throws CORRUPT_SEGMENT when the last byte's unused bits are not zero.
 */
function unpackBits(buf: Uint8Array, p: number, count: number, width: number, out: Uint32Array, at: number): void {
  if (width === 0) {
    for (let k = 0; k < count; k++) out[at + k] = 0;
    return;
  }
  const nbytes = Math.ceil((count * width) / 8);
  const end = p + nbytes;
  let k = 0;
  let bit = 0;
  if (width <= 24) {
    // A bit accumulator fed a byte at a time (< width + 8 <= 32 bits in it): reads each byte once and never
    // past buf[end - 1], since count * width <= 8 * nbytes.
    const mask = (1 << width) - 1;
    let acc = 0;
    let have = 0;
    let q = p;
    for (; k < count; k++) {
      while (have < width) {
        acc |= buf[q++]! << have;
        have += 8;
      }
      out[at + k] = acc & mask;
      acc >>>= width;
      have -= width;
    }
    if (acc !== 0) throw corrupt('stray bits in packed postings');
    return;
  }
  for (; k < count; k++, bit += width) {
    let q = p + Math.floor(bit / 8);
    let sh = bit % 8;
    let v = 0;
    let got = 0;
    while (got < width) {
      const take = Math.min(8 - sh, width - got);
      v += ((buf[q]! >>> sh) & ((1 << take) - 1)) * 2 ** got;
      got += take;
      sh = 0;
      q++;
    }
    out[at + k] = v;
  }
  const used = (count * width) % 8;
  if (used !== 0 && buf[end - 1]! >>> used !== 0) throw corrupt('stray bits in packed postings');
}

/**
 * Unpacks the m-posting block of term #i at buf[p] (docs part of docsLen bytes): ordinal deltas into
 * ords[at, at + m), tf - 1 into tfs[at, at + m). Returns the block's end.
 */
function unpackDocs(buf: Uint8Array, p: number, docsLen: number, m: number, i: number, ords: Uint32Array, tfs: Uint32Array, at: number): number {
  if (p + 2 > docsLen) throw corrupt(`postings of term #${i} are truncated`);
  const gw = buf[p]!;
  const tw = buf[p + 1]!;
  p += 2;
  if (gw > 32 || tw > 32) throw corrupt(`bad bit width in postings of term #${i}`);
  const gn = Math.ceil((m * gw) / 8);
  const tn = Math.ceil((m * tw) / 8);
  if (p + gn + tn > docsLen) throw corrupt(`postings of term #${i} are truncated`);
  unpackBits(buf, p, m, gw, ords, at);
  unpackBits(buf, p + gn, m, tw, tfs, at);
  return p + gn + tn;
}

/**
 * The docs part of term #i (versions 1 and 2: varint pairs) into ords and tfs; returns the sum of the
 * tfs. Throws CORRUPT_SEGMENT on any inconsistency, and unless exactly docsLen bytes are used.
 */
function decodeVarintDocs(buf: Uint8Array, docsLen: number, df: number, ords: Uint32Array, tfs: Uint32Array, lens: Uint32Array, numDocs: number, i: number): number {
  let p = 0;
  let prev = 0;
  let totalTf = 0;
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
  return totalTf;
}

/** decodeVarintDocs for version 3: bit-packed blocks of DOCS_BLOCK postings (see writePackedDocs). */
function decodePackedDocs(buf: Uint8Array, docsLen: number, df: number, ords: Uint32Array, tfs: Uint32Array, lens: Uint32Array, numDocs: number, i: number): number {
  let p = 0;
  let prev = 0;
  let totalTf = 0;
  for (let j = 0; j < df; ) {
    const m = Math.min(DOCS_BLOCK, df - j);
    if (m === 1) {
      // A last block of one posting: a varint pair.
      const v = readVarint(buf, p, docsLen);
      const tf = v < 0 ? -1 : readVarint(buf, varintEnd, docsLen);
      if (tf < 0) throw corrupt(`bad varint in postings of term #${i}`);
      p = varintEnd;
      const ord = prev + v;
      if ((j > 0 && v === 0) || ord >= numDocs) throw corrupt(`bad ordinal in postings of term #${i}`);
      if (tf === 0 || tf > lens[ord]!) throw corrupt(`bad term frequency in postings of term #${i}`);
      ords[j] = ord;
      tfs[j] = tf;
      totalTf += tf;
      j++;
      continue;
    }
    // Deltas into ords and tf - 1 into tfs, then fixed up in place.
    p = unpackDocs(buf, p, docsLen, m, i, ords, tfs, j);
    const e = j + m;
    if (j === 0) {
      // The first delta is the ordinal itself (may be 0).
      prev = ords[0]!;
      if (prev >= numDocs) throw corrupt(`bad ordinal in postings of term #${i}`);
      const tf = tfs[0]! + 1;
      if (tf > lens[prev]!) throw corrupt(`bad term frequency in postings of term #${i}`);
      tfs[0] = tf;
      totalTf += tf;
      j = 1;
    }
    for (; j < e; j++) {
      const v = ords[j]!;
      const ord = prev + v;
      if (v === 0 || ord >= numDocs) throw corrupt(`bad ordinal in postings of term #${i}`);
      prev = ord;
      ords[j] = ord;
      const tf = tfs[j]! + 1;
      if (tf > lens[ord]!) throw corrupt(`bad term frequency in postings of term #${i}`);
      tfs[j] = tf;
      totalTf += tf;
    }
  }
  if (p !== docsLen) throw corrupt(`postings of term #${i} have trailing bytes`);
  return totalTf;
}

/** Version 3 (see FORMAT), from the parts finish() made: terms in dictionary order, termMeta as in version 1. */
function writeCompact(f: {
  numDocs: number;
  docCount: number;
  sumDocLen: number;
  withPositions: boolean;
  docLens: Uint32Array;
  terms: Uint8Array[];
  termMeta: Uint32Array;
  postings: Uint8Array;
  blockTerms: number;
}): Uint8Array {
  const { numDocs, terms, termMeta, withPositions, blockTerms: B } = f;
  if (!(Number.isInteger(B) && B >= 1 && B <= MAX_BLOCK_TERMS)) throw new ElacsymError('INTERNAL', `full-text index: bad block size ${B}`);
  const lens = encodeDocLens(f.docLens);
  const numTerms = terms.length;
  const numBlocks = Math.ceil(numTerms / B);
  const blockIndex = new Uint32Array(numBlocks * 2);
  const d = new ByteWriter(Math.max(64, numTerms * 12));
  for (let i = 0; i < numTerms; i++) {
    const t = terms[i]!;
    let prefix = 0;
    if (i % B === 0) {
      blockIndex[(i / B) * 2] = u32Checked(d.len, 'dictionary size');
      blockIndex[(i / B) * 2 + 1] = termMeta[i * META_WORDS + 1]!;
    } else {
      const prev = terms[i - 1]!;
      const n = Math.min(prev.length, t.length);
      while (prefix < n && prev[prefix] === t[prefix]) prefix++;
    }
    d.varint(prefix);
    d.varint(t.length - prefix);
    d.bytes(t.subarray(prefix));
    d.varint(termMeta[i * META_WORDS]!);
    d.varint(termMeta[i * META_WORDS + 2]!);
    if (withPositions) d.varint(termMeta[i * META_WORDS + 3]!);
  }
  const dictLen = u32Checked(d.len, 'dictionary size');
  const blockIndexOff = align4(HEADER_SIZE_V3 + lens.length);
  const dictOff = blockIndexOff + numBlocks * 8;
  const postingsOff = align4(dictOff + dictLen);
  const out = new Uint8Array(postingsOff + f.postings.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FIELD_INDEX_MAGIC, true);
  dv.setUint32(4, FIELD_INDEX_VERSION_COMPACT, true);
  dv.setUint32(8, numDocs, true);
  dv.setUint32(12, f.docCount, true);
  dv.setFloat64(16, f.sumDocLen, true);
  dv.setUint32(24, numTerms, true);
  dv.setUint32(28, withPositions ? 0 : FLAG_NO_POSITIONS, true);
  dv.setUint32(32, lens.length, true);
  dv.setUint32(36, dictLen, true);
  dv.setUint32(40, f.postings.length, true);
  dv.setUint32(44, B, true);
  out.set(lens, HEADER_SIZE_V3);
  writeU32s(dv, blockIndexOff, blockIndex);
  out.set(d.buf.subarray(0, dictLen), dictOff);
  out.set(f.postings, postingsOff);
  return out;
}

/**
 * Version 3 document lengths (see FORMAT): a width byte w, the lengths bit-packed in w bits each (2^w - 1
 * marks a length >= 2^w - 1), then for each marked length in ordinal order a varint: length - (2^w - 1).
 * w is the one that makes this shortest. Empty for no documents.
 */
export function encodeDocLens(lens: Uint32Array): Uint8Array {
  const n = lens.length;
  if (n === 0) return new Uint8Array(0);
  let max = 0;
  for (let i = 0; i < n; i++) if (lens[i]! > max) max = lens[i]!;
  let bestW = 32;
  let bestCost = Infinity;
  for (let w = 1; w <= 32; w++) {
    const m = 2 ** w - 1;
    let cost = Math.ceil((n * w) / 8);
    if (max >= m) for (let i = 0; i < n; i++) if (lens[i]! >= m) cost += varintSize(lens[i]! - m);
    if (cost < bestCost) {
      bestCost = cost;
      bestW = w;
    }
    if (max < m) break; // wider only costs more
  }
  const w = bestW;
  const m = 2 ** w - 1;
  const packedLen = Math.ceil((n * w) / 8);
  const out = new ByteWriter(1 + packedLen + 16);
  out.buf[0] = w;
  out.len = 1 + packedLen;
  const buf = out.buf;
  let p = 1;
  let sh = 0;
  for (let i = 0; i < n; i++) {
    let v = Math.min(lens[i]!, m);
    let rem = w;
    while (rem > 0) {
      const take = Math.min(8 - sh, rem);
      buf[p] = buf[p]! | ((v & ((1 << take) - 1)) << sh);
      v = v >>> take;
      rem -= take;
      sh += take;
      if (sh === 8) {
        sh = 0;
        p++;
      }
    }
  }
  for (let i = 0; i < n; i++) if (lens[i]! >= m) out.varint(lens[i]! - m);
  return out.buf.slice(0, out.len);
}

/** Inverse of encodeDocLens, checked against the header's statistics; throws CORRUPT_SEGMENT. */
export function decodeDocLens(buf: Uint8Array, numDocs: number, docCount: number, sumDocLen: number): Uint32Array {
  const lens = new Uint32Array(numDocs);
  if (numDocs === 0) {
    if (buf.length !== 0 || docCount !== 0 || sumDocLen !== 0) throw corrupt('document lengths disagree with the header');
    return lens;
  }
  const w = buf.length > 0 ? buf[0]! : 0;
  if (w < 1 || w > 32) throw corrupt(`bad document length width ${w}`);
  const packedEnd = 1 + Math.ceil((numDocs * w) / 8);
  if (packedEnd > buf.length) throw corrupt('document lengths are truncated');
  const m = 2 ** w - 1;
  const end = buf.length;
  let p = 1;
  let sh = 0;
  let q = packedEnd;
  let count = 0;
  let sum = 0;
  for (let i = 0; i < numDocs; i++) {
    let v: number;
    if (sh + w <= 8) {
      v = (buf[p]! >>> sh) & m;
      sh += w;
      if (sh === 8) {
        sh = 0;
        p++;
      }
    } else {
      v = 0;
      let got = 0;
      while (got < w) {
        const take = Math.min(8 - sh, w - got);
        v += ((buf[p]! >>> sh) & ((1 << take) - 1)) * 2 ** got;
        got += take;
        sh += take;
        if (sh === 8) {
          sh = 0;
          p++;
        }
      }
    }
    if (v === m) {
      const x = readVarint(buf, q, end);
      if (x < 0) throw corrupt('bad varint in document lengths');
      q = varintEnd;
      v += x;
      if (v > U32_MAX) throw corrupt('document length overflow');
    }
    lens[i] = v;
    if (v > 0) {
      count++;
      sum += v;
    }
  }
  if (sh > 0 && buf[p]! >>> sh !== 0) throw corrupt('document lengths have stray bits');
  if (q !== end) throw corrupt('document lengths have trailing bytes');
  if (count !== docCount || sum !== sumDocLen) throw corrupt('document lengths disagree with the header');
  return lens;
}

/** The version of a serialized field index (its header's u32 at 4; 0 when too short to have one). */
export function fieldIndexVersion(bytes: Uint8Array): number {
  return bytes.length < 8 ? 0 : new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
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

/** One dictionary entry: a term's postings (see FORMAT). */
interface TermEntry {
  df: number;
  /** Offset of the term's postings from the start of the postings blob. */
  off: number;
  docsLen: number;
  posLen: number;
}

/** The term dictionary of a field index: flat arrays (versions 1 and 2) or front-coded blocks (version 3). */
interface TermDict {
  /** Index of the term with these UTF-8 bytes, or -1. */
  find(key: Uint8Array): number;
  /** Index of the first term >= key (numTerms when none). */
  lowerBound(key: Uint8Array): number;
  startsWith(i: number, prefix: Uint8Array): boolean;
  termAt(i: number): string;
  entry(i: number, out: TermEntry): void;
  /** Checks the whole dictionary (terms strictly ascending, entries consistent); throws CORRUPT_SEGMENT. */
  verify(): void;
}

/** Versions 1 and 2: termOffsets, termMeta (u32 arrays) and the concatenated term bytes. */
class FlatDict implements TermDict {
  constructor(
    private readonly numTerms: number,
    private readonly termOffsets: Uint32Array,
    private readonly termMeta: Uint32Array,
    private readonly termBytes: Uint8Array,
  ) {}

  private term(i: number): Uint8Array {
    const s = this.termOffsets[i]!;
    const e = this.termOffsets[i + 1]!;
    if (!(i >= 0 && i < this.numTerms) || e < s || e > this.termBytes.length) throw corrupt(`bad offsets for term #${i}`);
    return this.termBytes.subarray(s, e);
  }

  find(key: Uint8Array): number {
    let lo = 0;
    let hi = this.numTerms - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareBytes(this.term(mid), key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  lowerBound(key: Uint8Array): number {
    let lo = 0;
    let hi = this.numTerms;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.term(mid), key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  startsWith(i: number, prefix: Uint8Array): boolean {
    return startsWithBytes(this.term(i), 0, this.term(i).length, prefix);
  }

  termAt(i: number): string {
    return decoder.decode(this.term(i));
  }

  entry(i: number, out: TermEntry): void {
    const m = this.termMeta;
    out.df = m[i * META_WORDS]!;
    out.off = m[i * META_WORDS + 1]!;
    out.docsLen = m[i * META_WORDS + 2]!;
    out.posLen = m[i * META_WORDS + 3]!;
  }

  verify(): void {
    for (let i = 0; i < this.numTerms; i++) {
      checkUtf8(this.term(i), i);
      if (i > 0 && compareBytes(this.term(i - 1), this.term(i)) >= 0) throw corrupt(`terms #${i - 1} and #${i} are not in ascending order`);
    }
  }
}

function startsWithBytes(buf: Uint8Array, s: number, e: number, prefix: Uint8Array): boolean {
  if (e - s < prefix.length) return false;
  for (let j = 0; j < prefix.length; j++) if (buf[s + j] !== prefix[j]) return false;
  return true;
}

/**
 * Version 3: blocks of B front-coded terms with their entries, and a block index (byte offset of each
 * block, postings offset of its first term). A lookup is a binary search over the blocks' first terms
 * (stored whole) and a scan of one block. One block is kept decoded: lookups, prefix walks and termAt
 * calls in dictionary order stay in it. Decoding a block checks it completely (lengths, ascending terms,
 * its entries sum to the next block's postings offset), so a damaged block throws, never misleads.
 */
class BlockDict implements TermDict {
  private readonly numBlocks: number;
  private cur = -1;
  private n = 0;
  private buf = new Uint8Array(256);
  private readonly starts: Uint32Array;
  private readonly dfs: Uint32Array;
  private readonly offs: Float64Array;
  private readonly docsLens: Uint32Array;
  private readonly posLens: Uint32Array;

  constructor(
    private readonly numTerms: number,
    private readonly B: number,
    private readonly dict: Uint8Array,
    private readonly index: Uint32Array,
    private readonly postingsLen: number,
    private readonly hasPositions: boolean,
  ) {
    this.numBlocks = Math.ceil(numTerms / B);
    this.starts = new Uint32Array(B + 1);
    this.dfs = new Uint32Array(B);
    this.offs = new Float64Array(B);
    this.docsLens = new Uint32Array(B);
    this.posLens = new Uint32Array(B);
  }

  private blockEnd(k: number): number {
    return k + 1 < this.numBlocks ? this.index[2 * (k + 1)]! : this.dict.length;
  }

  /** Block k's first term compared with key (negative: the term sorts first). */
  private compareFirst(k: number, key: Uint8Array): number {
    const d = this.dict;
    const s = this.index[2 * k]!;
    const end = this.blockEnd(k);
    if (!(s < end && end <= d.length)) throw corrupt(`bad offset of dictionary block #${k}`);
    if (readVarint(d, s, end) !== 0) throw corrupt(`bad first term in dictionary block #${k}`);
    const len = readVarint(d, varintEnd, end);
    const p = varintEnd;
    if (len < 0 || p + len > end) throw corrupt(`bad first term in dictionary block #${k}`);
    const n = Math.min(len, key.length);
    for (let i = 0; i < n; i++) {
      const c = d[p + i]! - key[i]!;
      if (c !== 0) return c;
    }
    return len - key.length;
  }

  /** The last block whose first term is <= key, or -1. */
  private blockOf(key: Uint8Array): number {
    let lo = 0;
    let hi = this.numBlocks - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareFirst(mid, key) <= 0) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  private load(k: number): void {
    if (k === this.cur) return;
    this.cur = -1; // until decoded completely
    if (!(k >= 0 && k < this.numBlocks)) throw corrupt(`dictionary block #${k} out of range`);
    const d = this.dict;
    const s = this.index[2 * k]!;
    const end = this.blockEnd(k);
    if (!(s <= end && end <= d.length)) throw corrupt(`bad offset of dictionary block #${k}`);
    const n = Math.min(this.B, this.numTerms - k * this.B);
    const { starts, dfs, offs, docsLens, posLens } = this;
    let p = s;
    let run = this.index[2 * k + 1]!;
    const bad = (what: string): never => {
      throw corrupt(`bad ${what} in dictionary block #${k}`);
    };
    // Varints with the one-byte case inline (almost every length, df and size in a block).
    const rv = (): number => {
      if (p < end) {
        const x = d[p]!;
        if (x < 0x80) {
          p++;
          return x;
        }
      }
      const v = readVarint(d, p, end);
      if (v < 0) bad('varint');
      p = varintEnd;
      return v;
    };
    starts[0] = 0;
    for (let j = 0; j < n; j++) {
      const pre = rv();
      if (j === 0 ? pre !== 0 : pre > starts[j]! - starts[j - 1]!) bad('shared prefix');
      const suf = rv();
      if (p + suf > end) bad('term length');
      const st = starts[j]!;
      if (st + pre + suf > this.buf.length) {
        const next = new Uint8Array(Math.max(this.buf.length * 2, st + pre + suf));
        next.set(this.buf.subarray(0, st));
        this.buf = next;
      }
      // Byte loops, not copyWithin/set: terms are short, and the native calls cost more than the copy.
      const buf = this.buf;
      const ps = j > 0 ? starts[j - 1]! : 0;
      for (let x = 0; x < pre; x++) buf[st + x] = buf[ps + x]!;
      const at = st + pre;
      for (let x = 0; x < suf; x++) buf[at + x] = d[p + x]!;
      p += suf;
      starts[j + 1] = at + suf;
      // Ascending: equal up to `pre`, so compare from there.
      if (j > 0 && compareRange(buf, ps + pre, st, buf, at, at + suf) >= 0) {
        throw corrupt(`terms #${k * this.B + j - 1} and #${k * this.B + j} are not in ascending order`);
      }
      const df = rv();
      const docsLen = rv();
      const posLen = this.hasPositions ? rv() : 0;
      dfs[j] = df;
      docsLens[j] = docsLen;
      posLens[j] = posLen;
      offs[j] = run;
      run += docsLen + posLen;
      if (run > this.postingsLen) bad('postings size');
    }
    if (p !== end) throw corrupt(`dictionary block #${k} has trailing bytes`);
    const next = k + 1 < this.numBlocks ? this.index[2 * k + 3]! : this.postingsLen;
    if (run !== next) throw corrupt(`postings sizes of dictionary block #${k} disagree with the block index`);
    this.n = n;
    this.cur = k;
  }

  /** Term j of the decoded block compared with key. */
  private compareIn(j: number, key: Uint8Array): number {
    return compareRange(this.buf, this.starts[j]!, this.starts[j + 1]!, key, 0, key.length);
  }

  find(key: Uint8Array): number {
    const k = this.blockOf(key);
    if (k < 0) return -1;
    this.load(k);
    for (let j = 0; j < this.n; j++) {
      const c = this.compareIn(j, key);
      if (c === 0) return k * this.B + j;
      if (c > 0) break;
    }
    return -1;
  }

  lowerBound(key: Uint8Array): number {
    const k = this.blockOf(key);
    if (k < 0) return 0;
    this.load(k);
    for (let j = 0; j < this.n; j++) if (this.compareIn(j, key) >= 0) return k * this.B + j;
    return Math.min(this.numTerms, (k + 1) * this.B);
  }

  /** Loads term i's block; returns i's index within it. */
  private at(i: number): number {
    if (!(i >= 0 && i < this.numTerms)) throw corrupt(`term #${i} out of range`);
    const k = Math.floor(i / this.B);
    this.load(k);
    return i - k * this.B;
  }

  startsWith(i: number, prefix: Uint8Array): boolean {
    const j = this.at(i);
    return startsWithBytes(this.buf, this.starts[j]!, this.starts[j + 1]!, prefix);
  }

  termAt(i: number): string {
    const j = this.at(i);
    return decoder.decode(this.buf.subarray(this.starts[j]!, this.starts[j + 1]!));
  }

  entry(i: number, out: TermEntry): void {
    const j = this.at(i);
    out.df = this.dfs[j]!;
    out.off = this.offs[j]!;
    out.docsLen = this.docsLens[j]!;
    out.posLen = this.posLens[j]!;
  }

  verify(): void {
    let last: Uint8Array | null = null;
    for (let k = 0; k < this.numBlocks; k++) {
      this.cur = -1;
      this.load(k);
      const first = this.buf.subarray(this.starts[0]!, this.starts[1]!);
      if (last !== null && compareBytes(last, first) >= 0) throw corrupt(`terms #${k * this.B - 1} and #${k * this.B} are not in ascending order`);
      for (let j = 0; j < this.n; j++) checkUtf8(this.buf.subarray(this.starts[j]!, this.starts[j + 1]!), k * this.B + j);
      last = this.buf.slice(this.starts[this.n - 1]!, this.starts[this.n]!);
    }
  }
}

export class FieldIndexReader {
  /** Ordinal count. */
  readonly numDocs: number;
  /** Documents with at least one token in this field. */
  readonly docCount: number;
  /** Total token count. */
  readonly sumDocLen: number;
  readonly numTerms: number;
  /**
   * Whether the index holds token positions (version 1, version 3 without the flag). Without them
   * `Postings.positions` and `positionData` throw: phrase matching then re-analyzes the candidates' stored
   * values.
   */
  readonly hasPositions: boolean;
  /** The field index version (1, 2 or 3; see FORMAT). */
  readonly version: number;

  private lens: Uint32Array | null;
  private readonly lensBytes: Uint8Array | null;
  private readonly dict: TermDict;
  private readonly entryScratch: TermEntry = { df: 0, off: 0, docsLen: 0, posLen: 0 };
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
      version: number;
      numDocs: number;
      docCount: number;
      sumDocLen: number;
      numTerms: number;
      /** Versions 1 and 2: the u32 array; version 3: null, decoded from lensBytes on first use. */
      docLens: Uint32Array | null;
      lensBytes: Uint8Array | null;
      dict: TermDict;
      hasPositions: boolean;
    },
  ) {
    this.version = f.version;
    this.hasPositions = f.hasPositions;
    this.numDocs = f.numDocs;
    this.docCount = f.docCount;
    this.sumDocLen = f.sumDocLen;
    this.numTerms = f.numTerms;
    this.lens = f.docLens;
    this.lensBytes = f.lensBytes;
    this.dict = f.dict;
  }

  /**
   * Token count per ordinal (0 = absent/empty). Do not modify. Version 3 decodes the packed lengths on
   * first use (one pass, checked against the header's docCount and sumDocLen).
   */
  get docLens(): Uint32Array {
    return this.lens ?? (this.lens = decodeDocLens(this.lensBytes!, this.numDocs, this.docCount, this.sumDocLen));
  }

  static open(src: ByteSource): FieldIndexReader {
    const size = src.length;
    if (size < HEADER_SIZE) throw corrupt(`${size} bytes is shorter than the ${HEADER_SIZE}-byte header`);
    const headLen = Math.min(size, HEADER_SIZE_V3);
    const head = src.read(0, headLen);
    const dv = new DataView(head.buffer, head.byteOffset, headLen);
    if (dv.getUint32(0, true) !== FIELD_INDEX_MAGIC) throw corrupt('bad magic');
    const version = dv.getUint32(4, true);
    if (version === FIELD_INDEX_VERSION_COMPACT) return FieldIndexReader.openCompact(src, dv);
    if (version !== FIELD_INDEX_VERSION && version !== FIELD_INDEX_VERSION_NO_POSITIONS) {
      throw corrupt(`unsupported version ${version} (expected ${FIELD_INDEX_VERSION}, ${FIELD_INDEX_VERSION_NO_POSITIONS} or ${FIELD_INDEX_VERSION_COMPACT})`);
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
      version,
      numDocs,
      docCount,
      sumDocLen,
      numTerms,
      docLens,
      lensBytes: null,
      dict: new FlatDict(numTerms, termOffsets, termMeta, termBytes),
      hasPositions,
    });
  }

  /** Version 3 (see FORMAT): O(1) checks, one read of the document lengths, block index and dictionary. */
  private static openCompact(src: ByteSource, dv: DataView): FieldIndexReader {
    const size = src.length;
    if (size < HEADER_SIZE_V3) throw corrupt(`${size} bytes is shorter than the ${HEADER_SIZE_V3}-byte header`);
    const numDocs = dv.getUint32(8, true);
    const docCount = dv.getUint32(12, true);
    const sumDocLen = dv.getFloat64(16, true);
    const numTerms = dv.getUint32(24, true);
    const flags = dv.getUint32(28, true);
    const lensLen = dv.getUint32(32, true);
    const dictLen = dv.getUint32(36, true);
    const postingsLen = dv.getUint32(40, true);
    const B = dv.getUint32(44, true);
    if (flags !== 0 && flags !== FLAG_NO_POSITIONS) throw corrupt(`bad flags ${flags} for version 3`);
    if (!(B >= 1 && B <= MAX_BLOCK_TERMS)) throw corrupt(`bad dictionary block size ${B}`);
    const numBlocks = Math.ceil(numTerms / B);
    const blockIndexOff = align4(HEADER_SIZE_V3 + lensLen);
    const dictOff = blockIndexOff + numBlocks * 8;
    const postingsOff = align4(dictOff + dictLen);
    if (postingsOff + postingsLen !== size) {
      throw corrupt(`header describes ${postingsOff + postingsLen} bytes but the source has ${size}`);
    }
    if (docCount > numDocs) throw corrupt(`docCount ${docCount} > numDocs ${numDocs}`);
    if (!Number.isSafeInteger(sumDocLen) || sumDocLen < 0) throw corrupt(`bad sumDocLen ${sumDocLen}`);
    if ((numTerms === 0) !== (dictLen === 0) || (numTerms === 0 && postingsLen !== 0)) throw corrupt('bad dictionary size');

    const body = src.read(HEADER_SIZE_V3, postingsOff - HEADER_SIZE_V3);
    const lensBytes = body.subarray(0, lensLen);
    // The packed lengths must be long enough for numDocs (so a damaged numDocs cannot make the decoder
    // allocate more than the source could describe).
    const w = lensLen > 0 ? lensBytes[0]! : 0;
    if (numDocs === 0 ? lensLen !== 0 : !(w >= 1 && w <= 32 && 1 + Math.ceil((numDocs * w) / 8) <= lensLen)) throw corrupt('bad document lengths size');
    const index = u32View(body, blockIndexOff - HEADER_SIZE_V3, numBlocks * 2);
    const dict = body.subarray(dictOff - HEADER_SIZE_V3, dictOff - HEADER_SIZE_V3 + dictLen);
    if (numBlocks > 0 && (index[0] !== 0 || index[1] !== 0)) throw corrupt('bad block index');
    // The padding after the document lengths and after the dictionary is zero (at most 3 bytes each).
    for (let o = HEADER_SIZE_V3 + lensLen; o < blockIndexOff; o++) if (body[o - HEADER_SIZE_V3] !== 0) throw corrupt('nonzero padding');
    for (let o = dictOff + dictLen; o < postingsOff; o++) if (body[o - HEADER_SIZE_V3] !== 0) throw corrupt('nonzero padding');
    const hasPositions = flags === 0;
    return new FieldIndexReader(src, postingsOff, postingsLen, {
      version: FIELD_INDEX_VERSION_COMPACT,
      numDocs,
      docCount,
      sumDocLen,
      numTerms,
      docLens: null,
      lensBytes,
      dict: new BlockDict(numTerms, B, dict, index, postingsLen, hasPositions),
      hasPositions,
    });
  }

  docLen(ord: number): number {
    return this.docLens[ord] ?? 0;
  }

  /**
   * Index of the first dictionary term >= `key` in UTF-8 byte order (numTerms when none): where a prefix's
   * terms start, since the dictionary is sorted (see `termAt`, `termStartsWith`).
   */
  lowerBound(key: string): number {
    return this.dict.lowerBound(encoder.encode(key));
  }

  /** Does dictionary term `i` start with the UTF-8 bytes `prefix`? */
  termStartsWith(i: number, prefix: Uint8Array): boolean {
    return this.dict.startsWith(i, prefix);
  }

  /** Dictionary term `i` (0 <= i < numTerms). */
  termAt(i: number): string {
    return this.dict.termAt(i);
  }

  /** Raw document frequency of a term in this source (dead documents included); 0 when absent. */
  docFreq(term: string): number {
    const i = this.dict.find(encoder.encode(term));
    if (i < 0) return 0;
    this.dict.entry(i, this.entryScratch);
    return this.entryScratch.df;
  }

  /**
   * Postings of a term, or null when the term does not occur. Decoded postings of common terms (df >=
   * CACHE_MIN_DF) are cached, up to CACHE_MAX terms, oldest out first.
   */
  postings(term: string): Postings | null {
    const hit = this.cache.get(term);
    if (hit !== undefined) return hit;
    const i = this.dict.find(encoder.encode(term));
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
    const e = this.entryScratch;
    this.dict.entry(i, e);
    const { df, off, docsLen, posLen } = e;
    const compact = this.version === FIELD_INDEX_VERSION_COMPACT;
    if (df === 0 || off + docsLen + posLen > this.postingsLen || docsLen < (compact ? 2 : 2 * df) || docsLen > 10 * df || df > this.numDocs) {
      throw corrupt(`bad dictionary entry for term #${i}`);
    }
    const buf = this.src.read(this.postingsBase + off, docsLen);
    const ords = new Uint32Array(df);
    const tfs = new Uint32Array(df);
    const totalTf = (compact ? decodePackedDocs : decodeVarintDocs)(buf, docsLen, df, ords, tfs, this.docLens, this.numDocs, i);
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
    for (let i = 0; i < this.numTerms; i++) yield this.dict.termAt(i);
  }

  /**
   * Full consistency check (for `health --deep`): document lengths agree with the header, the dictionary
   * is consistent and its terms strictly ascending, and every term's postings and positions decode.
   * Throws CORRUPT_SEGMENT. Reads all the postings; does not populate the postings cache.
   */
  verify(): void {
    if (this.lensBytes !== null) this.lens = null; // version 3: decode (and check) again
    const lens = this.docLens;
    let count = 0;
    let sum = 0;
    for (let i = 0; i < this.numDocs; i++) {
      const l = lens[i]!;
      if (l > 0) {
        count++;
        sum += l;
      }
    }
    if (count !== this.docCount || sum !== this.sumDocLen) throw corrupt('document lengths disagree with the header');
    this.dict.verify();
    for (let i = 0; i < this.numTerms; i++) {
      const p = this.decode(i);
      if (this.hasPositions) p.positionData();
    }
  }
}
