/**
 * The only importer of better-sqlite3. Everything else sees `Db`, a small interface over it, so the
 * dependency can be swapped (e.g. node:sqlite once Node 22 is the floor) in one file.
 */
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { ElacsymError } from '../errors.js';

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

/**
 * Open a manifest database in WAL mode with synchronous=FULL: a transaction that returned is on disk
 * (this is what "acknowledged" means), and readers never block the one writer.
 */
export function openDb(path: string, opts: OpenDbOptions = {}): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: true, nativeBinding: binding() });
  } catch (e) {
    throw asStorageError(e, path);
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    return db;
  } catch (e) {
    db.close();
    throw asStorageError(e, path);
  }
}

/** Create a new database file (used by init into a temp directory, before the rename that publishes it). */
export function createDb(path: string): Db {
  const db = new Database(path, { nativeBinding: binding() });
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

export function asStorageError(e: unknown, path: string): Error {
  if (e instanceof ElacsymError) return e;
  const code = (e as { code?: string } | null)?.code ?? '';
  if (isBusy(e)) return new ElacsymError('BUSY', `${path} is locked by another process`, { cause: e });
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new ElacsymError('CORRUPT_MANIFEST', `${path} is not a valid manifest database (${code})`, { cause: e, details: { path } });
  }
  if (code === 'SQLITE_FULL') return new ElacsymError('NO_SPACE', `disk full while writing ${path}`, { cause: e });
  if (code === 'SQLITE_CANTOPEN') {
    return new ElacsymError('FILE_NOT_FOUND', `cannot open ${path}`, { cause: e, details: { path } });
  }
  return e instanceof Error ? e : new Error(String(e));
}
