/**
 * The single-writer lock of a namespace. A writer holds `BEGIN EXCLUSIVE` open on `<ns>/writer.lock`
 * (a tiny SQLite database in rollback-journal mode). SQLite takes a POSIX advisory lock for it, which the
 * kernel releases when the process exits for any reason, SIGKILL included: a dead writer never leaves the
 * namespace locked, and there is no stale-lock heuristic (pid files, timestamps) to get wrong.
 * Readers never touch this file; they use the manifest's WAL snapshots.
 *
 * A lock is on a file, not on a name: a writer that queued on a namespace's lock while the namespace was
 * dropped (and perhaps created again under the same name) wakes up holding the lock of a deleted file.
 * So the writer holds the identity of what it locked — the lock file's device and inode, taken before it
 * queued — and checks after the lock is granted that the file at the path is still that one. If it is
 * not, the namespace it queued on is gone: NAMESPACE_NOT_FOUND, and nothing is written (never into a
 * successor of the same name, whose manifest and segments it would otherwise mix with its own).
 */
import { closeSync, openSync, statSync, type Stats } from 'node:fs';
import { ElacsymError } from '../errors.js';
import { type Db, isBusy, openLockDb } from './sqlite.js';

export interface WriterLock {
  release(): void;
}

/**
 * Take the writer lock of `path`, waiting up to `waitSeconds` for another writer. `onWait` is called once,
 * before waiting, when the lock is taken (so a script can tell a queued writer from a running one).
 */
export function acquireWriterLock(path: string, waitSeconds: number, what: string, onWait?: () => void): WriterLock {
  const gone = (cause?: unknown) =>
    new ElacsymError('NAMESPACE_NOT_FOUND', `${what} was dropped while this process waited for its lock; nothing was written`, {
      cause,
      details: { path },
    });
  // The identity of the lock file we are about to queue on (created empty if missing: an empty file is an
  // empty SQLite database). A missing directory means the namespace is already gone.
  let before: Stats;
  try {
    before = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      closeSync(openSync(path, 'a'));
      before = statSync(path);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') throw gone(e2);
      throw e2;
    }
  }
  let db: Db | null = openLockDb(path, 0);
  try {
    try {
      db.exec('BEGIN EXCLUSIVE');
    } catch (e) {
      if (!isBusy(e) || waitSeconds <= 0) throw e;
      onWait?.();
      db.pragma(`busy_timeout = ${Math.floor(waitSeconds * 1000)}`);
      db.exec('BEGIN EXCLUSIVE');
    }
    let after: Stats | null = null;
    try {
      after = statSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // The open file is the one we statted before (a file being replaced between the stat and the open
    // also means the namespace was dropped and created again: refusing is right then too). It stays
    // open, so its inode cannot be reused by a successor's lock file.
    if (!after || after.ino !== before.ino || after.dev !== before.dev) throw gone();
  } catch (e) {
    db.close();
    if (e instanceof ElacsymError) throw e;
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
