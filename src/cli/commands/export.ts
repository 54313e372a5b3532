import { closeSync, openSync, writeSync } from 'node:fs';
import { namespaceDir } from '../../store/data-dir.js';
import { exportDocs } from '../../store/export.js';
import { out, type GlobalOptions } from '../output.js';

export default async function exportCmd([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // Output is the NDJSON itself (the same with --json); -o writes it to a file instead of stdout.
  const dir = namespaceDir(g.dataDir, name!);
  const fd = typeof o.output === 'string' ? openSync(`${o.output}`, 'w') : null;
  let buf = '';
  try {
    for await (const line of exportDocs(dir)) {
      if (fd === null) await out(line);
      else {
        buf += line;
        if (buf.length > 1 << 20) {
          writeSync(fd, buf);
          buf = '';
        }
      }
    }
    if (fd !== null && buf) writeSync(fd, buf);
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return 0;
}
