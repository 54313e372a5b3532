/**
 * One conformance suite, two implementations of the object-store port: a local directory and a bucket on
 * the real S3-compatible test server (Ceph radosgw, scripts/s3-server). Whatever the engine may rely on is
 * asserted here for both, so a difference between them fails a test instead of a deployment.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import { LocalObjectStore } from '../../../src/objstore/local.js';
import type { ObjectStore } from '../../../src/objstore/object-store.js';
import { S3ObjectStore } from '../../../src/objstore/s3.js';
import { cleanupTmp, tmpDir } from '../../helpers/cli.js';
import { freshS3Store, s3Server, storeOptions } from '../../helpers/s3.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

const kinds: [string, () => Promise<ObjectStore>][] = [
  ['local directory', async () => new LocalObjectStore(tmpDir('elacsym-objstore-'))],
  ['S3 (radosgw)', async () => (await freshS3Store('conf', { prefix: 'some/prefix/' })).store],
];

afterAll(() => cleanupTmp());

describe.each(kinds)('object store conformance: %s', (_name, make) => {
  let store: ObjectStore;
  beforeAll(async () => {
    store = await make();
  });

  it('round-trips bytes, including an empty object and binary data', async () => {
    const bin = new Uint8Array(256).map((_, i) => i);
    await store.put('rt/bin', bin);
    await store.put('rt/empty', new Uint8Array(0));
    expect(Buffer.from((await store.get('rt/bin'))!)).toEqual(Buffer.from(bin));
    expect((await store.get('rt/empty'))!.length).toBe(0);
    expect(await store.head('rt/bin')).toMatchObject({ size: 256 });
  });

  it('a missing key reads as null (get and head), never as an error', async () => {
    expect(await store.get('nope/missing')).toBeNull();
    expect(await store.get('nope/missing', { offset: 0, length: 4 })).toBeNull();
    expect(await store.head('nope/missing')).toBeNull();
  });

  it('range reads: middle, last byte alone, clipped past the end, and empty at or past the end', async () => {
    await store.put('range/obj', bytes('0123456789'));
    expect(text(await store.get('range/obj', { offset: 2, length: 3 }))).toBe('234');
    expect(text(await store.get('range/obj', { offset: 9, length: 1 }))).toBe('9');
    expect(text(await store.get('range/obj', { offset: 7, length: 100 }))).toBe('789');
    expect(text(await store.get('range/obj', { offset: 10, length: 5 }))).toBe('');
    expect(text(await store.get('range/obj', { offset: 50, length: 5 }))).toBe('');
    expect(text(await store.get('range/obj', { offset: 0, length: 0 }))).toBe('');
  });

  it('putIfAbsent creates once; a second create of the same key is refused and leaves the first bytes', async () => {
    expect(await store.putIfAbsent('cond/k', bytes('first'))).toBe('created');
    expect(await store.putIfAbsent('cond/k', bytes('second'))).toBe('exists');
    expect(text(await store.get('cond/k'))).toBe('first');
  });

  it('put replaces an object whole, and changes its etag', async () => {
    await store.put('rep/k', bytes('one'));
    const before = await store.head('rep/k');
    await store.put('rep/k', bytes('three'));
    expect(text(await store.get('rep/k'))).toBe('three');
    const after = await store.head('rep/k');
    expect(after!.size).toBe(5);
    expect(after!.etag).not.toBe(before!.etag);
  });

  it('list returns every key under a prefix, sorted, across many pages, and honours startAfter', async () => {
    const keys = Array.from({ length: 23 }, (_, i) => `list/p/${String(i).padStart(3, '0')}`);
    // Written out of order: the listing's order must not depend on the writing order.
    for (const k of [...keys].reverse()) await store.put(k, bytes(k));
    await store.put('list/other', bytes('x'));
    await store.put('list/pother', bytes('x')); // shares the string prefix "list/p" but not "list/p/"
    // pageSize 5 forces five listing requests on S3 (MaxKeys), proving the pagination loop.
    expect(await store.list('list/p/', { pageSize: 5 })).toEqual(keys);
    expect(await store.list('list/p')).toEqual([...keys, 'list/pother']);
    expect(await store.list('list/p/', { startAfter: 'list/p/019', pageSize: 2 })).toEqual(keys.slice(20));
    expect(await store.list('list/none/')).toEqual([]);
    // listModified: the same keys, each with when it was written (garbage collection's age of an orphan)
    const t0 = Date.now();
    const listed = await store.listModified!('list/p/', { pageSize: 5 });
    expect(listed.map((o) => o.key)).toEqual(keys);
    // written within this test: minutes at most (server and local clocks agree to that on loopback)
    for (const o of listed) expect(Math.abs(t0 - o.modified)).toBeLessThan(5 * 60_000);
  });

  it('delete removes keys and ignores keys that do not exist', async () => {
    await store.put('del/a', bytes('a'));
    await store.put('del/b', bytes('b'));
    await store.delete(['del/a', 'del/b', 'del/never']);
    expect(await store.get('del/a')).toBeNull();
    expect(await store.list('del/')).toEqual([]);
    await store.delete([]);
  });

  it('concurrent writes and deletes under one prefix never fail (a delete emptying a directory races the next write into it)', async () => {
    // Locally, deleting a directory's last key prunes the directory while another write is creating it:
    // the write must re-create it, whether it vanishes during mkdir or between mkdir and the link/rename.
    const rounds = 40;
    await Promise.all(
      Array.from({ length: rounds }, async (_, i) => {
        const k = `race/d${i % 3}/k${i}`;
        if (i % 2 === 0) await store.put(k, bytes(`v${i}`));
        else expect(await store.putIfAbsent(k, bytes(`v${i}`))).toBe('created');
        expect(text(await store.get(k))).toBe(`v${i}`);
        await store.delete([k]);
      }),
    );
    expect(await store.list('race/')).toEqual([]);
  });

  it('rejects malformed keys before touching the store', async () => {
    for (const k of ['', '/abs', 'a//b', 'a/../b', 'trailing/']) {
      await expect(store.get(k)).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'INTERNAL'));
    }
  });
});

describe('S3 errors map into the error table', () => {
  it('a missing bucket is BUCKET_NOT_FOUND', async () => {
    const env = await s3Server();
    const store = new S3ObjectStore(storeOptions(env, 'elacsym-no-such-bucket-here'));
    await expect(store.put('k', bytes('x'))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUCKET_NOT_FOUND'));
    await expect(store.list('')).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUCKET_NOT_FOUND'));
    await store.close();
  });

  it('wrong credentials are STORE_ACCESS_DENIED', async () => {
    const { env, bucket } = await freshS3Store('deny');
    const store = new S3ObjectStore({ ...storeOptions(env, bucket), credentials: { accessKeyId: 'elacsymtestkey', secretAccessKey: 'wrong-secret' } });
    await expect(store.put('k', bytes('x'))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'STORE_ACCESS_DENIED'));
    await store.close();
  });

  it('a refused connection is STORE_UNAVAILABLE after bounded retries (not INTERNAL)', async () => {
    const env = await s3Server();
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const store = new S3ObjectStore({ ...storeOptions(env, 'elacsym-any'), endpoint: 'http://127.0.0.1:1', maxAttempts: 2 });
    await expect(store.get('k')).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'STORE_UNAVAILABLE'));
    await expect(store.putIfAbsent('k', bytes('x'))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'STORE_UNAVAILABLE'));
    await store.close();
  });

  it('a server that accepts the connection but never answers is STORE_UNAVAILABLE (the request time limit throws)', async () => {
    const env = await s3Server();
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)); // reads nothing, answers nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    const store = new S3ObjectStore({ ...storeOptions(env, 'elacsym-any'), endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, requestTimeoutMs: 200 });
    try {
      await expect(store.get('k')).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'STORE_UNAVAILABLE'));
    } finally {
      await store.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
