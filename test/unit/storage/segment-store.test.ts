import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import { LocalSegmentStore } from '../../../src/storage/segment-store.js';
import { cleanupTmp, tmpDir } from '../../helpers/cli.js';

describe('LocalSegmentStore (the storage port on the local file system)', () => {
  afterAll(cleanupTmp);

  it('puts an object atomically, reads it by range, sizes, lists and removes it', () => {
    const store = new LocalSegmentStore(join(tmpDir(), 'segments'));
    expect(store.list()).toEqual([]); // a store that does not exist yet is empty, not an error
    mkdirSync(store.location);
    store.put('seg-00000001.idx', [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]);
    expect(store.size('seg-00000001.idx')).toBe(5);
    expect(store.size('seg-00000002.idx')).toBeNull();
    const o = store.open('seg-00000001.idx');
    expect(o.length).toBe(5);
    expect([...o.read(1, 3)]).toEqual([2, 3, 4]);
    expect([...o.slice(2, 3).read(1, 2)]).toEqual([4, 5]);
    o.close();
    o.close(); // idempotent
    mkdirSync(join(store.location, 'lost+found'));
    expect(store.list()).toEqual(['seg-00000001.idx']); // never a directory, and no temp file left behind
    store.remove('seg-00000001.idx');
    store.remove('seg-00000001.idx'); // missing is not an error
    expect(store.list()).toEqual([]);
  });

  it('an object written in pieces is invisible until committed, readable back while written, and gone when aborted', () => {
    const store = new LocalSegmentStore(join(tmpDir(), 'segments'));
    mkdirSync(store.location);
    const w = store.create('seg-00000003.parquet');
    w.write(new Uint8Array([1, 2, 3]));
    w.write(new Uint8Array([4, 5]));
    expect(store.size('seg-00000003.parquet')).toBeNull(); // only the temp file exists so far
    expect([...w.read(2, 3)]).toEqual([3, 4, 5]);
    w.commit();
    expect([...store.open('seg-00000003.parquet').read(0, 5)]).toEqual([1, 2, 3, 4, 5]);
    expect(store.list()).toEqual(['seg-00000003.parquet']); // no temp file left behind

    const a = store.create('seg-00000004.parquet');
    a.write(new Uint8Array([9]));
    a.abort();
    a.abort(); // idempotent
    expect(store.list()).toEqual(['seg-00000003.parquet']);
  });

  it('reports a missing object as ENOENT with its path', () => {
    const store = new LocalSegmentStore(tmpDir());
    let err: NodeJS.ErrnoException | undefined;
    try {
      store.open('seg-00000009.parquet');
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).toBe('ENOENT');
    expect(err?.path).toBe(store.pathOf('seg-00000009.parquet'));
  });

  it('a file cut short after it was opened is CORRUPT_SEGMENT, not an internal range error', () => {
    const store = new LocalSegmentStore(tmpDir());
    writeFileSync(store.pathOf('seg-00000001.idx'), new Uint8Array(8192));
    const o = store.open('seg-00000001.idx');
    truncateSync(store.pathOf('seg-00000001.idx'), 100);
    let err: unknown;
    try {
      o.read(4000, 100);
    } catch (e) {
      err = e;
    }
    o.close();
    expect(isElacsymError(err) && err.code).toBe('CORRUPT_SEGMENT');
  });
});
