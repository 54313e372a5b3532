/**
 * The server next to other processes: the writer lock (503 + Retry-After while a CLI import holds it),
 * freshness (a CLI write is visible to the next request), complete and consistent answers during a CLI
 * import and a CLI compact, and SIGTERM during an HTTP import (every acknowledged document kept).
 * Synchronised on events (listening lines, committed-batch events, process exits), never on sleeps.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDocs } from '../../src/bench/dataset.js';
import { BIN, cleanupTmp, cli, ROOT, tmpDir, writeNdjson } from '../helpers/cli.js';
import { json, post, serve } from './serve-helpers.js';

afterAll(() => cleanupTmp());

const DIM = 8;
const docs = (n: number, first = 0) => [...generateDocs({ docs: n + first, dim: DIM, seed: 7 })].slice(first);

async function initNs(d: string, name: string): Promise<void> {
  const r = await cli(['-d', d, 'init', name, '--dim', String(DIM), '--full-text', 'title,body']);
  expect(r.code).toBe(0);
}

/** A CLI import reading stdin we keep open: it holds the writer lock until we end stdin. */
function holdingImport(d: string, name: string) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) env[k] = v;
  const p = spawn(process.execPath, [BIN, '-d', d, '--json', 'import', name, '-', '--batch-size', '1'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  p.stdout.resume();
  const committed: ((n: number) => void)[] = [];
  createInterface({ input: p.stderr }).on('line', (l) => {
    if (!l.includes('"committed"')) return;
    const n = (JSON.parse(l) as { documents: number }).documents;
    for (const c of committed.splice(0)) c(n);
  });
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  return { p, exited, nextCommit: () => new Promise<number>((r) => committed.push(r)) };
}

describe('writes and the writer lock', () => {
  it('while a CLI import holds the lock: writes are 503 BUSY with Retry-After, reads answer and see its committed batches', async () => {
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    const s = await serve(d, ['--write-wait', '0', '--workers', '1']);
    try {
      const imp = holdingImport(d, 'ns');
      const first = imp.nextCommit();
      imp.p.stdin.write(`${JSON.stringify(docs(1)[0])}\n`);
      expect(await first).toBe(1);

      const w = await post(`${s.url}/v1/namespaces/ns/upsert`, { documents: docs(1, 500) });
      expect(w.status).toBe(503);
      expect(w.headers.get('retry-after')).toBe('1');
      expect((await json(w)).error.code).toBe('BUSY');
      const del = await post(`${s.url}/v1/namespaces/ns/delete`, { ids: [0] });
      expect(del.status).toBe(503);

      // fresh: the CLI's committed (journal) batch is visible to the next request, no restart
      expect((await fetch(`${s.url}/v1/namespaces/ns/documents/0`)).status).toBe(200);
      const second = imp.nextCommit();
      imp.p.stdin.write(`${JSON.stringify(docs(1, 1)[0])}\n`);
      await second;
      const q = await post(`${s.url}/v1/namespaces/ns/query`, { filter: { field: 'bucket', op: 'gte', value: 0 }, top_k: 100 });
      expect((await json(q)).results.map((r: { id: number }) => r.id).sort()).toEqual([0, 1]);

      imp.p.stdin.end();
      expect(await imp.exited).toBe(0);
      const ok = await post(`${s.url}/v1/namespaces/ns/upsert`, { documents: docs(1, 500) });
      expect(ok.status).toBe(200);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('read your writes', () => {
  it('a delete or upsert this server acknowledged is in the answer of the very next query, round after round', async () => {
    // Back-to-back writes are what the warm snapshot's reopen rate limit holds back (at most one reopen per
    // 4x its cost). A pending journal of 20,000 documents makes each reopen cost tens of ms (every query
    // thread rebuilds its journal source), so without the write fence a query right after an acknowledged
    // delete (a journal entry) would miss it nearly every round.
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    const f = join(tmpDir(), 'base.ndjson');
    writeNdjson(f, docs(20_000));
    expect((await cli(['-d', d, 'import', 'ns', f, '--no-flush'])).code).toBe(0);
    const s = await serve(d);
    const ids = async (id: number) => {
      const r = await post(`${s.url}/v1/namespaces/ns/query`, { filter: { field: 'id', op: 'eq', value: id }, top_k: 10 });
      expect(r.status).toBe(200);
      return (await json(r)).results.map((x: { id: number }) => x.id);
    };
    const missed: string[] = [];
    try {
      expect(await ids(5)).toEqual([5]); // warm: both workers hold a snapshot from here on
      expect(await ids(6)).toEqual([6]);
      for (let i = 0; i < 20; i++) {
        expect((await json(await post(`${s.url}/v1/namespaces/ns/delete`, { ids: [i] }))).deleted).toBe(1);
        if ((await ids(i)).length !== 0) missed.push(`delete ${i}`);
      }
      // an upsert (flushed into a segment), then a delete of what it wrote
      for (let i = 0; i < 10; i++) {
        const doc = { ...docs(1, i)[0]!, id: 100_000 + i };
        expect((await post(`${s.url}/v1/namespaces/ns/upsert`, { documents: [doc] })).status).toBe(200);
        if ((await ids(doc.id)).length !== 1) missed.push(`upsert ${doc.id}`);
        expect((await json(await post(`${s.url}/v1/namespaces/ns/delete`, { ids: [doc.id] }))).deleted).toBe(1);
        if ((await ids(doc.id)).length !== 0) missed.push(`delete ${doc.id}`);
      }
      expect(missed).toEqual([]);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('answers stay complete and consistent while other processes write', () => {
  it('during a CLI import and then a CLI compact, every answer is whole, duplicate-free and monotonic', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await initNs(d, 'ns');
    const N = 1200;
    const M = 600;
    // several segments, so compaction has work to do
    for (let i = 0; i < 4; i++) {
      const f = join(dir, `part${i}.ndjson`);
      writeNdjson(f, docs(N / 4, (i * N) / 4));
      expect((await cli(['-d', d, 'import', 'ns', f, '-q'])).code).toBe(0);
    }
    const more = join(dir, 'more.ndjson');
    writeNdjson(more, docs(M, N));
    const s = await serve(d, ['--workers', '2']);
    const all = { filter: { field: 'bucket', op: 'gte', value: 0 }, top_k: 10_000 };
    const qv = docs(1, 3)[0]!.vector!;
    let failures: string[] = [];
    const loop = async (done: () => boolean, check: (ids: number[]) => void) => {
      let n = 0;
      while (!done() || n === 0) {
        n++;
        const r = await post(`${s.url}/v1/namespaces/ns/query`, all);
        if (r.status !== 200) failures.push(`status ${r.status}: ${await r.text()}`);
        else check(((await json(r)).results as { id: number }[]).map((x) => x.id));
        const v = await post(`${s.url}/v1/namespaces/ns/query`, { vector: qv, full_text: { query: 'water' }, top_k: 10 });
        const vb = await json(v);
        if (v.status !== 200 || vb.results.length !== 10) failures.push(`hybrid: ${v.status} ${vb.results?.length}`);
      }
      return n;
    };
    try {
      // 1. a CLI import of M new documents in small batches
      let importing = true;
      const imp = cli(['-d', d, 'import', 'ns', more, '--batch-size', '50', '-q']).then((r) => {
        importing = false;
        return r;
      });
      const counts: number[][] = [[], []];
      const loops = counts.map((seen) =>
        loop(
          () => !importing,
          (ids) => {
            if (new Set(ids).size !== ids.length) failures.push('duplicate ids');
            if (ids.length < N || ids.length > N + M) failures.push(`count ${ids.length} outside ${N}..${N + M}`);
            if (seen.length > 0 && ids.length < seen[seen.length - 1]!) failures.push(`count went back: ${seen[seen.length - 1]} -> ${ids.length}`);
            seen.push(ids.length);
          },
        ),
      );
      expect((await imp).code).toBe(0);
      await Promise.all(loops);
      expect(failures).toEqual([]);
      const after = await json(await post(`${s.url}/v1/namespaces/ns/query`, all));
      expect(after.results).toHaveLength(N + M);

      // 2. a CLI compact: the live set never changes, so every answer has exactly N + M documents
      failures = [];
      let compacting = true;
      const comp = cli(['-d', d, 'compact', 'ns']).then((r) => {
        compacting = false;
        return r;
      });
      const cloops = [0, 1].map(() =>
        loop(
          () => !compacting,
          (ids) => {
            if (ids.length !== N + M || new Set(ids).size !== ids.length) failures.push(`during compact: ${ids.length} results, ${new Set(ids).size} distinct`);
          },
        ),
      );
      expect((await comp).code).toBe(0);
      await Promise.all(cloops);
      expect(failures).toEqual([]);
      const desc = await json(await fetch(`${s.url}/v1/namespaces/ns`));
      expect(desc.counts).toBeDefined();
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM during an HTTP import: the stream ends with INTERRUPTED, exit 0, every acknowledged document is present', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    await initNs(d, 'ns');
    const s = await serve(d, ['--workers', '1']);
    const body = docs(250).map((x) => JSON.stringify(x)).join('\n') + '\n';
    let acked = 0;
    const events: Record<string, any>[] = [];
    const firstAck = new Promise<void>((resolveAck, rejectAck) => {
      const req = request(`${s.url}/v1/namespaces/ns/import?batch_size=100`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
        expect(res.statusCode).toBe(200);
        createInterface({ input: res }).on('line', (l) => {
          const ev = JSON.parse(l) as Record<string, any>;
          events.push(ev);
          if (ev.event === 'committed') {
            acked = Math.max(acked, ev.documents as number);
            resolveAck();
          }
        });
      });
      req.on('error', () => undefined); // the server cuts the unfinished upload
      req.on('close', () => rejectAck(new Error('request closed before an acknowledgement')));
      // 250 lines: two batches of 100 get committed; the last 50 wait for more input that never comes
      req.write(body);
    });
    await firstAck;
    expect(acked).toBeGreaterThanOrEqual(100);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(events.at(-1)).toMatchObject({ event: 'error', error: { code: 'INTERRUPTED' } });
    const acks = events.filter((e) => e.event === 'committed').map((e) => e.documents as number);
    acked = Math.max(...acks);
    // every acknowledged document is there (ids 0..acked-1, the order they were sent)
    const ids = Array.from({ length: acked }, (_, i) => String(i));
    const g = await cli(['-d', d, 'get', 'ns', ...ids]);
    expect(g.code).toBe(0);
    expect(g.stdout.trim().split('\n')).toHaveLength(acked);
    expect((await cli(['-d', d, 'health', 'ns'])).code).not.toBe(5);
  });

  it('SIGTERM while a keep-alive client is still sending the import body: exit 0 at once, and the client reads the whole response', async () => {
    // The import ends (INTERRUPTED) before its request body does. Kept alive, the connection would never
    // be idle while the client sends (Node reads and drops the rest of the body), so the shutdown waited
    // for --shutdown-timeout and exited 1; destroyed, a reset could discard the last event at the client.
    // The server half-closes instead (a lingering close).
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    const s = await serve(d, ['--workers', '1', '--shutdown-timeout', '15']);
    const line = (i: number) => `${JSON.stringify({ ...docs(1)[0]!, id: i })}\n`;
    const agent = new Agent({ keepAlive: true });
    let n = 0;
    const events: Record<string, any>[] = [];
    let resolveEnd: (how: string) => void = () => undefined;
    const responseEnd = new Promise<string>((r) => (resolveEnd = r));
    const firstAck = new Promise<void>((resolveAck) => {
      const req = request(`${s.url}/v1/namespaces/ns/import?batch_size=20`, { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
        res.on('error', (e) => resolveEnd(`error: ${e.message}`));
        res.on('aborted', () => resolveEnd('aborted'));
        res.on('end', () => resolveEnd('end'));
        createInterface({ input: res }).on('line', (l) => {
          const ev = JSON.parse(l) as Record<string, any>;
          events.push(ev);
          if (ev.event === 'committed') resolveAck();
        });
      });
      req.on('error', () => undefined); // writing after the server closed
      // Sends a line each time the previous one was handed to the socket, until the connection is gone:
      // the body never ends on its own.
      const next = () => {
        if (req.destroyed || req.socket?.destroyed) return;
        req.write(line(n++), () => setImmediate(next));
      };
      next();
    });
    try {
      await firstAck;
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(await responseEnd).toBe('end');
      expect(events.at(-1)).toMatchObject({ event: 'error', error: { code: 'INTERRUPTED' } });
      expect(s.lines.some((l) => l.includes('shutdown-timeout'))).toBe(false);
    } finally {
      agent.destroy();
    }
  });

  it('SIGTERM while keep-alive clients still send bodies already answered with an error (a bad first line, 404, 415): exit 0 at once', async () => {
    // Answered before the body ended, each connection was kept alive while Node read the rest of the body,
    // so the shutdown waited for --shutdown-timeout and exited 1 (a tester's case).
    const d = join(tmpDir(), 'data');
    await initNs(d, 'ns');
    const s = await serve(d, ['--workers', '1', '--shutdown-timeout', '15']);
    const agent = new Agent({ keepAlive: true });
    const answered = (path: string, type: string, first: string) =>
      new Promise<{ status: number; body: Promise<string> }>((resolve) => {
        const req = request(`${s.url}${path}`, { method: 'POST', agent, headers: { 'content-type': type } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          resolve({ status: res.statusCode!, body: new Promise((r) => res.on('end', () => r(Buffer.concat(chunks).toString()))) });
        });
        req.on('error', () => undefined); // writing after the server closed
        req.write(first);
        // then a line each time the previous one was handed to the socket, until the connection is gone
        const next = () => {
          if (req.destroyed || req.socket?.destroyed) return;
          req.write(`${JSON.stringify({ ...docs(1)[0]!, id: 1 })}\n`, () => setImmediate(next));
        };
        next();
      });
    try {
      const bad = await answered('/v1/namespaces/ns/import', 'application/x-ndjson', '{"id":\n');
      const missing = await answered('/v1/namespaces/nope/import', 'application/x-ndjson', '{"id":1}\n');
      const wrongType = await answered('/v1/namespaces/ns/upsert', 'text/plain', '{"documents":[');
      expect([bad.status, missing.status, wrongType.status]).toEqual([400, 404, 415]);
      expect(JSON.parse(await bad.body).error.code).toBe('INVALID_DOCUMENT');
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(s.lines.some((l) => l.includes('shutdown-timeout'))).toBe(false);
    } finally {
      agent.destroy();
    }
  });
});

