/**
 * Progress bars on stderr (cli-progress), only drawn when the caller decided stderr is a terminal.
 * Loaded lazily so scripted runs never pay for it. With a known total (a file) it shows a percentage of
 * bytes; from stdin it shows a count and a rate, never a fake percentage.
 */
import type { ImportProgress } from '../store/ingest.js';
import { fmtInt } from './output.js';

export interface ProgressHandle {
  update(p: ImportProgress): void;
  stop(): void;
}

/** `force`: draw even when stderr is not a terminal (`import --progress`): one line per redraw then. */
export async function startProgress(totalBytes: number | undefined, opts: { force?: boolean } = {}): Promise<ProgressHandle> {
  const { default: cliProgress } = await import('cli-progress');
  const t0 = Date.now();
  const format =
    totalBytes !== undefined
      ? 'import |{bar}| {percentage}% | {docs} docs | {rate} docs/s | {phase}'
      : 'import {docs} docs | {rate} docs/s | {phase}';
  const bar = new cliProgress.SingleBar(
    // cli-progress draws nothing on a non-terminal unless noTTYOutput is set; notTTYSchedule spaces the
    // lines it then prints (one per redraw, no cursor movement).
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 30, fps: 10, noTTYOutput: Boolean(opts.force), notTTYSchedule: 1000 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalBytes ?? 1, 0, { docs: 0, rate: 0, phase: 'journal' });
  let stopped = false;
  return {
    update(p) {
      const secs = Math.max(0.001, (Date.now() - t0) / 1000);
      bar.update(totalBytes !== undefined ? p.bytes : 0, {
        docs: fmtInt(p.committed),
        rate: fmtInt(p.committed / secs),
        phase: p.phase === 'index' ? 'building indexes' : 'journal',
      });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
