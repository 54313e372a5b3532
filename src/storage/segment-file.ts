/**
 * A segment's index file (`seg-NNNNNNNN.idx`): named sections, each with its own CRC-32, so a query reads
 * the header and then only the byte ranges it needs.
 *
 * Version 2 (written since the block checksums; version 1 files are still read, see below):
 *   u32 magic "ESG1" | u32 format version | u32 section count | u32 header bytes (incl. these 16)
 *   per section: u32 name bytes | name (UTF-8, zero-padded to 4) | f64 offset | f64 length | u32 crc32 | u32 0
 *   u32 block size (bytes) | u32 crc32 of every header byte before this field, then zero padding to 8
 *   sections, each starting on an 8-byte boundary
 *
 * Every data section X also has a section `crc:X`: the CRC-32 of each `block size` slice of X (the last
 * one shorter), u32 each. A reader that reads by range (an index file too large to read whole) verifies
 * each block it touches before any byte of it is used, so a flipped byte fails the query with
 * CORRUPT_SEGMENT instead of yielding a wrong id, attribute, vector or posting. The header carries its own
 * CRC, so section names, offsets and checksums are themselves verified. A file read whole is verified
 * once against the manifest's CRC-32 of the file and needs neither.
 *
 * Version 1 has no header CRC and no block tables: a reader verifies such a file whole (streaming,
 * against the manifest's CRC) before reading any of it by range. Compaction rewrites it as version 2.
 *
 * Sections written by store/segment-builder.ts:
 *   ids            u32 n | u32 offsets[n+1] | UTF-8 id keys           (ordinal -> id)
 *   attrs          each document's attribute keys, in order           (index/filter/columns.ts)
 *   col:<name>     the attribute's typed column: each value once      (index/filter/columns.ts)
 *   vectors        u8 hasVector[n] padded to 4 | f32 [n*dim]          (original vectors, ordinal order)
 *   docs           older files (and values of mixed kinds) instead of attrs: u32 n | u32 offsets[n+1] |
 *                  UTF-8 attribute JSON; their col:<name> sections are JSON arrays of the values
 *   ft:<name>      full-text field index (index/fulltext/postings.ts)
 *   ivf            vector index (index/vector/ivf.ts)
 *   crc:<section>  block checksums of each of the above (version 2)
 */
import { ElacsymError } from '../errors.js';
import type { ByteSource } from '../util/bytes.js';
import { crc32 } from '../util/crc32.js';

const MAGIC = 0x31475345; // "ESG1" little-endian
/** The version written; readers accept 1 and 2. */
export const SEGMENT_FILE_VERSION = 2;
/**
 * Block size of the version 2 block checksums. Small enough that a cold query reading one id or one
 * vector reads little more than it needs (4 KiB measured cheaper than 16 KiB on cold filtered queries,
 * which read many scattered vectors); the tables are 1/1024 of the file.
 */
export const SEGMENT_BLOCK_BYTES = 4 * 1024;
const CRC_PREFIX = 'crc:';
const enc = new TextEncoder();
// ignoreBOM: stored strings may begin with U+FEFF, which is data here, not a byte-order mark to drop.
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const pad = (n: number, a: number) => Math.ceil(n / a) * a;

export interface SectionInfo {
  name: string;
  offset: number;
  length: number;
  crc32: number;
}

/** CRC-32 of each `blockBytes` slice of `bytes` (the last one may be shorter), as u32 little-endian. */
export function blockChecksums(bytes: Uint8Array, blockBytes = SEGMENT_BLOCK_BYTES): Uint8Array {
  const b = new BlockChecksums(blockBytes);
  b.update(bytes);
  return b.finish();
}

/** blockChecksums computed while a file is written: `update` with its bytes in order, then `finish`. */
export class BlockChecksums {
  private readonly sums: number[] = [];
  private crc = 0;
  private filled = 0; // bytes of the current block seen so far
  constructor(private readonly blockBytes = SEGMENT_BLOCK_BYTES) {}

  update(c: Uint8Array): void {
    let at = 0;
    while (at < c.length) {
      const take = Math.min(this.blockBytes - this.filled, c.length - at);
      this.crc = crc32(c.subarray(at, at + take), this.crc);
      at += take;
      this.filled += take;
      if (this.filled === this.blockBytes) {
        this.sums.push(this.crc);
        this.crc = 0;
        this.filled = 0;
      }
    }
  }

  finish(): Uint8Array {
    const n = this.sums.length + (this.filled > 0 ? 1 : 0);
    const out = new Uint8Array(4 * n);
    const dv = new DataView(out.buffer);
    this.sums.forEach((s, i) => dv.setUint32(4 * i, s, true));
    if (this.filled > 0) dv.setUint32(4 * this.sums.length, this.crc, true);
    return out;
  }
}

/** Lay out sections into the chunks of one file (header first), each with its block checksum table. */
export function buildSegmentFile(data: ReadonlyArray<{ name: string; bytes: Uint8Array }>): Uint8Array[] {
  const sections = [...data];
  for (const s of data) sections.push({ name: CRC_PREFIX + s.name, bytes: blockChecksums(s.bytes) });
  const names = sections.map((s) => enc.encode(s.name));
  let headerLen = 16;
  for (const n of names) headerLen += 4 + pad(n.length, 4) + 24;
  const crcAt = headerLen + 4;
  headerLen = pad(headerLen + 8, 8);
  const header = new Uint8Array(headerLen);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, SEGMENT_FILE_VERSION, true);
  dv.setUint32(8, sections.length, true);
  dv.setUint32(12, headerLen, true);
  const chunks: Uint8Array[] = [header];
  let at = 16;
  let offset = headerLen;
  sections.forEach((s, i) => {
    const name = names[i]!;
    dv.setUint32(at, name.length, true);
    header.set(name, at + 4);
    at += 4 + pad(name.length, 4);
    dv.setFloat64(at, offset, true);
    dv.setFloat64(at + 8, s.bytes.length, true);
    dv.setUint32(at + 16, crc32(s.bytes), true);
    at += 24;
    chunks.push(s.bytes);
    const padded = pad(s.bytes.length, 8);
    if (padded > s.bytes.length) chunks.push(new Uint8Array(padded - s.bytes.length));
    offset += padded;
  });
  dv.setUint32(at, SEGMENT_BLOCK_BYTES, true);
  dv.setUint32(crcAt, crc32(header.subarray(0, crcAt)), true);
  return chunks;
}

export interface SegmentFileOpenOptions {
  /**
   * The caller verified every byte of `src` already (a file read whole and checked against the manifest's
   * CRC-32): sections are served as they are. Otherwise sections are served through block verification
   * (version 2), and a version 1 file is refused (the caller must verify it whole first).
   */
  verified: boolean;
}

/**
 * Names elacsym writes in `segments/`: segment files and their temp files (`<name>.tmp-<pid>`, see
 * util/fs.ts). Garbage collection and health touch nothing else found there.
 */
const SEGMENT_FILE_RE = /^seg-(\d+)\.(?:parquet|idx)(?:\.tmp-(\d+))?$/;
export function isSegmentFileName(name: string): boolean {
  return SEGMENT_FILE_RE.test(name);
}
/** The segment id and, for a temp file, the writer's pid; null for names elacsym does not write. */
export function parseSegmentFileName(name: string): { id: number; tmpPid: number | null } | null {
  const m = SEGMENT_FILE_RE.exec(name);
  return m ? { id: Number(m[1]), tmpPid: m[2] === undefined ? null : Number(m[2]) } : null;
}

export class SegmentFile {
  private readonly blockTables = new Map<string, Uint32Array>();
  private constructor(
    readonly path: string,
    private readonly src: ByteSource,
    readonly sections: ReadonlyMap<string, SectionInfo>,
    readonly version: number,
    private readonly blockBytes: number,
    private readonly verified: boolean,
  ) {}

  /** Whether sections can be verified block by block (version 2); a version 1 file can only be verified whole. */
  static hasBlockChecksums(src: ByteSource): boolean {
    if (src.length < 16) return false;
    const v = src.read(4, 4);
    return new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true) >= 2;
  }

  static open(src: ByteSource, path: string, opts: SegmentFileOpenOptions = { verified: true }): SegmentFile {
    const corrupt = (why: string): never => {
      throw new ElacsymError('CORRUPT_SEGMENT', `${path}: ${why}`, { details: { path } });
    };
    if (src.length < 16) corrupt('file too short for a segment header');
    const head = src.read(0, 16);
    const dv0 = new DataView(head.buffer, head.byteOffset, 16);
    if (dv0.getUint32(0, true) !== MAGIC) corrupt('not an elacsym segment index file (bad magic)');
    const version = dv0.getUint32(4, true);
    if (version !== 1 && version !== 2) corrupt(`unsupported segment file version ${version}`);
    if (version === 1 && !opts.verified) corrupt('a version 1 file has no block checksums and must be verified whole before it is read by range');
    const count = dv0.getUint32(8, true);
    const headerLen = dv0.getUint32(12, true);
    if (headerLen < 16 || headerLen > src.length || count > 100_000) corrupt('segment header out of bounds');
    const header = src.read(0, headerLen);
    const dv = new DataView(header.buffer, header.byteOffset, headerLen);
    // Version 2: the header's own CRC sits after the entries, so find the end of the entries first
    // (bounds-checked) and verify before trusting any name, offset or checksum in it.
    let end = 16;
    for (let i = 0; i < count; i++) {
      if (end + 4 > headerLen) corrupt('segment header truncated');
      end += 4 + pad(dv.getUint32(end, true), 4) + 24;
      if (end > headerLen) corrupt('segment header truncated');
    }
    let blockBytes = 0;
    if (version >= 2) {
      if (end + 8 > headerLen) corrupt('segment header truncated');
      blockBytes = dv.getUint32(end, true);
      if (crc32(header.subarray(0, end + 4)) !== dv.getUint32(end + 4, true)) corrupt('segment header fails its CRC-32 check');
      if (blockBytes < 64 || blockBytes % 8 !== 0) corrupt(`bad block size ${blockBytes}`);
    }
    const sections = new Map<string, SectionInfo>();
    let at = 16;
    for (let i = 0; i < count; i++) {
      const nameLen = dv.getUint32(at, true);
      let name: string;
      try {
        name = dec.decode(header.subarray(at + 4, at + 4 + nameLen));
      } catch {
        return corrupt('section name is not UTF-8');
      }
      at += 4 + pad(nameLen, 4);
      const offset = dv.getFloat64(at, true);
      const length = dv.getFloat64(at + 8, true);
      const c = dv.getUint32(at + 16, true);
      at += 24;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < headerLen || offset + length > src.length) {
        corrupt(`section ${name} lies outside the file`);
      }
      sections.set(name, { name, offset, length, crc32: c });
    }
    return new SegmentFile(path, src, sections, version, blockBytes, opts.verified);
  }

  has(name: string): boolean {
    return this.sections.has(name);
  }

  /**
   * Positional access to a section, for structures that read only what they need. Every byte it returns
   * is verified: by the whole-file check of a verified file, else block by block before it is returned.
   */
  source(name: string): ByteSource | null {
    const s = this.sections.get(name);
    if (!s) return null;
    const raw = this.src.slice(s.offset, s.length);
    if (this.verified) return raw;
    return new BlockVerifiedSource(raw, this.blockBytes, () => this.blockTable(s), `${this.path}: section ${name}`, this.path, name);
  }

  private blockTable(s: SectionInfo): Uint32Array {
    let t = this.blockTables.get(s.name);
    if (t) return t;
    const bytes = this.readVerified(CRC_PREFIX + s.name);
    const blocks = Math.ceil(s.length / this.blockBytes);
    if (!bytes || bytes.length !== 4 * blocks) {
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.path}: section ${s.name} has no valid block checksum table`, { details: { path: this.path, section: s.name } });
    }
    t = new Uint32Array(bytes.buffer, bytes.byteOffset, blocks).slice();
    this.blockTables.set(s.name, t);
    return t;
  }

  /** The whole section, checksum verified. */
  readVerified(name: string): Uint8Array | null {
    const s = this.sections.get(name);
    if (!s) return null;
    const bytes = this.src.read(s.offset, s.length);
    if (crc32(bytes) !== s.crc32) {
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.path}: section ${name} fails its CRC-32 check`, { details: { path: this.path, section: name } });
    }
    return bytes;
  }

  /** Verify every section's checksum (and, in version 2, every block table); returns the names of damaged sections. */
  verifyAll(): string[] {
    const bad: string[] = [];
    for (const s of this.sections.values()) {
      const bytes = this.src.read(s.offset, s.length);
      if (crc32(bytes) !== s.crc32) bad.push(s.name);
      else if (this.version >= 2 && !s.name.startsWith(CRC_PREFIX)) {
        const t = this.sections.get(CRC_PREFIX + s.name);
        const table = t && this.src.read(t.offset, t.length);
        if (!table || crc32(table) !== t.crc32) continue; // reported as its own section (or missing below)
        const expect = blockChecksums(bytes, this.blockBytes);
        if (expect.length !== table.length || !expect.every((v, i) => v === table[i])) bad.push(CRC_PREFIX + s.name);
      }
    }
    if (this.version >= 2) {
      for (const s of this.sections.values()) if (!s.name.startsWith(CRC_PREFIX) && !this.sections.has(CRC_PREFIX + s.name)) bad.push(CRC_PREFIX + s.name);
    }
    return bad;
  }
}

/**
 * `raw` (another file of the segment, e.g. its Parquet file) read by range with every block it touches
 * verified against `table` (CRC-32 of each `blockBytes` slice, as blockChecksums makes it) before any
 * byte is returned; a mismatch is CORRUPT_SEGMENT naming `path`.
 */
export function verifiedByBlocks(raw: ByteSource, table: Uint32Array, path: string, blockBytes = SEGMENT_BLOCK_BYTES): ByteSource {
  if (table.length !== Math.ceil(raw.length / blockBytes)) {
    throw new ElacsymError('CORRUPT_SEGMENT', `${path}: its block checksum table covers ${table.length} blocks, the file has ${Math.ceil(raw.length / blockBytes)}`, { details: { path } });
  }
  return new BlockVerifiedSource(raw, blockBytes, () => table, path, path, '');
}

/**
 * A section read by range with every block it touches checked against the section's block checksum
 * table before any byte is returned. Small reads (ids, attributes, single vectors) keep their verified
 * blocks in a small cache, so a query that reads many neighbouring entries pays each block once.
 */
class BlockVerifiedSource implements ByteSource {
  private static readonly CACHE_BLOCKS = 256;
  /** Blocks remembered as read once; forgotten all at once past this many. */
  private static readonly SEEN_BLOCKS = 4096;
  /**
   * The one buffer a block read for the first time is verified in (when the raw source can read into a
   * buffer): its bytes are copied out at once, nothing keeps it, and JavaScript runs one read at a time.
   */
  private static scratch = new Uint8Array(0);
  /** The buffer `readInto` verifies a span of blocks in before copying out the range asked for. */
  private static spanScratch = new Uint8Array(0);
  private readonly cache: Map<number, Uint8Array>;
  private readonly seen: Set<number>;
  constructor(
    private readonly raw: ByteSource,
    private readonly blockBytes: number,
    private readonly table: () => Uint32Array,
    private readonly what: string,
    private readonly path: string,
    private readonly section: string,
    private readonly base = 0,
    readonly length = raw.length,
    cache?: Map<number, Uint8Array>,
    seen?: Set<number>,
  ) {
    this.cache = cache ?? new Map();
    this.seen = seen ?? new Set();
  }

  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    if (length === 0) return new Uint8Array(0);
    const at = this.base + offset;
    const bs = this.blockBytes;
    const first = Math.floor(at / bs);
    const last = Math.floor((at + length - 1) / bs);
    let out: Uint8Array;
    if (first === last) {
      // A copy: the cached block must stay as verified whatever the caller does with what it gets.
      const block = this.block(first);
      return block.slice(at - first * bs, at - first * bs + length);
    } else {
      const start = first * bs;
      const end = Math.min(this.raw.length, (last + 1) * bs);
      const bytes = this.raw.read(start, end - start);
      const t = this.table();
      for (let b = first; b <= last; b++) {
        const part = bytes.subarray((b - first) * bs, Math.min(bytes.length, (b - first + 1) * bs));
        if (crc32(part) !== t[b]) this.fail(b);
      }
      out = bytes.subarray(at - start, at - start + length);
    }
    // Keep ByteSource's alignment promise.
    return out.byteOffset % 4 === 0 ? out : out.slice();
  }

  /**
   * `read` into the caller's buffer: the blocks the range touches are read and verified in a scratch buffer
   * used again and again, so a caller that reuses `out` touches no new memory (IVF clusters of a one-shot
   * query: IvfOpenOptions.transientClusters).
   */
  readInto(offset: number, out: Uint8Array): void {
    const length = out.length;
    if (offset < 0 || offset + length > this.length) {
      throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    if (length === 0) return;
    const at = this.base + offset;
    const bs = this.blockBytes;
    const first = Math.floor(at / bs);
    const last = Math.floor((at + length - 1) / bs);
    if (first === last) {
      const block = this.block(first);
      const from = at - first * bs;
      // A few bytes (a column value's code or offsets) by hand: a view to copy them from was most of their cost.
      if (length <= 16) for (let j = 0; j < length; j++) out[j] = block[from + j]!;
      else out.set(block.subarray(from, from + length));
      return;
    }
    if (this.raw.readInto === undefined) {
      out.set(this.read(offset, length));
      return;
    }
    const start = first * bs;
    const end = Math.min(this.raw.length, (last + 1) * bs);
    if (BlockVerifiedSource.spanScratch.length < end - start) {
      BlockVerifiedSource.spanScratch = new Uint8Array(Math.max(end - start, 2 * BlockVerifiedSource.spanScratch.length));
    }
    const bytes = BlockVerifiedSource.spanScratch.subarray(0, end - start);
    this.raw.readInto(start, bytes);
    const t = this.table();
    for (let b = first; b <= last; b++) {
      const part = bytes.subarray((b - first) * bs, Math.min(bytes.length, (b - first + 1) * bs));
      if (crc32(part) !== t[b]) this.fail(b);
    }
    out.set(bytes.subarray(at - start, at - start + length));
  }

  /**
   * See ByteSource.readIntoChecked: the range read straight into `out` (one positional read, no block
   * alignment, no copy), then its CRC-32 against `crc`. Every byte returned is still verified, once: a cold
   * filtered query over 1M documents reads ~1,600 clusters (33 MB) and checked each byte twice (the blocks,
   * then the cluster: ~17 ms of CRC-32), copying each cluster out of the blocks' scratch on the way.
   */
  readIntoChecked(offset: number, out: Uint8Array, crc: number, label: string): void {
    const length = out.length;
    if (offset < 0 || offset + length > this.length) {
      throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    if (this.raw.readInto === undefined) this.readInto(offset, out);
    else this.raw.readInto(this.base + offset, out);
    if (crc32(out) !== crc) {
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.what}: ${label} fails its CRC-32 check (the file is damaged)`, {
        details: { path: this.path, section: this.section, offset: this.base + offset, length },
      });
    }
  }

  /**
   * Block b, verified. The caller copies what it needs before the next read: a block read for the first
   * time may be in the shared scratch buffer. Only a block read a second time is cached: a cold query reads
   * a few dozen scattered blocks per segment once each (vectors to re-rank, ids), and a fresh 4 KiB array
   * for each was memory touched for nothing (first-touched pages are a large part of a cold query on a
   * small VM: ~11 us a page measured here).
   */
  private block(b: number): Uint8Array {
    const hit = this.cache.get(b);
    if (hit) return hit;
    const t = this.table();
    const start = b * this.blockBytes;
    const length = Math.min(this.raw.length, start + this.blockBytes) - start;
    if (this.raw.readInto !== undefined && !this.seen.has(b)) {
      if (this.seen.size >= BlockVerifiedSource.SEEN_BLOCKS) this.seen.clear();
      this.seen.add(b);
      if (BlockVerifiedSource.scratch.length < length) BlockVerifiedSource.scratch = new Uint8Array(Math.max(length, SEGMENT_BLOCK_BYTES));
      const bytes = BlockVerifiedSource.scratch.subarray(0, length);
      this.raw.readInto(start, bytes);
      if (crc32(bytes) !== t[b]) this.fail(b);
      return bytes;
    }
    const bytes = this.raw.read(start, length);
    if (crc32(bytes) !== t[b]) this.fail(b);
    if (this.cache.size >= BlockVerifiedSource.CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(b, bytes);
    return bytes;
  }

  private fail(b: number): never {
    throw new ElacsymError('CORRUPT_SEGMENT', `${this.what}: block ${b} fails its CRC-32 check (the file is damaged)`, {
      details: { path: this.path, section: this.section, block: b },
    });
  }

  slice(offset: number, length: number): ByteSource {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`slice [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    return new BlockVerifiedSource(this.raw, this.blockBytes, this.table, this.what, this.path, this.section, this.base + offset, length, this.cache, this.seen);
  }
}

/** Encode strings as u32 n | u32 offsets[n+1] | UTF-8 bytes (the ids and docs sections). */
export function encodeStringTable(strings: readonly string[]): Uint8Array {
  const n = strings.length;
  let cap = 0;
  for (const s of strings) cap += s.length * 3;
  const head = 4 + 4 * (n + 1);
  const out = new Uint8Array(head + cap);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n, true);
  let at = head;
  for (let i = 0; i < n; i++) {
    dv.setUint32(4 + 4 * i, at - head, true);
    at += enc.encodeInto(strings[i]!, out.subarray(at)).written;
  }
  dv.setUint32(4 + 4 * n, at - head, true);
  return out.slice(0, at);
}

/** Random access into a string table without decoding all of it. */
export class StringTable {
  /**
   * Lookups answered by reading their two offsets from the source; after OFFSETS_WHOLE_AFTER of them the
   * offsets are read whole. A cold query decodes a few dozen ids per segment: reading the whole offsets
   * array for them (4 bytes a document, ~400 KB per 100k-document segment, 4.4 MB over a 1M namespace in
   * 11 segments) was most of what such a query read from the index files.
   */
  static readonly OFFSETS_WHOLE_AFTER = 1024;
  private lookups = 0;
  private constructor(
    private readonly src: ByteSource,
    readonly length: number,
    /** The n + 1 offsets (little-endian uint32), read on demand. */
    private readonly offsetSrc: ByteSource,
    private offsets: Uint32Array | null,
    private all: Uint8Array | null,
    private readonly path: string,
  ) {}
  static open(src: ByteSource, path: string): StringTable {
    const corrupt = (): never => {
      throw new ElacsymError('CORRUPT_SEGMENT', `${path}: string table out of bounds`, { details: { path } });
    };
    if (src.length < 8) corrupt();
    const n = u32At(src, 0);
    const head = 4 + 4 * (n + 1);
    if (head > src.length) corrupt();
    if (u32At(src, 4 + 4 * n) > src.length - head) corrupt();
    return new StringTable(src.slice(head, src.length - head), n, src.slice(4, 4 * (n + 1)), null, null, path);
  }
  private loadOffsets(): Uint32Array {
    if (this.offsets === null) {
      const raw = this.offsetSrc.read(0, this.offsetSrc.length);
      this.offsets = new Uint32Array(raw.buffer, raw.byteOffset, this.length + 1);
    }
    return this.offsets;
  }
  /** Read every string's bytes (and the offsets) at once (worth it when many are needed). */
  loadAll(): void {
    this.loadOffsets();
    this.all ??= this.src.read(0, this.src.length);
  }
  get(i: number): string {
    let a: number | undefined;
    let b: number | undefined;
    if (this.offsets === null && ++this.lookups <= StringTable.OFFSETS_WHOLE_AFTER) {
      if (Number.isInteger(i) && i >= 0 && i < this.length) {
        const raw = this.offsetSrc.read(4 * i, 8);
        const view = new DataView(raw.buffer, raw.byteOffset, 8);
        a = view.getUint32(0, true);
        b = view.getUint32(4, true);
      }
    } else {
      const offsets = this.loadOffsets();
      a = offsets[i];
      b = offsets[i + 1];
    }
    if (a === undefined || b === undefined || b < a || b > this.src.length) {
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.path}: string ${i} out of bounds`, { details: { path: this.path } });
    }
    const bytes = this.all ? this.all.subarray(a, b) : this.src.read(a, b - a);
    try {
      return dec.decode(bytes);
    } catch {
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.path}: string ${i} is not UTF-8`, { details: { path: this.path } });
    }
  }
}

function u32At(src: ByteSource, at: number): number {
  const b = src.read(at, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}
