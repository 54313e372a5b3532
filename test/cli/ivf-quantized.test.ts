/**
 * The store writes IVF version 5 (4-bit codes, no vector copy, no ord index) and answers vector queries with exact
 * scores: every returned score equals the brute-force score of that document over the imported vectors,
 * for every metric, unfiltered and filtered, and recall@10 stays >= 0.95.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { SegmentFile } from '../../src/storage/segment-file.js';
import { MemorySource } from '../../src/util/bytes.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';
import { bruteScore as score } from '../helpers/brute-force.js';

afterAll(cleanupTmp);

const DIM = 16;
const docs = [...generateDocs({ docs: 3000, dim: DIM, seed: 9 })].filter((x) => x.vector);
const queries = [...generateDocs({ docs: 8, dim: DIM, seed: 99 })].map((x) => x.vector!).filter(Boolean);

describe.each(['cosine', 'l2', 'dot'])('vector queries over IVF version 5 (%s)', (metric) => {
  it('returns exact scores and recall@10 >= 0.95, with and without a filter', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM), '--metric', metric])).code).toBe(0);
    const imp = await cli(['-d', d, 'import', 'ns', '-'], { input: docs.map((x) => JSON.stringify(x)).join('\n') });
    expect(imp.code, imp.stderr).toBe(0);
    const idx = readdirSync(join(d, 'ns', 'segments')).filter((f) => f.endsWith('.idx'));
    expect(idx.length).toBeGreaterThan(0);
    for (const f of idx) {
      const path = join(d, 'ns', 'segments', f);
      const ivf = SegmentFile.open(new MemorySource(readFileSync(path)), path).readVerified('ivf')!;
      expect(new DataView(ivf.buffer, ivf.byteOffset).getUint32(4, true)).toBe(5);
    }
    const byId = new Map(docs.map((x) => [x.id, x.vector!]));
    let hit = 0;
    let total = 0;
    for (const q of queries) {
      for (const filter of [undefined, { field: 'bucket', op: 'lt', value: 10 }]) {
        const args = ['-d', d, 'query', 'ns', '--vector', JSON.stringify(q), '--top-k', '10', '--format', 'json', '--include-attributes', ''];
        if (filter) args.push('--filter', JSON.stringify(filter));
        const r = await cli(args);
        expect(r.code, r.stderr).toBe(0);
        const got = (JSON.parse(r.stdout) as { results: Array<{ id: number; score: number }> }).results;
        for (const h of got) expect(Math.abs(h.score - score(metric, q, byId.get(h.id)!))).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(h.score)));
        const pool = docs.filter((x) => !filter || (x.attributes as { bucket: number }).bucket < 10);
        const want = new Set(pool.map((x) => [score(metric, q, x.vector!), x.id] as const).sort((a, b) => b[0] - a[0]).slice(0, 10).map((x) => x[1]));
        for (const h of got) if (want.has(h.id)) hit++;
        total += want.size;
      }
    }
    expect(hit / total).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
