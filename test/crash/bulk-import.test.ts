/**
 * `import --bulk`: documents skip the journal and are acknowledged when their segment commits. The real
 * binary, killed by fail points at each step of a segment's flush, interrupted by SIGTERM inside one, and
 * stopped by a bad line, must leave whole committed segments only (every acknowledged document present
 * once, nothing staged after them), record the resume point with each segment, and finish with --resume to
 * exactly what an ordinary (journalled) import of the same input gives.
 */
import { join } from 'node:path';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, cliAsync, datasetFile, errorCode, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const TOTAL = 1500;
const SEGMENT = 500;
const BATCH = 100;

/** The 'committed' events (acknowledgements) of a --json import's stderr. */
function acks(stderr: string): { documents: number; lines: number }[] {
  return ndjson(stderr.split('\n').filter((l) => l.startsWith('{"event":"committed"')).join('\n')) as unknown as { documents: number; lines: number }[];
}

const errorJson = (stderr: string) => JSON.parse(stderr.trim().split('\n').filter((l) => l.startsWith('{"error"')).pop() ?? '{}').error as { code: string; message: string; hint: string; details?: Record<string, unknown> };

let dir: string;
let file: string;
/** The export of an ordinary import of `file` (the reference every bulk import must equal). */
let reference: Map<string, string>;

async function fresh(ns = 'docs'): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', ns, '--dim', '8', '--full-text', 'title,body'])).code).toBe(0);
  return d;
}

const bulkArgs = (d: string, extra: string[] = []) => ['-d', d, '--json', 'import', 'docs', file, '--bulk', '--batch-size', String(BATCH), '--segment-docs', String(SEGMENT), ...extra];

beforeAll(async () => {
  dir = tmpDir();
  // Lines 1..1500 of generated documents, then 40 lines that rewrite earlier ids (a later line wins) and
  // carry an attribute the schema does not name yet (schemaless: added at the segment commit).
  const base = datasetFile(dir, { docs: TOTAL, dim: 8, seed: 5 }, 'base.ndjson');
  const lines = readFileSync(base, 'utf8').trimEnd().split('\n');
  for (let i = 0; i < 40; i++) {
    const d = JSON.parse(lines[i * 37]!) as { attributes: Record<string, unknown> };
    d.attributes.title = `rewritten ${i}`;
    d.attributes.batch_note = `note ${i}`;
    lines.push(JSON.stringify(d));
  }
  file = join(dir, 'data.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const d = await fresh();
  const r = await cli(['-d', d, 'import', 'docs', file, '--batch-size', String(BATCH), '--segment-docs', String(SEGMENT)]);
  expect(r.code, r.stderr).toBe(0);
  reference = await exportMap(d, 'docs');
  expect(reference.size).toBe(TOTAL);
});

describe('import --bulk', () => {
  it('gives exactly what a journalled import gives, acknowledging per segment, with nothing left in the journal', async () => {
    const d = await fresh();
    const r = await cli(bulkArgs(d));
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { committed: number; inserted: number; updated: number; segments: number; pending: number; durable_ms: number; elapsed_ms: number };
    expect(summary).toMatchObject({ committed: TOTAL + 40, inserted: TOTAL, updated: 40, pending: 0 });
    expect(summary.segments).toBe(4); // 500 + 500 + 500 + the 40 rewrites
    // one acknowledgement per segment, each at a segment's last line
    expect(acks(r.stderr)).toEqual([
      { documents: 500, lines: 500, rejected: 0 },
      { documents: 1000, lines: 1000, rejected: 0 },
      { documents: 1500, lines: 1500, rejected: 0 },
      { documents: 1540, lines: 1540, rejected: 0 },
    ].map(({ documents, lines }) => expect.objectContaining({ documents, lines })));
    expect(await exportMap(d, 'docs')).toEqual(reference);
    const wal = JSON.parse((await cli(['-d', d, '--json', 'wal', 'inspect', 'docs'])).stdout) as { entries: unknown[] };
    expect(wal.entries).toEqual([]);
    // the schemaless attribute was committed with the segment that carried it
    const desc = await cli(['-d', d, '--json', 'describe', 'docs']);
    expect(desc.stdout).toContain('batch_note');
    // queries agree with the reference namespace's (same documents, same order of ties)
    const ref = await fresh('docs');
    expect((await cli(['-d', ref, 'import', 'docs', file])).code).toBe(0);
    for (const q of [['--text', 'water light'], ['--vector', '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]'], ['--vector', '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]', '--filter', '{"field": "batch_note", "op": "gte", "value": "note 2"}']]) {
      const a = await cli(['-d', d, 'query', 'docs', ...q, '--top-k', '20', '--format', 'json']);
      const b = await cli(['-d', ref, 'query', 'docs', ...q, '--top-k', '20', '--format', 'json']);
      expect(a.code, a.stderr).toBe(0);
      const strip = (s: string) => (JSON.parse(s) as { results: unknown[] }).results;
      expect(strip(a.stdout)).toEqual(strip(b.stdout));
      expect(strip(a.stdout).length).toBeGreaterThan(0);
    }
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });

  // @2: the second segment's flush (the first one committed 500 documents).
  const points = ['flush:after-parquet-write', 'flush:after-index-write', 'flush:before-manifest-commit', 'flush:after-manifest-commit', 'flush:after-gc'];
  it.each(points)('killed at %s of the second segment: whole segments only, the resume point with them, --resume completes', async (fp) => {
    const d = await fresh();
    const r = await cli(bulkArgs(d), { env: { ELACSYM_FAILPOINTS: `${fp}@2` } });
    expect(r.code).toBe(137);
    expect(acks(r.stderr).map((a) => a.lines)).toEqual([500]);
    const committed = fp === 'flush:after-manifest-commit' || fp === 'flush:after-gc' ? 1000 : 500;
    const got = await exportMap(d, 'docs');
    expect(got.size).toBe(committed);
    expect([...got.keys()].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: committed }, (_, i) => i));
    // (the ids the last 40 lines rewrite still hold their first version)
    const rewritten = new Set(Array.from({ length: 40 }, (_, i) => String(i * 37)));
    for (const [id, line] of got) if (!rewritten.has(id)) expect(line).toBe(reference.get(id));
    // the next writer removes the dead flush's files: health is clean after it
    const fin = await cli(bulkArgs(d, ['--resume']));
    expect(fin.code, fin.stderr).toBe(0);
    expect(fin.stderr).toContain(`resuming ${file} after line ${committed}`);
    expect(await exportMap(d, 'docs')).toEqual(reference);
    expect((await cli(['-d', d, 'health', '--deep'])).code).toBe(0);
  });

  it('SIGTERM inside a segment build exits 130 INTERRUPTED naming the committed lines; the staged documents are not written', async () => {
    const d = await fresh();
    // Paused just before the second segment's commit (its files written), the test signals it.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = cliAsync(bulkArgs(d), { ELACSYM_FAILPOINTS: 'flush:before-manifest-commit@2=pause' });
      let stderr = '';
      let signalled = false; // once: a second signal is the user insisting, which ends the process at once
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!signalled && stderr.includes('"paused":true')) {
          signalled = true;
          child.kill('SIGTERM');
        }
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(130);
    const e = errorJson(r.stderr);
    expect(e.code).toBe('INTERRUPTED');
    expect(e.message).toContain('input lines 1-500');
    expect(e.message).toContain('were not written');
    expect(e.details).toMatchObject({ committed: 500, lines: 500 });
    expect((await exportMap(d, 'docs')).size).toBe(500);
    expect(readdirSync(join(d, 'docs', 'segments')).filter((f) => f.startsWith('seg-00000002'))).toEqual([]);
    expect((await cli(bulkArgs(d, ['--resume']))).code).toBe(0);
    expect(await exportMap(d, 'docs')).toEqual(reference);
  });

  it('a bad line commits the whole batches staged before it, then names them and the resume point', async () => {
    const d = await fresh();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    lines[1233] = '{"id": 1233, "vector": [1, 2]}'; // line 1234: a vector of the wrong dimension
    const bad = join(tmpDir(), 'bad.ndjson');
    writeFileSync(bad, `${lines.join('\n')}\n`);
    const r = await cli(['-d', d, '--json', 'import', 'docs', bad, '--bulk', '--batch-size', String(BATCH), '--segment-docs', String(SEGMENT)]);
    expect(r.code).toBe(2);
    const e = errorJson(r.stderr);
    expect(e.code).toBe('INVALID_DOCUMENT');
    // segments at 500 and 1000, then the batches of lines 1001-1200 are committed; 1201-1233 are not
    expect(e.details).toMatchObject({ committed: 1200, committed_lines: 1200 });
    expect(e.hint).toContain('--skip-lines 1200');
    expect(acks(r.stderr).map((a) => a.lines)).toEqual([500, 1000, 1200]);
    expect((await exportMap(d, 'docs')).size).toBe(1200);
    const fin = await cli(['-d', d, 'import', 'docs', file, '--bulk', '--skip-lines', '1200']);
    expect(fin.code, fin.stderr).toBe(0);
    expect(await exportMap(d, 'docs')).toEqual(reference);
  });

  it('refuses combinations it cannot honour, before touching the namespace', async () => {
    const d = await fresh();
    for (const extra of [['--no-flush'], ['--dry-run']]) {
      const r = await cli(['-d', d, '--json', 'import', 'docs', file, '--bulk', ...extra]);
      expect(r.code).toBe(2);
      expect(errorCode(r.stderr)).toBe('USAGE');
      expect(errorJson(r.stderr).message).toContain(extra[0]!);
    }
    expect((await exportMap(d, 'docs')).size).toBe(0);
  });
});
