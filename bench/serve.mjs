#!/usr/bin/env node
// Benchmark of `elacsym serve` (a benchmark, not a test): generates a namespace with the dataset of
// `elacsym bench` (src/bench/dataset.ts), starts the server on the loopback interface and drives it with
// autocannon, one query kind at a time; then answers the same requests with `elacsym query --batch` in the
// same run, and measures the vector workload with 1 worker and with every core.
//
//   npm run build && node bench/serve.mjs [--docs 100000] [--dim 128] [--duration 10] [--connections 16] [--import-docs 100000]
//     [--kinds vector,text,hybrid,filtered] [--no-batch] [--no-scaling] [--root DIR] [--out FILE]
//
// --root runs another checkout's build (its bin/elacsym and dist/) with this script, e.g. a before/after
// comparison against the main branch: `node bench/serve.mjs --root /work/main --kinds vector --no-batch
// --no-scaling --import-docs 100000`. --kinds, --no-batch and --no-scaling skip parts of the run.
//
// Prints a Markdown table (requests/s, p50/p99 latency per kind) and writes bench/out/serve.json.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const HERE = resolve(import.meta.dirname, '..');
const { values: a } = parseArgs({
  options: {
    root: { type: 'string', default: HERE },
    kinds: { type: 'string', default: 'vector,text,hybrid,filtered' },
    'no-batch': { type: 'boolean', default: false },
    'no-scaling': { type: 'boolean', default: false },
    out: { type: 'string', default: join(HERE, 'bench', 'out', 'serve.json') },
    docs: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '128' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    queries: { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
    'import-docs': { type: 'string', default: '0' },
  },
});
const ROOT = resolve(a.root);
const BIN = join(ROOT, 'bin', 'elacsym');
const DOCS = Number(a.docs);
const DIM = Number(a.dim);
const DURATION = Number(a.duration);
const CONNECTIONS = Number(a.connections);
const NQ = Number(a.queries);

const { generateDocs } = await import(join(ROOT, 'dist', 'bench', 'dataset.js'));
const tmp = mkdtempSync(join(tmpdir(), 'elacsym-serve-bench-'));
const dataDir = join(tmp, 'data');
const cli = (...args) => execFileSync(BIN, ['-d', dataDir, ...args], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });

function log(s) {
  process.stderr.write(`${s}\n`);
}

// 1. the namespace
log(`generating ${DOCS} x ${DIM} documents in ${tmp}`);
const file = join(tmp, 'docs.ndjson');
await new Promise((res, rej) => {
  const out = createWriteStream(file);
  out.on('error', rej);
  let buf = '';
  for (const d of generateDocs({ docs: DOCS, dim: DIM, seed: 42 })) {
    buf += `${JSON.stringify(d)}\n`;
    if (buf.length > 1 << 20) {
      out.write(buf);
      buf = '';
    }
  }
  out.end(buf, res);
});
cli('init', 'bench', '--dim', String(DIM), '--metric', 'cosine', '--full-text', 'title,body');
let t = Date.now();
cli('import', 'bench', file, '-q');
log(`imported in ${((Date.now() - t) / 1000).toFixed(1)} s`);

// 2. requests per kind, built from the data (the vectors of other documents with noise; words of titles)
const sample = [...generateDocs({ docs: NQ, dim: DIM, seed: 4242 })];
const words = sample.map((d) => d.attributes.title.split(' ')[0]);
const allKinds = {
  vector: sample.map((d) => ({ vector: d.vector, top_k: 10 })),
  text: sample.map((_, i) => ({ full_text: { query: words[i] }, top_k: 10 })),
  hybrid: sample.map((d, i) => ({ vector: d.vector, full_text: { query: words[i] }, top_k: 10 })),
  filtered: sample.map((d) => ({ vector: d.vector, filter: { field: 'bucket', op: 'lt', value: 10 }, top_k: 10 })),
};
const kinds = Object.fromEntries(a.kinds.split(',').map((k) => [k, allKinds[k]]));

// 3. query --batch on the same requests (one process, one thread, warm after --warm-up)
const batch = {};
for (const [kind, reqs] of Object.entries(a['no-batch'] ? {} : kinds)) {
  const f = join(tmp, `${kind}.ndjson`);
  writeFileSync(f, reqs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  t = process.hrtime.bigint();
  cli('query', 'bench', '--batch', f, '--warm-up', '1', '-q');
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  batch[kind] = Math.round(reqs.length / s);
  log(`query --batch ${kind}: ${batch[kind]} requests/s (${reqs.length} requests incl. start-up and warm-up)`);
}

// 4. the server
async function startServer(workers) {
  const p = spawn(BIN, ['-d', dataDir, 'serve', '--port', '0', '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((res, rej) => {
    createInterface({ input: p.stderr }).on('line', (l) => {
      if (l.includes('"listening"')) res(JSON.parse(l).listening);
    });
    p.on('exit', (c) => rej(new Error(`server exited ${c}`)));
  });
  return { p, url, stop: () => new Promise((res) => (p.on('exit', res), p.kill('SIGTERM'))) };
}

async function load(url, reqs, duration) {
  let i = 0;
  const bodies = reqs.map((r) => JSON.stringify(r));
  // warm every worker's snapshot and JIT first
  await autocannon({ url: `${url}/v1/namespaces/bench/query`, method: 'POST', connections: CONNECTIONS, duration: 2, headers: { 'content-type': 'application/json' }, requests: [{ setupRequest: (r) => ({ ...r, body: bodies[i++ % bodies.length] }) }] });
  const r = await autocannon({
    url: `${url}/v1/namespaces/bench/query`,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }) }],
  });
  return { rps: Math.round(r.requests.average), p50_ms: r.latency.p50, p99_ms: r.latency.p99, errors: r.errors + r.non2xx, total: r.requests.total };
}

const results = {};
const all = availableParallelism();
let srv = await startServer(all);
for (const [kind, reqs] of Object.entries(kinds)) {
  results[kind] = await load(srv.url, reqs, DURATION);
  log(`serve ${kind} (${all} workers): ${JSON.stringify(results[kind])}`);
}
// Scaling: the same vector load with one query worker, on the same data (before the import below grows it).
let oneWorker = null;
if (!a['no-scaling']) {
  await srv.stop();
  srv = await startServer(1);
  oneWorker = await load(srv.url, allKinds.vector, DURATION);
  log(`serve vector (1 worker): ${JSON.stringify(oneWorker)}`);
  await srv.stop();
  srv = await startServer(all);
}

// The vector workload while an HTTP NDJSON import of new documents streams into the same namespace:
// errors, and for each acknowledged batch the time until a query (warm snapshot path) finds its last document.
let during = null;
const IMPORT_DOCS = Number(a['import-docs']);
if (IMPORT_DOCS > 0) {
  const extra = [...generateDocs({ docs: DOCS + IMPORT_DOCS, dim: DIM, seed: 42 })].slice(DOCS).map((d, i) => ({ ...d, id: DOCS + i }));
  const lags = [];
  const refreshLags = [];
  const { default: Database } = await import('better-sqlite3');
  const manifest = new Database(join(dataDir, 'bench', 'manifest.db'), { readonly: true, fileMustExist: true });
  const journalSeq = () => Number(manifest.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").pluck().get() ?? 0);
  const loadStart = loadavg()[0].toFixed(1);
  const t0 = Date.now();
  let importDone = false;
  const imported = new Promise((res, rej) => {
    const req = request(`${srv.url}/v1/namespaces/bench/import?batch_size=4096`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (r) => {
      const pending = [];
      createInterface({ input: r }).on('line', (l) => {
        const ev = JSON.parse(l);
        if (ev.event === 'committed') {
          const last = extra[ev.documents - 1];
          const acked = Date.now();
          // The refresh alone, without the probe query's queueing: until every query thread's snapshot
          // covers the journal's high-water mark read now (/metrics elacsym_server_snapshot_journal_seq,
          // polled every 25 ms; builds without that metric are skipped).
          const seq = journalSeq();
          pending.push((async () => {
            for (;;) {
              const text = await (await fetch(`${srv.url}/metrics`)).text();
              const held = [...text.matchAll(/^elacsym_server_snapshot_journal_seq\{[^}]*namespace="bench"\} (\d+)$/gm)].map((m) => Number(m[1]));
              if (!text.includes('elacsym_server_snapshot_journal_seq')) return;
              if (held.length > 0 && held.every((v) => v >= seq)) return refreshLags.push(Date.now() - acked);
              // a scrape runs every namespace's health check on the main thread: do not spin on it
              await new Promise((r) => setTimeout(r, 25));
            }
          })());
          pending.push((async () => {
            for (;;) {
              const q = await fetch(`${srv.url}/v1/namespaces/bench/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vector: last.vector, top_k: 1, include_attributes: [] }) });
              const b = await q.json();
              if (b.results?.[0]?.id === last.id) return lags.push(Date.now() - acked);
            }
          })());
        } else if (ev.event === 'done' || ev.event === 'error') {
          Promise.all(pending).then(() => res(ev));
        }
      }).on('close', () => (importDone = true));
    });
    req.on('error', rej);
    (async () => {
      for (let i = 0; i < extra.length; i += 1000) {
        const chunk = extra.slice(i, i + 1000).map((d) => JSON.stringify(d)).join('\n') + '\n';
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })();
  });
  let i = 0;
  const bodies = allKinds.vector.map((r) => JSON.stringify(r));
  const inst = autocannon({ url: `${srv.url}/v1/namespaces/bench/query`, method: 'POST', connections: CONNECTIONS, duration: 3600, headers: { 'content-type': 'application/json' }, requests: [{ setupRequest: (r) => ({ ...r, body: bodies[i++ % bodies.length] }) }] });
  const end = await imported;
  inst.stop();
  const r = await inst;
  lags.sort((x, y) => x - y);
  refreshLags.sort((x, y) => x - y);
  manifest.close();
  during = { import_docs: IMPORT_DOCS, import_s: (Date.now() - t0) / 1000, import_result: end.event, rps: Math.round(r.requests.average), p99_ms: r.latency.p99, errors: r.errors + r.non2xx, visible_after_ack_ms: { max: lags.at(-1), p50: lags[Math.floor(lags.length / 2)], batches: lags.length }, refreshed_after_ack_ms: refreshLags.length ? { max: refreshLags.at(-1), p50: refreshLags[Math.floor(refreshLags.length / 2)], batches: refreshLags.length } : null, load_average_1m: { start: loadStart, end: loadavg()[0].toFixed(1) } };
  log(`serve vector during an import of ${IMPORT_DOCS}: ${JSON.stringify(during)}`);
  void importDone;
}
await srv.stop();

const machine = `${cpus()[0]?.model ?? 'cpu'} x ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
const report = { root: ROOT, machine, docs: DOCS, dim: DIM, duration_s: DURATION, connections: CONNECTIONS, workers: all, serve: results, serve_vector_1_worker: oneWorker, during_import: during, query_batch_rps: batch };
mkdirSync(dirname(a.out), { recursive: true });
writeFileSync(a.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\n${DOCS} x ${DIM}, ${machine}; autocannon ${CONNECTIONS} connections, ${DURATION} s per kind, on the same machine\n`);
console.log(`| kind | serve req/s (${all} workers) | p50 ms | p99 ms | errors | query --batch req/s |`);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const k of Object.keys(kinds)) console.log(`| ${k} | ${results[k].rps} | ${results[k].p50_ms} | ${results[k].p99_ms} | ${results[k].errors} | ${batch[k] ?? ''} |`);
if (oneWorker) console.log(`| vector, 1 worker | ${oneWorker.rps} | ${oneWorker.p50_ms} | ${oneWorker.p99_ms} | ${oneWorker.errors} | |`);
if (during) console.log(`\nvector load during an HTTP import of ${during.import_docs} documents: ${during.rps} req/s, p99 ${during.p99_ms} ms, ${during.errors} errors; acknowledged batches visible to queries after ${during.visible_after_ack_ms.p50} ms (median), ${during.visible_after_ack_ms.max} ms (max) over ${during.visible_after_ack_ms.batches} batches${during.refreshed_after_ack_ms ? `; every query thread's snapshot covered them after ${during.refreshed_after_ack_ms.p50} ms (median), ${during.refreshed_after_ack_ms.max} ms (max)` : ''}; load average ${during.load_average_1m.start} -> ${during.load_average_1m.end}`);
if (!a.keep) rmSync(tmp, { recursive: true, force: true });
