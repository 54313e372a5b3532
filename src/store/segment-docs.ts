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
import { buildAttributes } from '../index/filter/columns.js';

/**
 * Each document's attribute keys in the order it was written with (the index file's `attrs` section), or
 * null for files whose Parquet keeps that order itself (layout 1 stores the attributes as JSON).
 */
export type KeysOf = ((ord: number) => readonly string[]) | null;

/**
 * The Parquet file holds one column per attribute, so a decoded document lists its keys in column order;
 * the written order is in `attrs`. Export and compaction restore it, so a document prints the same before
 * and after a flush or a compaction (deterministic output). A key set that disagrees with the shape is
 * damage of one of the two files.
 */
function inWrittenOrder(doc: Doc, keys: readonly string[], path: string, ord: number): Doc {
  const a = doc.attributes;
  const have = Object.keys(a);
  if (have.length === keys.length && have.every((k, i) => k === keys[i])) return doc;
  if (have.length !== keys.length || !keys.every((k) => Object.hasOwn(a, k))) {
    throw new ElacsymError('CORRUPT_SEGMENT', `${path}: row ${ord} has attributes ${JSON.stringify(have)}, the index file records ${JSON.stringify(keys)}`, { details: { path } });
  }
  return { ...doc, attributes: buildAttributes(keys, (k) => a[k]) };
}

/**
 * A segment's documents one row group at a time, in ordinal order (the first batch starts at ordinal 0).
 * Memory: one row group decoded at a time, instead of the whole file's Arrow table beside its documents
 * (compaction keeps only the live documents of each batch; export writes them out). Everything is checked
 * before the first batch: size, CRC-32 and the row count the footer declares; a row group that decodes to
 * another count than its footer entry is CORRUPT_SEGMENT when it is reached.
 */
export async function* segmentDocsByRowGroup(path: string, bytes: Uint8Array, row: SegmentRow, keysOf: KeysOf = null): AsyncGenerator<Doc[]> {
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
    const docs = keysOf ? r.value.map((d, i) => inWrittenOrder(d, keysOf(seen + i), path, seen + i)) : r.value;
    seen += docs.length;
    yield docs;
  }
  if (seen !== row.doc_count) throw corrupt(`${seen} rows, ${row.doc_count} recorded in the manifest`);
}
