import { ElacsymError } from '../../errors.js';
import { attributeNameProblem, attributeOf, dataRecord, DEFAULT_FULL_TEXT, METRICS, parseSchema } from '../../model/schema.js';
import type { Metric, Schema } from '../../model/types.js';
import { DataDir } from '../../store/data-dir.js';
import { intOpt, readInput } from '../args.js';
import { err, printJson, type GlobalOptions } from '../output.js';

export default async function init([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  let schema: Schema;
  if (o.schema !== undefined) {
    const text = readInput(String(o.schema), 'schema file');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ElacsymError('INVALID_SCHEMA', `schema is not valid JSON: ${(e as Error).message}`);
    }
    schema = parseSchema(json);
  } else {
    schema = { vector_dim: 0, vector_metric: 'cosine', attributes: dataRecord() };
  }
  if (o.textOnly && o.dim !== undefined && Number(o.dim) !== 0) throw new ElacsymError('USAGE', '--text-only and --dim are exclusive');
  if (o.schema === undefined && o.dim === undefined && !o.textOnly) {
    // A vector namespace created without its dimension would silently be text-only: ask instead.
    throw new ElacsymError('USAGE', 'init needs the vector dimension: pass --dim N (e.g. --dim 384), or --dim 0 / --text-only for a namespace without vectors', {
      hint: `run \`elacsym init ${name} --dim 384 --metric cosine\` or \`elacsym init ${name} --text-only --full-text title\``,
    });
  }
  if (o.textOnly) schema.vector_dim = 0;
  if (o.dim !== undefined) schema.vector_dim = intOpt(o.dim, '--dim', 0, 65536);
  if (o.metric !== undefined) {
    if (!METRICS.includes(o.metric as Metric)) throw new ElacsymError('USAGE', `--metric must be one of ${METRICS.join(', ')}`);
    schema.vector_metric = o.metric as Metric;
  }
  if (typeof o.fullText === 'string') {
    for (const f of o.fullText.split(',').map((s) => s.trim()).filter(Boolean)) {
      const problem = attributeNameProblem(f);
      if (problem !== null) throw new ElacsymError('INVALID_SCHEMA', `--full-text ${JSON.stringify(f)}: ${problem}`);
      const a = attributeOf(schema, f);
      if (a && a.type !== 'string' && a.type !== 'array<string>') throw new ElacsymError('INVALID_SCHEMA', `--full-text ${f}: attribute is ${a.type}, not a string`);
      schema.attributes[f] = { type: a?.type ?? 'string', full_text: a?.full_text ?? { ...DEFAULT_FULL_TEXT } };
    }
  }
  const dir = DataDir.open(g.dataDir, { create: true });
  const stored = dir.initNamespace(name!, schema);
  if (g.json) await printJson({ namespace: name, schema: stored });
  else if (!g.quiet) err(`created namespace ${name} in ${g.dataDir} (vector_dim ${schema.vector_dim}, metric ${schema.vector_metric}, ${Object.keys(schema.attributes).length} attribute${Object.keys(schema.attributes).length === 1 ? '' : 's'})`);
  return 0;
}
