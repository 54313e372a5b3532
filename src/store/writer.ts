/**
 * The single writer of a namespace: holds the writer lock, appends journal batches, flushes them into
 * segments. Opening a writer first recovers: every pending journal entry is flushed (idempotently — the
 * journal rows and the segment they became are swapped in one transaction) and damaged entries are
 * quarantined with their bytes kept.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { idKey } from '../model/document.js';
import { attributeOf, dataRecord, inferType } from '../model/schema.js';
import type { AttributeSchema, AttrValue, Doc, DocId, Schema } from '../model/types.js';
import { decodeDeletes, decodeUpserts, encodeDeletes, encodeUpserts } from '../storage/journal-codec.js';
import { acquireWriterLockAsync, type WriterLock } from '../storage/lock.js';
import {
  type JournalRow,
  insertSegment,
  appendJournal,
  checkFormat,
  ensureDeletedCopy,
  ensureIdMapCopy,
  ensureImportsCrc,
  getMeta,
  journalDamage,
  journalEntries,
  journalHighWater,
  listSegments,
  quarantineEntry,
  readSchema,
  setMeta,
} from '../storage/manifest.js';
import { asStorageError, type Db, openDb } from '../storage/sqlite.js';
import { ElacsymError, isElacsymError } from '../errors.js';
import { assertWritable, envError, toEnvError } from '../util/env-error.js';
import { failpoint, failpointPause } from '../util/failpoint.js';
import { type BuildPhase, segmentFileName, writeSegment } from './segment-builder.js';
import { releasingArraySource } from '../storage/doc-source.js';
import { isSegmentFileName } from '../storage/segment-file.js';
import { segmentStoreOf } from '../storage/segment-store.js';

/**
 * Default bound on the bytes of one segment flush (journal payload bytes, about the documents' JSON and
 * vectors). A segment build holds its documents in memory and serialises whole columns into one string,
 * so a flush must be bounded in bytes as well as in documents: with a document count alone, eleven 47 MB
 * documents made one 517 MB column string (V8's limit is about 512 MiB), the flush crashed, and every
 * later writer's recovery retried the same impossible flush. A flush never takes less than one journal
 * entry, and import cuts journal batches at half this bound (see ingest.ts), so any acknowledged batch fits.
 */
export const DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024;

/**
 * The writer's `wal_autocheckpoint`, in pages: what 1.25 segment flushes' worth of journal payload
 * (`segmentBytes`) takes, plus SQLite's default 1,000 pages for the manifest's own writes; at least that
 * default. See the Writer constructor.
 */
export function walCheckpointPages(segmentBytes: number, pageSize: number): number {
  return 1000 + Math.ceil((1.25 * segmentBytes) / Math.max(512, pageSize));
}

export interface WriterOptions {
  /** Documents per segment when flushing a backlog (bounds memory). */
  segmentDocs?: number;
  /** Journal payload bytes per segment flush (bounds memory and every string a build makes). */
  segmentBytes?: number;
  /**
   * Aborting stops flushes cleanly: the segment being built is abandoned before its manifest commit
   * (its files become orphans for gc), what is committed stays committed, and INTERRUPTED is thrown.
   */
  signal?: AbortSignal;
  /** Seconds to wait for another writer; 0 = fail at once with BUSY. */
  waitSeconds?: number;
  clock?: () => number;
  /** Skip recovery on open (used by `wal inspect`-style tools that only read). */
  recover?: boolean;
  /** Called once when another writer holds the lock and this one starts waiting for it (--wait). */
  onLockWait?: () => void;
  onPhase?: (phase: BuildPhase | 'commit', docs: number) => void;
}

/**
 * How far an import of a file got: its first `lines` lines are committed, and `crc32` is their
 * fingerprint (ingest.ts lineFingerprint), null where an older release recorded the point without one.
 */
export interface ResumePoint {
  lines: number;
  crc32: number | null;
}

export interface FlushResult {
  segmentId: number | null;
  docs: number;
  inserted: number;
  updated: number;
  deleted: number;
  entries: number;
  quarantined: number;
}


type PendingOp = { seq: number; op: 'upsert'; docs: Doc[] } | { seq: number; op: 'delete'; ids: DocId[] };

/** The most a VectorArena reserves (address space: its pages are used only as rows are written). */
const ARENA_MAX_BYTES = 512 * 1024 * 1024;

/**
 * The vectors of the in-memory pending documents, in pending order, as consecutive rows of one
 * SharedArrayBuffer sized for a flush (segmentDocs rows, at most ARENA_MAX_BYTES). A buffer that large is
 * mapped lazily: it holds memory only as rows are written. When a flush takes every pending document in
 * this order (an import without repeated ids), the segment builder hands these rows to the IVF build's
 * worker as they are (segment-builder.ts packVectors), where blocks of one batch each had to be packed
 * into a copy: one float32 array of every vector of the segment less (49 MB at 100k x 128), and no blocks
 * left to the allocator. Rows are never moved, and are overwritten only after a flush has committed every
 * one of them (`reuse`): until then a document's view stays valid (a failed flush is retried from the same
 * documents). A batch that does not fit gets a block of its own (withVectorsInOneBlock), and that flush
 * packs a copy.
 */
class VectorArena {
  private readonly buf: Float32Array;
  private rows = 0;

  constructor(
    readonly dim: number,
    /** The pending list whose documents hold views of this arena (a new list gets a new arena, or this one reused). */
    public owner: PendingOp[],
    capacityRows: number,
  ) {
    const rows = Math.max(1, Math.min(capacityRows, Math.floor(ARENA_MAX_BYTES / (4 * dim))));
    this.buf = new Float32Array(new SharedArrayBuffer(rows * dim * 4));
  }

  /**
   * Start over for `owner`, the next pending list. Only once every row is in a committed segment and
   * nothing reads them any more (the flush has finished, its IVF build too): rows are overwritten.
   */
  reuse(owner: PendingOp[]): void {
    this.owner = owner;
    this.rows = 0;
  }

  /**
   * The batch's documents, those with a vector of `dim` numbers as new objects (sharing id and attributes)
   * whose vector is a view of the arena's next rows; null when they do not fit. The caller's objects are
   * not changed.
   */
  add(docs: readonly Doc[]): Doc[] | null {
    const dim = this.dim;
    let k = 0;
    for (const d of docs) if (d.vector && d.vector.length === dim) k++;
    if ((this.rows + k) * dim > this.buf.length) return null;
    return docs.map((d) => {
      if (!d.vector || d.vector.length !== dim) return d;
      const v = this.buf.subarray(this.rows * dim, (this.rows + 1) * dim);
      v.set(d.vector);
      this.rows++;
      return { id: d.id, vector: v, attributes: d.attributes };
    });
  }
}

/**
 * The batch's documents with their vectors copied into one Float32Array (each a view of it), as
 * decodeUpserts reads them back from the journal. A segment's worth of pending documents is held until
 * the flush: 100k vectors of 128 dimensions take ~100 MB as separate typed arrays (each with its own
 * ArrayBuffer and allocation) and ~69 MB as views of one block per batch. The caller's objects are not
 * changed; the documents are new objects sharing their ids and attributes.
 */
function withVectorsInOneBlock(docs: readonly Doc[], dim: number, arena: VectorArena | null = null): Doc[] {
  if (arena !== null) {
    const inArena = arena.add(docs);
    if (inArena !== null) return inArena;
  }
  if (dim === 0) return docs as Doc[];
  let k = 0;
  for (const d of docs) if (d.vector && d.vector.length === dim) k++;
  const block = new Float32Array(k * dim);
  k = 0;
  return docs.map((d) => {
    if (!d.vector || d.vector.length !== dim) return d;
    const v = block.subarray(k * dim, (k + 1) * dim);
    v.set(d.vector);
    k++;
    return { id: d.id, vector: v, attributes: d.attributes };
  });
}

/** The two copies of the id map disagree about `key`: writing on would make it live twice or lose a row. */
function idMapDamaged(dir: string, key: string): ElacsymError {
  const ns = basename(dir);
  return new ElacsymError('CORRUPT_MANIFEST', `${join(dir, 'manifest.db')}: the id map is damaged (its two copies disagree about id ${key}); nothing was written`, {
    hint: `run \`elacsym health ${ns} --deep\`; queries and export still work: \`elacsym export ${ns}\` into a new namespace, or restore the manifest from a backup`,
    details: { path: join(dir, 'manifest.db') },
  });
}

export class Writer {
  readonly db: Db;
  schema: Schema;
  private lock: WriterLock | null;
  private pending: PendingOp[] | null = null;
  /**
   * Set while `pending` holds documents staged by `stageUpserts` (in no journal entry): the journal's high
   * water when staging began (the ops' seq), whether the schema gained attributes, the resume point.
   */
  private staged: { seq: number; schemaChanged: boolean; resume: (ResumePoint & { source: string }) | undefined } | null = null;
  /** The vectors of `pending`'s documents (see VectorArena); replaced with the list. */
  private arena: VectorArena | null = null;
  private pendingDocs = 0;
  private pendingBytes = 0;
  private readonly clock: () => number;
  readonly recovered: FlushResult | null;
  /**
   * Damaged journal entries this writer set aside in quarantine since it opened (its recovery flush
   * included): a command that flushed reports them, since their documents are no longer in the namespace.
   */
  quarantinedEntries = 0;
  /** Of those, entries of deletes: the documents they deleted are live again. */
  quarantinedDeletes = 0;
  /** Documents per segment when flushing a backlog from the journal. */
  segmentDocs: number;
  /** Journal payload bytes per segment flush. */
  segmentBytes: number;

  private constructor(
    readonly dir: string,
    db: Db,
    lock: WriterLock,
    private readonly opts: WriterOptions,
    /** The namespace's name (for messages and hints). */
    readonly name: string,
  ) {
    this.db = db;
    this.lock = lock;
    this.clock = opts.clock ?? Date.now;
    this.schema = readSchema(db);
    this.recovered = null;
    this.segmentDocs = opts.segmentDocs ?? 100_000;
    this.segmentBytes = Math.max(1, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
    // The journal is written once: into the WAL, where the flush that builds its segment deletes it again
    // before the one checkpoint it runs (collectGarbage: incremental vacuum, then TRUNCATE). A checkpoint
    // copies a WAL page into the database file only while the page is within the database's size, and
    // the vacuum has cut the journal's pages off by then. SQLite's default (a checkpoint whenever the WAL
    // passes 1,000 pages, 4 MB) ran one after every import batch (6.6 MB at 128-d): each journal byte was
    // written and fsynced twice, 280 -> 205 MB written per 100k import (docs/performance.md, session 29).
    // Bounded still: past 1.25 segments' worth of pages (a `--no-flush` import, a writer whose flushes
    // fail) the WAL is checkpointed as before, so it never grows with the input.
    const pageSize = Number(db.pragma('page_size', { simple: true })) || 4096;
    db.pragma(`wal_autocheckpoint = ${walCheckpointPages(this.segmentBytes, pageSize)}`);
  }

  get signal(): AbortSignal | undefined {
    return this.opts.signal;
  }

  static async open(dir: string, name: string, opts: WriterOptions = {}): Promise<Writer> {
    const path = join(dir, 'manifest.db');
    // Refuse up front, naming the path, where this user or this mount may not write: otherwise SQLite
    // would open read-only in silence and fail later with a code that names nothing.
    assertWritable([dir, join(dir, 'segments'), path, join(dir, 'writer.lock')], `namespace ${name}`);
    let lock: WriterLock;
    try {
      lock = await acquireWriterLockAsync(join(dir, 'writer.lock'), `namespace ${name}`, opts);
    } catch (e) {
      throw asStorageError(e, join(dir, 'writer.lock'));
    }
    let db: Db | undefined;
    try {
      db = openDb(path);
      checkFormat(db, path);
      ensureIdMapCopy(db);
      ensureDeletedCopy(db);
      ensureImportsCrc(db);
      const w = new Writer(dir, db, lock, opts, name);
      mkdirSync(join(dir, 'segments'), { recursive: true });
      if (opts.recover !== false) {
        // Orphans of writers that crashed go first: on a full disk, the files a failed flush left behind
        // are what the recovery flush needs room for. Files only: the checkpoint after recovery is enough
        // (each one may wait for readers up to the busy timeout).
        w.collectGarbage({ filesOnly: true });
        try {
          (w as { recovered: FlushResult | null }).recovered = await w.flush();
        } catch (e) {
          const env = isElacsymError(e) ? e : envError(e, join(dir, 'segments'), 'writing');
          if (env?.code === 'NO_SPACE') {
            const pending = w.pendingDocCount;
            throw new ElacsymError(
              'NO_SPACE',
              `${env.message}: the disk filled while building segments from the journal backlog of namespace ${name}; every acknowledged document is kept in the journal (${pending} documents still pending, queryable)`,
              { cause: e, details: env.details, hint: `free disk space, then run \`elacsym wal replay ${name}\` (or rerun the command)` },
            );
          }
          throw e;
        }
        // ... and those of this recovery's own superseded files.
        w.collectGarbage();
      }
      return w;
    } catch (e) {
      db?.close();
      lock.release();
      throw asStorageError(e, dir);
    }
  }

  /** Documents in pending journal entries (read from the manifest until recovery has loaded them). */
  get pendingDocCount(): number {
    if (this.pending) return this.pendingDocs;
    return Number((this.db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM journal').get() as { n: number }).n);
  }

  /** Payload bytes of pending journal entries (read from the manifest until recovery has loaded them). */
  get pendingByteCount(): number {
    if (this.pending) return this.pendingBytes;
    return Number((this.db.prepare('SELECT COALESCE(SUM(LENGTH(payload)), 0) AS n FROM journal').get() as { n: number }).n);
  }

  /**
   * Append one batch of upserts to the journal: the batch is durable (synchronous=FULL) and visible to
   * queries when this returns. New schemaless attributes and the import's resume point commit with it.
   */
  appendUpserts(docs: Doc[], newAttrs: ReadonlyMap<string, AttrValue>, resume?: ResumePoint & { source: string }): number {
    if (this.staged) internal('a journal append while documents are staged for a bulk segment');
    const payload = encodeUpserts(docs, this.schema.vector_dim);
    const next = this.withNewAttributes(newAttrs);
    const schemaChanged = next !== this.schema;
    failpoint('import:before-journal-commit');
    const seq = this.db.transaction(() => {
      const s = appendJournal(this.db, 'upsert', docs.length, payload, this.clock());
      if (schemaChanged) setMeta(this.db, 'schema', JSON.stringify(next));
      if (resume) this.recordResume(resume);
      return s;
    })();
    failpoint('import:after-journal-commit');
    if (schemaChanged) this.schema = next;
    // Kept in memory only while the in-memory copy is complete (after recovery); otherwise the next
    // flush reads every pending entry back from the journal.
    if (this.pending) {
      const dim = this.schema.vector_dim;
      if (dim > 0 && (this.arena?.owner !== this.pending || this.arena.dim !== dim)) this.arena = new VectorArena(dim, this.pending, this.segmentDocs);
      this.pending.push({ seq, op: 'upsert', docs: withVectorsInOneBlock(docs, dim, dim > 0 ? this.arena : null) });
      this.pendingDocs += docs.length;
      this.pendingBytes += payload.length;
    }
    return seq;
  }

  /**
   * `import --bulk`: hold one batch of upserts in memory for the next `flush`, without the journal. Nothing
   * is durable, visible or acknowledged until that flush commits the segment; the resume point and the new
   * schemaless attributes commit in the same manifest transaction. A failed or interrupted flush (or a
   * crash) loses the staged documents, never anything committed before them: the caller acknowledges a
   * document only once `flush` returned. Needs an empty journal and the writer's in-memory copy (after
   * recovery); journal appends and staging never mix before a flush. Returns the staged documents' count.
   *
   * Why: the journal append (encoding, SQLite's copy of each payload, its WAL and fsync) was 14-19% of a
   * fully indexed import's time and 25-30 MiB of its peak memory at 100k (docs/performance.md, session 23).
   */
  stageUpserts(docs: Doc[], newAttrs: ReadonlyMap<string, AttrValue>, resume?: ResumePoint & { source: string }): number {
    if (this.pending === null) internal('bulk staging needs the writer\'s in-memory copy of the journal (open with recovery)');
    if (!this.staged) {
      if (this.pending.length > 0) internal('bulk staging after journal appends that were not flushed');
      const n = (this.db.prepare('SELECT COUNT(*) AS n FROM journal').get() as { n: number }).n;
      if (n > 0) internal(`bulk staging over ${n} journal entries not flushed`);
      this.staged = { seq: journalHighWater(this.db), schemaChanged: false, resume: undefined };
    }
    const next = this.withNewAttributes(newAttrs);
    if (next !== this.schema) {
      this.schema = next;
      this.staged.schemaChanged = true;
    }
    if (resume) this.staged.resume = resume;
    const dim = this.schema.vector_dim;
    if (dim > 0 && (this.arena?.owner !== this.pending || this.arena.dim !== dim)) this.arena = new VectorArena(dim, this.pending, this.segmentDocs);
    this.pending.push({ seq: this.staged.seq, op: 'upsert', docs: withVectorsInOneBlock(docs, dim, dim > 0 ? this.arena : null) });
    this.pendingDocs += docs.length;
    this.pendingBytes += stagedBytes(docs, dim);
    return docs.length;
  }

  /** The schema with the attributes first seen in a batch inferred and added (the same object if none). */
  private withNewAttributes(newAttrs: ReadonlyMap<string, AttrValue>): Schema {
    let next: Schema | null = null;
    for (const [name, v] of newAttrs) {
      if (attributeOf(next ?? this.schema, name)) continue;
      const t = inferType(v);
      if (!t) continue;
      // A null-prototype copy: a new attribute named "__proto__" becomes an own key, not the prototype.
      next ??= { ...this.schema, attributes: Object.assign(dataRecord<AttributeSchema>(), this.schema.attributes) };
      next.attributes[name] = { type: t, full_text: null };
    }
    return next ?? this.schema;
  }

  /** Records an import's resume point (in the caller's transaction). */
  private recordResume(resume: ResumePoint & { source: string }): void {
    this.db
      .prepare('INSERT INTO imports (source, lines, updated_at, crc32) VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET lines = excluded.lines, updated_at = excluded.updated_at, crc32 = excluded.crc32')
      .run(resume.source, resume.lines, this.clock(), resume.crc32);
  }

  /**
   * Drop the in-memory copy of pending entries (they stay durable in the journal and are re-read by the
   * next flush). Keeps memory bounded when documents are left in the journal on purpose (--no-flush).
   */
  forgetPending(): void {
    if (this.staged) internal('forgetting staged documents');
    this.pending = null;
    this.arena = null;
    this.pendingDocs = 0;
    this.pendingBytes = 0;
  }

  /**
   * Append deletes to the journal, durable when this returns. A long id list becomes several entries of
   * at most half the byte bound each (like import batches, so any flush can take one), committed in ONE
   * transaction: the deletion is still all or nothing. Returns the last entry's seq.
   */
  appendDeletes(ids: DocId[]): number {
    if (this.staged) internal('a journal append while documents are staged for a bulk segment');
    const maxBytes = Math.max(1, Math.floor(this.segmentBytes / 2));
    const chunks: DocId[][] = [];
    let cur: DocId[] = [];
    let bytes = 2;
    for (const id of ids) {
      const b = JSON.stringify(id).length + 1; // ASCII-sized estimate; ids are short
      if (cur.length > 0 && bytes + b > maxBytes) {
        chunks.push(cur);
        cur = [];
        bytes = 2;
      }
      cur.push(id);
      bytes += b;
    }
    chunks.push(cur);
    const entries = this.db.transaction(() =>
      chunks.map((chunk) => {
        const payload = encodeDeletes(chunk);
        return { seq: appendJournal(this.db, 'delete', chunk.length, payload, this.clock()), chunk, bytes: payload.length };
      }),
    )();
    if (this.pending) {
      for (const e of entries) {
        this.pending.push({ seq: e.seq, op: 'delete', ids: e.chunk });
        this.pendingDocs += e.chunk.length;
        this.pendingBytes += e.bytes;
      }
    }
    return entries[entries.length - 1]!.seq;
  }

  /** Delete every quarantined journal entry (their bytes are gone afterwards). Returns how many. */
  purgeQuarantine(): number {
    return Number(this.db.prepare('DELETE FROM quarantine').run().changes);
  }

  /** What an earlier import of `source` committed (for --resume): none is 0 lines. */
  resumePoint(source: string): ResumePoint {
    const row = this.db.prepare('SELECT lines, crc32 FROM imports WHERE source = ?').get(source) as { lines: number; crc32: number | null } | undefined;
    return { lines: row?.lines ?? 0, crc32: row?.crc32 ?? null };
  }

  /**
   * Read up to about `maxDocs` documents and at most `maxBytes` payload bytes of pending journal entries,
   * oldest first (recovery, or after --no-flush); always at least one entry, so a backlog of any size
   * drains. Damaged entries are moved to the quarantine table, never applied.
   */
  /**
   * The next chunk of pending operations, in journal order: whole entries while they fit `maxDocs` (and,
   * entry by entry, `maxBytes`), then as many documents or ids of the next entry as are left to reach
   * `maxDocs`, so a segment holds exactly `maxDocs` documents however the journal was batched. `from`
   * resumes inside an entry a previous chunk of the same flush took only part of. `partial` is set when
   * this chunk ends inside an entry: that entry stays in the journal until a later chunk takes its rest.
   */
  private readPending(
    maxDocs: number,
    maxBytes: number,
    from: { seq: number; offset: number } | null,
  ): { ops: PendingOp[]; quarantined: number; more: boolean; partial: { seq: number; offset: number } | null } {
    const ops: PendingOp[] = [];
    let quarantined = 0;
    let docs = 0;
    let bytes = 0;
    const bad: { row: JournalRow; damage: string }[] = [];
    let more = false;
    let partial: { seq: number; offset: number } | null = null;
    for (const row of journalEntries(this.db)) {
      if (ops.length > 0 && (docs >= maxDocs || bytes + row.payload.length > maxBytes)) {
        more = true;
        break;
      }
      let damage = journalDamage(row);
      let op: PendingOp | null = null;
      if (!damage) {
        try {
          op = row.op === 'upsert' ? { seq: row.seq, op: 'upsert', docs: decodeUpserts(row.payload) } : { seq: row.seq, op: 'delete', ids: decodeDeletes(row.payload) };
        } catch (e) {
          damage = `undecodable payload: ${(e as Error).message}`;
        }
      }
      if (damage || !op) {
        bad.push({ row, damage: damage ?? 'undecodable' });
        continue;
      }
      // The part of this entry a previous chunk did not take yet.
      const start = from !== null && from.seq === row.seq ? from.offset : 0;
      const items = op.op === 'upsert' ? op.docs.length : op.ids.length;
      const take = Math.min(items - start, Math.max(0, maxDocs - docs));
      if (start > 0 || take < items - start) {
        op = op.op === 'upsert' ? { ...op, docs: op.docs.slice(start, start + take) } : { ...op, ids: op.ids.slice(start, start + take) };
      }
      ops.push(op);
      docs += take;
      bytes += row.payload.length;
      if (start + take < items) {
        partial = { seq: row.seq, offset: start + take };
        more = true;
        break;
      }
    }
    for (const { row, damage } of bad) {
      quarantineEntry(this.db, row, damage, this.clock());
      quarantined++;
      this.quarantinedEntries++;
      if (row.op === 'delete') this.quarantinedDeletes++;
    }
    return { ops, quarantined, more, partial };
  }

  /**
   * Flush every pending journal entry into one new segment. The order is the design:
   *   1. write the Parquet file, then the index file (each atomically: tmp, fsync, rename, fsync dir)
   *      — a crash here leaves orphan files, which gc removes; the journal still holds the data
   *   2. ONE manifest transaction: add the segment, move id locations, mark superseded rows deleted,
   *      delete the flushed journal entries — the commit point
   *   3. gc of orphans and checkpoint of the SQLite WAL — best effort
   */
  async flush(): Promise<FlushResult> {
    const total: FlushResult = { segmentId: null, docs: 0, inserted: 0, updated: 0, deleted: 0, entries: 0, quarantined: 0 };
    // In bounded chunks of about segmentDocs documents: each chunk becomes one segment and commits on its
    // own (later chunks supersede earlier ones through the id table), so memory stays bounded however
    // large the backlog.
    let from: { seq: number; offset: number } | null = null;
    for (;;) {
      let ops: PendingOp[];
      let more: boolean;
      let partial: { seq: number; offset: number } | null = null;
      this.throwIfInterrupted(total);
      // Staged documents are in no journal entry: they are flushed from memory whatever the bounds (the
      // import stages at most a segment's worth between flushes).
      if (this.pending && (this.staged !== null || (this.pendingBytes <= this.segmentBytes && this.pendingDocs <= this.segmentDocs))) {
        ops = this.pending;
        more = false;
      } else {
        // Also when the in-memory copy outgrew a bound: the journal is read back in chunks of exactly
        // segmentDocs documents (the last one fewer), an entry split across chunks when it must be.
        this.pending = null;
        this.arena = null;
        const r = this.readPending(this.segmentDocs, this.segmentBytes, from);
        ops = r.ops;
        more = r.more;
        partial = r.partial;
        total.quarantined += r.quarantined;
      }
      let f: FlushResult;
      try {
        f = await this.flushOps(ops, total, partial);
      } finally {
        // Committed, or lost with the failed flush (never acknowledged): either way nothing is staged now.
        this.staged = null;
      }
      from = partial;
      total.segmentId = f.segmentId ?? total.segmentId;
      total.docs += f.docs;
      total.inserted += f.inserted;
      total.updated += f.updated;
      total.deleted += f.deleted;
      total.entries += f.entries;
      if (!more) break;
    }
    this.pending = [];
    // Every pending document is in a committed segment, and the build that read the arena's rows has
    // finished: the next documents reuse it. A new one would leave this one (49 MB at 100k x 128) to wait
    // for a full garbage collection, which V8 may run only after the next flush has begun.
    this.arena?.reuse(this.pending);
    this.pendingDocs = 0;
    this.pendingBytes = 0;
    return total;
  }

  private throwIfInterrupted(done: FlushResult): void {
    if (!this.opts.signal?.aborted) return;
    throw new ElacsymError(
      'INTERRUPTED',
      `interrupted while building segments${done.docs > 0 ? ` (${done.docs} documents were flushed first)` : ''}; every acknowledged document is kept in the journal and stays queryable`,
      { hint: `the next writer builds the segments, or run \`elacsym wal replay ${this.name}\``, details: { flushed_documents: done.docs } },
    );
  }

  /**
   * `partial`: the last op is only the first part of its journal entry (readPending). The entry then stays
   * in the journal: only the entries before it are deleted at the commit, and a crash before the rest is
   * flushed replays the whole entry, which re-upserts (or re-deletes) the same documents: idempotent.
   */
  private async flushOps(ops: PendingOp[], done: FlushResult, partial: { seq: number; offset: number } | null = null): Promise<FlushResult> {
    const result: FlushResult = { segmentId: null, docs: 0, inserted: 0, updated: 0, deleted: 0, entries: ops.length - (partial ? 1 : 0), quarantined: 0 };
    if (ops.length === 0) return result;
    // Entries through this seq are wholly in this segment (or an earlier one of the same flush).
    const throughSeq = partial ? partial.seq - 1 : ops[ops.length - 1]!.seq;
    // Bulk: what commits with the staged documents (their ops carry the journal's high water as seq; the
    // journal was empty when staging began, so the DELETE below removes nothing).
    const staged = this.staged;

    // Newest write of an id wins; Map iteration keeps first-insertion order, which fixes the ordinals.
    const latest = new Map<string, Doc | null>();
    // Each op's id keys, for the summary's counts after the commit (the documents are gone by then).
    const opKeys: string[][] = ops.map((op) => {
      const keys = op.op === 'upsert' ? op.docs.map((d) => idKey(d.id)) : op.ids.map((id) => idKey(id));
      keys.forEach((key, i) => latest.set(key, op.op === 'upsert' ? op.docs[i]! : null));
      return keys;
    });
    const docs: (Doc | undefined)[] = [];
    /** Id key -> whether the flush writes it (false: deleted). */
    const writes = new Map<string, boolean>();
    for (const [key, d] of latest) {
      if (d) docs.push(d);
      writes.set(key, d !== null);
    }
    latest.clear();
    // The build lets go of the documents as it writes them (releasingArraySource): nothing else may hold
    // them. The in-memory copy of the journal is given up with them; should this flush fail, the next one
    // reads the journal back (as after any flush, `pending` is reset by the caller).
    this.pending = null;
    for (const op of ops) if (op.op === 'upsert') op.docs = [];
    const docCount = docs.length;

    const segId = Number(getMeta(this.db, 'next_segment_id') ?? '1');
    let files: Awaited<ReturnType<typeof writeSegment>> | null = null;
    try {
      try {
        if (docCount > 0) {
          files = await writeSegment(segmentStoreOf(this.dir), segId, releasingArraySource(docs), this.schema, {
            onPhase: (p) => this.opts.onPhase?.(p, docCount),
            afterParquet: () => failpoint('flush:after-parquet-write'),
            afterIndex: () => failpoint('flush:after-index-write'),
            signal: this.opts.signal,
          });
        }
      } catch (e) {
        if (this.opts.signal?.aborted) {
          this.collectGarbage();
          this.throwIfInterrupted(done);
        }
        throw e;
      }
      // Last chance to stop before the commit point: the files just written become orphans for gc. One
      // turn of the event loop first, so that a signal that came while the index file was written reaches
      // its handler (the build's last checkpoint was before that write).
      await failpointPause('flush:before-manifest-commit', this.opts.signal);
      if (this.opts.signal && !this.opts.signal.aborted) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.opts.signal?.aborted) {
        this.collectGarbage();
        this.throwIfInterrupted(done);
      }

      this.opts.onPhase?.('commit', docCount);
      // Each lookup names its b-tree: the table itself (its primary key) and the copy.
      const getLoc = this.db.prepare('SELECT segment_id, ord FROM docs INDEXED BY sqlite_autoindex_docs_1 WHERE id_key = ?');
      const getCopy = this.db.prepare('SELECT segment_id, ord FROM docs INDEXED BY docs_copy WHERE id_key = ?');
      const putLoc = this.db.prepare('INSERT OR REPLACE INTO docs (id_key, segment_id, ord) VALUES (?, ?, ?)');
      const delLoc = this.db.prepare('DELETE FROM docs WHERE id_key = ?');
      const markDeleted = this.db.prepare('INSERT OR IGNORE INTO deleted (segment_id, ord) VALUES (?, ?)');
      /** Ids that lived in a segment before this flush. */
      const existed = new Set<string>();
      this.db.transaction(() => {
        if (files) insertSegment(this.db, files, 0, throughSeq, this.clock());
        let ord = 0;
        for (const [key, written] of writes) {
          const old = getLoc.get(key) as { segment_id: number; ord: number } | undefined;
          const copy = getCopy.get(key) as { segment_id: number; ord: number } | undefined;
          if (old?.segment_id !== copy?.segment_id || old?.ord !== copy?.ord) throw idMapDamaged(this.dir, key);
          if (old) {
            existed.add(key);
            markDeleted.run(old.segment_id, old.ord);
          }
          if (written) putLoc.run(key, segId, ord++);
          else if (old) delLoc.run(key);
        }
        this.db.prepare('DELETE FROM journal WHERE seq <= ?').run(throughSeq);
        if (staged?.schemaChanged) setMeta(this.db, 'schema', JSON.stringify(this.schema));
        if (staged?.resume) this.recordResume(staged.resume);
      })();
      // The summary counts each write as it came: an upsert of a live id is an update, of any other an
      // insert; a delete of a live id is a deletion. So an id written twice between two flushes counts as an
      // insert and an update, as it does when a flush falls between the writes: the counts never depend on
      // where flushes fall, and inserts minus deletions is the change in live documents.
      const live = new Map<string, boolean>();
      const isLive = (key: string) => live.get(key) ?? existed.has(key);
      ops.forEach((op, k) => {
        for (const key of opKeys[k]!) {
          if (op.op === 'upsert') {
            if (isLive(key)) result.updated++;
            else result.inserted++;
            live.set(key, true);
          } else {
            if (isLive(key)) result.deleted++;
            live.set(key, false);
          }
        }
      });
    } catch (e) {
      if (e instanceof ElacsymError && e.code === 'INTERRUPTED') throw e; // cleaned up above
      // Nothing committed: the journal still holds every document. Give back at once the space of what
      // this flush wrote (on a full disk, the next try needs it), then name the failure.
      this.removeUncommitted(segId);
      throw toEnvError(e, join(this.dir, 'segments'), 'writing segment files in');
    }
    failpoint('flush:after-manifest-commit');
    result.segmentId = files ? segId : null;
    result.docs = docCount;
    this.pending = null; // the in-memory copy (if any) has been flushed; the caller resets it
    this.collectGarbage();
    failpoint('flush:after-gc');
    return result;
  }

  /**
   * Remove segment files no manifest row references (orphans of crashed flushes/compactions, files of
   * retired segments) and give SQLite's freed pages back. Never throws: a failure here loses nothing.
   */
  collectGarbage(opts: { filesOnly?: boolean } = {}): { removed: string[] } {
    const removed: string[] = [];
    try {
      const live = new Set<string>();
      for (const s of listSegments(this.db)) {
        live.add(s.parquet_file);
        live.add(s.index_file);
      }
      const store = segmentStoreOf(this.dir);
      for (const name of store.list()) {
        // Only what elacsym writes there, one entry at a time: a stray file or one we cannot remove must
        // not stop the collection of everything else (list() never returns directories).
        if (live.has(name) || !isSegmentFileName(name)) continue;
        try {
          store.remove(name);
          removed.push(name);
        } catch {
          // best effort: the next writer tries again
        }
      }
    } catch {
      // best effort
    }
    if (opts.filesOnly) return { removed };
    try {
      // Vacuum first, then one checkpoint: a checkpoint waits up to the busy timeout for readers still
      // on an older snapshot, so two of them could stall a flush twice.
      if (this.vacuumConversionDue()) {
        // A manifest created without incremental auto-vacuum (earlier builds) kept every page the journal
        // ever used: convert it once, when the journal is empty (the copy VACUUM makes is then small).
        // VACUUM is atomic; if it fails, auto_vacuum stays NONE and this writer does not try again.
        this.vacuumTried = true;
        this.db.pragma('auto_vacuum = INCREMENTAL');
        this.db.exec('VACUUM');
      } else {
        this.db.pragma('incremental_vacuum');
      }
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // best effort
    }
    return { removed };
  }

  /** Remove the files (and temp files) of segment `id`, which no manifest row references. Never throws. */
  private removeUncommitted(id: number): void {
    const store = segmentStoreOf(this.dir);
    try {
      const prefix = segmentFileName(id, 'parquet').replace(/\.parquet$/, '.');
      for (const f of store.list()) {
        if (f.startsWith(prefix) && isSegmentFileName(f)) store.remove(f);
      }
    } catch {
      // best effort: the next writer's garbage collection removes them
    }
  }

  private vacuumTried = false;

  private vacuumConversionDue(): boolean {
    if (this.vacuumTried || Number(this.db.pragma('auto_vacuum', { simple: true })) !== 0) return false;
    return (this.db.prepare('SELECT COUNT(*) AS n FROM journal').get() as { n: number }).n === 0;
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      this.lock?.release();
      this.lock = null;
    }
  }
}

/**
 * What a staged batch counts against the writer's segment byte bound (`segmentBytes`), in place of the
 * journal payload it does not have: what that payload would hold, estimated without encoding it (each
 * vector's 4 * dim bytes, each id and attribute name and value by its length, strings in UTF-16 units).
 */
function stagedBytes(docs: readonly Doc[], dim: number): number {
  let n = 0;
  for (const d of docs) {
    n += 8 + (typeof d.id === 'string' ? d.id.length + 2 : 8) + (d.vector ? 4 * dim : 0);
    const a = d.attributes;
    for (const k in a) {
      const v = a[k];
      n += k.length + 4;
      if (typeof v === 'string') n += v.length + 2;
      else if (Array.isArray(v)) for (const x of v) n += typeof x === 'string' ? x.length + 3 : 8;
      else n += 8;
    }
  }
  return n;
}

/** A broken invariant of the writer's own callers (never the data's or the environment's). */
function internal(message: string): never {
  throw new ElacsymError('INTERNAL', message);
}
