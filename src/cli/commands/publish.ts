/**
 * `elacsym publish <namespace> <s3-url>`: publish a local namespace to an object store as its next committed
 * version (src/objstore/published.ts), for `elacsym query -d <s3-url>` on any machine. Thin: settings from
 * the options and the environment, the report on stderr (or --json on stdout).
 */
import { ElacsymError } from '../../errors.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { publishNamespace } from '../../store/published.js';
import { namespaceDir } from '../../store/data-dir.js';
import { intOpt } from '../args.js';
import { err, fmtInt, printJson, type GlobalOptions } from '../output.js';
import { openRemoteStore } from '../remote.js';

export default async function publish([name, target]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (!isObjectStoreUrl(target!)) {
    throw new ElacsymError('USAGE', `${target} is not an s3:// URL: publish writes to an object store`, { hint: 'give the target as s3://bucket/prefix; for a local copy use `elacsym backup`' });
  }
  const graceS = intOpt(o.gcGrace ?? '900', '--gc-grace', 0, 10 * 365 * 86400);
  const dir = namespaceDir(g.dataDir, name!);
  const { opened } = await openRemoteStore(target!, o);
  try {
    const r = await publishNamespace(dir, name!, opened.store, { gcGraceMs: graceS * 1000 });
    if (g.json) await printJson(r);
    else if (!g.quiet && r.skipped === 'unchanged') {
      err(`${name} is unchanged since version ${r.version} at ${r.location}: nothing to commit; ${r.objects_present} objects checked, ${r.objects_repaired} repaired, ${r.objects_deleted} deleted`);
    } else if (!g.quiet) {
      err(
        `published ${name} to ${r.location} as version ${r.version}: ${r.segments} segments, ${r.journal_entries} pending journal entries; ` +
          `${r.objects_uploaded} objects uploaded (${fmtInt(r.bytes_uploaded)} bytes), ${r.objects_present} already there, ${r.objects_deleted} deleted`,
      );
    }
    return 0;
  } finally {
    await opened.close();
  }
}
