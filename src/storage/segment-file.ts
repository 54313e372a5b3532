/**
 * A segment's index file (`seg-NNNNNN.idx`): named sections, each with its own CRC-32, so a query reads
 * the header and then only the byte ranges it needs.
 *
 *   u32 magic "ESG1" | u32 format version | u32 section count | u32 header bytes (incl. these 16)
 *   per section: u32 name bytes | name (UTF-8, zero-padded to 4) | f64 offset | f64 length | u32 crc32 | u32 0
 *   sections, each starting on an 8-byte boundary
 *
 * Sections written by store/segment-builder.ts:
 *   ids            u32 n | u32 offsets[n+1] | UTF-8 id keys           (ordinal -> id)
 *   docs           u32 n | u32 offsets[n+1] | UTF-8 attribute JSON    (ordinal -> attributes)
 *   vectors        u8 hasVector[n] padded to 4 | f32 [n*dim]          (original vectors, ordinal order)
 *   col:<name>     JSON array of the attribute's values by ordinal    (filter columns, loaded on demand)
 *   ft:<name>      full-text field index (index/fulltext/postings.ts)
 *   ivf            vector index (index/vector/ivf.ts)
 */
import { ElacsymError } from '../errors.js';
import type { ByteSource } from '../util/bytes.js';
import { crc32 } from '../util/crc32.js';

const MAGIC = 0x31475345; // "ESG1" little-endian
export const SEGMENT_FILE_VERSION = 1;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const pad = (n: number, a: number) => Math.ceil(n / a) * a;

export interface SectionInfo {
  name: string;
  offset: number;
  length: number;
  crc32: number;
}

/** Lay out sections into the chunks of one file (header first). */
export function buildSegmentFile(sections: ReadonlyArray<{ name: string; bytes: Uint8Array }>): Uint8Array[] {
  const names = sections.map((s) => enc.encode(s.name));
  let headerLen = 16;
  for (const n of names) headerLen += 4 + pad(n.length, 4) + 24;
  headerLen = pad(headerLen, 8);
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
  return chunks;
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
  private constructor(
    readonly path: string,
    private readonly src: ByteSource,
    readonly sections: ReadonlyMap<string, SectionInfo>,
  ) {}

  static open(src: ByteSource, path: string): SegmentFile {
    const corrupt = (why: string): never => {
      throw new ElacsymError('CORRUPT_SEGMENT', `${path}: ${why}`, { details: { path } });
    };
    if (src.length < 16) corrupt('file too short for a segment header');
    const head = src.read(0, 16);
    const dv0 = new DataView(head.buffer, head.byteOffset, 16);
    if (dv0.getUint32(0, true) !== MAGIC) corrupt('not an elacsym segment index file (bad magic)');
    const version = dv0.getUint32(4, true);
    if (version !== SEGMENT_FILE_VERSION) corrupt(`unsupported segment file version ${version}`);
    const count = dv0.getUint32(8, true);
    const headerLen = dv0.getUint32(12, true);
    if (headerLen < 16 || headerLen > src.length || count > 100_000) corrupt('segment header out of bounds');
    const header = src.read(0, headerLen);
    const dv = new DataView(header.buffer, header.byteOffset, headerLen);
    const sections = new Map<string, SectionInfo>();
    let at = 16;
    for (let i = 0; i < count; i++) {
      if (at + 4 > headerLen) corrupt('segment header truncated');
      const nameLen = dv.getUint32(at, true);
      if (at + 4 + nameLen + 24 > headerLen) corrupt('segment header truncated');
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
    return new SegmentFile(path, src, sections);
  }

  has(name: string): boolean {
    return this.sections.has(name);
  }

  /** Positional access to a section, for structures that read only what they need. */
  source(name: string): ByteSource | null {
    const s = this.sections.get(name);
    return s ? this.src.slice(s.offset, s.length) : null;
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

  /** Verify every section's checksum; returns the names of damaged sections. */
  verifyAll(): string[] {
    const bad: string[] = [];
    for (const s of this.sections.values()) {
      if (crc32(this.src.read(s.offset, s.length)) !== s.crc32) bad.push(s.name);
    }
    return bad;
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
  private constructor(
    private readonly src: ByteSource,
    readonly length: number,
    private readonly offsets: Uint32Array,
    private all: Uint8Array | null,
    private readonly path: string,
  ) {}
  static open(src: ByteSource, path: string): StringTable {
    const corrupt = (): never => {
      throw new ElacsymError('CORRUPT_SEGMENT', `${path}: string table out of bounds`, { details: { path } });
    };
    if (src.length < 8) corrupt();
    const nb = src.read(0, 4);
    const n = new DataView(nb.buffer, nb.byteOffset, 4).getUint32(0, true);
    const head = 4 + 4 * (n + 1);
    if (head > src.length) corrupt();
    const raw = src.read(4, 4 * (n + 1));
    const offsets = new Uint32Array(raw.buffer, raw.byteOffset, n + 1);
    if (offsets[n]! > src.length - head) corrupt();
    return new StringTable(src.slice(head, src.length - head), n, offsets, null, path);
  }
  /** Read every string's bytes at once (worth it when many are needed). */
  loadAll(): void {
    this.all ??= this.src.read(0, this.src.length);
  }
  get(i: number): string {
    const a = this.offsets[i];
    const b = this.offsets[i + 1];
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
