/**
 * Writing to a namespace on an object store (issue 14): a command runs on a private local working copy of
 * the latest published version, and its result is committed back as the next version only if no other
 * writer committed meanwhile (optimistic concurrency on the commit log; objstore/commit.ts).
 *
 *   1. checkoutNamespace: the latest version V (or none, for `init`) into `<work>/<ns>/`: its state database
 *      (verified by its SHA-256) and its segment files, each hard-linked from the machine's pool of this
 *      namespace's segment files (`<pool>/<crc32>-<bytes>-<name>`: immutable, fetched once per machine,
 *      verified by size and CRC-32 before they are used). The working copy's next segment id jumps by a
 *      random amount, so that the segments this command creates are named differently from those of any
 *      other writer working from V, including one killed after its uploads (its objects stay in the store
 *      until garbage collection finds them old enough; see published.ts).
 *   2. the command, unchanged, on the working copy (a local data directory of its own: no lock contention
 *      between processes, and every crash-safety property of the local engine).
 *   3. publishNamespace(..., { expectBase: V }): the new segments, the new state, then version V+1, which
 *      only one writer can create. A writer that finds another version committed after V commits nothing
 *      (BUSY, reason 'race'): its changes were made on a state that is no longer the latest.
 *
 * A killed writer leaves the store at V (nothing acknowledged: a command's results print only after its
 * commit) plus objects no version references; its working copy is swept by a later writer.
 */
import { randomInt } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { CommitLog, type ManifestRecord } from '../objstore/commit.js';
import type { ObjectStore } from '../objstore/object-store.js';
import { getMeta, setMeta } from '../storage/manifest.js';
import { openDb } from '../storage/sqlite.js';
import { crc32 } from '../util/crc32.js';
import { toEnvError } from '../util/env-error.js';
import { fsyncDir } from '../util/fs.js';
import { DataDir, pidAlive } from './data-dir.js';
import { checkPublishedPayload, namespacePrefix, type PublishedNamespace, stateDigest } from './published.js';
import { type AppliedJournal, applyJournalObjects } from './remote-journal.js';

export interface Checkout {
  /** The working copy's data directory (`<work>`), holding `<ns>/` when a version was checked out. */
  dataDir: string;
  /** The version checked out, or null: nothing is published under that name. */
  base: ManifestRecord<PublishedNamespace> | null;
  /** Segment objects fetched from the store (the others were in the pool already). */
  fetched: { objects: number; bytes: number };
  /** The store's journal objects this version does not hold, applied to the working copy (remote-journal.ts). */
  journal?: AppliedJournal;
  /** The version's next segment id, and the working copy's after the jump (see the module comment). */
  segmentIds?: { base: number; jumped: number };
}

/** The checked-out state database, kept beside the working copy to tell whether a command changed it. */
const BASE_STATE = '.base-state.db';

/** How far a working copy's next segment id jumps (names stay unique between writers from one version). */
const SEGMENT_ID_JUMP = 2 ** 24;

/**
 * Checks out the latest version of namespace `name` under `store` into the new directory `work` (see the
 * module comment), its segment files through `pool`. A version collected while it was being fetched (a
 * segment object missing while a newer version exists) is retried from the newer one.
 *
 * With `stateOnly`, only the state database is fetched (for a command that reads no segment); with
 * `countJournalOnly`, the store's pending journal objects are counted, not applied (health: the working
 * copy then holds what readers see).
 *
 * Errors: CORRUPT_MANIFEST (a version's objects fail their checks or are missing), CORRUPT_SEGMENT (a
 * segment object's bytes do not match the version's size and CRC-32), FORMAT_TOO_NEW/OLD, the store's
 * errors, environment errors on `work` or `pool` (NO_SPACE, PERMISSION_DENIED, ...).
 */
export async function checkoutNamespace(store: ObjectStore, name: string, work: string, pool: string, opts: { stateOnly?: boolean; countJournalOnly?: boolean } = {}): Promise<Checkout> {
  const prefix = namespacePrefix(name);
  const log = new CommitLog<PublishedNamespace>(store, prefix);
  DataDir.open(work, { create: true });
  const fetched = { objects: 0, bytes: 0 };
  for (let attempt = 1; ; attempt++) {
    const base = await log.latest();
    if (base === null) return { dataDir: work, base: null, fetched };
    const where = `${store.location.replace(/\/$/, '')}/${log.manifestKey(base.version)}`;
    const p = checkPublishedPayload(base.payload, where);
    const nsDir = join(work, name);
    rmSync(nsDir, { recursive: true, force: true });
    try {
      mkdirSync(join(nsDir, 'segments'), { recursive: true });
    } catch (e) {
      throw toEnvError(e, work, 'creating the working copy in');
    }
    // The state database, verified by its digest.
    const state = await store.get(p.state.key);
    if (state === null || state.length !== p.state.bytes || stateDigest(state) !== p.state.sha256) {
      throw new ElacsymError('CORRUPT_MANIFEST', `${store.location}${p.state.key} is ${state === null ? 'missing' : 'not the state database'} ${where} names`, { details: { path: p.state.key } });
    }
    writeFile(join(nsDir, 'manifest.db'), state);
    writeFile(join(work, BASE_STATE), state);
    let moved = false;
    // stateOnly (a shard of a sharded import): the command writes new segments and reads none.
    for (const g of opts.stateOnly ? [] : p.segments) {
      const pooled = join(pool, `${g.crc32.toString(16).padStart(8, '0')}-${g.bytes}-${g.name}`);
      const target = join(nsDir, 'segments', g.name);
      // A pooled file is used only when its bytes pass the version's size and CRC-32 (a damaged one is
      // replaced); one another process prunes between the check and the link is fetched again.
      if (!pooledIntact(pooled, g) || !linkOrCopy(pooled, target)) {
        const key = `${prefix}segments/${g.name}`;
        const bytes = await store.get(key);
        if (bytes === null) {
          // Collected by a writer's garbage collection after a newer version superseded this one?
          if (attempt < 3 && (await log.latest())?.version !== base.version) {
            moved = true;
            break;
          }
          throw new ElacsymError('CORRUPT_MANIFEST', `${store.location}${key} is missing; ${where} names it`, { details: { path: key } });
        }
        if (bytes.length !== g.bytes || crc32(bytes) !== g.crc32) {
          throw new ElacsymError('CORRUPT_SEGMENT', `${store.location}${key} does not match its size and CRC-32 in ${where}`, { details: { path: key } });
        }
        fetched.objects++;
        fetched.bytes += bytes.length;
        try {
          mkdirSync(pool, { recursive: true });
        } catch (e) {
          throw toEnvError(e, pool, 'creating the segment cache in');
        }
        writeFile(target, bytes);
        rmSync(pooled, { force: true });
        linkOrCopy(target, pooled);
      }
    }
    if (moved) continue;
    // Segments this command creates get names no other writer from this version uses (module comment).
    let segmentIds: Checkout['segmentIds'];
    let journal: AppliedJournal;
    const db = openDb(join(nsDir, 'manifest.db'));
    try {
      // Batches acknowledged by writers that have not committed them (killed, or still running).
      journal = await applyJournalObjects(store, name, db, p.journal_applied ?? {}, { countOnly: opts.countJournalOnly });
      const next = Number(getMeta(db, 'next_segment_id') ?? '1');
      segmentIds = { base: next, jumped: next + 1 + randomInt(SEGMENT_ID_JUMP) };
      setMeta(db, 'next_segment_id', String(segmentIds.jumped));
    } finally {
      db.close();
    }
    fsyncDir(join(nsDir, 'segments'));
    return { dataDir: work, base, fetched, segmentIds, journal };
  }
}

/**
 * Whether the working copy's state database holds exactly what the checked-out version's did (table by
 * table, row by row): a command that changed nothing commits nothing. The bytes cannot tell: two copies of
 * one content differ in SQLite's header counters.
 */
export function stateUnchanged(c: Checkout, name: string): boolean {
  if (c.base === null) return false;
  const db = openDb(join(c.dataDir, name, 'manifest.db'), { readonly: true });
  try {
    db.prepare('ATTACH DATABASE ? AS base').run(join(c.dataDir, BASE_STATE));
    const tables = (names: string) => db.prepare(`SELECT name FROM ${names} WHERE type = 'table' ORDER BY name`).pluck().all() as string[];
    const mine = tables('main.sqlite_master');
    if (JSON.stringify(mine) !== JSON.stringify(tables('base.sqlite_master'))) return false;
    // The jumped next segment id is not a change when no segment was made; once anything else changed, the
    // jump stays (the command may have recorded it, e.g. alter's re-index threshold).
    const next = getMeta(db, 'next_segment_id');
    if (next !== String(c.segmentIds?.jumped) && next !== String(c.segmentIds?.base)) return false;
    // sqlite_sequence only counts: a journal entry written and then removed (a delete of ids that do not
    // exist) advances it and changes nothing a reader sees.
    for (const t of mine.filter((x) => x !== 'sqlite_sequence')) {
      const rows = (x: string) => (t === 'meta' ? `SELECT * FROM ${x}."meta" WHERE key <> 'next_segment_id'` : `SELECT * FROM ${x}."${t}"`);
      const q = (a: string, b: string) => db.prepare(`SELECT EXISTS (${rows(a)} EXCEPT ${rows(b)})`).pluck().get() as number;
      if (q('main', 'base') || q('base', 'main')) return false;
      const n = (x: string) => db.prepare(`SELECT count(*) FROM (${rows(x)})`).pluck().get() as number;
      if (n('main') !== n('base')) return false;
    }
    return true;
  } finally {
    db.close();
  }
}

/**
 * Adds the segment files of a committed working copy to the pool (the next command on this machine needs
 * not fetch what this one uploaded) and removes the pool files the committed version does not name: a
 * pool holds one namespace location's files, and a concurrent writer that loses one it was about to link
 * fetches it again. Best effort.
 */
export function settlePool(nsDir: string, payload: PublishedNamespace, pool: string): void {
  const keep = new Set<string>();
  try {
    mkdirSync(pool, { recursive: true });
    for (const g of payload.segments) {
      const file = `${g.crc32.toString(16).padStart(8, '0')}-${g.bytes}-${g.name}`;
      keep.add(file);
      const pooled = join(pool, file);
      if (!existsSync(pooled)) linkOrCopy(join(nsDir, 'segments', g.name), pooled);
    }
    for (const f of readdirSync(pool)) if (!keep.has(f)) rmSync(join(pool, f), { force: true });
  } catch {
    // a pool that cannot be kept costs fetches, never an answer
  }
}

/** Working copies `<pid>-<n>` under `parent` whose process is gone (killed writers). Best effort. */
export function sweepWorkingCopies(parent: string): void {
  try {
    for (const e of readdirSync(parent)) {
      const pid = Number(e.split('-')[0]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
      rmSync(join(parent, e), { recursive: true, force: true });
    }
  } catch {
    // nothing to sweep
  }
}

function writeFile(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw toEnvError(e, path, 'writing');
  }
}

function pooledIntact(path: string, g: { bytes: number; crc32: number }): boolean {
  try {
    if (statSync(path).size !== g.bytes) return false;
    return crc32(readFileSync(path)) === g.crc32;
  } catch {
    return false;
  }
}

/** Hard-links (or copies) `from` to `to`; false when `from` is gone. An existing `to` is kept. */
function linkOrCopy(from: string, to: string): boolean {
  try {
    linkSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return true;
    if (code === 'ENOENT' && !existsSync(from)) return false;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw toEnvError(e, to, 'writing');
    try {
      copyFileSync(from, to);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(from)) return false;
      throw toEnvError(e2, to, 'writing');
    }
  }
  return true;
}
