/**
 * Snapshot.refresh (the server's incremental refresh) must be indistinguishable from Snapshot.open at
 * every step of a namespace's life — journal appends, upserts that shadow segment rows, deletes, flushes,
 * compaction — while reusing the segments that did not change, and an older snapshot must keep answering
 * from its own generation (and keep its files) until it is closed, in any order.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { kernelBackend, pinnedBytes } from '../../src/index/vector/distance.js';
import { parseQueryRequest } from '../../src/model/query.js';
import { executeQuery } from '../../src/query/engine.js';
import { DataDir } from '../../src/store/data-dir.js';
import { QueryContext } from '../../src/store/search-sources.js';
import { Snapshot } from '../../src/store/snapshot.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

const DIM = 8;
// S documents in the first segment: enough for an IVF (a segment of fewer than 1,000 vectors has a flat
// index, which pins nothing), whose clusters a resident snapshot pins.
const S = 1100;
const docs = [...generateDocs({ docs: S + 400, dim: DIM, seed: 11 })];
const nd = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n');
let d: string;
let dir: string;

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'ns', '--dim', String(DIM), '--full-text', 'title,body'])).code).toBe(0);
  dir = DataDir.open(d).namespacePath('ns');
});
afterAll(cleanupTmp);

async function run(args: string[], input?: string): Promise<void> {
  const r = await cli(['-d', d, ...args], input === undefined ? {} : { input });
  expect(r.code, r.stderr).toBe(0);
}

const REQUESTS = [
  { vector: Array.from(docs[5]!.vector!), top_k: 10 },
  { vector: Array.from(docs[6]!.vector!), filter: { field: 'bucket', op: 'lt', value: 20 }, top_k: 10 },
  { full_text: { query: 'water plant' }, top_k: 10 },
  { vector: Array.from(docs[7]!.vector!), full_text: { query: 'a large group' }, top_k: 10 },
  { filter: { field: 'bucket', op: 'gte', value: 0 }, top_k: 5000, include_attributes: [] as string[] },
];

/** Everything a reader can observe of a snapshot: pending documents, dead rows, answers. */
function observe(snap: Snapshot, ctx: QueryContext) {
  return {
    pending: snap.pendingDocs.map((x) => JSON.stringify(x)),
    pendingKeys: [...snap.pendingKeys].sort(),
    entries: snap.pendingEntries,
    live: snap.liveCount,
    segments: snap.segments.map((s) => ({ id: s.row.id, live: s.liveCount, dead: s.dead ? [...s.dead.keys()].filter((i) => s.dead![i] === 1) : [] })),
    answers: REQUESTS.map((r) => executeQuery(ctx.sources, snap.schema, parseQueryRequest(r, snap.schema), (f) => ctx.analyzerFor(f)).results),
  };
}

describe('Snapshot.refresh', () => {
  it('equals a fresh Snapshot.open after every kind of write, reusing exactly the segments that did not change', async () => {
    await run(['import', 'ns', '-'], nd(docs.slice(0, S)));
    const pinnedAtStart = pinnedBytes();
    const chain: { snap: Snapshot; ctx: QueryContext }[] = [];
    const first = Snapshot.open(dir, { loadFully: true });
    chain.push({ snap: first, ctx: new QueryContext(first) });
    const step = () => {
      const prev = chain.at(-1)!;
      const snap = Snapshot.refresh(prev.snap, { loadFully: true });
      const ctx = new QueryContext(snap, prev.ctx);
      chain.push({ snap, ctx });
      const fresh = Snapshot.open(dir, { loadFully: true });
      const freshCtx = new QueryContext(fresh);
      try {
        expect(observe(snap, ctx)).toEqual(observe(fresh, freshCtx));
      } finally {
        freshCtx.release();
        fresh.close();
      }
      return { prev: prev.snap, snap };
    };

    // 1. new documents in the journal only: the segment is the same handle
    await run(['import', 'ns', '-', '--no-flush'], nd(docs.slice(S, S + 50)));
    let s = step();
    expect(s.snap.segments[0]).toBe(s.prev.segments[0]);
    expect(s.snap.pendingDocs).toHaveLength(50);
    if (kernelBackend() === 'wasm') expect(pinnedBytes()).toBeGreaterThan(pinnedAtStart);

    // 2. updates of segment rows in the journal: those rows die; a new handle over the same open files,
    //    whose query source shares the warm IVF reader (nothing pinned twice)
    await run(['import', 'ns', '-', '--no-flush'], nd(docs.slice(0, 20).map((x) => ({ ...x, attributes: { ...x.attributes, title: 'water plant updated' } }))));
    s = step();
    expect(s.snap.segments[0]).not.toBe(s.prev.segments[0]);
    expect(s.snap.segments[0]!.file).toBe(s.prev.segments[0]!.file);
    expect(s.snap.segments[0]!.liveCount).toBe(S - 20);
    const ivfOf = (c: QueryContext) => (c.sources[0] as unknown as { ivfReader(): unknown }).ivfReader();
    expect(ivfOf(chain.at(-1)!.ctx)).toBe(ivfOf(chain.at(-2)!.ctx));

    // 3. deletes (of segment rows and of journal-only documents)
    await run(['delete', 'ns', '--ids', [20, 21, 22, S + 1, S + 2].map((i) => docs[i]!.id).join(',')]);
    s = step();

    // 4. a flush: the journal is truncated and decoded afresh; the old segment, now with the same dead
    //    rows recorded in the manifest, is still the same handle
    await run(['import', 'ns', '-'], nd(docs.slice(S + 50, S + 150)));
    s = step();
    expect(s.snap.pendingEntries).toBe(0);
    expect(s.snap.segments.length).toBeGreaterThan(1);
    expect(s.snap.segments[0]).toBe(s.prev.segments[0]);

    // 5. more journal after the flush, then a compaction that replaces every segment
    await run(['import', 'ns', '-', '--no-flush'], nd(docs.slice(S + 150, S + 200)));
    s = step();
    await run(['compact', 'ns']);
    s = step();
    expect(s.snap.segments.every((h) => !s.prev.segments.includes(h))).toBe(true);

    // Every older generation still answers on its own (the files of compacted-away segments stay open)...
    const oldest = chain[0]!;
    expect(observe(oldest.snap, oldest.ctx).answers[4]).toHaveLength(S);
    // ...and closing them, oldest first, never closes what a newer snapshot uses.
    const last = chain.at(-1)!;
    const before = observe(last.snap, last.ctx);
    for (const c of chain.slice(0, -1)) {
      c.ctx.release();
      c.snap.close();
    }
    expect(observe(last.snap, last.ctx)).toEqual(before);
    last.ctx.release();
    last.snap.close();
    expect(pinnedBytes()).toBe(pinnedAtStart); // every shared reader unpinned with its last user
  });

  it('closing the newer snapshot first leaves the older one whole', async () => {
    const a = Snapshot.open(dir, { loadFully: true });
    const actx = new QueryContext(a);
    const before = observe(a, actx);
    await run(['import', 'ns', '-', '--no-flush'], nd(docs.slice(S + 200, S + 210)));
    const b = Snapshot.refresh(a, { loadFully: true });
    const bctx = new QueryContext(b, actx);
    expect(b.segments.every((h, i) => h === a.segments[i])).toBe(true);
    bctx.release();
    b.close();
    expect(observe(a, actx)).toEqual(before);
    actx.release();
    a.close();
  });
});
