/**
 * `query` in listing mode (`--sort`, `--limit`, `--offset`, `--after`): filter-only, sorted, paged, with
 * no 10,000 cap. Output: `--format json` (default off a terminal) is one object {"results", "matches",
 * "next_cursor"}; ndjson is the rows, with the next cursor on stderr; table is the rows as a table.
 */
import { ElacsymError } from '../../errors.js';
import { parseFilter } from '../../model/filter.js';
import { namespaceDir } from '../../store/data-dir.js';
import { type ListPage, listDocuments, parseSort } from '../../store/list.js';
import { Snapshot } from '../../store/snapshot.js';
import { intOpt, jsonArg } from '../args.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import type { RemoteNamespace } from '../remote.js';
import { loadConfig } from '../config.js';
import { err, isTTY, outLine, printJson, type GlobalOptions } from '../output.js';

export default async function queryList(name: string, o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  // Every flag of a search or a --batch, when typed (--warm-up, --rrf-k and the weights have defaults): a
  // listing ignores none of them in silence.
  const searchOnly = ['vector', 'text', 'request', 'batch', 'explain', 'nprobe', 'exact', 'fields', 'threads', 'warmUp', 'rrfK', 'vectorWeight', 'textWeight'] as const;
  const typed = searchOnly.find((k) => g.explicit.has(k));
  if (typed) {
    const flag = typed.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    throw new ElacsymError('USAGE', `--sort, --limit, --offset and --after list documents by a filter; they do not combine with --${flag}`);
  }
  if (g.explicit.has('topK') && o.limit !== undefined) throw new ElacsymError('USAGE', '--top-k and --limit are the same thing when listing; pass one');
  if (o.after !== undefined && o.offset !== undefined) throw new ElacsymError('USAGE', '--after and --offset are exclusive');
  const limit = o.limit !== undefined ? intOpt(o.limit, '--limit', 1) : intOpt(o.topK ?? '10', '--top-k', 1);
  // An s3:// data directory: the latest published version, its segments read by range through the cache.
  let remote: RemoteNamespace | null = null;
  let snap: Snapshot;
  if (isObjectStoreUrl(g.dataDir)) ({ remote, snap } = await (await import('../remote.js')).openRemoteSnapshot(g.dataDir, name, o, {}));
  else snap = Snapshot.open(namespaceDir(g.dataDir, name));
  let page: ListPage;
  try {
    page = listDocuments(snap, {
      filter: typeof o.filter === 'string' ? parseFilter(jsonArg(o.filter, '--filter'), snap.schema) : null,
      sort: typeof o.sort === 'string' ? parseSort(o.sort, snap.schema) : [],
      limit,
      offset: o.offset !== undefined ? intOpt(o.offset, '--offset', 0) : undefined,
      after: typeof o.after === 'string' ? o.after : undefined,
      include_attributes: typeof o.includeAttributes === 'string' ? o.includeAttributes.split(',').map((s) => s.trim()).filter(Boolean) : null,
      include_vector: Boolean(o.includeVector),
    });
  } finally {
    snap.close();
    await remote?.closeAll();
  }
  // --format, then --json, then the configured [output] format (ELACSYM_OUTPUT_FORMAT), then by terminal.
  const configured = (await loadConfig(g.dataDir))['output.format'].value as string | null;
  const format = typeof o.format === 'string' ? o.format : g.json ? 'json' : (configured ?? (isTTY('stdout') ? 'table' : 'json'));
  if (format === 'json') {
    await printJson(page);
    return 0;
  }
  if (format === 'ndjson') {
    for (const r of page.results) await printJson(r);
  } else {
    const head = ['id', 'attributes'];
    const rows = page.results.map((r) => [JSON.stringify(r.id), r.attributes ? JSON.stringify(r.attributes) : '']);
    const w = Math.max(head[0]!.length, ...rows.map((r) => r[0]!.length));
    await outLine(`${head[0]!.padEnd(w)}  ${head[1]}`);
    for (const r of rows) await outLine(`${r[0]!.padEnd(w)}  ${r[1]}`);
  }
  if (!g.quiet) err(`(${page.results.length} of ${page.matches} matches${page.next_cursor ? `; next page: --after ${page.next_cursor}` : ''})`);
  return 0;
}
