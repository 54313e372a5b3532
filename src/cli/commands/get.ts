import { ElacsymError } from '../../errors.js';
import { idKey } from '../../model/document.js';
import { namespaceDir } from '../../store/data-dir.js';
import { docToJson } from '../../store/export.js';
import { getDocuments } from '../../store/get.js';
import { cliIds } from '../args.js';
import { out, type GlobalOptions } from '../output.js';

export default async function get([name, ...rest]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const ids = cliIds(rest, o.idsFile);
  if (ids.length === 0) throw new ElacsymError('USAGE', 'pass one or more ids, or --ids-file FILE');
  const r = getDocuments(namespaceDir(g.dataDir, name!), ids);
  // The documents in the import shape (NDJSON, with or without --json), so `get | import` round-trips.
  for (const d of r.found) await out(docToJson(d));
  if (r.missing.length === 0) return 0;
  throw new ElacsymError('DOCUMENT_NOT_FOUND', `${r.missing.length} of ${new Set(ids.map(idKey)).size} ids not found in ${name}: ${r.missing.slice(0, 10).map((i) => JSON.stringify(i)).join(', ')}${r.missing.length > 10 ? ', ...' : ''}`, {
    details: { missing: r.missing },
  });
}
