/**
 * Turns a list of documents (ordinal = position) into the two files of a segment: the Parquet file (the
 * documents, readable by any Parquet tool) and the index file (what queries read: ids, attributes,
 * filter columns, full-text postings, the IVF vector index).
 */
import type { Doc, Schema } from '../model/types.js';
import { idKey } from '../model/document.js';
import { createAnalyzer } from '../index/fulltext/analyzer.js';
import { buildFieldIndex } from '../index/fulltext/postings.js';
import { buildIvf } from '../index/vector/ivf.js';
import { writeSegmentParquet } from '../storage/parquet.js';
import { buildSegmentFile, encodeStringTable } from '../storage/segment-file.js';

export interface BuiltSegment {
  parquet: Uint8Array;
  index: Uint8Array[];
  docCount: number;
}

export type BuildPhase = 'parquet' | 'fulltext' | 'vectors' | 'columns';

export async function buildSegment(docs: readonly Doc[], schema: Schema, seed: number, onPhase?: (p: BuildPhase) => void): Promise<BuiltSegment> {
  onPhase?.('parquet');
  const parquet = await writeSegmentParquet(docs, schema.vector_dim);
  return { parquet, index: buildIndexFile(docs, schema, seed, onPhase), docCount: docs.length };
}

export function buildIndexFile(docs: readonly Doc[], schema: Schema, seed: number, onPhase?: (p: BuildPhase) => void): Uint8Array[] {
  const n = docs.length;
  const sections: { name: string; bytes: Uint8Array }[] = [];
  const ids = new Array<string>(n);
  const attrs = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = idKey(docs[i]!.id);
    attrs[i] = JSON.stringify(docs[i]!.attributes);
  }
  sections.push({ name: 'ids', bytes: encodeStringTable(ids) });
  sections.push({ name: 'docs', bytes: encodeStringTable(attrs) });

  onPhase?.('columns');
  const names = new Set<string>();
  for (const d of docs) for (const k in d.attributes) names.add(k);
  for (const name of [...names].sort()) {
    const col = new Array(n);
    for (let i = 0; i < n; i++) col[i] = docs[i]!.attributes[name] ?? null;
    sections.push({ name: `col:${name}`, bytes: new TextEncoder().encode(JSON.stringify(col)) });
  }

  onPhase?.('fulltext');
  for (const [name, def] of Object.entries(schema.attributes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!def.full_text) continue;
    const analyzer = createAnalyzer(def.full_text);
    const tokens = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = docs[i]!.attributes[name];
      tokens[i] = typeof v === 'string' || Array.isArray(v) ? analyzer.analyzeValue(v) : null;
    }
    sections.push({ name: `ft:${name}`, bytes: buildFieldIndex(tokens) });
  }

  const dim = schema.vector_dim;
  if (dim > 0) {
    onPhase?.('vectors');
    const has = new Uint8Array((n + 3) & ~3);
    let k = 0;
    for (let i = 0; i < n; i++) if (docs[i]!.vector) k++;
    const raw = new Float32Array(n * dim);
    const packed = new Float32Array(k * dim);
    const ords = new Uint32Array(k);
    k = 0;
    for (let i = 0; i < n; i++) {
      const v = docs[i]!.vector;
      if (!v) continue;
      has[i] = 1;
      raw.set(v, i * dim);
      packed.set(v, k * dim);
      ords[k++] = i;
    }
    const vecSection = new Uint8Array(has.length + raw.byteLength);
    vecSection.set(has, 0);
    vecSection.set(new Uint8Array(raw.buffer), has.length);
    sections.push({ name: 'vectors', bytes: vecSection });
    sections.push({ name: 'ivf', bytes: buildIvf(packed, ords, dim, schema.vector_metric, { seed }) });
  }
  return buildSegmentFile(sections);
}
