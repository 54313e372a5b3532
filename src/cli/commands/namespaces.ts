import { existsSync } from 'node:fs';
import { DataDir } from '../../store/data-dir.js';
import { Snapshot } from '../../store/snapshot.js';
import { outLine, printJson, type GlobalOptions } from '../output.js';

export default async function namespaces(_a: string[], _o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const rows: { namespace: string; documents: number; segments: number; pending_journal_entries: number; vector_dim: number; metric: string }[] = [];
  if (existsSync(g.dataDir)) {
    const dir = DataDir.open(g.dataDir);
    for (const name of dir.listNamespaces()) {
      const snap = Snapshot.open(dir.namespacePath(name));
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
  }
  if (g.json) {
    for (const r of rows) await printJson(r);
    return 0;
  }
  for (const r of rows) await outLine(`${r.namespace}\t${r.documents}`);
  return 0;
}
