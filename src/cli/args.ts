/** Option parsing shared by commands: pure, throws USAGE errors naming the option. */
import { readFileSync } from 'node:fs';
import { ElacsymError } from '../errors.js';
import { parseId } from '../model/document.js';
import type { DocId } from '../model/types.js';
import { envError } from '../util/env-error.js';

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

/** An id as typed by a shell user: 42 is the integer id, "42" (JSON-quoted) or abc are strings. */
export function cliId(raw: string, where: string): DocId {
  const t = raw.trim();
  let v: unknown = t;
  if (/^\d+$/.test(t)) v = Number(t);
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

/** Ids from command-line arguments and/or an ids file (one per line, JSON or bare; - for stdin). */
export function cliIds(args: readonly string[], idsFile: unknown): DocId[] {
  const ids: DocId[] = args.map((a, i) => cliId(a, `id argument ${i + 1}`));
  if (typeof idsFile === 'string') {
    readInput(idsFile, 'ids file')
      .split('\n')
      .forEach((l, i) => l.trim() && ids.push(cliId(l.replace(/\r$/, ''), `line ${i + 1}`)));
  }
  return ids;
}
