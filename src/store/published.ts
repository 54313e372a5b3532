/**
 * Namespaces published to an object store, and read from it by any number of machines (issue 14, first
 * step: the reading side and one publishing writer; `import` and the other writing commands on `s3://` come
 * next, see docs/object-storage.md).
 *
 * Layout under a data directory URL `s3://bucket/prefix/`, per namespace `<ns>/`:
 *
 *   <ns>/manifest/<version>.json   the commit log (commit.ts), payload: PublishedNamespace
 *   <ns>/latest                    its hint (never trusted alone)
 *   <ns>/state/<sha256>.db         the namespace's manifest database as of one consistent snapshot (schema,
 *                                  segment list with sizes and CRC-32s, id map, deleted rows, pending
 *                                  journal): a SQLite file, which the engine reads as it reads a local one
 *   <ns>/segments/<name>           the segment and index files, under their local names
 *
 * Publishing (`publishNamespace`), with what a crash after each step leaves behind:
 *   1. a local backup of the namespace into a temporary directory (store/backup.ts: one read snapshot,
 *      every file verified against the manifest's CRC-32; hard links, so no copy on the same file system)
 *                                              -> a temporary directory, swept by the next publish
 *   2. each segment file created if absent; one already there must hold the same bytes (size and MD5, the
 *      ETag of a single-part upload), else the prefix belongs to other data: CONFLICT, nothing committed
 *                                              -> objects no version references (harmless; see GC)
 *   3. the state database, named by its SHA-256 (created if absent)
 *   4. garbage collection (below), then the commit: version N+1 with the next writer epoch (fencing earlier
 *      publishers), re-read and retried when another commit lands first. Readers see the old version until
 *      this create succeeds, then the new one, whole. Last, the temporary directory is removed.
 *
 * Reading (`openPublished`): the latest version (or a given one), its state database fetched once into the
 * local cache directory (immutable, verified by its SHA-256 on every open), and a SegmentStore that reads
 * the segment objects by range through the shared range cache (objstore/range-cache.ts), every byte
 * verified by the engine's own checksums as on a local disk.
 *
 * Garbage collection: objects under segments/ and state/ that only versions superseded more than
 * `gcGraceMs` ago reference are deleted (a reader that resolved such a version has had that long to finish
 * with it); never those of the latest version (live until the commit) or of the new one. Each version
 * records how far collection got (`gc_floor`), so a publish reads only the versions above it. Objects no
 * version references (uploads of a writer killed before its commit) are deleted once they are older than
 * the grace period and at least an hour (collectOrphans): a younger one may be a live writer's upload
 * about to be committed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ElacsymError, type ErrorCode, isElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import { FORMAT_VERSION, getMeta, journalHighWater } from '../storage/manifest.js';
import { openDb } from '../storage/sqlite.js';
import { ObjectSegmentStore } from '../storage/object-segment-store.js';
import { backupNamespace, readBackupMarker } from './backup.js';
import { checkNamespace } from './health.js';
import { pidAlive } from './data-dir.js';
import { isEnvError, toEnvError } from '../util/env-error.js';
import { crc32 } from '../util/crc32.js';
import { failpoint, failpointPause } from '../util/failpoint.js';
import { CommitLog, type ManifestRecord } from '../objstore/commit.js';
import type { ObjectStore } from '../objstore/object-store.js';
import type { RangeCache } from '../objstore/range-cache.js';
import type { SyncObjectStore } from '../objstore/sync-store.js';

/** The payload of a published namespace's manifest version. */
export interface PublishedNamespace {
  kind: 'elacsym-namespace';
  /** The data format version of the state database and segment files (storage/manifest.ts). */
  format_version: number;
  state: { key: string; bytes: number; sha256: string };
  segments: { name: string; bytes: number; crc32: number }[];
  /** Journal entries (acknowledged batches) still pending in the published state. */
  journal_entries: number;
  /**
   * Where it was published from: `namespace_id` identifies the namespace (its manifest's, or for one
   * created before ids existed `created:<ms>`); host and path are for people reading the manifest.
   */
  source: { namespace_id: string; host: string; path: string };
  /**
   * How far the local namespace had come when the snapshot was taken: its journal's sequence high-water
   * mark and its next segment id, both only ever growing. A publish never commits a snapshot older than the
   * latest version's (two publishes that overlap: the one that snapshotted first must not win last).
   */
  position?: { journal_seq: number; next_segment_id: number };
  /**
   * Versions below this one have no objects of their own left (garbage collection got that far); the
   * next collection starts here instead of at version 1.
   */
  gc_floor?: number;
  /**
   * Per writer id (`<ms>-<hex>`), the highest sequence of its journal objects this version's state holds
   * (store/remote-journal.ts).
   */
  journal_applied?: Record<string, number>;
  /** The sharded import job this version committed (`import --shard I/N --job NAME`; store/shards.ts). */
  job?: string;
}

export interface PublishOptions {
  /**
   * Commit only on top of this version (0: only when nothing is published yet): a writer working from a
   * checked-out version (store/checkout.ts) must not commit over one committed after it. A newer latest
   * version is BUSY with details.reason 'race' and nothing is committed.
   */
  expectBase?: number;
  /**
   * Aborted (SIGINT, SIGTERM): the publish stops before its next upload or before the commit, deletes the
   * segment objects it created when a working copy's (expectBase), and throws INTERRUPTED: nothing
   * committed. Once the commit has begun, it completes.
   */
  signal?: AbortSignal;
  /** Ends a pause at the fail point `publish:before-commit=pause` (tests: a race after the uploads). */
  resume?: AbortSignal;
  /** Test hook: runs after the uploads, before the commit (to overlap two publishes deterministically). */
  hooks?: { beforeCommit?: () => Promise<void> };
  /** Recorded in the version (PublishedNamespace.job): the sharded import job it commits. */
  job?: string;
  /** Recorded as the version's source.path (default: the local namespace's directory); a working copy's writer names the URL. */
  sourcePath?: string;
  /** Recorded in the version (PublishedNamespace.journal_applied). */
  journalApplied?: Record<string, number>;
  /** Versions superseded longer ago than this may lose their objects (default 15 minutes). */
  gcGraceMs?: number;
  clock?: () => number;
  /** Called after each object is handled (uploaded or found present), for progress. */
  onObject?: (e: { key: string; bytes: number; uploaded: boolean }) => void;
}

export interface PublishReport {
  namespace: string;
  location: string;
  version: number;
  epoch: number;
  segments: number;
  journal_entries: number;
  objects_uploaded: number;
  bytes_uploaded: number;
  objects_present: number;
  objects_deleted: number;
  /** Objects found damaged in the store (other bytes under a name this namespace uses) and written again. */
  objects_repaired: number;
  /** 'unchanged' when no version was committed: the latest version holds this very state (`version` is its). */
  skipped?: 'unchanged';
}

const DEFAULT_GC_GRACE_MS = 15 * 60 * 1000;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** The SHA-256 (hex) a version records for its state database. */
export const stateDigest = sha256;
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
/** S3's ETag of a single-part upload is the quoted MD5 of the bytes (radosgw and AWS alike). */
const etagIsMd5 = (etag: string, hex: string) => etag.replace(/"/g, '').toLowerCase() === hex;

/**
 * Temporary snapshots of earlier publishes whose process is gone: `<prefix><pid>-<ms>`, and the backup's
 * own unfinished `.<prefix><pid>-<ms>.tmp-<pid>` (a publish killed while the snapshot was being taken).
 * Best effort.
 */
function sweepTemps(parent: string, prefix: string): void {
  try {
    for (const e of readdirSync(parent)) {
      const rest = e.startsWith(prefix) ? e.slice(prefix.length) : e.startsWith(`.${prefix}`) ? e.slice(prefix.length + 1) : null;
      if (rest === null) continue;
      const pid = Number(rest.split('-')[0]);
      if (pid && pidAlive(pid)) continue;
      rmSync(join(parent, e), { recursive: true, force: true });
    }
  } catch {
    // best effort
  }
}

/** A key's full name, for messages (the store's location may end with a slash). */
const at = (store: ObjectStore, key: string) => `${store.location.replace(/\/$/, '')}/${key}`;

/** The place of namespace `ns` under a store (keys are relative to the store's own prefix). */
export function namespacePrefix(ns: string): string {
  validateNamespaceName(ns);
  return `${ns}/`;
}

/** A version's payload, checked (CORRUPT_MANIFEST, FORMAT_TOO_NEW/OLD otherwise); `where` names it in errors. */
/** The oldest data format a published namespace may hold (storage format 2: segments readable by range). */
const MIN_PUBLISHED_FORMAT = 4;

export function checkPublishedPayload(p: unknown, where: string): PublishedNamespace {
  const bad = (why: string) => new ElacsymError('CORRUPT_MANIFEST', `${where}: ${why}`, { details: { path: where } });
  if (typeof p !== 'object' || p === null) throw bad('no payload');
  const x = p as Partial<PublishedNamespace>;
  if (x.kind !== 'elacsym-namespace') throw bad('not an elacsym namespace');
  if (typeof x.format_version !== 'number') throw bad('no format version');
  if (x.format_version > FORMAT_VERSION) {
    throw new ElacsymError('FORMAT_TOO_NEW', `${where} holds data format ${x.format_version}; this elacsym reads ${FORMAT_VERSION}`);
  }
  // Format 5 only adds position-less postings to format 4: a format 4 namespace is read as it is.
  if (x.format_version < MIN_PUBLISHED_FORMAT) {
    throw new ElacsymError('FORMAT_TOO_OLD', `${where} holds data format ${x.format_version}; this elacsym reads ${MIN_PUBLISHED_FORMAT} to ${FORMAT_VERSION}`, {
      hint: 'publish the namespace again with this elacsym (after `elacsym compact` converts it locally)',
    });
  }
  const s = x.state;
  if (!s || typeof s.key !== 'string' || typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256) || !Number.isSafeInteger(s.bytes)) throw bad('invalid state entry');
  if (!Array.isArray(x.segments)) throw bad('invalid segment list');
  if (x.gc_floor !== undefined && (!Number.isSafeInteger(x.gc_floor) || x.gc_floor < 1)) throw bad('invalid gc_floor');
  const pos = x.position;
  if (pos !== undefined && (typeof pos !== 'object' || pos === null || !Number.isSafeInteger(pos.journal_seq) || !Number.isSafeInteger(pos.next_segment_id))) throw bad('invalid position');
  const ja = x.journal_applied;
  if (ja !== undefined && (typeof ja !== 'object' || ja === null || Array.isArray(ja) || !Object.entries(ja).every(([k, n]) => /^\d{13}-[0-9a-f]{8}$/.test(k) && Number.isSafeInteger(n) && n >= 1))) throw bad('invalid journal_applied');
  for (const g of x.segments) {
    if (typeof g?.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(g.name) || !Number.isSafeInteger(g.bytes) || !Number.isSafeInteger(g.crc32)) throw bad('invalid segment entry');
  }
  return x as PublishedNamespace;
}

/**
 * Publish the current state of local namespace `name` (directory `nsDir`) to `store` as its next version.
 * Writers and readers of the local namespace go on meanwhile; the version holds every document
 * acknowledged before the publish started.
 *
 * Errors: NAMESPACE_NOT_FOUND (no such local namespace), PREFIX_CONFLICT (the name is published there
 * from another namespace, or the prefix holds other bytes under a segment's name than this namespace's
 * file and the latest version's record), BUSY with details.reason 'newer' (a newer state of the namespace
 * is published: nothing was), BUSY (other publishers kept committing), the store's own errors
 * (STORE_UNAVAILABLE, STORE_ACCESS_DENIED, BUCKET_NOT_FOUND), CORRUPT_SEGMENT (a local file failed its
 * checksum: nothing damaged is published).
 */
export async function publishNamespace(nsDir: string, name: string, store: ObjectStore, opts: PublishOptions = {}): Promise<PublishReport> {
  const clock = opts.clock ?? Date.now;
  const grace = opts.gcGraceMs ?? DEFAULT_GC_GRACE_MS;
  const prefix = namespacePrefix(name);
  if (!existsSync(join(nsDir, 'manifest.db'))) {
    throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${dirname(nsDir)}`, { details: { namespace: name } });
  }
  // 1. A consistent local snapshot, beside the data directory (hard links) when we may write there.
  const tag = `.elacsym-publish-${name}-`;
  const dataParent = dirname(resolve(dirname(nsDir)));
  let parent = dataParent;
  try {
    statSync(parent);
    sweepTemps(parent, tag);
  } catch {
    parent = tmpdir();
  }
  let tmp = join(parent, `${tag}${process.pid}-${Date.now()}`);
  try {
    await backupNamespace(nsDir, name, tmp);
  } catch (e) {
    if (parent === tmpdir() || !isEnvWriteError(e)) throw e;
    // the data directory's parent is not writable: a copy under the system's temporary directory
    sweepTemps(tmpdir(), tag);
    tmp = join(tmpdir(), `${tag}${process.pid}-${Date.now()}`);
    await backupNamespace(nsDir, name, tmp);
  }
  try {
    const marker = readBackupMarker(tmp);
    const { namespaceId, position } = snapshotFacts(join(tmp, 'manifest.db'));
    // Nothing damaged is published: the snapshot's files passed their CRC-32s in the backup; its manifest
    // (id map against the segments' ids, deleted rows) and pending journal entries are checked here, as
    // `health --deep` does, so one machine's damage does not reach every query machine.
    const health = checkNamespace(tmp, name, { deep: true });
    const damage = health.problems.find((x) => x.severity === 'corrupt');
    if (damage) {
      const code: ErrorCode = damage.code === 'CORRUPT_JOURNAL' || damage.code === 'CORRUPT_SEGMENT' ? damage.code : 'CORRUPT_MANIFEST';
      throw new ElacsymError(code, `namespace ${name} is damaged, nothing was published: ${damage.message}`, { hint: `run \`elacsym health ${name} --deep\``, details: { namespace: name } });
    }
    const log = new CommitLog<PublishedNamespace>(store, prefix);
    // Another namespace published under this name is not replaced by accident (checked again at the commit).
    const checkOwner = (latest: ManifestRecord<PublishedNamespace>) => {
      const src = checkPublishedPayload(latest.payload, log.manifestKey(latest.version)).source;
      const theirs = src?.namespace_id;
      // A version written before namespaces had an id is this namespace's only when it came from the very
      // same place (host and data directory); anything else would be replaced without a word.
      const same = theirs === undefined ? src?.host === hostname() && src?.path === resolve(nsDir) : theirs === namespaceId;
      if (!same) {
        throw new ElacsymError('PREFIX_CONFLICT', `${at(store, prefix)} holds namespace ${name} published from another namespace (${theirs ?? 'unknown'}), not from this one (${namespaceId})`, {
          hint: `publish under another prefix, or delete ${at(store, prefix)} from the store first`,
          details: { path: prefix },
        });
      }
    };
    const raced = (latest: ManifestRecord<PublishedNamespace> | null) =>
      new ElacsymError('BUSY', `another writer committed version ${latest?.version} of ${name} to ${at(store, prefix)} while this command ran on version ${opts.expectBase}: nothing from this run was committed`, {
        hint: 'run the command again: it starts from the latest version',
        details: { reason: 'race', version: latest?.version ?? 0 },
      });
    const before = await log.latest();
    if (opts.expectBase !== undefined && (before?.version ?? 0) !== opts.expectBase) throw raced(before);
    if (before) checkOwner(before);
    /** What the latest version records for each segment file name (a repair must write exactly that). */
    const recorded = new Map((before?.payload.segments ?? []).map((g) => [`${prefix}segments/${g.name}`, g]));
    /** Why not to commit over `latest`: it holds a newer state of this namespace, or this very one. */
    const skipOver = (latest: ManifestRecord<PublishedNamespace> | null, stateSha: string | null): 'newer' | 'unchanged' | undefined => {
      const theirs = latest?.payload.position;
      if (!latest || !theirs) return undefined;
      if (theirs.journal_seq > position.journal_seq || theirs.next_segment_id > position.next_segment_id) return 'newer';
      if (stateSha !== null && latest.payload.state.sha256 === stateSha) return 'unchanged';
      return undefined;
    };
    const newerError = (latest: ManifestRecord<PublishedNamespace>) => {
      // Written from elsewhere (a writer on the store itself, `-d s3://...`, or a copy of this namespace on
      // another machine): the store's namespace has moved on from this copy, and publishing again can never
      // succeed (a tester's cron job retried BUSY forever). Only a publish of this very directory is a race
      // that another publish resolves.
      const src = latest.payload.source;
      const fromHere = src?.host === hostname() && src?.path === (opts.sourcePath ?? resolve(nsDir));
      if (!fromHere && opts.expectBase === undefined) {
        const where = src ? `${src.path.startsWith('s3://') ? 'by a writer on the store' : 'from'} ${src.path}${src.host !== hostname() ? ` on ${src.host}` : ''}` : 'elsewhere';
        return new ElacsymError('PREFIX_CONFLICT', `${at(store, prefix)} holds version ${latest.version} of ${name}, committed ${where}: a newer state than this copy, which publishing this copy would undo; nothing was published`, {
          hint: `write to the store's copy directly (\`elacsym -d ${at(store, prefix).replace(/\/[^/]*\/?$/, '')} import ${name} ...\`), or publish this copy under another prefix`,
          details: { reason: 'diverged', version: latest.version, path: prefix },
        });
      }
      return new ElacsymError('BUSY', `${at(store, prefix)} holds version ${latest.version}, a newer state of ${name} than this snapshot: nothing was published`, {
        hint: 'another publish of this namespace committed first (publish again to publish what is here now); if this namespace was restored from an older backup, publish it under another prefix',
        details: { reason: 'newer', version: latest.version },
      });
    };
    const skipped = (latest: ManifestRecord<PublishedNamespace>, why: NonNullable<PublishReport['skipped']>): PublishReport => ({
      namespace: name,
      location: at(store, prefix),
      version: latest.version,
      epoch: latest.epoch,
      segments: latest.payload.segments.filter((g) => g.name.endsWith('.idx')).length,
      journal_entries: latest.payload.journal_entries,
      objects_uploaded: uploaded,
      bytes_uploaded: uploadedBytes,
      objects_present: present,
      objects_deleted: 0,
      objects_repaired: repaired,
      skipped: why,
    });
    const stateBytes = readFileSync(join(tmp, 'manifest.db'));
    const stateDigest = sha256(stateBytes);
    let uploaded = 0;
    let uploadedBytes = 0;
    let present = 0;
    let repaired = 0;
    // A newer state is there already: nothing is uploaded, and nothing is published (exit 75: this publish
    // did not do what it was asked). An unchanged one still has its objects checked below, so publishing
    // again repairs a damaged object, before the commit is skipped.
    if (skipOver(before, null) === 'newer') throw newerError(before!);
    const put = async (key: string, bytes: Uint8Array, sameBytes: (etag: string) => boolean): Promise<void> => {
      let created = false;
      const info = await store.head(key);
      if (info === null) created = (await store.putIfAbsent(key, bytes)) === 'created';
      if (!created) {
        const now = info ?? (await store.head(key));
        // The ETag is the MD5 of a single-part upload only (not of a multipart copy, nor under SSE-KMS):
        // when it does not match, the bytes themselves are compared.
        if (now === null || now.size !== bytes.length || !sameBytes(now.etag)) {
          const there = now === null ? null : await store.get(key);
          if (there === null || !Buffer.from(there.buffer, there.byteOffset, there.byteLength).equals(bytes)) {
            // A damaged object is written again only when the latest version names it with exactly these
            // bytes (size and CRC-32, or the state's digest in its own name): readers of that version then
            // get what it promised. Other bytes under a name the latest records differently (a namespace
            // restored from an older backup that went on writing) or does not record: never overwritten, a
            // reader of any version could be relying on them.
            const rec = recorded.get(key);
            const isState = key.startsWith(`${prefix}state/`);
            if (!isState && !(rec !== undefined && rec.bytes === bytes.length && rec.crc32 === crc32(bytes))) {
              throw new ElacsymError('PREFIX_CONFLICT', `${at(store, key)} exists with other bytes than this namespace's file of that name: the published namespace and this one have diverged (restored from an older backup?), or the prefix holds other data`, {
                hint: `publish under another prefix, or delete ${at(store, prefix)} from the store first`,
                details: { path: key },
              });
            }
            await store.put(key, bytes);
            repaired++;
            opts.onObject?.({ key, bytes: bytes.length, uploaded: true });
            return;
          }
        }
        present++;
      } else {
        uploaded++;
        uploadedBytes += bytes.length;
        createdKeys.push(key);
      }
      opts.onObject?.({ key, bytes: bytes.length, uploaded: created });
    };
    /**
     * Objects this publish created. A writer from a working copy (expectBase) that loses the race or is
     * interrupted deletes them: segment names are its own (store/checkout.ts), and its state database
     * holds its own random segment-id jump (and namespace id, for init), so no other writer's version can
     * name the same objects. A publish without expectBase keeps its uploads for the next one.
     */
    const createdKeys: string[] = [];
    const dropCreated = async () => {
      if (opts.expectBase !== undefined && createdKeys.length > 0) await store.delete(createdKeys).catch(() => undefined);
    };
    const lostRace = async (latest: ManifestRecord<PublishedNamespace> | null): Promise<never> => {
      await dropCreated();
      throw raced(latest);
    };
    const stopIfInterrupted = async () => {
      if (!opts.signal?.aborted) return;
      await dropCreated();
      const r = opts.signal.reason;
      throw new ElacsymError('INTERRUPTED', `${r instanceof Error ? r.message : 'interrupted'} before the commit: nothing was committed; ${name} stays at version ${before?.version ?? 0}`, { hint: 'run the command again' });
    };
    // 2. Segment files first: a version is committed only once everything it names is in the store.
    const segments: PublishedNamespace['segments'] = [];
    for (const f of marker.files) {
      if (!f.path.startsWith('segments/')) continue;
      const fileName = f.path.slice('segments/'.length);
      const bytes = readFileSync(join(tmp, f.path));
      const digest = md5(bytes);
      await stopIfInterrupted();
      await put(`${prefix}segments/${fileName}`, bytes, (etag) => etagIsMd5(etag, digest));
      segments.push({ name: fileName, bytes: f.bytes, crc32: f.crc32 });
      failpoint('publish:after-segment');
    }
    // 3. The state database, content-addressed: an identical state is one object whatever publishes it.
    const state = stateBytes;
    const digest = stateDigest;
    const stateKey = `${prefix}state/${digest}.db`;
    const stateMd5 = md5(state);
    await put(stateKey, state, (etag) => etagIsMd5(etag, stateMd5));
    // A state object found there but not the latest version's may be an orphan (a killed writer's, the
    // same content) that garbage collection is about to delete for its age: written again, it is new.
    if (present > 0 && before?.payload.state.key !== stateKey && (await store.head(stateKey)) !== null) await store.put(stateKey, state);
    await failpointPause('publish:before-commit', opts.resume);
    await stopIfInterrupted();
    await opts.hooks?.beforeCommit?.();
    // 4. Commit with the next epoch (a publisher replaces the previous one), retrying lost races.
    const payload: Omit<PublishedNamespace, 'gc_floor'> = {
      kind: 'elacsym-namespace',
      format_version: marker.format_version,
      state: { key: stateKey, bytes: state.length, sha256: digest },
      segments,
      journal_entries: marker.journal_entries,
      source: { namespace_id: namespaceId, host: hostname(), path: opts.sourcePath ?? resolve(nsDir) },
      position,
      ...(opts.job !== undefined ? { job: opts.job } : {}),
      ...(opts.journalApplied !== undefined && Object.keys(opts.journalApplied).length > 0 ? { journal_applied: opts.journalApplied } : {}),
    };
    let record: ManifestRecord<PublishedNamespace> | undefined;
    let deleted = 0;
    for (let attempt = 0; attempt < 10 && record === undefined; attempt++) {
      const latest = await log.latest();
      if (opts.expectBase !== undefined && (latest?.version ?? 0) !== opts.expectBase) await lostRace(latest);
      if (latest) checkOwner(latest);
      // An overlapping publish that snapshotted later may have committed meanwhile: never roll it back.
      const why = skipOver(latest, digest);
      if (why === 'newer') throw newerError(latest!);
      if (why === 'unchanged') {
        // nothing to commit; superseded versions are still collected (an idle namespace published from cron)
        const gc = await collectGarbage(log, latest!, keysOf(prefix, latest!.payload), clock(), grace);
        return { ...skipped(latest!, why), objects_deleted: gc.deleted };
      }
      // 5. Garbage collection (before the commit, so the new version records how far it went): what only
      // versions superseded longer ago than the grace period reference, and neither the latest version
      // (still live until this commit) nor the new one.
      await stopIfInterrupted();
      const gc = latest ? await collectGarbage(log, latest, keysOf(prefix, payload), clock(), grace) : { deleted: 0, floor: 1 };
      deleted += gc.deleted;
      await stopIfInterrupted();
      try {
        record = (await log.commitVersion(latest, (latest?.epoch ?? 0) + 1, { ...payload, gc_floor: gc.floor })).record;
      } catch (e) {
        if (!isElacsymError(e, 'BUSY')) throw e;
      }
    }
    if (record === undefined) throw new ElacsymError('BUSY', `could not commit ${name} to ${store.location}: other publishers kept committing`);
    failpoint('publish:after-commit');
    return {
      namespace: name,
      location: at(store, prefix),
      version: record.version,
      epoch: record.epoch,
      segments: segments.filter((s) => s.name.endsWith('.idx')).length,
      journal_entries: marker.journal_entries,
      objects_uploaded: uploaded,
      bytes_uploaded: uploadedBytes,
      objects_present: present,
      objects_deleted: deleted,
      objects_repaired: repaired,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The namespace's identity and position, from its manifest database (see PublishedNamespace). */
function snapshotFacts(path: string): { namespaceId: string; position: NonNullable<PublishedNamespace['position']> } {
  const db = openDb(path, { readonly: true });
  try {
    const journalSeq = journalHighWater(db);
    return {
      namespaceId: getMeta(db, 'namespace_id') ?? `created:${getMeta(db, 'created_at') ?? 'unknown'}`,
      position: { journal_seq: journalSeq, next_segment_id: Number(getMeta(db, 'next_segment_id') ?? '1') },
    };
  } finally {
    db.close();
  }
}

/** A backup that failed because its directory could not be written there (permissions, read-only, full). */
function isEnvWriteError(e: unknown): boolean {
  return isElacsymError(e, 'PERMISSION_DENIED') || isElacsymError(e, 'NO_SPACE') || isEnvError(e);
}

/** Keys a version references. */
function keysOf(prefix: string, p: Pick<PublishedNamespace, 'state' | 'segments'>): string[] {
  return [p.state.key, ...p.segments.map((s) => `${prefix}segments/${s.name}`)];
}

/**
 * Deletes the objects under segments/ and state/ that versions superseded before `now - grace` reference
 * and that neither a version superseded since, nor `latest`, nor the version about to be committed
 * (`newKeys`) references. Walks the versions from `latest` down to `latest.payload.gc_floor` (below it,
 * earlier runs already deleted what was exclusive to them); returns how many objects were deleted and the
 * new floor: the lowest version whose objects are still all kept.
 */
async function collectGarbage(
  log: CommitLog<PublishedNamespace>,
  latest: ManifestRecord<PublishedNamespace>,
  newKeys: string[],
  now: number,
  grace: number,
): Promise<{ deleted: number; floor: number }> {
  const r = await collectSuperseded(log, latest, newKeys, now, grace);
  const orphans = r.referenced ? await collectOrphans(log, r.referenced, now, Math.max(grace, ORPHAN_MIN_AGE_MS)) : 0;
  return { deleted: r.deleted + orphans, floor: r.floor };
}

/**
 * Objects under segments/ and state/ older than this that no version references are deleted: uploads of
 * a writer killed before its commit. Younger ones may be a live writer's uploads about to be committed:
 * a writer must commit within this time of its first upload (uploads come just before the commit).
 */
const ORPHAN_MIN_AGE_MS = 3600 * 1000;

/**
 * Deletes what no version references (`referenced`: every key a version still present names) and was last
 * written more than `minAge` ago. A store without listModified (the synchronous bridge) is skipped.
 */
async function collectOrphans(log: CommitLog<PublishedNamespace>, referenced: ReadonlySet<string>, now: number, minAge: number): Promise<number> {
  const listModified = log.store.listModified?.bind(log.store);
  if (!listModified) return 0;
  let victims: string[] = [];
  for (const dir of ['segments/', 'state/']) {
    for (const o of await listModified(`${log.prefix}${dir}`)) if (!referenced.has(o.key) && now - o.modified > minAge) victims.push(o.key);
  }
  // Segments a sharded import staged wait for their job's commit (store/shards.ts): kept while their stage
  // object is younger than STAGE_MAX_AGE_MS; an older stage is an abandoned job's, and goes.
  if (victims.length > 0) {
    const staged = new Set<string>();
    const old: string[] = [];
    for (const o of await listModified(`${log.prefix}shards/`)) {
      if (now - o.modified > STAGE_MAX_AGE_MS) {
        old.push(o.key);
        continue;
      }
      const raw = await log.store.get(o.key);
      if (raw === null) continue;
      try {
        const st = JSON.parse(gunzipSync(raw).toString('utf8')) as { segments?: { parquet_file?: unknown; index_file?: unknown }[] };
        for (const g of st.segments ?? []) for (const f of [g.parquet_file, g.index_file]) if (typeof f === 'string') staged.add(`${log.prefix}segments/${f}`);
      } catch {
        // an unreadable stage protects nothing (its job cannot commit it either)
      }
    }
    victims = [...victims.filter((k) => !staged.has(k)), ...old];
  }
  if (victims.length > 0) await log.store.delete(victims);
  return victims.length;
}

/** How long the segments of a sharded import's stage are kept waiting for the job's last shard (24 h). */
export const STAGE_MAX_AGE_MS = 24 * 3600 * 1000;

/** Superseded versions' objects (see collectGarbage), and every key the versions walked reference. */
async function collectSuperseded(
  log: CommitLog<PublishedNamespace>,
  latest: ManifestRecord<PublishedNamespace>,
  newKeys: string[],
  now: number,
  grace: number,
): Promise<{ deleted: number; floor: number; referenced: Set<string> | null }> {
  let unknown = false;
  const keep = new Set([...newKeys, ...keysOf(log.prefix, latest.payload)]);
  const drop = new Set<string>();
  let floor = latest.version;
  let successorAt = Date.parse(latest.committed_at);
  const lowest = Math.max(1, latest.payload.gc_floor ?? 1);
  for (let v = latest.version - 1; v >= lowest; v--) {
    let rec: ManifestRecord<PublishedNamespace> | null;
    let p: PublishedNamespace;
    try {
      rec = await log.read(v);
      if (rec === null) continue;
      p = checkPublishedPayload(rec.payload, log.manifestKey(v));
    } catch (e) {
      // A superseded version that cannot be read matters only here: what it alone referenced cannot be
      // collected (a leak, not a reason to refuse the new version). It stays above the floor, so later
      // collections look at it again.
      if (!isElacsymError(e) || !/^(CORRUPT_|FORMAT_)/.test(e.code)) throw e;
      floor = v;
      unknown = true;
      continue;
    }
    const superseded = successorAt;
    successorAt = Date.parse(rec.committed_at);
    if (now - superseded < grace) {
      for (const k of keysOf(log.prefix, p)) keep.add(k);
      floor = v;
    } else for (const k of keysOf(log.prefix, p)) drop.add(k);
  }
  const victims = [...drop].filter((k) => !keep.has(k));
  if (victims.length > 0) await log.store.delete(victims);
  // What a version that cannot be read references is unknown: then nothing counts as unreferenced.
  return { deleted: victims.length, floor, referenced: unknown ? null : new Set([...keep, ...drop]) };
}

export interface OpenPublishedOptions {
  /** A version to read instead of the latest. */
  version?: number;
}

export interface PublishedNamespaceHandle {
  /** A local directory holding the version's manifest.db, for Snapshot.open. */
  dir: string;
  /** The segment objects, read by range through the cache. */
  segments: ObjectSegmentStore;
  record: ManifestRecord<PublishedNamespace>;
  close(): void;
}

/**
 * Open namespace `name` as published under `store` (the data directory), for reading: `bridge` is the same
 * store for synchronous reads (the engine reads segments synchronously), `store` typically
 * `asyncStoreOf(bridge)`. The state database goes to `<cacheDir>/state/` once per version.
 *
 * Errors: NAMESPACE_NOT_FOUND (nothing published under that name), CORRUPT_MANIFEST (a manifest or state
 * that fails its checks), FORMAT_TOO_NEW/OLD, and the store's own errors.
 */
export async function openPublished(store: ObjectStore, bridge: SyncObjectStore, name: string, cacheDir: string, cache: RangeCache, opts: OpenPublishedOptions = {}): Promise<PublishedNamespaceHandle> {
  const prefix = namespacePrefix(name);
  const log = new CommitLog<PublishedNamespace>(store, prefix);
  const record = opts.version === undefined ? await log.latest() : await log.read(opts.version);
  if (record === null) {
    throw new ElacsymError('NAMESPACE_NOT_FOUND', opts.version === undefined ? `namespace ${name} was not published to ${store.location}` : `namespace ${name} has no version ${opts.version} on ${store.location}`, {
      // The store's own URL: `<namespace>` is filled in by the CLI, the location is known here.
      hint: `create it on the store (\`elacsym -d ${store.location.replace(/\/+$/, '')} init <namespace> ...\`), or publish it from the machine that holds it (\`elacsym publish <namespace> ${store.location.replace(/\/+$/, '')}\` there)`,
      details: { namespace: name },
    });
  }
  const where = at(store, log.manifestKey(record.version));
  const p = checkPublishedPayload(record.payload, where);
  // The state database, by its digest: fetched once, verified at every open (a damaged cache file is
  // fetched again, never read).
  const dir = join(cacheDir, 'state', p.state.sha256);
  const path = join(dir, 'manifest.db');
  const verified = (b: Uint8Array) => b.length === p.state.bytes && sha256(b) === p.state.sha256;
  let ok = false;
  try {
    ok = verified(readFileSync(path));
  } catch {
    ok = false;
  }
  if (!ok) {
    const bytes = await store.get(p.state.key);
    if (bytes === null) throw new ElacsymError('CORRUPT_MANIFEST', `${where} names ${p.state.key}, which is missing`, { details: { path: p.state.key } });
    if (!verified(bytes)) throw new ElacsymError('CORRUPT_MANIFEST', `${at(store, p.state.key)} does not match its SHA-256 in ${where}`, { details: { path: p.state.key } });
    const tmpPath = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmpPath, bytes);
      renameSync(tmpPath, path);
    } catch (e) {
      try {
        rmSync(tmpPath, { force: true });
      } catch {
        // nothing more to undo: the error below says why the cache cannot be written
      }
      throw toEnvError(e, dir, 'writing the cache (ELACSYM_CACHE_DIR)');
    }
  }
  pruneStates(join(cacheDir, 'state'), p.state.sha256);
  // Segments through the caller's bridge (its keys are relative to the data directory's prefix, as `store`'s).
  const segments = new ObjectSegmentStore({ store: bridge, keyPrefix: `${prefix}segments/`, cache });
  return { dir, segments, record, close: () => segments.close() };
}

/** State databases kept in a cache directory: the most recently used ones. */
const KEEP_STATES = 8;

/**
 * Marks `current` used and removes all but the KEEP_STATES most recently used state databases of the
 * cache (every version published adds one; ELACSYM_CACHE_MAX_BYTES bounds only the blocks). A process that
 * still has a removed one open keeps reading it (an open file outlives its name); one that opens it again
 * fetches it again. Best effort: a cache that cannot be pruned costs disk, never an answer.
 */
function pruneStates(dir: string, current: string): void {
  try {
    const now = new Date();
    utimesSync(join(dir, current), now, now);
  } catch {
    // not ours to touch (another user's cache): pruning below still works by age
  }
  try {
    const entries = readdirSync(dir)
      .filter((e) => /^[0-9a-f]{64}$/.test(e) && e !== current)
      .map((e) => ({ e, at: statSync(join(dir, e), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
      .sort((a, b) => b.at - a.at);
    for (const { e } of entries.slice(KEEP_STATES - 1)) rmSync(join(dir, e), { recursive: true, force: true });
  } catch {
    // best effort (see above)
  }
}

/** Names of the namespaces published under `store` (those with at least one manifest version). */
export async function listPublished(store: ObjectStore): Promise<string[]> {
  const keys = await store.list('');
  const names = new Set<string>();
  for (const k of keys) {
    const m = /^([^/]+)\/manifest\/\d{20}\.json$/.exec(k);
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}

