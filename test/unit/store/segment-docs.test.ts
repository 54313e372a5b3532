/**
 * A segment's documents read back by row group (export, compaction) without holding its Parquet file
 * whole: the file is read once in chunks for its CRC-32, then each row group by range through the block
 * checksums recorded on that pass (store/segment-docs.ts). Handing parquet-wasm the whole file copied all
 * of it into its memory for every row group. Checked with a byte source that records every read.
 */
import { describe, expect, it } from 'vitest';
import type { Doc, Schema } from '../../../src/model/types.js';
import type { SegmentRow } from '../../../src/storage/manifest.js';
import { writeSegmentParquet } from '../../../src/storage/parquet.js';
import { segmentDocsByRowGroup } from '../../../src/store/segment-docs.js';
import { type ByteSource, MemorySource } from '../../../src/util/bytes.js';
import { crc32 } from '../../../src/util/crc32.js';
import { mulberry32 } from '../../../src/util/prng.js';
import { isElacsymError } from '../../../src/errors.js';

const dim = 32;
const schema: Schema = { vector_dim: dim, vector_metric: 'l2', attributes: { t: { type: 'string', full_text: null }, n: { type: 'integer', full_text: null } } };

function docs(n: number): Doc[] {
  const rand = mulberry32(11);
  return Array.from({ length: n }, (_, i) => ({ id: i, vector: Float32Array.from({ length: dim }, () => rand() - 0.5), attributes: { t: `text ${i} ${'x'.repeat(i % 50)}`, n: i } }));
}

/** `inner`, recording each read; `tamper` may change what a read returns (bytes changed after the check). */
class RecordingSource implements ByteSource {
  readonly reads: { offset: number; length: number }[] = [];
  constructor(
    private readonly inner: ByteSource,
    private readonly tamper?: (offset: number, bytes: Uint8Array, nth: number) => void,
  ) {}
  get length(): number {
    return this.inner.length;
  }
  read(offset: number, length: number): Uint8Array {
    const b = this.inner.read(offset, length).slice();
    this.reads.push({ offset, length });
    this.tamper?.(offset, b, this.reads.length);
    return b;
  }
  slice(offset: number, length: number): ByteSource {
    return this.inner.slice(offset, length);
  }
}

async function fileOf(n: number, rowsPerGroup: number): Promise<{ bytes: Uint8Array; row: SegmentRow; docs: Doc[] }> {
  const d = docs(n);
  const { bytes } = await writeSegmentParquet(d, schema, { rowsPerGroup });
  const row: SegmentRow = { id: 1, level: 0, doc_count: n, parquet_file: 'seg.parquet', parquet_bytes: bytes.length, parquet_crc32: crc32(bytes), index_file: 'seg.idx', index_bytes: 0, index_crc32: 0, max_seq: 0, created_at: 0 };
  return { bytes, row, docs: d };
}

async function readAll(src: ByteSource, row: SegmentRow): Promise<{ docs: Doc[]; groups: number }> {
  const out: Doc[] = [];
  let groups = 0;
  for await (const part of segmentDocsByRowGroup('seg.parquet', src, row)) {
    out.push(...part);
    groups++;
  }
  return { docs: out, groups };
}

describe('segmentDocsByRowGroup', () => {
  it('reads the file once for its checksum, then only each row group, never the file whole in one read', async () => {
    const { bytes, row, docs: written } = await fileOf(4000, 256);
    expect(bytes.length).toBeGreaterThan(400_000);
    const src = new RecordingSource(new MemorySource(bytes));
    const { docs: got, groups } = await readAll(src, row);
    expect(groups).toBe(Math.ceil(4000 / 256));
    expect(got.map((d) => d.id)).toEqual(written.map((d) => d.id));
    expect(got.map((d) => Array.from(d.vector!))).toEqual(written.map((d) => Array.from(d.vector!)));
    expect(got.map((d) => d.attributes)).toEqual(written.map((d) => d.attributes));
    const total = src.reads.reduce((a, r) => a + r.length, 0);
    // The checksum pass plus about one more pass (block-aligned ranges); the whole file per row group
    // would be 16 passes.
    expect(total).toBeLessThan(3 * bytes.length);
    // Apart from the checksum pass's 4 MiB chunks (here: one, the whole small file), no read spans more
    // than a row group's bytes (256 rows of 32 floats, ~33 KiB, plus block alignment and text).
    const decodeReads = src.reads.slice(1);
    expect(decodeReads.length).toBeGreaterThan(groups);
    expect(Math.max(...decodeReads.map((r) => r.length))).toBeLessThan(bytes.length / 4);
  });

  it('refuses a byte changed after the checksum pass (CORRUPT_SEGMENT naming the block), before decoding it', async () => {
    const { bytes, row } = await fileOf(2000, 256);
    // The first read is the checksum pass; every later read of the middle of the file comes back changed.
    const at = Math.floor(bytes.length / 2);
    const src = new RecordingSource(new MemorySource(bytes), (offset, b, nth) => {
      if (nth > 1 && offset <= at && at < offset + b.length) b[at - offset]! ^= 0x40;
    });
    let err: unknown;
    try {
      await readAll(src, row);
    } catch (e) {
      err = e;
    }
    expect(isElacsymError(err, 'CORRUPT_SEGMENT')).toBe(true);
    expect((err as Error).message).toMatch(/seg\.parquet: block \d+ fails its CRC-32 check/);
  });

  it('a second read given the first one\'s block checksums (a merge\'s second pass) reads no checksum pass, gives the same documents, and refuses a byte changed in between', async () => {
    const { bytes, row, docs: written } = await fileOf(4000, 256);
    const readWith = async (src: ByteSource, checked: { blocks?: Uint32Array }) => {
      const out: Doc[] = [];
      for await (const part of segmentDocsByRowGroup('seg.parquet', src, row, null, { checked })) out.push(...part);
      return out;
    };
    const checked: { blocks?: Uint32Array } = {};
    const first = new RecordingSource(new MemorySource(bytes));
    expect((await readWith(first, checked)).map((d) => d.id)).toEqual(written.map((d) => d.id));
    expect(checked.blocks?.length).toBe(Math.ceil(bytes.length / 4096));
    expect(first.reads[0]).toEqual({ offset: 0, length: bytes.length });
    const again = new RecordingSource(new MemorySource(bytes));
    const second = await readWith(again, checked);
    expect(second.map((d) => Array.from(d.vector!))).toEqual(written.map((d) => Array.from(d.vector!)));
    expect(second.map((d) => d.attributes)).toEqual(written.map((d) => d.attributes));
    // No read of the whole file: ranges only.
    expect(Math.max(...again.reads.map((r) => r.length))).toBeLessThan(bytes.length / 4);
    // The file changed after the first pass: the second pass's ranges fail their block checksums.
    const at = Math.floor(bytes.length / 2);
    const changed = bytes.slice();
    changed[at]! ^= 0x08;
    let err: unknown;
    try {
      await readWith(new MemorySource(changed), checked);
    } catch (e) {
      err = e;
    }
    expect(isElacsymError(err, 'CORRUPT_SEGMENT')).toBe(true);
  });

  it('refuses a file whose bytes do not match the manifest before yielding anything', async () => {
    const { bytes, row } = await fileOf(1000, 256);
    const bad = bytes.slice();
    bad[100]! ^= 1;
    const it = segmentDocsByRowGroup('seg.parquet', new MemorySource(bad), row);
    await expect(it.next()).rejects.toThrow(/seg\.parquet: checksum mismatch/);
    const short = segmentDocsByRowGroup('seg.parquet', new MemorySource(bytes.subarray(0, bytes.length - 1)), row);
    await expect(short.next()).rejects.toThrow(/checksum mismatch/);
  });
});
