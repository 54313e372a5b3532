/** Option parsing shared by commands: pure, throws USAGE errors naming the option. */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { ElacsymError } from '../errors.js';
import { isCanonicalInteger, parseId } from '../model/document.js';
import type { DocId } from '../model/types.js';
import { envError } from '../util/env-error.js';
import { err } from './output.js';

/*
 * Number options are parsed strictly, the same way in every command: decimal digits only. `Number()` would
 * also take "0x10", "1e3", "0b1", " 5 " or "" (as 0), so a typo could silently become a different value.
 * Integers take no exponent; other numbers may (`--vector-weight 1e-3`).
 */
const INT_RE = /^-?\d+$/;
const NUM_RE = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** An integer option: optional minus sign and decimal digits, within [min, max]; USAGE naming the option. */
export function intOpt(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = typeof v === 'number' ? String(v) : v;
  const n = typeof s === 'string' && INT_RE.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ElacsymError('USAGE', `${name} expects a decimal integer between ${min} and ${max}, got ${JSON.stringify(v ?? null)}`, { details: { option: name } });
  }
  return n;
}

/** A number option: a decimal (digits, optional fraction and exponent; no hex, no Infinity), >= min. */
export function numOpt(v: unknown, name: string, min = -Infinity): number {
  const s = typeof v === 'number' ? String(v) : v;
  const n = typeof s === 'string' && NUM_RE.test(s) ? Number(s) : Number.NaN;
  if (!Number.isFinite(n) || n < min) {
    throw new ElacsymError('USAGE', `${name} expects a decimal number${min > -Infinity ? ` >= ${min}` : ''}, got ${JSON.stringify(v ?? null)}`, { details: { option: name } });
  }
  return n;
}

/** Read FILE, or stdin for "-". */
export function readInput(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw inputError(e, file, what);
  }
}

/**
 * Checks, without reading it, that `file` (not `-`) could be read by readInput: the same errors, before
 * anything else is done (on an object store: before the store is contacted).
 */
export function checkInput(file: string, what: string): void {
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('illegal operation on a directory, read'), { code: 'EISDIR' });
    accessSync(file, constants.R_OK);
  } catch (e) {
    throw inputError(e, file, what);
  }
}

function inputError(e: unknown, file: string, what: string): ElacsymError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ElacsymError('FILE_NOT_FOUND', `${what} ${file} does not exist`, { details: { path: file } });
  // A file this user may not read is a permission problem (77), not a usage error.
  const env = envError(e, file, `reading ${what}`);
  if (env?.code === 'PERMISSION_DENIED') return env;
  return new ElacsymError('USAGE', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e, details: { path: file } });
}

/** Parse JSON given inline or as @FILE. */
export function jsonArg(v: string, name: string): unknown {
  const text = v.startsWith('@') ? readInput(v.slice(1), name) : v;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ElacsymError('USAGE', `${name} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * An id as typed by a shell user: 42 is the integer id; "42" (JSON-quoted), abc, 007 (not the canonical
 * form of an integer) and digits past 2^53 - 1 are string ids, as in a CSV id cell (store/records.ts).
 */
export function cliId(raw: string, where: string): DocId {
  const t = raw.trim();
  let v: unknown = t;
  if (isCanonicalInteger(t)) v = Number(t);
  else if (t.startsWith('"')) {
    try {
      v = JSON.parse(t);
    } catch {
      throw new ElacsymError('USAGE', `${where}: ${t} is not a valid JSON string`);
    }
  }
  try {
    return parseId(v);
  } catch (e) {
    throw new ElacsymError('USAGE', `${where}: ${(e as Error).message}`);
  }
}

/** With --json: `{"event":"reading","source":"stdin"}` on stderr once a command waits for its stdin. */
export function readingNotice(g: { json: boolean }): () => void {
  return () => {
    if (g.json) err(JSON.stringify({ event: 'reading', source: 'stdin' }));
  };
}

/**
 * FILE's text, or standard input's for "-", read without blocking the event loop: a signal while stdin is
 * quiet ends the read at once with INTERRUPTED (a synchronous read would let the command go on after
 * Ctrl-C once stdin closed). Nothing has been written when it throws.
 */
export async function readInputInterruptibly(file: string, what: string, signal: AbortSignal, onReading?: () => void): Promise<string> {
  if (file !== '-') return readInput(file, what);
  onReading?.();
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const stdin = process.stdin;
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (c: Buffer) => chunks.push(c);
    const onEnd = () => {
      cleanup();
      resolve();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onAbort = () => {
      cleanup();
      stdin.destroy();
      reject(new ElacsymError('INTERRUPTED', `interrupted while reading the ${what} from standard input; nothing was done`, { hint: 'rerun the command' }));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stdin.on('data', onData).on('end', onEnd).on('error', onError);
  });
  return Buffer.concat(chunks).toString('utf8');
}

/** Ids of an ids file's text: one per line (JSON or bare); empty lines are ignored. */
export function idsOfText(text: string): DocId[] {
  const ids: DocId[] = [];
  text.split('\n').forEach((l, i) => l.trim() && ids.push(cliId(l.replace(/\r$/, ''), `line ${i + 1}`)));
  return ids;
}

/** Ids from command-line arguments and/or an ids file (one per line, JSON or bare; - for stdin). */
export async function cliIds(args: readonly string[], idsFile: unknown, signal: AbortSignal, onReading?: () => void): Promise<DocId[]> {
  const ids: DocId[] = args.map((a, i) => cliId(a, `id argument ${i + 1}`));
  if (typeof idsFile === 'string') ids.push(...idsOfText(await readInputInterruptibly(idsFile, 'ids file', signal, onReading)));
  return ids;
}

/** `import --shard I/N --job NAME`: shard I (1-based) of N, and the job's name; null without --shard. */
export interface ShardOption {
  index: number;
  count: number;
  job: string;
}

/** The largest N of `--shard I/N`. */
export const MAX_SHARDS = 10_000;

/**
 * Parses `--shard I/N` and `--job NAME` (USAGE errors naming the option). A shard must build its segments
 * (not --no-flush), and it has no resume point of its own (not --resume: re-run the shard whole).
 */
export function shardOption(o: Record<string, unknown>): ShardOption | null {
  if (o.shard === undefined) {
    if (o.job !== undefined) throw new ElacsymError('USAGE', '--job names the job of a sharded import: it needs --shard I/N', { details: { option: '--job' } });
    return null;
  }
  const m = typeof o.shard === 'string' ? /^(\d{1,6})\/(\d{1,6})$/.exec(o.shard) : null;
  const index = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || index < 1 || count < 1 || index > count || count > MAX_SHARDS) {
    throw new ElacsymError('USAGE', `--shard expects I/N with 1 <= I <= N <= ${MAX_SHARDS} (shard I of N), got ${JSON.stringify(o.shard)}`, { details: { option: '--shard' } });
  }
  if (typeof o.job !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.job)) {
    throw new ElacsymError('USAGE', o.job === undefined ? '--shard needs --job NAME: the same name on every shard of this import' : `--job expects 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(o.job)}`, {
      hint: 'give every shard of one import the same new name, e.g. --job import-2026-12-01 or a CI run id',
      details: { option: '--job' },
    });
  }
  if (o.flush === false) throw new ElacsymError('USAGE', '--shard builds segments: it cannot be combined with --no-flush', { details: { option: '--no-flush' } });
  if (o.resume) throw new ElacsymError('USAGE', '--shard cannot be combined with --resume: run the shard again whole (its stage is replaced)', { details: { option: '--resume' } });
  return { index, count, job: o.job };
}
