/**
 * The single-writer lock of a namespace. A writer holds `BEGIN EXCLUSIVE` open on `<ns>/writer.lock`
 * (a tiny SQLite database in rollback-journal mode). SQLite takes a POSIX advisory lock for it, which the
 * kernel releases when the process exits for any reason, SIGKILL included: a dead writer never leaves the
 * namespace locked, and there is no stale-lock heuristic (pid files, timestamps) to get wrong.
 * Readers never touch this file; they use the manifest's WAL snapshots.
 */
import { ElacsymError } from '../errors.js';
import { type Db, isBusy, openLockDb } from './sqlite.js';

export interface WriterLock {
  release(): void;
}

export function acquireWriterLock(path: string, waitSeconds: number, what: string): WriterLock {
  let db: Db | null = openLockDb(path, waitSeconds * 1000);
  try {
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    if (isBusy(e)) {
      throw new ElacsymError(
        'BUSY',
        waitSeconds > 0
          ? `${what} is still being written by another process after waiting ${waitSeconds}s`
          : `${what} is being written by another process`,
        { cause: e },
      );
    }
    throw e;
  }
  return {
    release() {
      if (!db) return;
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
        db = null;
      }
    },
  };
}
