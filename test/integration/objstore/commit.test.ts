/**
 * The commit protocol (src/objstore/commit.ts) against a local directory and the real S3-compatible test
 * server: one winner per version, epoch fencing, the nonce read-back when a response is lost, and a
 * `latest` hint that is never trusted. Faults are injected by a wrapper that performs the real write and
 * then fails as a network would: the store really changed, only the answer is lost.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElacsymError, isElacsymError } from '../../../src/errors.js';
import { CommitLog, joinWriter } from '../../../src/objstore/commit.js';
import { LocalObjectStore } from '../../../src/objstore/local.js';
import type { ByteRange, ListOptions, ObjectStore } from '../../../src/objstore/object-store.js';
import { cleanupTmp, ROOT, tmpDir } from '../../helpers/cli.js';
import { freshS3Store, type S3Env } from '../../helpers/s3.js';

interface Payload {
  log: string[];
}

const bytes = (s: string) => new TextEncoder().encode(s);

/**
 * A fault injector around a real store: for the next `n` putIfAbsent calls, `mode` decides what happens.
 * 'lost-response': the create is performed, then a network-like error is thrown (the answer was lost).
 * 'retried-412': the create is performed, then 'exists' is returned (what an SDK retry of a request whose
 * first attempt succeeded reports). 'refused': a network-like error is thrown before anything is written.
 */
class FaultyStore implements ObjectStore {
  mode: 'lost-response' | 'retried-412' | 'refused' = 'lost-response';
  remaining = 0;
  puts = 0;
  constructor(readonly inner: ObjectStore) {}
  get location() {
    return this.inner.location;
  }
  get(key: string, range?: ByteRange) {
    return this.inner.get(key, range);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  put(key: string, b: Uint8Array) {
    return this.inner.put(key, b);
  }
  list(prefix: string, o?: ListOptions) {
    return this.inner.list(prefix, o);
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys);
  }
  async putIfAbsent(key: string, b: Uint8Array): Promise<'created' | 'exists'> {
    this.puts++;
    if (this.remaining <= 0) return this.inner.putIfAbsent(key, b);
    this.remaining--;
    const networkError = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    if (this.mode === 'refused') throw new ElacsymError('STORE_UNAVAILABLE', 'connection refused (injected)');
    await this.inner.putIfAbsent(key, b);
    if (this.mode === 'retried-412') return 'exists';
    throw networkError();
  }
}

let s3env: S3Env | undefined;
const kinds: [string, () => Promise<{ store: ObjectStore; racerTarget: string }>][] = [
  [
    'local directory',
    async () => {
      const d = tmpDir('elacsym-commit-');
      return { store: new LocalObjectStore(d), racerTarget: d };
    },
  ],
  [
    'S3 (radosgw)',
    async () => {
      const { env, bucket, store } = await freshS3Store('commit');
      s3env = env;
      return { store, racerTarget: `s3:${bucket}` };
    },
  ],
];

afterAll(() => cleanupTmp());

let prefixes = 0;
const nextPrefix = () => `ns${++prefixes}/`;

describe.each(kinds)('commit protocol: %s', (_name, make) => {
  let store: ObjectStore;
  let racerTarget: string;
  beforeAll(async () => {
    ({ store, racerTarget } = await make());
  });

  it('versions are numbered from 1, chained by parent, and latest finds the highest by listing', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    expect(await log.latest()).toBeNull();
    const w = await log.claim({ log: [] });
    expect([w.version, w.epoch]).toEqual([1, 1]);
    for (let i = 0; i < 3; i++) await w.commit((l) => ({ log: [...l.payload.log, `c${i}`] }));
    const latest = (await log.latest())!;
    expect(latest).toMatchObject({ version: 4, parent: 3, epoch: 1, payload: { log: ['c0', 'c1', 'c2'] } });
    // Zero-padded keys: listing order is version order, also past 9.
    expect(log.manifestKey(10) > log.manifestKey(9)).toBe(true);
    expect((await store.list(log.manifestPrefix)).map((k) => log.versionOf(k))).toEqual([1, 2, 3, 4]);
  });

  it('the latest hint is only a starting point: a stale, damaged or too-high hint never changes the answer', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    const w = await log.claim({ log: [] });
    for (let i = 0; i < 4; i++) await w.commit((l) => ({ log: [...l.payload.log, `c${i}`] }));
    expect((await log.latest())!.version).toBe(5);
    for (const hint of ['{"version":2}', '{"version":999}', 'not json', '{"version":-1}']) {
      await store.put(log.hintKey, bytes(hint));
      expect((await log.latest())!.version, `hint ${hint}`).toBe(5);
    }
    await store.delete([log.hintKey]);
    expect((await log.latest())!.version).toBe(5);
  });

  it('two clients racing for the same version: exactly one wins, the other gets BUSY (race)', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    const first = await log.claim({ log: [] });
    const a = await joinWriter(new CommitLog<Payload>(store, log.prefix));
    const b = await joinWriter(new CommitLog<Payload>(store, log.prefix));
    const base = (await log.read(first.version))!;
    const results = await Promise.allSettled([a.log.commitVersion(base, 1, { log: ['a'] }), b.log.commitVersion(base, 1, { log: ['b'] })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(isElacsymError(loser.reason, 'BUSY') && loser.reason.details.reason).toBe('race');
    // The loser re-reads and commits on top of the winner.
    const retried = await (results[0]!.status === 'rejected' ? a : b).commit((l) => ({ log: [...l.payload.log, 'retry'] }));
    expect(retried.record.version).toBe(3);
    expect((await log.latest())!.payload.log).toHaveLength(2);
  });

  it('two writer processes racing: every version has exactly one winner and no commit is lost', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    await log.claim({ log: [] });
    const perWriter = 12;
    const env = { ...process.env, ...(s3env ?? {}) };
    const racers = ['A', 'B'].map((id) => {
      const c = spawn(process.execPath, [join(ROOT, 'test/helpers/commit-racer.mjs'), racerTarget, log.prefix, id, String(perWriter)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let errText = '';
      const ready = new Promise<void>((resolve) => c.stdout.on('data', (d: Buffer) => ((out += d.toString()), out.includes('ready\n') && resolve())));
      c.stderr.on('data', (d: Buffer) => (errText += d.toString()));
      const done = new Promise<string>((resolve, reject) => c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`racer ${id} exit ${code}: ${errText}`)))));
      return { c, ready, done };
    });
    // Released together once both are connected and have read the latest version.
    await Promise.all(racers.map((r) => r.ready));
    for (const r of racers) r.c.stdin.end('go\n');
    const outs = await Promise.all(racers.map((r) => r.done));
    const won = outs.map((o) => [...o.matchAll(/^won (\d+)$/gm)].map((m) => Number(m[1])));
    const all = won.flat().sort((x, y) => x - y);
    // Versions 2..25 each won by exactly one process; each process committed all of its batches.
    expect(all).toEqual(Array.from({ length: 2 * perWriter }, (_, i) => i + 2));
    expect(won.map((w) => w.length)).toEqual([perWriter, perWriter]);
    const final = (await log.latest())!;
    expect(final.version).toBe(2 * perWriter + 1);
    expect(final.payload.log.filter((x) => x === 'A')).toHaveLength(perWriter);
    expect(final.payload.log.filter((x) => x === 'B')).toHaveLength(perWriter);
    // The chain is intact: every version's parent is the one before it.
    for (let v = 1; v <= final.version; v++) expect((await log.read(v))!.parent).toBe(v - 1);
  });

  it('a replaced writer is fenced: after a new claim its commits are refused with BUSY (fenced)', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    const old = await log.claim({ log: [] });
    await old.commit(() => ({ log: ['old'] }));
    const replacement = await new CommitLog<Payload>(store, log.prefix).claim({ log: [] });
    expect(replacement.epoch).toBe(2);
    await expect(old.commit(() => ({ log: ['stale'] }))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUSY') && e.details.reason === 'fenced');
    // Even built on the true latest version, a commit with the old epoch is refused before any write.
    const latest = (await log.latest())!;
    await expect(log.commitVersion(latest, old.epoch, { log: ['stale'] })).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUSY') && e.details.reason === 'fenced');
    expect((await log.latest())!.version).toBe(latest.version);
    await replacement.commit((l) => ({ log: [...l.payload.log, 'new'] }));
    await expect(old.commit(() => ({ log: ['stale again'] }))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUSY') && e.details.reason === 'fenced');
    expect((await log.latest())!.payload.log).toEqual(['old', 'new']);
  });

  it('a commit whose response is lost is resolved by reading the version back (nonce): committed once', async () => {
    const faulty = new FaultyStore(store);
    const log = new CommitLog<Payload>(faulty, nextPrefix());
    const w = await log.claim({ log: [] });
    faulty.remaining = 1;
    faulty.mode = 'lost-response';
    const out = await w.commit((l) => ({ log: [...l.payload.log, 'x'] }));
    expect(out.resolvedByReadBack).toBe(true);
    expect(out.record.version).toBe(2);
    expect((await log.latest())!).toMatchObject({ version: 2, nonce: out.record.nonce, payload: { log: ['x'] } });
  });

  it("an 'exists' answer for our own create (a retried request) is resolved as committed, not as a lost race", async () => {
    const faulty = new FaultyStore(store);
    const log = new CommitLog<Payload>(faulty, nextPrefix());
    const w = await log.claim({ log: [] });
    faulty.remaining = 1;
    faulty.mode = 'retried-412';
    const out = await w.commit((l) => ({ log: [...l.payload.log, 'y'] }));
    expect(out).toMatchObject({ resolvedByReadBack: true, record: { version: 2 } });
  });

  it('a create that failed before writing is re-sent; one that never succeeds is STORE_UNAVAILABLE with nothing committed', async () => {
    const faulty = new FaultyStore(store);
    const waits: number[] = [];
    const log = new CommitLog<Payload>(faulty, nextPrefix(), { ambiguousRetries: 2, retryDelayMs: (n) => (waits.push(n), 1) });
    const w = await log.claim({ log: [] });
    faulty.mode = 'refused';
    faulty.remaining = 1;
    const out = await w.commit((l) => ({ log: [...l.payload.log, 'z'] }));
    expect(out.record.version).toBe(2);
    faulty.remaining = 100;
    faulty.puts = 0;
    await expect(w.commit((l) => ({ log: [...l.payload.log, 'never'] }))).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'STORE_UNAVAILABLE'));
    expect(faulty.puts).toBe(3); // the first create + ambiguousRetries re-sends, bounded
    expect(waits).toEqual([1, 1, 2]); // a wait before each re-send (the first commit's one, then two)
    expect((await log.latest())!.version).toBe(2);
  });

  it('a damaged manifest is CORRUPT_MANIFEST, never a wrong latest', async () => {
    const log = new CommitLog<Payload>(store, nextPrefix());
    await log.claim({ log: [] });
    await store.put(log.manifestKey(2), bytes('{"version": 7}'));
    await expect(log.latest()).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'CORRUPT_MANIFEST'));
    await store.put(log.manifestKey(2), bytes('{trunc'));
    await expect(log.read(2)).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'CORRUPT_MANIFEST'));
  });

  it('a stray key past 2^53, or a record with an impossible epoch or parent, is CORRUPT_MANIFEST, never an empty namespace', async () => {
    const corrupt = (e: unknown) => isElacsymError(e, 'CORRUPT_MANIFEST');
    const huge = new CommitLog<Payload>(store, nextPrefix());
    await huge.claim({ log: [] });
    await store.put(`${huge.manifestPrefix}99999999999999999999.json`, bytes('{}'));
    await expect(huge.latest()).rejects.toSatisfy(corrupt);
    const unsafe = new CommitLog<Payload>(store, nextPrefix());
    await unsafe.claim({ log: [] });
    await store.put(`${unsafe.manifestPrefix}00009007199254740993.json`, bytes('{}'));
    await expect(unsafe.latest()).rejects.toSatisfy(corrupt);
    for (const bad of [{ epoch: 1e308 }, { epoch: -1 }, { epoch: 1.5 }, { parent: 5 }]) {
      const log = new CommitLog<Payload>(store, nextPrefix());
      const w = await log.claim({ log: [] });
      const rec = { ...(await log.read(w.version))!, version: 2, parent: 1, ...bad };
      await store.put(log.manifestKey(2), bytes(JSON.stringify(rec)));
      await expect(log.latest(), JSON.stringify(bad)).rejects.toSatisfy(corrupt);
    }
  });
});
