/**
 * Warm and fresh snapshots for a long-lived process (the server's main thread and each query worker).
 *
 * Each namespace keeps one open Snapshot + QueryContext between requests. Freshness is checked cheaply on
 * every acquire and on a timer: a read-only connection to the manifest answers `PRAGMA data_version`
 * (it changes whenever another connection — a CLI import, a cron compaction, this server's own writer —
 * commits), and the manifest's inode tells a dropped-and-recreated namespace apart. On a change the next
 * acquire takes a new snapshot with Snapshot.refresh: unchanged segments and their warm query sources
 * carry over, only new segments are opened and only new journal entries decoded, so a refresh costs what
 * changed, not the namespace (a new namespace, or one dropped and created again, is opened whole).
 *
 * Invariants:
 * - one request uses one snapshot (a lease), so an answer never mixes two generations;
 * - `data_version` is read BEFORE the snapshot is opened: a commit racing the open makes the next check
 *   see a newer version (one extra reopen), never a missed one;
 * - under a stream of commits, reopening is rate-limited (see refresh) but a write is still seen within
 *   1 second; when writes are rare, the next request after a commit sees it;
 * - a write acknowledged by this server is seen by every request that starts after the acknowledgement:
 *   such a request carries the namespace's write fence (write-thread.ts), and a snapshot not yet known to
 *   cover that fence is refreshed without the rate limit (read your writes);
 * - a retired snapshot is closed when its last lease is released (its open file descriptors are what keep
 *   a compacted-away segment readable until then); segments and sources it shares with a newer snapshot
 *   are reference-counted and stay open for it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import { type Db, openDb } from '../storage/sqlite.js';
import { namespaceDir } from '../store/data-dir.js';
import { QueryContext } from '../store/search-sources.js';
import { Snapshot } from '../store/snapshot.js';

/** A snapshot and its query context, with the leases on it (see retire). */
export interface Held {
  snap: Snapshot;
  ctx: QueryContext;
  refs: number;
  retired: boolean;
}

interface Entry {
  dir: string;
  probe: Db;
  ino: number;
  version: number;
  held: Held;
  /**
   * The highest write fence this snapshot is known to cover: a request carrying it found data_version
   * unchanged since the snapshot was opened, or refreshed it (see refresh).
   */
  fence: number;
  /** Snapshots opened for this namespace by this process (1 = the first). */
  generation: number;
  /** When the snapshot was last confirmed current (ms since epoch). */
  checkedAt: number;
  /** When the current snapshot was opened, and how long opening it took (ms). */
  openedAt: number;
  openMs: number;
}

/** Longest a write may wait for a reopen while writes keep coming (see refresh). */
const MAX_REOPEN_GAP_MS = 500;

export interface Lease {
  readonly snap: Snapshot;
  readonly ctx: QueryContext;
  readonly generation: number;
  release(): void;
}

export interface WarmStats {
  namespace: string;
  generation: number;
  refresh_age_s: number;
  /** The journal high-water mark the current snapshot covers (Snapshot.journalSeq). */
  journal_seq: number;
}

/** What the query paths need of warm snapshots: local (WarmNamespaces) or published (PublishedWarm). */
export interface WarmSource {
  /**
   * The current snapshot of a namespace, as a lease (release it when the answer is built). `fence`: the
   * namespace's write fence when the request arrived (WriteThread.fence; 0 = none): the snapshot returned
   * covers every write acknowledged before it.
   */
  acquire(name: string, fence?: number): Lease;
  /**
   * Bring a namespace up to date before `acquire` when that needs I/O that cannot block (an object
   * store); local data directories need none and leave it undefined.
   */
  ready?(name: string): Promise<void>;
  stats(): WarmStats[];
  forget(name: string): void;
  close(): void;
}

export class WarmNamespaces implements WarmSource {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly opts: { refreshMs?: number; clock?: () => number } = {},
  ) {
    const every = opts.refreshMs ?? 250;
    if (every > 0) {
      // Keeps idle namespaces current (and old generations closed) without waiting for a request.
      this.timer = setInterval(() => this.refreshAll(), every);
      this.timer.unref();
    }
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /** The current snapshot of a namespace, reopened first if another writer committed since. */
  acquire(name: string, fence = 0): Lease {
    validateNamespaceName(name);
    let e = this.entries.get(name);
    if (e) e = this.refresh(name, e, fence);
    // A fresh open reads data_version after the acknowledged commit: it covers the fence.
    if (!e) e = this.open(name, fence);
    return leaseOf(e.held, e.generation);
  }

  stats(): WarmStats[] {
    const now = this.now();
    return [...this.entries].map(([namespace, e]) => ({
      namespace,
      generation: e.generation,
      refresh_age_s: Math.max(0, (now - e.checkedAt) / 1000),
      journal_seq: e.held.snap.journalSeq,
    }));
  }

  /** Forget a namespace (after this process dropped it). */
  forget(name: string): void {
    const e = this.entries.get(name);
    if (e) this.evict(name, e);
  }

  refreshAll(): void {
    for (const [name, e] of [...this.entries]) {
      try {
        this.refresh(name, e);
      } catch {
        // a damaged namespace is reported by the request that acquires it
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const [name, e] of [...this.entries]) this.evict(name, e);
  }

  private open(name: string, fence = 0): Entry {
    const dir = namespaceDir(this.dataDir, name);
    const path = join(dir, 'manifest.db');
    const probe = openDb(path, { readonly: true });
    try {
      const ino = statSync(path).ino;
      const version = probe.pragma('data_version', { simple: true }) as number;
      const t0 = this.now();
      const held = openHeld(dir);
      const prev = this.entries.get(name);
      const openedAt = this.now();
      const e: Entry = { dir, probe, ino, version, held, fence, generation: (prev?.generation ?? 0) + 1, checkedAt: openedAt, openedAt, openMs: openedAt - t0 };
      this.entries.set(name, e);
      return e;
    } catch (err) {
      probe.close();
      throw err;
    }
  }

  /**
   * Returns the entry, current; or undefined when the namespace must be opened afresh. `fence` > e.fence:
   * the request started after this server acknowledged a write the snapshot may not cover, so a change
   * is taken now, not rate-limited. (data_version is read here, after that write committed: unchanged
   * means the snapshot already has it.)
   */
  private refresh(name: string, e: Entry, fence = 0): Entry | undefined {
    let ino: number;
    try {
      ino = statSync(join(e.dir, 'manifest.db')).ino;
    } catch {
      this.evict(name, e);
      throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${this.dataDir}`, { details: { namespace: name } });
    }
    if (ino !== e.ino) {
      // dropped and created again: a different database file; keep the generation count going
      const gen = e.generation;
      this.evict(name, e);
      const fresh = this.open(name, fence);
      fresh.generation = gen + 1;
      return fresh;
    }
    const version = e.probe.pragma('data_version', { simple: true }) as number;
    if (version !== e.version) {
      // A busy writer (an import committing a batch every few ms) must not turn every query into a
      // snapshot open: reopen at most once per 4x the last open's cost (capped at MAX_REOPEN_GAP_MS),
      // so opening takes at most ~20% of the time. The stale snapshot is still one whole generation, and
      // the timer retries, so a write is seen within MAX_REOPEN_GAP_MS + the refresh period (< 1 s).
      const now = this.now();
      if (fence <= e.fence && now - e.openedAt < Math.min(MAX_REOPEN_GAP_MS, 4 * e.openMs)) return e;
      // Incremental: unchanged segments (and their warm sources) carry over from the current snapshot,
      // which is still open here; only new segments are opened and only new journal entries decoded.
      const held = refreshHeld(e.held);
      retire(e.held);
      e.held = held;
      e.version = version;
      e.generation++;
      e.openedAt = this.now();
      e.openMs = e.openedAt - now;
    }
    if (fence > e.fence) e.fence = fence;
    e.checkedAt = this.now();
    return e;
  }

  private evict(name: string, e: Entry): void {
    this.entries.delete(name);
    retire(e.held);
    try {
      e.probe.close();
    } catch {
      // closing a read-only probe cannot lose data
    }
  }
}

function openHeld(dir: string): Held {
  // loadFully: index files are read whole and checksummed once, then answer many queries from memory.
  const snap = Snapshot.open(dir, { loadFully: true });
  return { snap, ctx: new QueryContext(snap), refs: 0, retired: false };
}

function refreshHeld(prev: Held): Held {
  const snap = Snapshot.refresh(prev.snap, { loadFully: true });
  return { snap, ctx: new QueryContext(snap, prev.ctx), refs: 0, retired: false };
}

/** A lease on `held` (released once; the last release of a retired snapshot closes it). */
export function leaseOf(held: Held, generation: number): Lease {
  held.refs++;
  let released = false;
  return {
    snap: held.snap,
    ctx: held.ctx,
    generation,
    release: () => {
      if (released) return;
      released = true;
      held.refs--;
      if (held.retired && held.refs === 0) closeHeld(held);
    },
  };
}

/** Marks a snapshot replaced: it closes when its last lease is released (now, if it has none). */
export function retire(h: Held): void {
  h.retired = true;
  if (h.refs === 0) closeHeld(h);
}

function closeHeld(h: Held): void {
  h.ctx.release();
  h.snap.close();
}
