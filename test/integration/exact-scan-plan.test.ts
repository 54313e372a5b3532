/**
 * The planner's choice between the exact scan of a filter's matching vectors and the filtered IVF ANN
 * (engine.ts exactScanMaxDocs): the exact scan's work (matches x dim) against the ANN's estimated work
 * (filteredScanRows x dim), so in memory the limit depends on the segment's size, not its dimension; read
 * one vector at a time (a single query of a large segment) each vector costs a verified block read, which
 * makes the exact scan relatively dearer, the more so at low dimension (ratio dim / COLD_READ_DIMS). Where
 * the plan is the exact scan, and where it is the ANN on this data, the answers are the brute-force ones
 * recomputed here in float64.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs, type GeneratedDoc } from '../../src/bench/dataset.js';
import { exactIds } from '../../src/bench/run.js';
import { filteredScanRows } from '../../src/index/vector/ivf.js';
import { COLD_READ_DIMS, EXACT_SCAN_MIN_DOCS, EXACT_SCAN_WORK_RATIO, exactScanMaxDocs, exactScanRatio } from '../../src/query/engine.js';
import { SEGMENT_BLOCK_BYTES } from '../../src/storage/segment-file.js';
import { cleanupTmp, cli, ndjson, tmpDir } from '../helpers/cli.js';

/** Bytes one vector read costs on the per-vector path (SegmentSource.vectorReadBytes). */
const readBytes = (dim: number) => SEGMENT_BLOCK_BYTES + 4 * dim - 1;

describe('exactScanMaxDocs', () => {
  it('is the largest match count whose exact scan costs at most ratio x the filtered ANN scan', () => {
    for (const n of [1, 900, 1500, 4000, 6091, 22_000, 50_000, 98_304, 300_000]) {
      for (const ratio of [EXACT_SCAN_WORK_RATIO, exactScanRatio(384, readBytes(384)), exactScanRatio(768, readBytes(768)), 0.2]) {
        let best = 0;
        for (let m = 1; m <= n; m++) if (m <= ratio * filteredScanRows(n, m / n)) best = m;
        const got = exactScanMaxDocs(n, ratio);
        expect(got, `n ${n} ratio ${ratio}`).toBe(Math.max(EXACT_SCAN_MIN_DOCS, best));
      }
    }
  });

  it('in memory depends on the segment size only; read per vector it grows with the dimension, never past in memory', () => {
    for (const dim of [64, 128, 384, 768, 1536]) expect(exactScanRatio(dim)).toBe(EXACT_SCAN_WORK_RATIO);
    expect(exactScanMaxDocs(22_000)).toBe(838);
    expect(exactScanMaxDocs(98_304)).toBe(1580);
    expect(exactScanRatio(128, readBytes(128))).toBe(128 / COLD_READ_DIMS);
    expect(exactScanRatio(768, readBytes(768))).toBe(768 / COLD_READ_DIMS);
    expect(exactScanRatio(2048, readBytes(2048))).toBe(EXACT_SCAN_WORK_RATIO);
    for (const dim of [64, 128, 384, 768, 1536, 4096]) expect(exactScanRatio(dim, readBytes(dim))).toBeLessThanOrEqual(EXACT_SCAN_WORK_RATIO);
    // The cases measured (docs/performance.md session 21), where the exact scan read per vector was the
    // slower plan: 965 matches in a 98,304-row segment at 128-d, 668 in 22,000 rows at 768-d.
    expect(exactScanMaxDocs(98_304, exactScanRatio(128, readBytes(128)))).toBe(335);
    expect(exactScanMaxDocs(22_000, exactScanRatio(768, readBytes(768)))).toBe(515);
    // The issue before: a 10% filter on a ~22k-row segment of 768-d vectors (2,200 matches) was scanned
    // exactly (<= 4,096), ~4x slower than the ANN in memory and ~2.5x read per vector.
    expect(2200).toBeGreaterThan(exactScanMaxDocs(22_000, exactScanRatio(768, readBytes(768))));
    // ... while a 1% filter (220) is still scanned exactly, as are tiny segments' matches
    expect(220).toBeLessThanOrEqual(exactScanMaxDocs(22_000));
    expect(220).toBeLessThanOrEqual(exactScanMaxDocs(22_000, exactScanRatio(768, readBytes(768))));
    expect(exactScanMaxDocs(1500)).toBe(EXACT_SCAN_MIN_DOCS);
  });
});

// One segment of N documents at 768 dimensions, and the same documents' first 128 components as another
// namespace. bucket < 8 matches ~320 (the count is checked): above every limit at N = 4000 (256, in memory
// and read per vector at 128 and 768 dimensions).
const N = 4000;
const FILTER = { field: 'bucket', op: 'lt', value: 8 };
const SMALL = { field: 'bucket', op: 'lt', value: 5 };
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
const docs768: GeneratedDoc[] = [...generateDocs({ docs: N, dim: 768, seed: 11 })].map((d) => ({ ...d, vector: d.vector!.map(round4) }));
const docs128: GeneratedDoc[] = docs768.map((d) => ({ ...d, vector: d.vector!.slice(0, 128) }));
const queries = [3, 1234, 3999].map((i) => docs768[i]!.vector!.map((x, j) => round4(x + 0.05 * Math.sin(i + j))));
const matching = (f: { value: number }) => (d: GeneratedDoc) => d.attributes.bucket < f.value;

let dir: string;
beforeAll(async () => {
  dir = join(tmpDir(), 'data');
  for (const [ns, dim, docs] of [['d768', 768, docs768], ['d128', 128, docs128]] as const) {
    expect((await cli(['-d', dir, 'init', ns, '--dim', String(dim)])).code).toBe(0);
    const file = join(dir, `${ns}.ndjson`);
    writeFileSync(file, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    const r = await cli(['-d', dir, '-q', 'import', ns, file]);
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(cleanupTmp);

interface Answer {
  ids: number[];
  plan: string;
  exact_scan: { ratio: number; max_docs: number };
  matches: number;
}
const answer = (o: { results: { id: number }[]; explain: { sources: { vector: string; exact_scan: Answer['exact_scan']; matches: number }[] } }): Answer => {
  expect(o.explain.sources).toHaveLength(1); // one segment, no journal
  const s = o.explain.sources[0]!;
  return { ids: o.results.map((r) => r.id), plan: s.vector, exact_scan: s.exact_scan, matches: s.matches };
};

/** A single query: the segment's vectors are read one by one (the Parquet file is > 4 MiB at 768-d). */
async function single(ns: string, q: number[], filter: object): Promise<Answer> {
  const v = ns === 'd128' ? q.slice(0, 128) : q;
  const r = await cli(['-d', dir, 'query', ns, '--vector', JSON.stringify(v), '--filter', JSON.stringify(filter), '-k', '10', '--include-attributes', '', '--explain', '--format', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return answer(JSON.parse(r.stdout));
}

/** The same queries through --batch: the segment is held in memory. */
async function batch(ns: string, filter: object): Promise<Answer[]> {
  const file = join(dir, `batch-${ns}-${JSON.stringify(filter).length}-${Math.random()}.ndjson`);
  const v = (q: number[]) => (ns === 'd128' ? q.slice(0, 128) : q);
  writeFileSync(file, queries.map((q) => JSON.stringify({ vector: v(q), filter, top_k: 10, include_attributes: [], explain: true })).join('\n') + '\n');
  const r = await cli(['-d', dir, 'query', ns, '--batch', file]);
  expect(r.code, r.stderr).toBe(0);
  return ndjson(r.stdout).map((o) => answer(o as never));
}

const truth = (docs: GeneratedDoc[], q: number[], filter: { value: number }) => exactIds(docs, q.slice(0, docs[0]!.vector!.length), 10, 'cosine', matching(filter));

describe('the plan of a filtered vector query, per segment', () => {
  it('the filters match counts in the bands the test relies on', () => {
    const count = docs768.filter(matching(FILTER)).length;
    expect(count).toBeGreaterThan(EXACT_SCAN_MIN_DOCS);
    expect(exactScanMaxDocs(N, exactScanRatio(768, readBytes(768)))).toBe(EXACT_SCAN_MIN_DOCS);
    expect(exactScanMaxDocs(N)).toBe(EXACT_SCAN_MIN_DOCS);
    expect(exactScanMaxDocs(N, exactScanRatio(128, readBytes(128)))).toBe(EXACT_SCAN_MIN_DOCS);
    expect(docs768.filter(matching(SMALL)).length).toBeLessThanOrEqual(EXACT_SCAN_MIN_DOCS);
  });

  it('768-d read per vector: the filtered ANN, with the float64 brute-force answers', async () => {
    for (const q of queries) {
      const a = await single('d768', q, FILTER);
      expect(a.plan).toBe('filtered-ann');
      expect(a.exact_scan).toEqual({ ratio: Math.round((768 / COLD_READ_DIMS) * 1e6) / 1e6, max_docs: EXACT_SCAN_MIN_DOCS });
      expect(a.matches).toBeGreaterThan(a.exact_scan.max_docs);
      expect(a.ids).toEqual(truth(docs768, q, FILTER));
    }
  });

  it('768-d in memory (--batch): the same filter takes the filtered ANN, and the same answers here', async () => {
    for (const [i, a] of (await batch('d768', FILTER)).entries()) {
      expect(a.plan).toBe('filtered-ann');
      expect(a.exact_scan).toEqual({ ratio: EXACT_SCAN_WORK_RATIO, max_docs: EXACT_SCAN_MIN_DOCS });
      expect(a.ids).toEqual(truth(docs768, queries[i]!, FILTER));
    }
  });

  it('128-d read per vector: the same match count takes the filtered ANN', async () => {
    const a = await single('d128', queries[0]!, FILTER);
    expect(a.plan).toBe('filtered-ann');
    expect(a.exact_scan).toEqual({ ratio: Math.round((128 / COLD_READ_DIMS) * 1e6) / 1e6, max_docs: EXACT_SCAN_MIN_DOCS });
    expect(a.ids).toEqual(truth(docs128, queries[0]!, FILTER));
  });

  it('a filter matching at most min_docs is scanned exactly everywhere, with the brute-force answers', async () => {
    for (const ns of ['d768', 'd128'] as const) {
      const docs = ns === 'd768' ? docs768 : docs128;
      const a = await single(ns, queries[1]!, SMALL);
      expect(a.plan).toBe('exact-scan');
      expect(a.ids).toEqual(truth(docs, queries[1]!, SMALL));
      for (const [i, b] of (await batch(ns, SMALL)).entries()) {
        expect(b.plan).toBe('exact-scan');
        expect(b.ids).toEqual(truth(docs, queries[i]!, SMALL));
      }
    }
  });
});
