/**
 * The index file holds each attribute value once: typed columns and attribute shapes, no `docs` section;
 * values of more than one kind per attribute (which a validated import never writes) keep the older
 * form whole (a `docs` section and JSON columns), so nothing is ever stored in a form that loses it.
 */
import { describe, expect, it } from 'vitest';
import { isTypedColumn } from '../../../src/index/filter/columns.js';
import type { Doc, Schema } from '../../../src/model/types.js';
import { SegmentFile } from '../../../src/storage/segment-file.js';
import { buildIndexFile } from '../../../src/store/segment-builder.js';
import { MemorySource } from '../../../src/util/bytes.js';

const schema: Schema = { vector_dim: 0, vector_metric: 'cosine', attributes: {} };
const open = (chunks: Uint8Array[]) => SegmentFile.open(new MemorySource(Buffer.concat(chunks)), 'test.idx');

describe('segment index file attributes', () => {
  it('are typed columns and shapes, with no docs section', () => {
    const docs: Doc[] = [
      { id: 1, vector: null, attributes: { a: 'x', n: 3, t: ['p'], b: true } },
      { id: 2, vector: null, attributes: { n: null, a: 'y' } },
    ];
    const f = open(buildIndexFile(docs, schema, 1));
    expect(f.has('docs')).toBe(false);
    expect(f.has('attrs')).toBe(true);
    for (const n of ['a', 'n', 't', 'b']) expect(isTypedColumn(f.readVerified(`col:${n}`)!)).toBe(true);
  });

  it('fall back to the docs section and JSON columns when an attribute holds values of two kinds', () => {
    const docs: Doc[] = [
      { id: 1, vector: null, attributes: { a: 'x', n: 3 } },
      { id: 2, vector: null, attributes: { a: 7, n: 4 } },
    ];
    const f = open(buildIndexFile(docs, schema, 1));
    expect(f.has('docs')).toBe(true);
    expect(f.has('attrs')).toBe(false);
    expect(JSON.parse(new TextDecoder().decode(f.readVerified('col:a')!))).toEqual(['x', 7]);
    expect(JSON.parse(new TextDecoder().decode(f.readVerified('col:n')!))).toEqual([3, 4]);
  });
});
