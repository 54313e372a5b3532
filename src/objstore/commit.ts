/**
 * The commit protocol on an object store, needing nothing but `putIfAbsent` (docs/object-storage.md).
 *
 * A namespace's history is a chain of immutable manifest objects under `<prefix>manifest/`, one per version,
 * named by the zero-padded version number so that listing order is version order:
 *
 *   <prefix>manifest/00000000000000000001.json  {format, version: 1, epoch, nonce, parent: 0, payload}
 *   <prefix>manifest/00000000000000000002.json  {..., version: 2, parent: 1, ...}
 *
 * Invariants:
 * - Committing version N+1 = creating its manifest object with putIfAbsent. Whoever creates it has
 *   committed; anyone else gets 'exists', re-reads the latest version and retries or stops. So exactly one
 *   writer wins each version, with no lock and no If-Match.
 * - Every record carries the writer's epoch. A writer takes over a namespace by committing a version with
 *   the latest epoch + 1 (`claim`). A writer whose epoch is below the latest record's is fenced: it may not
 *   commit again (BUSY, details.reason 'fenced'); it must claim anew, which re-reads everything.
 * - An ambiguous outcome of the create (timeout, reset, 5xx: STORE_UNAVAILABLE, or any unexpected failure;
 *   or 'exists', which a retried request reports when its first attempt had in fact succeeded) is resolved
 *   by reading version N+1 back: it is ours exactly when it carries our per-commit random nonce. While
 *   nothing is there, the create is re-sent with the same bytes, so a request that lands late can only
 *   ever publish this same record.
 * - The latest version is found by listing (the highest key). A `<prefix>latest` hint object, written
 *   after each commit, only says where the listing may start; it is never trusted alone.
 */
import { randomBytes } from 'node:crypto';
import { ElacsymError, isElacsymError } from '../errors.js';
import type { ObjectStore } from './object-store.js';

export const MANIFEST_FORMAT = 1;
const DIGITS = 20;

export interface ManifestRecord<P> {
  format: number;
  version: number;
  epoch: number;
  /** Random per commit attempt: identifies the writer's record when the outcome of its create is unknown. */
  nonce: string;
  /** The version this one was built on (version - 1; 0 for the first). */
  parent: number;
  committed_at: string;
  payload: P;
}

export interface CommitLogOptions {
  /** A fresh random nonce per commit (injected by tests). */
  nonce?: () => string;
  clock?: () => Date;
  /** Creates re-sent while the outcome stays unknown and nothing is found (default 3). */
  ambiguousRetries?: number;
  /**
   * Milliseconds to wait before re-send `n` (1, 2, ...) of an unknown outcome: default 250 * 4^(n-1)
   * (0.25, 1 and 4 s: a store that blinks gets ~5 s to answer, not the ~1 s of back-to-back re-sends a
   * tester saw give up on a version that was in fact committed).
   */
  retryDelayMs?: (n: number) => number;
  /** Write the `latest` hint after each commit (default true). */
  writeHint?: boolean;
}

export type CommitOutcome<P> = { record: ManifestRecord<P>; resolvedByReadBack: boolean };

/** True for failures after which a create may or may not have happened. */
function isAmbiguous(e: unknown): boolean {
  return isElacsymError(e, 'STORE_UNAVAILABLE') || !(e instanceof ElacsymError);
}

export class CommitLog<P> {
  readonly manifestPrefix: string;
  readonly hintKey: string;
  private readonly nonce: () => string;
  private readonly clock: () => Date;
  private readonly ambiguousRetries: number;
  private readonly retryDelayMs: (n: number) => number;
  private readonly writeHint: boolean;

  /** `prefix` is '' or ends with '/': the namespace's place in the store. */
  constructor(
    readonly store: ObjectStore,
    readonly prefix: string,
    o: CommitLogOptions = {},
  ) {
    this.manifestPrefix = `${prefix}manifest/`;
    this.hintKey = `${prefix}latest`;
    this.nonce = o.nonce ?? (() => randomBytes(16).toString('hex'));
    this.clock = o.clock ?? (() => new Date());
    this.ambiguousRetries = o.ambiguousRetries ?? 3;
    this.retryDelayMs = o.retryDelayMs ?? ((n) => 250 * 4 ** (n - 1));
    this.writeHint = o.writeHint ?? true;
  }

  manifestKey(version: number): string {
    return `${this.manifestPrefix}${String(version).padStart(DIGITS, '0')}.json`;
  }

  /** The version a manifest key names, or null for a key that is not a manifest. */
  versionOf(key: string): number | null {
    if (!key.startsWith(this.manifestPrefix)) return null;
    const m = /^(\d{20})\.json$/.exec(key.slice(this.manifestPrefix.length));
    if (!m) return null;
    const v = Number(m[1]);
    // A version past 2^53 cannot be named back exactly (its key would read as another one): damage, or
    // a key put there by hand; taking it for the latest made the namespace look empty.
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new ElacsymError('CORRUPT_MANIFEST', `manifest key ${key} on ${this.store.location} names no valid version`, { details: { path: key } });
    }
    return v;
  }

  /** Read one version; null when it does not exist. CORRUPT_MANIFEST when its bytes are not a record of it. */
  async read(version: number): Promise<ManifestRecord<P> | null> {
    const key = this.manifestKey(version);
    const bytes = await this.store.get(key);
    if (bytes === null) return null;
    let rec: ManifestRecord<P>;
    try {
      rec = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)) as ManifestRecord<P>;
    } catch (e) {
      throw new ElacsymError('CORRUPT_MANIFEST', `manifest ${key} on ${this.store.location} is not valid JSON`, { cause: e, details: { path: key } });
    }
    if (
      typeof rec !== 'object' ||
      rec === null ||
      rec.version !== version ||
      !Number.isSafeInteger(rec.epoch) ||
      rec.epoch < 1 ||
      typeof rec.nonce !== 'string' ||
      rec.parent !== version - 1
    ) {
      throw new ElacsymError('CORRUPT_MANIFEST', `manifest ${key} on ${this.store.location} is not the record of version ${version}`, { details: { path: key } });
    }
    if (rec.format > MANIFEST_FORMAT) {
      throw new ElacsymError('FORMAT_TOO_NEW', `manifest ${key} has format ${rec.format}; this elacsym reads up to ${MANIFEST_FORMAT}`, { details: { path: key } });
    }
    return rec;
  }

  /**
   * The latest committed version, or null when nothing was ever committed. Lists the manifest keys (from
   * just before the hinted version when a hint exists: a shorter listing) and reads the highest one.
   */
  async latest(): Promise<ManifestRecord<P> | null> {
    const hinted = await this.readHint();
    if (hinted !== null && hinted > 0) {
      // Keys after the hinted version's predecessor: the hinted one itself and anything newer.
      const keys = await this.store.list(this.manifestPrefix, { startAfter: this.manifestKey(hinted - 1) });
      const top = this.highest(keys);
      // The hinted version must exist: a hint pointing past the real history (a damaged or foreign hint)
      // falls back to the full listing below.
      if (top !== null && top >= hinted) {
        const rec = await this.read(top);
        if (rec) return rec;
      }
    }
    const top = this.highest(await this.store.list(this.manifestPrefix));
    if (top === null) return null;
    const rec = await this.read(top);
    // Listed but gone: manifests are never deleted (the newest least of all), so this is damage, not
    // an empty namespace.
    if (!rec) throw new ElacsymError('CORRUPT_MANIFEST', `manifest ${this.manifestKey(top)} on ${this.store.location} is listed but cannot be read`, { details: { path: this.manifestKey(top) } });
    return rec;
  }

  private highest(keys: string[]): number | null {
    let top: number | null = null;
    for (const k of keys) {
      const v = this.versionOf(k);
      if (v !== null && (top === null || v > top)) top = v;
    }
    return top;
  }

  private async readHint(): Promise<number | null> {
    try {
      const b = await this.store.get(this.hintKey);
      if (b === null) return null;
      const v = (JSON.parse(new TextDecoder().decode(b)) as { version?: unknown }).version;
      return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
    } catch (e) {
      // The hint is only an optimisation: unreadable or damaged, it is ignored (store errors still surface
      // on the listing that follows).
      if (isElacsymError(e) && e.code !== 'INTERNAL' && e.code !== 'STORE_UNAVAILABLE') throw e;
      return null;
    }
  }

  /**
   * Try to commit version `base.version + 1` (1 without a base) with this epoch, on top of `base`, the
   * latest record the caller read. Resolves with the record when this call created it;
   * throws BUSY (details.reason 'race', or 'fenced' when the winner's epoch is above ours) when another
   * writer created it; STORE_UNAVAILABLE when the outcome stays unknown after the bounded retries (the
   * record may still appear later; it then carries this nonce and is a valid commit).
   */
  async commitVersion(base: ManifestRecord<P> | null, epoch: number, payload: P): Promise<CommitOutcome<P>> {
    // The epoch never goes down along the chain: a writer whose epoch is below its base's was replaced.
    if (base && base.epoch > epoch) {
      throw new ElacsymError('BUSY', `another writer took over ${this.prefix || 'the store'} (epoch ${base.epoch} > ${epoch})`, {
        hint: 'this writer was replaced; reopen the namespace to write again',
        details: { reason: 'fenced', version: base.version, epoch, winner_epoch: base.epoch },
      });
    }
    const parent = base?.version ?? 0;
    const version = parent + 1;
    const key = this.manifestKey(version);
    const record: ManifestRecord<P> = { format: MANIFEST_FORMAT, version, epoch, nonce: this.nonce(), parent, committed_at: this.clock().toISOString(), payload };
    const bytes = new TextEncoder().encode(`${JSON.stringify(record)}\n`);
    let lastError: unknown;
    const t0 = Date.now();
    for (let attempt = 0; attempt <= this.ambiguousRetries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.retryDelayMs(attempt)));
      let outcome: 'created' | 'exists' | 'unknown';
      try {
        outcome = await this.store.putIfAbsent(key, bytes);
      } catch (e) {
        if (!isAmbiguous(e)) throw e;
        lastError = e;
        outcome = 'unknown';
      }
      if (outcome === 'created') {
        await this.hint(version);
        return { record, resolvedByReadBack: false };
      }
      // 'exists' or unknown: whose record is version N+1? Only our nonce makes it ours.
      let found: ManifestRecord<P> | null;
      try {
        found = await this.read(version);
      } catch (e) {
        if (!isAmbiguous(e)) throw e;
        lastError = e;
        continue;
      }
      if (found?.nonce === record.nonce) {
        await this.hint(version);
        return { record, resolvedByReadBack: true };
      }
      if (found) {
        const fenced = found.epoch > epoch;
        throw new ElacsymError('BUSY', fenced ? `another writer took over ${this.prefix || 'the store'} (epoch ${found.epoch} > ${epoch})` : `another writer committed version ${version} first`, {
          hint: fenced ? 'this writer was replaced; reopen the namespace to write again' : 'another process is writing this namespace; re-read and retry, or retry later',
          details: { reason: fenced ? 'fenced' : 'race', version, epoch, winner_epoch: found.epoch },
        });
      }
      // 'exists' but nothing readable: a concurrent delete (garbage collection must never delete manifests
      // that are not superseded) or a listing lag; retried like an unknown outcome.
    }
    throw new ElacsymError('STORE_UNAVAILABLE', `the outcome of committing version ${version} on ${this.store.location} is unknown after ${this.ambiguousRetries + 1} attempts over ${((Date.now() - t0) / 1000).toFixed(1)} s`, {
      cause: lastError,
      hint: 'the object store did not answer; retry later: the next writer or reader sees whether this version was committed',
      details: { version, nonce: record.nonce },
    });
  }

  /** Best effort: the hint is never trusted, so failing to write it never fails a commit. */
  private async hint(version: number): Promise<void> {
    if (!this.writeHint) return;
    try {
      await this.store.put(this.hintKey, new TextEncoder().encode(`${JSON.stringify({ version })}\n`));
    } catch {
      // ignored on purpose (see above)
    }
  }

  /**
   * Become the writer: commit a version carrying the latest epoch + 1 (and the latest payload, or `initial`
   * when nothing was committed). Every writer of the previous epoch is fenced from then on. Retries when
   * another commit lands meanwhile (bounded by `maxAttempts`).
   */
  async claim(initial: P, maxAttempts = 10): Promise<Writer<P>> {
    for (let i = 0; i < maxAttempts; i++) {
      const latest = await this.latest();
      const epoch = (latest?.epoch ?? 0) + 1;
      try {
        const { record } = await this.commitVersion(latest, epoch, latest ? latest.payload : initial);
        return new Writer(this, record);
      } catch (e) {
        if (isElacsymError(e, 'BUSY')) continue; // someone committed meanwhile: re-read, claim above them
        throw e;
      }
    }
    throw new ElacsymError('BUSY', `could not claim ${this.prefix || 'the store'} in ${maxAttempts} attempts: other writers keep committing`);
  }
}

/**
 * A writer holding an epoch. `commit(build)` re-reads the latest version, refuses when a newer epoch holds
 * the namespace, builds the payload from the latest record and tries to create the next version; on a lost
 * race (same epoch: cooperating processes of one writer) it re-reads and retries, up to `maxAttempts`.
 */
export class Writer<P> {
  constructor(
    readonly log: CommitLog<P>,
    private last: ManifestRecord<P>,
  ) {}

  get epoch(): number {
    return this.last.epoch;
  }

  get version(): number {
    return this.last.version;
  }

  async commit(build: (latest: ManifestRecord<P>) => P, maxAttempts = 10): Promise<CommitOutcome<P>> {
    const epoch = this.epoch;
    let base = this.last;
    for (let i = 0; i < maxAttempts; i++) {
      try {
        const out = await this.log.commitVersion(base, epoch, build(base));
        this.last = out.record;
        return out;
      } catch (e) {
        if (!isElacsymError(e, 'BUSY') || e.details.reason === 'fenced') throw e;
      }
      // Lost the race: the loser re-reads, and stops if the winner fenced it.
      const latest = await this.log.latest();
      if (!latest) throw new ElacsymError('CORRUPT_MANIFEST', `${this.log.manifestPrefix} lost its manifests while a writer held it`);
      if (latest.epoch > epoch) {
        throw new ElacsymError('BUSY', `another writer took over (epoch ${latest.epoch} > ${epoch})`, {
          hint: 'this writer was replaced; reopen the namespace to write again',
          details: { reason: 'fenced', version: latest.version, epoch, winner_epoch: latest.epoch },
        });
      }
      base = latest;
    }
    throw new ElacsymError('BUSY', `no commit after ${maxAttempts} attempts: other writers keep committing`, { details: { reason: 'race', epoch } });
  }
}

/** Open a writer at an epoch already held (cooperating processes of one writer; tests of races). */
export async function joinWriter<P>(log: CommitLog<P>): Promise<Writer<P>> {
  const latest = await log.latest();
  if (!latest) throw new ElacsymError('NAMESPACE_NOT_FOUND', `nothing committed under ${log.manifestPrefix} on ${log.store.location}`);
  return new Writer(log, latest);
}
