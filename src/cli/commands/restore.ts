import { ElacsymError } from '../../errors.js';
import { isUrl } from '../../objstore/object-store.js';
import { restoreNamespace } from '../../store/backup.js';
import { DataDir } from '../../store/data-dir.js';
import { intOpt } from '../args.js';
import { interruptSignal, lockWaitNotice } from '../interrupt.js';
import { err, fmtInt, printJson, type GlobalOptions } from '../output.js';

export default async function restore([backupDir, name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // A URL here would be a local directory called "s3:" (a backup "to S3" that never left the machine).
  if (isUrl(backupDir!)) {
    throw new ElacsymError('USAGE', `${backupDir}: restore reads a local backup directory, not an object store`, { hint: 'copy a namespace to an object store with `elacsym publish <namespace> s3://bucket/prefix`, or write it there directly with `elacsym -d s3://bucket/prefix ...`' });
  }
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const dir = DataDir.open(g.dataDir, { create: true });
  const r = await restoreNamespace(dir, backupDir!, name!, { force: Boolean(o.force), waitSeconds: wait, copy: Boolean(o.copy), signal: interruptSignal(), onLockWait: lockWaitNotice(g, name!, wait) });
  if (g.json) await printJson(r);
  else if (!g.quiet) {
    err(`restored ${r.replaced ? 'over ' : ''}namespace ${name} from ${r.backup_dir} (namespace ${r.backup_namespace} as of ${r.backup_created_at}; ${r.files} files, ${fmtInt(r.bytes)} bytes verified)`);
  }
  return 0;
}
