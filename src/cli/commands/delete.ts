import { ElacsymError, isElacsymError } from '../../errors.js';
import { envError } from '../../util/env-error.js';
import { failpointPause } from '../../util/failpoint.js';
import { parseFilter } from '../../model/filter.js';
import { matchingIds } from '../../store/count.js';
import { namespaceDir } from '../../store/data-dir.js';
import { Snapshot } from '../../store/snapshot.js';
import type { DocId } from '../../model/types.js';
import { Writer } from '../../store/writer.js';
import { checkInput, cliId, idsOfText, intOpt, jsonArg, readInputInterruptibly, readingNotice } from '../args.js';
import { interruptSignal, lockWaitNotice, quarantineNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, printJson, type GlobalOptions } from '../output.js';

/**
 * Checks the options before anything else (on an object store: before contacting it); an ids file is
 * read later, once (it may be standard input).
 */
export function preflight(_args: string[], o: Record<string, unknown>): Promise<void> {
  if (typeof o.ids === 'string') o.ids.split(',').forEach((s, i) => s.trim() && cliId(s, `--ids item ${i + 1}`));
  const byFilter = typeof o.filter === 'string';
  if (byFilter && (o.ids !== undefined || o.idsFile !== undefined)) throw new ElacsymError('USAGE', '--filter and --ids/--ids-file are exclusive');
  if (!byFilter && o.ids === undefined && o.idsFile === undefined) throw new ElacsymError('USAGE', 'pass --ids 1,2,3, --ids-file FILE or --filter JSON');
  if (o.dryRun && !byFilter) throw new ElacsymError('USAGE', '--dry-run needs --filter');
  // (an @FILE filter is read once, later: it may be standard input)
  const inline = byFilter && !String(o.filter).startsWith('@');
  if (inline && jsonArg(String(o.filter), '--filter') === null) throw nullFilter();
  intOpt(o.wait ?? 0, '--wait', 0, 86400);
  // an ids file is read later (once: it may be a pipe), but one that cannot be read is named now
  if (typeof o.idsFile === 'string' && o.idsFile !== '-') checkInput(o.idsFile, 'ids file');
  return Promise.resolve();
}

const nullFilter = () => new ElacsymError('USAGE', '--filter null would delete every document; use `elacsym drop` to remove a namespace');

export default async function del([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  await preflight([], o);
  const ids: DocId[] = [];
  if (typeof o.ids === 'string') o.ids.split(',').forEach((s, i) => s.trim() && ids.push(cliId(s, `--ids item ${i + 1}`)));
  // Read without blocking: Ctrl-C on a quiet stdin stops here, before anything is deleted.
  if (typeof o.idsFile === 'string') ids.push(...idsOfText(await readInputInterruptibly(o.idsFile, 'ids file', interruptSignal(), readingNotice(g))));
  const byFilter = typeof o.filter === 'string';
  const filterJson = byFilter ? jsonArg(String(o.filter), '--filter') : null;
  if (byFilter && filterJson === null) throw nullFilter();
  if (o.dryRun) {
    // Nothing is written and no lock is taken: the count is that of the current snapshot.
    const snap = Snapshot.open(dir);
    let n: number;
    try {
      n = matchingIds(snap, parseFilter(filterJson, snap.schema)).length;
    } finally {
      snap.close();
    }
    if (g.json) await printJson({ namespace: name, dry_run: true, would_delete: n });
    else if (!g.quiet) err(`would delete ${n} documents from ${name} (dry run: nothing written)`);
    return 0;
  }
  // SIGINT/SIGTERM: the deletes already committed to the journal stay; the segment build stops (130).
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const signal = interruptSignal();
  let writer: Writer;
  try {
    writer = await Writer.open(dir, name!, { waitSeconds: wait, segmentBytes: segmentBytesFromEnv(), signal, onLockWait: lockWaitNotice(g, name!, wait) });
  } catch (e) {
    // Stopped while the writer built segments from an earlier backlog (or waited for the lock): the
    // delete itself was never committed.
    if (!isElacsymError(e, 'INTERRUPTED')) throw e;
    throw new ElacsymError('INTERRUPTED', `${e.message}; the delete was not committed: nothing was deleted`, { cause: e, hint: 'run the delete again', details: { ...e.details, committed: false } });
  }
  try {
    if (byFilter) {
      // Evaluated under the writer lock, after the writer's recovery: no other writer can change the
      // matches between this snapshot and the delete's commit, so exactly the listed documents go.
      const snap = Snapshot.open(dir);
      try {
        ids.push(...matchingIds(snap, parseFilter(filterJson, snap.schema)));
      } finally {
        snap.close();
      }
    }
    if (ids.length > 0) {
      try {
        writer.appendDeletes(ids);
      } catch (e) {
        const env = isElacsymError(e) ? e : envError(e, dir, 'committing the delete to');
        if (env?.code !== 'NO_SPACE') throw e;
        throw new ElacsymError('NO_SPACE', `${env.message}; the delete was not committed: nothing was deleted`, { cause: e, hint: 'free disk space, then run the delete again', details: { ...env.details, committed: false } });
      }
    }
    await failpointPause('delete:after-journal-commit', signal);
    const unique = new Set(ids.map((i) => JSON.stringify(i))).size;
    let r: Awaited<ReturnType<typeof writer.flush>>;
    try {
      r = await writer.flush();
    } catch (e) {
      // The delete is committed (the journal is what queries read), only its segment work stopped: say so,
      // or the user would run it again or think the documents are still there.
      const env = ids.length === 0 ? null : isElacsymError(e) ? e : envError(e, dir, 'applying the delete to');
      if (env?.code === 'NO_SPACE') {
        throw new ElacsymError('NO_SPACE', `${env.message}; the delete of ${unique} ids from ${name} was committed before that: queries no longer return those documents; applying it to the segments needs disk space`, {
          cause: e,
          hint: `free disk space; nothing to run again: the next writer (or \`elacsym wal replay ${name}\`) applies it`,
          details: { ...env.details, requested: ids.length, committed: true },
        });
      }
      if (!isElacsymError(e, 'INTERRUPTED') || ids.length === 0) throw e;
      throw new ElacsymError('INTERRUPTED', `interrupted after the delete of ${unique} ids from ${name} was committed: queries no longer return those documents; applying it to the segments stopped`, {
        cause: e,
        hint: `nothing to run again: the next writer (or \`elacsym wal replay ${name}\`) applies it to the segments`,
        details: { requested: ids.length, committed: true },
      });
    }
    const summary = { namespace: name, requested: ids.length, deleted: r.deleted, not_found: Math.max(0, unique - r.deleted) };
    if (g.json) await printJson(summary);
    else if (!g.quiet) {
      // Counted in distinct ids: "deleted 2 of 4 ids (1 not found)" for 1,1,2,3 added up to nothing.
      const dup = ids.length - unique;
      err(`deleted ${summary.deleted} of ${unique} ids from ${name} (${summary.not_found} not found${dup > 0 ? `; ${dup} repeated id${dup === 1 ? '' : 's'} counted once` : ''})`);
    }
    return 0;
  } finally {
    quarantineNotice(g, name!, writer.quarantinedEntries, writer.quarantinedDeletes);
    writer.close();
  }
}
