/**
 * Long text stored once (format 6, storage/parquet-text.ts): the stored-once column chunks that parquet-wasm
 * writes decode, row group by row group, to exactly the documents' values (nulls, empty strings, every
 * script); an independent reader (hyparquet) reads the same table; which attributes qualify; and a damaged
 * chunk or locator is CORRUPT_SEGMENT, never other text.
 */
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { describe, expect, it } from 'vitest';
import { ElacsymError } from '../../../src/errors.js';
import { parseSchema } from '../../../src/model/schema.js';
import type { Doc } from '../../../src/model/types.js';
import { readSegmentParquet, writeSegmentParquet } from '../../../src/storage/parquet.js';
import {
  CODEC_GZIP,
  decodeTextChunk,
  encodeTextLocator,
  STORED_ONCE_MIN_CHARS,
  STORED_ONCE_MIN_CHARS_FULL_TEXT,
  storedOnceLayout,
  TEXT_GROUP_CHARS,
  TEXT_GROUP_MIN_ROWS,
  TextLocator,
} from '../../../src/storage/parquet-text.js';
import { mulberry32 } from '../../../src/util/prng.js';

const schema = parseSchema({
  vector_dim: 3,
  attributes: {
    body: { type: 'string', full_text: true },
    title: { type: 'string' },
    year: { type: 'integer' },
  },
});

const WORDS = ['vector', 'données', '数据库', 'Ελληνικά', '😀', 'naïve', 'x', 'the', 'Zürich', 'قاعدة'];

function docsOf(n: number, seed: number): Doc[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, (_, i): Doc => {
    const words = Array.from({ length: 100 + Math.floor(rnd() * 400) }, () => WORDS[Math.floor(rnd() * WORDS.length)]!);
    const attributes: Doc['attributes'] = { title: `t${i}`, year: i };
    // Absent, explicit null and empty strings among long values.
    if (i % 11 === 3) attributes.body = null;
    else if (i % 13 === 5) attributes.body = '';
    else if (i % 17 !== 7) attributes.body = `${i}: ${words.join(' ')}`;
    return { id: i, vector: Float32Array.from([i, 1, -i]), attributes };
  });
}

const valueOf = (d: Doc) => (d.attributes.body ?? null) as string | null;

async function written(docs: Doc[]) {
  const layout = storedOnceLayout(docs, schema, 16_384);
  const w = await writeSegmentParquet(docs, schema, { storedOnce: layout.names, rowsPerGroup: layout.rowsPerGroup });
  return { ...w, layout };
}

describe('stored-once text', () => {
  it('decodes, row group by row group, to exactly the values written; hyparquet reads the same table', async () => {
    const docs = docsOf(300, 1);
    const { bytes, textLocators, layout } = await written(docs);
    expect([...layout.names]).toEqual(['body']);
    expect(layout.rowsPerGroup).toBeGreaterThanOrEqual(TEXT_GROUP_MIN_ROWS);
    expect(layout.rowsPerGroup).toBeLessThan(300);
    const loc = TextLocator.open(textLocators.get('body')!, docs.length, 'body');
    expect(loc.codec).toBe(CODEC_GZIP);
    expect(loc.groupCount).toBe(Math.ceil(300 / layout.rowsPerGroup));
    expect(loc.valueBytes).toBe(docs.reduce((n, x) => n + Buffer.byteLength(valueOf(x) ?? ''), 0));
    const got: (string | null)[] = [];
    for (let g = 0; g < loc.groupCount; g++) {
      const { offset, length, rows } = loc.group(g);
      got.push(...decodeTextChunk(bytes.subarray(offset, offset + length), rows, loc.codec, 'body'));
    }
    expect(got).toEqual(docs.map(valueOf));
    // The file is still an ordinary table, and our own reader still rebuilds the documents exactly.
    const file = bytes.slice().buffer;
    const rows = (await parquetReadObjects({ file, compressors })) as { body: string | null }[];
    expect(rows.map((r) => r.body)).toEqual(docs.map(valueOf));
    expect(parquetMetadata(file).row_groups.every((rg) => rg.columns.find((c) => c.meta_data?.path_in_schema[0] === 'body')?.meta_data?.codec === 'GZIP')).toBe(true);
    expect((await readSegmentParquet(bytes)).map((d) => d.attributes)).toEqual(docs.map((d) => d.attributes));
    // No other column is stored once.
    expect(textLocators.has('title')).toBe(false);
  });

  it('chooses long, well-formed string attributes only, and row groups of about TEXT_GROUP_CHARS of them', () => {
    const long = 'a'.repeat(STORED_ONCE_MIN_CHARS);
    const d = (attributes: Doc['attributes']): Doc => ({ id: 1, vector: null, attributes });
    // A plain string attribute from STORED_ONCE_MIN_CHARS on, a full-text one from STORED_ONCE_MIN_CHARS_FULL_TEXT.
    expect([...storedOnceLayout([d({ title: long })], schema, 1000).names]).toEqual(['title']);
    expect(storedOnceLayout([d({ title: long.slice(1) })], schema, 1000).names.size).toBe(0);
    const prose = 'p'.repeat(STORED_ONCE_MIN_CHARS_FULL_TEXT);
    expect([...storedOnceLayout([d({ body: prose, title: long.slice(1) })], schema, 1000).names]).toEqual(['body']);
    expect(storedOnceLayout([d({ body: prose.slice(1) })], schema, 1000).names.size).toBe(0);
    expect(storedOnceLayout([d({ body: prose.slice(2) }), d({ body: `${prose}pp` })], schema, 1000).names.size).toBe(1); // the average counts
    // One value without a UTF-8 form keeps the attribute in its col: section (it is kept exactly there).
    expect(storedOnceLayout([d({ body: long }), d({ body: `${long}\ud800` })], schema, 1000).names.size).toBe(0);
    // Not a string attribute (year), or nulls only: nothing to store once.
    expect(storedOnceLayout([d({ year: 5, body: null })], schema, 1000).names.size).toBe(0);
    const docs = Array.from({ length: 100 }, () => d({ body: 'b'.repeat(4096) }));
    expect(storedOnceLayout(docs, schema, 1000).rowsPerGroup).toBe(TEXT_GROUP_CHARS / 4096);
    expect(storedOnceLayout(docs, schema, 16).rowsPerGroup).toBe(16);
    expect(storedOnceLayout([d({ body: 'c'.repeat(10 * TEXT_GROUP_CHARS) })], schema, 1000).rowsPerGroup).toBe(TEXT_GROUP_MIN_ROWS);
  });

  it('a flipped byte anywhere in a column chunk is CORRUPT_SEGMENT or changes nothing, never other text', async () => {
    const docs = docsOf(20, 2);
    // Small row groups keep the byte-by-byte loop short.
    const { bytes, textLocators } = await writeSegmentParquet(docs, schema, { storedOnce: new Set(['body']), rowsPerGroup: 4 });
    const loc = TextLocator.open(textLocators.get('body')!, docs.length, 'body');
    const { offset, length, rows, first } = loc.group(1);
    const want = docs.slice(first, first + rows).map(valueOf);
    let failed = 0;
    for (let at = 0; at < length; at++) {
      const chunk = bytes.slice(offset, offset + length);
      chunk[at] ^= 0x10;
      try {
        expect(decodeTextChunk(chunk, rows, loc.codec, 'body')).toEqual(want);
      } catch (e) {
        if (!(e instanceof ElacsymError)) throw e;
        expect(e.code).toBe('CORRUPT_SEGMENT');
        failed++;
      }
    }
    // Nearly every byte is compressed text behind gzip's CRC-32.
    expect(failed).toBeGreaterThan(length * 0.9);
  });

  it('a locator that does not fit the segment is CORRUPT_SEGMENT', () => {
    const bytes = encodeTextLocator(
      10,
      4,
      CODEC_GZIP,
      [
        { offset: 4, length: 10 },
        { offset: 14, length: 10 },
        { offset: 2 ** 33 + 24, length: 10 },
      ],
      2 ** 32 + 5,
    );
    expect(TextLocator.open(bytes, 10, 'x').group(2)).toEqual({ first: 8, rows: 2, offset: 2 ** 33 + 24, length: 10 });
    expect(TextLocator.open(bytes, 10, 'x').valueBytes).toBe(2 ** 32 + 5);
    const corrupt = (b: Uint8Array, n: number) => {
      try {
        TextLocator.open(b, n, 'x');
      } catch (e) {
        return (e as ElacsymError).code;
      }
      return 'opened';
    };
    expect(corrupt(bytes, 11)).toBe('CORRUPT_SEGMENT');
    expect(corrupt(bytes.subarray(0, bytes.length - 4), 10)).toBe('CORRUPT_SEGMENT');
    const badCodec = bytes.slice();
    badCodec[16] = 5;
    expect(corrupt(badCodec, 10)).toBe('CORRUPT_SEGMENT');
    const badMagic = bytes.slice();
    badMagic[0] ^= 1;
    expect(corrupt(badMagic, 10)).toBe('CORRUPT_SEGMENT');
  });
});
