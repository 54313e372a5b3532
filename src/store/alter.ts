/**
 * Changing a field's full-text settings after `init` (or turning full-text on for an existing string
 * attribute, or off). The change is one manifest transaction under the writer lock:
 *   - the schema gets the new options;
 *   - `text_reindex_below[field]` = the next segment id: every segment that exists now holds an index of
 *     the field built with the old analyzer (or none). Readers analyze those segments' stored values with
 *     the new analyzer at query time (exact answers at once, slower queries), and compaction rewrites them
 *     (`compact` merges them; `compact --if-needed` rewrites each such segment), after which the entry goes.
 *     Segments written later (flush, compaction) are built with the new schema, under the same lock, so
 *     they have higher ids by construction. The pending journal is always analyzed with the current schema.
 *   - the manifest's format_version goes to 3 when the schema or the meta now hold something an elacsym
 *     of format 2 would misread (see FORMAT_VERSION).
 * A change of `positions` alone (see FullTextOptions) changes no token: readers keep using every segment
 * as it is; `positions_rewrite_below[field]` = the next segment id makes compaction rewrite the older
 * segments with the new setting (as `text_reindex_below` does, without the re-analysis by readers).
 * A crash before the commit leaves the old settings; after it, the new ones: there is nothing in between.
 */
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';
import { RELEASE1_LANGUAGES, validateFullTextOptions } from '../index/fulltext/analyzer.js';
import { attributeOf, dataRecord, parseSchema } from '../model/schema.js';
import type { FullTextOptions, Schema } from '../model/types.js';
import { getMeta, listSegments, POSITIONS_FORMAT_VERSION, POSITIONS_REWRITE_KEY, readTextReindex, schemaStatesPositions, SEGMENT_FORMAT_VERSION, setMeta, TEXT_REINDEX_KEY } from '../storage/manifest.js';
import { envError } from '../util/env-error.js';
import type { Writer } from './writer.js';

/** The manifest format a namespace with this schema needs (see FORMAT_VERSION in storage/manifest.ts). */
export function manifestVersionFor(schema: Schema, reindexPending: boolean): number {
  // An elacsym of format 4 does not know the option (and could not read a segment built without them).
  const version = schemaStatesPositions(schema) ? POSITIONS_FORMAT_VERSION : SEGMENT_FORMAT_VERSION;
  if (reindexPending) return Math.max(3, version);
  for (const a of Object.values(schema.attributes)) {
    const ft = a.full_text;
    if (!ft) continue;
    if (ft.ascii_folding === true || ft.stopwords !== undefined || ft.tokenizer === 'unicode' || !RELEASE1_LANGUAGES.includes(ft.language)) return Math.max(3, version);
  }
  return version;
}

/**
 * A schema for a new namespace or a changed field: every full-text field states `positions`, "auto" unless
 * the user chose (an absent key means true, the behaviour of schemas written before the option).
 */
export function withPositionsResolved(schema: Schema): Schema {
  const attributes = dataRecord<Schema['attributes'][string]>();
  for (const [name, a] of Object.entries(schema.attributes)) {
    attributes[name] = a.full_text && a.full_text.positions === undefined ? { ...a, full_text: { ...a.full_text, positions: 'auto' } } : a;
  }
  return { ...schema, attributes };
}

/** The segments (and their live documents) the next compaction rewrites for `field`: a pending re-index included. */
function toRewrite(w: Writer, field: string): Pick<AlterReport, 'segments_to_reindex' | 'documents_to_reindex' | 'reanalyzed_by_queries'> {
  const reindexBelow = readTextReindex(w.db)[field] ?? 0;
  const below = Math.max(reindexBelow, readTextReindex(w.db, POSITIONS_REWRITE_KEY)[field] ?? 0);
  const out = { segments_to_reindex: 0, documents_to_reindex: 0, reanalyzed_by_queries: false };
  const deadBy = w.db.prepare('SELECT COUNT(*) AS n FROM deleted WHERE segment_id = ?');
  for (const r of listSegments(w.db)) {
    if (r.id >= below) continue;
    out.segments_to_reindex++;
    out.documents_to_reindex += r.doc_count - Number((deadBy.get(r.id) as { n: number }).n);
    if (r.id < reindexBelow) out.reanalyzed_by_queries = true;
  }
  return out;
}

/** Options as JSON with sorted keys: the same settings written in another order are the same settings. */
function canonical(o: object | null): string {
  return o === null ? 'null' : JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** Whether two full-text settings analyze text alike (they may differ in `positions`, which is storage only). */
function sameAnalysis(a: FullTextOptions | null, b: FullTextOptions | null): boolean {
  if (a === null || b === null) return a === b;
  const { positions: _a, ...x } = a;
  const { positions: _b, ...y } = b;
  return canonical(x) === canonical(y);
}

/** A meta map of field -> segment id (TEXT_REINDEX_KEY, POSITIONS_REWRITE_KEY) written back, or removed when empty. */
function writeBelow(w: Writer, key: string, below: Record<string, number>): void {
  if (Object.keys(below).length > 0) setMeta(w.db, key, JSON.stringify(below));
  else w.db.prepare('DELETE FROM meta WHERE key = ?').run(key);
}

export interface AlterReport {
  namespace: string;
  field: string;
  full_text: FullTextOptions | null;
  changed: boolean;
  /** Segments whose index of the field is now outdated (rewritten by the next `compact`). */
  segments_to_reindex: number;
  /** Live documents in those segments. */
  documents_to_reindex: number;
  /**
   * Whether queries re-analyze those segments' values meanwhile (other tokens: a changed analyzer). False
   * when only `positions` differs: queries use the segments as they are.
   */
  reanalyzed_by_queries: boolean;
}

/**
 * Sets the full-text options of `field` (`value` as in a schema file: true, false or an options object).
 * @example alterFullText(writer, 'docs', 'title', { language: 'french', ascii_folding: true })
 */
export function alterFullText(w: Writer, name: string, field: string, value: unknown): AlterReport {
  const cur = attributeOf(w.schema, field);
  if (cur === undefined) {
    throw new ElacsymError('INVALID_SCHEMA', `namespace ${name} has no attribute ${JSON.stringify(field)}`, { details: { field } });
  }
  const attrs = dataRecord<unknown>();
  attrs[field] = { type: cur.type, full_text: value };
  const parsed = parseSchema({ attributes: attrs }, 'full_text', true);
  const parsedFt = attributeOf(parsed, field)?.full_text ?? null;
  if (parsedFt) validateFullTextOptions(parsedFt);
  const ft: FullTextOptions | null = parsedFt && parsedFt.positions === undefined ? { ...parsedFt, positions: 'auto' } : parsedFt;
  const report: AlterReport = { namespace: name, field, full_text: ft, changed: false, segments_to_reindex: 0, documents_to_reindex: 0, reanalyzed_by_queries: false };
  if (canonical(ft) === canonical(cur.full_text)) return { ...report, ...toRewrite(w, field) };

  const attributes = Object.assign(dataRecord<Schema['attributes'][string]>(), w.schema.attributes);
  attributes[field] = { type: cur.type, full_text: ft };
  const next: Schema = { ...w.schema, attributes };
  try {
    commitAlter(w, field, ft, cur.full_text, next, report);
  } catch (e) {
    // SQLite's "database or disk is full" names no file: the manifest is what was being written.
    throw envError(e, join(w.dir, 'manifest.db'), 'writing the schema change to') ?? e;
  }
  w.schema = next;
  report.changed = true;
  return report;
}

/** alterFullText's one manifest transaction: the schema, the reindex/rewrite marks, the format version. */
function commitAlter(w: Writer, field: string, ft: FullTextOptions | null, was: FullTextOptions | null, next: Schema, report: AlterReport): void {
  w.db.transaction(() => {
    const reindex = readTextReindex(w.db);
    const rewrite = readTextReindex(w.db, POSITIONS_REWRITE_KEY);
    const rows = listSegments(w.db);
    const nextId = Number(getMeta(w.db, 'next_segment_id') ?? '1');
    if (!ft || rows.length === 0) {
      delete reindex[field];
      delete rewrite[field];
    } else if (!sameAnalysis(ft, was)) {
      // Other tokens: every segment's index of the field is outdated (re-analyzed by readers meanwhile).
      reindex[field] = nextId;
      delete rewrite[field];
    } else {
      // A change of `positions` alone changes no token: readers use the segments as they are (phrases are
      // exact either way); compaction rewrites them with the new setting, as later segments are written.
      rewrite[field] = nextId;
    }
    setMeta(w.db, 'schema', JSON.stringify(next));
    const pending = Object.keys(reindex).length > 0;
    writeBelow(w, TEXT_REINDEX_KEY, reindex);
    writeBelow(w, POSITIONS_REWRITE_KEY, rewrite);
    Object.assign(report, toRewrite(w, field));
    const version = Math.max(Number(getMeta(w.db, 'format_version') ?? String(SEGMENT_FORMAT_VERSION)), manifestVersionFor(next, pending));
    setMeta(w.db, 'format_version', String(version));
  })();
}

/**
 * Drops the reindex entries no segment needs any more (called by compaction after its swaps). Returns
 * the ids of segments that still hold an outdated index of some field.
 */
export function pruneTextReindex(w: Writer): void {
  w.db.transaction(() => {
    const ids = listSegments(w.db).map((r) => r.id);
    for (const key of [TEXT_REINDEX_KEY, POSITIONS_REWRITE_KEY]) {
      const entries = readTextReindex(w.db, key);
      let changed = false;
      for (const [f, below] of Object.entries(entries)) {
        if (!ids.some((id) => id < below)) {
          delete entries[f];
          changed = true;
        }
      }
      if (changed) writeBelow(w, key, entries);
    }
  })();
}

/**
 * Ids of segments holding an outdated full-text index of at least one field: other tokens (alter of the
 * analyzer) or another positions setting (alter of positions alone).
 */
export function staleTextSegments(w: Writer): Set<number> {
  const out = new Set<number>();
  const below = [...Object.values(readTextReindex(w.db)), ...Object.values(readTextReindex(w.db, POSITIONS_REWRITE_KEY))];
  if (below.length === 0) return out;
  const max = Math.max(...below);
  for (const r of listSegments(w.db)) if (r.id < max && below.some((b) => r.id < b)) out.add(r.id);
  return out;
}
