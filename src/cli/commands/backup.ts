import { ElacsymError } from '../../errors.js';
import { isUrl } from '../../objstore/object-store.js';
import { backupNamespace } from '../../store/backup.js';
import { namespaceDir } from '../../store/data-dir.js';
import { err, fmtInt, printJson, type GlobalOptions } from '../output.js';

export default async function backup([name, dest]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // A URL here would be a local directory called "s3:" (a backup "to S3" that never left the machine).
  if (isUrl(dest!)) {
    throw new ElacsymError('USAGE', `${dest}: backup writes a local directory, not an object store`, { hint: 'copy a namespace to an object store with `elacsym publish <namespace> s3://bucket/prefix`, or write it there directly with `elacsym -d s3://bucket/prefix ...`' });
  }
  const dir = namespaceDir(g.dataDir, name!);
  const r = await backupNamespace(dir, name!, dest!, { copy: Boolean(o.copy) });
  if (g.json) await printJson(r);
  else if (!g.quiet) {
    err(
      `backed up ${name} into ${r.backup_dir}: ${r.segments} segments, ${r.journal_entries} pending journal entries, ${r.files} files, ${fmtInt(r.bytes)} bytes (${r.linked} linked, ${r.copied} copied)`,
    );
  }
  return 0;
}
