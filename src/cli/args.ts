/** Option parsing shared by commands: pure, throws USAGE errors naming the option. */
import { readFileSync } from 'node:fs';
import { ElacsymError } from '../errors.js';
import { envError } from '../util/env-error.js';

export function intOpt(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (v === undefined || v === null || String(v).trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new ElacsymError('USAGE', `${name} expects an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function numOpt(v: unknown, name: string, min = -Infinity): number {
  const n = Number(v);
  if (v === undefined || String(v).trim() === '' || !Number.isFinite(n) || n < min) {
    throw new ElacsymError('USAGE', `${name} expects a number${min > -Infinity ? ` >= ${min}` : ''}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Read FILE, or stdin for "-". */
export function readInput(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ElacsymError('FILE_NOT_FOUND', `${what} ${file} does not exist`, { details: { path: file } });
    // A file this user may not read is a permission problem (77), not a usage error.
    const env = envError(e, file, `reading ${what}`);
    if (env?.code === 'PERMISSION_DENIED') throw env;
    throw new ElacsymError('USAGE', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e, details: { path: file } });
  }
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
