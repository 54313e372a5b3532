/**
 * `elacsym serve` limits and freshness, each synchronised on an event (a paused fail point's line on
 * stderr, an import's acknowledgement, the snapshot journal seq the server exposes on /metrics), never on
 * a sleep:
 * - another process holds the namespace's writer lock (a CLI import paused inside its flush): every write
 *   route answers 503 BUSY with Retry-After after its bounded wait, reads answer and see the import's
 *   acknowledged batches;
 * - --request-timeout stops a query that is still running (paused between segments): 503 TIMEOUT on
 *   time, and the worker is free for the next request instead of finishing the abandoned one;
 * - a document acknowledged by an HTTP import is returned by the next query once the server's snapshots
 *   cover the acknowledged write.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { openDb } from '../../src/storage/sqlite.js';
import { DataDir } from '../../src/store/data-dir.js';
import { BIN, cleanupTmp, cli, datasetFile, ROOT, tmpDir } from '../helpers/cli.js';
import { json, parsePrometheus, post, serve } from './serve-helpers.js';

afterAll(() => cleanupTmp());

const DIM = 8;
const docs = (n: number, first = 0) => [...generateDocs({ docs: n + first, dim: DIM, seed: 9 })].slice(first);
const ndjson = (xs: unknown[]) => `${xs.map((x) => JSON.stringify(x)).join('\n')}\n`;

async function initNs(d: string, name: string): Promise<void> {
  const r = await cli(['-d', d, 'init', name, '--dim', String(DIM), '--full-text', 'title,body']);
  expect(r.code).toBe(0);
}

/** A CLI command with fail points armed; resolves `paused` on its fail point line. */
function pausedCli(args: string[], failpoints: string) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) env[k] = v;
  const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...env, ELACSYM_FAILPOINTS: failpoints }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.resume();
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  const paused = new Promise<void>((resolve, reject) => {
    createInterface({ input: p.stderr }).on('line', (l) => {
      if (l.startsWith('{"failpoint"')) resolve();
    });
    void exited.then((c) => reject(new Error(`exited ${c} before pausing`)));
  });
  return { p, paused, exited };
}

describe('the writer lock held by another process', () => {
  it('every write route is 503 BUSY with Retry-After after --write-wait; reads answer and see the acknowledged batches', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await initNs(d, 'ns');
    const s = await serve(d, ['--workers', '1', '--write-wait', '1']);
    try {
      // A CLI import acknowledges its batches (journal), then pauses inside its flush, holding the lock.
      const file = datasetFile(dir, { docs: 40, dim: DIM, seed: 9 });
      const holder = pausedCli(['-d', d, 'import', 'ns', file, '--batch-size', '10'], 'flush:before-manifest-commit=pause');
      await holder.paused;

      const busy = [
        await post(`${s.url}/v1/namespaces/ns/upsert`, { documents: docs(1, 500) }),
        await post(`${s.url}/v1/namespaces/ns/delete`, { ids: [0] }),
        await fetch(`${s.url}/v1/namespaces/ns/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ndjson(docs(1, 600)) }),
      ];
      for (const r of busy) {
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('1');
        expect((await json(r)).error.code).toBe('BUSY');
      }
      // reads are never blocked by a writer, and see the documents it acknowledged
      const q = await post(`${s.url}/v1/namespaces/ns/query`, { filter: { field: 'bucket', op: 'gte', value: 0 }, top_k: 100, include_attributes: [] });
      expect(q.status).toBe(200);
      expect((await json(q)).results).toHaveLength(40);

      holder.p.kill('SIGINT'); // ends the pause: the import stops, keeping its journal
      expect(await holder.exited).toBe(130);
      const ok = await post(`${s.url}/v1/namespaces/ns/upsert`, { documents: docs(1, 500) });
      expect(ok.status).toBe(200);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('--request-timeout', () => {
  it('a query still running at the limit is 503 TIMEOUT with Retry-After, and stops: the worker answers the next request', async () => {
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: ndjson(docs(30)) })).code).toBe(0);
    // The 2nd check of the first query is before its first segment's work: it pauses there until the pool
    // gives up on the request. One worker: the next request can only be answered if that query stopped.
    const s = await serve(d, ['--workers', '1', '--request-timeout', '1'], { ELACSYM_FAILPOINTS: 'query:before-segment@2=pause' });
    try {
      const req = { vector: docs(1)[0]!.vector, top_k: 3 };
      const slow = post(`${s.url}/v1/namespaces/ns/query`, req);
      await s.waitLine(/"failpoint":"query:before-segment"/);
      const r = await slow;
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect((await json(r)).error.code).toBe('TIMEOUT');

      const next = await post(`${s.url}/v1/namespaces/ns/query`, req);
      expect(next.status).toBe(200);
      expect((await json(next)).results).toHaveLength(3);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('freshness', () => {
  /** The journal's high-water mark: every write acknowledged so far has a seq up to it. */
  function journalSeq(d: string): number {
    const db = openDb(join(DataDir.open(d).namespacePath('ns'), 'manifest.db'), { readonly: true });
    try {
      return Number(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").pluck().get() ?? 0);
    } finally {
      db.close();
    }
  }

  /** Resolves once every query thread that holds the namespace has a snapshot covering `seq`. */
  async function covered(url: string, seq: number): Promise<void> {
    for (;;) {
      const fams = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
      const held = fams.get('elacsym_server_snapshot_journal_seq')!.samples.filter((x) => x.labels.namespace === 'ns');
      if (held.length > 0 && held.every((x) => x.value >= seq)) return;
    }
  }

  it.each([
    ['journal only (flush=false)', 'false'],
    ['flushed into a segment', 'true'],
  ])('a document acknowledged by an HTTP import (%s) is returned by the next query once the snapshots cover its write', async (_, flush) => {
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    expect((await cli(['-d', d, 'import', 'ns', '-'], { input: ndjson(docs(20)) })).code).toBe(0);
    const s = await serve(d, ['--workers', '2']);
    try {
      const probe = (id: number) => post(`${s.url}/v1/namespaces/ns/query`, { vector: docs(1, id)[0]!.vector, top_k: 1, include_attributes: [] });
      expect((await json(await probe(5))).results[0].id).toBe(5); // the workers hold a warm snapshot now
      const before = journalSeq(d);

      const fresh = docs(3, 20);
      const r = await fetch(`${s.url}/v1/namespaces/ns/import?flush=${flush}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ndjson(fresh) });
      expect(r.status).toBe(200);
      const events = (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events.at(-1)).toMatchObject({ event: 'done', committed: 3 }); // acknowledged
      const acked = journalSeq(d);
      expect(acked).toBeGreaterThan(before);

      await covered(s.url, acked);
      for (const x of fresh) expect((await json(await probe(x.id as number))).results[0].id).toBe(x.id);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});
