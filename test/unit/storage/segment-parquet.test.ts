/**
 * A layout-2 segment file is an ordinary typed Parquet table to an independent reader (hyparquet): ids,
 * every typed attribute and the vectors read back as written, the metadata says what the file is, and the
 * vector column is stored the way the locator assumes (uncompressed, PLAIN, one data page per row group).
 * Layout-1 files still read; a locator is never returned for bytes that do not hold the vectors.
 */
import { mkdtempSync, openAsBlob, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects, readOffsetIndex } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import { parseSchema } from '../../../src/model/schema.js';
import type { Doc } from '../../../src/model/types.js';
import { locateVectors, readParquetFooter, readSegmentParquet, readSegmentParquetRowGroups, writeSegmentParquet } from '../../../src/storage/parquet.js';
import { VectorLocator } from '../../../src/storage/vector-locator.js';
import { writeSegmentParquet as writeLayout1 } from './layout1-writer.js';

// An attribute named "id" (refused for new attributes since, kept by namespaces that have one): the
// Parquet id column and it must not be confused.
const schema = parseSchema({
  vector_dim: 4,
  attributes: {
    title: { type: 'string', full_text: true },
    year: { type: 'integer' },
    price: { type: 'float' },
    sold: { type: 'boolean' },
    tags: { type: 'array<string>' },
    id: { type: 'string' },
  },
}, 'schema', true);

function docsOf(n: number, ids: (i: number) => number | string): Doc[] {
  return Array.from({ length: n }, (_, i): Doc => ({
    id: ids(i),
    vector: i % 4 === 3 ? null : Float32Array.from([i, -i, i / 3, 1e-3 * i]),
    attributes:
      i % 10 === 9
        ? ({} as Doc['attributes'])
        : { title: `doc ${i} 名前`, year: 2 ** 53 - 1 - i, price: i % 2 ? i + 0.25 : 3, sold: i % 3 === 0, tags: i % 5 ? ['a', `t${i % 7}`] : [], id: `own ${i}` },
  }));
}

/** hyparquet, with hyparquet-compressors for ZSTD (the default codec of segments). */
async function viaHyparquet(bytes: Uint8Array) {
  const file = bytes.slice().buffer;
  return { rows: await parquetReadObjects({ file, compressors }), md: parquetMetadata(file), file };
}

describe('segment Parquet layout 2 through an independent reader', () => {
  it.each(['SNAPPY', 'ZSTD'] as const)('reads back as a typed table (%s): ids, each attribute in its column, vectors, nulls where absent', async (codec) => {
    const docs = docsOf(100, (i) => i * 1000);
    const { bytes } = await writeSegmentParquet(docs, schema, { codec, rowsPerGroup: 32 });
    const { rows, md } = await viaHyparquet(bytes);
    expect(md.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema.join('.') === 'title')!.meta_data!.codec).toBe(codec);
    expect(rows.length).toBe(100);
    docs.forEach((d, i) => {
      const r = rows[i]!;
      expect(r.id).toBe(BigInt(d.id));
      expect(r.vector === null || r.vector === undefined ? null : Array.from(r.vector as number[])).toEqual(d.vector ? Array.from(d.vector) : null);
      const a = d.attributes;
      expect(r.title ?? null).toBe(a.title ?? null);
      expect(r.year ?? null).toBe(a.year === undefined ? null : BigInt(a.year as number));
      expect(r.price ?? null).toBe(a.price ?? null);
      expect(r.sold ?? null).toBe(a.sold ?? null);
      expect(r.tags ?? null).toEqual(a.tags ?? null);
      // The attribute named "id" cannot take the id column's name: it is id_1 (elacsym.columns says so).
      expect(r.id_1 ?? null).toBe(a.id ?? null);
    });
    const kv = Object.fromEntries((md.key_value_metadata ?? []).map((e) => [e.key, e.value]));
    expect(kv['elacsym.layout']).toBe('2');
    expect(kv['elacsym.id_encoding']).toBe('int64');
    expect(JSON.parse(kv['elacsym.schema']!)).toEqual(JSON.parse(JSON.stringify(schema)));
    expect(JSON.parse(kv['elacsym.columns']!).map((c: { a: string; c: string }) => [c.a, c.c])).toEqual([
      ['title', 'title'],
      ['year', 'year'],
      ['price', 'price'],
      ['sold', 'sold'],
      ['tags', 'tags'],
      ['id', 'id_1'],
    ]);
    const types = Object.fromEntries(md.row_groups[0]!.columns.map((c) => [c.meta_data!.path_in_schema.join('.'), c.meta_data!.type]));
    expect(types).toEqual({ id: 'INT64', 'vector.list.item': 'FLOAT', title: 'BYTE_ARRAY', year: 'INT64', price: 'DOUBLE', sold: 'BOOLEAN', 'tags.list.item': 'BYTE_ARRAY', id_1: 'BYTE_ARRAY' });
  });

  it('keeps string ids as plain strings, and mixed ids as id keys with elacsym.id_encoding = "key"', async () => {
    for (const [ids, encoding, column] of [
      [(i: number) => `doc-${i}`, 'string', (i: number) => `doc-${i}`],
      [(i: number) => (i % 2 ? i : String(i)), 'key', (i: number) => (i % 2 ? String(i) : JSON.stringify(String(i)))],
    ] as const) {
      const docs = docsOf(20, ids);
      const { bytes } = await writeSegmentParquet(docs, schema, { codec: 'SNAPPY' });
      const { rows, md } = await viaHyparquet(bytes);
      expect(rows.map((r) => r.id)).toEqual(docs.map((_, i) => column(i)));
      expect(md.key_value_metadata?.find((e) => e.key === 'elacsym.id_encoding')?.value).toBe(encoding);
      expect((await readSegmentParquet(bytes)).map((d) => d.id)).toEqual(docs.map((d) => d.id));
    }
  });

  it('stores the vector column uncompressed, PLAIN, without dictionary or statistics, one data page per row group, where the footer reader says', async () => {
    const docs = docsOf(100, (i) => i);
    const { bytes } = await writeSegmentParquet(docs, schema, { rowsPerGroup: 32 });
    const file = bytes.slice().buffer;
    const md = parquetMetadata(file);
    const ours = readParquetFooter(bytes);
    expect(md.row_groups.length).toBe(4);
    expect(ours.rowGroups.length).toBe(4);
    md.row_groups.forEach((rg, g) => {
      expect(Number(rg.num_rows)).toBe(ours.rowGroups[g]!.numRows);
      rg.columns.forEach((cc, c) => {
        const m = cc.meta_data!;
        const o = ours.rowGroups[g]!.columns[c]!;
        expect(o.path).toEqual(m.path_in_schema);
        expect(o.dataPageOffset).toBe(Number(m.data_page_offset));
        expect(o.totalCompressedSize).toBe(Number(m.total_compressed_size));
        expect(o.dictionaryPageOffset).toBe(m.dictionary_page_offset === undefined ? null : Number(m.dictionary_page_offset));
        if (m.path_in_schema[0] !== 'vector') {
          // Top-level columns are compressed (ZSTD by default); list<utf8> cannot be told apart from the vector by parquet-wasm.
          if (m.path_in_schema.length === 1) expect(m.codec).toBe('ZSTD');
          return;
        }
        expect(m.codec).toBe('UNCOMPRESSED');
        expect(m.dictionary_page_offset).toBeUndefined();
        expect(m.statistics?.min_value ?? m.statistics?.min).toBeUndefined();
        expect(m.encodings.filter((e) => e !== 'RLE')).toEqual(['PLAIN']);
        const index = readOffsetIndex({ view: new DataView(file, Number(cc.offset_index_offset), cc.offset_index_length), offset: 0 });
        expect(index.page_locations.length).toBe(1);
      });
    });
  });

  it('reads a file by row group through fs.openAsBlob, one row group at a time', async () => {
    const docs = docsOf(100, (i) => i);
    const { bytes } = await writeSegmentParquet(docs, schema, { rowsPerGroup: 32 });
    const dir = mkdtempSync(join(tmpdir(), 'elacsym-pq-'));
    try {
      const path = join(dir, 'seg.parquet');
      writeFileSync(path, bytes);
      const sizes: number[] = [];
      const all: Doc[] = [];
      for await (const g of readSegmentParquetRowGroups(await openAsBlob(path))) {
        sizes.push(g.length);
        all.push(...g);
      }
      expect(sizes).toEqual([32, 32, 32, 4]);
      expect(all).toEqual(await readSegmentParquet(bytes));
      expect(all.map((d) => d.id)).toEqual(docs.map((d) => d.id));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads layout-1 files (JSON id and attributes), whole and by row group', async () => {
    const docs: Doc[] = [
      { id: 7, vector: Float32Array.from([1, 2, 3, 4]), attributes: { title: 'x', n: null, '__proto__': 'p' } as never },
      { id: '7', vector: null, attributes: {} },
    ];
    docs[0]!.attributes = JSON.parse('{"title":"x","n":null,"__proto__":"p"}');
    const bytes = await writeLayout1(docs, 4);
    expect(await readSegmentParquet(bytes)).toEqual(docs);
    const parts: Doc[] = [];
    for await (const g of readSegmentParquetRowGroups(bytes)) parts.push(...g);
    expect(parts).toEqual(docs);
    const fromBlob: Doc[] = [];
    for await (const g of readSegmentParquetRowGroups(new Blob([bytes]))) fromBlob.push(...g);
    expect(fromBlob).toEqual(docs);
  });

  it('never returns a locator for bytes that do not hold the vectors (INTERNAL)', async () => {
    const docs = docsOf(50, (i) => i);
    const written = await writeSegmentParquet(docs, schema, { rowsPerGroup: 16 });
    const present = Uint8Array.from(docs, (d) => (d.vector ? 1 : 0));
    const values = new Float32Array(50 * 4);
    docs.forEach((d, i) => d.vector && values.set(d.vector, i * 4));
    expect(locateVectors(written.bytes, 50, 4, 16, present, values)).toEqual(written.vectorLocator);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof ElacsymError ? e.code : String(e);
      }
      return 'none';
    };
    // One flipped bit inside the third row group's vectors.
    const loc = VectorLocator.open(written.vectorLocator!, 50, 4);
    const damaged = written.bytes.slice();
    damaged[loc.offsetOf(33) + 5]! ^= 0x10;
    expect(code(() => locateVectors(damaged, 50, 4, 16, present, values))).toBe('INTERNAL');
    // A vector that is not the one written; a row-group size that is not the file's.
    const other = values.slice();
    other[4 * 40] += 1;
    expect(code(() => locateVectors(written.bytes, 50, 4, 16, present, other))).toBe('INTERNAL');
    expect(code(() => locateVectors(written.bytes, 50, 4, 8, present, values))).toBe('INTERNAL');
  });
});
