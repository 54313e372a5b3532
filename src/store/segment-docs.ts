/**
 * A segment's documents from its Parquet file, verified first: size and CRC-32 against the manifest,
 * then the row count. Export and compaction read segments through this one door, so a damaged file is
 * refused the same way (CORRUPT_SEGMENT, naming the path) whoever reads it.
 */
import { ElacsymError, isElacsymError } from '../errors.js';
import type { Doc } from '../model/types.js';
import type { SegmentRow } from '../storage/manifest.js';
import { type ParquetFooter, readParquetFooter, readSegmentParquetRowGroups, type VectorRead } from '../storage/parquet.js';
import { crc32 } from '../util/crc32.js';
import type { ByteSource } from '../util/bytes.js';
import { BlockChecksums, verifiedByBlocks } from '../storage/segment-file.js';
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

/** Bytes read at a time while the whole file is checked. */
const CHECK_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * A segment's documents one row group at a time, in ordinal order (the first batch starts at ordinal 0).
 * Everything is checked before the first batch: size, CRC-32 (against the manifest) and the row count the
 * footer declares; a row group that decodes to another count than its footer entry is CORRUPT_SEGMENT
 * when it is reached.
 *
 * Memory: the file is never held whole. It is read once in chunks for its CRC-32, which also records a
 * CRC-32 of each 4 KiB block; then each row group's column chunks are read and checked against those block
 * checksums (segment-file.ts verifiedByBlocks) and handed to the Parquet reader, so every byte decoded is
 * a byte of the file whose CRC matched, and only one row group is in parquet-wasm's memory at a time.
 * (Handing parquet-wasm the whole file instead copied all of it into its memory for every row group: 57
 * copies of a 65 MB file per segment of a 1M compaction, and a linear memory that never shrinks back.)
 * The file is read twice, the second time by range: from an object store, through its range cache. A
 * caller that reads it again (a merge's second pass) passes the block checksums back (`checked`): then
 * only the ranges are read, each verified against them.
 */
export async function* segmentDocsByRowGroup(
  path: string,
  src: ByteSource,
  row: SegmentRow,
  keysOf: KeysOf = null,
  options: { vectors?: VectorRead; checked?: { blocks?: Uint32Array } } = {},
): AsyncGenerator<Doc[]> {
  const corrupt = (why: string, cause?: unknown) => new ElacsymError('CORRUPT_SEGMENT', `${path}: ${why}`, { cause, details: { path } });
  const len = src.length;
  if (len !== row.parquet_bytes) throw corrupt('checksum mismatch (the file is damaged)');
  // `checked`: the block checksums of an earlier read of this file whose CRC-32 matched (a merge's first
  // pass), so a later pass verifies each range it reads against them without reading the file whole again.
  let table = options.checked?.blocks;
  if (table === undefined) {
    const blocks = new BlockChecksums();
    let crc = 0;
    for (let at = 0; at < len; at += CHECK_CHUNK_BYTES) {
      const chunk = src.read(at, Math.min(CHECK_CHUNK_BYTES, len - at));
      crc = crc32(chunk, crc);
      blocks.update(chunk);
    }
    if (crc !== row.parquet_crc32) throw corrupt('checksum mismatch (the file is damaged)');
    // The table as a segment's `parquet-crc` section holds it (little-endian words, read as in snapshot.ts).
    const t = blocks.finish();
    table = new Uint32Array(t.buffer, t.byteOffset, t.length >> 2);
    if (options.checked) options.checked.blocks = table;
  }
  const verified = verifiedByBlocks(src, table, path);
  let footer: ParquetFooter;
  try {
    if (len < 12) throw new Error('not a Parquet file (shorter than its magic numbers)');
    const m = verified.read(len - 8, 4);
    const mdLen = new DataView(m.buffer, m.byteOffset, 4).getUint32(0, true);
    // The footer and the 4 bytes before it (readParquetFooter reads only the tail it is given).
    footer = readParquetFooter(verified.read(Math.max(0, len - 12 - mdLen), Math.min(len, mdLen + 12)));
  } catch (e) {
    if (isElacsymError(e)) throw e;
    throw corrupt(`unreadable Parquet (${(e as Error).message})`, e);
  }
  if (footer.numRows !== row.doc_count) throw corrupt(`${footer.numRows} rows, ${row.doc_count} recorded in the manifest`);
  // What the reader asks for is read and verified here first, outside parquet-wasm: an error thrown from
  // inside one of its reads leaves it hung on a panic. The tail (footer, page indexes) once, each row
  // group's column chunks before the reader decodes it.
  const spans = footer.rowGroups.map((rg) => {
    let from = Number.POSITIVE_INFINITY;
    let to = 0;
    for (const c of rg.columns) {
      const at = c.dictionaryPageOffset ?? c.dataPageOffset;
      from = Math.min(from, at);
      to = Math.max(to, at + c.totalCompressedSize);
    }
    return { from, to };
  });
  const verifiedRange = (from: number, to: number): Uint8Array => {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to && to <= len)) throw corrupt(`a row group's column chunks at [${from}, ${to}) lie outside the file`);
    return verified.read(from, to - from);
  };
  const tailFrom = spans.reduce((a, sp) => Math.max(a, sp.to), 4);
  const held = [{ from: tailFrom, bytes: verifiedRange(tailFrom, len) }];
  let failed: unknown = null;
  const it = readSegmentParquetRowGroups(
    blobOf(len, (from, to) => {
      for (const h of held) if (from >= h.from && to <= h.from + h.bytes.length) return h.bytes.slice(from - h.from, to - h.from);
      // Not a range read above: read it here, never throwing into the reader (see above).
      try {
        return verified.read(from, to - from).slice();
      } catch (e) {
        failed ??= e;
        return new Uint8Array(to - from);
      }
    }),
    {
      beforeRowGroup: (g) => {
        const sp = spans[g];
        if (!sp) throw corrupt(`row group ${g} is not in the footer`);
        held.length = 1;
        // Without the vectors (most of a row group's bytes), the reader's few ranges are read as it asks.
        if (options.vectors !== 'skip') held.push({ from: sp.from, bytes: verifiedRange(sp.from, sp.to) });
      },
      vectors: options.vectors,
    },
  );
  let seen = 0;
  for (;;) {
    // Only the decoding is the file's fault: an error of the consumer (thrown into the yield) passes as it is.
    let r: IteratorResult<Doc[]>;
    try {
      r = await it.next();
    } catch (e) {
      if (failed !== null) throw failed;
      if (isElacsymError(e)) throw e;
      throw corrupt(`unreadable Parquet (${(e as Error).message})`, e);
    }
    // A range that failed its check was answered with zeros: whatever was decoded from them is dropped.
    if (failed !== null) throw failed;
    if (r.done) break;
    const docs = keysOf ? r.value.map((d, i) => inWrittenOrder(d, keysOf(seen + i), path, seen + i)) : r.value;
    seen += docs.length;
    yield docs;
  }
  if (seen !== row.doc_count) throw corrupt(`${seen} rows, ${row.doc_count} recorded in the manifest`);
}

/**
 * A Blob of `size` bytes for parquet-wasm's ParquetFile.fromFile, which only asks for `size` and
 * `slice(start, end).arrayBuffer()` (its JavaScript glue, parquet_wasm.js, checks no type); `read` gives
 * the bytes [from, to) as an array of their own.
 */
function blobOf(size: number, read: (from: number, to: number) => Uint8Array): Blob {
  const handle = {
    size,
    slice(start?: number, end?: number) {
      const from = Math.max(0, Math.min(size, start ?? 0));
      const to = Math.max(from, Math.min(size, end ?? size));
      return { size: to - from, arrayBuffer: async (): Promise<ArrayBuffer> => read(from, to).buffer as ArrayBuffer };
    },
  };
  return handle as unknown as Blob;
}
