/**
 * Binary encoding of one journal entry's payload. The row that holds it also stores the payload's CRC-32;
 * `decodeEntry` is only called on payloads whose checksum matched.
 *
 * upsert payload (little-endian):
 *   u32 magic 0x4a554531 ("1EUJ") | u32 count | u32 dim | u32 jsonBytes
 *   json: UTF-8 of [[id, attributes], ...] in document order
 *   zero padding to a multiple of 4
 *   u8[count] hasVector, zero padding to a multiple of 4
 *   f32[k * dim] the vectors of the k documents with hasVector = 1, in order
 * delete payload: UTF-8 JSON array of ids.
 */
import { parseId } from '../model/document.js';
import type { Doc, DocId } from '../model/types.js';

const MAGIC = 0x4a554531;
const enc = new TextEncoder();
// ignoreBOM: stored strings may begin with U+FEFF, which is data here, not a byte-order mark to drop.
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const pad4 = (n: number) => (n + 3) & ~3;

export type JournalOp = 'upsert' | 'delete';

export function encodeUpserts(docs: readonly Doc[], dim: number): Uint8Array {
  const rows = new Array(docs.length);
  let withVec = 0;
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i]!;
    rows[i] = [d.id, d.attributes];
    if (d.vector) withVec++;
  }
  const json = enc.encode(JSON.stringify(rows));
  const flagsAt = 16 + pad4(json.length);
  const vecAt = flagsAt + pad4(docs.length);
  const out = new Uint8Array(vecAt + withVec * dim * 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, docs.length, true);
  dv.setUint32(8, dim, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  const vecs = new Float32Array(out.buffer, vecAt, withVec * dim);
  let k = 0;
  for (let i = 0; i < docs.length; i++) {
    const v = docs[i]!.vector;
    if (!v) continue;
    out[flagsAt + i] = 1;
    vecs.set(v, k * dim);
    k++;
  }
  return out;
}

export function decodeUpserts(payload: Uint8Array): Doc[] {
  if (payload.length < 16) throw new Error('upsert payload shorter than its header');
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new Error('upsert payload has a bad magic number');
  const count = dv.getUint32(4, true);
  const dim = dv.getUint32(8, true);
  const jsonLen = dv.getUint32(12, true);
  const flagsAt = 16 + pad4(jsonLen);
  const vecAt = flagsAt + pad4(count);
  if (vecAt > payload.length) throw new Error('upsert payload truncated');
  const rows = JSON.parse(dec.decode(payload.subarray(16, 16 + jsonLen))) as [DocId, Doc['attributes']][];
  if (!Array.isArray(rows) || rows.length !== count) throw new Error('upsert payload count mismatch');
  // Copy the vector block once so every document's vector is an aligned view that outlives the payload.
  const flags = payload.subarray(flagsAt, flagsAt + count);
  let withVec = 0;
  for (let i = 0; i < count; i++) withVec += flags[i]!;
  if (vecAt + withVec * dim * 4 !== payload.length) throw new Error('upsert payload vector block has the wrong size');
  const block = new Float32Array(withVec * dim);
  new Uint8Array(block.buffer).set(payload.subarray(vecAt, vecAt + withVec * dim * 4));
  const docs: Doc[] = new Array(count);
  let k = 0;
  for (let i = 0; i < count; i++) {
    const row = rows[i]!;
    const vector = flags[i] ? block.subarray(k * dim, ++k * dim) : null;
    docs[i] = { id: row[0], vector, attributes: row[1] ?? {} };
  }
  return docs;
}

export function encodeDeletes(ids: readonly DocId[]): Uint8Array {
  return enc.encode(JSON.stringify(ids));
}

export function decodeDeletes(payload: Uint8Array): DocId[] {
  const ids = JSON.parse(dec.decode(payload)) as unknown;
  if (!Array.isArray(ids)) throw new Error('delete payload is not an array');
  // Every id as the writer would have accepted it: a payload that decodes to anything else ([1.5], [null])
  // is damage, set aside like a CRC mismatch, never applied (a tester's case).
  ids.forEach((v, i) => {
    try {
      parseId(v);
    } catch (e) {
      throw new Error(`delete payload: id ${i + 1}: ${(e as Error).message}`);
    }
  });
  return ids as DocId[];
}
