/**
 * The one place where failures of the environment (the disk, the file system, permissions) are named.
 * An errno from Node's fs (ENOSPC, EROFS, EACCES, ...) or a result code from SQLite (SQLITE_FULL,
 * SQLITE_READONLY, SQLITE_CANTOPEN, ...) says nothing about elacsym's own data: reporting it as INTERNAL
 * ("a bug") or CORRUPT_* (which pages an operator over healthy data) would send the user the wrong way.
 *
 *   ENOSPC, EDQUOT, SQLITE_FULL                  -> NO_SPACE          (exit 75: free space, retry)
 *   EROFS, EACCES, EPERM, SQLITE_READONLY*,
 *   SQLITE_AUTH, SQLITE_PERM                     -> PERMISSION_DENIED (exit 77, path named)
 *   ENOENT                                       -> FILE_NOT_FOUND    (exit 3, path named)
 *   EISDIR, ENOTDIR                              -> USAGE             (exit 2, path named)
 *   SQLITE_CANTOPEN, SQLITE_IOERR*               -> decided by looking at the file system: a missing
 *                                                   file, a directory we may not write, a full disk
 *
 * Callers that know more (a segment file the manifest lists is missing: CORRUPT_SEGMENT) decide first
 * and call this for the rest.
 */
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ElacsymError } from '../errors.js';

const NO_SPACE_ERRNO = new Set(['ENOSPC', 'EDQUOT']);
const PERMISSION_ERRNO = new Set(['EROFS', 'EACCES', 'EPERM']);

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

/** The path an fs error names, if any (Node sets `path` on most fs errors, not on read/write of an fd). */
function pathOf(e: unknown): string | undefined {
  const p = (e as { path?: unknown } | null)?.path;
  return typeof p === 'string' ? p : undefined;
}

/** True when `e` is an environment failure this module knows how to name. */
export function isEnvError(e: unknown): boolean {
  return envError(e) !== null;
}

/**
 * Name an environment failure, or return null when `e` is not one (a bug, or already an ElacsymError).
 * `path` is the file or directory the failing operation was about, `doing` a few words for the message
 * ("writing", "opening the manifest"); Node's own `e.path` wins when it is set.
 */
export function envError(e: unknown, path?: string, doing = 'accessing'): ElacsymError | null {
  if (e instanceof ElacsymError) return null;
  // better-sqlite3 checks the directory itself, with a TypeError and no code.
  if (e instanceof TypeError && /directory does not exist/.test(e.message)) {
    const dir = path ? dirname(path) : undefined;
    return new ElacsymError('FILE_NOT_FOUND', `directory ${dir ?? ''} does not exist`.replace('  ', ' '), { cause: e, details: dir ? { path: dir } : {} });
  }
  const code = codeOf(e);
  if (!code) return null;
  const p = pathOf(e) ?? path;
  const where = p ? ` ${p}` : '';
  const details = p ? { path: p } : {};
  if (NO_SPACE_ERRNO.has(code) || code === 'SQLITE_FULL') {
    return new ElacsymError('NO_SPACE', `no space left on the device ${doing}${where}`, { cause: e, details });
  }
  if (PERMISSION_ERRNO.has(code)) {
    const why = code === 'EROFS' ? 'the file system is read-only' : 'permission denied';
    return new ElacsymError('PERMISSION_DENIED', `${why} ${doing}${where}`, { cause: e, details });
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new ElacsymError('PERMISSION_DENIED', `${p ?? 'the database'} cannot be written: ${readOnlyReason(p)}`, { cause: e, details });
  }
  if (code === 'ENOENT' && (e as NodeJS.ErrnoException).syscall === 'mkdir' && p) {
    // A recursive mkdir on a read-only file system reports ENOENT for the directory it could not make:
    // the nearest directory that exists says what is wrong.
    let d = dirname(p);
    while (d !== dirname(d) && !existsSync(d)) d = dirname(d);
    const problem = writeProblem(d);
    if (problem) return new ElacsymError('PERMISSION_DENIED', `${d} ${problem} (${doing} ${p})`, { cause: e, details: { path: d } });
  }
  if (code === 'ENOENT') return new ElacsymError('FILE_NOT_FOUND', `${p ?? 'a file'} does not exist`, { cause: e, details });
  if (code === 'EISDIR') return new ElacsymError('USAGE', `${p ?? 'a path'} is a directory, not a file`, { cause: e, details });
  if (code === 'ENOTDIR') return new ElacsymError('USAGE', `${p ?? 'a path'}: a part of it is a file, not a directory`, { cause: e, details });
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR')) {
    // SQLite does not pass the errno on: ask the file system what is wrong with the path.
    if (p) {
      try {
        statSync(p);
        accessSync(p, constants.R_OK);
      } catch (se) {
        if (codeOf(se) === 'ENOENT') return new ElacsymError('FILE_NOT_FOUND', `${p} does not exist`, { cause: e, details });
        if (PERMISSION_ERRNO.has(codeOf(se))) return new ElacsymError('PERMISSION_DENIED', `permission denied ${doing} ${p}`, { cause: e, details });
      }
      const dirProblem = writeProblem(dirname(p));
      if (dirProblem) return new ElacsymError('PERMISSION_DENIED', `${dirname(p)} ${dirProblem} (${doing} ${p})`, { cause: e, details: { path: dirname(p) } });
      if (diskFull(p)) return new ElacsymError('NO_SPACE', `no space left on the device ${doing} ${p}`, { cause: e, details });
    }
  }
  return null;
}

/** Wrap `e` as an environment error when it is one; otherwise return it unchanged. */
export function toEnvError(e: unknown, path?: string, doing?: string): unknown {
  return envError(e, path, doing) ?? e;
}

/** Why `path` (a file or directory) cannot be written, or null when it can. */
export function writeProblem(path: string): string | null {
  try {
    accessSync(path, constants.W_OK);
    return null;
  } catch (e) {
    const c = codeOf(e);
    if (c === 'EROFS') return 'is on a read-only file system';
    if (c === 'EACCES' || c === 'EPERM') return 'is not writable by this user';
    return null;
  }
}

function readOnlyReason(p: string | undefined): string {
  if (!p) return 'it is read-only';
  return writeProblem(p) ?? writeProblem(dirname(p)) ?? 'it is read-only';
}

/** No free blocks left for this user on the file system holding `path` (best effort). */
export function diskFull(path: string): boolean {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

/**
 * Refuse a write up front when any of `paths` (those that exist) cannot be written, naming the first.
 * Clearer than whatever SQLite or a half-done write would report later, and nothing is attempted.
 */
export function assertWritable(paths: readonly string[], what: string): void {
  for (const p of paths) {
    let exists = true;
    try {
      statSync(p);
    } catch {
      exists = false;
    }
    if (!exists) continue;
    const problem = writeProblem(p);
    if (problem) {
      throw new ElacsymError('PERMISSION_DENIED', `cannot write ${what}: ${p} ${problem}`, { details: { path: p } });
    }
  }
}

/**
 * Refuse, naming the directory, when `path` (to be created) cannot be: its nearest existing ancestor is
 * not writable (a read-only mount, another user's directory). Without it, `mkdir -p` on a read-only file
 * system reports ENOENT for the missing component, which reads as "not found".
 */
export function assertCanCreate(path: string, what: string): void {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      break;
    } catch {
      const up = dirname(p);
      if (up === p) return;
      p = up;
    }
  }
  assertWritable([p], what);
}
