/**
 * `SegmentStore` on object storage (issue 14): segment and index files are immutable objects under a
 * prefix of an ObjectStore (an S3-compatible bucket, or a local directory through the same port), read
 * synchronously through a worker-thread bridge (objstore/sync-store.ts) and a local range cache
 * (objstore/range-cache.ts). It lives in storage/ because it implements storage's port; the object-store
 * machinery stays in objstore/.
 *
 * How it keeps the SegmentStore contract (storage/segment-store.ts), and where object storage differs:
 * - `put` is a conditional create (`If-None-Match: *`) of the whole object: atomic and durable once the
 *   store acknowledges it. A name that exists already is accepted when its bytes are identical (a retried
 *   put), and refused (INTERNAL: names are never reused with other bytes) otherwise.
 * - `open` costs one HEAD (size and ETag; the cache identity includes both, so a changed object can never be
 *   served from old blocks); a missing object is an error with `code === 'ENOENT'`, as on a local disk.
 * - Reads go through the cache: only missing blocks are fetched, each run of consecutive ones as one ranged
 *   GET, all runs of one read in parallel.
 * - After `remove`, an object opened before stays readable ONLY for what is cached (disk or memory) or
 *   fetched before the delete reached the store; a read that needs a block fetched afterwards fails with
 *   `code === 'ENOENT'`. On a local disk an open descriptor keeps the whole file. Object storage has no
 *   such thing: garbage collection must therefore keep removed objects for a grace period longer than the
 *   longest query (issue 14's GC design), which is what gives readers the snapshot guarantee there.
 * - `list` returns the object names directly under the prefix (no "subdirectories"), like readdir.
 */
import { ElacsymError } from '../errors.js';
import { type CachedObjectRef, objectId, RangeCache, type RangeCacheOptions } from '../objstore/range-cache.js';
import { type StoreSpec, SyncObjectStore } from '../objstore/sync-store.js';
import { type ByteSource, ChunkedBytes } from '../util/bytes.js';
import type { ObjectWriter, ReadableObject, SegmentStore } from './segment-store.js';

function enoent(path: string, syscall: string): NodeJS.ErrnoException {
  const e = new Error(`ENOENT: no such object, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  e.code = 'ENOENT';
  e.errno = -2;
  e.syscall = syscall;
  e.path = path;
  return e;
}

function checkName(name: string): void {
  if (name === '' || name.includes('/') || name === '.' || name === '..') throw new ElacsymError('INTERNAL', `invalid segment object name "${name}"`);
}

export interface ObjectSegmentStoreOptions {
  /**
   * The store holding the objects: a spec (a bridge of its own is started on first use; its prefix (S3) or
   * root (local) is where the objects are), or a bridge shared with other users, whose keys are then
   * `keyPrefix + name` (one worker, one SDK load per process).
   */
  store: StoreSpec | SyncObjectStore;
  /** With a shared bridge: the key prefix of the objects ('' or ending with '/'). */
  keyPrefix?: string;
  /** The local range cache, or the options to make one. */
  cache: RangeCache | RangeCacheOptions;
  /** Bound on every call to the store (default: SyncObjectStore's). */
  timeoutMs?: number;
}

export class ObjectSegmentStore implements SegmentStore {
  readonly location: string;
  readonly cache: RangeCache;
  private readonly remote: SyncObjectStore;

  /** Prepended to names to make keys (a shared bridge); '' for a bridge of our own. */
  private readonly kp: string;
  /** Whether close() stops the bridge (not a shared one: its owner does). */
  private readonly ownsRemote: boolean;

  constructor(o: ObjectSegmentStoreOptions) {
    this.ownsRemote = !(o.store instanceof SyncObjectStore);
    this.remote = o.store instanceof SyncObjectStore ? o.store : new SyncObjectStore(o.store, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
    this.kp = o.store instanceof SyncObjectStore ? (o.keyPrefix ?? '') : '';
    this.cache = o.cache instanceof RangeCache ? o.cache : new RangeCache(o.cache);
    const spec = this.remote.spec;
    const base = spec.kind === 'local' ? spec.root : `s3://${spec.options.bucket}/${spec.options.prefix ?? ''}`;
    this.location = this.kp === '' ? base : `${base.endsWith('/') ? base : `${base}/`}${this.kp}`;
  }

  private key(name: string): string {
    return `${this.kp}${name}`;
  }

  pathOf(name: string): string {
    return this.location.endsWith('/') ? `${this.location}${name}` : `${this.location}/${name}`;
  }

  open(name: string): ReadableObject {
    checkName(name);
    const info = this.remote.head(this.key(name));
    const path = this.pathOf(name);
    if (!info) throw enoent(path, 'open');
    const ref: CachedObjectRef = { id: objectId(this.location, name, info.size, info.etag), size: info.size };
    return new CachedObject(path, ref, 0, info.size, (offset, length) =>
      this.cache.read(ref, offset, length, (ranges) => this.remote.getRanges(this.key(name), ranges), {
        gone: () => enoent(path, 'read'),
        short: (at) =>
          new ElacsymError('CORRUPT_SEGMENT', `${path}: the object ends at byte ${at}, before the ${info.size} bytes it had when opened`, { details: { path } }),
      }),
    );
  }

  size(name: string): number | null {
    checkName(name);
    return this.remote.head(this.key(name))?.size ?? null;
  }

  put(name: string, chunks: readonly Uint8Array[]): void {
    checkName(name);
    const bytes = Buffer.concat(chunks);
    if (this.remote.putIfAbsent(this.key(name), bytes) === 'created') return;
    // The name exists: fine if it holds these very bytes (a put retried after a lost response).
    const existing = this.remote.get(this.key(name));
    if (existing && Buffer.from(existing.buffer, existing.byteOffset, existing.byteLength).equals(bytes)) return;
    throw new ElacsymError('INTERNAL', `${this.pathOf(name)} exists with different bytes: segment objects are immutable and their names never reused`, {
      details: { path: this.pathOf(name) },
    });
  }

  /**
   * A segment written piece by piece (the flush streams its Parquet row groups): the pieces are held in
   * memory and created as one object at commit, since an object store has no partial object to append to
   * (and radosgw's multipart completion ignores If-None-Match, which the put relies on). Bounded by the
   * segment size; spooling to a local file is the next step when flushes run against object storage.
   */
  create(name: string): ObjectWriter {
    const chunks: Uint8Array[] = [];
    let length = 0;
    let done = false;
    return {
      write: (chunk: Uint8Array) => {
        if (done) throw new ElacsymError('INTERNAL', `object ${name} was already committed or aborted`);
        chunks.push(chunk.slice());
        length += chunk.length;
      },
      read: (offset: number, len: number) => {
        if (offset < 0 || len < 0 || offset + len > length) throw new ElacsymError('INTERNAL', `read of [${offset}, ${offset + len}) past the ${length} bytes written to ${name}`);
        return new ChunkedBytes(chunks).range(offset, offset + len);
      },
      commit: () => {
        if (done) throw new ElacsymError('INTERNAL', `object ${name} was already committed or aborted`);
        this.put(name, chunks);
        done = true;
        chunks.length = 0;
      },
      abort: () => {
        done = true;
        chunks.length = 0;
      },
    };
  }

  list(): string[] {
    try {
      return this.remote
        .list(this.kp)
        .map((k) => k.slice(this.kp.length))
        .filter((k) => !k.includes('/'));
    } catch (e) {
      // A local store whose directory does not exist yet holds nothing (as LocalSegmentStore says).
      if (e instanceof ElacsymError && e.code === 'DATA_DIR_NOT_FOUND') return [];
      throw e;
    }
  }

  remove(name: string): void {
    checkName(name);
    // Cached blocks stay: readers that hold the object may still need them; LRU eviction retires them.
    this.remote.delete([this.key(name)]);
  }

  /**
   * Stop the bridge's worker thread (not a shared bridge's: its owner closes it). The store may still be
   * used afterwards (a new worker starts).
   */
  close(): void {
    if (this.ownsRemote) this.remote.close();
  }
}

/** An object opened through the cache; a slice is a view with its own base. Nothing to release. */
class CachedObject implements ReadableObject {
  constructor(
    readonly path: string,
    private readonly ref: CachedObjectRef,
    private readonly base: number,
    readonly length: number,
    private readonly readAt: (offset: number, length: number) => Uint8Array,
  ) {}

  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    return this.readAt(this.base + offset, length);
  }

  slice(offset: number, length: number): ByteSource {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`slice [${offset}, ${offset + length}) outside a source of ${this.length} bytes`);
    }
    return new CachedObject(this.path, this.ref, this.base + offset, length, this.readAt);
  }

  close(): void {}
}

/** The segment store of a namespace whose segments are the objects under `store` (see the class). */
export function openObjectSegmentStore(o: ObjectSegmentStoreOptions): ObjectSegmentStore {
  return new ObjectSegmentStore(o);
}
