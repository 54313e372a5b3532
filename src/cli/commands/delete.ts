import { ElacsymError } from '../../errors.js';
import { namespaceDir } from '../../store/data-dir.js';
import { parseId } from '../../model/document.js';
import type { DocId } from '../../model/types.js';
import { Writer } from '../../store/writer.js';
import { intOpt, readInput } from '../args.js';
import { interruptSignal, lockWaitNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, printJson, type GlobalOptions } from '../output.js';

/** An id as typed by a shell user: 42 is the integer id, "42" (JSON-quoted) or abc are strings. */
function cliId(raw: string, where: string): DocId {
  const t = raw.trim();
  let v: unknown = t;
  if (/^\d+$/.test(t)) v = Number(t);
  else if (t.startsWith('"')) {
    try {
      v = JSON.parse(t);
    } catch {
      throw new ElacsymError('USAGE', `${where}: ${t} is not a valid JSON string`);
    }
  }
  try {
    return parseId(v);
  } catch (e) {
    throw new ElacsymError('USAGE', `${where}: ${(e as Error).message}`);
  }
}

export default async function del([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  const ids: DocId[] = [];
  if (typeof o.ids === 'string') o.ids.split(',').forEach((s, i) => s.trim() && ids.push(cliId(s, `--ids item ${i + 1}`)));
  if (typeof o.idsFile === 'string') {
    readInput(o.idsFile, 'ids file')
      .split('\n')
      .forEach((l, i) => l.trim() && ids.push(cliId(l.replace(/\r$/, ''), `line ${i + 1}`)));
  }
  if (o.ids === undefined && o.idsFile === undefined) throw new ElacsymError('USAGE', 'pass --ids 1,2,3 or --ids-file FILE');
  // SIGINT/SIGTERM: the deletes already committed to the journal stay; the segment build stops (130).
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const writer = await Writer.open(dir, name!, { waitSeconds: wait, segmentBytes: segmentBytesFromEnv(), signal: interruptSignal(), onLockWait: lockWaitNotice(g, name!, wait) });
  try {
    if (ids.length > 0) writer.appendDeletes(ids);
    const r = await writer.flush();
    const unique = new Set(ids.map((i) => JSON.stringify(i))).size;
    const summary = { namespace: name, requested: ids.length, deleted: r.deleted, not_found: Math.max(0, unique - r.deleted) };
    if (g.json) await printJson(summary);
    else if (!g.quiet) err(`deleted ${summary.deleted} of ${summary.requested} ids from ${name} (${summary.not_found} not found)`);
    return 0;
  } finally {
    writer.close();
  }
}
