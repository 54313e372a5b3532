import * as zlib from 'node:zlib';

/** CRC-32 (IEEE), as zlib computes it (node >= 20.15 ships it). Pass `prev` to continue over chunks. */
export function crc32(data: Uint8Array, prev = 0): number {
  return zlib.crc32(data, prev) >>> 0;
}
