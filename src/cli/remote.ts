/**
 * The CLI's door to namespaces published on an object store (`--data-dir s3://bucket/prefix`): S3 settings
 * from the options and the environment, the local cache directory, and the opened namespace. Loaded only by
 * commands given an s3:// data directory; reads load the SDK only in the bridge's worker thread, publish
 * (openRemoteStore) on this thread through objstore/open.ts.
 *
 * Cache: `ELACSYM_CACHE_DIR` (default `$XDG_CACHE_HOME/elacsym`, else `~/.cache/elacsym`) holds the state
 * databases (the 8 most recently used, see store/published.ts) and the range cache's blocks, bounded by
 * `ELACSYM_CACHE_MAX_BYTES` (default 2 GiB). Several processes may share it.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ElacsymError, isElacsymError } from '../errors.js';
import { CommitLog } from '../objstore/commit.js';
import { Snapshot, type SnapshotOptions } from '../store/snapshot.js';
import { parseS3Url } from '../objstore/object-store.js';
import type { ObjectSegmentStore } from '../storage/object-segment-store.js';
import { checkEndpoint, openObjectStore, type OpenedStore } from '../objstore/open.js';
import { listPublished, openPublished, type PublishedNamespaceHandle } from '../store/published.js';
import { RangeCache } from '../objstore/range-cache.js';
import { asyncStoreOf, type StoreSpec, SyncObjectStore } from '../objstore/sync-store.js';
import { s3Settings } from './s3-settings.js';

const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3;

/** The cache directory for object-store data (see the module comment). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ELACSYM_CACHE_DIR) return resolve(env.ELACSYM_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(xdg, 'elacsym');
}

export function cacheBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.ELACSYM_CACHE_MAX_BYTES;
  if (v === undefined || v === '') return DEFAULT_CACHE_BYTES;
  const n = /^\d+$/.test(v) ? Number(v) : NaN; // decimal digits only, as every number elacsym reads
  if (!Number.isSafeInteger(n) || n < 0) throw new ElacsymError('USAGE', `ELACSYM_CACHE_MAX_BYTES=${v} is not a number of bytes`, { hint: 'set it to a whole number, e.g. 1073741824 for 1 GiB' });
  return n;
}

export interface RemoteNamespace extends PublishedNamespaceHandle {
  cache: RangeCache;
  /** The bridge every request of this namespace goes through. */
  bridge: SyncObjectStore;
  /** Closes the segment reader and the store's connections. */
  closeAll(): Promise<void>;
}

/** The S3 settings and location of an s3:// data directory (a malformed endpoint is USAGE). */
export function s3Spec(url: string, o: Record<string, unknown>): StoreSpec {
  const settings = s3Settings(o);
  if (settings.endpoint !== undefined) checkEndpoint(settings.endpoint);
  const { bucket, prefix } = parseS3Url(url);
  return { kind: 's3', options: { bucket, prefix, ...settings } };
}

/**
 * The latest published version of a namespace, opened as a Snapshot. A version collected between its
 * resolution and the opening of its segments (a publish with a short --gc-grace meanwhile) is not damage:
 * when a segment object is missing and a newer version exists, the newer one is opened instead (3 tries).
 */
export async function openRemoteSnapshot(url: string, name: string, o: Record<string, unknown>, opts: SnapshotOptions): Promise<{ remote: RemoteNamespace; snap: Snapshot }> {
  for (let attempt = 1; ; attempt++) {
    const remote = await openRemoteNamespace(url, name, o);
    try {
      return { remote, snap: Snapshot.open(remote.dir, { ...opts, segments: remote.segments }) };
    } catch (e) {
      const missing = isElacsymError(e, 'CORRUPT_SEGMENT') && /listed in the manifest but missing/.test(e.message);
      const moved = missing && attempt < 3 && (await new CommitLog(asyncStoreOf(remote.bridge), `${name}/`).latest())?.version !== remote.record.version;
      await remote.closeAll();
      if (!moved) throw e;
    }
  }
}

/**
 * Runs `fn` on the latest published version of a namespace of the s3:// data directory `url` (the directory
 * of its state database, with `segments` reading the objects), closed after: the read-only commands
 * (export, get, count) on an object store.
 */
export async function withRemoteNamespace<T>(url: string, name: string, o: Record<string, unknown>, fn: (dir: string, opts: { segments?: ObjectSegmentStore }) => Promise<T>): Promise<T> {
  const remote = await openRemoteNamespace(url, name, o);
  try {
    return await fn(remote.dir, { segments: remote.segments });
  } finally {
    await remote.closeAll();
  }
}

/**
 * Runs `fn` on every namespace published under the s3:// data directory `url`, in name order, through one
 * bridge (see withRemoteNamespace). A namespace `fn` or its opening fails for is passed to `onError` and
 * the others go on.
 */
export async function forEachRemoteNamespace(url: string, o: Record<string, unknown>, fn: (name: string, dir: string, opts: { segments?: ObjectSegmentStore }) => Promise<void>, onError: (e: unknown) => void): Promise<void> {
  const root = cacheDir();
  const bytes = cacheBytes();
  const bridge = new SyncObjectStore(s3Spec(url, o));
  try {
    const store = asyncStoreOf(bridge);
    const cache = new RangeCache({ dir: join(root, 'blocks'), maxBytes: bytes });
    for (const name of await listPublished(store)) {
      try {
        const h = await openPublished(store, bridge, name, root, cache);
        try {
          await fn(name, h.dir, { segments: h.segments });
        } finally {
          h.close();
        }
      } catch (e) {
        onError(cacheHint(e, root));
      }
    }
  } catch (e) {
    throw cacheHint(e, root);
  } finally {
    bridge.close();
  }
}

/** An environment error about the cache directory says which setting chooses it. */
export function cacheHint(e: unknown, root: string): unknown {
  if (!(e instanceof ElacsymError) || typeof e.details.path !== 'string' || !e.details.path.startsWith(root)) return e;
  return new ElacsymError(e.code, `${e.message} (the cache of s3:// data directories)`, {
    cause: e,
    details: e.details,
    hint: e.code === 'NO_SPACE' ? `free disk space under ${root}, or set ELACSYM_CACHE_DIR to a disk with room` : `set ELACSYM_CACHE_DIR to a directory this user may write (now ${root})`,
  });
}

/** The store behind an s3:// data directory, for writing (publish): the SDK on this thread. */
export async function openRemoteStore(url: string, o: Record<string, unknown>): Promise<{ opened: OpenedStore }> {
  s3Spec(url, o);
  return { opened: await openObjectStore(url, s3Settings(o)) };
}

/**
 * Opens namespace `name` of the s3:// data directory `url` for reading (its latest published version).
 * Every request goes through one synchronous bridge (one worker thread, the only place the SDK loads).
 */
export async function openRemoteNamespace(url: string, name: string, o: Record<string, unknown>): Promise<RemoteNamespace> {
  const root = cacheDir();
  const bytes = cacheBytes();
  const bridge = new SyncObjectStore(s3Spec(url, o));
  let h: PublishedNamespaceHandle;
  let cache: RangeCache;
  try {
    cache = new RangeCache({ dir: join(root, 'blocks'), maxBytes: bytes });
    h = await openPublished(asyncStoreOf(bridge), bridge, name, root, cache);
  } catch (e) {
    bridge.close();
    throw cacheHint(e, root);
  }
  return {
    ...h,
    cache,
    bridge,
    closeAll: async () => {
      h.close();
      bridge.close();
    },
  };
}
