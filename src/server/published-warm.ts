/**
 * Warm snapshots of namespaces published to an object store (`elacsym serve -d s3://bucket/prefix`): the
 * query-machine side of issue 14. Each thread that answers queries (the main thread, each query worker)
 * holds one of these: its own bridge to the store (one worker thread, one SDK load) and its own handle on
 * the shared block cache directory.
 *
 * Freshness: `ready(name)` (awaited before every query) re-resolves the namespace's latest version when
 * the last check is older than `refreshMs` (three requests: the hint, a listing, the record); a new
 * version is opened with Snapshot.refresh, so segments both versions name are reused as they are (no
 * read, no checksum again), and only the new ones are fetched. A version is therefore served within
 * `refreshMs` + the time to open it after its commit. One request uses one lease on one snapshot: an
 * answer never mixes two versions. A replaced snapshot closes when its last lease is released.
 *
 * Snapshots are opened with loadFully (index files read whole, verified once, then queried from memory,
 * as a local server does): warm, a published namespace answers at local speed; the first query after a
 * version appears pays for fetching what the cache lacks.
 */
import { ElacsymError, isElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import { CommitLog } from '../objstore/commit.js';
import type { ObjectStore } from '../objstore/object-store.js';
import { RangeCache, type RangeCacheStats } from '../objstore/range-cache.js';
import { asyncStoreOf, type StoreSpec, SyncObjectStore } from '../objstore/sync-store.js';
import { openPublished, type PublishedNamespace, type PublishedNamespaceHandle } from '../store/published.js';
import { QueryContext } from '../store/search-sources.js';
import { Snapshot } from '../store/snapshot.js';
import { type Held, type Lease, leaseOf, retire, type WarmSource, type WarmStats } from './warm.js';

/** Where a published data directory is and how this process caches it (passed to query workers as is). */
export interface RemoteSpec {
  spec: StoreSpec;
  cacheDir: string;
  cacheBytes: number;
  /** Longest age of a version check before a query re-checks (ms). */
  refreshMs: number;
}

interface Entry {
  held: Held;
  handle: PublishedNamespaceHandle;
  version: number;
  /** The commit's nonce: with the version, what identifies the version served. */
  nonce: string;
  committedAt: number;
  /** When the latest version was last confirmed (refresh age), and when to check again. */
  checkedAt: number;
  nextCheckAt: number;
  generation: number;
  /** The last failed check (store unavailable), while the loaded version is still served. */
  lastError?: string;
}

export interface PublishedStats {
  namespaces: (WarmStats & { version: number; manifest_age_s: number; last_error?: string })[];
  cache: RangeCacheStats & { hit_rate: number; bytes: number; max_bytes: number; query_hits: number; query_misses: number; query_hit_rate: number };
}

export class PublishedWarm implements WarmSource {
  private readonly bridge: SyncObjectStore;
  private readonly store: ObjectStore;
  readonly cache: RangeCache;
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly clock: () => number;

  constructor(
    private readonly r: RemoteSpec,
    opts: { clock?: () => number } = {},
  ) {
    this.bridge = new SyncObjectStore(r.spec);
    this.store = asyncStoreOf(this.bridge);
    this.cache = new RangeCache({ dir: `${r.cacheDir}/blocks`, maxBytes: r.cacheBytes });
    this.clock = opts.clock ?? Date.now;
  }

  /** Resolves the latest version when the last check is older than refreshMs; concurrent calls share one check. */
  /**
   * Queries answered without a fetch from the store (hits) and with one (misses: a namespace or a new
   * version loaded for them). Snapshots are loaded whole and answer from memory, so a block-level hit rate
   * only counts loads; this one is what a client sees.
   */
  private queries = { hits: 0, misses: 0 };

  async ready(name: string): Promise<void> {
    const before = this.cache.stats.misses;
    try {
      await this.refreshed(name);
    } finally {
      if (this.cache.stats.misses > before) this.queries.misses++;
      else this.queries.hits++;
    }
  }

  private async refreshed(name: string): Promise<void> {
    validateNamespaceName(name);
    const e = this.entries.get(name);
    if (e && this.clock() < e.nextCheckAt) return;
    let p = this.pending.get(name);
    if (!p) {
      p = this.check(name)
        .catch((err: unknown) => {
          // The store not answering does not take down what is loaded: a namespace already open keeps
          // being served from its (complete, verified) version, re-checked after refreshMs again; its
          // growing refresh age shows in /metrics and /health. Anything else (gone, damaged) fails.
          const open = this.entries.get(name);
          // (a damaged manifest object in the store, e.g. a stray key above the latest version: the
          // version already loaded is complete and verified, and stays served while /health says so)
          if (!open || !(isElacsymError(err, 'STORE_UNAVAILABLE') || isElacsymError(err, 'CORRUPT_MANIFEST'))) throw err;
          open.nextCheckAt = this.clock() + this.r.refreshMs;
          open.lastError = err.message;
        })
        .finally(() => this.pending.delete(name));
      this.pending.set(name, p);
    }
    await p;
  }

  private async check(name: string): Promise<void> {
    const latest = await new CommitLog<PublishedNamespace>(this.store, `${name}/`).latest();
    const e = this.entries.get(name);
    if (latest === null) {
      if (e) this.evict(name, e);
      throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} was not published to ${this.bridge.location}`, {
        hint: `create it on the store (\`elacsym -d ${this.bridge.location.replace(/\/+$/, '')} init <namespace> ...\`) or publish it from a machine that holds it (\`elacsym publish <namespace> ${this.bridge.location.replace(/\/+$/, '')}\`)`,
        details: { namespace: name },
      });
    }
    // The same version number is not enough: a namespace deleted from the store and published again starts
    // over at version 1 with other contents. The record's nonce identifies the commit itself.
    if (e && e.version === latest.version && e.nonce === latest.nonce) {
      e.checkedAt = this.clock();
      e.nextCheckAt = e.checkedAt + this.r.refreshMs;
      delete e.lastError;
      return;
    }
    const handle = await openPublished(this.store, this.bridge, name, this.r.cacheDir, this.cache, { version: latest.version });
    let held: Held;
    try {
      const opts = { loadFully: true, segments: handle.segments };
      const snap = e ? Snapshot.refresh(e.held.snap, opts, handle.dir) : Snapshot.open(handle.dir, opts);
      held = { snap, ctx: new QueryContext(snap, e?.held.ctx), refs: 0, retired: false };
    } catch (err) {
      handle.close();
      throw err;
    }
    if (e) retire(e.held);
    this.entries.set(name, {
      held,
      handle,
      version: latest.version,
      nonce: latest.nonce,
      committedAt: Date.parse(latest.committed_at),
      checkedAt: this.clock(),
      nextCheckAt: this.clock() + this.r.refreshMs,
      generation: (e?.generation ?? 0) + 1,
    });
  }

  acquire(name: string): Lease {
    const e = this.entries.get(name);
    if (!e) throw new ElacsymError('INTERNAL', `published namespace ${name} acquired before ready()`);
    return leaseOf(e.held, e.generation);
  }

  stats(): WarmStats[] {
    return this.publishedStats().namespaces;
  }

  publishedStats(): PublishedStats {
    const now = this.clock();
    return {
      namespaces: [...this.entries].map(([namespace, e]) => ({
        namespace,
        generation: e.generation,
        refresh_age_s: Math.max(0, (now - e.checkedAt) / 1000),
        journal_seq: e.held.snap.journalSeq,
        version: e.version,
        manifest_age_s: Number.isFinite(e.committedAt) ? Math.max(0, (now - e.committedAt) / 1000) : 0,
        ...(e.lastError ? { last_error: e.lastError } : {}),
      })),
      cache: {
        ...this.cache.stats,
        hit_rate: this.cache.hitRate(),
        bytes: this.cache.approxBytes(),
        max_bytes: this.cache.maxBytes,
        query_hits: this.queries.hits,
        query_misses: this.queries.misses,
        query_hit_rate: this.queries.hits + this.queries.misses > 0 ? this.queries.hits / (this.queries.hits + this.queries.misses) : 0,
      },
    };
  }

  forget(name: string): void {
    const e = this.entries.get(name);
    if (e) this.evict(name, e);
  }

  close(): void {
    for (const [name, e] of [...this.entries]) this.evict(name, e);
    this.bridge.close();
  }

  private evict(name: string, e: Entry): void {
    this.entries.delete(name);
    retire(e.held);
  }
}
