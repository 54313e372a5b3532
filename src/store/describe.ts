/**
 * `describe`: what a namespace is (schema, vector settings) and what it holds (counts, segments, disk,
 * index coverage, last compaction), read from one manifest snapshot plus the health summary. Read-only:
 * it never takes the writer lock, so it answers while imports and compactions run.
 */
import { join } from 'node:path';
import type { AttrType, FullTextOptions, Metric, Schema } from '../model/types.js';
import { listSegments, readSchema, type SegmentRow } from '../storage/manifest.js';
import { asStorageError, openDb } from '../storage/sqlite.js';
import { checkNamespace, type NamespaceHealth } from './health.js';
import { Snapshot, type SnapshotOptions } from './snapshot.js';

export interface FieldDescription {
  name: string;
  type: AttrType;
  /** The full-text analyzer settings, or null when the attribute is not full-text indexed. */
  full_text: FullTextOptions | null;
}

export interface SegmentDescription {
  id: number;
  /** Rows in the segment, live or not. */
  rows: number;
  /** Rows not deleted or superseded. */
  live: number;
  /** Parquet plus index file, in bytes. */
  bytes: number;
  created_at: string;
}

export interface NamespaceDescription {
  namespace: string;
  status: NamespaceHealth['status'];
  format_version: number;
  vector: { dim: number; metric: Metric } | null;
  fields: FieldDescription[];
  schema: Schema;
  counts: {
    /** Live documents (an upper bound while journal entries may overwrite flushed ids). */
    documents: number;
    /** Rows in segments that are deleted or superseded (reclaimed by `compact`). */
    deleted_rows: number;
    pending_journal_entries: number;
    pending_journal_documents: number;
  };
  segments: SegmentDescription[];
  disk_bytes: number;
  index_coverage: NamespaceHealth['index_coverage'];
  last_compaction_at: string | null;
}

/**
 * Describes the namespace stored in `dir`.
 * @throws ElacsymError NAMESPACE_NOT_FOUND, CORRUPT_MANIFEST, FORMAT_TOO_NEW/OLD, or an environment error.
 */
export function describeNamespace(dir: string, name: string): NamespaceDescription {
  const health = checkNamespace(dir, name);
  const path = join(dir, 'manifest.db');
  let schema: Schema;
  let rows: SegmentRow[];
  let deadBySeg: Map<number, number>;
  try {
    const db = openDb(path, { readonly: true });
    try {
      ({ schema, rows, deadBySeg } = db.transaction(() => {
        const dead = new Map<number, number>();
        for (const r of db.prepare('SELECT segment_id AS s, COUNT(*) AS n FROM deleted GROUP BY segment_id').iterate() as Iterable<{ s: number; n: number }>) {
          dead.set(Number(r.s), Number(r.n));
        }
        return { schema: readSchema(db), rows: listSegments(db), deadBySeg: dead };
      })());
    } finally {
      db.close();
    }
  } catch (e) {
    throw asStorageError(e, path);
  }
  const fields: FieldDescription[] = Object.entries(schema.attributes)
    .map(([n, a]) => ({ name: n, type: a.type, full_text: a.full_text }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    namespace: name,
    status: health.status,
    format_version: health.format_version,
    vector: schema.vector_dim > 0 ? { dim: schema.vector_dim, metric: schema.vector_metric } : null,
    fields,
    schema,
    counts: {
      documents: health.documents,
      deleted_rows: health.deleted_rows,
      pending_journal_entries: health.journal.pending_entries,
      pending_journal_documents: health.journal.pending_documents,
    },
    segments: rows.map((r) => ({
      id: r.id,
      rows: r.doc_count,
      live: r.doc_count - (deadBySeg.get(r.id) ?? 0),
      bytes: r.parquet_bytes + r.index_bytes,
      created_at: new Date(r.created_at).toISOString(),
    })),
    disk_bytes: health.disk_bytes,
    index_coverage: health.index_coverage,
    last_compaction_at: health.last_compaction_at,
  };
}

/** The one-line summary `ls` and `GET /v1/namespaces` print for a namespace. */
export interface NamespaceSummary {
  namespace: string;
  documents: number;
  segments: number;
  pending_journal_entries: number;
  vector_dim: number;
  metric: Metric;
}

/**
 * Summarises the namespace stored in `dir` from one snapshot.
 * @throws ElacsymError as Snapshot.open (NAMESPACE_NOT_FOUND, CORRUPT_*, environment errors).
 */
export function summarizeNamespace(dir: string, name: string, opts: Pick<SnapshotOptions, 'segments'> = {}): NamespaceSummary {
  const snap = Snapshot.open(dir, opts);
  try {
    return {
      namespace: name,
      documents: snap.liveCount,
      segments: snap.segments.length,
      pending_journal_entries: snap.pendingEntries,
      vector_dim: snap.schema.vector_dim,
      metric: snap.schema.vector_metric,
    };
  } finally {
    snap.close();
  }
}
