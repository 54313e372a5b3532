/**
 * An error as plain data, for a reply from a worker thread (structured clone keeps neither an error's
 * class nor its own fields such as `code`), and back: an ElacsymError with its code, hint and details, or
 * a Node error with its errno, path and syscall (so the receiving thread can still name an environment
 * error for what it is). Used by the object-store bridge (objstore/sync-store.ts, store-worker.ts) and the
 * vector peers (store/vector-peer.ts).
 */
import { ElacsymError, ERRORS, type ErrorCode } from '../errors.js';

export interface WireError {
  name: string;
  code?: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
  errno?: number;
  path?: string;
  syscall?: string;
}

export function toWire(e: unknown): WireError {
  const x = (e ?? {}) as { code?: unknown; message?: unknown; hint?: unknown; details?: unknown; errno?: unknown; path?: unknown; syscall?: unknown; name?: unknown };
  return {
    name: e instanceof ElacsymError ? 'ElacsymError' : typeof x.name === 'string' ? x.name : 'Error',
    code: typeof x.code === 'string' ? x.code : undefined,
    message: typeof x.message === 'string' ? x.message : String(e),
    hint: typeof x.hint === 'string' ? x.hint : undefined,
    details: x.details && typeof x.details === 'object' ? (JSON.parse(JSON.stringify(x.details)) as Record<string, unknown>) : undefined,
    errno: typeof x.errno === 'number' ? x.errno : undefined,
    path: typeof x.path === 'string' ? x.path : undefined,
    syscall: typeof x.syscall === 'string' ? x.syscall : undefined,
  };
}

export function fromWire(w: WireError): Error {
  if (w.code && w.name === 'ElacsymError' && w.code in ERRORS) {
    return new ElacsymError(w.code as ErrorCode, w.message, { ...(w.hint ? { hint: w.hint } : {}), ...(w.details ? { details: w.details } : {}) });
  }
  const e = new Error(w.message) as NodeJS.ErrnoException;
  if (w.code) e.code = w.code;
  if (w.errno !== undefined) e.errno = w.errno;
  if (w.path !== undefined) e.path = w.path;
  if (w.syscall !== undefined) e.syscall = w.syscall;
  return e;
}
