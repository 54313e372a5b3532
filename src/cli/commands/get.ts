import { ElacsymError } from '../../errors.js';
import { idKey } from '../../model/document.js';
import { namespaceDir } from '../../store/data-dir.js';
import { docToJson } from '../../store/export.js';
import { getDocuments } from '../../store/get.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { cliIds, readingNotice } from '../args.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { interruptSignal } from '../interrupt.js';
import { out, type GlobalOptions } from '../output.js';

export default async function get([name, ...rest]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const ids = await cliIds(rest, o.idsFile, interruptSignal(), readingNotice(g));
  if (ids.length === 0) throw new ElacsymError('USAGE', 'pass one or more ids, or --ids-file FILE');
  checkS3EndpointUse(o, g.dataDir);
  // An s3:// data directory: the namespace's latest published version.
  const r = isObjectStoreUrl(g.dataDir)
    ? await (await import('../remote.js')).withRemoteNamespace(g.dataDir, name!, o, async (dir, opts) => getDocuments(dir, ids, opts))
    : getDocuments(namespaceDir(g.dataDir, name!), ids);
  // The documents in the import shape (NDJSON, with or without --json), so `get | import` round-trips.
  for (const d of r.found) await out(docToJson(d));
  if (r.missing.length === 0) return 0;
  throw new ElacsymError('DOCUMENT_NOT_FOUND', `${r.missing.length} of ${new Set(ids.map(idKey)).size} ids not found in ${name}: ${r.missing.slice(0, 10).map((i) => JSON.stringify(i)).join(', ')}${r.missing.length > 10 ? ', ...' : ''}`, {
    details: { missing: r.missing },
  });
}
