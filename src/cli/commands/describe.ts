import { namespaceDir } from '../../store/data-dir.js';
import { describeNamespace, type NamespaceDescription } from '../../store/describe.js';
import { loadConfig } from '../config.js';
import { outLine, printJson, type GlobalOptions } from '../output.js';

/** Human-readable form: one fact per line, fields as an aligned table. */
export function describeText(d: NamespaceDescription): string[] {
  const mib = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
  const lines = [
    `namespace   ${d.namespace} (${d.status}, format v${d.format_version})`,
    `vector      ${d.vector ? `${d.vector.dim} dimensions, ${d.vector.metric}` : 'none (text only)'}`,
    `documents   ${d.counts.documents} live, ${d.counts.deleted_rows} deleted or superseded rows, ${d.counts.pending_journal_documents} pending in the journal (${d.counts.pending_journal_entries} entries)`,
    `segments    ${d.segments.length}${d.segments.length ? ` (${d.segments.map((s) => `#${s.id}: ${s.live}/${s.rows} live, ${mib(s.bytes)}`).join('; ')})` : ''}`,
    `disk        ${mib(d.disk_bytes)}`,
    // The share of live documents already in segments (indexed), not of documents that have a vector or
    // the field: "vector 100.0%" read as "every document has a vector" (a tester's misreading).
    `coverage    ${Object.entries(d.index_coverage).map(([k, c]) => `${k} ${(c.ratio * 100).toFixed(1)}%`).join(', ') || 'no indexes'}${Object.keys(d.index_coverage).length ? ' of live documents in segments (the rest only in the journal)' : ''}`,
    `compacted   ${d.last_compaction_at ?? 'never'}`,
  ];
  if (d.fields.length === 0) lines.push('fields      none declared');
  else {
    lines.push('fields');
    const w = Math.max(...d.fields.map((f) => f.name.length));
    const tw = Math.max(...d.fields.map((f) => f.type.length));
    for (const f of d.fields) {
      const ft = f.full_text;
      const analyzer = ft
        ? `full-text: ${Object.entries(ft).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : String(v)}`).join(', ')}`
        : 'not full-text indexed';
      lines.push(`  ${f.name.padEnd(w)}  ${f.type.padEnd(tw)}  ${analyzer}`);
    }
  }
  return lines;
}

export default async function describe([name]: string[], _o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const d = describeNamespace(namespaceDir(g.dataDir, name!), name!);
  if (g.json) await printJson({ ...d, config: await loadConfig(g.dataDir) }); // effective configuration and its sources
  else for (const l of describeText(d)) await outLine(l);
  return 0;
}
