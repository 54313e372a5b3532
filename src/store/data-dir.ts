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
import { type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { validateNamespaceName } from '../model/schema.js';
import type { Schema } from '../model/types.js';
import { validateFullTextOptions } from '../index/fulltext/analyzer.js';
import { FORMAT_VERSION, initManifest, SEGMENT_FORMAT_VERSION } from '../storage/manifest.js';
import { manifestVersionFor } from './alter.js';
import { createDb } from '../storage/sqlite.js';
import { failpoint } from '../util/failpoint.js';
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
    if (!existsSync(path)) {
      if (!opts.create) {
        throw new ElacsymError('DATA_DIR_NOT_FOUND', `data directory ${path} does not exist`, { details: { path } });
      }
      mkdirSync(path, { recursive: true });
    }
    if (existsSync(metaPath)) {
      let v: unknown;
      try {
        v = (JSON.parse(readFileSync(metaPath, 'utf8')) as { format_version?: unknown }).format_version;
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
      writeFileAtomic(metaPath, new TextEncoder().encode(`${JSON.stringify({ format_version: DATA_DIR_VERSION })}\n`));
    }
    return new DataDir(path, opts);
  }

  namespacePath(name: string): string {
    return join(this.path, name);
  }

  /** Names of the namespaces, sorted. Leftovers of interrupted init/drop are not namespaces. */
  listNamespaces(): string[] {
    return readdirSync(this.path, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(this.path, e.name, 'manifest.db')))
      .map((e) => e.name)
      .sort();
  }

  exists(name: string): boolean {
    return existsSync(join(this.path, name, 'manifest.db'));
  }

  /**
   * Create a namespace. Everything is built in `.tmp-<name>-<pid>` and published by one rename, so a failed
   * or killed init leaves no namespace behind (the temp dir is swept by the next init/drop).
   */
  initNamespace(name: string, schema: Schema): void {
    validateNamespaceName(name);
    for (const a of Object.values(schema.attributes)) if (a.full_text) validateFullTextOptions(a.full_text);
    const final = this.namespacePath(name);
    if (existsSync(final)) {
      throw new ElacsymError('NAMESPACE_EXISTS', `namespace ${name} already exists in ${this.path}`, { details: { namespace: name } });
    }
    this.sweep();
    const tmp = join(this.path, `${TMP_PREFIX}${name}-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, 'segments'), { recursive: true });
    try {
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
      throw e;
    }
  }

  /** Remove a namespace: one rename out of sight (the commit point), then delete the files. */
  dropNamespace(name: string): void {
    validateNamespaceName(name);
    if (!this.exists(name)) {
      throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${this.path}`, { details: { namespace: name } });
    }
    const gone = join(this.path, `${DROP_PREFIX}${name}-${process.pid}-${this.clock()}`);
    renameSync(this.namespacePath(name), gone);
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

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Total bytes under `path`. Entries that vanish while it counts (a writer's renamed temp file, a file gc removed) count as 0. */
export function dirBytes(path: string): number {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) {
      try {
        total += statSync(p).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  return total;
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
