#!/usr/bin/env node
// How fast scattered rows of a large matrix are copied out, as an exact scan of a filter's matches gathers
// them from a resident segment (src/index/vector/ivf.ts gatherTopK): a copy loop alone, against the copy
// after a pass that reads one float of every 64-byte line of the block's rows first (touchRows). A
// benchmark, not a test. Usage:
//   node bench/gather.mjs [--docs 1000000] [--dim 128] [--fraction 0.01] [--rounds 100]
// Prints ms per "query": 10 segments' lists of `fraction` of their rows, 256 rows a block, each row
// normalized by a per-row factor into a scratch block. Session 25's figures (docs/performance.md): 1M x
// 128 at 1%, copy alone 3.8-4.1 ms, touch pass first 1.6-2.4 ms.
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg('docs', 1_000_000);
const dim = arg('dim', 128);
const fraction = arg('fraction', 0.01);
const rounds = arg('rounds', 100);
const BLOCK = 256;

const vec = new Float32Array(n * dim);
for (let i = 0; i < vec.length; i += 16) vec[i] = (i % 13) - 6; // every line of every page made resident
const inv = new Float64Array(n).fill(0.5);
const out = new Float32Array(BLOCK * dim);

function lists(seed) {
  let s = seed >>> 0;
  const r = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const per = Math.floor(n / 10);
  const ls = [];
  for (let seg = 0; seg < 10; seg++) {
    const a = [];
    for (let i = 0; i < per; i++) if (r() < fraction) a.push(seg * per + i);
    ls.push(Uint32Array.from(a));
  }
  return ls;
}

function copyBlock(list, b0, cnt) {
  for (let j = 0; j < cnt; j++) {
    const r = list[b0 + j];
    const f = inv[r];
    const s = r * dim;
    const d = j * dim;
    for (let i = 0; i < dim; i++) out[d + i] = vec[s + i] * f;
  }
}

let sink = 0;
function touchBlock(list, b0, cnt) {
  let t = 0;
  for (let j = 0; j < cnt; j++) {
    const r = list[b0 + j];
    const s = r * dim;
    for (let i = 0; i < dim; i += 16) t += vec[s + i];
    t += inv[r];
  }
  sink += t;
}

const modes = {
  copy: (list) => {
    for (let b0 = 0; b0 < list.length; b0 += BLOCK) copyBlock(list, b0, Math.min(BLOCK, list.length - b0));
  },
  'touch+copy': (list) => {
    for (let b0 = 0; b0 < list.length; b0 += BLOCK) {
      const cnt = Math.min(BLOCK, list.length - b0);
      touchBlock(list, b0, cnt);
      copyBlock(list, b0, cnt);
    }
  },
};

for (let round = 0; round < 3; round++) {
  for (const [name, f] of Object.entries(modes)) {
    let ms = 0;
    for (let q = 0; q < rounds; q++) {
      const ls = lists(q + 1000 * round);
      const t = process.hrtime.bigint();
      for (const l of ls) f(l);
      ms += Number(process.hrtime.bigint() - t) / 1e6;
    }
    console.log(`${name.padEnd(11)} ${(ms / rounds).toFixed(3)} ms a query (round ${round + 1})`);
  }
}
if (sink === 0.5) console.log(''); // keeps the touch reads observable
