import { DataDir } from '../../store/data-dir.js';
import { type NamespaceSummary, summarizeNamespace } from '../../store/describe.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { outLine, printJson, type GlobalOptions, reportError } from '../output.js';
import { checkS3EndpointUse } from '../s3-settings.js';

export default async function namespaces(_a: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const rows: NamespaceSummary[] = [];
  let status = 0;
  checkS3EndpointUse(o, g.dataDir);
  if (isObjectStoreUrl(g.dataDir)) {
    // The namespaces published there, each summarised from its latest version.
    const onError = (e: unknown) => (status ||= reportError(e, g));
    await (await import('../remote.js')).forEachRemoteNamespace(g.dataDir, o, async (name, dir, opts) => void rows.push(summarizeNamespace(dir, name, opts)), onError);
  } else {
    // A missing data directory is an error here as in every other command (not an empty list).
    const dir = DataDir.open(g.dataDir);
    for (const name of dir.listNamespaces()) {
      // One namespace that cannot be read (damaged, or not readable by this user) is reported on stderr;
      // the others are still listed, and the exit status is the first failure's.
      try {
        rows.push(summarizeNamespace(dir.namespacePath(name), name));
      } catch (e) {
        status ||= reportError(e, g);
      }
    }
  }
  if (g.json) {
    for (const r of rows) await printJson(r);
    return status;
  }
  for (const r of rows) await outLine(`${r.namespace}\t${r.documents}`);
  return status;
}
