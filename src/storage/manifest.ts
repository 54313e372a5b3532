/**
 * The manifest database of one namespace (`<ns>/manifest.db`, SQLite in WAL mode). It is the commit point
 * of every write: a journal batch, a flush and a compaction each become visible in exactly one SQLite
 * transaction. See man/elacsym-format.5 for the whole layout.
 */
import { ElacsymError } from '../errors.js';
import type { Schema } from '../model/types.js';
import { crc32 } from '../util/crc32.js';
import type { JournalOp } from './journal-codec.js';
import { asStorageError, type Db } from './sqlite.js';

/**
 * Bump when the layout of manifest.db or of segment files changes; older elacsym refuses newer dirs.
 *   1  first release
 *   2  index files with a header CRC and block checksums (segment file version 2); the docs_copy index.
 *      A version 1 manifest is read as it is and raised to 2 by the first segment a writer adds to it
 *      (from then on an elacsym that reads only version 1 refuses it with FORMAT_TOO_NEW instead of
 *      meeting an index file it cannot read).
 *   3  a manifest whose schema or meta an elacsym of format 2 would misread: full-text options it does not
 *      know (ascii_folding, stopwords, tokenizer, a language added later) or the `text_reindex_below` key
 *      (see readTextReindex). Written only by namespaces that use them (init with such a schema, `alter`),
 *      so every other namespace stays at SEGMENT_FORMAT_VERSION; an older elacsym refuses a v3 manifest
 *      with FORMAT_TOO_NEW instead of answering queries with the wrong analyzer.
 *   4  storage format 2 (issue 11): segments whose Parquet file holds typed columns and the only copy of
 *      the vectors, and whose index file has typed filter columns (no `docs`/`vectors` sections) and an
 *      IVF over quantized codes. Every new manifest, and every manifest a writer adds such a segment to
 *      (older segments stay readable side by side until compaction rewrites them); an elacsym of format
 *      3 refuses it with FORMAT_TOO_NEW instead of failing on the first segment it cannot read.
 *   5  full-text fields that state `positions` in the schema (every field created by `init` or changed by
 *      `alter` from this version on; "auto" unless given): their segments' postings may have no positions
 *      (postings version 2, see index/fulltext/postings.ts). Namespaces without such a field stay at 4 and
 *      remain readable by an elacsym of format 4; it refuses a version 5 manifest with FORMAT_TOO_NEW.
 *   6  long text stored once (storage/parquet-text.ts): a segment whose index file has `txt:<name>` sections
 *      instead of `col:<name>` for string attributes averaging STORED_ONCE_MIN_CHARS or more; queries read
 *      those values from the Parquet file. Raised by the first such segment (namespaces of short text stay
 *      at 4 or 5); an elacsym of format 5 refuses it with FORMAT_TOO_NEW instead of missing a column.
 *   7  compact index files (issue 11): a segment whose index file holds a structure an elacsym of format 6
 *      cannot read: a flat vector index (IVF version 3), an IVF without its ord index (version 4), see
 *      index/vector/ivf.ts, or a full-text field index of version 3 (index/fulltext/postings.ts); see
 *      store/segment-builder.ts segmentFormatVersion. Raised by the first such segment (every new segment
 *      with vectors or a full-text field); an elacsym of format 6 refuses it with FORMAT_TOO_NEW.
 *   8  4-bit vector codes (issue 11): a segment whose IVF is version 5 (index/vector/ivf.ts: residual codes,
 *      two dimensions a byte). Raised by the first such segment (every new segment of FLAT_BELOW or more
 *      vectors); an elacsym of format 7 refuses it with FORMAT_TOO_NEW instead of calling it corrupt.
 */
export const FORMAT_VERSION = 8;

/** The version of a manifest whose schema states full-text `positions` (see FORMAT_VERSION, 5). */
export const POSITIONS_FORMAT_VERSION = 5;

/** The version a segment with stored-once text raises its manifest to (see FORMAT_VERSION, 6). */
export const STORED_ONCE_FORMAT_VERSION = 6;

/** The version a segment with a compact index file raises its manifest to (see FORMAT_VERSION, 7). */
export const COMPACT_INDEX_FORMAT_VERSION = 7;

/** The version a segment with an IVF of 4-bit codes (version 5) raises its manifest to (see FORMAT_VERSION, 8). */
export const NIBBLE_CODES_FORMAT_VERSION = 8;

/** The version every manifest is created with and raised to by its segments (see FORMAT_VERSION, 2 and 4). */
export const SEGMENT_FORMAT_VERSION = 4;

/**
 * Meta key: JSON object field -> segment id. Segments with a LOWER id hold a full-text index of that
 * field built with an older analyzer (or none): readers analyze those segments' stored values with the
 * current analyzer instead, and compaction rewrites them. Absent = every segment is current.
 */
export const TEXT_REINDEX_KEY = 'text_reindex_below';

/**
 * Meta key (format 5): JSON object field -> segment id. Segments with a LOWER id hold postings of that field
 * built with another `positions` setting (same tokens): readers use them as they are (phrases are exact
 * either way), compaction rewrites them (`alter` of positions alone). Absent = none.
 */
export const POSITIONS_REWRITE_KEY = 'positions_rewrite_below';

export function readTextReindex(db: Db, key: string = TEXT_REINDEX_KEY): Record<string, number> {
  const s = getMeta(db, key);
  // Keyed by field names, which are data: "__proto__" must be a key, never the object's prototype (an
  // ordinary `{}` here lost `alter` of a field of that name: no reindex entry, wrong answers).
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  if (s === undefined) return out;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    throw new ElacsymError('CORRUPT_MANIFEST', `manifest meta ${key} is not valid JSON`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ElacsymError('CORRUPT_MANIFEST', `manifest meta ${key} is not an object`);
  for (const [k, n] of Object.entries(v)) {
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw new ElacsymError('CORRUPT_MANIFEST', `manifest meta ${key}: bad segment id for ${k}`);
    out[k] = n as number;
  }
  return out;
}

/**
 * A second copy of the id map (docs), in its own b-tree: a writer looks every id it writes up in both and
 * refuses (CORRUPT_MANIFEST) when they disagree, so a damaged key in either (a flipped bit turning one id
 * into another) never makes an id live twice or deletes another document's row.
 */
const ID_MAP_COPY_DDL = 'CREATE INDEX IF NOT EXISTS docs_copy ON docs (id_key, segment_id, ord)';

/** Creates the id map's copy in a manifest written before it existed (once; the writer holds the lock). */
export function ensureIdMapCopy(db: Db): void {
  db.exec(ID_MAP_COPY_DDL);
}

/**
 * A second copy of the dead rows (deleted), in its own b-tree keyed the other way round. SQLite keeps no
 * checksum of a page, so a flipped bit inside a row of `deleted` (row 5 read as row 4) leaves a valid
 * table that hides a live document and brings a deleted one back: a wrong answer with exit 0. Whoever
 * reads the whole set (a snapshot's full load, a compaction, `health --deep`) reads both b-trees and
 * refuses (CORRUPT_MANIFEST) when they disagree. SQLite maintains the copy with every insert and delete.
 */
const DELETED_COPY_DDL = 'CREATE INDEX IF NOT EXISTS deleted_copy ON deleted (ord, segment_id)';

/** Creates the dead rows' copy in a manifest written before it existed (once; the writer holds the lock). */
export function ensureDeletedCopy(db: Db): void {
  db.exec(DELETED_COPY_DDL);
}

/** Whether the manifest holds the dead rows' copy (one written before it existed does not, until a writer opens it). */
export function hasDeletedCopy(db: Db): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'deleted_copy'").get() !== undefined;
}

/**
 * The rows of `deleted` as its own b-tree holds them, each passed to `each`. The primary key is named: on
 * a WITHOUT ROWID table SQLite scans the covering copy even under NOT INDEXED. Read as one text of row
 * numbers per segment (group_concat) and parsed here: 2-3x faster in a cold process than a row object per
 * dead row (20,000 rows: 6-11 against 17-31 ms, docs/performance.md "Session 31").
 */
export function scanDeleted(db: Db, each: (segmentId: number, ord: number) => void): void {
  const stmt = db.prepare('SELECT segment_id, group_concat(ord) FROM deleted INDEXED BY sqlite_autoindex_deleted_1 GROUP BY segment_id').raw();
  for (const [s, ords] of stmt.all() as [unknown, unknown][]) {
    // A damaged row can read as NULL or as another type: damage, never a crash (nor a guess).
    if (typeof s !== 'number' || typeof ords !== 'string') throw notRows(db);
    // Non-negative integers written by SQLite, comma-separated; anything else is damage.
    let v = 0;
    let digits = 0;
    for (let i = 0; i < ords.length; i++) {
      const c = ords.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        v = v * 10 + (c - 48);
        digits++;
      } else if (c === 44 && digits > 0) {
        each(s, v);
        v = 0;
        digits = 0;
      } else throw notRows(db);
    }
    if (digits === 0) throw notRows(db);
    each(s, v);
  }
}

const notRows = (db: Db) =>
  new ElacsymError('CORRUPT_MANIFEST', `${db.name}: the table of deleted rows holds a row that is not a segment and a row number: the manifest is damaged`, { details: { path: db.name } });

/**
 * Compares the two b-trees of the dead rows (the table and its copy, `deleted_copy`) and throws
 * CORRUPT_MANIFEST when they hold different rows. Call it in the transaction that reads the rows;
 * `tableRows` is the table's row count when the caller has it. A manifest without the copy is not checked.
 */
export function checkDeletedCopy(db: Db, path: string, tableRows?: number): void {
  if (!hasDeletedCopy(db)) return;
  // An exact comparison, not a digest: sums of hashed rows let two damaged rows cancel out (a tester
  // found row 4 -> 5 with row 7 -> 6 undetected). Counts, then each b-tree's rows missing from the other
  // (EXCEPT builds a temporary b-tree of one side: a few ms for 20,000 rows).
  const A = 'FROM deleted INDEXED BY sqlite_autoindex_deleted_1';
  const B = 'FROM deleted INDEXED BY deleted_copy';
  // `tableRows`: the caller just counted the table's rows (a snapshot's scan), no need to count again.
  const n = tableRows ?? Number(db.prepare(`SELECT count(*) ${A}`).pluck().get());
  const m = Number(db.prepare(`SELECT count(*) ${B}`).pluck().get());
  if (n === 0 && m === 0) return; // the common case of a query's start: no dead rows, nothing to compare
  const differ =
    n !== m ||
    db.prepare(`SELECT 1 FROM (SELECT segment_id, ord ${A} EXCEPT SELECT segment_id, ord ${B}) LIMIT 1`).get() !== undefined ||
    db.prepare(`SELECT 1 FROM (SELECT segment_id, ord ${B} EXCEPT SELECT segment_id, ord ${A}) LIMIT 1`).get() !== undefined;
  if (differ) {
    throw new ElacsymError(
      'CORRUPT_MANIFEST',
      `${path}: the table of deleted rows and its copy hold different rows (${n} and ${m} rows): the manifest is damaged, and answers from it could show deleted documents or hide live ones`,
      { details: { path, deleted_rows: n, copy_rows: m } },
    );
  }
}

/**
 * Gives the `imports` table (resume points) its `crc32` column in a manifest written before it existed
 * (once; the writer holds the lock). NULL in a row an older release wrote: that resume point is taken on
 * trust, as before.
 */
export function ensureImportsCrc(db: Db): void {
  const cols = db.prepare("SELECT name FROM pragma_table_info('imports')").pluck().all() as string[];
  if (!cols.includes('crc32')) db.exec('ALTER TABLE imports ADD COLUMN crc32 INTEGER');
}

export const MANIFEST_DDL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  crc32 INTEGER NOT NULL,
  committed_at INTEGER NOT NULL,
  payload BLOB NOT NULL
);
CREATE TABLE quarantine (
  seq INTEGER PRIMARY KEY,
  op TEXT NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL, crc32 INTEGER NOT NULL,
  committed_at INTEGER NOT NULL, payload BLOB NOT NULL,
  reason TEXT NOT NULL, quarantined_at INTEGER NOT NULL
);
CREATE TABLE segments (
  id INTEGER PRIMARY KEY,
  level INTEGER NOT NULL,
  doc_count INTEGER NOT NULL,
  parquet_file TEXT NOT NULL, parquet_bytes INTEGER NOT NULL, parquet_crc32 INTEGER NOT NULL,
  index_file TEXT NOT NULL, index_bytes INTEGER NOT NULL, index_crc32 INTEGER NOT NULL,
  max_seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE deleted (segment_id INTEGER NOT NULL, ord INTEGER NOT NULL, PRIMARY KEY (segment_id, ord)) WITHOUT ROWID;
${DELETED_COPY_DDL};
CREATE TABLE docs (id_key TEXT PRIMARY KEY, segment_id INTEGER NOT NULL, ord INTEGER NOT NULL) WITHOUT ROWID;
${ID_MAP_COPY_DDL};
CREATE TABLE imports (source TEXT PRIMARY KEY, lines INTEGER NOT NULL, updated_at INTEGER NOT NULL, crc32 INTEGER) WITHOUT ROWID;
`;

export interface SegmentRow {
  id: number;
  level: number;
  doc_count: number;
  parquet_file: string;
  parquet_bytes: number;
  parquet_crc32: number;
  index_file: string;
  index_bytes: number;
  index_crc32: number;
  max_seq: number;
  created_at: number;
}

export interface JournalRow {
  seq: number;
  op: JournalOp;
  count: number;
  bytes: number;
  crc32: number;
  committed_at: number;
  payload: Uint8Array;
}

export type JournalHead = Omit<JournalRow, 'payload'>;

export function initManifest(db: Db, schema: Schema, now: number, formatVersion: number = SEGMENT_FORMAT_VERSION): void {
  // auto_vacuum is set by createDb, before WAL mode: here, after it, SQLite would silently ignore it.
  db.exec(MANIFEST_DDL);
  const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
  db.transaction(() => {
    put.run('format_version', String(formatVersion));
    put.run('schema', JSON.stringify(schema));
    put.run('created_at', String(now));
    // Identifies this namespace wherever it is copied or published (publish refuses to replace another
    // namespace's versions); a backup and its restore keep it.
    // globalThis.crypto, not an import of node:crypto: loading that module cost every cold query ~5 ms.
    put.run('namespace_id', globalThis.crypto.randomUUID());
    put.run('next_segment_id', '1');
  })();
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** Refuse manifests written by a newer (or unknown) format. */
export function checkFormat(db: Db, path: string): void {
  let v: string | undefined;
  try {
    v = getMeta(db, 'format_version');
  } catch (e) {
    // A full disk, a read-only directory or a busy database is not damage: name it for what it is.
    const named = asStorageError(e, path);
    if (named instanceof ElacsymError) throw named;
    throw new ElacsymError('CORRUPT_MANIFEST', `${path}: cannot read the manifest (${(e as Error).message})`, { cause: e, details: { path } });
  }
  // Written as the decimal digits of a positive integer; " 1", "0x1" or "1e0" were not written by elacsym.
  const n = v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n)) throw new ElacsymError('CORRUPT_MANIFEST', `${path}: no format version recorded`, { details: { path } });
  if (n > FORMAT_VERSION) {
    throw new ElacsymError('FORMAT_TOO_NEW', `${path} was written by format version ${n}; this elacsym reads up to ${FORMAT_VERSION}`, { details: { path } });
  }
  if (n < 1) throw new ElacsymError('FORMAT_TOO_OLD', `${path} has unsupported format version ${n}`, { details: { path } });
}

/** Whether a full-text field of the schema states `positions` (format 5, see FORMAT_VERSION). */
export function schemaStatesPositions(schema: Schema): boolean {
  return Object.values(schema.attributes).some((a) => a.full_text !== null && a.full_text.positions !== undefined);
}

/**
 * The stored schema. It was written by elacsym, so anything but the JSON of a schema object is damage
 * (CORRUPT_MANIFEST), never a crash later on a missing field.
 */
export function readSchema(db: Db): Schema {
  const s = getMeta(db, 'schema');
  if (!s) throw new ElacsymError('CORRUPT_MANIFEST', 'manifest has no schema');
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    throw new ElacsymError('CORRUPT_MANIFEST', `the manifest's stored schema is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const o = v as Partial<Schema> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    Array.isArray(o) ||
    typeof o.vector_dim !== 'number' ||
    typeof o.vector_metric !== 'string' ||
    typeof o.attributes !== 'object' ||
    o.attributes === null ||
    Array.isArray(o.attributes)
  ) {
    throw new ElacsymError('CORRUPT_MANIFEST', "the manifest's stored schema is not a schema object (vector_dim, vector_metric, attributes)");
  }
  return o as Schema;
}

export function appendJournal(db: Db, op: JournalOp, count: number, payload: Uint8Array, now: number): number {
  const r = db
    .prepare('INSERT INTO journal (op, count, bytes, crc32, committed_at, payload) VALUES (?, ?, ?, ?, ?, ?)')
    .run(op, count, payload.length, crc32(payload), now, payload);
  return Number(r.lastInsertRowid);
}

/** The highest journal sequence ever assigned (0: none), whether or not its entry is still pending. */
export function journalHighWater(db: Db): number {
  return Number((db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").pluck().get() as number | undefined) ?? 0);
}

export function journalHeads(db: Db): JournalHead[] {
  return db.prepare('SELECT seq, op, count, bytes, crc32, committed_at FROM journal ORDER BY seq').all() as JournalHead[];
}

export function* journalEntries(db: Db, throughSeq = Number.MAX_SAFE_INTEGER): Generator<JournalRow> {
  const stmt = db.prepare('SELECT seq, op, count, bytes, crc32, committed_at, payload FROM journal WHERE seq <= ? ORDER BY seq');
  for (const row of stmt.iterate(throughSeq) as Iterable<JournalRow & { payload: Buffer }>) {
    yield row;
  }
}

/** Why an entry cannot be applied, or null when its bytes are intact. */
export function journalDamage(row: JournalRow): string | null {
  if (row.payload.length !== row.bytes) return `payload is ${row.payload.length} bytes, ${row.bytes} recorded`;
  const c = crc32(row.payload);
  if (c !== row.crc32) return `CRC-32 mismatch: recorded ${hex(row.crc32)}, computed ${hex(c)}`;
  return null;
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export function quarantineEntry(db: Db, row: JournalRow, reason: string, now: number): void {
  db.prepare(
    'INSERT OR REPLACE INTO quarantine (seq, op, count, bytes, crc32, committed_at, payload, reason, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(row.seq, row.op, row.count, row.bytes, row.crc32, row.committed_at, row.payload, reason, now);
  db.prepare('DELETE FROM journal WHERE seq = ?').run(row.seq);
}

export function listSegments(db: Db): SegmentRow[] {
  return db.prepare('SELECT * FROM segments ORDER BY id').all() as SegmentRow[];
}

export function deletedOrds(db: Db, segmentId: number): Uint32Array {
  const rows = db.prepare('SELECT ord FROM deleted WHERE segment_id = ? ORDER BY ord').pluck().all(segmentId) as number[];
  return Uint32Array.from(rows);
}

export function allocSegmentId(db: Db): number {
  const id = Number(getMeta(db, 'next_segment_id') ?? '1');
  setMeta(db, 'next_segment_id', String(id + 1));
  return id;
}

/** Add a segment row, taking the next segment id (which must be `id`: the writer lock guarantees it). */
export function insertSegment(
  db: Db,
  f: { id: number; parquet: string; idx: string; parquetBytes: number; parquetCrc: number; indexBytes: number; indexCrc: number; docCount: number; formatVersion?: number },
  level: number,
  maxSeq: number,
  now: number,
): void {
  const id = allocSegmentId(db);
  if (id !== f.id) throw new ElacsymError('INTERNAL', `segment id changed under the writer lock (${f.id} -> ${id})`);
  db.prepare(
    `INSERT INTO segments (id, level, doc_count, parquet_file, parquet_bytes, parquet_crc32, index_file, index_bytes, index_crc32, max_seq, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(f.id, level, f.docCount, f.parquet, f.parquetBytes, f.parquetCrc, f.idx, f.indexBytes, f.indexCrc, maxSeq, now);
  // The segment's index file is in the current segment file format: a version 1 manifest is raised with it.
  // Raised to the segment format (4), which includes everything version 3 marks, or to 5 when the schema
  // states `positions` (the segment's postings may have none), or to what the segment itself needs (6: text
  // stored once).
  raiseFormatVersion(db, Math.max(schemaStatesPositions(readSchema(db)) ? POSITIONS_FORMAT_VERSION : SEGMENT_FORMAT_VERSION, f.formatVersion ?? SEGMENT_FORMAT_VERSION));
}

/** Raise the manifest's format_version to `need` (never lower it): in the caller's transaction. */
export function raiseFormatVersion(db: Db, need: number): void {
  db.prepare("UPDATE meta SET value = ? WHERE key = 'format_version' AND CAST(value AS INTEGER) < ?").run(String(need), need);
}
