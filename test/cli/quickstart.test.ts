/** The README's quick start runs as documented (docs are tests). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, ROOT, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

describe('quick start', () => {
  it('fixtures/quickstart.sh creates, imports and answers a hybrid query', async () => {
    const data = join(tmpDir(), 'data');
    // Run asynchronously would be nicer, but the script is short (a few seconds).
    const r = spawnSync('sh', [join(ROOT, 'fixtures', 'quickstart.sh')], { env: { ...process.env, ELACSYM_DATA_DIR: data }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^rank\s+id\s+score\s+title\s+category$/); // one column per attribute
    const rows = lines.slice(1);
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row).toMatch(/\s(music|art)$/);
    expect(r.stderr).toContain('imported 300 documents');
    expect(r.stderr).toMatch(/\(5 results in [\d.]+ ms\)/); // the summary is on stderr
  });
});
