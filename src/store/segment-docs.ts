/**
 * A segment's documents from its Parquet file, verified first: size and CRC-32 against the manifest,
 * then the row count. Export and compaction read segments through this one door, so a damaged file is
 * refused the same way (CORRUPT_SEGMENT, naming the path) whoever reads it.
 */
import { ElacsymError } from '../errors.js';
import type { Doc } from '../model/types.js';
import type { SegmentRow } from '../storage/manifest.js';
import { readSegmentParquet } from '../storage/parquet.js';
import { crc32 } from '../util/crc32.js';

export async function decodeSegmentDocs(path: string, bytes: Uint8Array, row: SegmentRow): Promise<Doc[]> {
  const corrupt = (why: string, cause?: unknown) => new ElacsymError('CORRUPT_SEGMENT', `${path}: ${why}`, { cause, details: { path } });
  if (bytes.length !== row.parquet_bytes || crc32(bytes) !== row.parquet_crc32) throw corrupt('checksum mismatch (the file is damaged)');
  let docs: Doc[];
  try {
    docs = await readSegmentParquet(bytes);
  } catch (e) {
    throw corrupt(`unreadable Parquet (${(e as Error).message})`, e);
  }
  if (docs.length !== row.doc_count) throw corrupt(`${docs.length} rows, ${row.doc_count} recorded in the manifest`);
  return docs;
}
