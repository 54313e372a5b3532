import { DataDir } from '../../store/data-dir.js';
import { type NamespaceSummary, summarizeNamespace } from '../../store/describe.js';
import { outLine, printJson, type GlobalOptions, reportError } from '../output.js';

export default async function namespaces(_a: string[], _o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const rows: NamespaceSummary[] = [];
  // A missing data directory is an error here as in every other command (not an empty list).
  const dir = DataDir.open(g.dataDir);
  let status = 0;
  for (const name of dir.listNamespaces()) {
    // One namespace that cannot be read (damaged, or not readable by this user) is reported on stderr;
    // the others are still listed, and the exit status is the first failure's.
    try {
      rows.push(summarizeNamespace(dir.namespacePath(name), name));
    } catch (e) {
      status ||= reportError(e, g);
    }
  }
  if (g.json) {
    for (const r of rows) await printJson(r);
    return status;
  }
  for (const r of rows) await outLine(`${r.namespace}\t${r.documents}`);
  return status;
}
