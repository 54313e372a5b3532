import { ElacsymError } from '../../errors.js';
import { alterFullText } from '../../store/alter.js';
import { namespaceDir } from '../../store/data-dir.js';
import { Writer } from '../../store/writer.js';
import { intOpt, readInput } from '../args.js';
import { err, printJson, type GlobalOptions } from '../output.js';

/** `elacsym alter NS FIELD --full-text JSON|true|false`: change a field's full-text settings. */
export default async function alter([name, field]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  if (typeof o.fullText !== 'string') throw new ElacsymError('USAGE', 'pass --full-text with true, false or a JSON object of options (or @FILE)');
  const raw = o.fullText.startsWith('@') ? readInput(o.fullText.slice(1), 'full-text options file') : o.fullText;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ElacsymError('INVALID_SCHEMA', `--full-text is not valid JSON: ${(e as Error).message}`);
  }
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  const w = await Writer.open(namespaceDir(g.dataDir, name!), name!, { waitSeconds: wait, recover: false });
  try {
    const r = alterFullText(w, name!, field!, value);
    if (g.json) await printJson(r);
    else if (!g.quiet) {
      if (!r.changed) err(`${name}.${field}: full-text settings unchanged`);
      else if (r.full_text === null) err(`${name}.${field}: full-text search turned off`);
      else if (r.segments_to_reindex === 0) err(`${name}.${field}: full-text settings changed (${JSON.stringify(r.full_text)})`);
      else if (r.reanalyzed_by_queries) {
        err(
          `${name}.${field}: full-text settings changed (${JSON.stringify(r.full_text)}); ${r.documents_to_reindex} documents in ${r.segments_to_reindex} segments are re-analyzed by every query until \`elacsym compact ${name}\` re-indexes them`,
        );
      } else {
        // Positions alone: the segments answer as they are; the compaction only changes their postings.
        err(
          `${name}.${field}: full-text settings changed (${JSON.stringify(r.full_text)}); ${r.documents_to_reindex} documents in ${r.segments_to_reindex} segments keep their postings until \`elacsym compact ${name}\` rewrites them`,
        );
      }
    }
  } finally {
    w.close();
  }
  return 0;
}
