/**
 * Live documents as NDJSON lines in the import shape, segment by segment (bounded memory), then the
 * pending journal. Order: segments in id order, ordinals ascending, then journal documents — stable for
 * a given state, so two exports of an unchanged namespace are byte-identical.
 */
import type { Doc } from '../model/types.js';
import { float32ToJson } from '../util/float32.js';
import { decodeSegmentDocs } from './segment-docs.js';
import { Snapshot } from './snapshot.js';

export function docToJson(d: Doc): string {
  const o: Record<string, unknown> = { id: d.id };
  if (d.vector) o.vector = float32ToJson(d.vector); // shortest decimals that read back as the same float32
  o.attributes = d.attributes;
  return `${JSON.stringify(o)}\n`;
}

export async function* exportDocs(dir: string): AsyncGenerator<string> {
  const snap = Snapshot.open(dir);
  try {
    for (const seg of snap.segments) {
      const docs = await decodeSegmentDocs(seg.parquetPath, seg.parquet.read(0, seg.parquet.length), seg.row);
      for (let ord = 0; ord < docs.length; ord++) {
        if (seg.isLive(ord)) yield docToJson(docs[ord]!);
      }
    }
    for (const d of snap.pendingDocs) yield docToJson(d);
  } finally {
    snap.close();
  }
}
