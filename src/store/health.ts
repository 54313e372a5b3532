/**
 * Health of a namespace: figures for operators and monitoring, and a verdict.
 *   healthy  (exit 0)  nothing to report
 *   degraded (exit 6)  journal backlog over the threshold, orphan files, quarantined journal entries, an
 *                      index that covers none of a non-empty namespace
 *   corrupt  (exit 5)  a checksum mismatch, a missing or resized file, an undecodable journal entry, a
 *                      manifest that fails SQLite's integrity check
 * `deep` verifies every checksum (journal entries, Parquet files, index files and their sections),
 * SQLite's integrity (integrity_check) and the id map against the ids stored in the segments; without it,
 * only sizes, presence and the id map's counts are checked (cheap enough for every minute).
 */
import { segmentStoreOf, type SegmentStore } from '../storage/segment-store.js';
import { join } from 'node:path';
import { ElacsymError, isElacsymError } from '../errors.js';
import { checkDeletedCopy, checkFormat, FORMAT_VERSION, getMeta, listSegments, readSchema, readTextReindex, type SegmentRow } from '../storage/manifest.js';
import { writerLockHeld } from '../storage/lock.js';
import { parseSegmentFileName, SegmentFile, StringTable } from '../storage/segment-file.js';
import { asStorageError, type Db, openDb } from '../storage/sqlite.js';
import { MemorySource } from '../util/bytes.js';
import { crc32 } from '../util/crc32.js';
import { FieldIndexReader } from '../index/fulltext/postings.js';
import { openVectorIndex } from '../index/vector/ivf.js';
import { decodeTextChunk, TextLocator } from '../storage/parquet-text.js';
import { VectorLocator } from '../storage/vector-locator.js';
import type { Schema } from '../model/types.js';
import { dirBytes, pidAlive } from './data-dir.js';
import { readJournalReport } from './journal-inspect.js';

export type HealthStatus = 'healthy' | 'degraded' | 'corrupt';

export interface Problem {
  severity: 'degraded' | 'corrupt';
  code: string;
  message: string;
  path?: string;
}

export interface NamespaceHealth {
  namespace: string;
  status: HealthStatus;
  format_version: number;
  documents: number;
  segments: number;
  segment_documents: number;
  deleted_rows: number;
  journal: { pending_entries: number; pending_documents: number; pending_bytes: number; oldest_pending_age_s: number | null; quarantined: number; corrupt: number };
  /**
   * Per index: live documents indexed in segments, only in the journal, and (full-text only, after
   * `elacsym alter`) in segments whose index was built with an older analyzer (`outdated`, re-analyzed at
   * query time until the next compact). ratio = indexed / all three.
   */
  index_coverage: Record<string, { indexed: number; journal_only: number; ratio: number; outdated?: number }>;
  last_compaction_at: string | null;
  last_compaction_age_s: number | null;
  orphan_files: string[];
  disk_bytes: number;
  manifest_bytes: number;
  deep: boolean;
  problems: Problem[];
}

export interface HealthOptions {
  deep?: boolean;
  /**
   * Remember decoded journal entries across checks (a long-lived process that checks again and again:
   * the server's /health and /metrics; see readJournalReport).
   */
  cacheJournal?: boolean;
  maxBacklogDocs?: number;
  now?: number;
}

/** A namespace that could not be checked at all (its manifest missing, or unreadable by this user). */
export interface UncheckedNamespace {
  namespace: string;
  code: string;
  message: string;
}

/**
 * The verdict over every namespace (`elacsym health` and the server's /health): the worst status of the
 * checked ones; one that could not be checked is no healthy one: corrupt when its error says damage
 * (CORRUPT_*), else at least degraded.
 */
export function healthVerdict(reports: readonly NamespaceHealth[], unchecked: readonly UncheckedNamespace[]): HealthStatus {
  if (unchecked.some((u) => u.code.startsWith('CORRUPT_')) || reports.some((r) => r.status === 'corrupt')) return 'corrupt';
  return unchecked.length > 0 || reports.some((r) => r.status === 'degraded') ? 'degraded' : 'healthy';
}

export function checkNamespace(dir: string, name: string, opts: HealthOptions = {}): NamespaceHealth {
  const path = join(dir, 'manifest.db');
  const db = openDb(path, { readonly: true });
  try {
    checkFormat(db, path);
    // A consistent snapshot: every manifest read of one check happens in one read transaction, and the
    // files are checked against it. A writer that commits meanwhile may retire and delete files of that
    // snapshot (or add files it does not list yet); when the manifest moved on (data_version changed)
    // and the check found missing files or orphans, it is taken again from the newer snapshot.
    for (let attempt = 0; ; attempt++) {
      const version = db.pragma('data_version', { simple: true });
      const h = db.transaction(() => checkSnapshot(db, dir, name, opts))();
      const racy = h.problems.some((p) => p.code === 'CORRUPT_SEGMENT' || p.code === 'ORPHAN_FILES');
      if (!racy || attempt >= 5 || db.pragma('data_version', { simple: true }) === version) return h;
    }
  } catch (e0) {
    // A damaged page can surface from any statement (SQLITE_CORRUPT): that is a verdict, not a crash.
    const e = asStorageError(e0, path);
    if (e instanceof ElacsymError && (e.code === 'CORRUPT_MANIFEST' || e.code === 'FORMAT_TOO_NEW' || e.code === 'FORMAT_TOO_OLD')) {
      return corruptHealth(name, e.message, path);
    }
    throw e;
  } finally {
    db.close();
  }
}

/** Reads an object whole, or null when it vanished (a concurrent compaction's garbage collection). */
function readIfPresent(store: SegmentStore, name: string): Uint8Array | null {
  let o;
  try {
    o = store.open(name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return o.read(0, o.length);
  } finally {
    o.close();
  }
}

function checkSnapshot(db: Db, dir: string, name: string, opts: HealthOptions): NamespaceHealth {
  const now = opts.now ?? Date.now();
  const problems: Problem[] = [];
  const path = join(dir, 'manifest.db');
  const schema = readSchema(db);
  if (opts.deep) {
    // integrity_check, not quick_check: only it verifies that every b-tree's keys are in order, and a
    // flipped bit in an id key of the docs table shows up as exactly that.
    const res = db.pragma('integrity_check', { simple: true });
    if (res !== 'ok') problems.push({ severity: 'corrupt', code: 'CORRUPT_MANIFEST', message: `SQLite integrity_check: ${String(res)}`, path });
  }
  const rows = listSegments(db);
  const deletedBySeg = new Map<number, number>();
  for (const r of db.prepare('SELECT segment_id, COUNT(*) AS n FROM deleted GROUP BY segment_id').all() as { segment_id: number; n: number }[]) {
    deletedBySeg.set(r.segment_id, r.n);
  }
  let deleted = 0;
  for (const n of deletedBySeg.values()) deleted += n;
  const liveDocs = Number((db.prepare('SELECT COUNT(*) AS n FROM docs').get() as { n: number }).n);
  const lastCompaction = getMeta(db, 'last_compaction_at');
  const reindex = readTextReindex(db);
  /** Id key -> whether its last pending write is an upsert (true) or a delete (false). */
  const latest = new Map<string, boolean>();
  // The cache's scope names this manifest: its path and creation time (a namespace dropped and created
  // again is another manifest, whose seqs start over).
  const cacheScope = opts.cacheJournal ? `${path}\0${getMeta(db, 'created_at') ?? ''}` : undefined;
  const journal = readJournalReport(db, { latest, cacheScope });
  // What the pending writes do to the flushed documents: a write of an id the id map holds supersedes that
  // row (an update, or a delete), a write of a new id adds a document. Counted exactly, so `documents`
  // equals `count` (a plain sum over-counted every update still in the journal).
  const shadowedBySeg = new Map<number, number>();
  let journalOnly = 0;
  let shadowedRows = 0;
  if (latest.size > 0) {
    const where = db.prepare('SELECT segment_id FROM docs WHERE id_key = ?').pluck();
    for (const [key, put] of latest) {
      const seg = where.get(key) as number | undefined;
      if (put) journalOnly++;
      if (seg !== undefined) {
        shadowedRows++;
        shadowedBySeg.set(seg, (shadowedBySeg.get(seg) ?? 0) + 1);
      }
    }
  }
  for (const e of journal.entries) {
    if (e.status === 'corrupt') problems.push({ severity: 'corrupt', code: 'CORRUPT_JOURNAL', message: `journal entry ${e.seq}: ${e.problem}`, path });
    if (e.status === 'quarantined') problems.push({ severity: 'degraded', code: 'QUARANTINED_JOURNAL_ENTRY', message: `journal entry ${e.seq} is quarantined: ${e.problem}`, path });
  }
  const store = segmentStoreOf(dir);
  const segDir = store.location;
  const referenced = new Set<string>();
  let segmentDocs = 0;
  let vectorIndexed = 0;
  const textIndexed: Record<string, number> = Object.create(null); // keyed by field names: "constructor" is data
  const textOutdated: Record<string, number> = Object.create(null);
  const ftFields = Object.entries(schema.attributes).filter(([, a]) => a.full_text).map(([n]) => n);
  /** Id keys by ordinal of each segment whose index file verified (deep only): the id maps are checked against them. */
  const keysBySeg = new Map<number, string[]>();
  for (const r of rows) {
    segmentDocs += r.doc_count;
    // The Parquet file's bytes once verified (deep): the index file's stored-once text is decoded from them.
    let parquetData: Uint8Array | null = null;
    for (const [file, bytes, crc] of [
      [r.parquet_file, r.parquet_bytes, r.parquet_crc32],
      [r.index_file, r.index_bytes, r.index_crc32],
    ] as const) {
      referenced.add(file);
      const p = store.pathOf(file);
      const size = store.size(file);
      if (size === null) {
        problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: ${file} is missing`, path: p });
        continue;
      }
      if (size !== bytes) {
        problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: ${file} is ${size} bytes, ${bytes} recorded`, path: p });
        continue;
      }
      if (opts.deep) {
        const data = readIfPresent(store, file);
        if (data === null) {
          problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: ${file} is missing`, path: p });
        } else if (crc32(data) !== crc) {
          problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: ${file} fails its checksum`, path: p });
        } else if (file === r.parquet_file) {
          parquetData = data;
        } else if (file === r.index_file) {
          try {
            const f = SegmentFile.open(new MemorySource(data), p);
            const bad = f.verifyAll();
            for (const s of bad) problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: section ${s} fails its checksum`, path: p });
            // Checksums prove the bytes are those written, not that what was written reads: the sections'
            // structure is checked too (a bug, or a file forged with recomputed checksums).
            if (bad.length === 0) {
              for (const m of checkSectionStructure(f, r, schema, parquetData)) problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: `segment ${r.id}: ${m}`, path: p });
            }
            const idsSrc = f.source('ids');
            if (bad.length === 0 && idsSrc) {
              const ids = StringTable.open(idsSrc, p);
              if (ids.length !== r.doc_count) {
                problems.push({ severity: 'corrupt', code: 'CORRUPT_MANIFEST', message: `segment ${r.id}: ${ids.length} ids in ${file}, ${r.doc_count} recorded in the manifest`, path });
              } else {
                ids.loadAll();
                keysBySeg.set(r.id, Array.from({ length: ids.length }, (_, i) => ids.get(i)));
              }
            }
          } catch (e) {
            problems.push({ severity: 'corrupt', code: 'CORRUPT_SEGMENT', message: (e as Error).message, path: p });
          }
        }
      }
    }
    // Coverage counts live rows of segments (not those a pending write supersedes); segments index every
    // full-text field and vectors by construction.
    const live = r.doc_count - (deletedBySeg.get(r.id) ?? 0) - (shadowedBySeg.get(r.id) ?? 0);
    if (schema.vector_dim > 0) vectorIndexed += live;
    for (const f of ftFields) {
      const outdated = r.id < (Object.hasOwn(reindex, f) ? reindex[f]! : 0);
      if (outdated) textOutdated[f] = (textOutdated[f] ?? 0) + live;
      else textIndexed[f] = (textIndexed[f] ?? 0) + live;
    }
  }
  // The manifest's tables against each other (always: two counts) and, with --deep, against the ids
  // stored in the segments: every live row is named by exactly one id, every id names a live row
  // holding that id. A damaged id map would otherwise let the next upsert of an id make it live twice.
  if (liveDocs !== segmentDocs - deleted) {
    problems.push({
      severity: 'corrupt',
      code: 'CORRUPT_MANIFEST',
      message: `the id map lists ${liveDocs} documents, but the segments hold ${segmentDocs} rows of which ${deleted} are marked dead`,
      path,
    });
  }
  if (opts.deep) {
    problems.push(...checkIdMaps(db, rows, keysBySeg, path));
    // Both b-trees of the dead rows, in one read transaction (a writer may delete between two reads).
    try {
      db.transaction(() => checkDeletedCopy(db, path))();
    } catch (e) {
      if (!isElacsymError(e, 'CORRUPT_MANIFEST')) throw e;
      problems.push({ severity: 'corrupt', code: 'CORRUPT_MANIFEST', message: e.message, path });
    }
  }
  const orphans = findOrphans(dir, store, referenced);
  if (orphans.length > 0) problems.push({ severity: 'degraded', code: 'ORPHAN_FILES', message: `${orphans.length} orphan files in ${segDir} (the next writer removes them)`, path: segDir });
  const backlog = journal.totals.pending_documents;
  const maxBacklog = opts.maxBacklogDocs ?? 100_000;
  if (backlog > maxBacklog) {
    problems.push({ severity: 'degraded', code: 'JOURNAL_BACKLOG', message: `${backlog} documents pending in the journal > ${maxBacklog}; run \`elacsym wal replay ${name}\`` });
  }
  const docs = liveDocs - shadowedRows + journalOnly;
  const coverage: NamespaceHealth['index_coverage'] = {};
  const cov = (kind: string, indexed: number, outdated = 0) => {
    const total = indexed + journalOnly + outdated;
    coverage[kind] = { indexed, journal_only: journalOnly, ratio: total > 0 ? Math.round((indexed / total) * 1e4) / 1e4 : 1 };
    if (outdated > 0) {
      coverage[kind].outdated = outdated;
      problems.push({
        severity: 'degraded',
        code: 'TEXT_REINDEX_PENDING',
        message: `${outdated} documents of ${kind} were indexed with an older analyzer (queries re-analyze them); run \`elacsym compact ${name}\``,
      });
    } else if (total > 0 && indexed === 0) {
      problems.push({ severity: 'degraded', code: 'INDEX_EMPTY', message: `the ${kind} index covers none of the ${total} documents; run \`elacsym wal replay ${name}\`` });
    }
  };
  if (schema.vector_dim > 0) cov('vector', vectorIndexed);
  for (const f of ftFields) cov(`fulltext:${f}`, textIndexed[f] ?? 0, textOutdated[f] ?? 0);
  const lastMs = lastCompaction ? Number(lastCompaction) : null;
  const oldest = journal.totals.oldest_pending_at ? Date.parse(journal.totals.oldest_pending_at) : null;
  const status: HealthStatus = problems.some((p) => p.severity === 'corrupt') ? 'corrupt' : problems.length > 0 ? 'degraded' : 'healthy';
  return {
    namespace: name,
    status,
    // The namespace's own version (a namespace an older release wrote stays at its version until a writer
    // raises it), not the newest this build reads.
    format_version: Number(getMeta(db, 'format_version') ?? FORMAT_VERSION),
    documents: docs,
    segments: rows.length,
    segment_documents: segmentDocs,
    deleted_rows: deleted,
    journal: {
      pending_entries: journal.totals.pending_entries,
      pending_documents: backlog,
      pending_bytes: journal.totals.pending_bytes,
      oldest_pending_age_s: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
      quarantined: journal.totals.quarantined,
      corrupt: journal.totals.corrupt,
    },
    index_coverage: coverage,
    last_compaction_at: lastMs ? new Date(lastMs).toISOString() : null,
    last_compaction_age_s: lastMs ? Math.max(0, Math.round((now - lastMs) / 1000)) : null,
    orphan_files: orphans,
    disk_bytes: dirBytes(dir),
    manifest_bytes: journal.manifest_bytes,
    deep: Boolean(opts.deep),
    problems,
  };
}

/**
 * Every inconsistency between the id map (docs), the dead rows (deleted) and the segments: ids naming a
 * segment or row that does not exist, a dead row, a row another id names, or a row holding another id;
 * dead rows outside their segment; live rows no id names. Reported per kind, with a count and the first
 * example (a damaged table can hold millions).
 */
function checkIdMaps(db: Db, rows: readonly SegmentRow[], keysBySeg: ReadonlyMap<number, string[]>, path: string): Problem[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const kinds = new Map<string, { n: number; first: string }>();
  const note = (kind: string, example: string) => {
    const k = kinds.get(kind);
    if (k) k.n++;
    else kinds.set(kind, { n: 1, first: example });
  };
  const dead = new Map<number, Uint8Array>();
  for (const { segment_id, ord } of db.prepare('SELECT segment_id, ord FROM deleted').iterate() as Iterable<{ segment_id: number; ord: number }>) {
    const r = byId.get(segment_id);
    if (!r || !(ord >= 0 && ord < r.doc_count)) {
      note('dead rows outside their segment', `segment ${segment_id} row ${ord}`);
      continue;
    }
    let d = dead.get(segment_id);
    if (!d) dead.set(segment_id, (d = new Uint8Array(r.doc_count)));
    d[ord] = 1;
  }
  const named = new Map<number, Uint8Array>();
  for (const { id_key, segment_id, ord } of db.prepare('SELECT id_key, segment_id, ord FROM docs').iterate() as Iterable<{ id_key: string; segment_id: number; ord: number }>) {
    const r = byId.get(segment_id);
    if (!r) {
      note('ids naming a segment the manifest does not list', `id ${id_key} -> segment ${segment_id}`);
      continue;
    }
    if (!(ord >= 0 && ord < r.doc_count)) {
      note('ids naming a row outside their segment', `id ${id_key} -> segment ${segment_id} row ${ord}`);
      continue;
    }
    if (dead.get(segment_id)?.[ord]) note('ids naming a dead row', `id ${id_key} -> segment ${segment_id} row ${ord}`);
    let n = named.get(segment_id);
    if (!n) named.set(segment_id, (n = new Uint8Array(r.doc_count)));
    if (n[ord]) note('rows named by two ids', `segment ${segment_id} row ${ord} (one is ${id_key})`);
    n[ord] = 1;
    const keys = keysBySeg.get(segment_id);
    if (keys && keys[ord] !== id_key) note('ids naming a row that holds another id', `id ${id_key} -> segment ${segment_id} row ${ord}, which holds ${keys[ord]}`);
  }
  for (const r of rows) {
    const d = dead.get(r.id);
    const n = named.get(r.id);
    const keys = keysBySeg.get(r.id);
    for (let ord = 0; ord < r.doc_count; ord++) {
      if (!d?.[ord] && !n?.[ord]) note('live rows no id names (their id could become live twice)', `segment ${r.id} row ${ord}${keys ? ` holding ${keys[ord]}` : ''}`);
    }
  }
  return [...kinds].map(([kind, { n, first }]) => ({
    severity: 'corrupt' as const,
    code: 'CORRUPT_MANIFEST',
    message: `id map: ${n} ${kind} (first: ${first})`,
    path,
  }));
}

/**
 * Files in `segments/` that no manifest row references and that no running writer is still working on.
 * Only names elacsym writes count (a stray `lost+found` or a user's backup folder is not ours to judge).
 * While a writer holds the namespace's lock, unreferenced files are its work in progress (a flush's temp
 * files, a segment written but not yet committed, files a compaction retired and is about to remove):
 * counting them made `health` under cron report "degraded" now and then over a healthy namespace. When
 * the lock cannot be inspected (no /proc/locks), temp files of a live process are in progress.
 */
function findOrphans(dir: string, store: SegmentStore, referenced: ReadonlySet<string>): string[] {
  const names = store.list();
  const unreferenced = names.filter((f) => !referenced.has(f) && parseSegmentFileName(f) !== null);
  if (unreferenced.length === 0) return [];
  const held = writerLockHeld(join(dir, 'writer.lock'));
  if (held === true) return [];
  return unreferenced
    .filter((f) => {
      const pid = parseSegmentFileName(f)?.tmpPid ?? null;
      return held === false || pid === null || !pidAlive(pid);
    })
    .sort();
}

function corruptHealth(name: string, message: string, path: string): NamespaceHealth {
  return {
    namespace: name,
    status: 'corrupt',
    format_version: FORMAT_VERSION,
    documents: 0,
    segments: 0,
    segment_documents: 0,
    deleted_rows: 0,
    journal: { pending_entries: 0, pending_documents: 0, pending_bytes: 0, oldest_pending_age_s: null, quarantined: 0, corrupt: 0 },
    index_coverage: {},
    last_compaction_at: null,
    last_compaction_age_s: null,
    orphan_files: [],
    disk_bytes: 0,
    manifest_bytes: 0,
    deep: false,
    problems: [{ severity: 'corrupt', code: 'CORRUPT_MANIFEST', message, path }],
  };
}

const STATUS_VALUE: Record<HealthStatus, number> = { healthy: 0, degraded: 1, corrupt: 2 };

/**
 * The Prometheus text exposition (format 0.0.4) of health reports, one sample per namespace per metric. A namespace that could not be checked
 * (`unchecked`) still has its elacsym_health_status (its verdict as in healthVerdict: 2 for CORRUPT_*,
 * else 1) and an elacsym_health_check_errors sample naming the error code: dropping it would make an
 * alert on the status go quiet exactly when the namespace is unreadable.
 */
export function toPrometheus(all: readonly NamespaceHealth[], unchecked: readonly UncheckedNamespace[] = []): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, value: (h: NamespaceHealth) => number | null, extra?: (h: NamespaceHealth) => [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const h of all) {
      const ns = `namespace="${escapeLabel(h.namespace)}"`;
      if (extra) for (const [labels, v] of extra(h)) lines.push(`${name}{${ns},${labels}} ${fmt(v)}`);
      else {
        const v = value(h);
        if (v !== null) lines.push(`${name}{${ns}} ${fmt(v)}`);
      }
    }
  };
  metric('elacsym_health_status', 'Health verdict: 0 healthy, 1 degraded, 2 corrupt.', (h) => STATUS_VALUE[h.status]);
  for (const u of unchecked) lines.push(`elacsym_health_status{namespace="${escapeLabel(u.namespace)}"} ${STATUS_VALUE[healthVerdict([], [u])]}`);
  lines.push('# HELP elacsym_health_check_errors Namespaces that could not be checked, by error code (1 each).', '# TYPE elacsym_health_check_errors gauge');
  for (const u of unchecked) lines.push(`elacsym_health_check_errors{namespace="${escapeLabel(u.namespace)}",code="${escapeLabel(u.code)}"} 1`);
  metric('elacsym_documents', 'Live documents (flushed plus pending in the journal).', (h) => h.documents);
  metric('elacsym_segments', 'Segments in the manifest.', (h) => h.segments);
  metric('elacsym_deleted_rows', 'Deleted or superseded rows still stored in segments.', (h) => h.deleted_rows);
  metric('elacsym_journal_pending_entries', 'Journal entries not yet flushed into segments.', (h) => h.journal.pending_entries);
  metric('elacsym_journal_pending_documents', 'Documents in pending journal entries.', (h) => h.journal.pending_documents);
  metric('elacsym_journal_pending_bytes', 'Payload bytes of pending journal entries.', (h) => h.journal.pending_bytes);
  metric('elacsym_journal_oldest_pending_age_seconds', 'Age of the oldest pending journal entry.', (h) => h.journal.oldest_pending_age_s ?? 0);
  metric('elacsym_journal_quarantined_entries', 'Damaged journal entries set aside.', (h) => h.journal.quarantined);
  metric('elacsym_index_coverage_ratio', 'Fraction of documents covered by each index.', () => null, (h) =>
    Object.entries(h.index_coverage).map(([k, c]) => [`index="${escapeLabel(k)}"`, c.ratio]),
  );
  metric('elacsym_orphan_files', 'Files in segments/ that the manifest does not reference.', (h) => h.orphan_files.length);
  metric('elacsym_disk_bytes', 'Bytes on disk of the namespace directory.', (h) => h.disk_bytes);
  metric('elacsym_last_compaction_timestamp_seconds', 'Unix time of the last compaction (0 = never).', (h) => (h.last_compaction_at ? Date.parse(h.last_compaction_at) / 1000 : 0));
  metric('elacsym_problems', 'Problems found by the health check.', () => null, (h) => {
    const counts = { degraded: 0, corrupt: 0 };
    for (const p of h.problems) counts[p.severity]++;
    return [
      ['severity="degraded"', counts.degraded],
      ['severity="corrupt"', counts.corrupt],
    ];
  });
  return `${lines.join('\n')}\n`;
}

const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6));

/**
 * `health --deep`: the structure of an index file's sections whose checksums passed. Full-text indexes
 * decode completely (FieldIndexReader.verify), the vector locator and stored-text locators fit the segment,
 * the vector index's header and directory check out, and every stored-once text chunk decodes from the
 * (verified) Parquet file. Returns problem messages.
 */
function checkSectionStructure(f: SegmentFile, r: SegmentRow, schema: Schema, parquet: Uint8Array | null): string[] {
  const out: string[] = [];
  for (const name of f.sections.keys()) {
    try {
      if (name.startsWith('ft:')) {
        const reader = FieldIndexReader.open(f.source(name)!);
        if (reader.numDocs !== r.doc_count) out.push(`section ${name} indexes ${reader.numDocs} documents, the segment has ${r.doc_count}`);
        else reader.verify();
      } else if (name === 'ivf') {
        const v = openVectorIndex(f.source(name)!);
        if (v.dim !== schema.vector_dim) out.push(`section ivf indexes vectors of ${v.dim} dimensions, the namespace has ${schema.vector_dim}`);
        v.release();
      } else if (name === 'vecloc') {
        VectorLocator.open(f.readVerified(name)!, r.doc_count, schema.vector_dim);
      } else if (name.startsWith('txt:')) {
        const loc = TextLocator.open(f.readVerified(name)!, r.doc_count, `${f.path}: ${name}`);
        if (parquet === null) continue; // the Parquet file's own problem is reported
        for (let g = 0; g < loc.groupCount; g++) {
          const { offset, length, rows } = loc.group(g);
          if (offset + length > parquet.length) throw new ElacsymError('CORRUPT_SEGMENT', `section ${name}: row group ${g} lies past the end of the Parquet file`);
          decodeTextChunk(parquet.subarray(offset, offset + length), rows, loc.codec, `section ${name}, row group ${g}`);
        }
      }
    } catch (e) {
      const m = (e as Error).message;
      out.push(m.includes(name) ? m : `section ${name}: ${m}`);
    }
  }
  return out;
}
