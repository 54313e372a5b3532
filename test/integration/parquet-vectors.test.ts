/**
 * Storage format 2 keeps each vector once, in the segment's Parquet file (issue 11). A query reads one
 * vector by byte range through the index file's locator and verifies the 4 KiB blocks it touches against
 * the index file's `parquet-crc` table; a segment held in memory verifies the whole file against the
 * manifest. Either way a flipped byte is CORRUPT_SEGMENT, never another vector.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { isElacsymError } from '../../src/errors.js';
import { SegmentFile } from '../../src/storage/segment-file.js';
import { VectorLocator } from '../../src/storage/vector-locator.js';
import { Snapshot } from '../../src/store/snapshot.js';
import { MemorySource } from '../../src/util/bytes.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

const DIM = 24;
const docs = [...generateDocs({ docs: 3000, dim: DIM, seed: 9 })].map((d, i) => (i % 10 === 3 ? { id: d.id, attributes: d.attributes } : d));
let d = '';
let parquet = '';
let loc: VectorLocator;

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM)])).code).toBe(0);
  const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: docs.map((x) => JSON.stringify(x)).join('\n') });
  expect(imp.code, imp.stderr).toBe(0);
  const seg = join(d, 'ns', 'segments');
  const idx = join(seg, readdirSync(seg).find((f) => f.endsWith('.idx'))!);
  parquet = idx.replace(/\.idx$/, '.parquet');
  const file = SegmentFile.open(new MemorySource(readFileSync(idx)), idx);
  expect(file.has('vectors')).toBe(false);
  loc = VectorLocator.open(file.readVerified('vecloc')!, docs.length, DIM);
}, 60_000);
afterAll(cleanupTmp);

function vectorsOf(opts: { readWholeBytes?: number; loadFully?: boolean }, ords: number[]): (Float32Array | null)[] {
  const snap = Snapshot.open(join(d, 'ns'), opts);
  try {
    return ords.map((o) => snap.segments[0]!.vectorOf(o, DIM));
  } finally {
    snap.close();
  }
}

function corruptCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isElacsymError(e) ? e.code : `not an ElacsymError: ${String(e)}`;
  }
  return undefined;
}

describe('vectors read from the Parquet file', () => {
  it('are the imported vectors, by range and whole, and absent vectors are null', () => {
    const ords = [0, 3, 13, 1500, 2999];
    for (const opts of [{ readWholeBytes: 0 }, { loadFully: true }, {}]) {
      const got = vectorsOf(opts, ords);
      ords.forEach((o, i) => {
        const want = docs[o]!.vector;
        if (!want) expect(got[i]).toBeNull();
        else expect(Array.from(got[i]!)).toEqual(want.map((x) => Math.fround(x)));
      });
    }
    expect(loc.offsetOf(3)).toBe(-1);
  });

  it('the matrix of a segment held in memory (--batch, serve) holds every vector at its ordinal, absent ones flagged', () => {
    // One document in ten has no vector, so the copy runs (a page's consecutive rows at a time) break
    // at every tenth ordinal and restart after it.
    const snap = Snapshot.open(join(d, 'ns'), { loadFully: true });
    try {
      const m = snap.segments[0]!.vectorMatrix(DIM)!;
      expect(m.present.length).toBe(docs.length);
      expect(m.data.length).toBe(docs.length * DIM);
      docs.forEach((doc, o) => {
        expect(m.present[o], `ordinal ${o}`).toBe(doc.vector ? 1 : 0);
        const row = Array.from(m.data.subarray(o * DIM, (o + 1) * DIM));
        expect(row, `ordinal ${o}`).toEqual(doc.vector ? doc.vector.map((x) => Math.fround(x)) : new Array(DIM).fill(0));
      });
    } finally {
      snap.close();
    }
    // A segment not held in memory has no matrix (a single query reads vectors one by one).
    const cold = Snapshot.open(join(d, 'ns'), {});
    try {
      expect(cold.segments[0]!.vectorMatrix(DIM)).toBeNull();
    } finally {
      cold.close();
    }
  });

  it('a flipped byte in a vector fails the read by range (block checksum) and the whole read (file CRC)', () => {
    const orig = readFileSync(parquet);
    const at = loc.offsetOf(1500) + 5;
    const b = Buffer.from(orig);
    b[at] = b[at]! ^ 0x10;
    writeFileSync(parquet, b);
    try {
      for (const opts of [{ readWholeBytes: 0 }, { loadFully: true }, {}]) {
        expect(corruptCode(() => vectorsOf(opts, [1500]))).toBe('CORRUPT_SEGMENT');
      }
      // By range, a vector whose blocks are intact is still served (the damage is reported where it is).
      const far = loc.offsetOf(0) < at - 8192 ? 0 : 2999;
      expect(Math.abs(loc.offsetOf(far) - at)).toBeGreaterThan(8192);
      expect(vectorsOf({ readWholeBytes: 0 }, [far])[0]).not.toBeNull();
    } finally {
      writeFileSync(parquet, orig);
    }
  });

  it("an exact scan's vectors on a local file are read block by block: a damaged block between two of them is not read", () => {
    // Two wanted vectors ~28 KB apart with a flipped byte halfway between, in blocks neither touches. With
    // reads coalesced across gaps of up to 64 KiB (what an object store gets) the range read covered the
    // damaged block and failed; a local file coalesces only gaps of up to one 4 KiB block.
    const [a, hit, b] = [1000, 1150, 1300].map((o) => (docs[o]!.vector ? o : o + 1)) as [number, number, number];
    const mid = loc.offsetOf(hit) + 5;
    expect(mid - loc.offsetOf(a)).toBeGreaterThan(3 * 4096);
    expect(loc.offsetOf(b) - mid).toBeGreaterThan(3 * 4096);
    const orig = readFileSync(parquet);
    const buf = Buffer.from(orig);
    buf[mid] = buf[mid]! ^ 0x10;
    writeFileSync(parquet, buf);
    try {
      const snap = Snapshot.open(join(d, 'ns'), { readWholeBytes: 0 });
      try {
        const got = snap.segments[0]!.vectorsOf([b, a], DIM);
        expect(got.ords).toEqual([a, b]);
        expect(Array.from(got.rows.subarray(0, DIM))).toEqual(docs[a]!.vector!.map((x) => Math.fround(x)));
        expect(Array.from(got.rows.subarray(DIM))).toEqual(docs[b]!.vector!.map((x) => Math.fround(x)));
        // The damaged block itself is still refused.
        expect(corruptCode(() => snap.segments[0]!.vectorsOf([hit], DIM))).toBe('CORRUPT_SEGMENT');
      } finally {
        snap.close();
      }
    } finally {
      writeFileSync(parquet, orig);
    }
  });
});
