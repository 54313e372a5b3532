/**
 * Where each document's vector lies in its segment's Parquet file (layout 2, see parquet.ts), so that a
 * query can read one vector by byte range without decoding the file.
 *
 * Why this works: the vector column is written UNCOMPRESSED, PLAIN, without dictionary, one data page per
 * row group. A Parquet data page is header, repetition levels, definition levels, then the PLAIN values
 * of the non-null rows back to back; so inside one row group the k-th present vector starts at
 * `firstValueOffset + k * dim * 4`. The writer verifies every located vector against the bytes it wrote
 * before it returns a locator (parquet.ts), so a locator is never wrong about a file it was made with.
 *
 * Encoding (little-endian u32 words; 4-byte aligned throughout):
 *   magic 0x4c564531 ("1EVL") | docCount | dim | rowsPerGroup | groupCount
 *   per row group g: firstOrdinal | presentBefore (vectors in groups < g) | offsetLo | offsetHi
 *   presence bitmap: ceil(docCount / 32) words, bit (ord & 31) of word (ord >> 5) = ordinal has a vector
 *   rank directory: one word per block of 8 bitmap words (256 ordinals): vectors before the block
 * offsetOf(ord) = group offset + (rank(ord) - presentBefore) * dim * 4, with rank(ord) = directory entry +
 * at most 8 popcounts: O(1). Overhead: 16 bytes per row group + ~1.13 bits per document.
 */
import { ElacsymError } from '../errors.js';

const MAGIC = 0x4c564531;
const HEADER_WORDS = 5;
const GROUP_WORDS = 4;
const BLOCK_WORDS = 8; // bitmap words per rank-directory entry

export interface VectorRowGroup {
  /** Ordinal of the row group's first row. */
  firstOrdinal: number;
  /** Byte offset in the Parquet file of the row group's first non-null vector value (any value when it has none). */
  offset: number;
}

/**
 * Encode a locator. `present[ord]` says whether ordinal `ord` has a vector; row groups must all hold
 * `rowsPerGroup` rows except the last (the writer's fixed row-group size), which is what makes the row group
 * of an ordinal a division.
 */
export function encodeVectorLocator(docCount: number, dim: number, rowsPerGroup: number, groups: readonly VectorRowGroup[], present: (ord: number) => boolean): Uint8Array {
  if (!(dim > 0) || !(rowsPerGroup > 0)) throw new ElacsymError('INTERNAL', `vector locator: bad dim ${dim} or rows per group ${rowsPerGroup}`);
  const expectGroups = Math.ceil(docCount / rowsPerGroup);
  if (groups.length !== expectGroups) throw new ElacsymError('INTERNAL', `vector locator: ${groups.length} row groups for ${docCount} rows of ${rowsPerGroup}`);
  const bitmapWords = Math.ceil(docCount / 32);
  const blocks = Math.ceil(bitmapWords / BLOCK_WORDS);
  const words = new Uint32Array(HEADER_WORDS + groups.length * GROUP_WORDS + bitmapWords + blocks);
  words.set([MAGIC, docCount, dim, rowsPerGroup, groups.length]);
  const bitmapAt = HEADER_WORDS + groups.length * GROUP_WORDS;
  const dirAt = bitmapAt + bitmapWords;
  let count = 0;
  for (let w = 0; w < bitmapWords; w++) {
    if (w % BLOCK_WORDS === 0) words[dirAt + w / BLOCK_WORDS] = count;
    let bits = 0;
    for (let b = 0; b < 32; b++) {
      const ord = w * 32 + b;
      if (ord < docCount && present(ord)) bits |= 1 << b;
    }
    words[bitmapAt + w] = bits >>> 0;
    count += popcount(bits);
  }
  let before = 0;
  for (let g = 0; g < groups.length; g++) {
    const { firstOrdinal, offset } = groups[g]!;
    if (firstOrdinal !== g * rowsPerGroup) throw new ElacsymError('INTERNAL', `vector locator: row group ${g} starts at ${firstOrdinal}, not ${g * rowsPerGroup}`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ElacsymError('INTERNAL', `vector locator: bad offset ${offset}`);
    const at = HEADER_WORDS + g * GROUP_WORDS;
    words[at] = firstOrdinal;
    words[at + 1] = before;
    words[at + 2] = offset % 2 ** 32;
    words[at + 3] = Math.floor(offset / 2 ** 32);
    const end = Math.min(docCount, firstOrdinal + rowsPerGroup);
    for (let o = firstOrdinal; o < end; o++) if (present(o)) before++;
  }
  return new Uint8Array(words.buffer);
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) as number;
}

function corrupt(msg: string): never {
  throw new ElacsymError('CORRUPT_SEGMENT', `vector locator: ${msg}`);
}

/** Reads a locator made by encodeVectorLocator. Never touches the Parquet file itself. */
export class VectorLocator {
  private constructor(
    private readonly words: Uint32Array,
    readonly docCount: number,
    readonly dim: number,
    private readonly rowsPerGroup: number,
    private readonly groupCount: number,
    private readonly bitmapAt: number,
    private readonly dirAt: number,
  ) {}

  /**
   * Open a locator, checking it against what the caller knows of the segment (its document count and the
   * namespace's dimension): a mismatch or a malformed structure is CORRUPT_SEGMENT, never a wrong offset.
   */
  static open(bytes: Uint8Array, docCount: number, dim: number): VectorLocator {
    if (bytes.byteLength % 4 !== 0 || bytes.byteLength < HEADER_WORDS * 4) corrupt(`size ${bytes.byteLength} is not a locator`);
    const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint32Array(bytes.slice().buffer);
    if (words[0] !== MAGIC) corrupt('bad magic number');
    if (words[1] !== docCount || words[2] !== dim) corrupt(`made for ${words[1]} documents of dim ${words[2]}, the segment has ${docCount} of dim ${dim}`);
    const rowsPerGroup = words[3]!;
    const groupCount = words[4]!;
    if (rowsPerGroup === 0 || groupCount !== Math.ceil(docCount / rowsPerGroup)) corrupt('row group count does not match the document count');
    const bitmapWords = Math.ceil(docCount / 32);
    const bitmapAt = HEADER_WORDS + groupCount * GROUP_WORDS;
    const dirAt = bitmapAt + bitmapWords;
    if (words.length !== dirAt + Math.ceil(bitmapWords / BLOCK_WORDS)) corrupt('length does not match its header');
    return new VectorLocator(words, docCount, dim, rowsPerGroup, groupCount, bitmapAt, dirAt);
  }

  /** Vectors at ordinals below `ord`. */
  private rank(ord: number): number {
    const w = ord >>> 5;
    const block = (w / BLOCK_WORDS) | 0;
    let r = this.words[this.dirAt + block]!;
    for (let i = block * BLOCK_WORDS; i < w; i++) r += popcount(this.words[this.bitmapAt + i]!);
    const bit = ord & 31;
    if (bit > 0) r += popcount(this.words[this.bitmapAt + w]! & ((1 << bit) - 1) >>> 0);
    return r;
  }

  has(ord: number): boolean {
    if (!(ord >= 0 && ord < this.docCount)) return false;
    return ((this.words[this.bitmapAt + (ord >>> 5)]! >>> (ord & 31)) & 1) === 1;
  }

  /** Byte offset in the Parquet file of ordinal `ord`'s vector (dim float32 LE), or -1 when it has none. */
  offsetOf(ord: number): number {
    if (!Number.isInteger(ord) || !this.has(ord)) return -1;
    const g = Math.floor(ord / this.rowsPerGroup);
    if (g >= this.groupCount) return -1;
    const at = HEADER_WORDS + g * GROUP_WORDS;
    const base = this.words[at + 2]! + this.words[at + 3]! * 2 ** 32;
    return base + (this.rank(ord) - this.words[at + 1]!) * this.dim * 4;
  }
}
