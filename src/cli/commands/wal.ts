import { ElacsymError } from '../../errors.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { namespaceDir } from '../../store/data-dir.js';
import { inspectJournal } from '../../store/journal-inspect.js';
import { Writer } from '../../store/writer.js';
import { assertCanCreate, toEnvError } from '../../util/env-error.js';
import { intOpt } from '../args.js';
import { interruptSignal, lockWaitNotice, quarantineNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, outLine, printJson, type GlobalOptions } from '../output.js';

export async function inspect([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  const dumpDir = typeof o.dump === 'string' ? o.dump : null;
  if (dumpDir) {
    try {
      assertCanCreate(dumpDir, 'the --dump directory');
      mkdirSync(dumpDir, { recursive: true });
    } catch (e) {
      throw toEnvError(e, dumpDir, 'creating the --dump directory');
    }
  }
  let dumped = 0;
  const report = inspectJournal(dir, {
    dump: dumpDir
      ? (seq, payload) => {
          const p = join(dumpDir, `quarantined-${seq}.bin`);
          try {
            writeFileSync(p, payload);
            dumped++;
          } catch (e) {
            throw toEnvError(e, p, 'writing');
          }
        }
      : undefined,
  });
  if (g.json) await printJson({ namespace: name, ...report, ...(dumpDir ? { dumped, dump_dir: dumpDir } : {}) });
  else {
    await outLine(['seq', 'op', 'docs', 'bytes', 'crc32', 'status', 'state', 'committed_at', 'problem'].join('\t'));
    for (const e of report.entries) {
      await outLine([e.seq, e.op, e.documents, e.bytes, e.crc32, e.status, e.state, e.committed_at, e.problem ?? ''].join('\t'));
    }
    const t = report.totals;
    // The totals are a summary, not a row of the table: stderr, like every other summary.
    err(
      `total: ${t.pending_entries} pending entries, ${t.pending_documents} documents, ${t.pending_bytes} bytes; ${t.corrupt} corrupt; ${t.quarantined} quarantined; manifest ${report.manifest_bytes} bytes`,
    );
  }
  const bad = report.totals.corrupt + report.totals.quarantined;
  // Only quarantined entries have their bytes dumped; a damaged entry still pending is quarantined (and
  // then dumpable) by the next writer, e.g. `wal replay`.
  const pendingBad = report.totals.corrupt;
  const where = dumpDir ? `; ${dumped} quarantined payloads written to ${dumpDir}${pendingBad ? ` (${pendingBad} damaged pending entries are quarantined by \`elacsym wal replay ${name}\`, then dumpable)` : ''}` : ' (pass --dump DIR to save the quarantined bytes)';
  // With --json the report says it all (totals.corrupt, totals.quarantined, dumped): stderr stays JSON-only.
  if (bad > 0 && !g.quiet && !g.json) err(`elacsym: ${bad} damaged journal entries in ${name}${where}`);
  return bad > 0 ? 5 : 0;
}

export async function replay([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (o.abandonJob !== undefined && !g.remote) throw new ElacsymError('USAGE', '--abandon-job removes a sharded import job staged on an object store: it needs an s3:// data directory', { details: { option: '--abandon-job' } });
  const dir = namespaceDir(g.dataDir, name!);
  if (o.dryRun) {
    const r = inspectJournal(dir);
    const out = { namespace: name, dry_run: true, would_apply_entries: r.totals.pending_entries - r.totals.corrupt, would_apply_documents: r.entries.filter((e) => e.state === 'pending' && e.status === 'ok').reduce((a, e) => a + e.documents, 0), would_quarantine: r.totals.corrupt };
    if (g.json) await printJson(out);
    else err(`${name}: would apply ${out.would_apply_entries} entries (${out.would_apply_documents} documents), quarantine ${out.would_quarantine}`);
    return 0;
  }
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const w = await Writer.open(dir, name!, {
    waitSeconds: wait,
    onLockWait: lockWaitNotice(g, name!, wait),
    segmentDocs: intOpt(o.segmentDocs, '--segment-docs', 1, 100_000_000),
    segmentBytes: segmentBytesFromEnv(),
    // SIGINT/SIGTERM: the segment being built is abandoned, what was flushed stays (INTERRUPTED, 130).
    signal: interruptSignal('committing what was replayed and stopping'),
  });
  try {
    const r = w.recovered!;
    const purged = o.purgeQuarantine ? w.purgeQuarantine() : 0;
    const out = { namespace: name, applied_entries: r.entries, documents: r.docs, inserted: r.inserted, updated: r.updated, deleted: r.deleted, quarantined: r.quarantined, purged, segment: r.segmentId };
    if (g.json) await printJson(out);
    else if (!g.quiet) err(`${name}: applied ${r.entries} journal entries (${r.docs} documents: ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted)${r.quarantined ? `; quarantined ${r.quarantined} damaged entries` : ''}${purged ? `; purged ${purged} quarantined entries` : ''}`);
    // Said like every writer says it, --quiet or not: documents left the namespace (or came back).
    quarantineNotice(g, name!, w.quarantinedEntries, w.quarantinedDeletes);
    return 0;
  } finally {
    w.close();
  }
}
