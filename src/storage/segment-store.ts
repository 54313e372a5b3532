/**
 * The storage port for segment files (issue 11, "storage behind a small interface"): every read, write,
 * listing and removal of a namespace's Parquet and index files goes through `SegmentStore`, so a second
 * implementation (object storage) can hold segments without touching the engine. The journal and the
 * manifest stay in SQLite on the local disk; `backup`/`restore` copy local files (hard links where they
 * can) and are local-only by design.
 *
 * Contract every implementation keeps:
 * - Objects are immutable: a name is written once, completely (`put` is atomic and durable before it
 *   returns: a crash leaves no object or the whole one), and never changed afterwards. Readers therefore
 *   need no invalidation, and an open object stays readable until closed even if it is removed meanwhile
 *   (the snapshot guarantee, see store/snapshot.ts).
 * - A missing object is reported as an error with `code === 'ENOENT'` and `path` (a Node errno error), so
 *   callers tell "gone" (a compaction retired it, or damage) from an environment failure.
 * - `list` returns only plain objects (never directories), in no particular order.
 *
 * Reads are synchronous (`ByteSource`): the query engine reads ranges in place. The implementation over
 * object storage (storage/object-segment-store.ts) serves them from a local range cache and fetches what
 * is missing through a worker thread the caller waits for (objstore/sync-store.ts).
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import type { ByteSource } from '../util/bytes.js';
import { AtomicFileWriter, writeFileAtomic } from '../util/fs.js';

/** An object opened for positional reads; `close()` releases it (idempotent). */
export interface ReadableObject extends ByteSource {
  readonly path: string;
  /**
   * Bytes between two wanted ranges below which a caller should read them as one range: reading that many
   * bytes more costs less than a read of its own. Unset: 64 KiB (a request to an object store costs
   * milliseconds). A local file says one 4 KiB block: a positional read costs microseconds, while each
   * block read in vain is copied, checksummed and, in a fresh buffer, a page to fault in.
   */
  readonly coalesceGap?: number;
  close(): void;
}

export interface SegmentStore {
  /** Where the objects are, for messages and `health` (a directory path, later a URL). */
  readonly location: string;
  /** The full name of an object, for messages. */
  pathOf(name: string): string;
  /** Open for range reads. Missing: an error with code ENOENT. */
  open(name: string): ReadableObject;
  /** Size in bytes, or null when the object does not exist. */
  size(name: string): number | null;
  /** Write an immutable object atomically and durably (all or nothing, survives power loss once returned). */
  put(name: string, chunks: readonly Uint8Array[]): void;
  /**
   * `put` in pieces, for an object made while it is written (so it is never whole in memory): nothing is
   * under `name` until `commit()` returns (atomic and durable as `put`); `abort()` discards it. `read`
   * reads back what was written so far.
   */
  create(name: string): ObjectWriter;
  /** Names of the objects present (no directories); [] when the store does not exist yet. */
  list(): string[];
  /** Remove an object; a missing one is not an error. */
  remove(name: string): void;
}

export interface ObjectWriter {
  write(chunk: Uint8Array): void;
  read(offset: number, length: number): Uint8Array;
  commit(): void;
  /** Discard what was written (idempotent; never throws). */
  abort(): void;
}

/** A namespace's `segments/` directory on the local file system. */
export class LocalSegmentStore implements SegmentStore {
  constructor(readonly location: string) {}

  pathOf(name: string): string {
    return join(this.location, name);
  }

  open(name: string): ReadableObject {
    return LocalObject.open(this.pathOf(name));
  }

  size(name: string): number | null {
    let fd: number;
    try {
      fd = openSync(this.pathOf(name), READ_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }

  /** temp file, fsync, rename, fsync of the directory (util/fs.ts writeFileAtomic). */
  put(name: string, chunks: readonly Uint8Array[]): void {
    writeFileAtomic(this.pathOf(name), chunks);
  }

  /** The same temp file, fsync, rename and directory fsync as `put`, written piece by piece. */
  create(name: string): ObjectWriter {
    return AtomicFileWriter.open(this.pathOf(name));
  }

  list(): string[] {
    try {
      return readdirSync(this.location, { withFileTypes: true })
        .filter((e) => !e.isDirectory())
        .map((e) => e.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  remove(name: string): void {
    rmSync(this.pathOf(name), { force: true });
  }
}

/**
 * Read-only and non-blocking: a FIFO put where a segment file belongs would otherwise block open() until
 * a writer came (a tester's export and health --deep hung for ever, deaf to SIGTERM, since the thread was
 * in the system call). Opened this way it reports its size as 0, which no segment has: the size check
 * names the damage. No effect on a regular file.
 */
const READ_NONBLOCK = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;

/**
 * A local file read with pread(2); the descriptor stays open until `close()`. A read past the end of a
 * file that is shorter than the manifest says (truncated by damage) is CORRUPT_SEGMENT, not an internal
 * range error.
 */
class LocalObject implements ReadableObject {
  readonly coalesceGap = 4 * 1024;
  private closed = false;
  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly base: number,
    readonly length: number,
    private readonly owner: boolean,
  ) {}

  static open(path: string): LocalObject {
    const fd = openSync(path, READ_NONBLOCK);
    try {
      return new LocalObject(path, fd, 0, fstatSync(fd).size, true);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(offset, out);
    return out;
  }

  readInto(offset: number, out: Uint8Array): void {
    const length = out.length;
    if (offset < 0 || offset + length > this.length) {
      throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, this.base + offset + done);
      if (n === 0) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${this.path}: the file ends at byte ${this.base + offset + done}, before the data the manifest records`, {
          details: { path: this.path },
        });
      }
      done += n;
    }
  }

  slice(offset: number, length: number): ByteSource {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`slice [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    return new LocalObject(this.path, this.fd, this.base + offset, length, false);
  }

  close(): void {
    if (this.closed || !this.owner) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** The segment store of the namespace in directory `nsDir`. */
export function segmentStoreOf(nsDir: string): SegmentStore {
  return new LocalSegmentStore(join(nsDir, 'segments'));
}
