/**
 * A data directory: one sub-directory per namespace, plus `elacsym.json` naming the format version.
 *
 *   <data-dir>/elacsym.json                {"format_version": 2}
 *   <data-dir>/<ns>/manifest.db            SQLite (WAL): schema, journal, segments, deletions, id locations
 *   <data-dir>/<ns>/writer.lock            SQLite lock database (see storage/lock.ts)
 *   <data-dir>/<ns>/segments/seg-NNNNNNNN.parquet, .idx
 *
 * Creating and dropping a namespace are a single rename each, so a crash leaves it wholly there or not.
 */
import { type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import type { Schema } from '../model/types.js';
import { validateFullTextOptions } from '../index/fulltext/analyzer.js';
import { FORMAT_VERSION, initManifest, SEGMENT_FORMAT_VERSION } from '../storage/manifest.js';
import { manifestVersionFor, withPositionsResolved } from './alter.js';
import { createDb } from '../storage/sqlite.js';
import { failpoint } from '../util/failpoint.js';
import { assertWritable, envError, toEnvError } from '../util/env-error.js';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';

/**
 * Version written to a new data dir's elacsym.json: the segment format (2), not FORMAT_VERSION, so that a
 * data dir is refused by an older elacsym only for what its namespaces hold (see FORMAT_VERSION).
 */
const DATA_DIR_VERSION = SEGMENT_FORMAT_VERSION;
const DIR_META = 'elacsym.json';
/** Prefixes of the hidden directories of unfinished init/restore (tmp) and drop runs; `sweep` removes them. */
export const TMP_PREFIX = '.tmp-';
export const DROP_PREFIX = '.drop-';

export interface DataDirOptions {
  /** Create the directory if missing (init does; everything else refuses a missing directory). */
  create?: boolean;
  clock?: () => number;
}

export class DataDir {
  readonly clock: () => number;
  private constructor(
    readonly path: string,
    opts: DataDirOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
  }

  static open(path: string, opts: DataDirOptions = {}): DataDir {
    const metaPath = join(path, DIR_META);
    const st = statOrNull(path);
    if (!st) {
      if (!opts.create) {
        throw new ElacsymError('DATA_DIR_NOT_FOUND', `data directory ${path} does not exist`, { details: { path } });
      }
      try {
        mkdirSync(path, { recursive: true });
      } catch (e) {
        throw toEnvError(e, path, 'creating the data directory');
      }
    } else if (!st.isDirectory()) {
      throw new ElacsymError('USAGE', `data directory ${path} is not a directory`, { details: { path }, hint: 'pass --data-dir DIR (or set ELACSYM_DATA_DIR) naming a directory' });
    }
    let text: string | null = null;
    try {
      text = readFileSync(metaPath, 'utf8');
    } catch (e) {
      // Missing: a data directory made by hand or by an early release; anything else is the environment.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toEnvError(e, metaPath, 'reading');
    }
    if (text !== null) {
      let v: unknown;
      try {
        v = (JSON.parse(text) as { format_version?: unknown }).format_version;
      } catch (e) {
        throw new ElacsymError('CORRUPT_MANIFEST', `${metaPath} is not valid JSON`, { cause: e, details: { path: metaPath } });
      }
      // Versions are 1, 2, ...: anything else (0, 1.5, "1") was not written by any elacsym.
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ElacsymError('CORRUPT_MANIFEST', `${metaPath} has no valid format_version`, { details: { path: metaPath } });
      if (v < 1) throw new ElacsymError('FORMAT_TOO_OLD', `${path} has unsupported format version ${v}`, { details: { path } });
      if (v > FORMAT_VERSION) {
        throw new ElacsymError('FORMAT_TOO_NEW', `${path} was written by format version ${v}; this elacsym reads up to ${FORMAT_VERSION}`, {
          details: { path },
        });
      }
    } else if (opts.create) {
      assertWritable([path], `data directory ${path}`);
      try {
        writeFileAtomic(metaPath, new TextEncoder().encode(`${JSON.stringify({ format_version: DATA_DIR_VERSION })}\n`));
      } catch (e) {
        throw toEnvError(e, metaPath, 'writing');
      }
    }
    return new DataDir(path, opts);
  }

  namespacePath(name: string): string {
    return join(this.path, name);
  }

  /**
   * Names of the namespaces, sorted. Leftovers of interrupted init/drop are not namespaces. A namespace
   * directory may be a symbolic link (to another disk, say): queries follow it, so listing does too.
   */
  listNamespaces(): string[] {
    let entries: Dirent[];
    try {
      entries = readdirSync(this.path, { withFileTypes: true });
    } catch (e) {
      throw toEnvError(e, this.path, 'listing');
    }
    return entries
      .filter((e) => {
        if (e.name.startsWith('.')) return false;
        if (!e.isDirectory() && !(e.isSymbolicLink() && lstatCode(join(this.path, e.name, '.')) === null)) return false; // a dangling or looping link is no namespace
        // An unreadable namespace directory is still a namespace: listed, so that reading it reports why.
        const m = lstatCode(join(this.path, e.name, 'manifest.db'));
        return m === null || (m !== 'ENOENT' && m !== 'ENOTDIR') || lostManifest(join(this.path, e.name));
      })
      .map((e) => e.name)
      .sort();
  }

  /** Whether namespace `name` exists; a directory we may not look into is an error, not a "no". */
  exists(name: string): boolean {
    const c = lstatCode(join(this.path, name, 'manifest.db'));
    if (c === null) return true;
    if (c === 'ENOENT' || c === 'ENOTDIR') return lostManifest(join(this.path, name));
    throw new ElacsymError('PERMISSION_DENIED', `permission denied reading namespace directory ${join(this.path, name)}`, { details: { path: join(this.path, name) } });
  }

  /**
   * Create a namespace. Everything is built in `.tmp-<name>-<pid>` and published by one rename, so a failed
   * or killed init leaves no namespace behind (the temp dir is swept by the next init/drop). Returns the
   * schema as stored (every full-text field's `positions` stated).
   */
  initNamespace(name: string, given: Schema): Schema {
    validateNamespaceName(name);
    for (const a of Object.values(given.attributes)) if (a.full_text) validateFullTextOptions(a.full_text);
    const schema = withPositionsResolved(given);
    const final = this.namespacePath(name);
    if (existsSync(final)) {
      throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${this.path}`, { details: { namespace: name } });
    }
    assertWritable([this.path], `namespace ${name} into ${this.path}`);
    this.sweep();
    const tmp = join(this.path, `${TMP_PREFIX}${name}-${process.pid}`);
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(join(tmp, 'segments'), { recursive: true });
      const db = createDb(join(tmp, 'manifest.db'));
      try {
        initManifest(db, schema, this.clock(), manifestVersionFor(schema, false));
        // Fold the WAL into the main file so the published directory is self-contained.
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
      }
      fsyncDir(join(tmp, 'segments'));
      fsyncDir(tmp);
      failpoint('init:after-dir-create');
      try {
        renameSync(tmp, final);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${this.path}`, { details: { namespace: name } });
        }
        throw e;
      }
      fsyncDir(this.path);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (e instanceof ElacsymError && e.code !== 'NO_SPACE' && e.code !== 'PERMISSION_DENIED') throw e;
      const env = e instanceof ElacsymError ? e : envError(e, tmp, 'creating the namespace in');
      if (!env) throw e;
      throw new ElacsymError(env.code, `${env.message}; namespace ${name} was not created`, { cause: e, details: env.details });
    }
    return schema;
  }

  /** Remove a namespace: one rename out of sight (the commit point), then delete the files. */
  dropNamespace(name: string): void {
    validateNamespaceName(name);
    if (!this.exists(name)) {
      throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${this.path}`, { details: { namespace: name } });
    }
    assertWritable([this.path], `namespace ${name} out of ${this.path}`);
    const gone = join(this.path, `${DROP_PREFIX}${name}-${process.pid}-${this.clock()}`);
    try {
      renameSync(this.namespacePath(name), gone);
    } catch (e) {
      throw toEnvError(e, this.namespacePath(name), 'dropping');
    }
    fsyncDir(this.path);
    failpoint('drop:after-rename');
    rmSync(gone, { recursive: true, force: true });
  }

  /** Remove leftovers of killed init/drop runs whose owner is gone. Best effort, never throws. */
  sweep(): void {
    try {
      for (const e of readdirSync(this.path)) {
        if (!e.startsWith(TMP_PREFIX) && !e.startsWith(DROP_PREFIX)) continue;
        const pid = Number(/-(\d+)(?:-\d+)?$/.exec(e)?.[1]);
        if (e.startsWith(TMP_PREFIX) && pid && pidAlive(pid)) continue;
        rmSync(join(this.path, e), { recursive: true, force: true });
      }
    } catch {
      // best effort
    }
  }

  /** Total bytes of a namespace's files. */
  diskBytes(name: string): number {
    return dirBytes(this.namespacePath(name));
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw toEnvError(e, path, 'reading');
  }
}

/** null when `path` exists, else the errno code of looking at it. */
function lstatCode(path: string): string | null {
  try {
    statSync(path);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  }
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Total bytes of the files under `path`. What cannot be read (a stray root-owned lost+found) counts 0. */
export function dirBytes(path: string): number {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    try {
      if (e.isDirectory()) total += dirBytes(p);
      else if (e.isFile()) total += statSync(p).size;
    } catch {
      // vanished (a writer's temp file) or unreadable: not counted
    }
  }
  return total;
}

/**
 * A namespace directory whose manifest.db is gone while its segments/ directory is there (deleted by hand,
 * a partial copy): still a namespace, listed (health reports it), existing (init refuses the name, drop
 * removes it), whose every open is CORRUPT_MANIFEST (storage/sqlite.ts openDb). It was invisible: health
 * and ls left it out, query said NAMESPACE_NOT_FOUND (hint: init it) and init said NAMESPACE_EXISTS.
 */
export function lostManifest(nsPath: string): boolean {
  try {
    return statSync(join(nsPath, 'segments')).isDirectory();
  } catch {
    return false;
  }
}

/** Resolve a namespace directory, refusing invalid names and missing namespaces. */
export function namespaceDir(dataDir: string, name: string): string {
  validateNamespaceName(name);
  const dir = DataDir.open(dataDir);
  if (!dir.exists(name)) {
    throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${dataDir}`, { details: { namespace: name } });
  }
  return dir.namespacePath(name);
}
