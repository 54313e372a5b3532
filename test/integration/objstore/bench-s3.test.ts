/**
 * `elacsym bench -d s3://...` through the real binary against the real S3-compatible server (radosgw): one
 * run reports the local figures and an `object_store` section (import, first query with an empty cache,
 * warm batch, bytes stored), and the namespace it wrote is gone afterwards. Against an endpoint nothing
 * listens on, it fails with STORE_UNAVAILABLE before generating anything. No timing thresholds.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, tmpDir } from '../../helpers/cli.js';
import { ERRORS } from '../../../src/errors.js';
import { freshS3Store, type S3Env } from '../../helpers/s3.js';
import type { S3ObjectStore } from '../../../src/objstore/s3.js';
import { type BenchReport, compareBaseline } from '../../../src/bench/run.js';

afterAll(cleanupTmp);

/** A local TCP port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('bench on an s3:// data directory', () => {
  let env: S3Env;
  let store: S3ObjectStore;
  let bucket: string;
  let cache: string;

  beforeAll(async () => {
    const s = await freshS3Store('bench');
    env = s.env;
    store = s.store;
    bucket = s.bucket;
    cache = join(tmpDir(), 'cache');
  }, 300_000);

  it('reports the object_store section next to the local figures and deletes its namespace afterwards', async () => {
    const r = await cli(['-d', `s3://${bucket}/runs`, 'bench', '--docs', '300', '--dim', '8', '--queries', '5', '--json'], { env: { ...env, ELACSYM_CACHE_DIR: cache } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as BenchReport;
    // the local part as always
    expect(report.dataset).toMatchObject({ docs: 300, dim: 8, queries: 5 });
    expect(report.import.docs_per_s).toBeGreaterThan(0);
    for (const k of ['vector', 'filtered_1pct', 'filtered_10pct', 'filtered_50pct'] as const) {
      expect(report.recall_at_k[k]).toBeGreaterThanOrEqual(0);
      expect(report.recall_at_k[k]).toBeLessThanOrEqual(1);
    }
    // the object store
    const s = report.object_store!;
    expect(s).toBeDefined();
    expect(s.url).toBe(`s3://${bucket}/runs`);
    expect(s.namespace).toMatch(/^bench-[0-9a-f]{8}$/);
    expect(s.kept).toBe(false);
    expect(s.import.docs_per_s).toBeGreaterThan(0);
    expect(s.import.local_docs_per_s).toBeGreaterThan(0);
    expect(s.import.ratio_to_local).toBeGreaterThan(0);
    expect(s.import.peak_rss_mb).toBeGreaterThan(0);
    expect(s.import.objects_uploaded).toBeGreaterThan(0);
    expect(s.first_query_ms.median).toBeGreaterThan(0);
    expect(s.first_query_ms.max).toBeGreaterThanOrEqual(s.first_query_ms.median);
    expect(s.first_query_ms.runs).toBeGreaterThan(0);
    expect(s.warm_batch.queries).toBe(5);
    expect(s.warm_batch.p50_ms).toBeGreaterThan(0);
    expect(s.warm_batch.p99_ms).toBeGreaterThanOrEqual(s.warm_batch.p50_ms);
    expect(s.warm_batch.local_p50_ms).toBeGreaterThan(0);
    expect(s.stored.objects).toBeGreaterThan(0);
    expect(s.stored.bytes).toBeGreaterThan(0);
    // --baseline: the section is compared only when both reports have one
    expect(compareBaseline(report, report, 20)).toEqual([]);
    const { object_store: _, ...local } = structuredClone(report);
    expect(compareBaseline(report, local, 20)).toEqual([]);
    expect(compareBaseline(local, report, 20)).toEqual([]);
    const better = structuredClone(report);
    better.object_store!.warm_batch.p99_ms = s.warm_batch.p99_ms / 100;
    expect(compareBaseline(report, better, 20)).toEqual([expect.stringContaining('object store warm p99')]);
    // nothing of the run is left on the store
    expect(await store.list(`runs/${s.namespace}/`)).toEqual([]);
    expect(await store.list('')).toEqual([]);
  }, 300_000);

  it('fails with STORE_UNAVAILABLE before generating anything when nothing listens at the endpoint', async () => {
    const port = await closedPort();
    const r = await cli(['-d', `s3://${bucket}/runs`, 'bench', '--docs', '300', '--dim', '8', '--queries', '5', '--s3-endpoint', `http://127.0.0.1:${port}`], {
      env: { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY, AWS_REGION: env.AWS_REGION, ELACSYM_CACHE_DIR: cache },
    });
    expect(errorCode(r.stderr), r.stderr).toBe('STORE_UNAVAILABLE');
    expect(r.code).toBe(ERRORS.STORE_UNAVAILABLE.exit);
    // the store is checked first: no dataset was generated, no local import ran
    expect(r.stderr).not.toMatch(/bench: (generate|import)/);
    expect(r.stdout).toBe('');
  }, 120_000);
});
