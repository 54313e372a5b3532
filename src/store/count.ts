/**
 * `count`: the number of live documents, optionally matching a filter, from one snapshot. The filter is
 * evaluated on the same column masks as a query's filter (src/index/filter/evaluate.ts), so a count always
 * equals the number of ids a filter-only listing of the same snapshot would return, without a top-k cap.
 */
import { countMatches } from '../index/filter/evaluate.js';
import { filterMask } from '../query/engine.js';
import { type Filter, parseFilter } from '../model/filter.js';
import type { DocId } from '../model/types.js';
import { QueryContext } from './search-sources.js';
import { Snapshot, type SnapshotOptions } from './snapshot.js';

export interface CountResult {
  /** Live documents matching the filter (all live documents without one). */
  count: number;
  /** Live documents in the namespace. */
  total: number;
}

/**
 * Counts live documents of the namespace in `dir` that match `filterJson` (the query filter grammar,
 * validated against the schema; null = no filter). `opts.segments`: a published namespace.
 * @throws ElacsymError INVALID_FILTER for a bad filter, NAMESPACE_NOT_FOUND, CORRUPT_* for damaged files.
 */
export function countDocuments(dir: string, filterJson: unknown, opts: Pick<SnapshotOptions, 'segments'> = {}): CountResult {
  const snap = Snapshot.open(dir, opts);
  try {
    const filter = parseFilter(filterJson ?? null, snap.schema);
    const ctx = new QueryContext(snap);
    let count = 0;
    let total = 0;
    for (const s of ctx.sources) {
      total += s.liveCount;
      if (!filter) continue;
      count += countMatches(filterMask(s, filter));
    }
    return { count: filter ? count : total, total };
  } finally {
    snap.close();
  }
}

/**
 * Ids of the live documents of `snap` that match `filter` (every live id for null), each once, in no
 * particular order. Unbounded by design (`delete --filter` must see every match), but it holds only ids.
 */
export function matchingIds(snap: Snapshot, filter: Filter | null): DocId[] {
  const ctx = new QueryContext(snap);
  const ids: DocId[] = [];
  for (const s of ctx.sources) {
    const m = filter ? filterMask(s, filter) : null;
    for (let o = 0; o < s.size; o++) {
      if (s.dead && s.dead[o]) continue;
      if (m && m[o] !== 1) continue;
      ids.push(s.idOf(o));
    }
  }
  return ids;
}
