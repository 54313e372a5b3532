import { countDocuments } from '../../store/count.js';
import { namespaceDir } from '../../store/data-dir.js';
import { jsonArg } from '../args.js';
import { outLine, printJson, type GlobalOptions } from '../output.js';

export default async function count([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  const filter = typeof o.filter === 'string' ? jsonArg(o.filter, '--filter') : null;
  const r = countDocuments(dir, filter);
  // The bare number on stdout, like `wc -l`: scripts use $(elacsym count ns).
  if (g.json) await printJson({ namespace: name, count: r.count, total: r.total });
  else await outLine(String(r.count));
  return 0;
}
