/**
 * `query --batch --threads N`: threads that each search some of a vector query's segments
 * (store/vector-peer.ts) give the answers of one thread, for every kind of vector request (plain,
 * filtered, exact, nprobe, explain, a k above the segment sizes), over dead rows and a pending journal; a
 * damaged segment a peer thread searches fails its lines with CORRUPT_SEGMENT and exit 5 as on one thread.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { SegmentFile, StringTable } from '../../src/storage/segment-file.js';
import { VectorLocator } from '../../src/storage/vector-locator.js';
import { MemorySource } from '../../src/util/bytes.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 16;
const PER_SEGMENT = 2500;
const docs = [...generateDocs({ docs: 3 * PER_SEGMENT + 50, dim: DIM, seed: 11 })];
let d = '';

/**
 * A batch's answers without their timings, and without the candidates each IVF search re-scored (--explain):
 * a thread's segments know fewer other segments' k-th scores, so they may re-score more (a superset, which
 * can only add true neighbours; on this well-clustered data the results are the same).
 */
function answers(stdout: string): unknown[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => {
      const r = JSON.parse(l) as { took_ms?: number; explain?: { sources?: { candidates?: number }[] } };
      delete r.took_ms;
      for (const s of r.explain?.sources ?? []) delete s.candidates;
      return r;
    });
}

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM), '--full-text', 'title,body'])).code).toBe(0);
  // Three segments (one per import), then deletes and updates that leave dead rows in them, and 50
  // documents still in the journal (--no-flush).
  for (let s = 0; s < 3; s++) {
    const part = docs.slice(s * PER_SEGMENT, (s + 1) * PER_SEGMENT);
    const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: part.map((x) => JSON.stringify(x)).join('\n') });
    expect(imp.code, imp.stderr).toBe(0);
  }
  const del = await cli(['-d', d, 'delete', 'ns', '--filter', JSON.stringify({ field: 'bucket', op: 'eq', value: 7 })]);
  expect(del.code, del.stderr).toBe(0);
  const tail = docs.slice(3 * PER_SEGMENT).map((x, i) => (i < 25 ? { ...x, id: docs[i * 97]!.id } : x));
  const imp = await cli(['-d', d, 'import', 'ns', '-', '--no-flush'], { input: tail.map((x) => JSON.stringify(x)).join('\n') });
  expect(imp.code, imp.stderr).toBe(0);
  expect(readdirSync(join(d, 'ns', 'segments')).filter((f) => f.endsWith('.idx'))).toHaveLength(3);
}, 180_000);

const near = (i: number) => docs[i]!.vector!.map((x, j) => x + ((j * 7 + i) % 5) * 0.01);

describe('query --batch --threads', () => {
  it('answers every kind of vector request exactly as one thread does', async () => {
    const lines: unknown[] = [];
    for (let i = 0; i < 24; i++) {
      const vector = near((i * 331) % docs.length);
      lines.push({ vector, top_k: 10 });
      lines.push({ vector, top_k: 5, filter: { field: 'bucket', op: 'lt', value: [1, 10, 50][i % 3] }, include_attributes: ['bucket'] });
    }
    const v = near(5);
    lines.push({ vector: v, top_k: 10, exact: true });
    lines.push({ vector: v, top_k: 10, nprobe: 2 });
    lines.push({ vector: v, top_k: 8000 }); // more than any segment holds
    lines.push({ vector: v, top_k: 10, explain: true, filter: { field: 'bucket', op: 'gte', value: 90 } });
    lines.push({ vector: v, top_k: 10, explain: true });
    lines.push({ vector: v, full_text: { query: 'water' }, top_k: 5 }); // hybrid: searched on this thread
    lines.push({ vector: [1, 2, 3], top_k: 3 }); // a bad request: the same error line
    const input = lines.map((l) => JSON.stringify(l)).join('\n');
    const one = await cli(['-d', d, 'query', 'ns', '--batch', '-', '--threads', '1'], { input });
    expect(one.code, one.stderr).toBe(2); // the bad request
    const first = answers(one.stdout);
    expect(first).toHaveLength(lines.length);
    // The explain plans name every segment, and the dead rows and the journal are in them.
    const plan = (first[first.length - 3] as { explain: { sources: { source: string; live: number; docs: number }[] } }).explain.sources;
    expect(plan.length).toBe(4);
    expect(plan.some((s) => s.live < s.docs)).toBe(true);
    expect((first[first.length - 5] as { results: unknown[] }).results.length).toBeGreaterThan(7000);
    for (const threads of ['2', '3', '8']) {
      const many = await cli(['-d', d, 'query', 'ns', '--batch', '-', '--threads', threads], { input });
      expect(many.code, many.stderr).toBe(2);
      expect(answers(many.stdout)).toEqual(first);
    }
  }, 120_000);

  it('a damaged segment searched by another thread fails its lines with CORRUPT_SEGMENT and exit 5, as on one thread', async () => {
    // A flipped byte in a vector of every segment (vectors are stored once, in the Parquet files): whichever
    // thread searches a segment meets the damage when it reads that segment's vectors.
    const restore: (() => void)[] = [];
    for (const f of readdirSync(join(d, 'ns', 'segments')).filter((x) => x.endsWith('.idx'))) {
      const idx = join(d, 'ns', 'segments', f);
      const file = SegmentFile.open(new MemorySource(readFileSync(idx)), idx);
      const n = StringTable.open(file.source('ids')!, idx).length;
      const at = VectorLocator.open(file.readVerified('vecloc')!, n, DIM).offsetOf(Math.floor(n / 2));
      const parquet = idx.replace(/\.idx$/, '.parquet');
      const orig = readFileSync(parquet);
      const bad = Buffer.from(orig);
      bad[at + 2] ^= 0x5a;
      writeFileSync(parquet, bad);
      restore.push(() => writeFileSync(parquet, orig));
    }
    try {
      const input = [JSON.stringify({ vector: near(1), top_k: 3 }), JSON.stringify({ full_text: { query: 'water' }, top_k: 1 }), JSON.stringify({ vector: near(2), top_k: 3 })].join('\n');
      for (const threads of ['1', '3']) {
        const q = await cli(['-d', d, 'query', 'ns', '--batch', '-', '--threads', threads], { input });
        expect(q.code, q.stderr).toBe(5);
        const out = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string; message: string }; results?: unknown[] });
        expect(out[0]!.error?.code, threads).toBe('CORRUPT_SEGMENT');
        expect(out[0]!.error?.message).toMatch(/seg-\d+\.parquet/);
        expect(out[1]!.results).toHaveLength(1); // text only: no vector read
        expect(out[2]!.error?.code, threads).toBe('CORRUPT_SEGMENT');
      }
    } finally {
      for (const r of restore) r();
    }
    const ok = await cli(['-d', d, 'query', 'ns', '--batch', '-', '--threads', '3'], { input: JSON.stringify({ vector: near(1), top_k: 3 }) });
    expect(ok.code, ok.stderr).toBe(0);
  }, 120_000);

  it('--threads is refused without --batch, and must be a positive integer', async () => {
    const single = await cli(['-d', d, 'query', 'ns', '--vector', JSON.stringify(near(1)), '--threads', '2']);
    expect(single.code).toBe(2);
    expect(single.stderr).toContain('--threads applies to --batch only');
    const zero = await cli(['-d', d, 'query', 'ns', '--batch', '-', '--threads', '0'], { input: '' });
    expect(zero.code).toBe(2);
  });
});
