/**
 * Layout 2 of a segment's Parquet file keeps documents exactly: Doc -> Parquet -> Doc equals what layout 1
 * (JSON attributes) gave, for ids of either type or both, every attribute type, explicit nulls versus absent
 * attributes, names such as "__proto__", "id" and "vector", unicode (unpaired surrogates included), empty
 * arrays, -0, 2^53-1 and integer-valued floats; read whole or by row group (from bytes or a Blob); and every located vector is
 * where the locator says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSchema } from '../../../src/model/schema.js';
import type { AttrType, AttrValue, Doc } from '../../../src/model/types.js';
import { readSegmentParquet, readSegmentParquetRowGroups, writeSegmentParquet } from '../../../src/storage/parquet.js';
import { VectorLocator } from '../../../src/storage/vector-locator.js';
import { writeSegmentParquet as writeLayout1 } from './layout1-writer.js';

const NAMES = ['title', '__proto__', 'constructor', 'id', 'vector', 'id_1', 'a.b', 'ünïcödé 名前', 'toString', 'x'];
const TYPES: AttrType[] = ['string', 'integer', 'float', 'boolean', 'array<string>'];

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '\ud800', 'a\udc00b', '😀', 'é', '\u0000'),
);
const valueOf = (t: AttrType): fc.Arbitrary<AttrValue> => {
  switch (t) {
    case 'string':
      return text;
    case 'integer':
      return fc.oneof(fc.maxSafeInteger(), fc.constantFrom(0, -0, 2 ** 53 - 1, -(2 ** 53 - 1)));
    case 'float':
      return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(3, -0, 2 ** 53 - 1, 0.1, 5e-324));
    case 'boolean':
      return fc.boolean();
    case 'array<string>':
      return fc.array(text, { maxLength: 4 });
  }
};

const id = fc.oneof(fc.maxSafeInteger().map(Math.abs), fc.constantFrom(0, 2 ** 53 - 1), fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }));

const segment = fc
  .record({
    dim: fc.constantFrom(0, 1, 3),
    types: fc.dictionary(fc.constantFrom(...NAMES), fc.constantFrom(...TYPES), { maxKeys: 6 }),
    idKind: fc.constantFrom('int', 'string', 'mixed'),
    rowsPerGroup: fc.integer({ min: 1, max: 7 }),
    // Attributes the schema does not know: import keeps them only while they are null.
    untyped: fc.constantFrom(null, 'note', '__proto__x'),
  })
  .chain(({ dim, types, idKind, rowsPerGroup, untyped }) => {
    const typed = Object.entries(types);
    const attrs = fc
      .tuple(
        ...typed.map(([, t]) => fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: valueOf(t) })),
        fc.boolean(),
      )
      .map((vals) => {
        // Built as JSON text, parsed: exactly how import produces attribute objects ("__proto__" an own key).
        const parts: string[] = [];
        typed.forEach(([name], i) => {
          const v = vals[i];
          if (v !== undefined) parts.push(`${JSON.stringify(name)}:${JSON.stringify(v)}`);
        });
        if (untyped !== null && vals[typed.length]) parts.push(`${JSON.stringify(untyped)}:null`);
        // JSON.stringify(-0) is "0": put the -0s back so the writer sees them as import would.
        const out = JSON.parse(`{${parts.join(',')}}`) as Record<string, AttrValue>;
        typed.forEach(([name], i) => {
          if (Object.is(vals[i], -0)) out[name] = -0;
        });
        return out;
      });
    const vector =
      dim === 0
        ? fc.constant(null)
        : fc.option(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: dim, maxLength: dim }).map((a) => Float32Array.from(a)), { freq: 3 });
    const idArb = idKind === 'int' ? fc.maxSafeInteger().map(Math.abs) : idKind === 'string' ? fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) : id;
    return fc.record({
      // existing = true: a segment holds whatever names its namespace has, "id" from an older release too.
      schema: fc.constant(parseSchema({ vector_dim: dim, attributes: Object.fromEntries(typed.map(([n, t]) => [n, { type: t }])) }, 'schema', true)),
      rowsPerGroup: fc.constant(rowsPerGroup),
      docs: fc.array(fc.record({ id: idArb, vector, attributes: attrs }), { maxLength: 30 }),
    });
  });

/** What layout 1 returned for a document: its attributes through JSON (so -0 is 0), vector and id as they are. */
const viaJson = (d: Doc): Doc => ({ id: d.id, vector: d.vector, attributes: JSON.parse(JSON.stringify(d.attributes)) });

function sameDocs(actual: Doc[], expected: Doc[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    expect(a.id).toBe(e.id);
    expect(a.attributes).toEqual(e.attributes);
    // Object.is per component: -0 in a vector stays -0 (the journal keeps float32 bits).
    expect(a.vector === null ? null : Array.from(a.vector)).toEqual(e.vector === null ? null : Array.from(e.vector));
    if (a.vector && e.vector) for (let k = 0; k < e.vector.length; k++) expect(Object.is(a.vector[k], e.vector[k])).toBe(true);
    // Explicit null versus absent: the same keys, not just equal values.
    expect(Object.keys(a.attributes).sort()).toEqual(Object.keys(e.attributes).sort());
    for (const [k, v] of Object.entries(e.attributes)) expect(Object.is(a.attributes[k], v) || typeof v === 'object').toBe(true);
  }
}

describe('segment Parquet layout 2', () => {
  it('round-trips documents exactly as layout 1 did, whole and by row group, with every vector located', async () => {
    await fc.assert(
      fc.asyncProperty(segment, async ({ schema, rowsPerGroup, docs }) => {
        const expected = docs.map(viaJson);
        const written = await writeSegmentParquet(docs, schema, { rowsPerGroup });
        sameDocs(await readSegmentParquet(written.bytes), expected);
        // Layout 1's answer is the oracle.
        sameDocs(await readSegmentParquet(await writeLayout1(docs, schema.vector_dim)), expected);
        const parts: Doc[] = [];
        for await (const group of readSegmentParquetRowGroups(written.bytes)) {
          expect(group.length).toBeLessThanOrEqual(rowsPerGroup);
          parts.push(...group);
        }
        sameDocs(parts, expected);
        // The same from a Blob (how a merge reads a file by range: fs.openAsBlob).
        const fromBlob: Doc[] = [];
        for await (const group of readSegmentParquetRowGroups(new Blob([written.bytes]))) fromBlob.push(...group);
        sameDocs(fromBlob, expected);
        if (schema.vector_dim === 0) {
          expect(written.vectorLocator).toBeNull();
          return;
        }
        const loc = VectorLocator.open(written.vectorLocator!, docs.length, schema.vector_dim);
        docs.forEach((d, ord) => {
          const at = loc.offsetOf(ord);
          if (d.vector === null) expect(at).toBe(-1);
          else expect(new Float32Array(written.bytes.slice(at, at + schema.vector_dim * 4).buffer)).toEqual(d.vector);
        });
      }),
      { numRuns: 120 },
    );
  }, 120_000);
});
