#!/usr/bin/env node
// Cold start of one elacsym command against `node -e 0`: N alternating runs of each (fresh processes),
// medians and their ratio. A benchmark, not a test. Usage:
//   node bench/cold-start.mjs [--runs 21] -- query docs --text database --format json
// (everything after -- is passed to bin/elacsym; set ELACSYM_DATA_DIR or pass -d DIR there).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const opts = sep < 0 ? argv : argv.slice(0, sep);
const cmd = sep < 0 ? ['--version'] : argv.slice(sep + 1);
const runsAt = opts.indexOf('--runs');
const runs = runsAt >= 0 ? Number(opts[runsAt + 1]) : 21;
const bin = join(import.meta.dirname, '..', 'bin', 'elacsym');
// The launcher (bin/elacsym) is what a user runs: its sh and exec are part of the start timed here.
const time = (file, args) => {
  const t = process.hrtime.bigint();
  execFileSync(file, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const base = [];
const cmdT = [];
for (let i = 0; i < runs; i++) {
  base.push(time(process.execPath, ['-e', '0']));
  cmdT.push(time(bin, cmd));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const b = median(base);
const c = median(cmdT);
console.log(JSON.stringify({ command: ['elacsym', ...cmd].join(' '), runs, node_e0_ms: +b.toFixed(1), command_ms: +c.toFixed(1), ratio: +(c / b).toFixed(2) }));
