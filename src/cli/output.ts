/**
 * The only writer to stdout and stderr. Results go to stdout; diagnostics, progress and summaries to
 * stderr. Writes are synchronous-safe for pipes: we wait for 'drain' on back-pressure so a large export
 * piped into `head` or another import neither buffers unboundedly nor loses the tail on exit.
 */
import { writeSync } from 'node:fs';
import { ElacsymError, EXIT } from '../errors.js';
import { isCorrupt } from '../storage/sqlite-codes.js';
import { envError } from '../util/env-error.js';

export interface GlobalOptions {
  dataDir: string;
  /** The user named the data directory (flag or ELACSYM_DATA_DIR) rather than taking the default. */
  dataDirExplicit: boolean;
  /** Options of the running command that the user typed (not defaults). */
  explicit: ReadonlySet<string>;
  json: boolean;
  quiet: boolean;
  debug: boolean;
  /** The running command as typed after `elacsym`, e.g. "query" or "wal inspect" (fills hints). */
  command?: string;
  /** The namespace the command works on, when it has one (fills hints). */
  namespace?: string;
  /** The s3:// data directory whose working copy `dataDir` is (cli/remote-write.ts). */
  remote?: string;
  /**
   * On a working copy: called right after each import batch commits to the working copy's journal; calls
   * `onDurable` once the batch is durable in the store (store/remote-journal.ts). Throws when an earlier
   * upload failed.
   */
  afterBatch?: (onDurable: () => void) => void;
  /** On a working copy: called with an import's summary (a shard records what it read in its stage). */
  onImportSummary?: (s: { lines: number; input_crc32?: number }) => void;
  /** On a working copy: what `health` reports of the store, the version and this machine's cache. */
  remoteStatus?: RemoteStatus;
}

/** The object-store part of `health -d s3://...` (cli/remote-write.ts). */
export interface RemoteStatus {
  url: string;
  /** The version the working copy holds, when it was committed, and its age in seconds. */
  version: number;
  committed_at: string;
  manifest_age_s: number;
  /** This machine's cache: its directory, bytes on disk (range-cache blocks, writers' segment files, state databases), and bound. */
  cache: { dir: string; bytes: number; blocks_bytes: number; segment_files_bytes: number; max_bytes: number };
  /** This checkout: segment files of the version, how many were in the cache already, bytes fetched. */
  checkout: { segment_files: number; cache_hits: number; hit_ratio: number; fetched_objects: number; fetched_bytes: number };
  /** Journal objects of other writers this version does not hold (applied to the working copy). */
  pending_journal_objects: number;
  /** Of those, the damaged ones (unreadable, or failing their CRC-32): key and why. */
  damaged_journal_objects: { key: string; why: string }[];
  /** Sharded import jobs with stages in the store, not committed (a complete one waits for `wal replay`). */
  jobs: { job: string; of: number; staged: number[]; missing: number[]; conflict?: string | null }[];
}

/** What a hint can be made concrete with. */
export type HintContext = Partial<Pick<GlobalOptions, 'command' | 'namespace' | 'dataDir' | 'dataDirExplicit'>>;

const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * The error table's hints are templates (`elacsym <command> --help`, `elacsym health <namespace> --deep`);
 * a printed hint must name a command the user can paste, so the placeholders are filled with the running
 * command, its namespace and its data directory. When the namespace is unknown (a command over all
 * namespaces), the hint falls back to the form of the command that covers every namespace.
 */
export function concreteHint(hint: string, ctx: HintContext): string {
  const dd = ctx.dataDirExplicit && ctx.dataDir ? ` -d ${shellWord(ctx.dataDir)}` : '';
  // `publish` runs with the LOCAL data directory that holds the namespace, never the s3:// one given here;
  // a hint that names its own data directory (`elacsym -d s3://...`) keeps it.
  let h = hint.replace(/`elacsym (?!publish |-d )/g, `\`elacsym${dd} `);
  h = h.replace(/<command>/g, ctx.command ?? '');
  h = h.replace(/`elacsym( -d \S+)? +--help`/g, (_m, d: string | undefined) => `\`elacsym${d ?? ''} --help\``);
  if (ctx.namespace !== undefined) return h.replace(/<namespace>/g, shellWord(ctx.namespace));
  // No namespace: use the every-namespace form of the command, or point at the command's help.
  return h
    .replace(/ <namespace> --deep/g, ' --deep')
    .replace(/`elacsym([^`]*) compact <namespace>`/g, '`elacsym$1 compact --all`')
    .replace(/`elacsym([^`]*) (wal inspect|wal replay|drop) <namespace>[^`]*`/g, (_m, d: string, c: string) => `\`elacsym${d} ${c} --help\``)
    .replace(/create it with `elacsym([^`]*) init <namespace>[^`]*`( \([^)]*\))?/g, 'create it by creating a namespace (see `elacsym$1 init --help`)');
}

let pendingOut = '';
let stdoutClosed = false;

/** Thrown when the reader of stdout went away (`elacsym export | head`): main exits quietly. */
export class BrokenPipe extends Error {}

/**
 * Any other failure to write stdout (a full disk under `export > file`, a read-only target) must fail the
 * command: swallowing it exited 0 with the output cut short, a silent loss for a backup script.
 */
let stdoutError: NodeJS.ErrnoException | null = null;

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') stdoutClosed = true;
  else stdoutError ??= e;
});

function checkStdout(): void {
  if (stdoutError) throw envError(stdoutError, 'standard output', 'writing') ?? stdoutError;
}

/** Buffered stdout: flushed in 64 KiB writes; call `flushOut()` before exit. */
export async function out(text: string): Promise<void> {
  if (stdoutClosed) throw new BrokenPipe('stdout closed');
  checkStdout();
  pendingOut += text;
  if (pendingOut.length >= 65536 && held === null) await flushOut();
}

/**
 * Output held back (`holdOutput`): a writing command on an object store prints its results and
 * diagnostics only once its version is committed (a result printed earlier would acknowledge what a lost
 * commit race then discards). Null when output flows.
 */
let held: { err: string[] } | null = null;

/** From now on, stdout stays buffered and stderr lines are kept, until `releaseOutput`. */
export function holdOutput(): void {
  held ??= { err: [] };
}

/** Drops held output, stdout and stderr alike (an attempt that will be run again), and lets output flow. */
export function discardOutput(): void {
  if (held !== null) pendingOut = '';
  held = null;
}

/**
 * Lets held output go: stderr lines are written, stdout is flushed when `keepStdout`, else dropped (the
 * results of a command whose commit failed); both through `rewrite` (a working copy's path made the URL).
 */
export async function releaseOutput(keepStdout: boolean, rewrite: (text: string) => string = (t) => t): Promise<void> {
  const h = held;
  held = null;
  if (!h) return;
  for (const line of h.err) err(rewrite(line));
  pendingOut = keepStdout ? rewrite(pendingOut) : '';
  await flushOut();
}

export async function flushOut(): Promise<void> {
  if (held !== null) return;
  if (pendingOut.length === 0 || stdoutClosed) return;
  const s = pendingOut;
  pendingOut = '';
  if (!process.stdout.write(s)) {
    await new Promise<void>((resolve) => {
      const done = () => {
        process.stdout.off('drain', done);
        process.stdout.off('error', done);
        process.stdout.off('close', done);
        resolve();
      };
      process.stdout.on('drain', done);
      process.stdout.on('error', done);
      process.stdout.on('close', done);
    });
  }
  if (stdoutClosed) throw new BrokenPipe('stdout closed');
  // A file's write error arrives as an 'error' event on the next tick: give it that tick.
  if (!stdoutError) await new Promise<void>((r) => setImmediate(r));
  if (stdoutClosed) throw new BrokenPipe('stdout closed');
  checkStdout();
}

export function outLine(text: string): Promise<void> {
  return out(`${text}\n`);
}

export function printJson(v: unknown): Promise<void> {
  return out(`${JSON.stringify(v)}\n`);
}

/** Diagnostics: synchronous so nothing is lost if we exit right after. */
export function err(text: string): void {
  if (held !== null) {
    held.err.push(text);
    return;
  }
  errNow(text);
}

/** A diagnostic that is never held (see holdOutput): what the process is doing right now (a signal). */
export function errNow(text: string): void {
  try {
    writeSync(2, `${text}\n`);
  } catch {
    // stderr closed: nothing sensible left to do
  }
}

export function isTTY(stream: 'stdout' | 'stderr' | 'stdin'): boolean {
  return Boolean(process[stream].isTTY);
}

/** Turn any error into text on stderr and the documented exit status. */
export function reportError(e: unknown, g: Pick<GlobalOptions, 'json' | 'debug'> & HintContext): number {
  // Output held for a commit that will not happen (a second signal exits from here) is dropped, and the
  // error itself is printed.
  discardOutput();
  if (e instanceof BrokenPipe) return EXIT.OK; // the reader has what it wanted, like `yes | head`
  // An errno or SQLite code that escaped its call site still names the environment, not a bug.
  const ee =
    e instanceof ElacsymError
      ? e
      : (envError(e) ??
        // A damaged SQLite page can surface from any statement of any command: it is damage, not a bug.
        (isCorrupt(e) ? new ElacsymError('CORRUPT_MANIFEST', `a manifest database is damaged (${(e as { code?: string }).code}: ${(e as Error).message})`, { cause: e }) : null) ??
        new ElacsymError('INTERNAL', e instanceof Error ? e.message : String(e), { cause: e }));
  const hint = concreteHint(ee.hint, g);
  if (g.json) {
    err(JSON.stringify({ error: { code: ee.code, message: ee.message, hint, ...(Object.keys(ee.details).length ? { details: ee.details } : {}) } }));
  } else {
    err(`elacsym: error[${ee.code}]: ${ee.message}`);
    let c: unknown = ee.cause;
    while (c) {
      if (c instanceof Error && c !== ee) err(`  caused by: ${c.message}`);
      c = c instanceof Error ? c.cause : undefined;
    }
    err(`  hint: ${hint}`);
  }
  if (g.debug || ee.code === 'INTERNAL') {
    const stack = (ee.code === 'INTERNAL' && ee.cause instanceof Error ? ee.cause : ee).stack;
    if (stack && g.debug) err(stack);
  }
  return ee.exitStatus ?? EXIT.INTERNAL;
}

/**
 * n rounded, with comma thousands separators ("1,234,567"), as `toLocaleString('en-US')` prints it. Not
 * through Intl: V8's first Intl call in a process canonicalises ICU's locale list (15-20 ms here, more on
 * a busy machine), which every import summary paid for one number.
 */
export function fmtInt(n: number): string {
  const r = Math.round(n);
  if (!Number.isFinite(r)) return String(r).replace('Infinity', '∞');
  const digits = String(Math.abs(r));
  // Beyond 2^53 String() switches to exponent form at 1e21; group only plain digit strings.
  if (!/^\d+$/.test(digits)) return r.toLocaleString('en-US');
  let out = '';
  for (let i = digits.length; i > 0; i -= 3) out = (i > 3 ? ',' : '') + digits.slice(Math.max(0, i - 3), i) + out;
  return (r < 0 ? '-' : '') + out;
}
