/**
 * An import's parsed vectors are views of shared blocks (VectorSlab), not one Float32Array (and one C
 * allocation) each; the writer copies them into its arena, so the documents come out exactly as given
 * whatever the batches' and blocks' boundaries.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toDoc, VectorSlab, DocumentError } from '../../../src/model/document.js';
import type { AttrValue, Schema } from '../../../src/model/types.js';
import { mulberry32 } from '../../../src/util/prng.js';
import { cleanupTmp, cli, ndjson, tmpDir, writeNdjson } from '../../helpers/cli.js';

afterAll(cleanupTmp);

const schema = (dim: number): Schema => ({ vector_dim: dim, metric: 'l2', attributes: {} }) as unknown as Schema;

describe('VectorSlab', () => {
  it('hands out disjoint views of dim floats (zeroed in a new block), a new block every `rows` vectors', () => {
    const slab = new VectorSlab(3, 4);
    const views = Array.from({ length: 10 }, () => slab.next());
    expect(views.every((v) => v.length === 3 && v.every((x) => x === 0))).toBe(true);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(3); // 4 + 4 + 2
    views.forEach((v, i) => v.fill(i));
    views.forEach((v, i) => expect([...v]).toEqual([i, i, i])); // no view overlaps another
  });

  it('recycle hands the same rows out again from the first, and keeps at most 32 MiB of blocks', () => {
    const slab = new VectorSlab(3, 4);
    const first = Array.from({ length: 12 }, () => slab.next());
    slab.recycle();
    const again = Array.from({ length: 12 }, () => slab.next());
    again.forEach((v, i) => {
      expect(v.buffer).toBe(first[i]!.buffer);
      expect(v.byteOffset).toBe(first[i]!.byteOffset);
    });
    // Past the three blocks kept, a new one.
    expect(new Set([...first.map((v) => v.buffer), slab.next().buffer]).size).toBe(4);
    // Blocks of 4 MiB (1,024 rows of 1,024 floats): 12 handed out, 8 kept.
    const big = new VectorSlab(1024, 1024);
    const blocks = Array.from({ length: 12 * 1024 }, () => big.next()).filter((_, i) => i % 1024 === 0).map((v) => v.buffer);
    big.recycle();
    const after = Array.from({ length: 9 * 1024 }, () => big.next()).filter((_, i) => i % 1024 === 0).map((v) => v.buffer);
    expect(after.slice(0, 8)).toEqual(blocks.slice(0, 8));
    expect(after[8]).not.toBe(blocks[8]);
  });

  it('toDoc writes a valid vector into the slab, and a rejected one leaves the next document intact', () => {
    const slab = new VectorSlab(2, 1024);
    const fresh = new Map<string, AttrValue>();
    const docs = Array.from({ length: 3000 }, (_, i) => toDoc({ id: i, vector: [i, -i / 7] }, schema(2), fresh, slab));
    expect(new Set(docs.map((d) => d.vector!.buffer)).size).toBe(3);
    docs.forEach((d, i) => expect([...d.vector!]).toEqual([i, Math.fround(-i / 7)]));
    expect(() => toDoc({ id: 'x', vector: [1, 'a'] }, schema(2), fresh, slab)).toThrow(DocumentError);
    expect([...toDoc({ id: 'y', vector: [5, 6] }, schema(2), fresh, slab).vector!]).toEqual([5, 6]);
    // Without a slab (or for another dimension) a vector has storage of its own.
    expect(toDoc({ id: 'z', vector: [1, 2] }, schema(2), fresh).vector!.buffer.byteLength).toBe(8);
  });

  it('an import across batch and block boundaries exports every vector exactly, updates included', async () => {
    // 200 dimensions: 655 vectors a 512 KiB block, so every batch (700, or 1,000 with --bulk) spans two
    // blocks, and each batch after the first reuses the rows the one before it had (VectorSlab.recycle).
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '200', '--metric', 'l2'])).code).toBe(0);
    const rnd = mulberry32(7);
    const docs = Array.from({ length: 2600 }, (_, i) => ({ id: i % 2300, vector: Array.from({ length: 200 }, () => Math.fround(rnd() * 2 - 1)) }));
    const file = join(tmpDir(), 'in.ndjson');
    writeNdjson(file, docs);
    for (const extra of [['--batch-size', '700'], ['--bulk', '--batch-size', '1000']]) {
      const r = await cli(['-d', d, 'import', 'ns', file, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const last = new Map(docs.map((x) => [x.id, x.vector]));
      const out = ndjson((await cli(['-d', d, 'export', 'ns'])).stdout) as { id: number; vector: number[] }[];
      expect(out.length).toBe(2300);
      // export prints the shortest decimal that reads back as the same float32
      for (const x of out) expect(x.vector.map(Math.fround)).toEqual(last.get(x.id));
    }
  });
});
