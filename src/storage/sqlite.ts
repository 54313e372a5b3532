/**
 * The only importer of better-sqlite3. Everything else sees `Db`, a small interface over it, so the
 * dependency can be swapped (e.g. node:sqlite once Node 22 is the floor) in one file.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ElacsymError } from '../errors.js';
import { isCorrupt } from './sqlite-codes.js';
import { envError } from '../util/env-error.js';

/**
 * The addon's path, resolved once: handing it to better-sqlite3 skips the `bindings` package's search of
 * a dozen candidate paths at every start-up.
 */
let nativeBinding: string | undefined;
function binding(): string | undefined {
  if (nativeBinding === undefined) {
    try {
      nativeBinding = createRequire(import.meta.url).resolve('better-sqlite3/build/Release/better_sqlite3.node');
    } catch {
      nativeBinding = '';
    }
  }
  return nativeBinding || undefined;
}

export type Db = Database.Database;
export type Statement = Database.Statement;

export interface OpenDbOptions {
  readonly?: boolean;
  /** Milliseconds to wait on a locked database before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/** Whether `path` is certainly absent (ENOENT), not merely unreadable to this user (EACCES: existsSync says false too). */
function enoent(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Open a manifest database in WAL mode with synchronous=FULL: a transaction that returned is on disk
 * (this is what "acknowledged" means), and readers never block the one writer.
 *
 * Read-only opens must work where elacsym may not write (a read-only mount, another user's data
 * directory, a CI cache restored read-only). SQLite reads a WAL database there only if its `-wal` and
 * `-shm` files already exist (it then keeps the WAL index in memory); a namespace at rest has neither
 * (the last writer folded the log in and removed them), and SQLite cannot create them: it answers
 * SQLITE_CANTOPEN. Then, and only when no `-wal` with content exists (so the main file holds every
 * committed transaction), the file is read into memory whole and opened from there: see readDetached.
 */
export function openDb(path: string, opts: OpenDbOptions = {}): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: true, nativeBinding: binding() });
  } catch (e) {
    // Every database opened here is a manifest (a namespace's, a backup's, a checkout's): one that is gone
    // while its directory is there is damage, named as such, not a bare SQLITE_CANTOPEN.
    if (enoent(path) && existsSync(dirname(path))) {
      throw new ElacsymError('CORRUPT_MANIFEST', `${path} is missing: the manifest database (schema, journal, the list of segments) of ${dirname(path)}`, {
        cause: e,
        details: { path },
        hint: `restore the namespace from a backup (\`elacsym restore BACKUP_DIR ${basename(dirname(path))}\`), or remove it with \`elacsym drop ${basename(dirname(path))} --yes\``,
      });
    }
    throw asStorageError(e, path);
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    } else {
      // The first read opens the WAL: fail here, not in the middle of a caller's transaction.
      db.pragma('schema_version', { simple: true });
    }
    return db;
  } catch (e) {
    db.close();
    if (opts.readonly && !isBusy(e) && !isCorrupt(e)) {
      const detached = readDetached(path, e);
      if (detached) return detached;
    }
    throw asStorageError(e, path);
  }
}


/** Identity and last change of a file, to tell whether it changed while we read it. */
function fingerprint(path: string): string {
  const st = statSync(path, { bigint: true });
  let wal = '-';
  try {
    wal = String(statSync(`${path}-wal`).size);
  } catch {
    // no -wal file
  }
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${wal}`;
}

/**
 * A read-only, in-memory copy of a database whose directory elacsym may not write (see openDb), or null
 * when that is not the problem. Safe because:
 * - it is taken only when the `-wal` file is absent or empty, so the main file holds every committed
 *   transaction (a `-wal` with content we cannot index is refused: reading around it would be stale);
 * - a writer changes the main file only by checkpointing its `-wal`; the file's identity, size, times
 *   and the `-wal` are compared before and after the read, and a change means another try.
 * The copy costs memory equal to the manifest's size (`health` reports it as manifest_bytes).
 */
function readDetached(path: string, openError: unknown): Db | null {
  const walBytes = (() => {
    try {
      return statSync(`${path}-wal`).size;
    } catch {
      return 0;
    }
  })();
  try {
    statSync(path);
  } catch {
    return null; // missing or unreadable: asStorageError names it
  }
  if (walBytes > 0) {
    if (!existsSync(`${path}-shm`)) {
      throw new ElacsymError(
        'PERMISSION_DENIED',
        `${path} cannot be read without write access to ${dirname(path)}: its write-ahead log holds ${walBytes} bytes of committed changes, and SQLite must create ${path}-shm to read them`,
        { cause: openError, details: { path: dirname(path) }, hint: 'run any writing elacsym command (e.g. `elacsym wal replay <namespace>`) once with write access to fold the log in' },
      );
    }
    return null;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    let bytes: Buffer;
    let before: string;
    try {
      before = fingerprint(path);
      bytes = readFileSync(path);
      if (fingerprint(path) !== before) continue;
    } catch (e) {
      throw asStorageError(e, path);
    }
    // Bytes 18-19 of the header are 2 in WAL mode; the in-memory copy has no WAL, so mark it a rollback
    // journal database (1), as SQLite's own backup of a WAL database would.
    if (bytes.length >= 100 && bytes[18] === 2 && bytes[19] === 2) {
      bytes[18] = 1;
      bytes[19] = 1;
    }
    try {
      const db = new Database(bytes, { readonly: true, nativeBinding: binding() });
      db.pragma('schema_version', { simple: true });
      return db;
    } catch (e) {
      throw asStorageError(e, path);
    }
  }
  throw new ElacsymError('BUSY', `${path} kept changing while it was read (a writer is checkpointing it); retry`, { details: { path } });
}

/** Create a new database file (used by init into a temp directory, before the rename that publishes it). */
export function createDb(path: string): Db {
  let db: Db;
  try {
    db = new Database(path, { nativeBinding: binding() });
  } catch (e) {
    throw asStorageError(e, path);
  }
  // Before anything else touches the file: switching to WAL writes the header, after which SQLite
  // silently ignores a change of auto_vacuum (namespaces created before this line have NONE; the writer
  // converts them once, see Writer.collectGarbage).
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return db;
}

/** A lock database: rollback journal, no WAL, so BEGIN EXCLUSIVE takes a POSIX lock the kernel drops on death. */
export function openLockDb(path: string, waitMs: number): Db {
  const db = new Database(path, { nativeBinding: binding() });
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(waitMs))}`);
  return db;
}

export function isBusy(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * Name a failure of SQLite on `path`: busy, corrupt, or an environment failure (disk full, read-only,
 * permission, missing file; see util/env-error.ts). Anything else is returned unchanged (a bug).
 */
export function asStorageError(e: unknown, path: string): Error {
  if (e instanceof ElacsymError) return e;
  const code = (e as { code?: string } | null)?.code ?? '';
  if (isBusy(e)) return new ElacsymError('BUSY', `${path} is locked by another process`, { cause: e });
  if (isCorrupt(e)) {
    return new ElacsymError('CORRUPT_MANIFEST', `${path} is not a valid manifest database (${code})`, { cause: e, details: { path } });
  }
  const env = envError(e, path, 'opening or writing');
  if (env) return env;
  return e instanceof Error ? e : new Error(String(e));
}
