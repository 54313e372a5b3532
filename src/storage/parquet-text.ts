/**
 * Long text stored once (issue 11, format 6): a string attribute whose values are long (documentation pages,
 * articles) is not copied into the segment's index file as a `col:<name>` section; queries read it from the
 * segment's Parquet file, one row group's column chunk at a time, located by the index file's
 * `txt:<name>` section. Its bytes are then stored once, compressed, where any Parquet reader finds them.
 *
 * Why per row group: parquet-wasm has one data-page size limit for every column, and the vector column must
 * keep one data page per row group (vector-locator.ts), so a text column also has one data page per row
 * group. The writer sizes a segment's row groups so that the stored-once text of one row group is about
 * TEXT_GROUP_CHARS (see `storedOnceLayout`), which bounds what printing one document decompresses.
 *
 * Column chunk of a stored-once attribute (what parquet.ts writes and `decodeTextChunk` reads, and nothing
 * else): no dictionary page; data pages of version 1 (PageHeader type DATA_PAGE), GZIP (RFC 1952, as the
 * Parquet spec defines its GZIP codec; Node's zlib inflates it natively, so a query loads no decompressor),
 * PLAIN values (u32 LE length + UTF-8 bytes for each non-null value), definition levels RLE/bit-packed hybrid
 * of bit width 1 behind a u32 LE byte length (the column is optional: level 1 = a value, 0 = null). See the
 * Parquet format spec (https://github.com/apache/parquet-format, Encodings.md and the Thrift definitions).
 *
 * Section `txt:<name>` (little-endian u32 words):
 *   magic 0x31545854 ("TXT1") | docCount | rowsPerGroup | groupCount | codec (Parquet codec number)
 *   | valueBytesLo | valueBytesHi   (UTF-8 bytes of all the values: what decoding them all holds, which
 *                                   compaction's byte bound counts, see store/compact.ts mergeBytesOf)
 *   per row group g: offsetLo | offsetHi | length   (the byte range of the column chunk in the Parquet file)
 * Row group g holds ordinals [g * rowsPerGroup, min(docCount, (g + 1) * rowsPerGroup)).
 *
 * Integrity: the chunk is read through the Parquet file's block checksums (the index file's `parquet-crc`
 * section) before a byte of it is decoded; a malformed chunk or locator is CORRUPT_SEGMENT, never a wrong value.
 */
import { gunzipSync } from 'node:zlib';
import { ElacsymError } from '../errors.js';
import type { Doc, Schema } from '../model/types.js';
import { type DocSurvey, SurveyBuilder } from './doc-source.js';
import { ThriftReader } from './thrift.js';

const MAGIC = 0x31545854;
const HEADER_WORDS = 7;
const GROUP_WORDS = 3;

/** Parquet codec numbers (parquet.thrift CompressionCodec) this module writes and reads. */
export const CODEC_UNCOMPRESSED = 0;
export const CODEC_GZIP = 2;

/**
 * A string attribute is stored once when its non-null values in the segment average at least this many
 * UTF-16 code units. Below, its `col:` section (a dictionary of the values, uncompressed) costs little
 * and serves filters and printing without decompression.
 */
export const STORED_ONCE_MIN_CHARS = 512;

/**
 * The same for a full-text field (prose that is searched, rarely filtered by value): from this average on,
 * its values are mostly distinct, so a `col:` dictionary is a second, uncompressed copy of the text (the
 * bench's 100k glosses average ~57 characters: 5.7 MB, 57 bytes a document). Short full-text values
 * (titles of a few words) keep theirs.
 */
export const STORED_ONCE_MIN_CHARS_FULL_TEXT = 32;

/**
 * Target characters of stored-once text per row group (what printing one document may decompress). 64 Ki,
 * not 128 Ki: a cold query printing 10 results of the bench's 100k inflates 10 chunks, 196 -> 189 ms
 * (docs/performance.md, session 22); the footer pays for the row groups (+1 byte a document there).
 */
export const TEXT_GROUP_CHARS = 64 * 1024;

/**
 * Fewest rows per row group of a segment with stored-once text. A row group costs ~1.9 KB of Parquet
 * footer and locators (7 columns), so on long pages (8,000 characters: 8 rows to 64 Ki) fewer rows cost
 * more disk than their smaller chunks save time: 778 documentation pages took 3.95 MB in groups of 8 rows,
 * 3.86 MB in groups of 16 (the target is 4.0 MB).
 */
export const TEXT_GROUP_MIN_ROWS = 16;

/** Largest single output buffer a page's inflation starts with (a larger page grows by chunks). */
const GUNZIP_CHUNK_MAX = 16 * 1024 * 1024;


/**
 * Which string attributes of `docs` are stored once, and the row-group size that gives their text about
 * TEXT_GROUP_CHARS per row group (never more rows than `maxRows`, the segment's usual row-group size).
 * An attribute qualifies when the schema types it `string`, every value of it in the segment is a
 * well-formed string or null/absent, and the values average STORED_ONCE_MIN_CHARS or more
 * (STORED_ONCE_MIN_CHARS_FULL_TEXT for a full-text field).
 */
export function storedOnceLayout(docs: readonly Doc[], schema: Schema, maxRows: number): { names: Set<string>; rowsPerGroup: number } {
  const b = new SurveyBuilder(0, docs.length);
  b.add(docs);
  return storedOnceLayoutOf(b.finish(), schema, maxRows);
}

/** storedOnceLayout from a survey of the segment's documents (doc-source.ts). */
export function storedOnceLayoutOf(survey: DocSurvey, schema: Schema, maxRows: number): { names: Set<string>; rowsPerGroup: number } {
  const names = new Set<string>();
  const byName = new Map(survey.attributes.map((a) => [a.name, a]));
  let charsPerDoc = 0;
  for (const [name, def] of Object.entries(schema.attributes)) {
    if (def.type !== 'string') continue;
    const a = byName.get(name);
    // A string without a UTF-8 form keeps the attribute in its `col:` section (kept exactly there).
    if (!a || !a.onlyStrings || a.values === 0) continue;
    const count = a.values;
    const chars = a.chars;
    if (chars / count < (def.full_text ? STORED_ONCE_MIN_CHARS_FULL_TEXT : STORED_ONCE_MIN_CHARS)) continue;
    names.add(name);
    charsPerDoc += chars / survey.count;
  }
  if (names.size === 0) return { names, rowsPerGroup: maxRows };
  const rows = Math.max(TEXT_GROUP_MIN_ROWS, Math.floor(TEXT_GROUP_CHARS / Math.max(1, charsPerDoc)));
  return { names, rowsPerGroup: Math.min(maxRows, rows) };
}

export interface TextChunk {
  offset: number;
  length: number;
}

/** Encode a `txt:` section: `groups[g]` is row group g's column chunk of the attribute. */
export function encodeTextLocator(docCount: number, rowsPerGroup: number, codec: number, groups: readonly TextChunk[], valueBytes: number): Uint8Array {
  if (!(rowsPerGroup > 0) || groups.length !== Math.ceil(docCount / rowsPerGroup)) {
    throw new ElacsymError('INTERNAL', `text locator: ${groups.length} row groups for ${docCount} rows of ${rowsPerGroup}`);
  }
  const words = new Uint32Array(HEADER_WORDS + groups.length * GROUP_WORDS);
  words.set([MAGIC, docCount, rowsPerGroup, groups.length, codec, valueBytes % 2 ** 32, Math.floor(valueBytes / 2 ** 32)]);
  groups.forEach(({ offset, length }, g) => {
    if (!Number.isSafeInteger(offset) || offset < 0 || !(length >= 0 && length < 2 ** 32)) throw new ElacsymError('INTERNAL', `text locator: bad chunk ${offset}+${length}`);
    const at = HEADER_WORDS + g * GROUP_WORDS;
    words[at] = offset % 2 ** 32;
    words[at + 1] = Math.floor(offset / 2 ** 32);
    words[at + 2] = length;
  });
  return new Uint8Array(words.buffer);
}

/** A `txt:` section, opened. Never touches the Parquet file itself. */
export class TextLocator {
  private constructor(
    private readonly words: Uint32Array,
    readonly docCount: number,
    readonly rowsPerGroup: number,
    readonly groupCount: number,
    readonly codec: number,
    /** UTF-8 bytes of all the values. */
    readonly valueBytes: number,
  ) {}

  /** Checked against the segment's document count: any mismatch is CORRUPT_SEGMENT. */
  static open(bytes: Uint8Array, docCount: number, what: string): TextLocator {
    const bad = (m: string): never => {
      throw new ElacsymError('CORRUPT_SEGMENT', `${what}: text locator ${m}`);
    };
    if (bytes.byteLength % 4 !== 0 || bytes.byteLength < HEADER_WORDS * 4) bad(`of ${bytes.byteLength} bytes`);
    const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint32Array(bytes.slice().buffer);
    if (words[0] !== MAGIC) bad('has a bad magic number');
    if (words[1] !== docCount) bad(`made for ${words[1]} documents, the segment has ${docCount}`);
    const R = words[2]!;
    const groups = words[3]!;
    if (R === 0 || groups !== Math.ceil(docCount / R)) bad('row group count does not match the document count');
    if (words.length !== HEADER_WORDS + groups * GROUP_WORDS) bad('length does not match its header');
    const codec = words[4]!;
    if (codec !== CODEC_GZIP && codec !== CODEC_UNCOMPRESSED) bad(`names codec ${codec}`);
    return new TextLocator(words, docCount, R, groups, codec, words[5]! + words[6]! * 2 ** 32);
  }

  /** Row group g: its first ordinal, row count and column chunk's byte range. */
  group(g: number): { first: number; rows: number; offset: number; length: number } {
    const at = HEADER_WORDS + g * GROUP_WORDS;
    const first = g * this.rowsPerGroup;
    return {
      first,
      rows: Math.min(this.rowsPerGroup, this.docCount - first),
      offset: this.words[at]! + this.words[at + 1]! * 2 ** 32,
      length: this.words[at + 2]!,
    };
  }
}

// ignoreBOM: a value may begin with U+FEFF; the decoder must keep it, not take it for a byte-order mark.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The values of one stored-once column chunk (`rows` rows: strings, null for a null), decoded from its
 * bytes as described at the top of this file. Anything else (a dictionary page, another page type or
 * encoding, sizes that disagree, a value count other than `rows`) throws CORRUPT_SEGMENT naming `what`.
 */
export function decodeTextChunk(chunk: Uint8Array, rows: number, codec: number, what: string): (string | null)[] {
  const values = openTextChunk(chunk, rows, codec, what);
  const out: (string | null)[] = new Array<string | null>(rows);
  for (let i = 0; i < rows; i++) out[i] = values.get(i);
  return out;
}

/** A decompressed column chunk whose values are decoded from UTF-8 one at a time, when asked for. */
export interface TextChunkValues {
  readonly rows: number;
  /** Decompressed bytes held (what a cache of chunks counts). */
  readonly bytes: number;
  get(i: number): string | null;
}

/**
 * `decodeTextChunk`, lazily: every page is decompressed and its structure checked (levels, value lengths,
 * sizes) now; each value's UTF-8 is decoded by `get` (printing one result of a row group decodes one value,
 * not the row group's). Same errors, at open or at `get` (a value that is not UTF-8).
 */
export function openTextChunk(chunk: Uint8Array, rows: number, codec: number, what: string): TextChunkValues {
  const bad = (m: string, cause?: unknown): never => {
    throw new ElacsymError('CORRUPT_SEGMENT', `${what}: ${m}`, cause === undefined ? {} : { cause });
  };
  // Value i: bytes [start[i], end[i]) of pages[page[i]], or null when page[i] is -1.
  const pageOf = new Int32Array(rows);
  const start = new Uint32Array(rows);
  const end = new Uint32Array(rows);
  const pages: Uint8Array[] = [];
  let held = 0;
  let row = 0;
  let at = 0;
  while (row < rows) {
    if (at >= chunk.length) bad(`the column chunk ends after ${row} of ${rows} values`);
    let header: Map<number, unknown>;
    const r = new ThriftReader(chunk.subarray(at));
    try {
      header = r.struct();
    } catch (e) {
      return bad('unreadable page header', e);
    }
    at += r.position;
    const type = header.get(1);
    const size = header.get(2);
    const csize = header.get(3);
    const dph = header.get(5);
    if (type !== 0 || !(dph instanceof Map)) bad(`page of type ${String(type)}, not a version 1 data page`);
    if (typeof size !== 'number' || typeof csize !== 'number' || size < 0 || csize < 0 || at + csize > chunk.length) bad('page sizes out of range');
    const d = dph as Map<number, unknown>;
    const numValues = d.get(1);
    if (typeof numValues !== 'number' || numValues < 0 || row + numValues > rows) bad(`page of ${String(numValues)} values`);
    if (d.get(2) !== 0 || d.get(3) !== 3) bad('page encoding is not PLAIN with RLE levels');
    const body = chunk.subarray(at, at + (csize as number));
    at += csize as number;
    let page: Uint8Array;
    if (codec === CODEC_UNCOMPRESSED) page = body;
    else {
      try {
        // Into one buffer of the size the header states, plus one byte so that zlib ends with room to
        // spare and hands it back whole: the default 16 KiB chunks and their concatenation touched twice
        // the page's memory, ~0.4 ms of a printed result's 1.4 ms on a cold query (a size that lies only
        // costs more chunks; the length is checked below).
        page = gunzipSync(body, { chunkSize: Math.min(Math.max((size as number) + 1, 64), GUNZIP_CHUNK_MAX) });
      } catch (e) {
        return bad('page does not decompress', e);
      }
    }
    if (page.length !== size || page.length < 4) bad(`page of ${page.length} bytes, its header says ${String(size)}`);
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const levelBytes = view.getUint32(0, true);
    if (4 + levelBytes > page.length) bad('definition levels past the page');
    const defined = decodeLevels(page.subarray(4, 4 + levelBytes), numValues as number, bad);
    const p0 = pages.length;
    pages.push(page);
    held += page.length;
    let p = 4 + levelBytes;
    for (let i = 0; i < (numValues as number); i++) {
      if (defined[i] === 0) {
        pageOf[row++] = -1;
        continue;
      }
      if (p + 4 > page.length) bad('a value past the page');
      const len = view.getUint32(p, true);
      if (p + 4 + len > page.length) bad('a value past the page');
      pageOf[row] = p0;
      start[row] = p + 4;
      end[row++] = p + 4 + len;
      p += 4 + len;
    }
    if (p !== page.length) bad('bytes after the last value of a page');
  }
  if (at !== chunk.length) bad('bytes after the last page of the column chunk');
  return {
    rows,
    bytes: held,
    get(i: number): string | null {
      const pg = pageOf[i]!;
      if (pg < 0) return null;
      try {
        return utf8.decode(pages[pg]!.subarray(start[i]!, end[i]!));
      } catch (e) {
        return bad('a value is not UTF-8', e);
      }
    },
  };
}

/** RLE/bit-packed hybrid levels of bit width 1 (Parquet Encodings.md): n values of 0 or 1. */
function decodeLevels(b: Uint8Array, n: number, bad: (m: string) => never): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  let i = 0;
  while (i < n) {
    let h = 0;
    let mul = 1;
    for (;;) {
      if (at >= b.length) bad('definition levels truncated');
      const x = b[at++]!;
      h += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) break;
      mul *= 128;
      if (mul > 2 ** 35) bad('definition levels malformed');
    }
    if (h % 2 === 1) {
      // Bit-packed: (h >> 1) groups of 8 values, one byte per group at width 1, least significant bit first.
      const groups = Math.floor(h / 2);
      if (at + groups > b.length) bad('definition levels truncated');
      for (let g = 0; g < groups; g++) {
        const byte = b[at++]!;
        for (let k = 0; k < 8 && i < n; k++) out[i++] = (byte >> k) & 1;
      }
    } else {
      const count = h / 2;
      if (at >= b.length) bad('definition levels truncated');
      const v = b[at++]!;
      if (v > 1) bad('a definition level above 1');
      if (count === 0 || i + count > n) bad('definition levels malformed');
      out.fill(v, i, i + count);
      i += count;
    }
  }
  return out;
}
