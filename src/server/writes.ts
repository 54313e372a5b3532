/**
 * Writes from HTTP take the namespace's writer lock exactly like the CLI (Writer.open), but never block the
 * event loop while waiting: the lock is tried without a wait, and retried on a timer until `waitMs` has
 * passed; then BUSY (HTTP 503 + Retry-After, the form of exit status 75).
 */
import { isElacsymError } from '../errors.js';
import { acquireWriterLock, type WriterLock } from '../storage/lock.js';
import { Writer, type WriterOptions } from '../store/writer.js';
import { join } from 'node:path';

const RETRY_EVERY_MS = 25;

async function retryBusy<T>(waitMs: number, attempt: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!isElacsymError(e, 'BUSY') || Date.now() >= deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
  }
}

/** Opens the namespace's Writer, runs `fn`, always closes it (releasing the lock). */
export async function withWriter<T>(dir: string, name: string, waitMs: number, opts: WriterOptions, fn: (w: Writer) => Promise<T>): Promise<T> {
  const w = await retryBusy(waitMs, () => Writer.open(dir, name, { ...opts, waitSeconds: 0 }));
  try {
    return await fn(w);
  } finally {
    w.close();
  }
}

/** The bare writer lock (drop holds it while it removes the namespace, as `elacsym drop` does). */
export async function withWriterLock<T>(dir: string, name: string, waitMs: number, fn: () => T): Promise<T> {
  const lock: WriterLock = await retryBusy(waitMs, () => acquireWriterLock(join(dir, 'writer.lock'), 0, `namespace ${name}`));
  try {
    return fn();
  } finally {
    lock.release();
  }
}
