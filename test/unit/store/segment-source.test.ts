/**
 * A segment built from a DocSource in chunks (as a merge feeds it, store/compact.ts) is the segment built
 * from the same documents in one array (as a flush gives them): the same index sections and the same
 * documents in its Parquet file, whatever the chunk sizes; and a source whose passes disagree is refused.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Doc, Schema } from '../../../src/model/types.js';
import type { DocSource } from '../../../src/storage/doc-source.js';
import { readSegmentParquet } from '../../../src/storage/parquet.js';
import { SegmentFile } from '../../../src/storage/segment-file.js';
import { LocalSegmentStore } from '../../../src/storage/segment-store.js';
import { writeSegment } from '../../../src/store/segment-builder.js';
import { MemorySource } from '../../../src/util/bytes.js';
import { mulberry32 } from '../../../src/util/prng.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const store = () => {
  const d = mkdtempSync(join(tmpdir(), 'elacsym-source-'));
  dirs.push(d);
  return new LocalSegmentStore(d);
};

const schema: Schema = {
  vector_dim: 4,
  vector_metric: 'l2',
  attributes: {
    body: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } },
    a: { type: 'string', full_text: null },
    n: { type: 'float', full_text: null },
    tags: { type: 'array<string>', full_text: null },
    b: { type: 'boolean', full_text: null },
  },
};

/** Documents with what the layout must keep exactly: explicit and absent nulls, lone surrogates, "__proto__". */
function makeDocs(count: number): Doc[] {
  const rand = mulberry32(7);
  const words = ['vector', 'search', 'segment', 'merge', 'postings', 'manifest', 'journal', 'quantized'];
  return Array.from({ length: count }, (_, i) => {
    const attributes: Doc['attributes'] = {};
    if (i % 7 !== 3) attributes.body = Array.from({ length: 8 + (i % 5) }, (_, k) => words[(i + k) % words.length]).join(' ');
    if (i % 5 === 0) attributes.a = null;
    else if (i % 5 !== 1) attributes.a = i === 42 ? 'lone \ud800 half' : `a${i % 9}`;
    attributes.n = i % 11 === 0 ? null : Math.round(rand() * 1e4) / 100;
    if (i % 3 !== 2) attributes.tags = i === 77 ? ['x', '\udfff'] : ['red', 'blue', 'green'].slice(0, i % 4);
    if (i % 2 === 0) attributes.b = i % 4 === 0;
    if (i === 99) Object.defineProperty(attributes, '__proto__', { value: 'own', enumerable: true, writable: true, configurable: true });
    return { id: i === 5 ? 'five' : i, vector: i % 13 === 0 ? null : Float32Array.of(rand(), rand(), rand(), i), attributes };
  });
}

function chunked(docs: readonly Doc[], seed: number, onPass?: (pass: number) => readonly Doc[]): DocSource {
  let pass = 0;
  return {
    capacity: docs.length,
    async *chunks() {
      const these = onPass?.(++pass) ?? docs;
      const rand = mulberry32(seed + pass);
      for (let at = 0; at < these.length; ) {
        const size = 1 + Math.floor(rand() * 37);
        yield these.slice(at, at + size);
        at += size;
      }
    },
  };
}

function sections(s: LocalSegmentStore, name: string): Map<string, string> {
  const f = SegmentFile.open(new MemorySource(readFileSync(s.pathOf(name))), name);
  const out = new Map<string, string>();
  // parquet-crc holds the Parquet file's block checksums (and crc:parquet-crc its own): parquet-wasm may
  // write the key-value metadata in another order from one file to the next.
  for (const k of f.sections.keys()) if (k !== 'parquet-crc' && k !== 'crc:parquet-crc') out.set(k, Buffer.from(f.readVerified(k)!).toString('base64'));
  return out;
}

describe('a segment built from a source of chunks', () => {
  it('has the index sections and the documents of the one built from an array', async () => {
    const docs = makeDocs(600);
    const a = store();
    const fa = await writeSegment(a, 1, docs, schema);
    for (const seed of [1, 2]) {
      const b = store();
      const fb = await writeSegment(b, 1, chunked(docs, seed), schema);
      expect(fb.docCount).toBe(600);
      expect(fb.formatVersion).toBe(fa.formatVersion);
      expect(fb.indexBytes).toBe(fa.indexBytes);
      expect(fb.parquetBytes).toBe(fa.parquetBytes);
      const sa = sections(a, fa.idx);
      const sb = sections(b, fb.idx);
      expect([...sb.keys()]).toEqual([...sa.keys()]);
      for (const [k, v] of sa) expect(sb.get(k), k).toBe(v);
      expect(sa.has('txt:body')).toBe(true); // the long text stored once, located the same way
      const back = await readSegmentParquet(readFileSync(b.pathOf(fb.parquet)));
      expect(back).toEqual(await readSegmentParquet(readFileSync(a.pathOf(fa.parquet))));
      const sorted = (d: Doc) => ({ id: d.id, vector: d.vector ? Array.from(d.vector) : null, attributes: Object.fromEntries(Object.entries(d.attributes).sort(([x], [y]) => (x < y ? -1 : 1))) });
      expect(back.map(sorted)).toEqual(docs.map(sorted));
    }
  });

  it('ends a pass that fails half-way: the source\'s finally blocks run (a merge closes its inputs there)', async () => {
    const docs = makeDocs(300);
    // The second pass meets a value its column cannot hold (the survey does not check types).
    const bad = docs.map((d, i) => (i === 100 ? { ...d, attributes: { ...d.attributes, n: 'not a number' } } : d));
    let opened = 0;
    let closed = 0;
    let pass = 0;
    const source: DocSource = {
      capacity: docs.length,
      async *chunks() {
        const these = ++pass === 1 ? docs : bad;
        opened++;
        try {
          for (let at = 0; at < these.length; at += 10) yield these.slice(at, at + 10);
        } finally {
          closed++;
        }
      },
    };
    await expect(writeSegment(store(), 1, source, schema)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(opened).toBe(2);
    expect(closed).toBe(2);
  });

  it('is refused (INTERNAL) when a pass gives other documents than the survey counted', async () => {
    const docs = makeDocs(200);
    for (const second of [docs.slice(0, 150), [...docs, ...docs.slice(0, 3)]]) {
      const s = store();
      await expect(writeSegment(s, 1, chunked(docs, 3, (pass) => (pass === 1 ? docs : second)), schema)).rejects.toMatchObject({ code: 'INTERNAL' });
    }
  });
});
