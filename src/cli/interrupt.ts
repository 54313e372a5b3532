/**
 * SIGINT and SIGTERM mean the same for every command: `INTERRUPTED`, exit status 130 (man elacsym).
 *
 * - A command that can stop cleanly (import, query --batch, compact, wal replay, delete) calls
 *   `interruptSignal()` and passes the signal to the core. On the first signal the signal aborts; the
 *   core commits what it had already read, abandons work it has not committed (a segment build, a merge),
 *   and throws INTERRUPTED, which main turns into the message and status 130 like any other error.
 * - Any other command holds nothing a crash would not leave consistent (the commit order makes every
 *   await point a safe place to stop), so the first signal exits 130 at once with the INTERRUPTED error.
 * - A second signal always exits 130 at once (committed batches are kept; see man elacsym-import).
 *
 * Without handlers Node would die by the signal: 130 for SIGINT but 143 for SIGTERM, and no message.
 */
import { ElacsymError } from '../errors.js';
import { concreteHint, err, errNow, type GlobalOptions, reportError } from './output.js';

let controller = new AbortController();
let graceful = false;
/** What the running command does on the first signal, for the message (see interruptSignal). */
let stopping = 'stopping cleanly';
let installed: ((sig: NodeJS.Signals) => void) | null = null;

/** Installed by main around every command. */
export function installInterruptHandlers(g: Pick<GlobalOptions, 'json' | 'debug' | 'quiet'>): void {
  if (installed) return;
  controller = new AbortController();
  graceful = false;
  stopping = 'stopping cleanly';
  installed = (sig: NodeJS.Signals) => {
    if (!graceful || controller.signal.aborted) {
      const code = reportError(new ElacsymError('INTERRUPTED', `interrupted by ${sig}`), g);
      process.exit(code);
    }
    // Said at once, even while a commit to an object store holds the command's output back.
    if (g.json) errNow(JSON.stringify({ event: 'interrupted', signal: sig }));
    else if (!g.quiet) errNow(`elacsym: ${sig}: ${stopping} (send it again to stop at once)`);
    controller.abort(new ElacsymError('INTERRUPTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', installed);
  process.on('SIGTERM', installed);
}

export function removeInterruptHandlers(): void {
  if (!installed) return;
  process.off('SIGINT', installed);
  process.off('SIGTERM', installed);
  installed = null;
}

/**
 * The running command stops cleanly on the first signal: it watches the returned signal. `what` says how,
 * in the message printed on the first signal (import: "committing what was read and stopping").
 */
export function interruptSignal(what?: string): AbortSignal {
  graceful = true;
  if (what !== undefined) stopping = what;
  return controller.signal;
}

/**
 * Told when a writer starts waiting (--wait) for another writer's lock: the wait can be long, and it is
 * interruptible like everything else. With --json it is an event on stderr, like import's committed events.
 */
export function lockWaitNotice(g: Pick<GlobalOptions, 'json' | 'quiet'>, name: string, waitSeconds: number): () => void {
  return () => {
    if (g.json) err(JSON.stringify({ event: 'waiting', namespace: name, seconds: waitSeconds }));
    else if (!g.quiet) err(`elacsym: namespace ${name} is being written by another process; waiting up to ${waitSeconds}s (Ctrl-C to stop)`);
  };
}

/**
 * Told when a writing command's flushes set damaged journal entries aside in quarantine: their documents
 * are no longer in the namespace, which must not pass in silence (`wal replay` says it in its summary).
 */
export function quarantineNotice(g: Pick<GlobalOptions, 'json' | 'dataDir' | 'dataDirExplicit'>, name: string, entries: number, deletes = 0): void {
  if (entries === 0) return;
  // An upsert entry's documents are missing (re-import them); a delete entry's are live again (delete them
  // again): the advice depends on which.
  const upserts = entries - deletes;
  const what = [
    upserts > 0 ? `${upserts === 1 ? 'the documents of 1 upsert entry are' : `the documents of ${upserts} upsert entries are`} not in the namespace (re-import them from their source)` : '',
    deletes > 0 ? `${deletes === 1 ? 'the documents 1 delete entry deleted are' : `the documents ${deletes} delete entries deleted are`} live again (delete them again)` : '',
  ].filter(Boolean);
  const hint = concreteHint('`elacsym wal inspect <namespace> --dump DIR` lists the entries and writes their bytes to DIR', { ...g, namespace: name });
  if (g.json) err(JSON.stringify({ event: 'quarantined', namespace: name, entries, deletes, hint }));
  else err(`elacsym: warning: ${entries} damaged journal entr${entries === 1 ? 'y' : 'ies'} of namespace ${name} set aside in quarantine: ${what.join('; ')}\n  hint: ${hint}`);
}
