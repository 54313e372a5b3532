#!/usr/bin/env node
// Benchmark of a query machine on object storage (issue 14; a benchmark, not a test): namespaces of the
// `elacsym bench` dataset written to an s3:// data directory, `elacsym serve -d s3://...` started with an
// empty cache, then a skewed workload (Zipf over namespaces and over query vectors) of --queries requests,
// during which a writer commits new versions of the hottest namespace; reports the cache hit rate the
// server's /metrics gives (query level and block level), latency and the versions served.
//
//   npm run build && eval "$(scripts/s3-server start)" && node bench/s3-serve.mjs [--docs 20000] [--dim 128]
//     [--namespaces 3] [--queries 10000] [--commits 2]
//
// Prints a Markdown summary and writes bench/out/s3-serve.json.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { s3BenchSetup } from './lib/s3-bench.mjs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const HERE = resolve(import.meta.dirname, '..');
const { values: a } = parseArgs({
  options: {
    docs: { type: 'string', default: '20000' },
    dim: { type: 'string', default: '128' },
    namespaces: { type: 'string', default: '3' },
    queries: { type: 'string', default: '10000' },
    commits: { type: 'string', default: '2' },
  },
});
const docs = Number(a.docs);
const dim = Number(a.dim);
const nsCount = Number(a.namespaces);
const queries = Number(a.queries);
const commits = Number(a.commits);
const { work, input, schema, bucket, dataset } = await s3BenchSetup(HERE, { docs, dim, tag: 's3-serve' });
const extra = (k) => join(work, `extra-${k}.ndjson`);
for (let k = 0; k < commits; k++) writeFileSync(extra(k), [...dataset.generateDocs({ docs: 200, dim, seed: 100 + k })].map((d, i) => JSON.stringify({ ...d, id: docs + k * 1000 + i })).join('\n') + '\n');
const vectors = dataset.queryVectors({ docs, dim }, 1000);
const url = `s3://${bucket}/bench`;
const bin = join(HERE, 'bin', 'elacsym');
const writerCache = join(work, 'writer-cache');
const cli = (args) => execFileSync(bin, ['-d', url, '--quiet', ...args], { env: { ...process.env, ELACSYM_CACHE_DIR: writerCache }, stdio: ['ignore', 'pipe', 'pipe'] });
const names = Array.from({ length: nsCount }, (_, i) => `ns${i}`);
for (const n of names) {
  cli(['init', n, '--schema', schema]);
  cli(['import', n, input]);
}

/** Zipf(s) over 0..n-1 (rank 0 the most frequent), deterministic. */
function zipf(n, s, seed) {
  const w = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const total = w.reduce((x, y) => x + y, 0);
  let state = seed >>> 0;
  const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return () => {
    let r = rand() * total;
    for (let i = 0; i < n; i++) if ((r -= w[i]) <= 0) return i;
    return n - 1;
  };
}

const server = spawn(bin, ['-d', url, 'serve', '--port', '0', '--refresh-interval', '1'], {
  env: { ...process.env, ELACSYM_CACHE_DIR: join(work, 'server-cache') },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const base = await new Promise((resolve, reject) => {
  createInterface({ input: server.stderr }).on('line', (l) => {
    if (l.includes('"listening"')) resolve(JSON.parse(l).listening);
  });
  server.on('exit', (c) => reject(new Error(`serve exited ${c}`)));
});
const pickNs = zipf(nsCount, 1.1, 1);
const pickVec = zipf(vectors.length, 1.0, 2);
const lat = [];
let committed = 0;
let writer = Promise.resolve();
const t0 = performance.now();
for (let i = 0; i < queries; i++) {
  // a writer commits new versions of the hottest namespace while the workload runs
  if (commits > 0 && i > 0 && i % Math.floor(queries / (commits + 1)) === 0 && committed < commits) {
    const k = committed++;
    writer = writer.then(() => new Promise((res) => spawn(bin, ['-d', url, '--quiet', 'import', names[0], extra(k)], { env: { ...process.env, ELACSYM_CACHE_DIR: writerCache }, stdio: 'ignore' }).on('exit', res)));
  }
  const t = performance.now();
  const res = await fetch(`${base}/v1/namespaces/${names[pickNs()]}/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vector: vectors[pickVec()], top_k: 10 }) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  lat.push(performance.now() - t);
}
const wall = (performance.now() - t0) / 1000;
await writer;
const metrics = await (await fetch(`${base}/metrics`)).text();
server.kill('SIGTERM');
const sum = (name) => [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((x, m) => x + Number(m[1]), 0);
const qh = sum('elacsym_cache_query_hits_total');
const qm = sum('elacsym_cache_query_misses_total');
const bh = sum('elacsym_cache_hits_total');
const bm = sum('elacsym_cache_misses_total');
lat.sort((x, y) => x - y);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
const versions = [...metrics.matchAll(/^elacsym_published_version\{[^}]*namespace="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]}@${m[2]}`);
const out = {
  docs, dim, namespaces: nsCount, queries, commits,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((x) => x.toFixed(2)).join(' ') },
  query_hits: qh, query_misses: qm, query_hit_rate: qh / (qh + qm),
  block_hits: bh, block_misses: bm, block_hit_rate: bm + bh ? bh / (bh + bm) : 0,
  p50_ms: q(0.5), p99_ms: q(0.99), requests_per_s: queries / wall, versions_served: versions,
};
console.log(`dataset: ${nsCount} namespaces of ${docs} x ${dim} (elacsym bench's) on ${url}; ${queries} vector queries, Zipf over namespaces (s=1.1) and 1,000 query vectors (s=1.0), ${commits} commits to ns0 meanwhile; ${out.machine.cpus} CPUs, load ${out.machine.loadavg}\n`);
console.log('| query hit rate (/metrics) | query hits / misses | block hit rate | p50 | p99 | requests/s (sequential) | versions served at the end |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(`| ${(out.query_hit_rate * 100).toFixed(2)}% | ${qh} / ${qm} | ${(out.block_hit_rate * 100).toFixed(1)}% | ${out.p50_ms.toFixed(2)} ms | ${out.p99_ms.toFixed(2)} ms | ${out.requests_per_s.toFixed(0)} | ${versions.join(', ')} |`);
mkdirSync(join(HERE, 'bench', 'out'), { recursive: true });
writeFileSync(join(HERE, 'bench', 'out', 's3-serve.json'), JSON.stringify(out, null, 2));
rmSync(work, { recursive: true, force: true });
