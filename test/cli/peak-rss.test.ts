import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir, writeNdjson } from '../helpers/cli.js';

afterAll(cleanupTmp);

// peak_rss_bytes is the command's own peak, not its parent's: Linux carries getrusage's ru_maxrss over
// from the parent across fork and exec, so a command spawned by a large process (the bench after its
// queries, a server, a test runner) reported the parent's size. Here the parent holds 512 MiB, touched,
// when it spawns the commands; each of them needs a fraction of that.
describe.skipIf(process.platform !== 'linux')('peak_rss_bytes', () => {
  it('import --json and compact --json report their own peak, whatever the size of the process that started them', async () => {
    const d = tmpDir();
    const file = join(d, 'docs.ndjson');
    writeNdjson(file, Array.from({ length: 200 }, (_, i) => ({ id: i, vector: [i % 7, 1, (i * 13) % 5], attributes: { n: i } })));
    expect((await cli(['-d', d, 'init', 'ns', '--dim', '3'])).code).toBe(0);
    const ballast = Buffer.alloc(512 * 1048576, 1);
    const reports: { peak_rss_bytes: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const imp = await cli(['-d', d, '--json', 'import', 'ns', file]);
      expect(imp.code, imp.stderr).toBe(0);
      reports.push(JSON.parse(imp.stdout));
    }
    const cp = await cli(['-d', d, '--json', 'compact', 'ns']);
    expect(cp.code, cp.stderr).toBe(0);
    const compacted = JSON.parse(cp.stdout);
    expect(compacted.segments_before).toBe(2);
    reports.push(compacted);
    expect(process.memoryUsage().rss).toBeGreaterThan(512 * 1048576); // the ballast was resident meanwhile
    for (const r of reports) {
      expect(r.peak_rss_bytes).toBeGreaterThan(20 * 1048576);
      expect(r.peak_rss_bytes).toBeLessThan(400 * 1048576);
    }
    expect(ballast[ballast.length - 1]).toBe(1);
  });
});
