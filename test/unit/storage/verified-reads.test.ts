// Reads a cold query makes through verified sources without touching new memory for every block: a string
// table's offsets read two at a time, and blocks read once verified in a shared scratch buffer. These must
// answer exactly as whole reads do and still refuse a damaged byte on every path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import { blockChecksums, encodeStringTable, StringTable, verifiedByBlocks } from '../../../src/storage/segment-file.js';
import { FileSource, MemorySource, type ByteSource } from '../../../src/util/bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'elacsym-verified-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function table32(bytes: Uint8Array): Uint32Array {
  const b = blockChecksums(bytes);
  return new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
}

/** A file on disk (FileSource has readInto, so first reads take the scratch path) with its block table. */
function fileOf(name: string, bytes: Uint8Array): { src: FileSource; table: Uint32Array } {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { src: FileSource.open(path), table: table32(bytes) };
}

function corruptCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof ElacsymError ? e.code : `not an ElacsymError: ${String(e)}`;
  }
  return undefined;
}

// Deterministic strings of varied lengths, some non-ASCII.
const strings = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? `id-é-${i}` : `${i * 7919}`.repeat(1 + (i % 3))));

describe('StringTable', () => {
  const encoded = encodeStringTable(strings);

  it('answers every lookup as encoded, in any order, before and after it reads the offsets whole', () => {
    for (const source of [new MemorySource(encoded) as ByteSource, (() => {
      const { src, table } = fileOf('strings.bin', encoded);
      return verifiedByBlocks(src, table, 'strings.bin');
    })()]) {
      const t = StringTable.open(source, 'strings.bin');
      expect(t.length).toBe(strings.length);
      // A stride visits ordinals out of order; more lookups than OFFSETS_WHOLE_AFTER cross to whole offsets.
      for (let k = 0; k < strings.length; k++) {
        const i = (k * 2003) % strings.length;
        expect(t.get(i)).toBe(strings[i]);
      }
    }
  });

  it('is CORRUPT_SEGMENT for an ordinal out of range, lazily and after loadAll', () => {
    const t = StringTable.open(new MemorySource(encoded), 'strings.bin');
    expect(corruptCode(() => t.get(strings.length))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(() => t.get(-1))).toBe('CORRUPT_SEGMENT');
    t.loadAll();
    expect(corruptCode(() => t.get(strings.length))).toBe('CORRUPT_SEGMENT');
    expect(t.get(strings.length - 1)).toBe(strings.at(-1));
  });

  it('is CORRUPT_SEGMENT when offsets run backwards, read lazily', () => {
    const bad = encoded.slice();
    const view = new DataView(bad.buffer);
    // offsets[11] := offsets[10] - 1
    view.setUint32(4 + 4 * 11, view.getUint32(4 + 4 * 10, true) - 1, true);
    const t = StringTable.open(new MemorySource(bad), 'strings.bin');
    expect(corruptCode(() => t.get(10))).toBe('CORRUPT_SEGMENT');
    expect(t.get(9)).toBe(strings[9]);
  });

  it('refuses a flipped byte in its offsets on the first lookup that touches the block', () => {
    const bad = encoded.slice();
    const { table } = fileOf('clean.bin', encoded);
    bad[4 + 4 * 2000] ^= 0x01; // offsets[2000], in block 1 of the file
    const path = join(dir, 'flipped.bin');
    writeFileSync(path, bad);
    const t = StringTable.open(verifiedByBlocks(FileSource.open(path), table, path), path);
    expect(t.get(10)).toBe(strings[10]); // block 0 is intact
    expect(corruptCode(() => t.get(1999))).toBe('CORRUPT_SEGMENT');
    expect(corruptCode(() => t.get(2000))).toBe('CORRUPT_SEGMENT');
  });
});

describe('verified block reads', () => {
  const bytes = new Uint8Array(64 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;

  it('returns bytes that stay as read whatever is read next (first reads share one scratch buffer)', () => {
    const { src, table } = fileOf('blocks.bin', bytes);
    const v = verifiedByBlocks(src, table, 'blocks.bin');
    const got: Array<[number, Uint8Array]> = [];
    // Single-block reads, each block read for the first time, then again (cached), then straddling ones.
    for (const at of [100, 5000, 9000, 100, 5000, 40000, 4090, 8188, 65000]) got.push([at, v.read(at, at + 8 > bytes.length ? bytes.length - at : 8)]);
    for (const [at, out] of got) expect([...out]).toEqual([...bytes.subarray(at, at + out.length)]);
  });

  it('refuses a flipped byte on a first read, a second read and a read across blocks', () => {
    const bad = bytes.slice();
    bad[3 * 4096 + 17] ^= 0x40;
    const path = join(dir, 'bad-blocks.bin');
    writeFileSync(path, bad);
    const v = verifiedByBlocks(FileSource.open(path), table32(bytes), path);
    expect(corruptCode(() => v.read(3 * 4096 + 100, 8))).toBe('CORRUPT_SEGMENT'); // first read: scratch
    expect(corruptCode(() => v.read(3 * 4096 + 100, 8))).toBe('CORRUPT_SEGMENT'); // second read: cache path
    expect(corruptCode(() => v.read(3 * 4096 - 4, 8))).toBe('CORRUPT_SEGMENT'); // across blocks 2 and 3
    expect([...v.read(2 * 4096 + 5, 8)]).toEqual([...bytes.subarray(2 * 4096 + 5, 2 * 4096 + 13)]);
  });
});
