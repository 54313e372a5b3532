/**
 * A segment's documents from its Parquet file, verified first: size and CRC-32 against the manifest,
 * then the row count. Export and compaction read segments through this one door, so a damaged file is
 * refused the same way (CORRUPT_SEGMENT, naming the path) whoever reads it.
 */
import { ElacsymError } from '../errors.js';
import type { Doc } from '../model/types.js';
import type { SegmentRow } from '../storage/manifest.js';
import { readParquetFooter, readSegmentParquetRowGroups } from '../storage/parquet.js';
import { crc32 } from '../util/crc32.js';

/**
 * A segment's documents one row group at a time, in ordinal order (the first batch starts at ordinal 0).
 * Memory: one row group decoded at a time, instead of the whole file's Arrow table beside its documents
 * (compaction keeps only the live documents of each batch; export writes them out). Everything is checked
 * before the first batch: size, CRC-32 and the row count the footer declares; a row group that decodes to
 * another count than its footer entry is CORRUPT_SEGMENT when it is reached.
 */
export async function* segmentDocsByRowGroup(path: string, bytes: Uint8Array, row: SegmentRow): AsyncGenerator<Doc[]> {
  const corrupt = (why: string, cause?: unknown) => new ElacsymError('CORRUPT_SEGMENT', `${path}: ${why}`, { cause, details: { path } });
  if (bytes.length !== row.parquet_bytes || crc32(bytes) !== row.parquet_crc32) throw corrupt('checksum mismatch (the file is damaged)');
  let rows: number;
  try {
    rows = readParquetFooter(bytes).numRows;
  } catch (e) {
    throw corrupt(`unreadable Parquet (${(e as Error).message})`, e);
  }
  if (rows !== row.doc_count) throw corrupt(`${rows} rows, ${row.doc_count} recorded in the manifest`);
  const it = readSegmentParquetRowGroups(bytes);
  let seen = 0;
  for (;;) {
    // Only the decoding is the file's fault: an error of the consumer (thrown into the yield) passes as it is.
    let r: IteratorResult<Doc[]>;
    try {
      r = await it.next();
    } catch (e) {
      throw corrupt(`unreadable Parquet (${(e as Error).message})`, e);
    }
    if (r.done) break;
    seen += r.value.length;
    yield r.value;
  }
  if (seen !== row.doc_count) throw corrupt(`${seen} rows, ${row.doc_count} recorded in the manifest`);
}
