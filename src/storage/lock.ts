/**
 * The single-writer lock of a namespace. A writer holds `BEGIN EXCLUSIVE` open on `<ns>/writer.lock`
 * (a tiny SQLite database in rollback-journal mode). SQLite takes a POSIX advisory lock for it, which the
 * kernel releases when the process exits for any reason, SIGKILL included: a dead writer never leaves the
 * namespace locked, and there is no stale-lock heuristic (pid files, timestamps) to get wrong.
 * Readers never touch this file; they use the manifest's WAL snapshots.
 */
import { readFileSync, statSync } from 'node:fs';
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
