/**
 * Thrift compact protocol (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md),
 * read generically: a struct is a Map from field id to value. Enough for Parquet's FileMetaData and
 * PageHeader (parquet.ts, parquet-text.ts); a small reader of our own keeps parquet-wasm off the query path.
 * Errors are plain Errors: callers say which file and what it means.
 */
export class ThriftReader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}
  /** Bytes read so far (a page header's length, once its struct is read). */
  get position(): number {
    return this.at;
  }
  private byte(): number {
    if (this.at >= this.b.length) throw new Error('Parquet metadata truncated');
    return this.b[this.at++]!;
  }
  private varint(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('Parquet metadata: varint too long');
    }
  }
  private zigzag(): number {
    const u = this.varint();
    // Exact for |v| < 2^53: offsets and counts in real files.
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }
  private value(type: number): unknown {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return (this.byte() << 24) >> 24;
      case 4:
      case 5:
      case 6:
        return this.zigzag();
      case 7:
        this.at += 8;
        return null;
      case 8: {
        const n = this.varint();
        if (this.at + n > this.b.length) throw new Error('Parquet metadata truncated');
        const s = this.b.subarray(this.at, this.at + n);
        this.at += n;
        return s;
      }
      case 9:
      case 10: {
        const h = this.byte();
        const size = h >> 4 === 15 ? this.varint() : h >> 4;
        const et = h & 15;
        const out: unknown[] = [];
        for (let i = 0; i < size; i++) out.push(et === 1 || et === 2 ? this.byte() === 1 : this.value(et));
        return out;
      }
      case 11: {
        const size = this.varint();
        if (size === 0) return null;
        const kv = this.byte();
        for (let i = 0; i < size; i++) {
          this.value(kv >> 4);
          this.value(kv & 15);
        }
        return null;
      }
      case 12:
        return this.struct();
      default:
        throw new Error(`Parquet metadata: unknown Thrift type ${type}`);
    }
  }
  struct(): Map<number, unknown> {
    const out = new Map<number, unknown>();
    let id = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return out;
      const delta = h >> 4;
      id = delta === 0 ? this.zigzag() : id + delta;
      out.set(id, this.value(h & 15));
    }
  }
}
