/**
 * A document's score must not depend on how the data happens to be split: the same live documents as one
 * segment, as several segments with superseded and deleted rows, and as journal-only data give the same
 * BM25 scores and the same vector results.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';
import { kernelBackend, pinnedBytes } from '../../src/index/vector/distance.js';
import { parseQueryRequest } from '../../src/model/query.js';
import { executeQuery } from '../../src/query/engine.js';
import { warmUp } from '../../src/query/warm-up.js';
import { DataDir } from '../../src/store/data-dir.js';
import { QueryContext } from '../../src/store/search-sources.js';
import { Snapshot } from '../../src/store/snapshot.js';

let d: string;
const N = 1500;
const docs = [...generateDocs({ docs: N, dim: 8, seed: 5 })];
const lines = docs.map((x) => JSON.stringify(x));

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  for (const ns of ['one', 'many', 'journal']) {
    expect((await cli(['-d', d, 'init', ns, '--dim', '8', '--full-text', 'title,body'])).code).toBe(0);
  }
  expect((await cli(['-d', d, 'import', 'one', '-'], { input: lines.join('\n') })).code).toBe(0);
  // many: garbage versions first (superseded later), deleted extras, several small segments
  const junk = docs.slice(0, 300).map((x) => JSON.stringify({ ...x, attributes: { ...x.attributes, title: 'junk junk water', body: 'junk' } }));
  expect((await cli(['-d', d, 'import', 'many', '-', '--segment-docs', '200', '--batch-size', '100'], { input: junk.join('\n') })).code).toBe(0);
  const extras = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: 100000 + i, attributes: { title: 'water water extra', body: 'extra' } }));
  expect((await cli(['-d', d, 'import', 'many', '-', '--segment-docs', '400', '--batch-size', '100'], { input: [...extras, ...lines].join('\n') })).code).toBe(0);
  expect((await cli(['-d', d, 'delete', 'many', '--ids', extras.map((_, i) => 100000 + i).join(',')])).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'journal', '-', '--no-flush'], { input: lines.join('\n') })).code).toBe(0);
});
afterAll(cleanupTmp);

async function q(ns: string, args: string[]) {
  const r = (await cli(['-d', d, 'query', ns, ...args, '--format', 'json', '--include-attributes', '']));
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: { id: number; score: number }[] }).results;
}

describe('segmentation independence', () => {
  it('has one, several and journal-only layouts of the same live documents', async () => {
    expect((await cli(['-d', d, 'ls'])).stdout).toBe(`journal\t${N}\nmany\t${N}\none\t${N}\n`);
  });

  it.each(['water', 'a large group of people', '"United States"', 'plant flower'])('BM25 scores are identical for %s', async (text) => {
    const one = (await q('one', ['--text', text, '--top-k', '20']));
    expect(one.length).toBeGreaterThan(0);
    for (const ns of ['many', 'journal']) {
      const other = (await q(ns, ['--text', text, '--top-k', '20']));
      expect(other.map((r) => r.id)).toEqual(one.map((r) => r.id));
      other.forEach((r, i) => expect(r.score).toBeCloseTo(one[i]!.score, 5));
    }
  });

  it('exact-scan filtered vector results are identical', async () => {
    const v = JSON.stringify(docs[10]!.vector);
    const f = '{"field":"bucket","op":"lt","value":5}';
    const one = (await q('one', ['--vector', v, '--filter', f, '--top-k', '10']));
    expect(one).toHaveLength(10);
    for (const ns of ['many', 'journal']) expect((await q(ns, ['--vector', v, '--filter', f, '--top-k', '10']))).toEqual(one);
  });

  it('a filtered query returns top_k whenever that many documents match', async () => {
    const v = JSON.stringify(docs[3]!.vector);
    for (const lt of [1, 3, 10, 50]) {
      const matching = docs.filter((x) => x.attributes.bucket < lt).length;
      const res = (await q('many', ['--vector', v, '--filter', `{"field":"bucket","op":"lt","value":${lt}}`, '--top-k', '25']));
      expect(res.length).toBe(Math.min(25, matching));
    }
  });
});

describe('batch snapshots (held in memory, clusters pinned into the kernels)', () => {
  it('answer exactly like a single query (files read whole or by range), which pins nothing', () => {
    const requests = [
      { vector: Array.from(docs[10]!.vector!), top_k: 10 },
      { vector: Array.from(docs[20]!.vector!), filter: { field: 'bucket', op: 'lt', value: 50 }, top_k: 10 },
      { vector: Array.from(docs[30]!.vector!), filter: { field: 'bucket', op: 'lt', value: 3 }, top_k: 10 },
      { vector: Array.from(docs[40]!.vector!), full_text: { query: 'water plant' }, top_k: 10 },
    ];
    const run = (ns: string, loadFully: boolean, readWholeBytes?: number) => {
      const snap = Snapshot.open(DataDir.open(d).namespacePath(ns), { loadFully, readWholeBytes });
      const ctx = new QueryContext(snap);
      const before = pinnedBytes();
      try {
        const out = requests.map((r) => executeQuery(ctx.sources, snap.schema, parseQueryRequest(r, snap.schema), (f) => ctx.analyzerFor(f)).results);
        const pinned = pinnedBytes() - before;
        ctx.release();
        expect(pinnedBytes()).toBe(before);
        return { out, pinned };
      } finally {
        snap.close();
      }
    };
    for (const ns of ['one', 'many']) {
      const single = run(ns, false);
      const ranged = run(ns, false, 0); // files read by range, as a single query reads big segments
      const batch = run(ns, true);
      expect(single.pinned).toBe(0); // small segments are read whole in a single query too, but not pinned
      expect(ranged.pinned).toBe(0);
      // 'one' is one IVF segment (its clusters pinned); 'many' has segments of at most 400 vectors, whose flat
      // indexes are scanned exactly and pin nothing.
      if (kernelBackend() === 'wasm' && ns === 'one') expect(batch.pinned).toBeGreaterThan(0);
      expect(batch.out).toEqual(single.out);
      expect(ranged.out).toEqual(single.out);
      expect(single.out.every((r) => r.length === 10)).toBe(true);
    }
  });
});

describe('query --batch --warm-up', () => {
  it('answers exactly the same requests the same way, after warming up on the data (stderr says how)', async () => {
    const reqs = [
      JSON.stringify({ vector: Array.from(docs[5]!.vector!), top_k: 5, include_attributes: [] }),
      JSON.stringify({ full_text: { query: 'water plant' }, top_k: 5, include_attributes: [] }),
      JSON.stringify({ vector: Array.from(docs[6]!.vector!), full_text: { query: 'a large group' }, top_k: 5, include_attributes: [] }),
    ].join('\n');
    for (const ns of ['one', 'many', 'journal']) {
      const cold = await cli(['-d', d, 'query', ns, '--batch', '-'], { input: reqs });
      const warm = await cli(['-d', d, 'query', ns, '--batch', '-', '--warm-up', '8'], { input: reqs });
      expect(cold.code, cold.stderr).toBe(0);
      expect(warm.code, warm.stderr).toBe(0);
      const strip = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l).results);
      expect(strip(warm.stdout)).toEqual(strip(cold.stdout));
      expect(strip(cold.stdout).every((r) => r.length === 5)).toBe(true);
      // 8 sampled documents, each with a vector and text: vector, text, hybrid and filtered queries for each
      expect(warm.stderr).toMatch(/^elacsym: warmed up with 32 queries in \d+ ms\n$/);
      expect(cold.stderr).toBe('');
    }
  });

  it('is a usage error without --batch', async () => {
    const r = await cli(['-d', d, 'query', 'one', '--text', 'water', '--warm-up', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--warm-up applies to --batch only');
  });

  it('asks only what the data can answer, and nothing of an empty namespace', () => {
    const at = (ns: string) => {
      const snap = Snapshot.open(DataDir.open(d).namespacePath(ns), { loadFully: true });
      const ctx = new QueryContext(snap);
      const plain = Object.fromEntries(Object.entries(snap.schema.attributes).filter(([, a]) => !a.full_text));
      expect(Object.keys(plain).length).toBeGreaterThan(0);
      try {
        return {
          all: warmUp(ctx.sources, snap.schema, (f) => ctx.analyzerFor(f), 4).queries,
          // a schema seen without its vectors: text queries only
          textOnly: warmUp(ctx.sources, { ...snap.schema, vector_dim: 0 }, (f) => ctx.analyzerFor(f), 4).queries,
          // ... and without its full-text fields: vector queries, and filtered ones on the attributes left
          vectorOnly: warmUp(ctx.sources, { ...snap.schema, attributes: {} }, (f) => ctx.analyzerFor(f), 4).queries,
          vectorFiltered: warmUp(ctx.sources, { ...snap.schema, attributes: plain }, (f) => ctx.analyzerFor(f), 4).queries,
          // neither vectors nor text: filter-only queries
          filterOnly: warmUp(ctx.sources, { ...snap.schema, vector_dim: 0, attributes: plain }, (f) => ctx.analyzerFor(f), 4).queries,
          none: warmUp([], snap.schema, (f) => ctx.analyzerFor(f), 4).queries,
        };
      } finally {
        ctx.release();
        snap.close();
      }
    };
    // a filtered query per sampled document, on the attributes in turn, whenever there is one to filter
    expect(at('one')).toEqual({ all: 16, textOnly: 8, vectorOnly: 4, vectorFiltered: 8, filterOnly: 4, none: 0 });
  });
});

describe('hybrid fusion', () => {
  it('answers identically with and without --explain, for any weights and rrf_k', () => {
    for (const ns of ['one', 'many', 'journal']) {
      const snap = Snapshot.open(DataDir.open(d).namespacePath(ns), { loadFully: true });
      const ctx = new QueryContext(snap);
      try {
        const texts = ['water', 'a large group of people', 'plant flower', 'United States', 'junk extra water'];
        let compared = 0;
        for (let i = 0; i < 30; i++) {
          const base = {
            vector: Array.from(docs[(i * 37) % N]!.vector!),
            full_text: { query: texts[i % texts.length]!, weight: [1, 0.5, 2][i % 3]! },
            vector_weight: [1, 2, 0.25][i % 3]!,
            rrf_k: [60, 1, 0][i % 3]!,
            top_k: [10, 3, 50][i % 3]!,
            include_attributes: [],
          };
          const ask = (explain: boolean) => executeQuery(ctx.sources, snap.schema, parseQueryRequest({ ...base, explain }, snap.schema), (f) => ctx.analyzerFor(f)).results;
          const fast = ask(false);
          const slow = ask(true).map(({ explain: _e, ...r }) => r);
          expect(fast).toEqual(slow);
          compared += fast.length;
        }
        expect(compared).toBeGreaterThan(300);
      } finally {
        ctx.release();
        snap.close();
      }
    }
  });
});

describe('--segment-docs', () => {
  it('builds segments of exactly that many documents, whatever the batch size', async () => {
    const dir = join(tmpDir(), 'data');
    expect((await cli(['-d', dir, 'init', 'seg', '--dim', '8'])).code).toBe(0);
    // Default batch (8,192) larger than the segment, then a batch that does not divide it.
    const first = await cli(['-d', dir, 'import', 'seg', '-', '--segment-docs', '600'], { input: lines.join('\n') });
    expect(first.code, first.stderr).toBe(0);
    const fresh = docs.map((x) => JSON.stringify({ ...x, id: `b${String(x.id)}` }));
    const second = await cli(['-d', dir, 'import', 'seg', '-', '--segment-docs', '500', '--batch-size', '200'], { input: fresh.join('\n') });
    expect(second.code, second.stderr).toBe(0);
    const described = JSON.parse((await cli(['-d', dir, 'describe', 'seg', '--json'])).stdout) as { segments: { rows: number }[] };
    expect(described.segments.map((s) => s.rows)).toEqual([600, 600, 300, 500, 500, 500]);
  });
});

describe('--segment-docs for a backlog (wal replay, recovery)', () => {
  const backlog = async (dir: string, n: number, batch: number) => {
    expect((await cli(['-d', dir, 'init', 'b', '--dim', '8'])).code).toBe(0);
    const r = await cli(['-d', dir, 'import', 'b', '-', '--no-flush', '--batch-size', String(batch)], { input: lines.slice(0, n).join('\n') });
    expect(r.code, r.stderr).toBe(0);
  };
  const rows = async (dir: string) => (JSON.parse((await cli(['-d', dir, 'describe', 'b', '--json'])).stdout) as { segments: { rows: number }[] }).segments.map((x) => x.rows);
  const exported = async (dir: string) => (await cli(['-d', dir, 'export', 'b'])).stdout.trim().split('\n').sort();

  it('splits journal entries so segments hold exactly n documents, and loses or repeats nothing', async () => {
    const dir = join(tmpDir(), 'data');
    await backlog(dir, 100, 20); // five entries of 20
    const r = await cli(['-d', dir, 'wal', 'replay', 'b', '--segment-docs', '7']);
    expect(r.code, r.stderr).toBe(0);
    expect(await rows(dir)).toEqual([...Array(14).fill(7), 2]);
    const ids = (await exported(dir)).map((l) => String((JSON.parse(l) as { id: unknown }).id)).sort();
    expect(ids).toEqual(docs.slice(0, 100).map((x) => String(x.id)).sort());
    expect((await cli(['-d', dir, 'count', 'b'])).stdout.trim()).toBe('100');
    expect((await cli(['-d', dir, 'health', 'b', '--deep'])).code).toBe(0);
  });

  it('killed after a segment that ends inside an entry: the next writer replays that entry whole, nothing lost or doubled', async () => {
    const dir = join(tmpDir(), 'data');
    await backlog(dir, 100, 20);
    const before = await exported(dir);
    // Segment 2 holds documents 8-14 of the first entry: killed after its commit, the entry is still pending.
    const killed = await cli(['-d', dir, 'wal', 'replay', 'b', '--segment-docs', '7'], { env: { ELACSYM_FAILPOINTS: 'flush:after-manifest-commit@2' } });
    expect(killed.code).toBe(137);
    expect(await exported(dir)).toEqual(before);
    expect((await cli(['-d', dir, 'count', 'b'])).stdout.trim()).toBe('100');
    const r = await cli(['-d', dir, 'wal', 'replay', 'b', '--segment-docs', '7']);
    expect(r.code, r.stderr).toBe(0);
    expect(await exported(dir)).toEqual(before);
    expect((await cli(['-d', dir, 'count', 'b'])).stdout.trim()).toBe('100');
    expect((await cli(['-d', dir, 'health', 'b', '--deep'])).code).toBe(0);
  });
});
