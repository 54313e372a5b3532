import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** fsync a directory so a rename or create inside it survives power loss. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write a file so that a crash at any instant leaves either no file at `path` or the complete one:
 * write to a temp name in the same directory, fsync it, rename over, fsync the directory.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    for (const c of Array.isArray(chunks) ? chunks : [chunks as Uint8Array]) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/**
 * Write all of `data` to `fd`. writeSync may write less than asked (a disk filling up takes the part that
 * fits and reports no error): one call and ignoring its count truncated files in silence.
 */
export function writeAllSync(fd: number, data: string | Uint8Array): void {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}
