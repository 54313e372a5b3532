/**
 * The object-store port on a local directory: key `a/b/c` is the file `<root>/a/b/c`.
 *
 * Writes are atomic and durable: the bytes go to a temporary file under `<root>/.tmp/`, which is fsynced,
 * then published (rename for put, link for putIfAbsent), then the parent directory is fsynced. `link()`
 * fails with EEXIST when the key exists, which makes putIfAbsent atomic between processes without a lock,
 * exactly as `If-None-Match: *` is on S3. `.tmp/` is never listed. Emptied directories (`.tmp/` too) are
 * pruned, so a store leaves no trace of deleted keys; a writer re-creates a directory that a concurrent
 * prune removes under it (`inDir`).
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { toEnvError } from '../util/env-error.js';
import { fsyncDir } from '../util/fs.js';
import { type ByteRange, checkKey, type ListedObject, type ListOptions, type ObjectInfo, type ObjectStore } from './object-store.js';

const TMP = '.tmp';

/** An fs failure named for what it is (util/env-error.ts: NO_SPACE, PERMISSION_DENIED, ...), else as it is. */
function fsError(e: unknown, path: string, doing: string): never {
  throw toEnvError(e, path, doing);
}

export class LocalObjectStore implements ObjectStore {
  readonly location: string;

  /** The directory must exist (DATA_DIR_NOT_FOUND otherwise): a typo must not create a tree elsewhere. */
  constructor(readonly root: string) {
    this.location = root;
    let st;
    try {
      st = statSync(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ElacsymError('DATA_DIR_NOT_FOUND', `directory ${root} does not exist`);
      fsError(e, root, 'opening');
    }
    if (!st.isDirectory()) throw new ElacsymError('USAGE', `${root} is not a directory`);
  }

  private path(key: string): string {
    checkKey(key);
    if (key === TMP || key.startsWith(`${TMP}/`)) throw new ElacsymError('INTERNAL', `object key "${key}" is reserved`);
    return join(this.root, ...key.split('/'));
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array | null> {
    const p = this.path(key);
    let fh;
    try {
      fh = await open(p, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
      fsError(e, p, 'reading');
    }
    try {
      const size = (await fh.stat()).size;
      const start = range ? Math.min(range.offset, size) : 0;
      const end = range ? Math.min(size, range.offset + range.length) : size;
      const buf = Buffer.alloc(Math.max(0, end - start));
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buf.subarray(0, done);
    } catch (e) {
      // A directory where a file was expected reads as EISDIR: no object has that key.
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') return null;
      fsError(e, p, 'reading');
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const p = this.path(key);
    try {
      const st = await stat(p, { bigint: true });
      if (!st.isFile()) return null;
      return { size: Number(st.size), etag: `${st.size}-${st.mtimeNs}-${st.ino}` };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      fsError(e, p, 'reading');
    }
  }

  /** Write the bytes to a fresh fsynced temporary file; returns its path. */
  private async writeTmp(bytes: Uint8Array): Promise<string> {
    const dir = join(this.root, TMP);
    const tmp = join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      const fh = await inDir(dir, () => open(tmp, 'wx'));
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      fsError(e, tmp, 'writing');
    }
    return tmp;
  }

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<'created' | 'exists'> {
    const p = this.path(key);
    const tmp = await this.writeTmp(bytes);
    try {
      // link() is atomic and refuses an existing name: the local If-None-Match: *.
      await inDir(dirname(p), () => link(tmp, p));
      fsyncDir(dirname(p));
      return 'created';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      fsError(e, p, 'creating');
    } finally {
      // .tmp/ itself is never pruned: removing it would race every concurrent writer's mkdir.
      await unlink(tmp).catch(() => undefined);
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const p = this.path(key);
    const tmp = await this.writeTmp(bytes);
    try {
      await inDir(dirname(p), () => rename(tmp, p));
      fsyncDir(dirname(p));
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      fsError(e, p, 'writing');
    }
  }

  async listModified(prefix: string, opts: ListOptions = {}): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    for (const key of await this.list(prefix, opts)) {
      const st = await stat(this.path(key)).catch(() => null);
      if (st) out.push({ key, modified: st.mtimeMs });
    }
    return out;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<string[]> {
    // Walk only the directory the prefix is in ("a/b/c" -> <root>/a/b, then keep names starting with "c").
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(rel ? join(this.root, ...rel.split('/')) : this.root, { withFileTypes: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        fsError(e, rel || this.root, 'listing');
      }
      for (const d of entries) {
        const key = rel ? `${rel}/${d.name}` : d.name;
        if (key === TMP) continue;
        if (d.isDirectory()) {
          // Descend only where keys with the prefix can be.
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (d.isFile() && key.startsWith(prefix)) out.push(key);
      }
    };
    await walk(base);
    // Byte order of the UTF-8 keys, as S3 lists them (JS string order differs only outside the BMP).
    out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return opts.startAfter === undefined ? out : out.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(opts.startAfter!)) > 0);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const p = this.path(key);
      try {
        await unlink(p);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        fsError(e, p, 'deleting');
      }
      await this.prune(dirname(p));
    }
  }

  /**
   * Remove `dir` and its parents up to the root while they are empty, so deleted keys leave no empty
   * directories. Safe against a concurrent write into one of them: that write re-creates the directory
   * (`inDir`) when it vanished under it.
   */
  /** Removes the temporary directory when it is empty (doctor's probe leaves nothing behind). Best effort. */
  async tidy(): Promise<void> {
    await rmdir(join(this.root, TMP)).catch(() => undefined);
  }

  private async prune(dir: string): Promise<void> {
    for (let d = dir; d.length > this.root.length && d.startsWith(this.root); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or already gone): stop here
      }
    }
  }
}

/** Run `fn` (an open/link/rename into `dir`), creating `dir` first and again if it vanished meanwhile. */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      // Directories created here are made durable too: fsync the parent of each one, from `dir` up.
      // mkdir is inside the retry: a recursive mkdir that meets EEXIST stats the directory, and a
      // concurrent prune removing it in between makes mkdir itself fail with ENOENT (seen in CI).
      const made = await mkdir(dir, { recursive: true });
      if (made !== undefined) for (let d = dir; d.length >= made.length; d = dirname(d)) fsyncDir(dirname(d));
      return await fn();
    } catch (e) {
      // ENOENT: a concurrent prune removed the (empty) directory during mkdir or between mkdir and fn.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw e;
    }
  }
}
