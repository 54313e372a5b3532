/**
 * Named crash points for the crash tests. `ELACSYM_FAILPOINTS=flush:after-segment-write,...` makes the
 * process SIGKILL itself when it reaches one of them; unarmed, a call costs one Map lookup.
 * This is the one place outside cli/ that reads process.env, on purpose: tests arm it from outside.
 *
 * An entry is `NAME`, `NAME@N` or `NAME=pause` (`NAME@N=pause`):
 * - `@N` fires at the N-th time the process reaches the point (default 1), so a test can crash a run at
 *   a seeded *progress* point (the 7th batch commit, the 3rd segment write) instead of after a wall-clock
 *   delay that a faster or slower machine would not honour;
 * - `=pause` (only at the points `failpointPause` guards) writes one line
 *   `{"failpoint":"NAME","paused":true}` to stderr and waits until the operation is interrupted (SIGINT or
 *   SIGTERM): a test signals the process exactly while it is inside that step.
 * - `=sigterm` sends the process SIGTERM there and goes on: the signal reaches its handler at the next turn
 *   of the event loop, so a test interrupts a step that never waits (a segment build) and shows that the
 *   step gives the loop a turn and stops.
 */
import { writeSync } from 'node:fs';

interface Arm {
  at: number;
  pause: boolean;
  sigterm: boolean;
}

const armed = new Map<string, Arm>();
for (const item of (process.env.ELACSYM_FAILPOINTS ?? '').split(',')) {
  const m = /^([a-z-]+:[a-z-]+)(?:@(\d+))?(=pause|=sigterm)?$/.exec(item.trim());
  if (m) armed.set(m[1]!, { at: m[2] ? Math.max(1, Number(m[2])) : 1, pause: m[3] === '=pause', sigterm: m[3] === '=sigterm' });
}
const hits = new Map<string, number>();

/** Every fail point in the code base; test/crash iterates this list. */
export const FAILPOINTS = [
  'init:after-dir-create',
  'import:after-journal-commit',
  'import:before-journal-commit',
  'flush:after-parquet-write',
  'flush:after-index-write',
  'flush:before-manifest-commit',
  'flush:after-manifest-commit',
  'flush:after-gc',
  'compact:after-segment-write',
  'compact:before-manifest-commit',
  'compact:after-manifest-commit',
  'compact:after-gc',
  'drop:after-rename',
  'backup:before-rename',
  'publish:after-segment',
  'publish:before-commit',
  'publish:after-commit',
  'remote:after-checkout',
  'remote:before-commit',
  'shard:before-stage',
  'shard:after-stage',
  'remote:after-commit',
  'restore:before-publish',
  'restore:after-old-renamed',
  'query:before-segment',
  'export:after-chunk',
  'delete:after-journal-commit',
  'build:row-group',
] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

/** True when this call is the armed hit of `name`. */
function due(name: FailpointName): Arm | undefined {
  if (armed.size === 0) return undefined;
  const a = armed.get(name);
  if (!a) return undefined;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  return n === a.at ? a : undefined;
}

export function failpoint(name: FailpointName): void {
  const a = due(name);
  if (a && a.sigterm) process.kill(process.pid, 'SIGTERM');
  else if (a && !a.pause) process.kill(process.pid, 'SIGKILL');
}

/**
 * A crash point that can also pause: armed with `=pause`, it announces itself on stderr and resolves only
 * when `signal` aborts (never, without one). Unarmed it returns at once without allocating.
 */
export async function failpointPause(name: FailpointName, signal?: AbortSignal): Promise<void> {
  const a = due(name);
  if (!a) return;
  if (a.sigterm) return void process.kill(process.pid, 'SIGTERM');
  if (!a.pause) process.kill(process.pid, 'SIGKILL');
  writeSync(2, `${JSON.stringify({ failpoint: name, paused: true })}\n`);
  await new Promise<void>((resolve) => {
    // A timer keeps the event loop alive while paused; the abort ends the pause.
    const t = setInterval(() => undefined, 1 << 30);
    const done = () => {
      clearInterval(t);
      resolve();
    };
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The synchronous form of `failpointPause`, for code that cannot await (a query in a worker thread):
 * armed with `=pause`, it announces itself like `failpointPause` and blocks the thread until
 * `wake.array[wake.index]` no longer holds `wake.value` (another thread stores and notifies), forever
 * without `wake`. Unarmed it returns at once.
 */
export function failpointPauseSync(name: FailpointName, wake?: { array: Int32Array; index: number; value: number }): void {
  const a = due(name);
  if (!a) return;
  if (a.sigterm) return void process.kill(process.pid, 'SIGTERM');
  if (!a.pause) process.kill(process.pid, 'SIGKILL');
  writeSync(2, `${JSON.stringify({ failpoint: name, paused: true })}\n`);
  const w = wake ?? { array: new Int32Array(new SharedArrayBuffer(4)), index: 0, value: 0 };
  while (Atomics.load(w.array, w.index) === w.value) Atomics.wait(w.array, w.index, w.value);
}
