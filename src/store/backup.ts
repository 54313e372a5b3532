/**
 * Backup and restore of one namespace, consistent while imports and compactions run.
 *
 * A backup directory is self-describing:
 *
 *   <backup>/elacsym-backup.json   marker: backup format, data format version, namespace, time, and every
 *                                  file with its size and CRC-32 (written last)
 *   <backup>/manifest.db           the manifest as of one read snapshot (`VACUUM INTO`: a single read
 *                                  transaction, so journal, segment list and id table agree), rollback mode
 *   <backup>/segments/...          exactly the segment files that manifest references: hard links of the
 *                                  immutable files when the backup is on the same file system, else copies
 *
 * Backup order, with what a crash right after each step leaves behind:
 *   1. VACUUM INTO <tmp>/manifest.db        (a hidden temp dir next to <backup>; swept by the next backup)
 *   2. open every referenced segment file   (an fd keeps a file readable after compaction's gc unlinks it;
 *                                            a file already gone means a compaction committed after step 1:
 *                                            the snapshot is taken again)
 *   3. link (or copy through the open fd) and verify each file's size and CRC against the manifest
 *   4. write the marker, fsync, rename <tmp> -> <backup>   (the commit point: <backup> exists only whole)
 *
 * Restore verifies every file against the marker (and the marker against the manifest) while placing it
 * into `<data-dir>/.tmp-<ns>-<pid>`, then publishes the namespace with one rename, like `init`. Replacing
 * an existing namespace (`force`) holds that namespace's writer lock, so it never happens under a writer.
 */
import { closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import { acquireWriterLockAsync } from '../storage/lock.js';
import { assertCanCreate, assertWritable, envError } from '../util/env-error.js';
import { checkFormat, FORMAT_VERSION, journalHeads, listSegments, type SegmentRow } from '../storage/manifest.js';
import { asStorageError, type Db, openDb } from '../storage/sqlite.js';
import { crc32 } from '../util/crc32.js';
import { failpoint } from '../util/failpoint.js';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';
import { DataDir, DROP_PREFIX, pidAlive, TMP_PREFIX } from './data-dir.js';

export const BACKUP_MARKER = 'elacsym-backup.json';
/** Bump when the layout of a backup directory changes; restore refuses newer ones. */
export const BACKUP_VERSION = 1;

export interface BackupFile {
  /** Relative to the backup directory, with forward slashes. */
  path: string;
  bytes: number;
  crc32: number;
}

export interface BackupMarker {
  kind: 'elacsym-backup';
  backup_version: number;
  /** The data format version (manifest and segment files) the backup holds. */
  format_version: number;
  namespace: string;
  created_at: string;
  segments: number;
  journal_entries: number;
  files: BackupFile[];
}

export interface BackupOptions {
  /** Copy segment files even when a hard link would do (a backup that shares no blocks with the data). */
  copy?: boolean;
  clock?: () => number;
  /** Snapshots retaken after a file vanished before giving up with BUSY. */
  maxAttempts?: number;
  /** Test hooks: run between the steps above (e.g. a compaction, to race the backup deterministically). */
  hooks?: { afterManifestCopy?: (attempt: number) => unknown; afterOpen?: (attempt: number) => unknown };
}

export interface BackupReport {
  namespace: string;
  backup_dir: string;
  created_at: string;
  segments: number;
  journal_entries: number;
  files: number;
  bytes: number;
  linked: number;
  copied: number;
  attempts: number;
}

const CHUNK = 1 << 20;

/** Whether this error means "the file is not there (any more)". */
const vanished = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** CRC-32 of an open file, read from the descriptor (the path may be gone). */
function crcOfFd(fd: number, size: number): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  let c = 0;
  for (let off = 0; off < size; ) {
    const n = readSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
    if (n === 0) throw new ElacsymError('CORRUPT_SEGMENT', `file shrank while reading it (at byte ${off} of ${size})`);
    c = crc32(buf.subarray(0, n), c);
    off += n;
  }
  return c;
}

/** Copy an open file into `dst` (created), returning its CRC-32; the copy is fsynced. */
function copyFromFd(fd: number, size: number, dst: string): number {
  const out = openSync(dst, 'wx', 0o644);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let c = 0;
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
      if (n === 0) throw new ElacsymError('CORRUPT_SEGMENT', `file shrank while copying it to ${dst} (at byte ${off} of ${size})`);
      c = crc32(buf.subarray(0, n), c);
      for (let w = 0; w < n; ) w += writeSync(out, buf, w, n - w);
      off += n;
    }
    fsyncSync(out);
    return c;
  } finally {
    closeSync(out);
  }
}

/**
 * Place the open file `fd` (at `src`) at `dst`: a hard link when allowed and possible, else a copy read
 * through the descriptor. The link is accepted only if it names the very inode we hold open (the path
 * could have been unlinked and, in theory, reused). Returns the CRC-32 of what `dst` holds.
 */
function placeFile(fd: number, src: string, dst: string, size: number, copy: boolean): { crc: number; linked: boolean } {
  if (!copy) {
    try {
      linkSync(src, dst);
      const a = fstatSync(fd);
      const b = statSync(dst);
      if (a.ino === b.ino && a.dev === b.dev) return { crc: crcOfFd(fd, size), linked: true };
      rmSync(dst, { force: true });
    } catch (e) {
      // ENOENT: gc unlinked it after we opened it; EXDEV: another file system; EPERM/EMLINK/ENOTSUP: no
      // links here. All of them: copy from the descriptor we hold.
      const code = (e as NodeJS.ErrnoException).code;
      if (!['ENOENT', 'EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'EACCES'].includes(code ?? '')) throw e;
      rmSync(dst, { force: true });
    }
  }
  return { crc: copyFromFd(fd, size, dst), linked: false };
}

function fileCrc(path: string): { bytes: number; crc: number } {
  const fd = openSync(path, 'r');
  try {
    const bytes = fstatSync(fd).size;
    return { bytes, crc: crcOfFd(fd, bytes) };
  } finally {
    closeSync(fd);
  }
}

/** Temp dirs of earlier backups to `dest` whose process is gone. Best effort. */
function sweepBackupTemps(dest: string): void {
  const prefix = `.${basename(dest)}.tmp-`;
  try {
    for (const e of readdirSync(dirname(dest))) {
      if (!e.startsWith(prefix)) continue;
      const pid = Number(e.slice(prefix.length));
      if (pid && pidAlive(pid)) continue;
      rmSync(join(dirname(dest), e), { recursive: true, force: true });
    }
  } catch {
    // best effort
  }
}

function readRows(path: string): { rows: SegmentRow[]; journal: number } {
  let db: Db | undefined;
  try {
    db = openDb(path, { readonly: true });
    checkFormat(db, path);
    return { rows: listSegments(db), journal: journalHeads(db).length };
  } catch (e) {
    throw asStorageError(e, path);
  } finally {
    db?.close();
  }
}

/**
 * Back up namespace `name` (directory `nsDir`) into the new directory `dest`. Readers and the writer go on
 * meanwhile; the backup holds every document acknowledged before it started.
 *
 * @example
 *   await backupNamespace(dir.namespacePath('docs'), 'docs', '/backups/docs-2026-11-30')
 */
export async function backupNamespace(nsDir: string, name: string, dest: string, opts: BackupOptions = {}): Promise<BackupReport> {
  const clock = opts.clock ?? Date.now;
  const maxAttempts = opts.maxAttempts ?? 10;
  dest = resolve(dest);
  // Inside the data directory a backup (a directory holding manifest.db) would be listed as a namespace.
  const dataDir = resolve(dirname(nsDir));
  if (dest === dataDir || dest.startsWith(`${dataDir}${sep}`)) {
    throw new ElacsymError('USAGE', `${dest} is inside the data directory ${dataDir}; back up to a directory outside it`, { details: { path: dest } });
  }
  if (existsSync(dest)) {
    throw new ElacsymError('BACKUP_EXISTS', `${dest} already exists`, { details: { path: dest } });
  }
  assertCanCreate(dest, 'the backup'); // a read-only destination is PERMISSION_DENIED, not "not found"
  mkdirSync(dirname(dest), { recursive: true });
  sweepBackupTemps(dest);
  const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'segments'), { recursive: true });
  const source = join(nsDir, 'manifest.db');
  const tmpManifest = join(tmp, 'manifest.db');
  try {
    for (let attempt = 1; ; attempt++) {
      // 1. The manifest as of one read snapshot (its time is the backup's time).
      rmSync(tmpManifest, { force: true });
      const snapshotAt = clock();
      let src: Db | undefined;
      try {
        src = openDb(source, { readonly: true });
        checkFormat(src, source);
        try {
          src.prepare('VACUUM INTO ?').run(tmpManifest);
        } catch (e) {
          // A full or read-only target is the backup's problem, not the source's (it named the source).
          throw writingBackup(e, dest) ?? e;
        }
      } catch (e) {
        throw asStorageError(e, source);
      } finally {
        src?.close();
      }
      await opts.hooks?.afterManifestCopy?.(attempt);
      const { rows, journal } = readRows(tmpManifest);

      // 2. Open every file the snapshot references; a vanished one means: take the snapshot again.
      const open: { name: string; fd: number; bytes: number; crc: number }[] = [];
      let gone: string | null = null;
      try {
        for (const r of rows) {
          for (const [f, bytes, crc] of [
            [r.parquet_file, r.parquet_bytes, r.parquet_crc32],
            [r.index_file, r.index_bytes, r.index_crc32],
          ] as const) {
            try {
              open.push({ name: f, fd: openSync(join(nsDir, 'segments', f), 'r'), bytes, crc: crc >>> 0 });
            } catch (e) {
              if (!vanished(e)) throw e;
              gone = f;
              break;
            }
          }
          if (gone) break;
        }
        if (gone) {
          if (attempt >= maxAttempts) {
            throw new ElacsymError('BUSY', `segment files of ${name} kept changing under the backup (${attempt} attempts; last gone: ${gone})`);
          }
          continue;
        }
        await opts.hooks?.afterOpen?.(attempt);

        // 3. Link or copy, verifying every file against the manifest: a damaged file is not backed up.
        let linked = 0;
        let copied = 0;
        const files: BackupFile[] = [];
        for (const o of open) {
          const path = join(nsDir, 'segments', o.name);
          const size = fstatSync(o.fd).size;
          if (size !== o.bytes) {
            throw new ElacsymError('CORRUPT_SEGMENT', `${path}: ${size} bytes on disk, ${o.bytes} recorded in the manifest`, { details: { path } });
          }
          const dst = join(tmp, 'segments', o.name);
          let placed: ReturnType<typeof placeFile>;
          try {
            placed = placeFile(o.fd, path, dst, size, opts.copy ?? false);
          } catch (e) {
            throw writingBackup(e, dest) ?? e;
          }
          if (placed.crc !== o.crc) {
            throw new ElacsymError('CORRUPT_SEGMENT', `${path}: checksum mismatch (the file is damaged; it was not backed up)`, { details: { path } });
          }
          if (placed.linked) linked++;
          else copied++;
          files.push({ path: `segments/${o.name}`, bytes: size, crc32: placed.crc });
        }
        const m = fileCrc(tmpManifest);
        files.unshift({ path: 'manifest.db', bytes: m.bytes, crc32: m.crc });

        // 4. Marker last, then the rename that makes the backup exist.
        const createdAt = new Date(snapshotAt).toISOString();
        const marker: BackupMarker = {
          kind: 'elacsym-backup',
          backup_version: BACKUP_VERSION,
          format_version: FORMAT_VERSION,
          namespace: name,
          created_at: createdAt,
          segments: rows.length,
          journal_entries: journal,
          files,
        };
        const fd = openSync(tmpManifest, 'r+');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        fsyncDir(join(tmp, 'segments'));
        writeFileAtomic(join(tmp, BACKUP_MARKER), new TextEncoder().encode(`${JSON.stringify(marker, null, 2)}\n`));
        failpoint('backup:before-rename');
        try {
          renameSync(tmp, dest);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new ElacsymError('BACKUP_EXISTS', `${dest} already exists`, { details: { path: dest } });
          throw e;
        }
        fsyncDir(dirname(dest));
        return {
          namespace: name,
          backup_dir: dest,
          created_at: createdAt,
          segments: rows.length,
          journal_entries: journal,
          files: files.length,
          bytes: files.reduce((a, f) => a + f.bytes, 0),
          linked,
          copied,
          attempts: attempt,
        };
      } finally {
        for (const o of open) closeSync(o.fd);
      }
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** A full or read-only file system while writing the backup `dest`, named as such; else null. */
function writingBackup(e: unknown, dest: string): ElacsymError | null {
  const env = envError(e, dest, 'writing the backup');
  return env && (env.code === 'NO_SPACE' || env.code === 'PERMISSION_DENIED') ? env : null;
}

const corrupt = (dir: string, msg: string, path?: string) =>
  new ElacsymError('CORRUPT_BACKUP', `${dir}: ${msg}`, { details: { path: path ?? dir } });

/** Read and check a backup's marker (not yet its files). */
export function readBackupMarker(dir: string): BackupMarker {
  const path = join(dir, BACKUP_MARKER);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (vanished(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      if (!existsSync(dir)) throw new ElacsymError('FILE_NOT_FOUND', `backup directory ${dir} does not exist`, { details: { path: dir } });
      throw corrupt(dir, `no ${BACKUP_MARKER}: not an elacsym backup, or an unfinished one`, path);
    }
    throw e;
  }
  let m: BackupMarker;
  try {
    m = JSON.parse(text) as BackupMarker;
  } catch (e) {
    throw corrupt(dir, `${BACKUP_MARKER} is not valid JSON (${(e as Error).message})`, path);
  }
  if (m === null || typeof m !== 'object' || m.kind !== 'elacsym-backup' || !Array.isArray(m.files) || typeof m.backup_version !== 'number' || typeof m.format_version !== 'number') {
    throw corrupt(dir, `${BACKUP_MARKER} is not an elacsym backup marker`, path);
  }
  if (m.backup_version > BACKUP_VERSION || m.format_version > FORMAT_VERSION) {
    throw new ElacsymError('FORMAT_TOO_NEW', `${dir} was written by a newer elacsym (backup version ${m.backup_version}, format version ${m.format_version})`, { details: { path: dir } });
  }
  for (const f of m.files) {
    if (typeof f?.path !== 'string' || typeof f.bytes !== 'number' || typeof f.crc32 !== 'number' || !/^(manifest\.db|segments\/[A-Za-z0-9._-]+)$/.test(f.path)) {
      throw corrupt(dir, `${BACKUP_MARKER} lists an invalid file entry ${JSON.stringify(f)}`, path);
    }
  }
  if (!m.files.some((f) => f.path === 'manifest.db')) throw corrupt(dir, `${BACKUP_MARKER} lists no manifest.db`, path);
  return m;
}

export interface RestoreOptions {
  /** Replace an existing namespace (under its writer lock). */
  force?: boolean;
  /** Seconds to wait for a running writer of the namespace being replaced. */
  waitSeconds?: number;
  copy?: boolean;
  /** Aborting ends a wait for the writer lock: nothing is replaced (INTERRUPTED). */
  signal?: AbortSignal;
  /** Called once when another writer holds the namespace and the restore starts waiting. */
  onLockWait?: () => void;
}

export interface RestoreReport {
  namespace: string;
  backup_dir: string;
  backup_namespace: string;
  backup_created_at: string;
  replaced: boolean;
  files: number;
  bytes: number;
}

/**
 * Verify the backup in `backupDir` and publish it as namespace `name` of `dir`. Every byte placed is
 * checked against the marker's CRC while it is placed, so what gets published is what was verified.
 *
 * @example
 *   restoreNamespace(DataDir.open('./data', { create: true }), '/backups/docs-2026-11-30', 'docs', { force: true })
 */
export async function restoreNamespace(dir: DataDir, backupDir: string, name: string, opts: RestoreOptions = {}): Promise<RestoreReport> {
  validateNamespaceName(name);
  backupDir = resolve(backupDir);
  const marker = readBackupMarker(backupDir);
  const final = dir.namespacePath(name);
  if (dir.exists(name) && !opts.force) {
    throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${dir.path}`, {
      hint: 'pass --force to replace it, or restore under another name',
      details: { namespace: name },
    });
  }
  assertWritable([dir.path], `namespace ${name}`); // a read-only data directory is PERMISSION_DENIED
  dir.sweep();
  const tmp = join(dir.path, `${TMP_PREFIX}${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'segments'), { recursive: true });
  try {
    const listed = new Map<string, BackupFile>();
    for (const f of marker.files) {
      const src = join(backupDir, f.path);
      let fd: number;
      try {
        fd = openSync(src, 'r');
      } catch (e) {
        if (vanished(e)) throw corrupt(backupDir, `${f.path} is listed in ${BACKUP_MARKER} but missing`, src);
        throw e;
      }
      try {
        const size = fstatSync(fd).size;
        if (size !== f.bytes) throw corrupt(backupDir, `${f.path} is ${size} bytes, ${f.bytes} recorded in ${BACKUP_MARKER}`, src);
        // The manifest is always copied (the restored namespace writes to it); segments may be linked.
        const placed = placeFile(fd, src, join(tmp, f.path), size, f.path === 'manifest.db' || (opts.copy ?? false));
        if (placed.crc !== f.crc32 >>> 0) throw corrupt(backupDir, `${f.path}: checksum mismatch (the backup is damaged)`, src);
      } finally {
        closeSync(fd);
      }
      listed.set(f.path, f);
    }

    // The manifest must be sound and reference exactly the listed segment files, with the same sizes.
    const path = join(tmp, 'manifest.db');
    let db: Db | undefined;
    try {
      db = openDb(path); // read-write: switches the copy back to WAL, as every manifest is
      checkFormat(db, path);
      const ok = db.pragma('quick_check', { simple: true });
      if (ok !== 'ok') throw corrupt(backupDir, `manifest.db fails SQLite's quick_check: ${String(ok)}`);
      const refs = new Set<string>();
      for (const r of listSegments(db)) {
        for (const [f, bytes, crc] of [
          [r.parquet_file, r.parquet_bytes, r.parquet_crc32],
          [r.index_file, r.index_bytes, r.index_crc32],
        ] as const) {
          const l = listed.get(`segments/${f}`);
          if (!l) throw corrupt(backupDir, `manifest.db references segments/${f}, which ${BACKUP_MARKER} does not list`);
          if (l.bytes !== bytes || l.crc32 >>> 0 !== crc >>> 0) throw corrupt(backupDir, `segments/${f} differs from what manifest.db records`);
          refs.add(`segments/${f}`);
        }
      }
      for (const p of listed.keys()) {
        if (p !== 'manifest.db' && !refs.has(p)) throw corrupt(backupDir, `${p} is listed but no segment of manifest.db references it`);
      }
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (e) {
      if (e instanceof ElacsymError && e.code === 'CORRUPT_MANIFEST') throw corrupt(backupDir, `manifest.db: ${e.message}`);
      const se = asStorageError(e, path);
      if (se instanceof ElacsymError && se.code === 'CORRUPT_MANIFEST') throw corrupt(backupDir, se.message);
      throw se;
    } finally {
      db?.close();
    }
    fsyncDir(join(tmp, 'segments'));
    fsyncDir(tmp);
    failpoint('restore:before-publish');

    let replaced = false;
    if (dir.exists(name)) {
      // Replace under the writer lock: a running import or compaction keeps its namespace. Two renames;
      // a crash between them leaves no namespace <name> (the old one in .drop-*, the new one in .tmp-*,
      // both swept), and rerunning the restore completes it: the backup is never consumed.
      // Waits interruptibly: a signal while waiting leaves the namespace as it was (INTERRUPTED).
      const lock = await acquireWriterLockAsync(join(final, 'writer.lock'), `namespace ${name}`, { waitSeconds: opts.waitSeconds ?? 0, signal: opts.signal, onLockWait: opts.onLockWait });
      const gone = join(dir.path, `${DROP_PREFIX}${name}-${process.pid}-${dir.clock()}`);
      try {
        renameSync(final, gone);
        failpoint('restore:after-old-renamed');
        try {
          renameSync(tmp, final);
        } catch (e) {
          renameSync(gone, final); // put the old namespace back rather than leave none
          throw e;
        }
        fsyncDir(dir.path);
      } finally {
        lock.release();
      }
      rmSync(gone, { recursive: true, force: true });
      replaced = true;
    } else {
      try {
        renameSync(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${dir.path}`, { details: { namespace: name } });
        }
        throw e;
      }
      fsyncDir(dir.path);
    }
    return {
      namespace: name,
      backup_dir: backupDir,
      backup_namespace: marker.namespace,
      backup_created_at: marker.created_at,
      replaced,
      files: marker.files.length,
      bytes: marker.files.reduce((a, f) => a + f.bytes, 0),
    };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
