/**
 * An import holds a bounded part of its input, whatever its size. The interruptible line reader raced
 * every read against one never-settling abort promise, whose reactions kept every chunk alive: an import's
 * peak RSS grew with the input (773 MB of buffers retained for an 818 MB file). Checked with WeakRefs and a
 * forced garbage collection in a child process (deterministic: no timing, no memory thresholds).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/cli.js';

const SCRIPT = `
import { readLines } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/store/ingest.js')).href)};
const refs = [];
async function* source() {
  for (let i = 0; i < 64; i++) {
    const b = Buffer.alloc(1 << 16, 0x61);
    b[b.length - 1] = 10;
    refs.push(new WeakRef(b));
    yield b;
  }
}
const ac = new AbortController();
let lines = 0;
let alive = -1;
for await (const l of readLines(source(), 1 << 30, ac.signal)) {
  lines++;
  // While the import is still reading: the chunks already split must be collectable.
  if (lines === 60) {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      globalThis.gc();
    }
    alive = refs.slice(0, 50).filter((r) => r.deref() !== undefined).length;
  }
}
console.log(JSON.stringify({ lines, alive }));
`;

describe('import input retention', () => {
  it('the line reader with an interrupt signal lets go of every chunk it has split', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', SCRIPT], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { lines, alive } = JSON.parse(r.stdout) as { lines: number; alive: number };
    expect(lines).toBe(64);
    expect(alive).toBe(0);
  });
});
