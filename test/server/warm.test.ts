/**
 * Warm snapshots (src/server/warm.ts) in-process on real data directories: the reopen rate limit holds a
 * snapshot while commits keep coming, and a request carrying a newer write fence (read your writes) is
 * never held. The clock is a counter that moves 10 ms at each reading, so "recently opened" does not
 * depend on this machine's speed.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { answerQuery } from '../../src/server/query-exec.js';
import { WarmNamespaces } from '../../src/server/warm.js';
import { cleanupTmp, cli, tmpDir, writeNdjson } from '../helpers/cli.js';

afterAll(() => cleanupTmp());

describe('warm snapshots and the write fence', () => {
  it('a change is held back by the rate limit, but not from a request carrying a newer fence', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '2'])).code).toBe(0);
    const f = join(tmpDir(), 'docs.ndjson');
    writeNdjson(f, [0, 1, 2, 3].map((id) => ({ id, vector: [1, id] })));
    expect((await cli(['-d', d, 'import', 'ns', f])).code).toBe(0);

    let t = 0;
    const warm = new WarmNamespaces(d, { refreshMs: 0, clock: () => (t += 10) });
    const ids = (fence: number) => {
      const a = answerQuery(warm, 'ns', { filter: { field: 'id', op: 'in', value: [0, 1, 2, 3] }, top_k: 10 }, undefined, fence);
      return (JSON.parse(a.json) as { results: { id: number }[] }).results.map((r) => r.id).sort();
    };
    try {
      expect(ids(0)).toEqual([0, 1, 2, 3]); // opened: took 10 ms of this clock, so reopens wait 40 ms
      expect((await cli(['-d', d, 'delete', 'ns', '--ids', '1'])).code).toBe(0);
      // Another writer's commit, seen 10 ms after the open: held back (the stale snapshot is whole).
      expect(ids(0)).toEqual([0, 1, 2, 3]);
      // The same commit as a write this server acknowledged (fence 1): taken at once.
      expect(ids(1)).toEqual([0, 2, 3]);
      expect((await cli(['-d', d, 'delete', 'ns', '--ids', '2'])).code).toBe(0);
      expect(ids(1)).toEqual([0, 2, 3]); // fence 1 is covered already: rate-limited again
      expect(ids(2)).toEqual([0, 3]);
      // Without any fence the change still comes within the limit: 4x the open's cost on this clock.
      expect((await cli(['-d', d, 'delete', 'ns', '--ids', '3'])).code).toBe(0);
      let seen = ids(0);
      for (let i = 0; i < 10 && seen.includes(3); i++) seen = ids(0);
      expect(seen).toEqual([0]);
    } finally {
      warm.close();
    }
  });
});
