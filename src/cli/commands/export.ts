import { closeSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ElacsymError } from '../../errors.js';
import { toEnvError } from '../../util/env-error.js';
import { writeAllSync } from '../../util/fs.js';
import { namespaceDir } from '../../store/data-dir.js';
import { exportDocs } from '../../store/export.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import type { ObjectSegmentStore } from '../../storage/object-segment-store.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { out, type GlobalOptions } from '../output.js';

export default async function exportCmd([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // Output is the NDJSON itself (the same with --json); -o writes it to a file instead of stdout.
  // An s3:// data directory: the namespace's latest published version, read through the cache.
  checkS3EndpointUse(o, g.dataDir);
  if (isObjectStoreUrl(g.dataDir)) return (await import('../remote.js')).withRemoteNamespace(g.dataDir, name!, o, (dir, opts) => write(dir, opts, o));
  return write(namespaceDir(g.dataDir, name!), {}, o);
}

async function write(dir: string, opts: { segments?: ObjectSegmentStore }, o: Record<string, unknown>): Promise<number> {
  let fd: number | null = null;
  let buf = '';
  try {
    fd = typeof o.output === 'string' ? openOutput(o.output) : null;
    for await (const line of exportDocs(dir, opts)) {
      if (fd === null) await out(line);
      else {
        buf += line;
        if (buf.length > 1 << 20) {
          writeOutput(fd, buf, String(o.output));
          buf = '';
        }
      }
    }
    if (fd !== null && buf) writeOutput(fd, buf, String(o.output));
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return 0;
}

/** Open the -o file, naming the path and the problem (missing directory, a directory, no permission). */
function openOutput(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dir = dirname(path);
      let dirExists = true;
      try {
        statSync(dir);
      } catch {
        dirExists = false;
      }
      if (!dirExists) throw new ElacsymError('FILE_NOT_FOUND', `cannot write ${path}: directory ${dir} does not exist`, { details: { path: dir }, hint: `create it first (mkdir -p ${dir})` });
    }
    if (code === 'EISDIR') throw new ElacsymError('USAGE', `cannot write ${path}: it is a directory; name a file`, { details: { path } });
    throw toEnvError(e, path, 'writing the export to');
  }
}

function writeOutput(fd: number, text: string, path: string): void {
  try {
    writeAllSync(fd, text);
  } catch (e) {
    throw toEnvError(e, path, 'writing the export to');
  }
}
