/**
 * The segments `elacsym import` and `elacsym compact` write (default codec ZSTD) read back through an
 * independent Parquet reader (hyparquet with hyparquet-compressors) as the documents that were imported:
 * ids, every typed attribute, the vectors (float32), absent attributes as nulls, deleted documents gone
 * after compaction. Issue 11: "a segment's Parquet file read back by an independent Parquet reader gives
 * the documents exactly".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

let d: string;
const N = 400;
const DIM = 8;
// Values that survive float32 exactly (multiples of 1/64), so vectors compare with toEqual.
const vec = (i: number) => Array.from({ length: DIM }, (_, k) => ((i * 7 + k * 13) % 97) / 64 - 0.75);
function doc(i: number): { id: number; vector: number[]; attributes: Record<string, unknown> } {
  const attributes: Record<string, unknown> = { title: `document ${i} about ${['cats', 'dogs', 'birds'][i % 3]}`, year: 1990 + (i % 35) };
  if (i % 4 !== 0) attributes.price = i / 8;
  if (i % 5 !== 0) attributes.tags = [`t${i % 7}`, `u${i % 3}`];
  if (i % 6 === 0) attributes.sold = i % 12 === 0;
  if (i % 9 === 0) attributes.note = `ünïcödé ${'€'.repeat(i % 4)} 数据库 ${i}`;
  return { id: i, vector: vec(i), attributes };
}

async function segmentRows(): Promise<Array<Record<string, unknown>>> {
  const dir = join(d, 'p', 'segments');
  const rows: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.parquet')).sort()) {
    const file = readFileSync(join(dir, f)).buffer.slice(0) as ArrayBuffer;
    const md = parquetMetadata(file);
    expect(md.row_groups.some((rg) => rg.columns.some((c) => c.meta_data!.codec === 'ZSTD'))).toBe(true);
    rows.push(...(await parquetReadObjects({ file, compressors })));
  }
  return rows;
}

function expectRowIs(r: Record<string, unknown>, want: ReturnType<typeof doc>): void {
  expect(r.id).toBe(BigInt(want.id));
  expect(Array.from(r.vector as number[])).toEqual(want.vector);
  const a = want.attributes;
  expect(r.title).toBe(a.title);
  expect(r.year).toBe(BigInt(a.year as number));
  expect(r.price ?? null).toBe(a.price ?? null);
  expect(r.tags ?? null).toEqual(a.tags ?? null);
  expect(r.sold ?? null).toBe(a.sold ?? null);
  expect(r.note ?? null).toBe(a.note ?? null);
}

beforeAll(async () => {
  d = join(tmpDir(), 'data');
  const schema = join(d, '..', 'schema.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(schema, JSON.stringify({ vector_dim: DIM, vector_metric: 'l2', attributes: { title: { type: 'string', full_text: true }, year: { type: 'integer' }, price: { type: 'float' }, tags: { type: 'array<string>' }, sold: { type: 'boolean' }, note: { type: 'string' } } }));
  expect((await cli(['-d', d, 'init', 'p', '--schema', schema])).code).toBe(0);
  const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => JSON.stringify(doc(from + k))).join('\n');
  expect((await cli(['-d', d, 'import', 'p', '-'], { input: lines(0, N / 2) })).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'p', '-'], { input: lines(N / 2, N) })).code).toBe(0);
});
afterAll(cleanupTmp);

describe('segments through an independent Parquet reader', () => {
  it('flushed segments hold exactly the imported documents', async () => {
    const rows = await segmentRows();
    expect(rows.length).toBe(N);
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    for (let i = 0; i < N; i++) expectRowIs(byId.get(i)!, doc(i));
  });

  it('after deletes and a compaction, the one segment holds exactly the live documents', async () => {
    const del = await cli(['-d', d, 'delete', 'p', '--ids', '3,10,399']);
    expect(del.code, del.stderr).toBe(0);
    const c = await cli(['-d', d, 'compact', 'p']);
    expect(c.code, c.stderr).toBe(0);
    const rows = await segmentRows();
    expect(rows.length).toBe(N - 3);
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    for (let i = 0; i < N; i++) {
      if (i === 3 || i === 10 || i === 399) expect(byId.has(i)).toBe(false);
      else expectRowIs(byId.get(i)!, doc(i));
    }
  });
});
