import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { compareBaseline, exactIds, exactTruth, recallAtK } from '../../src/bench/run.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

describe('bench', () => {
  it('--json reports every figure with the documented shape', async () => {
    const r = (await cli(['bench', '--docs', '2000', '--dim', '16', '--queries', '30', '--json']));
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.dataset).toMatchObject({ docs: 2000, dim: 16, queries: 30, top_k: 10, noise: 0.35 });
    expect(rep.import.mode).toBe('journal');
    expect(rep.import.docs_per_s).toBeGreaterThan(0);
    expect(rep.import.parse_floor_docs_per_s).toBeGreaterThan(0);
    expect(rep.import.peak_rss_mb).toBeGreaterThan(10);
    for (const k of ['vector', 'text', 'hybrid', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct']) {
      expect(rep.latency_ms[k].n).toBe(30);
      expect(rep.latency_ms[k].p50).toBeLessThanOrEqual(rep.latency_ms[k].p99);
      // the same 30 requests of each kind through one real `query --batch` process
      expect(rep.batch_process.latency_ms[k].n).toBe(30);
      expect(rep.batch_process.latency_ms[k].p50).toBeGreaterThan(0);
      expect(rep.batch_process.latency_ms[k].p50).toBeLessThanOrEqual(rep.batch_process.latency_ms[k].p99);
      // ... and once more with --warm-up
      expect(rep.batch_process.warm_up.latency_ms[k].n).toBe(30);
      expect(rep.batch_process.warm_up.latency_ms[k].p50).toBeGreaterThan(0);
    }
    expect(rep.batch_process.warm_up.rounds).toBe(30);
    expect(rep.batch_process.threads).toBe(1);
    expect(rep.batch_process.warm_up.wall_s).toBeGreaterThan(0);
    expect(rep.batch_process.wall_s).toBeGreaterThan(0);
    // 6 kinds x 30 requests in the reported wall time (wall_s is rounded to ms)
    expect(Math.abs(rep.batch_process.queries_per_s - 180 / rep.batch_process.wall_s)).toBeLessThanOrEqual(0.01 * rep.batch_process.queries_per_s + 1);
    for (const k of ['vector', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct']) {
      expect(rep.recall_at_k[k]).toBeGreaterThan(0);
      expect(rep.recall_at_k[k]).toBeLessThanOrEqual(1);
    }
    expect(rep.cold_query_ms.elacsym).toBeGreaterThan(0);
    expect(rep.cold_query_ms.node_e_0).toBeGreaterThan(0);
    expect(rep.cold_query_ms.all_attributes).toBeGreaterThan(0);
    expect(rep.cold_query_ms.all_attributes_ratio).toBeCloseTo(rep.cold_query_ms.all_attributes / rep.cold_query_ms.node_e_0, 2);
    const bare = rep.cold_query_ms.without_extra_ca_certs;
    if (process.env.NODE_EXTRA_CA_CERTS) {
      expect(bare!.node_e_0).toBeGreaterThan(0);
      expect(bare!.ratio).toBeCloseTo(bare!.elacsym / bare!.node_e_0, 2);
    } else expect(bare).toBeNull();
    for (const k of ['filtered_1pct', 'filtered_10pct', 'filtered_50pct'] as const) {
      expect(rep.cold_query_ms[k]).toBeGreaterThan(0);
      expect(rep.cold_query_ms[`${k}_ratio`]).toBeCloseTo(rep.cold_query_ms[k] / rep.cold_query_ms.node_e_0, 2);
    }
    expect(rep.disk.bytes_per_doc).toBeGreaterThan(0);
    expect(rep.compaction).toBeUndefined(); // only with --compact
    // a baseline that is far better makes the gate fail with the regression status
    const base = join(tmpDir(), 'base.json');
    const better = structuredClone(rep);
    for (const k of Object.keys(better.latency_ms)) better.latency_ms[k].p99 = rep.latency_ms[k].p99 / 100;
    writeFileSync(base, JSON.stringify(better));
    expect(compareBaseline(rep, better, 20).length).toBeGreaterThan(0);
    expect(compareBaseline(rep, rep, 20)).toEqual([]);
  });

  it('--baseline measures what the baseline measured: options left out take its dataset and modes, options that differ are refused before anything runs', async () => {
    const dir = tmpDir();
    const base = join(dir, 'base.json');
    // A hand-made report of another dataset than the defaults (20000 x 64, cosine, 1000 queries, k 10).
    const report = {
      dataset: { docs: 300, dim: 8, metric: 'l2', seed: 7, noise: 0.5, queries: 4, top_k: 3, text: 'x' },
      import: { mode: 'journal', docs_per_s: 1 },
      latency_ms: {},
      recall_at_k: {},
      batch_process: { threads: 1 },
    };
    writeFileSync(base, JSON.stringify(report));
    const r = await cli(['bench', '--baseline', base, '--max-regression', '1000000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.dataset).toMatchObject({ docs: 300, dim: 8, metric: 'l2', seed: 7, noise: 0.5, queries: 4, top_k: 3 });
    expect(rep.latency_ms.vector.n).toBe(4);
    expect(rep.import.mode).toBe('journal');
    // given and different: USAGE, each difference named (--dim 8 agrees: not named), nothing generated
    const bad = await cli(['bench', '--baseline', base, '--docs', '400', '--metric', 'cosine', '--dim', '8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--docs 400 (the baseline: 300)');
    expect(bad.stderr).toContain('--metric cosine (the baseline: l2)');
    expect(bad.stderr).not.toContain('--dim');
    expect(bad.stderr).not.toContain('bench: generate');
    const bulk = await cli(['--json', 'bench', '--baseline', base, '--bulk']);
    expect(bulk.code).toBe(2);
    expect(JSON.parse(bulk.stderr).error.message).toContain('--bulk true (the baseline: not given)');
    // a file that is not a bench report
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ results: [] }));
    const notReport = await cli(['bench', '--baseline', other]);
    expect(notReport.code).toBe(2);
    expect(notReport.stderr).toContain('is not an `elacsym bench --json` report');
  });

  it('--compact compacts the imported segments through the real command and measures the batch processes again', async () => {
    // a small segment byte bound: the import leaves several segments for the compaction to merge
    // ... imported with --bulk (whose segments are cut by the same byte bound)
    // ... and its batch processes search each vector query's segments on two threads (--threads 2)
    const r = await cli(['bench', '--docs', '3000', '--dim', '16', '--queries', '20', '--compact', '--bulk', '--threads', '2', '--json'], { env: { ELACSYM_SEGMENT_BYTES: '600000' } });
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.import.mode).toBe('bulk');
    expect(rep.import.segments).toBeGreaterThan(1);
    expect(rep.batch_process.threads).toBe(2);
    expect(rep.compaction.batch_process.threads).toBe(2);
    expect(rep.import.durable_s).toBeLessThanOrEqual(rep.import.elapsed_s);
    const c = rep.compaction;
    expect(c.segments_before).toBe(rep.import.segments);
    expect(c.segments_after).toBeLessThan(c.segments_before);
    expect(c.elapsed_s).toBeGreaterThan(0);
    expect(c.peak_rss_mb).toBeGreaterThan(20);
    expect(c.disk.bytes).toBeGreaterThan(0);
    expect(c.disk.bytes_per_doc).toBe(Math.round(c.disk.bytes / 3000));
    for (const k of ['vector', 'text', 'hybrid', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct']) {
      expect(c.batch_process.latency_ms[k].n).toBe(20);
      expect(c.batch_process.warm_up.latency_ms[k].n).toBe(20);
      expect(c.batch_process.warm_up.latency_ms[k].p50).toBeLessThanOrEqual(c.batch_process.warm_up.latency_ms[k].p99);
    }
    // recall from the compacted namespace's own answers, against the same exact truth
    for (const k of ['vector', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct']) {
      expect(c.recall_at_k[k]).toBeGreaterThan(0.8);
      expect(c.recall_at_k[k]).toBeLessThanOrEqual(1);
    }
  });

  it('--noise spreads the documents around their centres (0: each document is its centre); a bad value is a usage error', async () => {
    const distinct = (noise: number) => new Set([...generateDocs({ docs: 400, dim: 8, seed: 3, noise })].map((d) => JSON.stringify(d.vector))).size;
    expect(distinct(0)).toBeLessThanOrEqual(7); // round(sqrt(400) / 3) = 7 centres
    expect(distinct(2)).toBe(400);
    // the mean distance of a document to its nearest other document grows with the spread
    const nn = (noise: number) => {
      const v = [...generateDocs({ docs: 300, dim: 8, seed: 3, noise })].map((d) => d.vector!);
      return v.reduce((sum, a, i) => sum + Math.min(...v.map((b, j) => (i === j ? Infinity : Math.hypot(...a.map((x, k) => x - b[k]!))))), 0) / v.length;
    };
    expect(nn(2)).toBeGreaterThan(2 * nn(0.35));
    for (const v of ['-1', '1e17', '101']) {
      const bad = await cli(['--json', 'bench', '--noise', v]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--noise');
    }
  });

  it('recall is computed against exact brute force, not assumed', async () => {
    const docs = [...generateDocs({ docs: 300, dim: 4, seed: 1 })];
    const q = docs[0]!.vector!;
    const truth = exactIds(docs, q, 5, 'l2');
    // the nearest neighbour of a document's own vector under l2 is itself
    expect(truth[0]).toBe(0);
    const naive = docs
      .map((d) => [d.vector!.reduce((a, x, i) => a - (x - q[i]!) ** 2, 0), d.id] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, 5)
      .map((x) => x[1]);
    expect(truth).toEqual(naive);
    // the one-pass, many-query, many-filter version agrees with a naive filtered sort (cosine, ties by id)
    const qs = [docs[3]!.vector!, docs[7]!.vector!.map((x) => -x)];
    const odd = (d: { id: number }) => d.id % 2 === 1;
    const multi = exactTruth(docs, qs, 7, 'cosine', { all: () => true, odd });
    const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
    for (const [name, allow] of [['all', () => true], ['odd', odd]] as const) {
      qs.forEach((q, j) => {
        const naive2 = docs
          .filter(allow)
          .map((d) => [cos(q, d.vector!), d.id] as const)
          .sort((a, b) => b[0] - a[0] || a[1] - b[1])
          .slice(0, 7)
          .map((x) => x[1]);
        expect(multi.get(name)![j]).toEqual(naive2);
      });
    }
    expect(recallAtK([truth], [truth])).toBe(1);
    expect(recallAtK([truth], [truth.slice(0, 2)])).toBeCloseTo(0.4);
    expect(recallAtK([truth], [[]])).toBe(0);
  });
});
