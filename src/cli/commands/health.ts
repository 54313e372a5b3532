import { existsSync } from 'node:fs';
import { ElacsymError } from '../../errors.js';
import { DataDir, namespaceDir } from '../../store/data-dir.js';
import { checkNamespace, healthVerdict, type NamespaceHealth, toPrometheus, type UncheckedNamespace } from '../../store/health.js';
import { intOpt } from '../args.js';
import { loadConfig } from '../config.js';
import { concreteHint, isTTY, out, outLine, printJson, type GlobalOptions, type RemoteStatus, reportError } from '../output.js';

export const HEALTH_EXIT = { healthy: 0, degraded: 6, corrupt: 5 } as const;

export function textReport(h: NamespaceHealth): string[] {
  const mb = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
  const lines = [
    `${h.namespace}: ${h.status.toUpperCase()}`,
    `  documents ${h.documents}, segments ${h.segments} (${h.segment_documents} rows, ${h.deleted_rows} deleted/superseded)`,
    `  journal: ${h.journal.pending_entries} pending entries, ${h.journal.pending_documents} documents, ${h.journal.pending_bytes} bytes, oldest ${h.journal.oldest_pending_age_s === null ? 'none' : `${h.journal.oldest_pending_age_s}s`}; ${h.journal.quarantined} quarantined`,
    `  index coverage: ${Object.entries(h.index_coverage).map(([k, c]) => `${k} ${(c.ratio * 100).toFixed(1)}%${c.outdated ? ` (${c.outdated} outdated)` : ''}`).join(', ') || 'no indexes'}`,
    `  last compaction: ${h.last_compaction_at ?? 'never'}; orphan files: ${h.orphan_files.length}; disk ${mb(h.disk_bytes)}; format v${h.format_version}${h.deep ? '; deep check' : ''}`,
  ];
  for (const p of h.problems) lines.push(`  ${p.severity}: [${p.code}] ${p.message}`);
  return lines;
}

export default async function health([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const maxBacklogDocs = intOpt(o.maxBacklog, '--max-backlog', 0);
  // Loaded (and so validated) in every mode: a broken configuration file is worth reporting here.
  const config = await loadConfig(g.dataDir);
  let names: string[];
  let dir: DataDir | null = null;
  if (name) {
    namespaceDir(g.dataDir, name);
    names = [name];
  } else {
    if (!existsSync(g.dataDir)) throw new ElacsymError('DATA_DIR_NOT_FOUND', `data directory ${g.dataDir} does not exist`);
    names = DataDir.open(g.dataDir).listNamespaces();
  }
  dir ??= DataDir.open(g.dataDir);
  const dataDir = dir;
  // A namespace that cannot be checked at all (not readable by this user) is reported on stderr; the
  // others are still checked, and the exit status is the worse of that error's and the verdict's.
  let failed = 0;
  const reports: NamespaceHealth[] = [];
  /** The namespaces that could not be checked, with their error's code (also reported on stderr). */
  const unchecked: UncheckedNamespace[] = [];
  for (const n of names) {
    try {
      reports.push(checkNamespace(dataDir.namespacePath(n), n, { deep: Boolean(o.deep), maxBacklogDocs }));
    } catch (e) {
      // One namespace named: its error is the answer, except for the machine forms, where a scrape of it
      // must still see its status (and --json its `unchecked` entry) beside the error on stderr.
      if (name && !o.prometheus && !g.json) throw e;
      failed ||= reportError(e, g);
      unchecked.push({ namespace: n, code: e instanceof ElacsymError ? e.code : 'INTERNAL', message: (e as Error).message });
    }
  }
  const rs = g.remoteStatus;
  // On an object store, what was acknowledged but is not in the version queries read is a problem of the
  // namespace: a sharded import whose every shard staged but that no version holds (its committing shard
  // died, or its shards read different inputs), and journal objects of importers that did not commit.
  if (rs && reports[0]) {
    const r = reports[0];
    const add = (code: string, message: string) => {
      r.problems.push({ severity: 'degraded', code, message });
      if (r.status === 'healthy') r.status = 'degraded';
    };
    for (const j of rs.jobs) {
      if (j.missing.length > 0) continue;
      if (j.conflict) add('SHARD_JOB_CONFLICT', `sharded import job ${j.job} cannot be committed: ${j.conflict}; run the shard that read another input again on the right one (same --job), or \`elacsym wal replay ${r.namespace} --abandon-job ${j.job}\``);
      else add('SHARD_JOB_UNCOMMITTED', `sharded import job ${j.job}: all ${j.of} shards staged, not committed: run \`elacsym wal replay ${r.namespace}\``);
    }
    for (const x of rs.damaged_journal_objects) {
      r.problems.push({
        severity: 'corrupt',
        code: 'CORRUPT_JOURNAL',
        message: `journal object ${x.key} in the store ${x.why}: the acknowledged batch it holds cannot be committed; \`elacsym wal replay ${r.namespace}\` sets it aside in the quarantine and commits the rest (\`elacsym wal inspect ${r.namespace}\` shows it)`,
      });
      r.status = 'corrupt';
    }
    if (rs.pending_journal_objects > 0) {
      add('JOURNAL_OBJECTS_PENDING', `${rs.pending_journal_objects} acknowledged batch${rs.pending_journal_objects === 1 ? '' : 'es'} in the store's journal ${rs.pending_journal_objects === 1 ? 'is' : 'are'} not committed (queries do not see ${rs.pending_journal_objects === 1 ? 'it' : 'them'}): an import still running commits its own at its end; otherwise run \`elacsym wal replay ${r.namespace}\``);
    }
  }
  // A problem's message names the command that fixes it: made pasteable like an error's hint (-d DIR).
  for (const r of reports) for (const p of r.problems) p.message = concreteHint(p.message, { ...g, namespace: r.namespace });
  // A namespace that could not be checked counts (its JSON lists it under `unchecked`; the verdict said
  // "healthy" beside a non-zero exit).
  const worst = healthVerdict(reports, unchecked);
  if (o.prometheus) await out(toPrometheus(reports, unchecked) + (rs ? storePrometheus(rs, name!) : ''));
  // The effective configuration with the source of each value (default, user, data-dir, env).
  else if (g.json) await printJson({ status: worst, namespaces: reports, ...(unchecked.length > 0 ? { unchecked } : {}), ...(rs ? { object_store: rs } : {}), config });
  else if (isTTY('stdout') && isTTY('stdin')) {
    const { loadScreen } = await import('../ui/load.js');
    const { renderHealth } = await loadScreen<typeof import('../ui/health-screen.js')>('health-screen');
    await renderHealth(reports, worst);
    if (rs) for (const l of storeText(rs)) await outLine(l);
  } else {
    for (const r of reports) for (const l of textReport(r)) await outLine(l);
    if (rs) for (const l of storeText(rs)) await outLine(l);
    if (reports.length === 0 && unchecked.length === 0) await outLine(`no namespaces in ${g.dataDir}`);
  }
  return failed || HEALTH_EXIT[worst];
}

/** health's lines about the store and this machine's cache (an s3:// data directory). */
function storeText(rs: RemoteStatus): string[] {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  return [
    `  store: ${rs.url}, version ${rs.version} committed ${rs.committed_at} (${rs.manifest_age_s}s ago)`,
    `  cache: ${rs.cache.dir}: ${mib(rs.cache.bytes)} (range blocks ${mib(rs.cache.blocks_bytes)} of at most ${mib(rs.cache.max_bytes)}, writers' segment files ${mib(rs.cache.segment_files_bytes)})`,
    `  this check: ${rs.checkout.segment_files} segment files, ${rs.checkout.cache_hits} from the cache (hit ratio ${rs.checkout.hit_ratio}), ${rs.checkout.fetched_objects} fetched (${mib(rs.checkout.fetched_bytes)})`,
    ...rs.jobs
      .filter((j) => j.missing.length > 0)
      .map((j) => `  sharded import job ${j.job}: ${j.staged.length} of ${j.of} shards staged; waiting for shard${j.missing.length === 1 ? '' : 's'} ${j.missing.slice(0, 20).join(', ')}${j.missing.length > 20 ? ', ...' : ''}`),
  ];
}

/** The same as Prometheus gauges. */
function storePrometheus(rs: RemoteStatus, ns: string): string {
  const l = `{namespace="${ns}"}`;
  return [
    '# HELP elacsym_store_version Version of the namespace in the store.',
    '# TYPE elacsym_store_version gauge',
    `elacsym_store_version${l} ${rs.version}`,
    '# HELP elacsym_store_manifest_age_seconds Age of the latest committed version.',
    '# TYPE elacsym_store_manifest_age_seconds gauge',
    `elacsym_store_manifest_age_seconds${l} ${rs.manifest_age_s}`,
    '# HELP elacsym_cache_bytes Bytes in this machine\'s cache of object-store data.',
    '# TYPE elacsym_cache_bytes gauge',
    `elacsym_cache_bytes ${rs.cache.bytes}`,
    '# HELP elacsym_checkout_cache_hit_ratio Share of the segment files found in the cache by this check.',
    '# TYPE elacsym_checkout_cache_hit_ratio gauge',
    `elacsym_checkout_cache_hit_ratio${l} ${rs.checkout.hit_ratio}`,
    '# HELP elacsym_store_pending_journal_objects Acknowledged batches in the store\'s journal that no version holds.',
    '# TYPE elacsym_store_pending_journal_objects gauge',
    `elacsym_store_pending_journal_objects${l} ${rs.pending_journal_objects}`,
    '# HELP elacsym_store_damaged_journal_objects Of those, the ones unreadable or failing their CRC-32.',
    '# TYPE elacsym_store_damaged_journal_objects gauge',
    `elacsym_store_damaged_journal_objects${l} ${rs.damaged_journal_objects.length}`,
    '# HELP elacsym_store_staged_jobs Sharded import jobs with stages in the store, not committed.',
    '# TYPE elacsym_store_staged_jobs gauge',
    `elacsym_store_staged_jobs${l} ${rs.jobs.length}`,
    '# HELP elacsym_checkout_fetched_bytes Bytes fetched from the store by this check.',
    '# TYPE elacsym_checkout_fetched_bytes gauge',
    `elacsym_checkout_fetched_bytes${l} ${rs.checkout.fetched_bytes}`,
    '',
  ].join('\n');
}
