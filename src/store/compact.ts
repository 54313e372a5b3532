/**
 * Compaction: merge segments, drop superseded and deleted rows, rebuild the merged segment's indexes,
 * swap in one manifest transaction.
 *
 * Policy (docs/reference.md "Maintenance"):
 * - `compact` (no flag) merges every segment into one (a major compaction), in groups of at most
 *   MAX_MERGE_DOCS live documents so that memory stays bounded on large namespaces.
 * - `compact --if-needed` acts only past a threshold, and then merges only what the tiered policy picks:
 *     * journal backlog >= BACKLOG_DOCS pending documents -> flush it;
 *     * a size tier (tier = floor(log4(live docs / 1000)), so 1k, 4k, 16k, ... docs) holding
 *       >= TIER_FANOUT segments -> merge that tier's segments;
 *     * a segment whose dead (deleted or superseded) rows are >= DEAD_RATIO of its rows -> rewrite it;
 *     * more than MAX_SEGMENTS segments in all -> merge everything.
 *   Otherwise it reports "nothing to do".
 *
 * Order, with what a crash right after each step leaves behind:
 *   1. write the merged segment's Parquet and index files   (orphans; gc removes them; old state intact)
 *   2. ONE transaction: add the new segment, remove the old rows, repoint id locations   (new state)
 *   3. unlink the retired files (readers that opened them keep reading through their descriptors; a
 *      reader that read the old manifest but had not opened the files yet retakes its snapshot)
 */
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { countDocuments } from './count.js';
import { ElacsymError, isElacsymError } from '../errors.js';
import { idKey } from '../model/document.js';
import type { Doc } from '../model/types.js';
import { checkDeletedCopy, getMeta, insertSegment, listSegments, type SegmentRow, setMeta } from '../storage/manifest.js';
import { failpoint, failpointPause } from '../util/failpoint.js';
import { type ReadableObject, type SegmentStore, segmentStoreOf } from '../storage/segment-store.js';
import { AttributeShapes } from '../index/filter/columns.js';
import { envError, toEnvError } from '../util/env-error.js';
import { writeSegment } from './segment-builder.js';
import { COLLECT_FROM_DOCS, fullCollection } from '../util/gc.js';
import { segmentDocsByRowGroup } from './segment-docs.js';
import type { VectorRead } from '../storage/parquet.js';
import type { DocSource } from '../storage/doc-source.js';
import { TextLocator } from '../storage/parquet-text.js';
import { SegmentFile } from '../storage/segment-file.js';
import { pruneTextReindex, staleTextSegments } from './alter.js';
import type { Writer } from './writer.js';

export const BACKLOG_DOCS = 10_000;
export const TIER_FANOUT = 4;
export const DEAD_RATIO = 0.2;
export const MAX_SEGMENTS = 16;
export const TIER_BASE_DOCS = 1000;
/**
 * Largest merged segment, in live documents: a merge holds what its segment's index is built from (the
 * group's vectors, columns and postings), though not its documents (MergeSource).
 */
export const MAX_MERGE_DOCS = 250_000;

/**
 * The bytes a segment's live documents take in a merge, estimated from its index file, scaled by the live
 * fraction. A format-2 index file holds each attribute value once (its typed column) plus postings and
 * vector codes, which is close to the journal payload bytes the flush bound (segmentBytes) counts. A
 * release-1 file held the attributes twice and the vectors twice, so this overestimates it: such merges
 * are cut smaller than needed, never larger.
 */
export function mergeBytesOf(s: SegStat): number {
  return s.row.doc_count > 0 ? Math.ceil((s.row.index_bytes + (s.textBytes ?? 0)) * (s.live / s.row.doc_count)) : 0;
}

/**
 * UTF-8 bytes of a segment's stored-once text (format 6, storage/parquet-text.ts: values kept only in the
 * Parquet file, compressed, so its index file no longer counts them), from its `txt:` sections' headers.
 * 0 for segments without such sections. Reads the index file's header and those small sections only.
 */
function storedTextBytes(store: SegmentStore, row: SegmentRow): number {
  const path = store.pathOf(row.index_file);
  const src = openListed(store, row, row.index_file);
  try {
    if (!SegmentFile.hasBlockChecksums(src)) return 0;
    const f = SegmentFile.open(src, path);
    let n = 0;
    for (const name of f.sections.keys()) {
      if (name.startsWith('txt:')) n += TextLocator.open(f.readVerified(name)!, row.doc_count, `${path}: ${name}`).valueBytes;
    }
    return n;
  } finally {
    src.close();
  }
}

/**
 * Split segments (in id order) into merge groups of at most MAX_MERGE_DOCS live documents and at most
 * `maxBytes` estimated bytes (a merge holds its vectors, typed columns and postings and serialises whole
 * columns, so it is bounded in bytes for the same reason a flush is). A group of one segment is kept only
 * if it has dead rows to drop (rewriting a clean segment alone gains nothing).
 */
export function capGroups(segs: readonly SegStat[], maxBytes = Number.POSITIVE_INFINITY, stale: ReadonlySet<number> = new Set()): number[][] {
  const groups: number[][] = [];
  let cur: SegStat[] = [];
  let docs = 0;
  let bytes = 0;
  const close = () => {
    // A lone segment is rewritten when it has dead rows, or an outdated full-text index (store/alter.ts).
    if (cur.length > 1 || (cur.length === 1 && (cur[0]!.dead > 0 || stale.has(cur[0]!.row.id)))) groups.push(cur.map((s) => s.row.id));
    cur = [];
    docs = 0;
    bytes = 0;
  };
  for (const s of segs) {
    const b = mergeBytesOf(s);
    if (cur.length > 0 && (docs + s.live > MAX_MERGE_DOCS || bytes + b > maxBytes)) close();
    cur.push(s);
    docs += s.live;
    bytes += b;
  }
  close();
  return groups;
}

export interface CompactionPlan {
  reason: string[];
  flushJournal: boolean;
  /** Groups of segment ids; each group becomes one new segment. */
  groups: number[][];
}

export interface CompactionReport {
  namespace: string;
  dry_run: boolean;
  nothing_to_do: boolean;
  reason: string[];
  segments_before: number;
  segments_after: number;
  documents_before: number;
  documents_after: number;
  bytes_before: number;
  bytes_after: number;
  journal_flushed_docs: number;
  duration_ms: number;
  plan: { merge: number[][] };
}

export interface SegStat {
  row: SegmentRow;
  dead: number;
  live: number;
  /** UTF-8 bytes of the segment's stored-once text (see storedTextBytes); absent = 0. */
  textBytes?: number;
}

function segStats(w: Writer): SegStat[] {
  const deadCounts = new Map<number, number>();
  for (const r of w.db.prepare('SELECT segment_id, COUNT(*) AS n FROM deleted GROUP BY segment_id').all() as { segment_id: number; n: number }[]) {
    deadCounts.set(r.segment_id, r.n);
  }
  const store = segmentStoreOf(w.dir);
  return listSegments(w.db).map((row) => {
    const dead = deadCounts.get(row.id) ?? 0;
    return { row, dead, live: row.doc_count - dead, textBytes: storedTextBytes(store, row) };
  });
}

/** Size tier of a segment with the smallest tier holding `baseDocs` live documents. */
export const tierOfBase = (liveDocs: number, baseDocs: number) => Math.max(0, Math.floor(Math.log(Math.max(1, liveDocs) / baseDocs) / Math.log(4)));
// One parameter on purpose: `sizes.map(tierOf)` must not pass the index as the base.
export const tierOf = (liveDocs: number) => tierOfBase(liveDocs, TIER_BASE_DOCS);

/** The --if-needed thresholds; configurable ([compaction] in elacsym.toml, see cli/config.ts). */
export interface CompactionThresholds {
  /** More segments than this: merge everything (the ancestor's `max_segments`). */
  maxSegments: number;
  /** Live documents of the smallest size tier (the ancestor's `min_segment_size`). */
  tierBaseDocs: number;
  deadRatio: number;
}

export const DEFAULT_THRESHOLDS: CompactionThresholds = { maxSegments: MAX_SEGMENTS, tierBaseDocs: TIER_BASE_DOCS, deadRatio: DEAD_RATIO };

/**
 * `stale`: segments with an outdated full-text index (store/alter.ts) or in an older storage layout
 * (staleSegments), rewritten in either mode, alone if need be.
 */
export function planCompaction(
  stats: readonly SegStat[],
  pendingDocs: number,
  ifNeeded: boolean,
  maxBytes = Number.POSITIVE_INFINITY,
  thresholds: CompactionThresholds = DEFAULT_THRESHOLDS,
  stale: ReadonlySet<number> = new Set(),
): CompactionPlan {
  const reason: string[] = [];
  const cap = (segs: readonly SegStat[]) => capGroups(segs, maxBytes, stale);
  if (!ifNeeded) {
    const groups = cap(stats);
    if (stale.size > 0) reason.push(`${stale.size} segments with an outdated full-text index or an older storage layout`);
    if (pendingDocs > 0) reason.push(`journal backlog of ${pendingDocs} documents`);
    if (groups.length > 0) reason.push(`major compaction of ${stats.length} segments`);
    return { reason, flushJournal: pendingDocs > 0, groups };
  }
  const flushJournal = pendingDocs >= BACKLOG_DOCS;
  if (flushJournal) reason.push(`journal backlog ${pendingDocs} >= ${BACKLOG_DOCS} documents`);
  if (stats.length > thresholds.maxSegments) {
    reason.push(`${stats.length} segments > ${thresholds.maxSegments}`);
    return { reason, flushJournal, groups: cap(stats) };
  }
  const picked = new Set<number>();
  const groups: number[][] = [];
  const tiers = new Map<number, SegStat[]>();
  for (const s of stats) {
    const t = tierOfBase(s.live, thresholds.tierBaseDocs);
    tiers.set(t, [...(tiers.get(t) ?? []), s]);
  }
  for (const [t, segs] of [...tiers].sort((a, b) => a[0] - b[0])) {
    const merges = segs.length >= TIER_FANOUT ? cap(segs) : [];
    if (merges.length > 0) {
      reason.push(`tier ${t} holds ${segs.length} segments >= ${TIER_FANOUT}`);
      groups.push(...merges);
      for (const g of merges) for (const id of g) picked.add(id);
    }
  }
  for (const s of stats) {
    if (picked.has(s.row.id) || s.row.doc_count === 0) continue;
    const ratio = s.dead / s.row.doc_count;
    if (ratio >= thresholds.deadRatio) {
      reason.push(`segment ${s.row.id} is ${(ratio * 100).toFixed(0)}% dead rows >= ${Math.round(thresholds.deadRatio * 100)}%`);
      groups.push([s.row.id]);
      picked.add(s.row.id);
    }
  }
  // Outdated indexes are always worth rewriting: until then every query re-analyzes an outdated full-text
  // field, and a segment in the older storage layout keeps its larger files.
  for (const s of stats) {
    if (picked.has(s.row.id) || !stale.has(s.row.id)) continue;
    reason.push(`segment ${s.row.id} has an outdated full-text index or an older storage layout`);
    groups.push([s.row.id]);
  }
  return { reason, flushJournal, groups };
}

/**
 * Segments to rewrite whatever the policy says: an outdated full-text index (store/alter.ts), or an index
 * file in the layout before storage format 2 (a `docs` or `vectors` section, or index file version 1):
 * `compact` is how old data is converted, one segment at a time, crash-safely like any compaction. Reads
 * only each index file's header.
 */
export function staleSegments(w: Writer): Set<number> {
  const out = staleTextSegments(w);
  const store = segmentStoreOf(w.dir);
  for (const r of listSegments(w.db)) {
    if (out.has(r.id)) continue;
    let src;
    try {
      src = store.open(r.index_file);
    } catch {
      continue; // a missing file is reported by the merge itself (CORRUPT_SEGMENT)
    }
    try {
      if (!SegmentFile.hasBlockChecksums(src)) out.add(r.id);
      else {
        const f = SegmentFile.open(src, store.pathOf(r.index_file), { verified: false });
        if (f.has('docs') || f.has('vectors')) out.add(r.id);
      }
    } catch {
      out.add(r.id); // a damaged header: the merge reads the segment and reports it
    } finally {
      src.close();
    }
  }
  return out;
}

/** Opens a file the manifest lists for the segment `row`. */
function openListed(store: SegmentStore, row: SegmentRow, name: string): ReadableObject {
  try {
    return store.open(name);
  } catch (e) {
    // Under the writer lock nothing retires a segment behind our back: a listed file that is not there
    // is damage, not a bug.
    const path = store.pathOf(name);
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ElacsymError('CORRUPT_SEGMENT', `${path}: segment ${row.id} is listed in the manifest but its file is missing`, { cause: e, details: { path } });
    }
    throw toEnvError(e, path, 'reading');
  }
}

/**
 * Live documents of a segment in ordinal order, one decoded row group at a time (so that a row group's
 * transient copies are dropped before the next is read), each with the ordinal it has there.
 */
async function* liveRowGroups(dir: string, row: SegmentRow, dead: ReadonlySet<number>, vectors: VectorRead, checked: { blocks?: Uint32Array }): AsyncGenerator<{ docs: Doc[]; ords: number[] }> {
  const store = segmentStoreOf(dir);
  const path = store.pathOf(row.parquet_file);
  const src = openListed(store, row, row.parquet_file);
  // One row group decoded at a time (the file read by range, never held whole); only its live documents
  // are kept, with their attributes in the order they were written (the index file's `attrs`): the merged
  // segment records that order again.
  let ord = 0;
  let index: ReturnType<typeof openIndexForKeys> = null;
  try {
    index = openIndexForKeys(store, row);
    for await (const part of segmentDocsByRowGroup(path, src, row, index?.keysOf ?? null, { vectors, checked })) {
      const docs: Doc[] = [];
      const ords: number[] = [];
      for (const doc of part) {
        if (!dead.has(ord)) {
          docs.push(doc);
          ords.push(ord);
        }
        ord++;
      }
      if (docs.length > 0) yield { docs, ords };
    }
  } finally {
    index?.close();
    src.close();
  }
}

/**
 * A merge group's live documents as the segment build reads them (doc-source.ts): each pass decodes the
 * input segments again, row group by row group, so the group's documents and vectors are never held at
 * once (issue 11: a group of 213k documents held ~125 MB of them as objects, then ~110 MB of vectors in
 * one arena for the IVF build, which now codes them row group by row group as the writing pass goes). The
 * first pass records where each merged document comes from (`fromSegment`, `fromOrd`, its id key: what
 * the manifest commit moves); a later one must find the same documents in the same order (CORRUPT_SEGMENT
 * otherwise: an input changed under the merge).
 */
class MergeSource implements DocSource {
  readonly capacity: number;
  readonly fromSegment: Uint32Array;
  readonly fromOrd: Uint32Array;
  readonly keys: string[] = [];
  private count = -1;
  /** Each input's block checksums, from the first pass's read of the whole file (segmentDocsByRowGroup). */
  private readonly checked = new Map<number, { blocks?: Uint32Array }>();
  constructor(
    private readonly w: Writer,
    private readonly rows: readonly SegmentRow[],
    private readonly dead: ReadonlyMap<number, ReadonlySet<number>>,
  ) {
    this.capacity = rows.reduce((a, r) => a + r.doc_count, 0);
    this.fromSegment = new Uint32Array(this.capacity);
    this.fromOrd = new Uint32Array(this.capacity);
  }

  /** Live documents of the group (known after the first pass). */
  get size(): number {
    return Math.max(0, this.count);
  }

  async *chunks(): AsyncGenerator<Doc[]> {
    const first = this.count < 0;
    const { fromSegment, fromOrd, keys, capacity } = this;
    let k = 0;
    let decoded = 0;
    for (const r of this.rows) {
      const path = segmentStoreOf(this.w.dir).pathOf(r.parquet_file);
      const dead = this.dead.get(r.id) ?? new Set<number>();
      const vectors: VectorRead = this.w.schema.vector_dim === 0 ? 'skip' : liveVectorsInBlocks(dead);
      // The first pass checks each input's CRC-32 and keeps its block checksums; the second verifies
      // the ranges it reads against them (4 bytes per 4 KiB: ~0.7 MB for the 1M namespace).
      let checked = this.checked.get(r.id);
      if (!checked) this.checked.set(r.id, (checked = {}));
      for await (const { docs, ords } of liveRowGroups(this.w.dir, r, dead, vectors, checked)) {
        for (let j = 0; j < docs.length; j++) {
          const doc = docs[j]!;
          if (first) {
            if (k >= capacity) throw new ElacsymError('CORRUPT_SEGMENT', `${path}: more rows than the manifest records`, { details: { path } });
            fromSegment[k] = r.id;
            fromOrd[k] = ords[j]!;
            keys.push(idKey(doc.id));
          } else if (k >= this.count || fromSegment[k] !== r.id || fromOrd[k] !== ords[j] || keys[k] !== idKey(doc.id)) {
            throw new ElacsymError('CORRUPT_SEGMENT', `${path}: row ${ords[j]} read differently by two passes of the merge`, { details: { path } });
          }
          k++;
        }
        yield docs;
        // The decoding's garbage (Arrow tables, the documents passed on and their vectors) goes every few
        // row groups: left to V8, it grew to ~2.5x the build's live heap before each collection.
        if (this.capacity >= COLLECT_FROM_DOCS && ++decoded % COLLECT_EVERY_ROW_GROUPS === 0) fullCollection();
      }
    }
    if (first) this.count = k;
    else if (k !== this.count) throw new ElacsymError('CORRUPT_SEGMENT', `the merge's inputs gave ${k} live documents, ${this.count} before`);
  }
}

/** Bytes of a block of decoded vectors (liveVectorsInBlocks): 4,096 rows of 128 dimensions. */
const VECTOR_BLOCK_BYTES = 2 * 1024 * 1024;

/**
 * How a merge pass takes the decoded vectors: each live row's vector copied into the next row of a block
 * shared by the rows decoded after it (a view of that row), dead rows' not at all. One allocation per
 * block, where an array per vector was ~2,300 small allocations per row group, whose memory the
 * allocator's heap kept (the main heap grew to ~150 MB in a 1M compaction, docs/performance.md, session
 * 19). A block lives as long as a document of it is referenced (one or two row groups).
 */
function liveVectorsInBlocks(dead: ReadonlySet<number>): VectorRead {
  let block = new Float32Array(0);
  let used = 0;
  return (ord, values, start, len) => {
    if (dead.has(ord)) return null;
    if (used + len > block.length) {
      block = new Float32Array(Math.max(len, Math.floor(VECTOR_BLOCK_BYTES / 4 / Math.max(1, len)) * len));
      used = 0;
    }
    const row = block.subarray(used, used + len);
    row.set(values.subarray(start, start + len));
    used += len;
    return row;
  };
}

/** A merge pass collects garbage after this many decoded row groups (see MergeSource.chunks). */
const COLLECT_EVERY_ROW_GROUPS = 12;


/**
 * The input segment's `attrs` section (each document's keys in written order), read by range and verified
 * by block; null for files older than it (their Parquet file keeps the order itself).
 */
function openIndexForKeys(store: SegmentStore, row: SegmentRow): { keysOf: (ord: number) => readonly string[]; close: () => void } | null {
  const path = store.pathOf(row.index_file);
  const src = openListed(store, row, row.index_file);
  try {
    if (!SegmentFile.hasBlockChecksums(src)) {
      src.close();
      return null;
    }
    const f = SegmentFile.open(src, path, { verified: false });
    const attrs = f.has('docs') ? null : f.source('attrs');
    if (!attrs) {
      src.close();
      return null;
    }
    const shapes = new AttributeShapes(attrs, path);
    if (shapes.length !== row.doc_count) throw new ElacsymError('CORRUPT_SEGMENT', `${path}: ${shapes.length} attribute rows, ${row.doc_count} recorded in the manifest`, { details: { path } });
    return { keysOf: (ord) => shapes.keysOf(ord), close: () => src.close() };
  } catch (e) {
    src.close();
    throw e;
  }
}

/**
 * Live documents of the namespace, as `count` gives them. With pending journal entries the segments' live
 * rows plus the pending documents would count a re-import of an existing id twice (a tester's 100
 * documents reported as 130), so a small journal (up to BACKLOG_DOCS documents, below which compaction may
 * leave it pending) is counted through a snapshot, which applies it. A larger one is flushed by the
 * compaction, whose exact count after it then stands for both (see compactNamespace); the sum is only the
 * estimate of a dry run, or what is left when the snapshot cannot be read.
 */
function liveDocuments(w: Writer, segs: readonly SegStat[]): number {
  const inSegments = segs.reduce((a, s) => a + s.live, 0);
  const pending = w.pendingDocCount;
  if (pending === 0) return inSegments;
  if (pending <= BACKLOG_DOCS) {
    try {
      return countDocuments(w.dir, null).count;
    } catch {
      // the estimate below
    }
  }
  return inSegments + pending;
}

export async function compactNamespace(
  w: Writer,
  name: string,
  opts: { ifNeeded?: boolean; dryRun?: boolean; clock?: () => number; thresholds?: CompactionThresholds } = {},
): Promise<CompactionReport> {
  const clock = opts.clock ?? Date.now;
  const t0 = clock();
  // A merge drops the rows `deleted` names for good: a damaged row there would drop a live document, so
  // the table is checked against its copy first (storage/manifest.ts, deleted_copy).
  checkDeletedCopy(w.db, join(w.dir, 'manifest.db'));
  const before = segStats(w);
  const bytes = (rows: readonly SegmentRow[]) => rows.reduce((a, r) => a + r.parquet_bytes + r.index_bytes, 0);
  let plan = planCompaction(before, w.pendingDocCount, opts.ifNeeded ?? false, w.segmentBytes, opts.thresholds, staleSegments(w));
  const report: CompactionReport = {
    namespace: name,
    dry_run: opts.dryRun ?? false,
    nothing_to_do: !plan.flushJournal && plan.groups.length === 0,
    reason: plan.reason,
    segments_before: before.length,
    segments_after: before.length,
    documents_before: liveDocuments(w, before),
    documents_after: 0,
    bytes_before: bytes(before.map((s) => s.row)),
    bytes_after: 0,
    journal_flushed_docs: 0,
    duration_ms: 0,
    plan: { merge: plan.groups },
  };
  if (report.nothing_to_do || report.dry_run) {
    if (!report.dry_run) {
      pruneTextReindex(w); // an entry left by a crash between a compaction's swap and its pruning
      w.collectGarbage(); // orphans of crashed writers go even when nothing else does
    }
    report.documents_after = report.documents_before;
    report.bytes_after = report.bytes_before;
    report.duration_ms = clock() - t0;
    return report;
  }
  const signal = w.signal;
  const interrupted = (merged: number) => {
    w.collectGarbage(); // the files of an uncommitted merge are orphans now
    return new ElacsymError('INTERRUPTED', `compaction interrupted after ${merged} of ${plan.groups.length} merges; the namespace is consistent`, {
      hint: `rerun \`elacsym compact ${name}\` to finish`,
      details: { merges_done: merged },
    });
  };
  if (plan.flushJournal || w.pendingDocCount > 0) {
    try {
      report.journal_flushed_docs = (await w.flush()).docs;
      // The flush made new segments: a major compaction plans again so that they are merged too (otherwise
      // `compact` with a journal backlog left the backlog's segment beside the merged one).
      if (!opts.ifNeeded) {
        plan = { ...plan, groups: planCompaction(segStats(w), 0, false, w.segmentBytes, opts.thresholds, staleSegments(w)).groups };
        report.plan.merge = plan.groups;
      }
    } catch (e) {
      if (!isElacsymError(e, 'NO_SPACE')) throw e;
      throw new ElacsymError('NO_SPACE', `${e.message}; compaction of ${name} stopped before merging: the journal backlog stays in the journal (durable, queryable)`, {
        cause: e,
        details: e.details,
        hint: `free disk space, then rerun \`elacsym compact ${name}\``,
      });
    }
  }

  const rowsById = new Map(listSegments(w.db).map((r) => [r.id, r]));
  const needBytes = plan.groups.flat().reduce((a, id) => a + (rowsById.get(id)?.parquet_bytes ?? 0) + (rowsById.get(id)?.index_bytes ?? 0), 0);
  preflightSpace(w.dir, needBytes);

  let committedGroups = 0;
  for (const group of plan.groups) {
    if (signal?.aborted) throw interrupted(committedGroups);
    const rows = group.map((id) => rowsById.get(id)).filter((r): r is SegmentRow => r !== undefined);
    if (rows.length === 0) continue;
    const deadStmt = w.db.prepare('SELECT ord FROM deleted WHERE segment_id = ?').pluck();
    const dead = new Map(rows.map((r) => [r.id, new Set(deadStmt.all(r.id) as number[])]));
    const source = new MergeSource(w, rows, dead);
    // Every row of the group deleted: nothing to write, the inputs just go (the commit below still checks
    // that no id names a row of theirs).
    const anyLive = rows.some((r) => r.doc_count > dead.get(r.id)!.size);
    const segId = Number(getMeta(w.db, 'next_segment_id') ?? '1');
    try {
      let files: Awaited<ReturnType<typeof writeSegment>> | null = null;
      try {
        if (anyLive) files = await writeSegment(segmentStoreOf(w.dir), segId, source, w.schema, { signal });
        // (Fewer live rows than the manifest says: its files are orphans, collected after the commit.)
        if (files?.docCount === 0) files = null;
      } catch (e) {
        if (signal?.aborted) throw interrupted(committedGroups);
        throw e;
      }
      failpoint('compact:after-segment-write');
      await failpointPause('compact:before-manifest-commit', signal);
      // (one turn of the event loop: a signal that came while the index file was written is seen now)
      if (signal && !signal.aborted) await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw interrupted(committedGroups);
      const maxSeq = Math.max(...rows.map((r) => r.max_seq));
      const level = Math.max(...rows.map((r) => r.level)) + 1;
      // Moves an id only from the row it is read from: a damaged id map (an id naming another row, a live
      // row no id names) stops the compaction instead of turning into an id live twice or a lost document.
      const putLoc = w.db.prepare('UPDATE docs SET segment_id = ?, ord = ? WHERE id_key = ? AND segment_id = ? AND ord = ?');
      const stillNamed = w.db.prepare(`SELECT COUNT(*) FROM docs WHERE segment_id IN (${rows.map(() => '?').join(',')})`).pluck();
      const damaged = (why: string) =>
        new ElacsymError('CORRUPT_MANIFEST', `${join(w.dir, 'manifest.db')}: the id map does not match the segments (${why}); nothing was compacted`, {
          hint: `run \`elacsym health ${name} --deep\``,
        });
      w.db.transaction(() => {
        if (files) insertSegment(w.db, files, level, maxSeq, clock());
        for (const r of rows) {
          w.db.prepare('DELETE FROM segments WHERE id = ?').run(r.id);
          w.db.prepare('DELETE FROM deleted WHERE segment_id = ?').run(r.id);
        }
        // Every live row of the merged segments moves; the docs table only ever points at live rows.
        const { fromSegment, fromOrd, keys } = source;
        for (let ord = 0; ord < source.size; ord++) {
          const segment = fromSegment[ord]!;
          const at = fromOrd[ord]!;
          if (putLoc.run(segId, ord, keys[ord]!, segment, at).changes !== 1) throw damaged(`live row ${at} of segment ${segment} holds id ${keys[ord]!}, but the id map does not point that id at it`);
        }
        const left = Number(stillNamed.get(...rows.map((r) => r.id)));
        if (left > 0) throw damaged(`${left} ids name rows of the merged segments that are dead or hold other ids`);
        setMeta(w.db, 'last_compaction_at', String(clock()));
      })();
    } catch (e) {
      const env = isElacsymError(e, 'NO_SPACE') || isElacsymError(e, 'PERMISSION_DENIED') ? e : envError(e, join(w.dir, 'segments'), 'writing the merged segment in');
      if (!env) throw e;
      // This group changed nothing (its commit is one transaction); collect its partial files now so the
      // space is back at once, and say what did commit.
      w.collectGarbage();
      throw new ElacsymError(
        env.code,
        `${env.message}; compaction of ${name} stopped: ${committedGroups} of ${plan.groups.length} merges committed, the rest left as they were (no document lost)`,
        { cause: e, details: env.details, hint: env.code === 'NO_SPACE' ? `free disk space, then rerun \`elacsym compact ${name}\`` : env.hint },
      );
    }
    committedGroups++;
    failpoint('compact:after-manifest-commit');
    // Step 3 for this group: its retired files go now, not after the last group (the disk then holds one
    // group's inputs and output at a time beside the rest, not every group's). Files only: the manifest's
    // vacuum and checkpoint run once, at the end.
    w.collectGarbage({ filesOnly: true });
  }
  // After the swaps: segments rewritten above hold current indexes, so their reindex entries can go.
  pruneTextReindex(w);
  w.collectGarbage();
  failpoint('compact:after-gc');
  const after = segStats(w);
  report.segments_after = after.length;
  report.documents_after = liveDocuments(w, after);
  // A compaction never changes which documents are live (the writer lock keeps every other writer out):
  // the exact count after it is the count before it too.
  report.documents_before = report.documents_after;
  report.bytes_after = bytes(after.map((s) => s.row));
  report.duration_ms = clock() - t0;
  return report;
}

/** Refuse to start when the file system cannot hold the merged output (estimated as the inputs' size). */
function preflightSpace(dir: string, needBytes: number): void {
  try {
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    if (free < needBytes * 1.1 + 16 * 1024 * 1024) {
      throw new ElacsymError('NO_SPACE', `compaction needs about ${Math.ceil(needBytes / 1048576)} MiB free in ${dir}, ${Math.floor(free / 1048576)} MiB available; nothing was changed`, { details: { path: dir } });
    }
  } catch (e) {
    if (e instanceof ElacsymError) throw e;
  }
}
