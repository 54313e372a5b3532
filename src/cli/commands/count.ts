import { countDocuments } from '../../store/count.js';
import { namespaceDir } from '../../store/data-dir.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { jsonArg } from '../args.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { outLine, printJson, type GlobalOptions } from '../output.js';

export default async function count([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const filter = typeof o.filter === 'string' ? jsonArg(o.filter, '--filter') : null;
  checkS3EndpointUse(o, g.dataDir);
  // An s3:// data directory: the namespace's latest published version.
  const r = isObjectStoreUrl(g.dataDir)
    ? await (await import('../remote.js')).withRemoteNamespace(g.dataDir, name!, o, async (dir, opts) => countDocuments(dir, filter, opts))
    : countDocuments(namespaceDir(g.dataDir, name!), filter);
  // The bare number on stdout, like `wc -l`: scripts use $(elacsym count ns).
  if (g.json) await printJson({ namespace: name, count: r.count, total: r.total });
  else await outLine(String(r.count));
  return 0;
}
