import { restoreNamespace } from '../../store/backup.js';
import { DataDir } from '../../store/data-dir.js';
import { intOpt } from '../args.js';
import { err, fmtInt, printJson, type GlobalOptions } from '../output.js';

export default async function restore([backupDir, name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const dir = DataDir.open(g.dataDir, { create: true });
  const r = restoreNamespace(dir, backupDir!, name!, { force: Boolean(o.force), waitSeconds: wait, copy: Boolean(o.copy) });
  if (g.json) await printJson(r);
  else if (!g.quiet) {
    err(`restored ${r.replaced ? 'over ' : ''}namespace ${name} from ${r.backup_dir} (namespace ${r.backup_namespace} as of ${r.backup_created_at}; ${r.files} files, ${fmtInt(r.bytes)} bytes verified)`);
  }
  return 0;
}
