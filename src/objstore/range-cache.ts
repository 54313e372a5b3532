/**
 * A local cache of byte ranges of immutable objects: fixed-size aligned blocks, kept as files under one
 * cache directory (bounded, least-recently-used eviction) and, hotter still, in a bounded in-memory LRU.
 *
 * Objects never change under their identity (store location, key, size and ETag: see `objectId`), so a
 * cached block never needs invalidation; the only ways a block file can be wrong are damage and a torn
 * write, and both are caught by its header (length + CRC-32 of the data). A damaged block is removed and
 * fetched again, never served.
 *
 * Block file (`<dir>/<id[0..2]>/<id>.<block index>`): 16-byte header, then the block's bytes.
 *   0..4   magic "ELCB"
 *   4..8   data length (u32 LE): the block size, or less for an object's last block
 *   8..12  CRC-32 (IEEE) of the data
 *   12..16 reserved (0)
 *
 * Several processes may share one directory without any lock:
 * - a block is written to `<dir>/tmp/<pid>-<random>` and renamed into place (atomic on POSIX): a reader
 *   sees no file or a whole one; a process killed mid-write leaves only a temporary file, which any later
 *   eviction scan removes once it is older than TMP_GRACE_MS;
 * - two processes fetching the same block both rename identical bytes: last one wins, same content;
 * - eviction tolerates files that disappear under it (another process evicted them), and a reader whose
 *   file vanished between finding and reading it simply fetches the block again;
 * - recency is the file's mtime, set on write and refreshed on each disk hit.
 * The size bound is enforced by a directory scan whenever this process has written 10% of `maxBytes` (at
 * least a block) since its last scan, or its writes would push the total it knows about past `maxBytes`;
 * the scan counts every process's files and evicts the least recently used down to a low-water mark (90%),
 * so scans are amortised over many writes. With N processes writing at once the directory can exceed the
 * bound by at most about N x 10% until their next scans. No lock is ever held, least of all across a network call.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from '../util/crc32.js';
import { isEnvError, toEnvError } from '../util/env-error.js';
import type { ByteRange } from './object-store.js';

/**
 * 256 KiB. Measured on the loopback radosgw (docs/object-storage.md, "Block size"): a miss costs one round
 * trip (~5 ms) for 64 or 256 KiB alike, 1 MiB costs 2-3x that, and a disk hit reads and checks the whole
 * block (0.4 ms at 256 KiB, 1.3-2 ms at 1 MiB). Stores with a longer first-byte latency (AWS S3) favour
 * larger blocks: the option is there.
 */
export const DEFAULT_BLOCK_SIZE = 256 << 10;
const HEADER = 16;

const keyBytes = new TextEncoder();
/** CRC-32 of a block's bytes, seeded with the CRC of its name (see RangeCache.verify). */
function blockCrc(key: string, data: Uint8Array): number {
  return crc32(data, crc32(keyBytes.encode(key)));
}
const MAGIC = 0x42434c45; // "ELCB" read as u32 LE
const TMP = 'tmp';
const TMP_GRACE_MS = 10 * 60_000;

export interface RangeCacheOptions {
  /** The cache directory (created if missing); may be shared by several processes. */
  dir: string;
  /** Bound on the bytes of block files in `dir` (headers included). */
  maxBytes: number;
  /** Block size in bytes, a multiple of 4096 (default 256 KiB). Processes sharing a directory must agree. */
  blockSize?: number;
  /** Bound on the in-memory LRU of blocks (default 64 MiB; 0 disables it). */
  memoryBytes?: number;
}

export interface RangeCacheStats {
  /** Blocks served without a fetch (memory + disk). */
  hits: number;
  memoryHits: number;
  diskHits: number;
  /** Blocks fetched from the store. */
  misses: number;
  /** Ranged GETs sent (consecutive missing blocks of one read share one). */
  fetches: number;
  /** Bytes received from the store. */
  bytesFetched: number;
  /** Bytes of block data written to the cache directory. */
  bytesCached: number;
  /** Block files this process removed to stay within `maxBytes`. */
  evictions: number;
  /** Block files found damaged (bad header, length or CRC), removed and fetched again. */
  corruptBlocks: number;
}

/** The immutable identity of an object: where it lives, its key, and what the store says its bytes are. */
export interface CachedObjectRef {
  /** From `objectId`. */
  id: string;
  size: number;
}

/** A stable id for (store location, key, size, ETag): a changed object can never be served from old blocks. */
export function objectId(location: string, key: string, size: number, etag: string): string {
  return createHash('sha256').update(`${location}\0${key}\0${size}\0${etag}`).digest('hex').slice(0, 40);
}

/**
 * Fetch the given ranges of the object, in one round trip if possible. A range's result may be null (the
 * object is gone) or shorter than asked (it is shorter than its recorded size): the cache reports both to
 * its caller through `read`'s `onMissing`/`onShort` errors.
 */
export type RangeFetcher = (ranges: ByteRange[]) => (Uint8Array | null)[];

export class RangeCache {
  readonly dir: string;
  readonly blockSize: number;
  readonly maxBytes: number;
  readonly memoryBytes: number;
  readonly stats: RangeCacheStats = { hits: 0, memoryHits: 0, diskHits: 0, misses: 0, fetches: 0, bytesFetched: 0, bytesCached: 0, evictions: 0, corruptBlocks: 0 };
  /** Bytes of block files at the last scan (after its evictions), or null before the first scan. */
  private knownBytes: number | null = null;
  /** File bytes this process wrote since its last scan. */
  private writtenSinceScan = 0;
  private readonly memory = new Map<string, Uint8Array>();
  private memoryUsed = 0;

  constructor(o: RangeCacheOptions) {
    this.dir = o.dir;
    this.blockSize = o.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 4096 || this.blockSize % 4096 !== 0) {
      throw new RangeError(`cache block size ${this.blockSize} is not a positive multiple of 4096`);
    }
    this.maxBytes = o.maxBytes;
    this.memoryBytes = o.memoryBytes ?? 64 << 20;
    try {
      mkdirSync(join(this.dir, TMP), { recursive: true });
    } catch (e) {
      throw toEnvError(e, this.dir, 'creating the cache directory');
    }
  }

  /**
   * Bytes of block files in the directory as this process knows them: its last scan (every process's
   * files) plus what it wrote since. Other processes' writes since that scan are not counted.
   */
  approxBytes(): number {
    return (this.knownBytes ?? 0) + this.writtenSinceScan;
  }

  /** Hit rate over all block lookups so far (0 when there were none). */
  hitRate(): number {
    const n = this.stats.hits + this.stats.misses;
    return n === 0 ? 0 : this.stats.hits / n;
  }

  /**
   * Bytes [offset, offset+length) of the object, from memory, the cache directory, or `fetch` (only the
   * missing blocks; each run of consecutive missing blocks is one range). The result is a fresh array
   * (offset 0 of its own buffer): callers may keep or change it without touching the cache.
   * `fetch` returning null for a block: `gone()` is thrown; fewer bytes than the block needs: `short()`.
   */
  read(obj: CachedObjectRef, offset: number, length: number, fetch: RangeFetcher, errors: { gone: () => Error; short: (at: number) => Error }): Uint8Array {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const blocks = new Map<number, Uint8Array>();
    const missing: number[] = [];
    for (let b = first; b <= last; b++) {
      const data = this.lookup(obj, b);
      if (data) blocks.set(b, data);
      else missing.push(b);
    }
    if (missing.length) {
      // Runs of consecutive missing blocks, one range each.
      const runs: { from: number; to: number }[] = [];
      for (const b of missing) {
        const run = runs[runs.length - 1];
        if (run && run.to === b - 1) run.to = b;
        else runs.push({ from: b, to: b });
      }
      const ranges = runs.map((r) => ({ offset: r.from * bs, length: Math.min(obj.size, (r.to + 1) * bs) - r.from * bs }));
      this.stats.fetches += ranges.length;
      const got = fetch(ranges);
      runs.forEach((r, i) => {
        const bytes = got[i];
        if (bytes === null || bytes === undefined) throw errors.gone();
        this.stats.bytesFetched += bytes.length;
        const want = ranges[i]!.length;
        if (bytes.length < want) throw errors.short(ranges[i]!.offset + bytes.length);
        for (let b = r.from; b <= r.to; b++) {
          const start = (b - r.from) * bs;
          const data = bytes.slice(start, Math.min(want, start + bs));
          this.stats.misses++;
          this.store(obj, b, data);
          blocks.set(b, data);
        }
      });
    }
    for (let b = first; b <= last; b++) {
      const data = blocks.get(b)!;
      const blockStart = b * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + data.length);
      out.set(data.subarray(from - blockStart, to - blockStart), from - offset);
    }
    return out;
  }

  private blockLength(obj: CachedObjectRef, b: number): number {
    return Math.min(this.blockSize, obj.size - b * this.blockSize);
  }

  private path(obj: CachedObjectRef, b: number): string {
    return join(this.dir, obj.id.slice(0, 2), `${obj.id}.${b}`);
  }

  /** A cached block (memory, then disk, verified), or null. Counts the hit. */
  private lookup(obj: CachedObjectRef, b: number): Uint8Array | null {
    const key = `${obj.id}.${b}`;
    const m = this.memory.get(key);
    if (m) {
      this.memory.delete(key); // re-insert: Map order is the LRU order
      this.memory.set(key, m);
      this.stats.hits++;
      this.stats.memoryHits++;
      return m;
    }
    const p = this.path(obj, b);
    let file: Buffer;
    try {
      file = readFileSync(p);
    } catch {
      // Not there (never cached, or evicted by any process), or unreadable: the cache costs speed, never
      // an answer, so the block is fetched instead.
      return null;
    }
    const data = this.verify(file, this.blockLength(obj, b), key);
    if (!data) {
      // Damaged or torn: never served. Remove it (another process may have already) and fetch again.
      this.stats.corruptBlocks++;
      rmSync(p, { force: true });
      return null;
    }
    const now = new Date();
    try {
      utimesSync(p, now, now); // recency for the LRU
    } catch {
      // Evicted meanwhile (we still hold the bytes), or a block of another user's or a read-only cache:
      // recency is a hint for eviction, never a reason to fail a read.
    }
    this.stats.hits++;
    this.stats.diskHits++;
    this.remember(key, data);
    return data;
  }

  /**
   * The block's data if the file is whole, undamaged and this very block, else null. The CRC is seeded
   * with the block's name (object identity and block number), so a block file copied or renamed over
   * another block's fails it instead of serving another object's bytes.
   */
  private verify(file: Buffer, expected: number, key: string): Uint8Array | null {
    if (file.length < HEADER) return null;
    const dv = new DataView(file.buffer, file.byteOffset, HEADER);
    if (dv.getUint32(0, true) !== MAGIC) return null;
    const len = dv.getUint32(4, true);
    if (len !== expected || file.length !== HEADER + len) return null;
    const data = new Uint8Array(file.subarray(HEADER)); // a copy that owns its buffer
    if (blockCrc(key, data) !== dv.getUint32(8, true)) return null;
    return data;
  }

  private remember(key: string, data: Uint8Array): void {
    if (this.memoryBytes <= 0 || data.length > this.memoryBytes) return;
    const old = this.memory.get(key);
    if (old) {
      this.memory.delete(key);
      this.memoryUsed -= old.length;
    }
    this.memory.set(key, data);
    this.memoryUsed += data.length;
    for (const [k, v] of this.memory) {
      if (this.memoryUsed <= this.memoryBytes) break;
      this.memory.delete(k);
      this.memoryUsed -= v.length;
    }
  }

  /** Write a fetched block (atomically) and keep it in memory; then keep the directory within its bound. */
  private store(obj: CachedObjectRef, b: number, data: Uint8Array): void {
    this.remember(`${obj.id}.${b}`, data);
    const header = new Uint8Array(HEADER);
    const dv = new DataView(header.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, data.length, true);
    dv.setUint32(8, blockCrc(`${obj.id}.${b}`, data), true);
    const p = this.path(obj, b);
    const tmp = join(this.dir, TMP, `${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      try {
        writeFileSync(tmp, Buffer.concat([header, data]));
      } catch (e) {
        // The cache directory was removed under a running process (by hand, or a clean-up job): make it
        // again, once, rather than run uncached until restarted.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        mkdirSync(join(this.dir, TMP), { recursive: true });
        this.knownBytes = null;
        writeFileSync(tmp, Buffer.concat([header, data]));
      }
      try {
        renameSync(tmp, p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        mkdirSync(join(this.dir, obj.id.slice(0, 2)), { recursive: true });
        renameSync(tmp, p);
      }
    } catch (e) {
      // A cache that cannot be written (full disk, removed directory) costs speed, never an answer.
      rmSync(tmp, { force: true });
      if (isEnvError(e)) return;
      throw e;
    }
    this.stats.bytesCached += data.length;
    this.writtenSinceScan += HEADER + data.length;
    // Scan when this process's writes since its last scan reach the slack (10 %, at least a block: other
    // processes' writes become visible, and a fresh process does not scan a large directory at its first
    // miss), or when what it knows says the bound is passed.
    const slack = Math.max(this.blockSize + HEADER, Math.floor(this.maxBytes / 10));
    if (this.writtenSinceScan >= slack || (this.knownBytes !== null && this.knownBytes + this.writtenSinceScan > this.maxBytes)) this.evict();
  }

  /**
   * Scan the directory (every process's blocks), and when over `maxBytes` remove the least recently used
   * blocks down to the low-water mark. Files that vanish meanwhile were evicted by someone else: skipped.
   */
  evict(): void {
    const files: { path: string; size: number; mtime: number }[] = [];
    let total = 0;
    const now = Date.now();
    let subdirs: string[];
    try {
      subdirs = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const sub of subdirs) {
      let names: string[];
      try {
        names = readdirSync(join(this.dir, sub));
      } catch {
        continue; // not a directory, or removed meanwhile
      }
      for (const name of names) {
        const path = join(this.dir, sub, name);
        let st;
        try {
          st = statSync(path);
        } catch {
          continue;
        }
        if (sub === TMP) {
          // A temporary file of a killed writer (live writers rename theirs within milliseconds).
          if (now - st.mtimeMs > TMP_GRACE_MS) rmSync(path, { force: true });
          continue;
        }
        files.push({ path, size: st.size, mtime: st.mtimeMs });
        total += st.size;
      }
    }
    if (total > this.maxBytes) {
      const low = Math.max(0, Math.min(Math.floor(this.maxBytes * 0.9), this.maxBytes - this.blockSize - HEADER));
      files.sort((a, b) => a.mtime - b.mtime);
      for (const f of files) {
        if (total <= low) break;
        try {
          unlinkSync(f.path);
          this.stats.evictions++;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        total -= f.size;
      }
    }
    this.knownBytes = total;
    this.writtenSinceScan = 0;
  }
}
