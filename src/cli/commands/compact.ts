import { ElacsymError } from '../../errors.js';
import { compactNamespace, type CompactionReport } from '../../store/compact.js';
import { Writer } from '../../store/writer.js';
import { DataDir, namespaceDir } from '../../store/data-dir.js';
import { intOpt } from '../args.js';
import { loadConfig } from '../config.js';
import { interruptSignal, lockWaitNotice, quarantineNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, printJson, type GlobalOptions, reportError } from '../output.js';
import { peakRssBytes } from '../../util/peak-rss.js';

function describe(r: CompactionReport): string {
  if (r.nothing_to_do) return `${r.namespace}: nothing to do (${r.segments_before} segments, ${r.documents_before} documents)`;
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  if (r.dry_run) return `${r.namespace}: would compact: ${r.reason.join('; ')}; merge groups ${JSON.stringify(r.plan.merge)}`;
  return `${r.namespace}: ${r.segments_before} -> ${r.segments_after} segments, ${r.documents_after} documents, ${mb(r.bytes_before)} -> ${mb(r.bytes_after)} in ${(r.duration_ms / 1000).toFixed(2)}s (${r.reason.join('; ')})`;
}

export default async function compact([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (!name && !o.all) throw new ElacsymError('USAGE', 'name a namespace or pass --all');
  if (name && o.all) throw new ElacsymError('USAGE', 'pass either a namespace or --all, not both');
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const names = o.all ? DataDir.open(g.dataDir).listNamespaces() : [name!];
  const cfg = await loadConfig(g.dataDir);
  const thresholds = {
    maxSegments: cfg['compaction.max_segments'].value as number,
    tierBaseDocs: cfg['compaction.min_segment_size'].value as number,
    deadRatio: cfg['compaction.dead_ratio'].value as number,
  };
  const signal = interruptSignal();
  const segmentBytes = segmentBytesFromEnv();
  let worst = 0;
  for (const ns of names) {
    try {
      const dir = namespaceDir(g.dataDir, ns);
      // No recovery flush on open: the plan decides whether the journal backlog is worth flushing.
      const w = await Writer.open(dir, ns, { waitSeconds: wait, recover: false, segmentBytes, signal, onLockWait: lockWaitNotice(g, ns, wait) });
      try {
        const report = await compactNamespace(w, ns, { ifNeeded: Boolean(o.ifNeeded), dryRun: Boolean(o.dryRun), thresholds });
        // The process's peak resident memory so far (with --all, the namespaces before this one included):
        // what a cron job's memory limit must allow; `bench --compact` reads it.
        if (g.json) await printJson({ ...report, peak_rss_bytes: peakRssBytes() });
        else if (!g.quiet || report.dry_run) err(describe(report));
      } finally {
        quarantineNotice(g, ns, w.quarantinedEntries, w.quarantinedDeletes);
        w.close();
      }
    } catch (e) {
      // --all goes on with the other namespaces; the exit status is the first failure's.
      // An interrupt stops --all too: rethrown, main reports it once with status 130.
      if (e instanceof ElacsymError && e.code === 'INTERRUPTED') throw e;
      const code = reportError(e, { ...g, namespace: ns }); // the hint names the namespace that failed
      if (!o.all) return code;
      worst ||= code;
    }
  }
  return worst;
}
