import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, datasetFile, errorCode, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const SCHEMA = JSON.stringify({
  vector_dim: 3,
  vector_metric: 'cosine',
  attributes: { title: { type: 'string', full_text: true }, price: { type: 'float' }, tags: { type: 'array<string>' } },
});

async function freshNs(): Promise<{ d: string; dir: string }> {
  const dir = tmpDir();
  const d = join(dir, 'data');
  const r = (await cli(['-d', d, 'init', 'docs', '--schema', '-'], { input: SCHEMA }));
  expect(r.code, r.stderr).toBe(0);
  return { d, dir };
}

describe('init', () => {
  it('creates a namespace and refuses to create it twice with the conflict status', async () => {
    const { d } = (await freshNs());
    const again = (await cli(['-d', d, 'init', 'docs', '--dim', '3']));
    expect(again.code).toBe(4);
    expect(errorCode(again.stderr)).toBe('NAMESPACE_EXISTS');
  });

  it('refuses invalid names and schemas before writing anything', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    const bad = [
      ['init', '../evil', '--dim', '3'],
      ['init', 'ok', '--dim', '-1'],
      ['init', 'ok', '--metric', 'hamming'],
    ];
    for (const args of bad) expect((await cli(['-d', d, ...args])).code).toBe(2);
    const schemas = [
      '{"vector_dim": "x"}',
      '{"attributes": {"a": {"type": "date"}}}',
      '{"attributes": {"a": {"type": "string", "full_text": {"language": "klingon"}}}}',
      '{"attributes": {"a": {"type": "float", "full_text": true}}}',
      '{"vector_metric": "cosine", "surprise": 1}',
      'not json',
    ];
    for (const s of schemas) {
      const r = (await cli(['-d', d, 'init', 'ok', '--schema', '-'], { input: s }));
      expect(r.code, s).toBe(2);
      expect(errorCode(r.stderr), s).toBe('INVALID_SCHEMA');
    }
    // Nothing was left behind: no namespace, no temp directories.
    expect(existsSync(d) ? readdirSync(d).filter((f) => f !== 'elacsym.json') : []).toEqual([]);
  });

  it('accepts a text-only namespace and every metric', async () => {
    const dir = tmpDir();
    const d = join(dir, 'data');
    expect((await cli(['-d', d, 'init', 'textonly', '--text-only', '--full-text', 'title'])).code).toBe(0);
    for (const m of ['cosine', 'l2', 'dot']) expect((await cli(['-d', d, 'init', `v${m}`, '--dim', '2', '--metric', m])).code).toBe(0);
    const ls = (await cli(['-d', d, '--json', 'namespaces']));
    expect(ndjson(ls.stdout).map((r) => r.namespace)).toEqual(['textonly', 'vcosine', 'vdot', 'vl2']);
  });

  it('refuses a data directory written by a newer format version', async () => {
    const { d } = (await freshNs());
    writeFileSync(join(d, 'elacsym.json'), '{"format_version": 999}');
    const r = (await cli(['-d', d, 'export', 'docs']));
    expect(r.code).toBe(5);
    expect(errorCode(r.stderr)).toBe('FORMAT_TOO_NEW');
  });
});

describe('import / export', () => {
  it('round-trips a generated dataset exactly through export | import', async () => {
    const { d, dir } = (await freshNs());
    const file = datasetFile(dir, { docs: 500, dim: 3, seed: 1 });
    const imp = (await cli(['-d', d, '--json', 'import', 'docs', file]));
    expect(imp.code, imp.stderr).toBe(0);
    const summary = JSON.parse(imp.stdout);
    expect(summary).toMatchObject({ read: 500, committed: 500, inserted: 500, updated: 0, rejected: 0 });
    const exported = (await cli(['-d', d, 'export', 'docs'])).stdout;
    // Vectors are float32: compare the float32 values (export prints their shortest decimals).
    const asFloat32 = (l: string) => {
      const o = JSON.parse(l) as { vector?: number[] };
      if (o.vector) o.vector = o.vector.map(Math.fround);
      return JSON.stringify(o);
    };
    const original = readFileSync(file, 'utf8').trim().split('\n').map(asFloat32);
    expect(exported.trim().split('\n').map(asFloat32).sort()).toEqual([...original].sort());
    // export | import into a new namespace round-trips
    expect((await cli(['-d', d, 'init', 'copy', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'copy', '-'], { input: exported })).code).toBe(0);
    expect((await cli(['-d', d, 'export', 'copy'])).stdout.split('\n').sort()).toEqual(exported.split('\n').sort());
  });

  it('upserts: the newest write of an id wins, within a file and across imports', async () => {
    const { d } = (await freshNs());
    const input = [
      { id: 1, vector: [1, 0, 0], attributes: { title: 'first' } },
      { id: 'a', attributes: { title: 'string id' } },
      { id: 1, vector: [0, 1, 0], attributes: { title: 'second' } },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n');
    const r = (await cli(['-d', d, '--json', 'import', 'docs', '-'], { input }));
    // Counted as the writes came (the second write of id 1 updates the first), whether or not a flush falls
    // between them: the same counts with a segment of one document each.
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 3, inserted: 2, updated: 1 });
    const { d: d1 } = await freshNs();
    const r1 = await cli(['-d', d1, '--json', 'import', 'docs', '-', '--segment-docs', '1'], { input });
    expect(JSON.parse(r1.stdout)).toMatchObject({ committed: 3, inserted: 2, updated: 1, segments: 3 });
    const r2 = (await cli(['-d', d, '--json', 'import', 'docs', '-'], { input: '{"id": 1, "attributes": {"title": "third"}}\n' }));
    expect(JSON.parse(r2.stdout)).toMatchObject({ inserted: 0, updated: 1 });
    const m = (await exportMap(d, 'docs'));
    expect([...m.keys()].sort()).toEqual(['"a"', '1']);
    expect(JSON.parse(m.get('1')!)).toEqual({ id: 1, attributes: { title: 'third' } });
    const q = JSON.parse((await cli(['-d', d, 'query', 'docs', '--text', 'first second third', '--format', 'json'])).stdout);
    expect(q.results.map((x: { id: unknown }) => x.id)).toEqual([1]);
  });

  it('delete hides documents from export and queries; unknown ids are counted as not found', async () => {
    const { d } = (await freshNs());
    (await cli(['-d', d, 'import', 'docs', '-'], {
      input: '{"id":1,"attributes":{"title":"alpha"}}\n{"id":2,"attributes":{"title":"alpha beta"}}\n{"id":"x","attributes":{"title":"alpha"}}\n',
    }));
    const del = (await cli(['-d', d, '--json', 'delete', 'docs', '--ids', '2,"x",99']));
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ deleted: 2, not_found: 1 });
    expect([...(await exportMap(d, 'docs')).keys()]).toEqual(['1']);
    const q = JSON.parse((await cli(['-d', d, 'query', 'docs', '--text', 'alpha', '--format', 'json'])).stdout);
    expect(q.results.map((x: { id: unknown }) => x.id)).toEqual([1]);
    // Re-importing a deleted id brings it back as a new document.
    (await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":2,"attributes":{"title":"back"}}\n' }));
    expect([...(await exportMap(d, 'docs')).keys()].sort()).toEqual(['1', '2']);
  });

  it('accepts empty lines, CRLF and a UTF-8 BOM', async () => {
    const { d } = (await freshNs());
    const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"id":1,"attributes":{"title":"é"}}\r\n\r\n\n{"id":2}\r\n')]);
    const r = (await cli(['-d', d, '--json', 'import', 'docs', '-'], { input }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 2 });
    expect(JSON.parse((await exportMap(d, 'docs')).get('1')!).attributes.title).toBe('é');
  });

  it('types new attributes on first sight and records them in the schema', async () => {
    const { d } = (await freshNs());
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":1,"attributes":{"color":"red","n":3}}\n' })).code).toBe(0);
    const r = (await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":2,"attributes":{"color":5}}\n' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('attributes.color');
    // integers and floats are both numbers: 3 then 2.5 is fine
    expect((await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":3,"attributes":{"n":2.5}}\n' })).code).toBe(0);
  });
});

describe('bad input', () => {
  const good = (id: number) => JSON.stringify({ id, vector: [1, 2, 3], attributes: { title: `doc ${id}` } });
  const cases: [string, string, string][] = [
    ['malformed JSON', '{"id": 5, "vector": [1,2', 'malformed JSON'],
    ['missing id', '{"vector": [1,2,3]}', 'field id'],
    ['negative id', '{"id": -1}', 'field id'],
    ['fractional id', '{"id": 1.5}', 'field id'],
    ['wrong vector length', '{"id": 5, "vector": [1,2]}', 'field vector'],
    ['non-numeric vector', '{"id": 5, "vector": [1,"x",3]}', 'field vector[1]'],
    ['non-finite number', '{"id": 5, "vector": [1,1e999,3]}', 'field vector[1]'],
    ['non-finite attribute', '{"id": 5, "attributes": {"price": -1e999}}', 'field attributes.price'],
    ['type mismatch', '{"id": 5, "attributes": {"price": "cheap"}}', 'field attributes.price'],
    ['nested object', '{"id": 5, "attributes": {"meta": {"a": 1}}}', 'field attributes.meta'],
    ['array of numbers', '{"id": 5, "attributes": {"tags": [1]}}', 'field attributes.tags[0]'],
    ['unknown key', '{"id": 5, "vectr": [1,2,3]}', 'field vectr'],
    ['not an object', '[1,2,3]', 'line'],
  ];

  it('after --skip-lines, names the lines this run committed, not lines the earlier run did', async () => {
    const { d } = await freshNs();
    const bad = cases[0]![1];
    // lines 1-2 skipped; line 3 alone in a batch of one commits; line 4 is bad
    const input = [good(1), good(2), good(3), bad, good(5)].join('\n');
    const r = await cli(['-d', d, 'import', 'docs', '-', '--batch-size', '1', '--skip-lines', '2'], { input });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('1 documents from input lines 3-3 were committed');
    expect(r.stderr).toContain('--skip-lines 3');
    // nothing committed in this run: not "0 documents from input lines 1-3"
    const none = await cli(['-d', d, 'import', 'docs', '-', '--batch-size', '1', '--skip-lines', '3'], { input });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no document after input line 3 was committed');
    expect(none.stderr).not.toMatch(/0 documents from input lines/);
  });

  it.each(cases)('%s: names line and field, exits 2, commits earlier batches only', async (_name, badLine, expected) => {
    const { d } = (await freshNs());
    // batch size 2: lines 1-2 commit; line 3 is good but in the failing batch with line 4.
    const input = [good(1), good(2), good(3), badLine, good(5)].join('\n');
    const r = (await cli(['-d', d, 'import', 'docs', '-', '--batch-size', '2'], { input }));
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('INVALID_DOCUMENT');
    expect(r.stderr).toContain('line 4');
    expect(r.stderr).toContain(expected);
    expect(r.stderr).toContain('2 documents from input lines 1-2 were committed');
    expect(r.stderr).toContain('--skip-lines 2');
    expect([...(await exportMap(d, 'docs')).keys()].sort()).toEqual(['1', '2']);
    // the committed batches were flushed into a segment before exiting: nothing left pending
    expect((await cli(['-d', d, 'health'])).code).toBe(0);
  });

  it('rejects invalid UTF-8 and over-long lines', async () => {
    const { d } = (await freshNs());
    const bad = Buffer.concat([Buffer.from(`${good(1)}\n{"id":2,"attributes":{"title":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}}\n')]);
    const r = (await cli(['-d', d, 'import', 'docs', '-'], { input: bad }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 2: not valid UTF-8');
    const long = `${good(1)}\n{"id":2,"attributes":{"title":"${'x'.repeat(5000)}"}}\n`;
    const r2 = (await cli(['-d', d, 'import', 'docs', '-', '--max-line-bytes', '1024'], { input: long }));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('line 2: longer than 1024 bytes');
    // a line longer than the limit without any newline (one huge unterminated line) is refused without buffering it all
    const r3 = (await cli(['-d', d, 'import', 'docs', '-', '--max-line-bytes', '1024'], { input: 'x'.repeat(3 << 20) }));
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('line 1: longer than 1024 bytes');
  });

  it('--on-error skip resynchronises after an over-long line', async () => {
    const { d } = await freshNs();
    const input = [good(1), `{"id":2,"attributes":{"title":"${'y'.repeat(300_000)}"}}`, good(3)].join('\n');
    const r = await cli(['-d', d, '--json', 'import', 'docs', '-', '--on-error', 'skip', '--max-line-bytes', '1024'], { input });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 3, committed: 2, rejected: 1 });
    expect([...(await exportMap(d, 'docs')).keys()].sort()).toEqual(['1', '3']);
  });

  it('--on-error skip writes rejects with reasons and imports the rest', async () => {
    const { d, dir } = (await freshNs());
    const rejects = join(dir, 'rejects.ndjson');
    const input = [good(1), '{"id": -4}', good(3), '{oops', good(5)].join('\n');
    const r = (await cli(['-d', d, '--json', 'import', 'docs', '-', '--on-error', 'skip', '--rejects', rejects], { input }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 5, committed: 3, rejected: 2 });
    const rej = ndjson(readFileSync(rejects, 'utf8'));
    expect(rej.map((x) => x.line)).toEqual([2, 4]);
    expect(String(rej[0]!.reason)).toContain('field id');
    expect(rej[1]!.text).toBe('{oops');
    expect([...(await exportMap(d, 'docs')).keys()].sort()).toEqual(['1', '3', '5']);
  });

  it('--resume continues a failed file import after the committed lines', async () => {
    const { d, dir } = (await freshNs());
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, [good(1), good(2), '{"id": "broken', good(4)].join('\n'));
    const r = (await cli(['-d', d, 'import', 'docs', file, '--batch-size', '1']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--resume');
    writeFileSync(file, [good(1), good(2), good(3), good(4)].join('\n'));
    const r2 = (await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']));
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ skipped_lines: 2, committed: 2 });
    expect([...(await exportMap(d, 'docs')).keys()].sort()).toEqual(['1', '2', '3', '4']);
  });

  it('--resume refuses a file whose lines before the resume point changed (a tester lost lines 1-2 of a new file in silence)', async () => {
    const { d, dir } = await freshNs();
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, [good(1), good(2)].join('\n'));
    expect((await cli(['-d', d, 'import', 'docs', file])).code).toBe(0);
    const ids = async () => [...(await exportMap(d, 'docs')).keys()].sort();

    // Replaced by new content: nothing is imported, and the error says why and what to do.
    writeFileSync(file, [good(11), good(12), good(13)].join('\n'));
    const r = await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']);
    expect(r.code, r.stderr).toBe(4);
    expect(errorCode(r.stderr)).toBe('RESUME_CONFLICT');
    expect(r.stderr).toContain('lines 1-2');
    expect(await ids()).toEqual(['1', '2']);

    // A line before the resume point deleted, or the file cut short: refused too.
    writeFileSync(file, [good(2), good(3)].join('\n'));
    expect(errorCode((await cli(['-d', d, '--json', 'import', 'docs', file, '--resume'])).stderr)).toBe('RESUME_CONFLICT');
    writeFileSync(file, good(1));
    const short = await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']);
    expect(errorCode(short.stderr)).toBe('RESUME_CONFLICT');
    expect(short.stderr).toContain('has 1 lines, not the 2 committed');
    expect(await ids()).toEqual(['1', '2']);

    // The same lines with more appended (CRLF line ends read as the same lines): only the new ones.
    writeFileSync(file, [good(1), good(2), good(3), good(4)].join('\r\n'));
    const more = await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']);
    expect(more.code, more.stderr).toBe(0);
    expect(JSON.parse(more.stdout)).toMatchObject({ skipped_lines: 2, committed: 2 });
    expect(await ids()).toEqual(['1', '2', '3', '4']);

    // A resume point recorded by an older release (no fingerprint) is taken on trust, as it was then.
    const db = new Database(join(d, 'docs', 'manifest.db'));
    db.prepare('UPDATE imports SET crc32 = NULL').run();
    db.close();
    writeFileSync(file, [good(21), good(22), good(23), good(24), good(25)].join('\n'));
    const old = await cli(['-d', d, '--json', 'import', 'docs', file, '--resume']);
    expect(old.code, old.stderr).toBe(0);
    expect(JSON.parse(old.stdout)).toMatchObject({ skipped_lines: 4, committed: 1 });
  });

  it('a missing namespace or input file has its own status', async () => {
    const { d } = (await freshNs());
    expect((await cli(['-d', d, 'import', 'nope', '-'], { input: '' })).code).toBe(3);
    expect((await cli(['-d', d, 'import', 'docs', '/does/not/exist.ndjson'])).code).toBe(3);
    expect((await cli(['-d', join(d, 'missing'), 'export', 'docs'])).code).toBe(3);
  });
});

describe('namespaces and drop', () => {
  it('lists counts and drops only with --yes when not on a terminal', async () => {
    const { d } = (await freshNs());
    (await cli(['-d', d, 'import', 'docs', '-'], { input: '{"id":1}\n{"id":2}\n' }));
    expect((await cli(['-d', d, 'ls'])).stdout).toBe('docs\t2\n');
    const r = (await cli(['-d', d, 'drop', 'docs']));
    expect(r.code).toBe(2);
    expect(errorCode(r.stderr)).toBe('CONFIRMATION_REQUIRED');
    expect((await cli(['-d', d, 'drop', 'docs', '--yes'])).code).toBe(0);
    expect((await cli(['-d', d, 'ls'])).stdout).toBe('');
    expect((await cli(['-d', d, 'drop', 'docs', '--yes'])).code).toBe(3);
  });
});

describe('help', () => {
  it('every command has a description and an example', async () => {
    for (const c of ['init', 'namespaces', 'drop', 'import', 'delete', 'export', 'query', 'compact', 'health', 'bench', 'wal inspect', 'wal replay']) {
      const r = (await cli([...c.split(' '), '--help']));
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toContain('Examples:');
      expect(r.stdout, c).toContain(`$ elacsym ${c.split(' ')[0]}`);
    }
  });

  beforeAll(() => undefined);
});
