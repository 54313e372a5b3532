/**
 * Live documents as NDJSON lines in the import shape, segment by segment (bounded memory), then the
 * pending journal. Order: segments in id order, ordinals ascending, then journal documents — stable for
 * a given state, so two exports of an unchanged namespace are byte-identical.
 */
import { ElacsymError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import { readSegmentParquet } from '../storage/parquet.js';
import type { Doc } from '../model/types.js';
import { Snapshot } from './snapshot.js';

export function docToJson(d: Doc): string {
  const o: Record<string, unknown> = { id: d.id };
  if (d.vector) o.vector = Array.from(d.vector);
  o.attributes = d.attributes;
  return `${JSON.stringify(o)}\n`;
}

export async function* exportDocs(dir: string): AsyncGenerator<string> {
  const snap = Snapshot.open(dir);
  try {
    for (const seg of snap.segments) {
      const bytes = seg.parquet.read(0, seg.parquet.length);
      if (bytes.length !== seg.row.parquet_bytes || crc32(bytes) !== seg.row.parquet_crc32) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${seg.parquetPath}: checksum mismatch (the file is damaged)`, { details: { path: seg.parquetPath } });
      }
      let docs: Doc[];
      try {
        docs = await readSegmentParquet(bytes);
      } catch (e) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${seg.parquetPath}: unreadable Parquet (${(e as Error).message})`, { cause: e, details: { path: seg.parquetPath } });
      }
      for (let ord = 0; ord < docs.length; ord++) {
        if (seg.isLive(ord)) yield docToJson(docs[ord]!);
      }
    }
    for (const d of snap.pendingDocs) yield docToJson(d);
  } finally {
    snap.close();
  }
}
