import { crc32 } from '../../src/util/crc32.js';

/**
 * A copy of an IVF file (or flat index) with u32 `value` at header byte `at` and the header checksum (u32 at
 * 60 over bytes [0, 60)) recomputed: a forged, self-consistent header, so only structural checks can object.
 */
export function withIvfHeaderField(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const b = bytes.slice();
  const dv = new DataView(b.buffer);
  dv.setUint32(at, value, true);
  dv.setUint32(60, crc32(b.subarray(0, 60)), true);
  return b;
}
