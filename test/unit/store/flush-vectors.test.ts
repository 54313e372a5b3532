/**
 * A flush holds its segment's vectors once (issue 11, import memory): the writer keeps pending vectors as
 * consecutive rows of one SharedArrayBuffer (VectorArena, writer.ts), packVectors hands those rows to the
 * IVF build as they are when the flush takes them in order, and the build only reads them (a cosine build
 * normalizes each row as it reads it). The files must be the same bytes as a build from separate vectors,
 * the documents' vectors must come out of a build unchanged, and a writer must lose no vector.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetSchema } from '../../../src/bench/dataset.js';
import { idKey } from '../../../src/model/document.js';
import type { Doc, Metric, Schema } from '../../../src/model/types.js';
import { buildIvf } from '../../../src/index/vector/ivf.js';
import { DataDir } from '../../../src/store/data-dir.js';
import { packVectors } from '../../../src/store/segment-builder.js';
import { Snapshot } from '../../../src/store/snapshot.js';
import { Writer } from '../../../src/store/writer.js';
import { mulberry32 } from '../../../src/util/prng.js';
import { cleanupTmp, cli, datasetFile, exportMap, ROOT, tmpDir } from '../../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'elacsym-flush-vectors-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  cleanupTmp();
});

const dim = 8;
const schema: Schema = {
  vector_dim: dim,
  vector_metric: 'cosine',
  attributes: { t: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } }, n: { type: 'integer', full_text: null } },
};

function vectors(n: number, seed: number, d = dim): Float32Array[] {
  const rand = mulberry32(seed);
  // Clustered and off the origin, so that normalizing (cosine) changes every value.
  return Array.from({ length: n }, (_, i) => Float32Array.from({ length: d }, (_v, j) => 3 + ((i * 7 + j) % 5) + rand() * 2 - 1));
}

/** Documents whose vectors are consecutive rows of one SharedArrayBuffer (with room after them, as the writer's arena has). */
function inSharedRows(vs: Float32Array[], d = dim): Doc[] {
  const rows = new Float32Array(new SharedArrayBuffer((vs.length + 3) * d * 4));
  return vs.map((v, i) => {
    const row = rows.subarray(i * d, (i + 1) * d);
    row.set(v);
    return { id: i, vector: row, attributes: { t: `word ${i % 17} other ${i % 5}`, n: i } };
  });
}

function separate(vs: Float32Array[]): Doc[] {
  return vs.map((v, i) => ({ id: i, vector: Float32Array.from(v), attributes: { t: `word ${i % 17} other ${i % 5}`, n: i } }));
}

/**
 * One segment built in a child process from the built modules (dist/, so a build of 5,000 vectors or more
 * runs the IVF worker), printing the SHA-256 of its two files and whether the documents' vectors came out
 * unchanged. A fresh process per build: parquet-wasm orders the footer's key-value metadata differently
 * from one file to the next within a process (the same in every fresh process).
 * `layout`: 'separate' (a Float32Array each), 'shared' (consecutive rows of one SharedArrayBuffer: handed
 * to the worker as they are) or 'shared-shuffled' (rows of one, out of order: a packed copy).
 */
const SCRIPT = `
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalSegmentStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/storage/segment-store.js')).href)};
import { writeSegment } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/store/segment-builder.js')).href)};
const [layout, nArg] = process.argv.slice(-2);
const n = Number(nArg), dim = 8;
const schema = ${JSON.stringify(schema)};
let x = 7;
const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 + 3;
const vs = Array.from({ length: n }, () => Float32Array.from({ length: dim }, rand));
const rows = new Float32Array(new SharedArrayBuffer((n + 3) * dim * 4));
const at = (i) => (layout === 'shared-shuffled' ? (i * 7919) % n : i);
const docs = vs.map((v, i) => {
  let vector = Float32Array.from(v);
  if (layout !== 'separate') {
    vector = rows.subarray(at(i) * dim, (at(i) + 1) * dim);
    vector.set(v);
  }
  return { id: i, vector, attributes: { t: 'word ' + (i % 17) + ' other ' + (i % 5), n: i } };
});
const dir = mkdtempSync(join(tmpdir(), 'elacsym-flush-vectors-'));
try {
  const f = await writeSegment(new LocalSegmentStore(dir), 3, docs, schema);
  const sha = (name) => createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  const unchanged = docs.every((d, i) => d.vector.every((y, j) => y === vs[i][j]));
  console.log(JSON.stringify({ parquet: sha(f.parquet), idx: sha(f.idx), unchanged }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
`;

/** Asynchronous (not spawnSync): a worker blocked for the child's whole run can trip vitest's RPC timeout under load. */
async function build(layout: 'separate' | 'shared' | 'shared-shuffled', n: number): Promise<{ parquet: string; idx: string; unchanged: boolean }> {
  const file = join(root, 'build.mjs');
  writeFileSync(file, SCRIPT);
  const r = await promisify(execFile)(process.execPath, [file, layout, String(n)], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as { parquet: string; idx: string; unchanged: boolean };
}

describe('packVectors', () => {
  it('hands consecutive rows of a SharedArrayBuffer over as they are, and copies anything else', () => {
    const vs = vectors(50, 1);
    const docs = inSharedRows(vs);
    const p = packVectors(docs, dim)!;
    expect(p.packed.buffer).toBe(docs[0]!.vector!.buffer);
    expect(p.packed.length).toBe(50 * dim);
    expect(Array.from(p.ords)).toEqual([...Array(50).keys()]);

    // Out of order (a repeated id's later version, a journal backlog): a copy, in the documents' order.
    const swapped = [docs[1]!, docs[0]!, ...docs.slice(2)];
    const q = packVectors(swapped, dim)!;
    expect(q.packed.buffer).not.toBe(docs[0]!.vector!.buffer);
    expect(q.packed.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(q.packed.subarray(0, dim))).toEqual(Array.from(vs[1]!));

    // A document without a vector between rows still allows the view (ords skip it); separate arrays do not.
    const gap = [docs[0]!, { id: 'x', vector: null, attributes: {} }, ...docs.slice(1)];
    const g = packVectors(gap, dim)!;
    expect(g.packed.buffer).toBe(docs[0]!.vector!.buffer);
    expect(Array.from(g.ords.subarray(0, 3))).toEqual([0, 2, 3]);
    const s = packVectors(separate(vs), dim)!;
    expect(Array.from(s.packed)).toEqual(vs.flatMap((v) => Array.from(v)));
  });
});

describe('segment build from shared vectors', () => {
  // In-process (from the TypeScript sources there is no worker file): the IVF is built inline. The
  // worker, which reads the same shared rows while the Parquet file is written, is the binary's: below.
  it('the binary: a cosine import of 6,000 documents (IVF built in the worker) exports every vector exactly as given', async () => {
    const dir = tmpDir('elacsym-flush-vectors-cli-');
    const file = datasetFile(dir, { docs: 6000, dim: 16, seed: 9 });
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(datasetSchema(16, 'cosine')));
    const data = join(dir, 'data');
    expect((await cli(['-d', data, 'init', 'ns', '--schema', schemaFile])).code).toBe(0);
    const imp = await cli(['-d', data, 'import', 'ns', file]);
    expect(imp.code, imp.stderr).toBe(0);
    const exported = await exportMap(data, 'ns');
    const given = readFileSync(file, 'utf8').split('\n').filter((l) => l);
    expect(exported.size).toBe(6000);
    // Export prints each float32 in its shortest form; the file has the float64 form of the same float32.
    for (const line of given) {
      const want = JSON.parse(line) as { id: number; vector: number[]; attributes: unknown };
      const got = JSON.parse(exported.get(JSON.stringify(want.id))!) as typeof want;
      expect(got.vector.map((x) => Math.fround(x))).toEqual(want.vector.map((x) => Math.fround(x)));
      expect(got.attributes).toEqual(want.attributes);
    }
  });

  // 6,000 rows: the IVF is built in its worker, reading the shared rows; 2,000: built inline.
  for (const n of [6000, 2000]) {
    it(`writes the same bytes from shared rows (as they are, or a packed copy) as from separate vectors, and leaves the vectors unchanged (${n} rows, cosine)`, async () => {
      const separate = await build('separate', n);
      const shared = await build('shared', n);
      const shuffled = await build('shared-shuffled', n);
      expect(separate.unchanged && shared.unchanged && shuffled.unchanged).toBe(true);
      expect(shared).toEqual(separate);
      // Another order of the rows in memory, the same documents: the same files.
      expect(shuffled).toEqual(separate);
    });
  }

  for (const metric of ['cosine', 'l2', 'dot'] as Metric[]) {
    it(`buildIvf (version 5, ${metric}) gives the same bytes whether it may normalize the input in place or not, and then leaves it unchanged`, () => {
      const n = 3000;
      const d = 40;
      const flat = new Float32Array(vectors(n, 3, d).flatMap((v) => Array.from(v)));
      const ords = Uint32Array.from({ length: n }, (_, i) => i);
      const kept = Float32Array.from(flat);
      const lent = buildIvf(kept, ords, d, metric, { seed: 5 });
      expect(Array.from(kept)).toEqual(Array.from(flat));
      const given = buildIvf(Float32Array.from(flat), ords, d, metric, { seed: 5, consumeVectors: true });
      expect(Buffer.from(lent).equals(Buffer.from(given))).toBe(true);
    });
  }
});

describe('writer pending vectors', () => {
  it('are kept exactly across batches that do not fit the arena, repeated ids and several flushes', async () => {
    const dd = DataDir.open(join(root, 'data'), { create: true });
    dd.initNamespace('w', schema);
    const dir = dd.namespacePath('w');
    const w = await Writer.open(dir, 'w', { segmentDocs: 1000 });
    const expected = new Map<number, Float32Array>();
    try {
      const vs = vectors(3200, 11);
      let next = 0;
      // Uneven batches: some end exactly at the arena's capacity (segmentDocs rows), then a flush of 600
      // (0: flush now) from the arena reused, one batch runs past it (its own block), and every 10th
      // document repeats an earlier id (that flush packs a copy).
      for (const size of [1, 2, 5, 40, 100, 300, 552, 600, 0, 700, 900]) {
        if (size === 0) {
          await w.flush();
          continue;
        }
        const docs: Doc[] = [];
        for (let k = 0; k < size; k++, next++) {
          const id = next % 10 === 9 && (next < 1000 || next >= 1600) ? next - 5 : next;
          docs.push({ id, vector: vs[next]!, attributes: { t: `x${id}`, n: id } });
          expected.set(id, vs[next]!);
        }
        w.appendUpserts(docs, new Map());
        if (w.pendingDocCount >= 1000) await w.flush();
      }
      await w.flush();
    } finally {
      w.close();
    }
    const snap = Snapshot.open(dir, { locate: [...expected.keys()].map((id) => idKey(id)) });
    try {
      expect(snap.pendingDocs.length).toBe(0);
      for (const [id, v] of expected) {
        const at = snap.located.get(idKey(id));
        expect(at, `id ${id}`).toBeTruthy();
        expect(Array.from(at!.segment.vectorOf(at!.ord, dim) ?? [])).toEqual(Array.from(v));
      }
    } finally {
      snap.close();
    }
  });
});

describe('the IVF worker under a library caller\'s Node options', () => {
  it('builds the same segment from a `node --stack-size=984 --input-type=module -e` script as from a file (the worker takes none of them)', async () => {
    // By default a worker takes the process's Node options: `--input-type` then made the IVF worker refuse
    // its own file (ERR_INPUT_TYPE_NOT_ALLOWED), and a V8 option passed on is refused for a worker.
    const n = 6000; // past WORKER_MIN_VECTORS: the IVF is built on its worker
    const fromFile = await build('separate', n);
    const r = await promisify(execFile)(process.execPath, ['--stack-size=984', '--input-type=module', '-e', SCRIPT, 'separate', String(n)], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual(fromFile);
  }, 120_000);
});
