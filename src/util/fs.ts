import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
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
  const w = AtomicFileWriter.open(path);
  try {
    for (const c of Array.isArray(chunks) ? chunks : [chunks as Uint8Array]) w.write(c);
  } catch (e) {
    w.abort();
    throw e;
  }
  w.commit();
}

/**
 * writeFileAtomic in pieces, for a file made as it is written (a segment's Parquet file): `write` appends
 * to the temp file, `read` reads back what was written, `commit` fsyncs, renames over `path` and fsyncs the
 * directory; `abort` removes the temp file. Until `commit` returns nothing is at `path`.
 */
export class AtomicFileWriter {
  private done = false;
  private at = 0;
  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fd: number,
  ) {}

  static open(path: string): AtomicFileWriter {
    const tmp = `${path}.tmp-${process.pid}`;
    return new AtomicFileWriter(path, tmp, openSync(tmp, 'w+', 0o644));
  }

  write(c: Uint8Array): void {
    let off = 0;
    while (off < c.length) off += writeSync(this.fd, c, off, c.length - off, this.at + off);
    this.at += c.length;
  }

  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > this.at) throw new RangeError(`read of [${offset}, ${offset + length}) outside the ${this.at} bytes written`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error(`${this.tmp}: ends at byte ${offset + done}, before the ${this.at} bytes written`);
      done += n;
    }
    return out;
  }

  commit(): void {
    try {
      fsyncSync(this.fd);
    } catch (e) {
      this.abort();
      throw e;
    }
    this.done = true;
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
    fsyncDir(dirname(this.path));
  }

  /** Remove the temp file (idempotent; never throws). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }
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
