#!/usr/bin/env node
// Benchmark of the writing path on object storage (issue 14; a benchmark, not a test): the dataset of
// `elacsym bench` (src/bench/dataset.ts) imported fully indexed into a local data directory and into an
// s3:// data directory on the same S3-compatible server, alternating, in one run; then the first vector
// query of a machine with an empty cache, and the same query warm, on both.
// For one round inside the product, with recall, warm --batch percentiles and bytes stored, run
// `elacsym -d s3://bucket/prefix bench --docs 100000 --dim 128` (src/bench/object-store.ts) instead.
//
//   npm run build && eval "$(scripts/s3-server start)" && node bench/s3-import.mjs [--docs 100000] [--dim 128] [--rounds 2]
//
// Needs AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and ELACSYM_S3_ENDPOINT (scripts/s3-server start prints
// them); creates a bucket of its own. Prints a Markdown table and writes bench/out/s3-import.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { s3BenchSetup } from './lib/s3-bench.mjs';

const HERE = resolve(import.meta.dirname, '..');
const { values: a } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '2' },
  },
});
const docs = Number(a.docs);
const dim = Number(a.dim);
const rounds = Number(a.rounds);
const { work, input, schema, bucket, dataset } = await s3BenchSetup(HERE, { docs, dim, tag: 's3-import' });
const q = join(work, 'q.json');
writeFileSync(q, JSON.stringify(dataset.queryVectors({ docs, dim }, 1)[0]));

const bin = join(HERE, 'bin', 'elacsym');
/** Runs the binary; returns wall seconds and the parsed --json stdout. */
function run(args, env = {}) {
  const t = performance.now();
  const out = execFileSync(bin, ['--json', ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
  const s = (performance.now() - t) / 1000;
  const text = out.toString().trim();
  return { s, json: text ? JSON.parse(text.split('\n').pop()) : null };
}

const rows = [];
for (let r = 1; r <= rounds; r++) {
  for (const kind of r % 2 ? ['local', 's3'] : ['s3', 'local']) {
    const cache = join(work, `cache-${kind}-${r}`);
    const dataDir = kind === 'local' ? join(work, `data-${r}`) : `s3://${bucket}/r${r}`;
    const env = { ELACSYM_CACHE_DIR: cache };
    run(['-d', dataDir, 'init', 'bench', '--schema', schema], env);
    const imp = run(['-d', dataDir, 'import', 'bench', input], env);
    // the first query of a machine with an empty cache, then warm
    const fresh = run(['-d', dataDir, 'query', 'bench', '--vector', `@${q}`, '-k', '10'], { ELACSYM_CACHE_DIR: join(work, `fresh-${kind}-${r}`) });
    const warm = [];
    for (let i = 0; i < 5; i++) warm.push(run(['-d', dataDir, 'query', 'bench', '--vector', `@${q}`, '-k', '10'], env).s);
    warm.sort((x, y) => x - y);
    rows.push({ round: r, kind, import_s: imp.s, docs_per_s: Math.round(docs / imp.s), first_query_s: fresh.s, warm_query_p50_s: warm[2] });
    console.error(JSON.stringify(rows.at(-1)));
  }
}
const ratio = rows.filter((x) => x.kind === 's3').map((x) => x.docs_per_s / rows.find((y) => y.kind === 'local' && y.round === x.round).docs_per_s);
const machine = { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((x) => x.toFixed(2)).join(' ') };
console.log(`dataset: ${docs} x ${dim} (elacsym bench's), ${machine.cpus} CPUs (${machine.model}), load ${machine.loadavg}\n`);
console.log('| round | data dir | import (wall, init excluded) | docs/s | first query, empty cache | warm query p50 (CLI) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const x of rows) console.log(`| ${x.round} | ${x.kind} | ${x.import_s.toFixed(2)} s | ${x.docs_per_s} | ${x.first_query_s.toFixed(2)} s | ${x.warm_query_p50_s.toFixed(2)} s |`);
console.log(`\ns3 import / local import, per round: ${ratio.map((x) => x.toFixed(2)).join(', ')}`);
mkdirSync(join(HERE, 'bench', 'out'), { recursive: true });
writeFileSync(join(HERE, 'bench', 'out', 's3-import.json'), JSON.stringify({ docs, dim, machine, rows, ratio }, null, 2));
rmSync(work, { recursive: true, force: true });
