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
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { ElacsymError } from '../errors.js';
import { type Db, isBusy, openLockDb } from './sqlite.js';

export interface WriterLock {
  release(): void;
}

/** The identity of a lock file: what a writer queued on, checked again once the lock is granted. */
export interface LockIdentity {
  dev: number;
  ino: number;
}

function goneError(what: string, path: string, cause?: unknown): ElacsymError {
  return new ElacsymError('NAMESPACE_NOT_FOUND', `${what} was dropped while this process waited for its lock; nothing was written`, {
    cause,
    details: { path },
  });
}

/**
 * The identity of the lock file at `path` (created empty if missing: an empty file is an empty SQLite
 * database). A missing directory means the namespace is already gone: NAMESPACE_NOT_FOUND.
 */
export function lockIdentity(path: string, what: string): LockIdentity {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      closeSync(openSync(path, 'a'));
      return statSync(path);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') throw goneError(what, path, e2);
      throw e2;
    }
  }
}

/**
 * Take the writer lock of `path`, waiting up to `waitSeconds` for another writer. `onWait` is called once,
 * before waiting, when the lock is taken (so a script can tell a queued writer from a running one).
 * `identity` is the lock file the caller queued on (default: the one at `path` now); a writer that polls
 * (store/writer.ts) takes it once, before its first attempt, so a namespace dropped and created again
 * while it waited is refused, never written.
 */
export function acquireWriterLock(path: string, waitSeconds: number, what: string, onWait?: () => void, identity?: LockIdentity): WriterLock {
  const gone = (cause?: unknown) => goneError(what, path, cause);
  const before: LockIdentity = identity ?? lockIdentity(path, what);
  if (identity) {
    // Polling again: a lock file (or namespace) that is gone since the first attempt means a drop.
    try {
      statSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw gone(e);
      throw e;
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
    let after: LockIdentity | null = null;
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

/**
 * Whether a process holds the writer lock at `path` right now, without touching the lock: taking even a
 * shared lock to find out could make a writer that starts at that instant fail with BUSY. On Linux the
 * kernel lists every POSIX lock in /proc/locks by device and inode; elsewhere the answer is null
 * (unknown). Used by `health` to tell a running writer's files from a crashed one's.
 */
export function writerLockHeld(path: string): boolean | null {
  let st: { dev: number; ino: number };
  let table: string;
  try {
    st = statSync(path);
  } catch (e) {
    // No lock file: no writer has ever run here (the first one creates it).
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? false : null;
  }
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  // /proc/locks prints MAJOR:MINOR:INODE with major and minor in hex (the kernel's dev_t split, which
  // for st_dev as Node reports it is: major = bits 8-19, minor = bits 0-7 and 20-31).
  const major = (st.dev >>> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >>> 12) & 0xfff00);
  const want = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: POSIX  ADVISORY  WRITE 12110 fe:00:2147488 1073741824 1073742335" (blocked waiters start "->")
    if (f[1] === '->') continue;
    if (f[1] === 'POSIX' && f[5] === want) return true;
  }
  return false;
}
