/**
 * One SegmentStore conformance suite, three implementations: the local `segments/` directory, and the
 * ObjectSegmentStore (bridge + range cache) over a local object directory and over a bucket on the real
 * S3-compatible test server (radosgw). What the engine relies on is asserted for all of them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import { ObjectSegmentStore } from '../../../src/storage/object-segment-store.js';
import { LocalSegmentStore, type SegmentStore } from '../../../src/storage/segment-store.js';
import { cleanupTmp, tmpDir } from '../../helpers/cli.js';
import { freshS3Store, storeOptions } from '../../helpers/s3.js';

const BLOCK = 4096; // small blocks so that a few KiB span several of them
const pattern = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 7 + (i >> 8)) & 255);

const closers: (() => void)[] = [];
const kinds: [string, () => Promise<SegmentStore>][] = [
  [
    'local directory (LocalSegmentStore)',
    async () => {
      const dir = join(tmpDir('elacsym-segstore-'), 'segments');
      mkdirSync(dir); // the engine creates a namespace's segments/ directory
      return new LocalSegmentStore(dir);
    },
  ],
  [
    'object store on a local directory (ObjectSegmentStore)',
    async () => {
      const root = join(tmpDir('elacsym-segstore-'), 'objects');
      mkdirSync(root);
      const s = new ObjectSegmentStore({ store: { kind: 'local', root }, cache: { dir: tmpDir('elacsym-cache-'), maxBytes: 1 << 20, blockSize: BLOCK } });
      closers.push(() => s.close());
      return s;
    },
  ],
  [
    'object store on radosgw (ObjectSegmentStore)',
    async () => {
      const { env, bucket, store } = await freshS3Store('segstore');
      await store.close();
      const s = new ObjectSegmentStore({
        store: { kind: 's3', options: storeOptions(env, bucket, { prefix: 'ns/segments/' }) },
        cache: { dir: tmpDir('elacsym-cache-'), maxBytes: 1 << 20, blockSize: BLOCK },
      });
      closers.push(() => s.close());
      return s;
    },
  ],
];

afterAll(() => {
  for (const c of closers.splice(0)) c();
  cleanupTmp();
});

describe.each(kinds)('segment store conformance: %s', (_name, make) => {
  let store: SegmentStore;
  beforeAll(async () => {
    store = await make();
  });

  it('an empty store lists nothing', () => {
    expect(store.list()).toEqual([]);
  });

  it('create writes piece by piece: nothing is visible before commit, reads back what was written, abort leaves nothing', () => {
    const data = pattern(2 * BLOCK + 77, 9);
    const w = store.create('seg-streamed.parquet');
    w.write(data.subarray(0, 1000));
    w.write(data.subarray(1000, BLOCK + 5));
    expect(Buffer.from(w.read(990, 20))).toEqual(Buffer.from(data.subarray(990, 1010)));
    w.write(data.subarray(BLOCK + 5));
    expect(store.size('seg-streamed.parquet')).toBeNull();
    w.commit();
    expect(store.size('seg-streamed.parquet')).toBe(data.length);
    const o = store.open('seg-streamed.parquet');
    try {
      expect(Buffer.from(o.read(0, data.length))).toEqual(Buffer.from(data));
    } finally {
      o.close();
    }
    const gone = store.create('seg-aborted.parquet');
    gone.write(data.subarray(0, 100));
    gone.abort();
    expect(store.size('seg-aborted.parquet')).toBeNull();
    store.remove('seg-streamed.parquet');
  });

  it('put then open reads every range back: first byte, last byte, across block boundaries, empty, whole', () => {
    const data = pattern(3 * BLOCK + 123, 1);
    store.put('seg-1.idx', [data.subarray(0, 5000), data.subarray(5000)]);
    const o = store.open('seg-1.idx');
    try {
      expect(o.length).toBe(data.length);
      expect(o.path).toBe(store.pathOf('seg-1.idx'));
      const cases: [number, number][] = [[0, 1], [data.length - 1, 1], [BLOCK - 3, 10], [BLOCK - 1, 2 * BLOCK + 2], [2 * BLOCK, BLOCK], [17, 0], [0, data.length]];
      for (const [off, len] of cases) expect(Buffer.from(o.read(off, len))).toEqual(Buffer.from(data.subarray(off, off + len)));
      const sl = o.slice(BLOCK - 10, 2 * BLOCK);
      expect(sl.length).toBe(2 * BLOCK);
      expect(Buffer.from(sl.read(5, 20))).toEqual(Buffer.from(data.subarray(BLOCK - 5, BLOCK + 15)));
      expect(() => o.read(data.length - 1, 2)).toThrow(RangeError);
    } finally {
      o.close();
    }
  });

  it('a read of an aligned offset returns an array a Float32Array can view (ByteSource alignment promise)', () => {
    const o = store.open('seg-1.idx');
    const b = o.read(BLOCK + 8, 64);
    expect(b.byteOffset % 4).toBe(0);
    expect(new Float32Array(b.buffer, b.byteOffset, 16).length).toBe(16);
    o.close();
  });

  it('size is the byte count of a present object and null for a missing one', () => {
    expect(store.size('seg-1.idx')).toBe(3 * BLOCK + 123);
    expect(store.size('seg-404.idx')).toBeNull();
  });

  it('an empty object round-trips', () => {
    store.put('seg-2.parquet', []);
    expect(store.size('seg-2.parquet')).toBe(0);
    expect(store.open('seg-2.parquet').read(0, 0).length).toBe(0);
  });

  it('a missing object opens with an error whose code is ENOENT and that names its path', () => {
    let err: unknown;
    try {
      store.open('seg-404.idx');
    } catch (e) {
      err = e;
    }
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((err as NodeJS.ErrnoException).path).toBe(store.pathOf('seg-404.idx'));
  });

  it('list returns the objects present, and remove takes one away (a missing one is not an error)', () => {
    store.put('seg-3.idx', [pattern(10, 3)]);
    expect(store.list().sort()).toEqual(['seg-1.idx', 'seg-2.parquet', 'seg-3.idx']);
    store.remove('seg-3.idx');
    store.remove('seg-3.idx');
    expect(store.list().sort()).toEqual(['seg-1.idx', 'seg-2.parquet']);
    expect(store.size('seg-3.idx')).toBeNull();
  });

  it('an object opened and read before its removal still serves what it read (the snapshot guarantee)', () => {
    const data = pattern(2 * BLOCK, 4);
    store.put('seg-4.idx', [data]);
    const o = store.open('seg-4.idx');
    expect(Buffer.from(o.read(0, data.length))).toEqual(Buffer.from(data));
    store.remove('seg-4.idx');
    expect(Buffer.from(o.read(BLOCK - 2, 4))).toEqual(Buffer.from(data.subarray(BLOCK - 2, BLOCK + 2)));
    o.close();
  });
});

describe('segment objects are immutable (ObjectSegmentStore)', () => {
  it('putting the same bytes again under a name is accepted, different bytes are refused and change nothing', async () => {
    const { env, bucket, store } = await freshS3Store('segimm');
    await store.close();
    const s = new ObjectSegmentStore({ store: { kind: 's3', options: storeOptions(env, bucket) }, cache: { dir: tmpDir('elacsym-cache-'), maxBytes: 1 << 20, blockSize: BLOCK } });
    try {
      const a = pattern(5000, 5);
      s.put('seg-9.idx', [a]);
      s.put('seg-9.idx', [a.subarray(0, 100), a.subarray(100)]);
      let err: unknown;
      try {
        s.put('seg-9.idx', [pattern(5000, 6)]);
      } catch (e) {
        err = e;
      }
      expect(isElacsymError(err, 'INTERNAL')).toBe(true);
      expect(Buffer.from(s.open('seg-9.idx').read(0, 5000))).toEqual(Buffer.from(a));
    } finally {
      s.close();
    }
  });

  it('an object removed before any of it was read fails its reads with ENOENT, never with other bytes', async () => {
    const { env, bucket, store } = await freshS3Store('seggone');
    await store.close();
    const s = new ObjectSegmentStore({ store: { kind: 's3', options: storeOptions(env, bucket) }, cache: { dir: tmpDir('elacsym-cache-'), maxBytes: 1 << 20, blockSize: BLOCK } });
    try {
      s.put('seg-10.idx', [pattern(3 * BLOCK, 10)]);
      const o = s.open('seg-10.idx');
      o.read(0, 10); // block 0 cached
      s.remove('seg-10.idx');
      expect(o.read(0, 10).length).toBe(10);
      let err: unknown;
      try {
        o.read(2 * BLOCK, 10);
      } catch (e) {
        err = e;
      }
      expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    } finally {
      s.close();
    }
  });
});
