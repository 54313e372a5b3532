/**
 * Live documents as NDJSON lines in the import shape, segment by segment (bounded memory), then the
 * pending journal. Order: segments in id order, ordinals ascending, then journal documents — stable for
 * a given state, so two exports of an unchanged namespace are byte-identical.
 */
import type { Doc } from '../model/types.js';
import { float32ToJson } from '../util/float32.js';
import { segmentDocsByRowGroup } from './segment-docs.js';
import { Snapshot, type SnapshotOptions } from './snapshot.js';

export function docToJson(d: Doc): string {
  const o: Record<string, unknown> = { id: d.id };
  if (d.vector) o.vector = float32ToJson(d.vector); // shortest decimals that read back as the same float32
  o.attributes = d.attributes;
  return `${JSON.stringify(o)}\n`;
}

/** `opts.segments`: a namespace published to an object store (its state database is `dir`'s manifest). */
export async function* exportDocs(dir: string, opts: Pick<SnapshotOptions, 'segments'> = {}): AsyncGenerator<string> {
  const snap = Snapshot.open(dir, opts);
  try {
    for (const seg of snap.segments) {
      // One row group decoded at a time, the file read by range.
      let ord = 0;
      // Attributes in each document's written order (the Parquet file has them in column order).
      for await (const part of segmentDocsByRowGroup(seg.parquetPath, seg.parquet, seg.row, seg.attributeKeys())) {
        for (const d of part) if (seg.isLive(ord++)) yield docToJson(d);
      }
    }
    for (const d of snap.pendingDocs) yield docToJson(d);
  } finally {
    snap.close();
  }
}
