/**
 * Segments of fewer than 1,000 vectors have a flat vector index (index/vector/ivf.ts, version 3: no
 * clusters, no int8 codes) and are scanned exactly. Through the real binary: such a segment answers every
 * vector query kind (plain, filtered, after deletes, hybrid) exactly as the pending journal does (the
 * journal is always scanned exactly), for every metric; `--explain` says `exact-scan`; the manifest is
 * raised to format 7; a segment of 1,000 vectors keeps its IVF (version 5, format 8); `health --deep` passes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { COMPACT_INDEX_FORMAT_VERSION } from '../../src/storage/manifest.js';
import { SegmentFile } from '../../src/storage/segment-file.js';
import { MemorySource } from '../../src/util/bytes.js';
import { mulberry32 } from '../../src/util/prng.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const DIM = 6;
const WORDS = ['river', 'stone', 'light', 'paper', 'cloud', 'glass'];

function docs(n: number, seed: number): string[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: i,
      // A few exact duplicates (ties, broken by id) and a few documents without a vector.
      vector: i % 97 === 5 ? undefined : i % 50 === 7 ? [1, 0, 0, 0, 0, 0] : Array.from({ length: DIM }, () => Math.round((r() - 0.5) * 2000) / 1000),
      attributes: { bucket: i % 10, title: `${WORDS[i % 6]} ${WORDS[(i * 7) % 6]}` },
    }),
  );
}

/** The ivf section's version (u32 at byte 4 of the section) of each segment of namespace `ns`. */
function ivfVersions(d: string, ns: string): number[] {
  const dir = join(d, ns, 'segments');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.idx'))
    .sort()
    .map((f) => {
      const file = SegmentFile.open(new MemorySource(readFileSync(join(dir, f))), f);
      const ivf = file.readVerified('ivf')!;
      return new DataView(ivf.buffer, ivf.byteOffset).getUint32(4, true);
    });
}

async function answer(d: string, ns: string, args: string[]): Promise<{ results: unknown; plans: unknown[] }> {
  const r = await cli(['-d', d, 'query', ns, ...args, '--explain', '--format', 'json', '--include-attributes', '']);
  expect(r.code, r.stderr).toBe(0);
  const o = JSON.parse(r.stdout) as { results: unknown; explain: { sources: { vector?: string; source: string }[] } };
  return { results: o.results, plans: o.explain.sources.filter((s) => s.source !== 'journal').map((s) => s.vector) };
}

describe('flat vector index for small segments', () => {
  for (const metric of ['cosine', 'l2', 'dot']) {
    it(`answers exactly as the journal (${metric})`, async () => {
      const d = join(tmpDir(), 'data');
      const input = `${docs(999, metric.length).join('\n')}\n`;
      for (const ns of ['seg', 'jour']) {
        expect((await cli(['-d', d, 'init', ns, '--dim', String(DIM), '--metric', metric, '--full-text', 'title'])).code).toBe(0);
        const r = await cli(['-d', d, '-q', 'import', ns, '-', ...(ns === 'jour' ? ['--no-flush'] : [])], { input });
        expect(r.code, r.stderr).toBe(0);
      }
      for (const ns of ['seg', 'jour']) expect((await cli(['-d', d, '-q', 'delete', ns, '--ids', '3,17,400'])).code).toBe(0);
      expect(ivfVersions(d, 'seg')).toEqual([3]);
      const db = new Database(join(d, 'seg', 'manifest.db'), { readonly: true });
      expect(db.prepare("SELECT value FROM meta WHERE key = 'format_version'").pluck().get()).toBe(String(COMPACT_INDEX_FORMAT_VERSION));
      db.close();
      const r = mulberry32(99);
      for (let i = 0; i < 4; i++) {
        const v = JSON.stringify(Array.from({ length: DIM }, () => Math.round((r() - 0.5) * 2000) / 1000));
        for (const extra of [[], ['--filter', '{"field":"bucket","op":"lt","value":3}'], ['--filter', '{"field":"bucket","op":"eq","value":9}'], ['--text', 'river glass']]) {
          const args = ['--vector', v, '-k', '15', ...extra];
          const seg = await answer(d, 'seg', args);
          const jour = await answer(d, 'jour', args);
          expect(seg.results, args.join(' ')).toEqual(jour.results);
          expect(seg.plans).toEqual(['exact-scan']);
        }
      }
      // The duplicated vector: ties in id order, as everywhere.
      const ties = await answer(d, 'seg', ['--vector', '[1,0,0,0,0,0]', '-k', '5']);
      expect((ties.results as { id: number }[]).map((x) => x.id)).toEqual([7, 57, 107, 157, 207]);
      const h = await cli(['-d', d, 'health', 'seg', '--deep']);
      expect(h.code, h.stdout + h.stderr).toBe(0);
    });
  }

  it('keeps the IVF from 1,000 vectors on', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM)])).code).toBe(0);
    const all = docs(1200, 1).filter((l) => (JSON.parse(l) as { vector?: unknown }).vector !== undefined);
    expect((await cli(['-d', d, '-q', 'import', 'ns', '-'], { input: `${all.slice(0, 1000).join('\n')}\n` })).code).toBe(0);
    expect((await cli(['-d', d, '-q', 'import', 'ns', '-'], { input: `${all.slice(1000).join('\n')}\n` })).code).toBe(0);
    expect(ivfVersions(d, 'ns')).toEqual([5, 3]); // an IVF of 4-bit codes (version 5), then a flat one
    const q = await answer(d, 'ns', ['--vector', '[0.1,0.2,0.3,0.4,0.5,0.6]', '-k', '10']);
    expect(q.plans).toEqual(['ann', 'exact-scan']);
    expect((await cli(['-d', d, 'health', 'ns', '--deep'])).code).toBe(0);
  });
});
