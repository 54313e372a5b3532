import { DataDir } from '../../store/data-dir.js';
import { Snapshot } from '../../store/snapshot.js';
import { outLine, printJson, type GlobalOptions, reportError } from '../output.js';

export default async function namespaces(_a: string[], _o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const rows: { namespace: string; documents: number; segments: number; pending_journal_entries: number; vector_dim: number; metric: string }[] = [];
  // A missing data directory is an error here as in every other command (not an empty list).
  const dir = DataDir.open(g.dataDir);
  let status = 0;
  for (const name of dir.listNamespaces()) {
    // One namespace that cannot be read (damaged, or not readable by this user) is reported on stderr;
    // the others are still listed, and the exit status is the first failure's.
    let snap: Snapshot;
    try {
      snap = Snapshot.open(dir.namespacePath(name));
    } catch (e) {
      const code = reportError(e, g);
      status ||= code;
      continue;
    }
    try {
      rows.push({
        namespace: name,
        documents: snap.liveCount,
        segments: snap.segments.length,
        pending_journal_entries: snap.pendingEntries,
        vector_dim: snap.schema.vector_dim,
        metric: snap.schema.vector_metric,
      });
    } finally {
      snap.close();
    }
  }
  if (g.json) {
    for (const r of rows) await printJson(r);
    return status;
  }
  for (const r of rows) await outLine(`${r.namespace}\t${r.documents}`);
  return status;
}
