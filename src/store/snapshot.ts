/**
 * A reader's consistent view of a namespace: one manifest read transaction yields the schema, the
 * segments, their deletions and the pending journal; every segment file is opened inside it. An open file
 * descriptor keeps a file readable even if a compaction retires and unlinks it afterwards, so a query that
 * started before a swap finishes on the old generation. If a file vanished between the manifest read and
 * the open (a swap raced us), the snapshot is taken again.
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { idFromKey, idKey } from '../model/document.js';
import { AttributeShapes, buildAttributes, ColumnReader } from '../index/filter/columns.js';
import type { AttrValue, Doc, DocId, Schema } from '../model/types.js';
import { decodeDeletes, decodeUpserts } from '../storage/journal-codec.js';
import { checkDeletedCopy, checkFormat, type JournalRow, journalDamage, journalHighWater, listSegments, readSchema, readTextReindex, scanDeleted, type SegmentRow } from '../storage/manifest.js';
import { SegmentFile, StringTable, verifiedByBlocks } from '../storage/segment-file.js';
import { VectorLocator } from '../storage/vector-locator.js';
import { gatherMatrix } from '../index/vector/distance.js';
import { openTextChunk, TextLocator, type TextChunkValues } from '../storage/parquet-text.js';
import { asStorageError, type Db, openDb } from '../storage/sqlite.js';
import { lostManifest } from './data-dir.js';
import { type ReadableObject, segmentStoreOf, type SegmentStore } from '../storage/segment-store.js';
import { type ByteSource, MemorySource } from '../util/bytes.js';
import { crc32 } from '../util/crc32.js';

export interface SnapshotOptions {
  /** Read whole index files into memory and verify their checksums (batch queries, export, health). */
  loadFully?: boolean;
  /**
   * Index files up to this size are read whole (and checksum-verified) even without loadFully; larger
   * ones are read by range. Default: 4 MiB for files without block checksums (version 1), 64 KiB for
   * files with them. Tests set 0 to take the range-read paths on small data.
   */
  readWholeBytes?: number;
  /**
   * Id keys (`idKey`) to locate in the segments from the manifest's id map, inside the snapshot's own
   * read transaction (`get`): `Snapshot.located` then maps each one found to its segment and ordinal.
   */
  locate?: readonly string[];
  /**
   * Where the segment files are, when not in the namespace directory's `segments/` (a namespace published
   * to an object store: its manifest database is a local copy, its segments are objects).
   */
  segments?: SegmentStore;
}

/**
 * Vectors of one `vectorsOf` call at most this many bytes apart are read in one range, unless the file says
 * otherwise (ReadableObject.coalesceGap: a local file's is one 4 KiB block).
 */
const VECTOR_READ_GAP = 64 * 1024;
/** The longest such range. */
const VECTOR_READ_MAX = 4 * 1024 * 1024;

/** Where a live id of a segment is (see SnapshotOptions.locate). */
export interface Location {
  segment: SegmentHandle;
  ord: number;
}

export class SegmentHandle {
  private _ids: StringTable | null = null;
  private _docs: StringTable | null = null;
  private _shapes: AttributeShapes | null = null;
  /** Column readers by attribute name, for attributesOf on files without a `docs` section. */
  private readonly _cols = new Map<string, ColumnReader>();
  /** 1 = dead (deleted or superseded); null when nothing in this segment is dead. */
  readonly dead: Uint8Array | null;
  readonly liveCount: number;

  constructor(
    readonly row: SegmentRow,
    readonly file: SegmentFile,
    readonly parquetPath: string,
    /** Opened with the snapshot so a concurrent compaction's unlink cannot take it away. */
    readonly parquet: ReadableObject,
    dead: Uint8Array | null,
    private readonly closer: (() => void) | null,
    /**
     * Opened for many queries (`loadFully`, i.e. --batch): worth paying at open for faster queries (the
     * IVF clusters get pinned into the scoring kernels). Small files are read whole either way, so this,
     * not the kind of byte source, tells a batch from a single query.
     */
    readonly resident: boolean = false,
    /**
     * Owners of the open files (file descriptors, loaded bytes): every snapshot that holds this handle,
     * or a `withDead` sibling of it, counts once. The files are closed when the last owner closes
     * (Snapshot.refresh hands an unchanged segment to the next snapshot instead of reopening it).
     */
    private readonly owners: { n: number } = { n: 1 },
  ) {
    this.dead = dead;
    let d = 0;
    if (dead) for (let i = 0; i < dead.length; i++) d += dead[i]!;
    this.liveCount = row.doc_count - d;
  }

  get docCount(): number {
    return this.row.doc_count;
  }

  isLive(ord: number): boolean {
    return this.dead === null || this.dead[ord] === 0;
  }

  get ids(): StringTable {
    if (!this._ids) {
      const ids = StringTable.open(this.section('ids'), this.file.path);
      // The manifest's row count lays out the dead rows and the vector section: a count that disagrees
      // with the file would pair ordinals with the wrong rows.
      if (ids.length !== this.row.doc_count) throw this.countMismatch(`${ids.length} ids`);
      this._ids = ids;
    }
    return this._ids;
  }

  private countMismatch(what: string): ElacsymError {
    return new ElacsymError('CORRUPT_SEGMENT', `${this.file.path}: ${what} in the file, ${this.row.doc_count} documents recorded in the manifest`, {
      details: { path: this.file.path },
    });
  }

  /**
   * Decoded ids by ordinal, filled on use: ties broken by id decode the same ids query after query. In
   * pages of 64 ordinals made on first use: one array of the segment's size (~0.7 MB at 91k documents)
   * for the few dozen ids a cold query decodes was a measurable part of it (cpu-prof of a 1M query), and
   * those few dozen ids are scattered (larger pages were each new memory to touch).
   */
  private idCache: ((DocId | undefined)[] | undefined)[] | null = null;

  idOf(ord: number): DocId {
    const pages = (this.idCache ??= []);
    const page = (pages[ord >>> 6] ??= new Array<DocId | undefined>(64));
    let id = page[ord & 63];
    if (id === undefined) page[ord & 63] = id = idFromKey(this.ids.get(ord));
    return id;
  }

  /**
   * Each document's attribute keys in the order it was written with, for readers of the Parquet file
   * (export, compaction: store/segment-docs.ts), or null for files with a `docs` section (their Parquet
   * file keeps the order itself).
   */
  attributeKeys(): ((ord: number) => readonly string[]) | null {
    const shapes = this.loadAttributes();
    return shapes && ((ord) => shapes.keysOf(ord));
  }

  /** Opens the segment's attribute store once: the `attrs` shapes (returned), or an older file's `docs` (null). */
  private loadAttributes(): AttributeShapes | null {
    if (!this._docs && !this._shapes) {
      if (this.file.has('docs')) {
        const docs = StringTable.open(this.section('docs'), this.file.path);
        if (docs.length !== this.row.doc_count) throw this.countMismatch(`${docs.length} attribute rows`);
        this._docs = docs;
      } else {
        const shapes = new AttributeShapes(this.section('attrs'), this.file.path);
        if (shapes.length !== this.row.doc_count) throw this.countMismatch(`${shapes.length} attribute rows`);
        this._shapes = shapes;
      }
    }
    return this._shapes ?? null;
  }

  /**
   * One document's attributes. Files written since issue 11 have no `docs` section: the attributes are
   * rebuilt from the `attrs` section (the document's keys in their written order) and the typed columns,
   * read by range (a few blocks per value), so a cold query that prints ten documents decodes no whole
   * column. Older files keep their `docs` section of JSON objects. With `only`, just those of the
   * document's attributes (in its key order): the other columns are not read.
   */
  attributesOf(ord: number, only?: readonly string[]): Doc['attributes'] {
    this.loadAttributes();
    if (this._shapes) {
      if (ord < 0 || ord >= this.row.doc_count) throw new ElacsymError('INTERNAL', `attributesOf: ordinal ${ord} outside the segment`);
      const keys = this._shapes.keysOf(ord);
      return buildAttributes(only === undefined ? keys : keys.filter((k) => only.includes(k)), (name) => this.valueOf(name, ord));
    }
    try {
      return JSON.parse(this._docs!.get(ord)) as Doc['attributes'];
    } catch (e) {
      if (e instanceof ElacsymError) throw e;
      throw new ElacsymError('CORRUPT_SEGMENT', `${this.file.path}: attributes of ordinal ${ord} are not valid JSON`, { details: { path: this.file.path } });
    }
  }

  /** One attribute value: from its `col:` section, or from the Parquet file when it is stored once. */
  private valueOf(name: string, ord: number): AttrValue | undefined {
    const text = this.textReader(name);
    return text ? text.get(ord) : this.columnReader(name).get(ord);
  }

  /**
   * The reader of a stored-once attribute (`txt:<name>`, storage/parquet-text.ts), or null when the
   * attribute has a `col:` section (every attribute of files before format 6, and all short ones).
   */
  textReader(name: string): StoredTextReader | null {
    let r = this._texts.get(name);
    if (r === undefined) {
      const loc = this.file.has(`txt:${name}`) ? this.file.readVerified(`txt:${name}`) : null;
      r = loc
        ? new StoredTextReader(
            TextLocator.open(loc, this.row.doc_count, `${this.file.path}: txt:${name}`),
            () => this.parquetSource(false),
            `${this.parquetPath}: column ${name}`,
            this.resident ? RESIDENT_TEXT_BYTES : COLD_TEXT_BYTES,
          )
        : null;
      this._texts.set(name, r);
    }
    return r;
  }
  private readonly _texts = new Map<string, StoredTextReader | null>();

  private columnReader(name: string): ColumnReader {
    let r = this._cols.get(name);
    if (!r) {
      r = new ColumnReader(this.section(`col:${name}`), `${this.file.path}: column ${name}`);
      if (r.length !== this.row.doc_count) throw this.countMismatch(`column ${name} of ${r.length} rows`);
      this._cols.set(name, r);
    }
    return r;
  }

  /**
   * Where the segment's vectors are. Format 2: in the Parquet file, located by the index file's `vecloc`
   * section and verified block by block against its `parquet-crc` section (or, for a segment held in
   * memory, against the manifest's CRC-32 of the whole file). Release 1: the index file's `vectors`
   * section (flags by ordinal, then every ordinal's vector).
   */
  private vectorStore(dim: number): { loc: VectorLocator; src: ByteSource } | { section: ByteSource } | null {
    if (this._vectorStore !== undefined) return this._vectorStore;
    if (dim === 0) return (this._vectorStore = null);
    const loc = this.file.readVerified('vecloc');
    if (loc) {
      const locator = VectorLocator.open(loc, this.row.doc_count, dim);
      return (this._vectorStore = { loc: locator, src: this.parquetSource() });
    }
    const section = this.file.source('vectors');
    if (!section) return (this._vectorStore = null);
    const flagsLen = (this.row.doc_count + 3) & ~3;
    if (section.length !== flagsLen + this.row.doc_count * dim * 4) throw this.countMismatch(`a vector section of ${section.length} bytes`);
    return (this._vectorStore = { section });
  }
  private _vectorStore: { loc: VectorLocator; src: ByteSource } | { section: ByteSource } | null | undefined;

  /**
   * The Parquet file as a source of verified bytes. For vectors of a resident segment (--batch, serve):
   * whole, checked against the manifest's CRC-32 (every vector is read sooner or later). Otherwise, and for
   * stored text (`forVectors` false), by range, with every block it touches checked against the index
   * file's `parquet-crc` section: a single query reads a re-ranking's 40 vectors or an exact scan's matches,
   * a few 4 KiB blocks each, where reading and checksumming even a 1 MB file whole cost ~3 ms of a cold
   * query (files up to READ_WHOLE_BYTES were read whole before).
   */
  private parquetSource(forVectors = true): ByteSource {
    // Stored text is always read by range, verified block by block: printing ten results reads a few row
    // groups, not the file, and damage elsewhere in the file (a vector) does not fail a text answer.
    if (forVectors && this._parquetSource) return this._parquetSource;
    if (forVectors && this.resident) {
      const bytes = this.parquet.read(0, this.parquet.length);
      if (crc32(bytes) !== this.row.parquet_crc32) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${this.parquetPath}: fails its CRC-32 check (the file is damaged)`, { details: { path: this.parquetPath } });
      }
      return (this._parquetSource = new MemorySource(bytes));
    }
    if (this._parquetRanged) return this._parquetRanged;
    const t = this.file.readVerified('parquet-crc');
    if (!t) throw new ElacsymError('CORRUPT_SEGMENT', `${this.file.path}: missing section parquet-crc`, { details: { path: this.file.path } });
    return (this._parquetRanged = verifiedByBlocks(this.parquet, new Uint32Array(t.buffer, t.byteOffset, t.length >> 2), this.parquetPath));
  }
  private _parquetSource: ByteSource | undefined;
  private _parquetRanged: ByteSource | undefined;

  /** The stored (original) vector of an ordinal, or null. */
  vectorOf(ord: number, dim: number): Float32Array | null {
    const vs = this.vectorStore(dim);
    if (!vs) return null;
    let b: Uint8Array;
    if ('loc' in vs) {
      const at = vs.loc.offsetOf(ord);
      if (at < 0) return null;
      b = vs.src.read(at, dim * 4);
    } else {
      const flagsLen = (this.row.doc_count + 3) & ~3;
      if (vs.section.read(ord, 1)[0] !== 1) return null;
      b = vs.section.read(flagsLen + ord * dim * 4, dim * 4);
    }
    // ByteSource reads are 4-byte aligned (a copy when the file offset is not).
    return new Float32Array(b.buffer, b.byteOffset, dim);
  }

  /**
   * vectorOf into the caller's `out` (dim floats): false, and `out` untouched, when the ordinal has none.
   * Read through the source's scratch (BlockVerifiedSource.readInto) where it can: a cold query re-ranks
   * ~60 candidates a segment, and a new array for each (8 KiB of fresh pages when a vector straddles two
   * blocks) was memory first touched for one copy.
   */
  vectorInto(ord: number, dim: number, out: Float32Array): boolean {
    const vs = this.vectorStore(dim);
    if (!vs || !('loc' in vs) || vs.src.readInto === undefined) {
      const v = this.vectorOf(ord, dim);
      if (v === null) return false;
      out.set(v.subarray(0, dim));
      return true;
    }
    const at = vs.loc.offsetOf(ord);
    if (at < 0) return false;
    vs.src.readInto(at, new Uint8Array(out.buffer, out.byteOffset, dim * 4));
    return true;
  }

  /**
   * The stored vectors of `ords` (duplicates and ordinals without a vector left out), row-major in `rows`,
   * in file order (`ords` of the result says whose each row is). Vectors whose bytes lie at most the
   * file's coalescing gap apart (VECTOR_READ_GAP, a local file's 4 KiB) are read in one range (at most
   * VECTOR_READ_MAX bytes): an exact scan of a flat segment's 778 vectors took ~30 ms of a cold query read
   * one by one (each read verifying its blocks), a few coalesced reads take a few. A wider gap on a local
   * file read the blocks in between too: 164 matches spread over a 17k-document segment (~50 KB apart)
   * were 8.7 MB read and checksummed, ~20 ms of a cold filtered query (docs/performance.md, "Session 25").
   */
  vectorsOf(ords: Iterable<number>, dim: number): { ords: number[]; rows: Float32Array } {
    const vs = this.vectorStore(dim);
    if (!vs) return { ords: [], rows: new Float32Array(0) };
    const len = dim * 4;
    if (!('loc' in vs)) {
      // Release-1 `vectors` section: ordinal order already, one read each (kept as it was).
      const out: number[] = [];
      const vecs: Float32Array[] = [];
      for (const ord of new Set(ords)) {
        const v = this.vectorOf(ord, dim);
        if (v) {
          out.push(ord);
          vecs.push(v);
        }
      }
      const rows = new Float32Array(out.length * dim);
      vecs.forEach((v, i) => rows.set(v, i * dim));
      return { ords: out, rows };
    }
    const at: number[] = [];
    const byAt = new Map<number, number>();
    for (const ord of ords) {
      const o = vs.loc.offsetOf(ord);
      if (o < 0 || byAt.has(o)) continue;
      byAt.set(o, ord);
      at.push(o);
    }
    at.sort((a, b) => a - b);
    const gap = this.parquet.coalesceGap ?? VECTOR_READ_GAP;
    const rows = new Float32Array(at.length * dim);
    const bytes = new Uint8Array(rows.buffer);
    let i = 0;
    while (i < at.length) {
      const start = at[i]!;
      let j = i + 1;
      while (j < at.length && at[j]! - (at[j - 1]! + len) <= gap && at[j]! + len - start <= VECTOR_READ_MAX) j++;
      const b = vs.src.read(start, at[j - 1]! + len - start);
      for (let p = i; p < j; p++) bytes.set(b.subarray(at[p]! - start, at[p]! - start + len), p * len);
      i = j;
    }
    return { ords: at.map((o) => byAt.get(o)!), rows };
  }

  /** Whether the segment's vectors are in memory (a resident segment, or a file small enough to be read whole). */
  vectorsInMemory(dim: number): boolean {
    const vs = this.vectorStore(dim);
    if (!vs) return false;
    return 'loc' in vs ? vs.src instanceof MemorySource : vs.section instanceof MemorySource;
  }

  /**
   * Every vector as arrays (flags by ordinal, then row-major vectors, zeros where absent) when the segment
   * is resident (`loadFully`: --batch, serve), else null: a single query reads the vectors it needs (a
   * re-ranking's 40, an exact scan's matches) one by one, which costs less than copying every vector of a
   * small file read whole into a matrix (~8 ms of a cold query for 4,000 x 128).
   */
  vectorMatrix(dim: number): { present: Uint8Array; data: Float32Array } | null {
    if (!this.resident) return null;
    const vs = this.vectorStore(dim);
    if (!vs) return null;
    const n = this.row.doc_count;
    if ('loc' in vs) {
      if (!(vs.src instanceof MemorySource)) return null;
      const all = vs.src.read(0, vs.src.length);
      const present = new Uint8Array(n);
      // Gathered from by a filtered scan and re-ranking without garbage (distance.ts gatherMatrix).
      const data = gatherMatrix(n * dim);
      const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const len = dim * 4;
      // Copied a run at a time: within a Parquet data page the vectors of consecutive ordinals are
      // consecutive (plain fixed-size-list values), so a page's rows are one copy, not one view and copy
      // each (1M x 128: ~2.7 s of a --batch start on a busy machine, row by row).
      let ord = 0;
      while (ord < n) {
        const at = vs.loc.offsetOf(ord);
        if (at < 0) {
          ord++;
          continue;
        }
        let end = ord + 1;
        while (end < n && vs.loc.offsetOf(end) === at + (end - ord) * len) end++;
        const bytes = (end - ord) * len;
        if (at + bytes > all.length) throw this.countMismatch(`a vector of ordinal ${end - 1} past the end of the Parquet file`);
        present.fill(1, ord, end);
        out.set(all.subarray(at, at + bytes), ord * len);
        ord = end;
      }
      return { present, data };
    }
    if (!(vs.section instanceof MemorySource)) return null;
    const flagsLen = (n + 3) & ~3;
    const present = vs.section.read(0, n);
    const b = vs.section.read(flagsLen, n * dim * 4);
    return { present, data: new Float32Array(b.buffer, b.byteOffset, n * dim) };
  }

  section(name: string): ByteSource {
    const s = this.file.source(name);
    if (!s) throw new ElacsymError('CORRUPT_SEGMENT', `${this.file.path}: missing section ${name}`, { details: { path: this.file.path } });
    return s;
  }

  /** One more owner (a newer snapshot that keeps this segment unchanged). */
  retain(): this {
    this.owners.n++;
    return this;
  }

  /**
   * The same segment files with another deletion state (a newer snapshot in which more of its rows are
   * dead): shares the open files and what was decoded from them (ids), counts as one more owner.
   */
  withDead(dead: Uint8Array | null): SegmentHandle {
    this.owners.n++;
    const h = new SegmentHandle(this.row, this.file, this.parquetPath, this.parquet, dead, this.closer, this.resident, this.owners);
    h._ids = this._ids;
    h._docs = this._docs;
    h._vectorStore = this._vectorStore;
    h.idCache = this.idCache;
    return h;
  }

  /** Gives up this owner's hold; the files close with the last owner. */
  close(): void {
    if (--this.owners.n > 0) return;
    this.closer?.();
    this.parquet.close();
  }
}

/**
 * What a snapshot read from the manifest besides what it serves, kept so that the next snapshot of the
 * same namespace (Snapshot.refresh) can tell exactly what changed.
 */
interface ReadState {
  /** The schema and the text-reindex map as read (JSON): a change of either rebuilds everything. */
  schemaJson: string;
  reindexJson: string;
  /** Newest write per id key of the pending journal (null = deleted), in first-write order. */
  latest: Map<string, Doc | null>;
  /** Highest journal seq decoded (0 = none), and how many entries were decoded. */
  lastSeq: number;
  entries: number;
  /** Rows of the `deleted` table. */
  deletedRows: number;
}

export class Snapshot {
  /**
   * field -> segment id: segments with a lower id hold an index of the field built with an older analyzer
   * (see store/alter.ts); read in the same transaction as the schema.
   */
  textReindex: Readonly<Record<string, number>> = {};

  /**
   * The journal's high-water mark when the snapshot was read (SQLite's AUTOINCREMENT counter of the
   * journal, in the same read transaction): every write acknowledged with a journal seq up to this is in
   * the snapshot. Exposed by the server (/metrics) so a client can wait for a write to become visible.
   */
  journalSeq = 0;

  private state: ReadState | null = null;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly schema: Schema,
    readonly segments: SegmentHandle[],
    /** Live documents only in the journal (newest version of each id), in first-write order. */
    readonly pendingDocs: Doc[],
    /** Every id key written or deleted by the pending journal (they shadow segment rows). */
    readonly pendingKeys: ReadonlySet<string>,
    readonly pendingEntries: number,
    /** The ids asked for with SnapshotOptions.locate that the segments hold (pending journal writes excluded). */
    readonly located: ReadonlyMap<string, Location> = new Map(),
  ) {}

  static open(dir: string, opts: SnapshotOptions = {}): Snapshot {
    return Snapshot.take(dir, opts, null);
  }

  /**
   * A newer snapshot of the same namespace, reusing what did not change since `prev` (which must still
   * be open; it stays open and valid): the same answers as `Snapshot.open`, at a cost proportional to
   * what changed instead of to the namespace's size.
   *
   * - A segment is reused (the same handle: no file open, no read, no checksum) when its manifest row is
   *   identical (id, files, sizes, CRC-32s, row count: segment files are immutable and never reuse a
   *   name) and its dead rows are identical; with other dead rows it shares the open files
   *   (SegmentHandle.withDead). Dead rows come from the manifest every time (below), never guessed.
   * - The pending journal is decoded only after `prev`'s last entry when every entry `prev` decoded is
   *   still there (seqs only grow; a flush or a quarantine removes entries): otherwise it is decoded whole.
   * - Dead rows are recomputed from `prev`'s only when the manifest proves nothing else changed: the same
   *   segment rows, the same number of `deleted` rows (rows of a live segment are only ever added, and
   *   removed only with their segment, so the same count is the same set) and an intact journal prefix
   *   (the id map changes only in a flush, which truncates the journal, or a compaction, which changes
   *   the segment rows). Then only the newly written ids are looked up. Otherwise they are recomputed
   *   from the `deleted` table and every pending id.
   * - A schema or text-reindex change (alter) opens everything afresh.
   *
   * `dir`: where the newer manifest is, when not where `prev`'s was (a published namespace: each version's
   * state database is a file of its own; its segments are the same objects).
   */
  static refresh(prev: Snapshot, opts: SnapshotOptions = {}, dir: string = prev.dir): Snapshot {
    if (prev.closed) throw new ElacsymError('INTERNAL', 'Snapshot.refresh of a closed snapshot');
    return Snapshot.take(dir, opts, prev);
  }

  private static take(dir: string, opts: SnapshotOptions, prev: Snapshot | null): Snapshot {
    const path = join(dir, 'manifest.db');
    try {
      statSync(path);
    } catch (e) {
      // Gone with its directory (dropped): not found. Gone from a directory that still holds segments/:
      // damage, which openDb below names (CORRUPT_MANIFEST; see lostManifest).
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !lostManifest(dir)) {
        throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${dir} does not exist`, { details: { path: dir } });
      }
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw asStorageError(e, path);
    }
    for (let attempt = 0; ; attempt++) {
      // A fresh connection per attempt: a read-only copy of the manifest (see openDb) is a fixed
      // snapshot, and retrying on it would meet the same vanished file again.
      const db = openDb(path, { readonly: true });
      try {
        checkFormat(db, path);
        return db.transaction(() => Snapshot.read(db, dir, opts, prev))();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          // A compaction may have retired the file after our manifest read: take the snapshot again.
          if (attempt < 5) continue;
          // Still missing in a fresh snapshot: the manifest lists a file that is not there.
          const missing = (e as NodeJS.ErrnoException).path ?? dir;
          throw new ElacsymError('CORRUPT_SEGMENT', `${missing}: listed in the manifest but missing`, { cause: e, details: { path: missing } });
        }
        throw asStorageError(e, path);
      } finally {
        db.close();
      }
    }
  }

  private static read(db: Db, dir: string, opts: SnapshotOptions, prev: Snapshot | null): Snapshot {
    const schema = readSchema(db);
    const textReindex = readTextReindex(db);
    const schemaJson = JSON.stringify(schema);
    const reindexJson = JSON.stringify(textReindex);
    const journalSeq = journalHighWater(db);
    const rows = listSegments(db);
    // What of `prev` may be reused (see refresh): nothing when the schema or the analyzers changed.
    const base = prev?.state && prev.state.schemaJson === schemaJson && prev.state.reindexJson === reindexJson ? prev : null;
    const bs = base?.state ?? null;
    const prefixIntact = bs !== null && Number(db.prepare('SELECT COUNT(*) FROM journal WHERE seq <= ?').pluck().get(bs.lastSeq)) === bs.entries;

    // Pending journal: newest write of an id wins. A damaged entry fails the snapshot (CORRUPT_JOURNAL):
    // it may hold an update or a delete, so answering from the rest could return a stale or deleted
    // document with exit 0. A writer (`wal replay`, or any import's recovery) sets it aside in quarantine,
    // where health reports it, and from then on readers answer from the rest.
    const latest = prefixIntact ? new Map(bs.latest) : new Map<string, Doc | null>();
    let entries = prefixIntact ? bs.entries : 0;
    let lastSeq = prefixIntact ? bs.lastSeq : 0;
    /** Id keys written by the entries decoded now (all of them when the journal was decoded whole). */
    const written = new Set<string>();
    const after = db.prepare('SELECT seq, op, count, bytes, crc32, committed_at, payload FROM journal WHERE seq > ? ORDER BY seq');
    for (const row of after.iterate(lastSeq) as Iterable<JournalRow>) {
      entries++;
      lastSeq = row.seq;
      let damage = journalDamage(row);
      if (!damage) {
        try {
          if (row.op === 'upsert')
            for (const d of decodeUpserts(row.payload)) {
              const k = idKey(d.id);
              latest.set(k, d);
              written.add(k);
            }
          else
            for (const id of decodeDeletes(row.payload)) {
              const k = idKey(id);
              latest.set(k, null);
              written.add(k);
            }
        } catch (e) {
          damage = `undecodable payload: ${(e as Error).message}`;
        }
      }
      if (damage) {
        const ns = basename(dir);
        throw new ElacsymError('CORRUPT_JOURNAL', `${join(dir, 'manifest.db')}: pending journal entry ${row.seq} is damaged (${damage})`, {
          hint: `see \`elacsym wal inspect ${ns}\`; \`elacsym wal replay ${ns}\` sets the entry aside in quarantine and applies the rest`,
          details: { path: join(dir, 'manifest.db'), seq: row.seq },
        });
      }
    }

    const prevById = new Map((base?.segments ?? []).map((h) => [h.row.id, h]));
    const sameRows = base !== null && rows.length === base.segments.length && rows.every((r) => sameRow(prevById.get(r.id)?.row, r));
    // The rows of `deleted` are counted by a query only where the count decides the incremental path; a full
    // read counts the rows it iterates anyway (a cold `query` reads the table once, not twice).
    let deletedRows = bs !== null && prefixIntact && sameRows ? Number(db.prepare('SELECT COUNT(*) FROM deleted').pluck().get()) : -1;
    const incremental = base !== null && bs !== null && deletedRows === bs.deletedRows;
    const deadBySeg = new Map<number, Uint8Array>();
    /** Segments whose array here is our own (not `prev`'s, which must stay as it is: copy on write). */
    const own = new Set<number>();
    if (incremental) for (const h of base.segments) if (h.dead) deadBySeg.set(h.row.id, h.dead);
    const markDead = (r: SegmentRow, ord: number) => {
      let d = deadBySeg.get(r.id);
      if (d && d[ord] === 1) return;
      if (!d) d = new Uint8Array(r.doc_count);
      else if (!own.has(r.id)) d = d.slice();
      own.add(r.id);
      deadBySeg.set(r.id, d);
      d[ord] = 1;
    };
    const byId = new Map(rows.map((r) => [r.id, r]));
    if (!incremental) {
      // The table's own b-tree, checked against its copy before any answer uses it (manifest.ts,
      // deleted_copy). The incremental path reuses rows a full load checked and counts the rest.
      deletedRows = 0;
      scanDeleted(db, (segmentId, ord) => {
        deletedRows++;
        const r = byId.get(segmentId);
        if (r && ord < r.doc_count) markDead(r, ord);
      });
      checkDeletedCopy(db, join(dir, 'manifest.db'), deletedRows);
    }
    // Incrementally only the ids written since `prev` are new shadows; the others shadow what they did.
    const shadowing = incremental ? written : latest.keys();
    if (latest.size > 0) {
      // A pending write shadows the row its id names in the id map. Both copies of the map are asked (see
      // storage/manifest.ts, docs_copy; a manifest written before the copy existed has only the table):
      // if damage made them disagree, every row either names is shadowed, so the id is never live twice.
      const hasCopy = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'docs_copy'").get() !== undefined;
      const locs = [
        db.prepare('SELECT segment_id, ord FROM docs INDEXED BY sqlite_autoindex_docs_1 WHERE id_key = ?'),
        ...(hasCopy ? [db.prepare('SELECT segment_id, ord FROM docs INDEXED BY docs_copy WHERE id_key = ?')] : []),
      ];
      for (const key of shadowing) {
        for (const loc of locs) {
          const l = loc.get(key) as { segment_id: number; ord: number } | undefined;
          const r = l && byId.get(l.segment_id);
          if (r && l.ord < r.doc_count) markDead(r, l.ord);
        }
      }
    }
    const segments: SegmentHandle[] = [];
    try {
      const store = opts.segments ?? segmentStoreOf(dir);
      for (const r of rows) {
        const dead = deadBySeg.get(r.id) ?? null;
        const old = prevById.get(r.id);
        if (old && sameRow(old.row, r) && old.resident === (opts.loadFully === true)) {
          segments.push(sameDead(old.dead, dead) ? old.retain() : old.withDead(dead));
        } else segments.push(openSegment(store, r, dead, opts));
      }
    } catch (e) {
      for (const s of segments) s.close();
      throw e;
    }
    const pendingDocs: Doc[] = [];
    for (const d of latest.values()) if (d) pendingDocs.push(d);
    const located = new Map<string, Location>();
    if (opts.locate && opts.locate.length > 0) {
      const bySeg = new Map(segments.map((s) => [s.row.id, s]));
      const loc = db.prepare('SELECT segment_id, ord FROM docs WHERE id_key = ?');
      for (const key of opts.locate) {
        if (latest.has(key)) continue; // the journal's newer write (or delete) shadows the segment row
        const l = loc.get(key) as { segment_id: number; ord: number } | undefined;
        const seg = l && bySeg.get(l.segment_id);
        if (seg && l.ord < seg.docCount && seg.isLive(l.ord)) located.set(key, { segment: seg, ord: l.ord });
      }
    }
    const snap = new Snapshot(dir, schema, segments, pendingDocs, new Set(latest.keys()), entries, located);
    snap.textReindex = textReindex;
    snap.journalSeq = journalSeq;
    snap.state = { schemaJson, reindexJson, latest, lastSeq, entries, deletedRows };
    return snap;
  }

  get liveCount(): number {
    let n = this.pendingDocs.length;
    for (const s of this.segments) n += s.liveCount;
    return n;
  }

  /** Closes this snapshot's hold on its segments (idempotent); segments a newer snapshot reuses stay open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) s.close();
  }
}

/** The same segment: files are immutable and named once, so the row (names, sizes, CRC-32s) identifies them. */
function sameRow(a: SegmentRow | undefined, b: SegmentRow): boolean {
  return (
    a !== undefined &&
    a.id === b.id &&
    a.doc_count === b.doc_count &&
    a.index_file === b.index_file &&
    a.index_bytes === b.index_bytes &&
    a.index_crc32 === b.index_crc32 &&
    a.parquet_file === b.parquet_file &&
    a.parquet_bytes === b.parquet_bytes &&
    a.parquet_crc32 === b.parquet_crc32
  );
}

/** Equal deletion states (null = nothing dead = all zeros). */
function sameDead(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  const n = a?.length ?? b!.length;
  for (let i = 0; i < n; i++) if ((a?.[i] ?? 0) !== (b?.[i] ?? 0)) return false;
  return true;
}

/**
 * Index files without block checksums (version 1) up to this size are read whole and checksummed on open;
 * larger ones are checksummed streaming, then read by range. Files with block checksums are read by range
 * from TINY_FILE_BYTES on (whole, below: one read beats a dozen).
 */
const READ_WHOLE_BYTES = 4 * 1024 * 1024;
const TINY_FILE_BYTES = 64 * 1024;

/** Decompressed stored-once text kept per attribute and segment (StoredTextReader): single query, batch/serve. */
const COLD_TEXT_BYTES = 2 * 1024 * 1024;
const RESIDENT_TEXT_BYTES = 32 * 1024 * 1024;

/**
 * The values of a stored-once attribute of one segment, read from its Parquet file a row group at a time
 * (storage/parquet-text.ts) through verified bytes. Decompressed row groups are kept (the last
 * KEEP_GROUPS, and more up to `keepBytes`): printing a page of results, or re-checking phrase candidates,
 * often reads neighbours.
 */
export class StoredTextReader {
  private static readonly KEEP_GROUPS = 4;
  /** Decompressed row groups kept, most recently used last, and their bytes. */
  private readonly groups = new Map<number, TextChunkValues>();
  private heldBytes = 0;
  constructor(
    private readonly loc: TextLocator,
    private readonly source: () => ByteSource,
    private readonly what: string,
    /**
     * Decompressed bytes of row groups to keep: a few for a single query (it prints a page of results),
     * much more in a batch or server process, where the same documents are printed again and again.
     */
    private readonly keepBytes: number,
  ) {}

  get length(): number {
    return this.loc.docCount;
  }

  private group(g: number): TextChunkValues {
    let values = this.groups.get(g);
    if (values) {
      this.groups.delete(g);
      this.groups.set(g, values);
      return values;
    }
    values = this.open(g);
    this.groups.set(g, values);
    this.heldBytes += values.bytes;
    // Always keep the last KEEP_GROUPS row groups, whatever their size: results printed in score order
    // alternate between row groups, and a row group of huge values must not be inflated for every one.
    while (this.heldBytes > this.keepBytes && this.groups.size > StoredTextReader.KEEP_GROUPS) {
      const [oldest, v] = this.groups.entries().next().value!;
      this.groups.delete(oldest);
      this.heldBytes -= v.bytes;
    }
    return values;
  }

  /** The value of ordinal `ord`: a string, or null (null or absent in the document). */
  get(ord: number): string | null {
    if (!(ord >= 0 && ord < this.loc.docCount)) throw new ElacsymError('INTERNAL', `stored text: ordinal ${ord} outside the segment`);
    const g = Math.floor(ord / this.loc.rowsPerGroup);
    return this.group(g).get(ord - g * this.loc.rowsPerGroup);
  }

  /** Every value by ordinal (filters on the attribute, re-analysis): the whole column decoded once. */
  all(): (string | null)[] {
    const out: (string | null)[] = [];
    for (let g = 0; g < this.loc.groupCount; g++) {
      const values = this.open(g);
      for (let i = 0; i < values.rows; i++) out.push(values.get(i));
    }
    return out;
  }

  /** Row group g's column chunk, read through verified bytes and decompressed (not kept). */
  private open(g: number): TextChunkValues {
    const { rows, offset, length } = this.loc.group(g);
    const src = this.source();
    if (offset + length > src.length) throw new ElacsymError('CORRUPT_SEGMENT', `${this.what}: row group ${g} lies past the end of the file`);
    return openTextChunk(src.read(offset, length), rows, this.loc.codec, `${this.what}, row group ${g}`);
  }
}

const STREAM_CHUNK = 1024 * 1024;

const damaged = (idxPath: string) =>
  new ElacsymError('CORRUPT_SEGMENT', `${idxPath}: checksum mismatch (the file is damaged)`, { details: { path: idxPath } });

/**
 * Handles of segments another thread's snapshot holds (`rows` and their dead rows as that snapshot read
 * them), opened and verified as Snapshot.open opens them but without reading the manifest: a thread that
 * searches part of that snapshot (store/vector-peer.ts) answers for exactly its state. A file a compaction
 * has retired since fails with ENOENT (the caller falls back). The caller closes the handles.
 */
export function openSegmentHandles(dir: string, rows: readonly SegmentRow[], dead: readonly (Uint8Array | null)[], opts: SnapshotOptions = {}): SegmentHandle[] {
  const store = opts.segments ?? segmentStoreOf(dir);
  const out: SegmentHandle[] = [];
  try {
    rows.forEach((r, i) => out.push(openSegment(store, r, dead[i] ?? null, opts)));
  } catch (e) {
    for (const h of out) h.close();
    throw e;
  }
  return out;
}

function openSegment(store: SegmentStore, r: SegmentRow, dead: Uint8Array | null, opts: SnapshotOptions): SegmentHandle {
  const idxPath = store.pathOf(r.index_file);
  const parquetPath = store.pathOf(r.parquet_file);
  const fsrc = store.open(r.index_file);
  let psrc: ReadableObject;
  try {
    psrc = store.open(r.parquet_file);
  } catch (e) {
    fsrc.close();
    throw e;
  }
  try {
    if (fsrc.length !== r.index_bytes) {
      throw new ElacsymError('CORRUPT_SEGMENT', `${idxPath}: ${fsrc.length} bytes on disk, ${r.index_bytes} recorded in the manifest`, {
        details: { path: idxPath },
      });
    }
    // Every byte a query uses is verified before it is used: a file read whole against the manifest's
    // CRC-32 here; a larger one read by range block by block as it is read (version 2 block checksums),
    // or, for a version 1 file that has none, whole (streamed, not kept) before any of it is used.
    let src: ByteSource = fsrc;
    let verified = false;
    // A file with block checksums is read by range unless it is tiny: a single query reads the few parts
    // it needs (a 2.4 MB file read whole was ~580 pages of new memory, ~7 ms of a cold query here).
    const blocks = !opts.loadFully && fsrc.length > Math.min(TINY_FILE_BYTES, opts.readWholeBytes ?? TINY_FILE_BYTES) && SegmentFile.hasBlockChecksums(fsrc);
    if (opts.loadFully || (!blocks && fsrc.length <= (opts.readWholeBytes ?? READ_WHOLE_BYTES))) {
      const bytes = fsrc.read(0, fsrc.length);
      if (crc32(bytes) !== r.index_crc32) throw damaged(idxPath);
      src = new MemorySource(bytes);
      verified = true;
      fsrc.close();
    } else if (!blocks) {
      let c = 0;
      for (let at = 0; at < fsrc.length; at += STREAM_CHUNK) c = crc32(fsrc.read(at, Math.min(STREAM_CHUNK, fsrc.length - at)), c);
      if (c !== r.index_crc32) throw damaged(idxPath);
      verified = true;
    }
    const file = SegmentFile.open(src, idxPath, { verified });
    const handle = new SegmentHandle(r, file, parquetPath, psrc, dead, src === fsrc ? () => fsrc.close() : null, opts.loadFully === true);
    return handle;
  } catch (e) {
    psrc.close();
    fsrc.close(); // idempotent: it may be closed already after a whole-file read
    throw e;
  }
}
