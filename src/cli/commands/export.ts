import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, readlinkSync, realpathSync, renameSync, rmSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ElacsymError } from '../../errors.js';
import { toEnvError } from '../../util/env-error.js';
import { failpoint } from '../../util/failpoint.js';
import { fsyncDir, writeAllSync } from '../../util/fs.js';
import { namespaceDir } from '../../store/data-dir.js';
import { exportDocs } from '../../store/export.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import type { ObjectSegmentStore } from '../../storage/object-segment-store.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { interruptSignal } from '../interrupt.js';
import { out, type GlobalOptions } from '../output.js';

export default async function exportCmd([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // Output is the NDJSON itself (the same with --json); -o writes it to a file instead of stdout.
  // An s3:// data directory: the namespace's latest published version, read through the cache.
  checkS3EndpointUse(o, g.dataDir);
  if (isObjectStoreUrl(g.dataDir)) return (await import('../remote.js')).withRemoteNamespace(g.dataDir, name!, o, (dir, opts) => write(dir, opts, o));
  return write(namespaceDir(g.dataDir, name!), {}, o);
}

async function write(dir: string, opts: { segments?: ObjectSegmentStore }, o: Record<string, unknown>): Promise<number> {
  let target: Output | null = null;
  let done = false;
  let buf = '';
  try {
    // -o: the file is written whole or not at all (a temporary file renamed over it at the end), so a
    // failed or interrupted export never leaves a short file that looks like a complete one.
    const signal = typeof o.output === 'string' && o.output !== '-' ? interruptSignal(`stopping the export (${o.output} is left as it was)`) : null;
    target = typeof o.output === 'string' && o.output !== '-' ? openOutput(o.output) : null;
    for await (const line of exportDocs(dir, opts)) {
      if (target === null) await out(line);
      else {
        buf += line;
        if (buf.length > 1 << 20) {
          writeOutput(target, buf);
          buf = '';
          // A turn of the event loop per MiB: the reads above may all complete without one, and a signal
          // is only handled between turns (without this, SIGTERM waited for the end of the export).
          failpoint('export:after-chunk');
          await new Promise<void>((r) => setImmediate(r));
          if (signal?.aborted) throw interrupted(signal, String(o.output));
        }
      }
    }
    if (target !== null) {
      if (buf) writeOutput(target, buf);
      if (signal?.aborted) throw interrupted(signal, String(o.output));
      finishOutput(target);
    }
    done = true;
  } finally {
    if (target !== null && !done) abandonOutput(target);
  }
  return 0;
}

function interrupted(signal: AbortSignal, path: string): ElacsymError {
  const why = signal.reason instanceof Error ? signal.reason.message : 'interrupted';
  return new ElacsymError('INTERRUPTED', `${why}; ${path} is left as it was`, { hint: 'run the export again' });
}

/** An open -o target: `tmp` is the file written and renamed to `path`, or null when `path` is written in place. */
interface Output {
  fd: number;
  path: string;
  tmp: string | null;
  closed: boolean;
  /** A descriptor the process had already (-o /dev/stdout): written, never closed. */
  borrowed?: boolean;
}

/**
 * Open the -o target, naming the path and the problem (missing directory, a directory, no permission). A
 * regular file (or a new one) is written as a temporary file beside it; anything else (a FIFO, a device
 * such as /dev/stdout) is written in place, since renaming over it would replace it.
 */
/** The descriptor a name such as /dev/stdout, /dev/fd/N or /proc/self/fd/N stands for, or null. */
function descriptorOf(absPath: string): number | null {
  const m = /^\/(?:dev\/(stdout|stderr)|dev\/fd\/(\d+)|proc\/self\/fd\/(\d+))$/.exec(absPath);
  return m === null ? null : m[1] === 'stdout' ? 1 : m[1] === 'stderr' ? 2 : Number(m[2] ?? m[3]);
}

/**
 * Open the -o target, naming the path and the problem (missing directory, a directory, no permission). A
 * regular file (or a new one) is written as a temporary file beside it and renamed at the end; a symbolic
 * link is followed (the file it names is replaced, the link stays). Written in place instead: a FIFO, a
 * device, a dangling link, and a file its owner may write in a directory they may not. A name of one of
 * this process's descriptors (/dev/stdout, or a link to it) is that descriptor, never opened anew: that
 * would truncate the file the shell redirected to, `>>` or not, or write over its offset.
 */
function openOutput(userPath: string): Output {
  if (userPath === '') throw new ElacsymError('USAGE', '-o needs a file name (or leave -o out for standard output)', { details: { option: '-o' } });
  const link = lstatOrNull(userPath)?.isSymbolicLink() ? resolve(dirname(userPath), readlinkSync(userPath)) : null;
  for (const name of [resolve(userPath), link]) {
    const fd = name === null ? null : descriptorOf(name);
    if (fd !== null) return { fd, path: userPath, tmp: null, closed: false, borrowed: true };
  }
  const st = statOrNull(userPath); // through the link
  const special = [resolve(userPath), link].some((p) => p !== null && /^\/(dev|proc)\//.test(p));
  if (special || (link !== null && st === null) || (st !== null && !st.isFile())) return openInPlace(userPath);
  const path = link !== null ? realpathSync(userPath) : userPath;
  const mode = st === null ? null : st.mode & 0o7777;
  // A fixed-length name (the target's own may be at the 255-byte limit already).
  const tmp = join(dirname(path), `.elacsym-export-${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode ?? 0o666);
    if (mode !== null) fchmodSync(fd, mode); // the file keeps its permissions (umask aside)
    return { fd, path, tmp, closed: false };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'EACCES' || code === 'EPERM') && st !== null) return openInPlace(path);
    throw openError(e, path, dirname(path));
  }
}

function openInPlace(path: string): Output {
  try {
    return { fd: openSync(path, 'w'), path, tmp: null, closed: false };
  } catch (e) {
    throw openError(e, path, path);
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null; // missing, or not reachable: the open says why
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The error of a failed open of the -o target (or of its temporary file, `named` then its directory). */
function openError(e: unknown, path: string, named: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const dir = dirname(path);
  if (code === 'ENOENT' && statOrNull(dir) === null) {
    return new ElacsymError('FILE_NOT_FOUND', `cannot write ${path}: directory ${dir} does not exist`, { details: { path: dir }, hint: `create it first (mkdir -p ${dir})` });
  }
  if (code === 'EISDIR') return new ElacsymError('USAGE', `cannot write ${path}: it is a directory; name a file`, { details: { path } });
  return toEnvError(e, named, 'writing the export to');
}

function writeOutput(t: Output, text: string): void {
  try {
    writeAllSync(t.fd, text);
  } catch (e) {
    throw toEnvError(e, t.path, 'writing the export to');
  }
}

/** The export is complete: the temporary file is made durable and takes the target's name. */
function finishOutput(t: Output): void {
  try {
    if (t.tmp !== null) fsyncSync(t.fd);
    t.closed = true;
    if (!t.borrowed) closeSync(t.fd);
    if (t.tmp !== null) {
      renameSync(t.tmp, t.path);
      fsyncDir(dirname(t.path));
    }
  } catch (e) {
    throw toEnvError(e, t.path, 'writing the export to');
  }
}

/** The export failed: the temporary file goes, the target stays as it was. */
function abandonOutput(t: Output): void {
  if (!t.closed && !t.borrowed) closeSync(t.fd);
  if (t.tmp !== null) rmSync(t.tmp, { force: true });
}
