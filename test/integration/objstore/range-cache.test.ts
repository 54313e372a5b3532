/**
 * The range cache and the synchronous bridge, against the real S3-compatible test server (radosgw): bytes
 * identical to the object under eviction pressure, shared by two processes, damage detected and repaired,
 * exact accounting, and bounded failures of an unreachable or silent store.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import type { Worker } from 'node:worker_threads';
import type { S3StoreOptions } from '../../../src/objstore/s3.js';
import { SyncObjectStore } from '../../../src/objstore/sync-store.js';
import { ObjectSegmentStore } from '../../../src/storage/object-segment-store.js';
import { cleanupTmp, ROOT, tmpDir } from '../../helpers/cli.js';
import { freshS3Store, storeOptions } from '../../helpers/s3.js';

const BLOCK = 4096;
const SIZE = 20 * BLOCK + 1234; // 21 blocks, the last one partial
// Also rebuilt in the child process below: keep the two in step.
const byteAt = (i: number) => (i * 131 + (i >>> 9) * 17 + 5) & 255;
const object = new Uint8Array(SIZE).map((_, i) => byteAt(i));

let options: S3StoreOptions;
const stores: ObjectSegmentStore[] = [];
function segStore(cacheDir: string, maxBlocks: number, memoryBytes = 0, extra: Partial<S3StoreOptions> = {}, timeoutMs?: number): ObjectSegmentStore {
  const s = new ObjectSegmentStore({
    store: { kind: 's3', options: { ...options, ...extra } },
    cache: { dir: cacheDir, maxBytes: maxBlocks * (BLOCK + 16), blockSize: BLOCK, memoryBytes },
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  stores.push(s);
  return s;
}

/** Sizes of the block files in a cache directory (temporary files excluded). */
function blockFiles(dir: string): { path: string; size: number }[] {
  return readdirSync(dir)
    .filter((d) => d !== 'tmp')
    .flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)))
    .map((path) => ({ path, size: statSync(path).size }));
}

beforeAll(async () => {
  const { env, bucket, store } = await freshS3Store('cache');
  await store.close();
  options = storeOptions(env, bucket, { prefix: 'ns/segments/' });
  segStore(tmpDir('elacsym-cache-'), 100).put('seg-1.idx', [object]);
});

afterAll(() => {
  for (const s of stores.splice(0)) s.close();
  cleanupTmp();
});

describe('range cache on radosgw', () => {
  it('a tiny cache under random range reads returns exactly the object bytes, evicts, and stays within its bound', () => {
    const dir = tmpDir('elacsym-cache-');
    const s = segStore(dir, 4, BLOCK); // 4 blocks on disk, 1 in memory
    const o = s.open('seg-1.idx');
    const range = fc.integer({ min: 0, max: SIZE - 1 }).chain((off) => fc.tuple(fc.constant(off), fc.integer({ min: 0, max: Math.min(3 * BLOCK, SIZE - off) })));
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 4 }), (reads) => {
        for (const [off, len] of reads) {
          if (!Buffer.from(o.read(off, len)).equals(Buffer.from(object.subarray(off, off + len)))) return false;
        }
        return blockFiles(dir).reduce((n, f) => n + f.size, 0) <= s.cache.maxBytes;
      }),
      { numRuns: 25 },
    );
    expect(s.cache.stats.evictions).toBeGreaterThan(0);
    expect(s.cache.stats.corruptBlocks).toBe(0);
  });

  it('a second process reading the same cache directory at the same time gets identical bytes', async () => {
    const dir = tmpDir('elacsym-cache-');
    const maxBytes = 5 * (BLOCK + 16); // tiny: both processes evict each other's blocks
    // The child reads through the built store (dist/) and checks every byte itself. It runs as a
    // `node --input-type=module -e` script on purpose: a bridge worker that inherited that flag could not
    // load its own file; and with a V8 option (`--stack-size`, as `--trace-gc`), which Node refuses in a
    // worker's execArgv (sync-store.ts passes the worker none).
    const child = `
      import { ObjectSegmentStore } from ${JSON.stringify(join(ROOT, 'dist/storage/object-segment-store.js'))};
      const { options, dir, maxBytes, BLOCK, SIZE } = JSON.parse(process.argv[1]);
      const byteAt = ${byteAt.toString()};
      const s = new ObjectSegmentStore({ store: { kind: 's3', options }, cache: { dir, maxBytes, blockSize: BLOCK, memoryBytes: 0 } });
      const o = s.open('seg-1.idx');
      process.stdout.write('ready\\n');
      let bad = 0, x = 12345;
      for (let i = 0; i < 100; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        const off = x % SIZE, len = Math.min(SIZE - off, (x >> 8) % (2 * BLOCK));
        const b = o.read(off, len);
        for (let j = 0; j < len; j++) if (b[j] !== byteAt(off + j)) { bad++; break; }
      }
      process.stdout.write(JSON.stringify({ bad, stats: s.cache.stats }) + '\\n');
      s.close();
    `;
    const p = spawn(process.execPath, ['--stack-size=984', '--input-type=module', '-e', child, JSON.stringify({ options, dir, maxBytes, BLOCK, SIZE })], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const ready = new Promise<void>((resolve) => p.stdout.on('data', (d: Buffer) => ((out += d.toString()), out.includes('ready') && resolve())));
    const exited = new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? -1)));
    await ready;
    const s = new ObjectSegmentStore({ store: { kind: 's3', options }, cache: { dir, maxBytes, blockSize: BLOCK, memoryBytes: 0 }, timeoutMs: 10_000 });
    stores.push(s);
    const o = s.open('seg-1.idx');
    let x = 777;
    let bad = 0;
    for (let i = 0; i < 100; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const off = x % SIZE;
      const len = Math.min(SIZE - off, (x >> 8) % (2 * BLOCK));
      if (!Buffer.from(o.read(off, len)).equals(Buffer.from(object.subarray(off, off + len)))) bad++;
    }
    expect(await exited).toBe(0);
    const report = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!);
    expect(report.bad).toBe(0);
    expect(bad).toBe(0);
    expect(report.stats.corruptBlocks + s.cache.stats.corruptBlocks).toBe(0);
    expect(report.stats.evictions + s.cache.stats.evictions).toBeGreaterThan(0);
  });

  it('a flipped byte in a cached block file is detected, never served, and the block is fetched again', () => {
    const dir = tmpDir('elacsym-cache-');
    const first = segStore(dir, 100);
    expect(Buffer.from(first.open('seg-1.idx').read(BLOCK + 10, 100))).toEqual(Buffer.from(object.subarray(BLOCK + 10, BLOCK + 110)));
    const [file] = blockFiles(dir);
    const bytes = readFileSync(file!.path);
    bytes[16 + 20] ^= 0x40; // a data byte (after the 16-byte header)
    writeFileSync(file!.path, bytes);
    const s = segStore(dir, 100); // a fresh process view: nothing in memory
    expect(Buffer.from(s.open('seg-1.idx').read(BLOCK + 10, 100))).toEqual(Buffer.from(object.subarray(BLOCK + 10, BLOCK + 110)));
    expect(s.cache.stats).toMatchObject({ corruptBlocks: 1, misses: 1, diskHits: 0 });
    // Repaired on disk: a third view hits it.
    const t = segStore(dir, 100);
    t.open('seg-1.idx').read(BLOCK + 10, 100);
    expect(t.cache.stats).toMatchObject({ corruptBlocks: 0, misses: 0, diskHits: 1 });
  });

  it('a block file copied over another block of the same size is detected, never served as that block', () => {
    const dir = tmpDir('elacsym-cache-');
    const first = segStore(dir, 100);
    first.open('seg-1.idx').read(0, 2 * BLOCK); // blocks 0 and 1, both whole
    const files = blockFiles(dir).sort((a, b) => a.path.localeCompare(b.path));
    const b0 = files.find((f) => f.path.endsWith('.0'))!;
    const b1 = files.find((f) => f.path.endsWith('.1'))!;
    writeFileSync(b1.path, readFileSync(b0.path)); // block 0's file, intact, under block 1's name
    const s = segStore(dir, 100);
    expect(Buffer.from(s.open('seg-1.idx').read(BLOCK, 100))).toEqual(Buffer.from(object.subarray(BLOCK, BLOCK + 100)));
    expect(s.cache.stats).toMatchObject({ corruptBlocks: 1, misses: 1 });
  });

  it('a cache directory removed under a running process is made again: later blocks are cached', () => {
    const dir = tmpDir('elacsym-cache-');
    const s = segStore(dir, 100);
    const o = s.open('seg-1.idx');
    o.read(0, 10);
    rmSync(dir, { recursive: true, force: true });
    const before = s.cache.stats.bytesCached;
    expect(Buffer.from(o.read(5 * BLOCK, 10))).toEqual(Buffer.from(object.subarray(5 * BLOCK, 5 * BLOCK + 10)));
    expect(s.cache.stats.bytesCached).toBeGreaterThan(before);
    expect(blockFiles(dir).length).toBe(1);
  });

  it('a truncated (torn) block file is detected and fetched again', () => {
    const dir = tmpDir('elacsym-cache-');
    segStore(dir, 100).open('seg-1.idx').read(0, 10);
    const [file] = blockFiles(dir);
    writeFileSync(file!.path, readFileSync(file!.path).subarray(0, 1000));
    const s = segStore(dir, 100);
    expect(Buffer.from(s.open('seg-1.idx').read(0, 10))).toEqual(Buffer.from(object.subarray(0, 10)));
    expect(s.cache.stats).toMatchObject({ corruptBlocks: 1, misses: 1 });
  });

  it('hits, misses, fetches and bytes are counted exactly for a scripted sequence of reads', () => {
    const dir = tmpDir('elacsym-cache-');
    const s = segStore(dir, 100, 1 << 20);
    const o = s.open('seg-1.idx');
    o.read(0, 10); // block 0: miss
    expect(s.cache.stats).toMatchObject({ hits: 0, misses: 1, fetches: 1, bytesFetched: BLOCK, bytesCached: BLOCK });
    o.read(100, 10); // block 0 again: memory hit
    expect(s.cache.stats).toMatchObject({ hits: 1, memoryHits: 1, misses: 1, fetches: 1 });
    o.read(BLOCK - 6, 10); // block 0 hit, block 1 miss
    expect(s.cache.stats).toMatchObject({ hits: 2, misses: 2, fetches: 2, bytesFetched: 2 * BLOCK });
    o.read(18 * BLOCK, SIZE - 18 * BLOCK); // blocks 18, 19, 20 (partial, 1234 bytes): one run, one GET
    expect(s.cache.stats).toMatchObject({ hits: 2, misses: 5, fetches: 3, bytesFetched: 4 * BLOCK + 1234, bytesCached: 4 * BLOCK + 1234, evictions: 0 });
    // Another process's view of the same directory: disk hits for blocks 0, 1; block 2 is fetched.
    const t = segStore(dir, 100);
    t.open('seg-1.idx').read(0, 3 * BLOCK);
    expect(t.cache.stats).toMatchObject({ hits: 2, diskHits: 2, memoryHits: 0, misses: 1, fetches: 1, bytesFetched: BLOCK });
    expect(t.cache.hitRate()).toBeCloseTo(2 / 3);
  });
});

describe('synchronous bridge to the store', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers (the kernel completes the handshake even while the test's
    // thread is blocked waiting for the bridge).
    silent = createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('an endpoint nothing listens on gives STORE_UNAVAILABLE, not a hang', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const s = segStore(tmpDir('elacsym-cache-'), 10, 0, { endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }, 60_000);
    let err: unknown;
    try {
      s.open('seg-1.idx');
    } catch (e) {
      err = e;
    }
    expect(isElacsymError(err, 'STORE_UNAVAILABLE')).toBe(true);
  });

  it('a server that accepts and never answers gives STORE_UNAVAILABLE when the bridge bound passes', () => {
    const port = (silent.address() as AddressInfo).port;
    const s = segStore(tmpDir('elacsym-cache-'), 10, 0, { endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, requestTimeoutMs: 600_000 }, 1500);
    let err: unknown;
    try {
      s.size('seg-1.idx');
    } catch (e) {
      err = e;
    }
    expect(isElacsymError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect((err as { details: { timeout_ms?: number } }).details.timeout_ms).toBe(1500);
  });

  it('a reply that arrives after its call gave up is dropped: the next call gets its own answer', async () => {
    // A stand-in HTTP endpoint in a child process (this thread is blocked while it must answer): it holds
    // the first request, and answers it (size 111) only when the second arrives, then the second (222).
    const server = `
      const http = require('node:http');
      let held = null;
      const answer = (res, n) => { res.writeHead(200, { 'Content-Length': String(n), ETag: '"e' + n + '"' }); res.end(); };
      const srv = http.createServer((req, res) => {
        if (!held) { held = res; return; }
        answer(held, 111);
        answer(res, 222);
      });
      srv.listen(0, '127.0.0.1', () => process.stdout.write(srv.address().port + '\\n'));
    `;
    const child = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => child.stdout.on('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const s = segStore(tmpDir('elacsym-cache-'), 10, 0, { endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, requestTimeoutMs: 600_000 }, 1500);
      expect(() => s.size('seg-a.idx')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE' }));
      expect(s.size('seg-b.idx')).toBe(222);
    } finally {
      child.kill();
    }
  });

  it('a worker that died is replaced at the next call (no call waits out its bound on a dead worker)', async () => {
    const root = tmpDir('elacsym-bridge-');
    writeFileSync(join(root, 'x'), 'abc');
    const bridge = new SyncObjectStore({ kind: 'local', root }, { timeoutMs: 20_000 });
    try {
      expect(bridge.head('x')).toMatchObject({ size: 3 });
      const worker = (bridge as unknown as { worker: Worker }).worker;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await worker.terminate();
      await exited;
      expect(bridge.head('x')).toMatchObject({ size: 3 });
    } finally {
      bridge.close();
    }
  });

  it('errors keep their codes across the bridge: a missing bucket, refused credentials', () => {
    const noBucket = segStore(tmpDir('elacsym-cache-'), 10, 0, { bucket: 'elacsym-no-such-bucket-s3c' });
    expect(() => noBucket.list()).toThrow(expect.objectContaining({ code: 'BUCKET_NOT_FOUND' }));
    const denied = segStore(tmpDir('elacsym-cache-'), 10, 0, { credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong' } });
    expect(() => denied.list()).toThrow(expect.objectContaining({ code: 'STORE_ACCESS_DENIED' }));
  });
});
