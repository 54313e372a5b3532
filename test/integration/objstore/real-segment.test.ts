/**
 * A real segment on object storage: a namespace built by the real binary on a local disk, its segment
 * files put into an ObjectSegmentStore on radosgw, and the index file opened with the engine's own reader
 * (SegmentFile) over the object, by range, through a cache of small blocks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ObjectSegmentStore } from '../../../src/storage/object-segment-store.js';
import { SegmentFile } from '../../../src/storage/segment-file.js';
import { cleanupTmp, cli, tmpDir } from '../../helpers/cli.js';
import { freshS3Store, storeOptions } from '../../helpers/s3.js';

afterAll(() => cleanupTmp());

it('a segment built by elacsym import, stored on radosgw, opens with the engine reader and every section verifies', async () => {
  const data = join(tmpDir('elacsym-realseg-'), 'data');
  expect((await cli(['-d', data, 'init', 'w', '--schema', 'fixtures/quickstart/schema.json'])).code).toBe(0);
  expect((await cli(['-d', data, 'import', 'w', 'fixtures/quickstart/docs.ndjson'])).code).toBe(0);
  const segDir = join(data, 'w', 'segments');
  const names = readdirSync(segDir).filter((n) => /^seg-\d+\.(idx|parquet)$/.test(n));
  expect(names.some((n) => n.endsWith('.idx'))).toBe(true);

  const { env, bucket, store } = await freshS3Store('realseg');
  await store.close();
  const s = new ObjectSegmentStore({
    store: { kind: 's3', options: storeOptions(env, bucket, { prefix: 'w/segments/' }) },
    cache: { dir: tmpDir('elacsym-cache-'), maxBytes: 4 * (4096 + 16), blockSize: 4096, memoryBytes: 0 }, // tiny: sections span and evict blocks
  });
  try {
    for (const n of names) s.put(n, [readFileSync(join(segDir, n))]);
    expect(s.list().sort()).toEqual([...names].sort());
    for (const n of names) {
      const local = readFileSync(join(segDir, n));
      const o = s.open(n);
      expect(o.length).toBe(local.length);
      if (n.endsWith('.parquet')) {
        expect(Buffer.from(o.read(0, o.length)).equals(local)).toBe(true);
        continue;
      }
      expect(local.length).toBeGreaterThan(4096); // more than one cache block
      // Read by range with block verification (verified: false), as a cold query reads it.
      const f = SegmentFile.open(o, s.pathOf(n), { verified: false });
      expect(f.sections.size).toBeGreaterThan(0);
      expect(f.verifyAll()).toEqual([]);
      for (const name of f.sections.keys()) expect(f.readVerified(name)).not.toBeNull();
      o.close();
    }
    expect(s.cache.stats.corruptBlocks).toBe(0);
    expect(s.cache.stats.misses).toBeGreaterThan(0);
  } finally {
    s.close();
  }
});
