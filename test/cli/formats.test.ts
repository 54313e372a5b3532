/**
 * Import formats (issue 13): CSV, TSV, JSON and Parquet flat records round-trip through export, and
 * --dry-run validates everything while writing nothing. Every test spawns the real binary.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const SCHEMA = JSON.stringify({ vector_dim: 2, vector_metric: 'l2', attributes: { title: { type: 'string', full_text: true }, price: { type: 'float' }, stock: { type: 'integer' }, tags: { type: 'array<string>' }, active: { type: 'boolean' } } });

async function ns(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'shop', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
  return d;
}
/** A Parquet file of these columns, written by an independent writer (apache-arrow + parquet-wasm). */
async function parquetFile(name: string, columns: Record<string, Int32Array | Float64Array | string[]>): Promise<string> {
  const arrow = await import('apache-arrow');
  const pq = await import('parquet-wasm');
  const table = arrow.tableFromArrays(columns);
  const file = join(tmpDir(), name);
  writeFileSync(file, pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'))));
  return file;
}
const exported = async (d: string) => [...(await exportMap(d, 'shop')).values()].map((l) => JSON.parse(l)).sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));

const EXPECTED = [
  { id: 1, vector: [0.5, 1], attributes: { title: 'Red, round "apple"', price: 1.25, stock: 10, tags: ['fruit', 'red'], active: true } },
  { id: 2, vector: [2, 0], attributes: { title: 'Pear', price: 0.8, stock: 0, tags: ['fruit'], active: false, origin: 'ES' } },
  { id: 'sku-3', attributes: { title: 'Gift card', price: 25 } },
];

describe('import --format', () => {
  it('CSV with --id-field and --vector-field: typed by the schema, quoted commas kept, empty cells absent; export gives the documents back', async () => {
    const d = await ns();
    const file = join(tmpDir(), 'products.csv');
    writeFileSync(file, 'sku,title,price,stock,tags,active,embedding,origin\n1,"Red, round ""apple""",1.25,10,fruit|red,true,"[0.5,1]",\n2,Pear,0.8,0,"[""fruit""]",false,"[2,0]",ES\nsku-3,Gift card,25,,,,,\n');
    const r = await cli(['-d', d, '--json', 'import', 'shop', file, '--id-field', 'sku', '--vector-field', 'embedding']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 3, inserted: 3, rejected: 0 });
    expect(await exported(d)).toEqual(EXPECTED);
  });

  it('TSV and JSON (flat and in the import shape) give the same documents', async () => {
    const tsvD = await ns();
    const tsv = join(tmpDir(), 'p.tsv');
    writeFileSync(tsv, 'id\ttitle\tprice\tstock\ttags\tactive\tvector\torigin\n1\tRed, round "apple"\t1.25\t10\tfruit|red\ttrue\t[0.5,1]\t\n2\tPear\t0.8\t0\tfruit\tfalse\t[2,0]\tES\nsku-3\tGift card\t25\t\t\t\t\t\n');
    expect((await cli(['-d', tsvD, 'import', 'shop', tsv])).code).toBe(0);
    expect(await exported(tsvD)).toEqual(EXPECTED);

    const jsonD = await ns();
    const flat = join(tmpDir(), 'p.json');
    writeFileSync(flat, JSON.stringify([
      { id: 1, title: 'Red, round "apple"', price: 1.25, stock: 10, tags: ['fruit', 'red'], active: true, vec: [0.5, 1] },
      { id: 2, title: 'Pear', price: 0.8, stock: 0, tags: ['fruit'], active: false, vec: [2, 0], origin: 'ES' },
      { id: 'sku-3', title: 'Gift card', price: 25 },
    ]));
    const r = await cli(['-d', jsonD, 'import', 'shop', flat, '--vector-field', 'vec']);
    expect(r.code, r.stderr).toBe(0);
    expect(await exported(jsonD)).toEqual(EXPECTED);

    const shapeD = await ns();
    const shaped = join(tmpDir(), 'docs.json');
    writeFileSync(shaped, JSON.stringify(EXPECTED));
    expect((await cli(['-d', shapeD, 'import', 'shop', shaped])).code).toBe(0);
    expect(await exported(shapeD)).toEqual(EXPECTED);
  });

  it('Parquet written by an independent writer (apache-arrow + parquet-wasm) imports as flat records', async () => {
    const file = await parquetFile('p.parquet', { id: Int32Array.from([1, 2]), title: ['Red, round "apple"', 'Pear'], price: Float64Array.from([1.25, 0.8]), stock: Int32Array.from([10, 0]) });
    const d = await ns();
    const r = await cli(['-d', d, 'import', 'shop', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(await exported(d)).toEqual([
      { id: 1, attributes: { title: 'Red, round "apple"', price: 1.25, stock: 10 } },
      { id: 2, attributes: { title: 'Pear', price: 0.8, stock: 0 } },
    ]);
  });

  it("a segment's own Parquet file imports as its documents: mixed ids keep their types, an attribute named vector its name, explicit nulls stay", async () => {
    const d = await ns();
    const docs = [
      { id: 1, vector: [1, 0], attributes: { title: 'one', stock: 3, tags: ['a', 'b'], active: true, vector: 'attr', opt: null } },
      { id: 's0', vector: [0, 1], attributes: { title: 'zero', price: 2.5, stock: null } },
      { id: '42', vector: [1, 1], attributes: {} },
      { id: 7, vector: [0.5, 0.5], attributes: { title: 'seven' } },
    ];
    expect((await cli(['-d', d, 'import', 'shop', '-'], { input: docs.map((x) => JSON.stringify(x)).join('\n') })).code).toBe(0);
    expect((await cli(['-d', d, 'init', 'copy', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
    const r = await cli(['-d', d, 'import', 'copy', join(d, 'shop', 'segments', 'seg-00000001.parquet')]);
    expect(r.code, r.stderr).toBe(0);
    const exp = async (n: string) => (await cli(['-d', d, 'export', n])).stdout;
    // the same documents (an attribute's key order within a document is kept by the segment's index
    // file, which this import does not read: equal as JSON values)
    expect(ndjson(await exp('copy'))).toEqual(ndjson(await exp('shop')));
    expect(ndjson(await exp('copy'))[0]!.attributes).toMatchObject({ vector: 'attr', opt: null });
    expect(ndjson(await exp('copy')).map((x) => x.id)).toEqual([1, 's0', '42', 7]);
  });

  it('a CSV cell of the wrong type is rejected naming its line; a file that is not CSV is INVALID_DOCUMENT', async () => {
    const d = await ns();
    const file = join(tmpDir(), 'bad.csv');
    writeFileSync(file, 'id,price\n1,2.5\n2,cheap\n');
    const r = await cli(['-d', d, '--json', 'import', 'shop', file]);
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('INVALID_DOCUMENT');
    expect(r.stderr).toContain('line 3');
    const ragged = join(tmpDir(), 'ragged.csv');
    writeFileSync(ragged, 'id,price\n1,2,3\n');
    const r2 = await cli(['-d', d, '--json', 'import', 'shop', ragged]);
    expect(r2.code).toBe(2);
    expect(errorCode(r2.stderr)).toBe('INVALID_DOCUMENT');
    expect(r2.stderr).toContain('line 2: 3 cells where the header has 2 columns');
  });

  it('a CSV row of another number of cells than the header is one rejected record: --on-error skip steps over it (a tester\'s case)', async () => {
    const d = await ns();
    const file = join(tmpDir(), 'ragged.csv');
    // rows: fine, one cell short, one cell over, quoted, fine
    writeFileSync(file, 'id,price\n1,2.5\n2\n3,4,5\n4,"1.5"\n5,6\n');
    const rejects = join(tmpDir(), 'rejects.ndjson');
    const r = await cli(['-d', d, '--json', 'import', 'shop', file, '--on-error', 'skip', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 5, committed: 3, rejected: 2 });
    const rej = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string; text: string });
    expect(rej).toEqual([
      { line: 3, reason: 'line 3: 1 cell where the header has 2 columns', text: '2' },
      { line: 4, reason: 'line 4: 3 cells where the header has 2 columns', text: '3,4,5' },
    ]);
    expect([...(await exportMap(d, 'shop')).keys()].sort()).toEqual(['1', '4', '5']);
    // Line ends of either kind, blank lines, a quoted cell over two lines, a long row of two-byte characters:
    // every line number is the file's, no row is merged into another, no text keeps a CR or a cut character.
    const mixed = join(tmpDir(), 'mixed.csv');
    writeFileSync(mixed, `id,price\r\n7\n8,1.5\r\n\n9,"2\n"\n10,3,4\r\n11,${'é'.repeat(3000)},x\n\n12,5\n\n`);
    const rejects2 = join(tmpDir(), 'rejects2.ndjson');
    const d3 = await ns();
    const m = await cli(['-d', d3, '--json', 'import', 'shop', mixed, '--on-error', 'skip', '--rejects', rejects2]);
    expect(m.code, m.stderr).toBe(0);
    const rej2 = readFileSync(rejects2, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string; text: string });
    expect(rej2.map((x) => [x.line, x.reason.replace(/:.*/, '')])).toEqual([
      [2, 'line 2'],
      [7, 'line 7'],
      [8, 'line 8'],
    ]);
    expect(rej2[0]!.text).toBe('7');
    expect(rej2[1]!.text).toBe('10,3,4');
    expect(rej2[2]!.text.endsWith('éé...')).toBe(true);
    expect([...(await exportMap(d3, 'shop')).keys()].sort()).toEqual(['12', '8', '9']);
    // Without --on-error skip the first one stops the import as any bad record does, and says how to go on.
    const d2 = await ns();
    const f = await cli(['-d', d2, 'import', 'shop', file]);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('line 3: 1 cell where the header has 2 columns');
    expect(f.stderr).toContain('--on-error skip');
  });
});

describe('import --dry-run', () => {
  it('reports what would be inserted, updated and rejected, and writes nothing', async () => {
    const d = await ns();
    expect((await cli(['-d', d, 'import', 'shop', '-'], { input: '{"id":1,"attributes":{"price":1}}\n{"id":2,"attributes":{"price":2}}\n' })).code).toBe(0);
    const before = await exported(d);
    const input = ['{"id":1,"attributes":{"price":5}}', '{"id":3,"attributes":{"price":3}}', '{"id":4,"attributes":{"price":"x"}}', '{"id":3,"attributes":{"price":4}}', 'not json'];
    const r = await cli(['-d', d, '--json', 'import', 'shop', '-', '--dry-run', '--on-error', 'skip'], { input: `${input.join('\n')}\n` });
    expect(r.code, r.stderr).toBe(0);
    // id 1 is live (an update); id 3 is new, then written again (an insert and an update).
    expect(JSON.parse(r.stdout)).toMatchObject({ dry_run: true, read: 5, would_insert: 1, would_update: 2, rejected: 2 });
    expect(await exported(d)).toEqual(before);
    const info = JSON.parse((await cli(['-d', d, '--json', 'describe', 'shop'])).stdout);
    expect(info.counts.pending_journal_entries).toBe(0);
    // without --on-error skip the first bad line fails the dry run like it would fail the import
    const fail = await cli(['-d', d, '--json', 'import', 'shop', '-', '--dry-run'], { input: `${input.join('\n')}\n` });
    expect(fail.code).toBe(2);
    expect(errorCode(fail.stderr)).toBe('INVALID_DOCUMENT');
    // ... saying nothing was written, with no resume hint (following one would skip lines never imported)
    const e = ndjson(fail.stderr).find((x) => x.error) as { error: { message: string; hint: string; details: Record<string, unknown> } };
    expect(e.error.message).toContain('a dry run, nothing was written');
    expect(e.error.message).not.toContain('committed');
    expect(e.error.hint).not.toContain('--skip-lines');
    expect(e.error.details.committed).toBeUndefined();
    // ... and the import itself counts what the dry run said it would.
    const real = await cli(['-d', d, '--json', 'import', 'shop', '-', '--on-error', 'skip'], { input: `${input.join('\n')}\n` });
    expect(JSON.parse(real.stdout)).toMatchObject({ read: 5, inserted: 1, updated: 2, rejected: 2 });
  });
});

describe('import --format: nothing dropped or merged in silence (a tester\'s cases)', () => {
  const textOnly = async (name: string) => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', name, '--text-only'])).code).toBe(0);
    return d;
  };
  const docsOf = async (d: string, name: string) => [...(await exportMap(d, name)).values()].map((l) => JSON.parse(l) as { id: unknown; attributes?: Record<string, unknown> });

  it('a CSV id cell is an integer only in its canonical form: 007 and 7 stay two documents, and `get 007` finds the first', async () => {
    const d = await textOnly('r1');
    const file = join(tmpDir(), 'ids.csv');
    writeFileSync(file, 'id,name\n007,James\n7,Seven\n9007199254740993,Big\n');
    const r = await cli(['-d', d, '--json', 'import', 'r1', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 3, inserted: 3 });
    const byId = new Map((await docsOf(d, 'r1')).map((x) => [JSON.stringify(x.id), x.attributes?.name]));
    expect(byId).toEqual(new Map([['"007"', 'James'], ['7', 'Seven'], ['"9007199254740993"', 'Big']]));
    // The command line reads ids by the same rule.
    const g = await cli(['-d', d, '--json', 'get', 'r1', '007', '7', '9007199254740993']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { attributes: { name: string } }).attributes.name)).toEqual(['James', 'Seven', 'Big']);
  });

  it('an empty CSV cell is absent whether or not the column is typed yet; a cell of spaces is text either way', async () => {
    const d = await textOnly('r2');
    const first = join(tmpDir(), 'c1.csv');
    const second = join(tmpDir(), 'c2.csv');
    writeFileSync(first, 'id,name,note\na,x,y\nb,,  \n');
    writeFileSync(second, 'id,name,note\nc,,  \n');
    expect((await cli(['-d', d, 'import', 'r2', first])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'r2', second])).code).toBe(0); // "name" is a typed string now
    const docs = new Map((await docsOf(d, 'r2')).map((x) => [x.id, x.attributes ?? {}]));
    expect(docs.get('b')).toEqual({ note: '  ' });
    expect(docs.get('c')).toEqual({ note: '  ' });
    const n = await cli(['-d', d, '--json', 'count', 'r2', '--filter', '{"field":"name","op":"exists","value":false}']);
    expect(n.code, n.stderr).toBe(0);
    expect(JSON.parse(n.stdout)).toMatchObject({ count: 2 });
  });

  it('a Parquet NaN or infinity is rejected naming its field, not imported as null', async () => {
    const file = await parquetFile('nan.parquet', { id: Int32Array.from([1, 2, 3, 4]), price: Float64Array.from([1.5, Number.NaN, 3, Number.NEGATIVE_INFINITY]) });
    const d = await textOnly('pq');
    const rejects = join(tmpDir(), 'rejects.ndjson');
    const r = await cli(['-d', d, '--json', 'import', 'pq', file, '--on-error', 'skip', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 2, rejected: 2 });
    const lines = (await import('node:fs')).readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string });
    expect(lines.map((l) => l.line)).toEqual([2, 4]);
    for (const l of lines) expect(l.reason).toMatch(/attributes\.price: numbers must be finite/);
    expect((await docsOf(d, 'pq')).map((x) => x.attributes?.price).sort()).toEqual([1.5, 3]);
  });

  it('a CSV header that names a column twice is refused before anything is imported', async () => {
    const d = await textOnly('r6');
    const file = join(tmpDir(), 'dup.csv');
    writeFileSync(file, 'id,a,b,a\n1,x,z,y\n');
    const r = await cli(['-d', d, '--json', 'import', 'r6', file]);
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('INVALID_DOCUMENT');
    expect(r.stderr).toContain('the header names column \\"a\\" twice (columns 2 and 4)');
    expect(await docsOf(d, 'r6')).toEqual([]);
  });
});
