/**
 * `get`: documents by id, in the import shape, from one snapshot. Ids are located through the manifest's
 * id map (an index lookup per id, no scan), and the pending journal's newer writes and deletes win, as in
 * every query.
 */
import { ElacsymError } from '../errors.js';
import { idFromKey, idKey } from '../model/document.js';
import type { Doc, DocId } from '../model/types.js';
import { Snapshot, type SnapshotOptions } from './snapshot.js';

export interface GetResult {
  /** The documents found, in the order their ids were asked for (each id once). */
  found: Doc[];
  /** Ids asked for that are not live documents, in the order asked. */
  missing: DocId[];
}

/**
 * Fetches the live documents with the given ids from the namespace in `dir`. Duplicate ids are answered
 * once (`opts.segments`: a published namespace, see store/published.ts). @throws ElacsymError
 * NAMESPACE_NOT_FOUND, CORRUPT_* when a file the answer needs is damaged.
 */
export function getDocuments(dir: string, ids: readonly DocId[], opts: Pick<SnapshotOptions, 'segments'> = {}): GetResult {
  const keys = [...new Set(ids.map(idKey))];
  const snap = Snapshot.open(dir, { ...opts, locate: keys });
  try {
    const pending = new Map<string, Doc>();
    for (const d of snap.pendingDocs) pending.set(idKey(d.id), d);
    const found: Doc[] = [];
    const missing: DocId[] = [];
    for (const key of keys) {
      const p = pending.get(key);
      if (p) {
        found.push(p);
        continue;
      }
      const l = snap.located.get(key);
      if (!l) {
        missing.push(idFromKey(key));
        continue;
      }
      const id = l.segment.idOf(l.ord);
      // The manifest's id map and the segment must agree; a damaged map must never yield another document.
      if (idKey(id) !== key) {
        throw new ElacsymError('CORRUPT_MANIFEST', `${snap.dir}: the id map points ${key} at segment ${l.segment.row.id} row ${l.ord}, which holds ${idKey(id)}`, {
          details: { path: snap.dir },
        });
      }
      found.push({ id, vector: l.segment.vectorOf(l.ord, snap.schema.vector_dim), attributes: l.segment.attributesOf(l.ord) });
    }
    return { found, missing };
  } finally {
    snap.close();
  }
}
