import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Positional read access to an immutable byte range (a section of a segment's index file, or a buffer).
 * A cold `elacsym query` reads only the parts of a segment it needs through this, instead of whole files.
 * Every returned array starts at offset 0 of its own ArrayBuffer or is otherwise 4-byte aligned, so callers
 * may view it as Float32Array/Uint32Array when `offset` is a multiple of 4 within the source.
 */
export interface ByteSource {
  readonly length: number;
  read(offset: number, length: number): Uint8Array;
  /**
   * Optional: fills all of `out` with the bytes from `offset` on, into the caller's buffer (a scratch buffer
   * used again and again touches no new memory; see BlockVerifiedSource). Same errors as `read`.
   */
  readInto?(offset: number, out: Uint8Array): void;
  /**
   * Optional: `readInto` for a range whose CRC-32 the caller holds from bytes already verified (an IVF
   * cluster's, from its verified header): the bytes are checked against `crc` once, instead of against
   * every block they touch and then against `crc` again. A mismatch is CORRUPT_SEGMENT naming the file and
   * `label`. Only sources that verify what they return have it.
   */
  readIntoChecked?(offset: number, out: Uint8Array, crc: number, label: string): void;
  /** A view of [offset, offset+length) of this source. */
  slice(offset: number, length: number): ByteSource;
}

export class MemorySource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  /**
   * The byte at `offset` (a bounds-checked read of one byte, for callers that assemble small integers
   * themselves: no view is made). MemorySource has no `readInto` on purpose: callers take that as "reads
   * from a file" (IVF's transient clusters, the vector store's located reads).
   */
  byteAt(offset: number): number {
    if (offset < 0 || offset >= this.bytes.length) checkRange(offset, 1, this.bytes.length);
    return this.bytes[offset]!;
  }
  get length(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.bytes.length);
    const view = this.bytes.subarray(offset, offset + length);
    // Keep the alignment promise: copy when the view would not be 4-byte aligned.
    return view.byteOffset % 4 === 0 ? view : view.slice();
  }
  slice(offset: number, length: number): ByteSource {
    checkRange(offset, length, this.bytes.length);
    return new MemorySource(this.read(offset, length));
  }
}

/** Reads a file with pread(2). The descriptor stays open until `close()`; the file must be immutable. */
export class FileSource implements ByteSource {
  readonly length: number;
  private constructor(
    private readonly fd: number,
    private readonly base: number,
    length: number,
  ) {
    this.length = length;
  }
  static open(path: string): FileSource {
    const fd = openSync(path, 'r');
    return new FileSource(fd, 0, fstatSync(fd).size);
  }
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(offset, out);
    return out;
  }
  readInto(offset: number, out: Uint8Array): void {
    const length = out.length;
    checkRange(offset, length, this.length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, this.base + offset + done);
      if (n === 0) throw new RangeError(`unexpected end of file at byte ${this.base + offset + done}`);
      done += n;
    }
  }
  slice(offset: number, length: number): ByteSource {
    checkRange(offset, length, this.length);
    return new FileSource(this.fd, this.base + offset, length);
  }
  close(): void {
    closeSync(this.fd);
  }
}

function checkRange(offset: number, length: number, size: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`read of [${offset}, ${offset + length}) outside a source of ${size} bytes`);
  }
}

/** Byte ranges of a file held as consecutive chunks: a view when the range lies in one chunk, else a copy. */
export class ChunkedBytes {
  private readonly starts: number[] = [];
  readonly length: number;
  constructor(private readonly chunks: readonly Uint8Array[]) {
    let at = 0;
    for (const c of chunks) {
      this.starts.push(at);
      at += c.length;
    }
    this.length = at;
  }
  range(start: number, end: number): Uint8Array {
    if (start < 0 || end > this.length || start > end) throw new RangeError(`range ${start}-${end} outside 0-${this.length}`);
    if (start === end) return new Uint8Array(0);
    // The last chunk starting at or before `start`.
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    const k = lo;
    const c = this.chunks[k]!;
    const off = start - this.starts[k]!;
    if (off + (end - start) <= c.length) return c.subarray(off, off + (end - start));
    const out = new Uint8Array(end - start);
    let at = 0;
    for (let j = k; at < out.length; j++) {
      const piece = this.chunks[j]!.subarray(j === k ? off : 0, Math.min(this.chunks[j]!.length, (j === k ? off : 0) + out.length - at));
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}
