/**
 * `elacsym publish` and `elacsym query -d s3://...` through the real binary, against the real S3-compatible
 * server (Ceph radosgw, scripts/s3-server): the published namespace answers exactly as the local one, a new
 * publish is seen whole, a publish killed before its commit leaves the old version serving, garbage
 * collection removes only what long-superseded versions alone referenced, a prefix holding other data is
 * refused, and a damaged or tiny cache never changes an answer.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { S3ObjectStore } from '../../../src/objstore/s3.js';
import { publishNamespace } from '../../../src/store/published.js';
import { ERRORS, isElacsymError } from '../../../src/errors.js';
import { cleanupTmp, cli, errorCode, tmpDir, writeNdjson } from '../../helpers/cli.js';
import { freshS3Store, type S3Env, storeOptions } from '../../helpers/s3.js';
import { json, post, serve } from '../../server/serve-helpers.js';
import { answers, docs, doc, forwarder, REQUESTS } from '../../helpers/published-fixtures.js';

afterAll(cleanupTmp);

describe('a namespace published to object storage', () => {
  let env: S3Env;
  let store: S3ObjectStore;
  let bucket: string;
  let url: string;
  let run: (args: string[], extra?: Record<string, string>) => ReturnType<typeof cli>;
  let d: string;
  let cache: string;
  let batch: string;

  beforeAll(async () => {
    const s = await freshS3Store('pub');
    env = s.env;
    store = s.store;
    bucket = s.bucket;
    url = `s3://${s.bucket}/team/search`;
    const dir = tmpDir();
    d = join(dir, 'data');
    cache = join(dir, 'cache');
    batch = join(dir, 'requests.ndjson');
    writeFileSync(batch, REQUESTS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    run = (args, extra = {}) => cli(args, { env: { ...env, ELACSYM_CACHE_DIR: cache, ...extra } });
    expect((await run(['-d', d, 'init', 'docs', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    // several segments, then deletes and updates still pending in the journal
    for (const [a, b] of [
      [0, 120],
      [120, 260],
    ] as const) {
      const f = join(dir, `part-${a}.ndjson`);
      writeNdjson(f, docs(a, b));
      expect((await run(['-d', d, 'import', 'docs', f, '--segment-docs', '100'])).code).toBe(0);
    }
    const upd = join(dir, 'update.ndjson');
    writeNdjson(upd, [{ ...doc(5), attributes: { ...doc(5).attributes, title: 'document 5 blue plum rewritten' } }]);
    expect((await run(['-d', d, 'delete', 'docs', '--ids', '7,9'])).code).toBe(0);
    // the next writer would flush the journal: this one is last
    expect((await run(['-d', d, 'import', 'docs', upd, '--no-flush'])).code).toBe(0);
  }, 120_000);

  const localAnswers = async () => {
    const r = await run(['-d', d, 'query', 'docs', '--batch', batch]);
    expect(r.code, r.stderr).toBe(0);
    return answers(r.stdout);
  };
  const remoteAnswers = async (extra: Record<string, string> = {}) => {
    const r = await run(['-d', url, 'query', 'docs', '--batch', batch], extra);
    expect(r.code, r.stderr).toBe(0);
    return answers(r.stdout);
  };
  const publish = async (extra: string[] = [], envExtra: Record<string, string> = {}) => {
    const r = await run(['-d', d, '--json', 'publish', 'docs', url, ...extra], envExtra);
    return { ...r, report: r.code === 0 ? (JSON.parse(r.stdout) as Record<string, number>) : null };
  };

  it('answers every kind of query exactly as the local namespace, pending journal entries included', async () => {
    const p = await publish();
    expect(p.code, p.stderr).toBe(0);
    expect(p.report!.version).toBe(1);
    expect(p.report!.objects_uploaded).toBeGreaterThan(2);
    expect(p.report!.journal_entries).toBeGreaterThan(0);
    const local = await localAnswers();
    expect(local[1]!.results).not.toEqual([]);
    expect(await remoteAnswers()).toEqual(local);
    // export of the published version: byte for byte the local namespace's export
    const exLocal = await run(['-d', d, 'export', 'docs']);
    const exRemote = await run(['-d', url, 'export', 'docs']);
    expect(exRemote.code, exRemote.stderr).toBe(0);
    expect(exRemote.stdout).toBe(exLocal.stdout);
    expect(exRemote.stdout.split('\n').length).toBeGreaterThan(200);
    // namespaces lists it with the local summary
    const ls = await run(['-d', url, '--json', 'namespaces']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toBe((await run(['-d', d, '--json', 'namespaces'])).stdout);
    // get and count answer as locally too
    for (const args of [['get', 'docs', '5', '8', '9', '1234567'], ['count', 'docs', '--json'], ['count', 'docs', '--filter', '{"field":"tag","op":"eq","value":"b"}']]) {
      const l = await run(['-d', d, ...args]);
      const r = await run(['-d', url, ...args]);
      expect([r.code, r.stdout], args.join(' ')).toEqual([l.code, l.stdout]);
    }
    // a single query too (table output off: not a terminal), and a cache that is warm now
    const one = await run(['-d', url, 'query', 'docs', '--text', 'rewritten', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as { results: { id: number }[] }).results.map((r) => r.id)).toEqual([5]);
  });

  it('publishing again uploads nothing that is there; a new local state is seen whole at the next version', async () => {
    const again = await publish();
    expect(again.code, again.stderr).toBe(0);
    // nothing changed: no new version (a cron job publishing an idle namespace adds no history)
    expect(again.report!.version).toBe(1);
    expect(again.report!.skipped).toBe('unchanged');
    expect(again.report!.objects_uploaded).toBe(0);
    const more = join(tmpDir(), 'more.ndjson');
    writeNdjson(more, docs(260, 300));
    expect((await run(['-d', d, 'import', 'docs', more])).code).toBe(0);
    expect((await run(['-d', d, 'compact', 'docs'])).code).toBe(0);
    const before = await remoteAnswers();
    const p = await publish();
    expect(p.code, p.stderr).toBe(0);
    expect(p.report!.version).toBe(2);
    const after = await remoteAnswers();
    expect(after).toEqual(await localAnswers());
    expect(after).not.toEqual(before);
  });

  it('a publish killed before its commit leaves the previous version serving; the next publish succeeds', async () => {
    const served = await remoteAnswers();
    const more = join(tmpDir(), 'more2.ndjson');
    writeNdjson(more, docs(300, 330));
    expect((await run(['-d', d, 'import', 'docs', more])).code).toBe(0);
    for (const fp of ['publish:after-segment', 'publish:before-commit']) {
      const killed = await publish([], { ELACSYM_FAILPOINTS: fp });
      expect(killed.code, fp).toBe(137);
      expect(await remoteAnswers(), fp).toEqual(served);
    }
    // killed after the commit: the new version is complete and served
    const late = await publish([], { ELACSYM_FAILPOINTS: 'publish:after-commit' });
    expect(late.code).toBe(137);
    expect(await remoteAnswers()).toEqual(await localAnswers());
    const p = await publish();
    expect(p.code, p.stderr).toBe(0);
    // the dead runs' temporary snapshots next to the data directory were swept
    expect(readdirSync(join(d, '..')).filter((e) => e.startsWith('.elacsym-publish-'))).toEqual([]);
  });

  it('garbage collection deletes only what superseded versions alone referenced, past the grace period', async () => {
    const segKeys = async () => (await store.list('team/search/docs/segments/')).sort();
    expect((await run(['-d', d, 'compact', 'docs'])).code).toBe(0);
    const withinGrace = await publish(['--gc-grace', '3600']);
    expect(withinGrace.code, withinGrace.stderr).toBe(0);
    expect(withinGrace.report!.objects_deleted).toBe(0);
    const before = await segKeys();
    const more = join(tmpDir(), 'more3.ndjson');
    writeNdjson(more, docs(330, 340));
    expect((await run(['-d', d, 'import', 'docs', more])).code).toBe(0);
    expect((await run(['-d', d, 'compact', 'docs'])).code).toBe(0);
    const p = await publish(['--gc-grace', '0']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.report!.objects_deleted).toBeGreaterThan(0);
    const after = await segKeys();
    const version = async (v: number) =>
      JSON.parse(new TextDecoder().decode((await store.get(`team/search/docs/manifest/${String(v).padStart(20, '0')}.json`))!)) as { payload: { segments: { name: string }[]; gc_floor: number } };
    const latest = await version(p.report!.version);
    const previous = await version(p.report!.version - 1);
    // what the new version names is all there; the previous one (live until this commit) keeps its objects;
    // what only older versions named is gone, and the new version records that collection got that far
    const named = (x: typeof latest) => x.payload.segments.map((g) => `team/search/docs/segments/${g.name}`);
    for (const k of [...named(latest), ...named(previous)]) expect(after).toContain(k);
    expect(after.filter((k) => !named(latest).includes(k) && !named(previous).includes(k))).toEqual([]);
    expect(before.some((k) => !after.includes(k))).toBe(true);
    expect(latest.payload.gc_floor).toBe(p.report!.version - 1);
    expect(await remoteAnswers()).toEqual(await localAnswers());
  });

  it('two overlapping publishes: the one that snapshotted first does not roll back the newer one that committed first', async () => {
    const prefixed = new S3ObjectStore(storeOptions(env, bucket, { prefix: 'team/search/' }));
    let reached!: () => void;
    const atCommit = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // A snapshots now and waits before its commit (a slow upload)
    const a = publishNamespace(join(d, 'docs'), 'docs', prefixed, { hooks: { beforeCommit: async () => (reached(), await gate) } });
    await atCommit;
    // meanwhile the namespace moves on and B publishes that
    const late = join(tmpDir(), 'late.ndjson');
    writeNdjson(late, [{ ...doc(777), attributes: { ...doc(777).attributes, title: 'a very late quince' } }]);
    expect((await run(['-d', d, 'import', 'docs', late])).code).toBe(0);
    const b = await publish();
    expect(b.code, b.stderr).toBe(0);
    release();
    // A does not publish its older snapshot: BUSY (exit 75 from the CLI), reason 'newer'
    await expect(a).rejects.toSatisfy((e: unknown) => isElacsymError(e, 'BUSY') && e.details.reason === 'newer' && e.details.version === b.report!.version);
    const q = await run(['-d', url, 'query', 'docs', '--text', 'quince', '--json']);
    expect((JSON.parse(q.stdout) as { results: { id: number }[] }).results.map((x) => x.id)).toEqual([777]);
    await prefixed.close();
  });

  it('a damaged object in the store fails queries with CORRUPT_* and a hint to publish again, which repairs it', async () => {
    const latest = (await store.list('team/search/docs/manifest/')).sort().at(-1)!;
    const rec = JSON.parse(new TextDecoder().decode((await store.get(latest))!)) as { payload: { segments: { name: string }[] } };
    const key = `team/search/docs/segments/${rec.payload.segments.find((g) => g.name.endsWith('.idx'))!.name}`;
    const good = (await store.get(key))!;
    const bad = Uint8Array.from(good);
    bad[bad.length >> 1] ^= 0xff;
    await store.put(key, bad);
    const q = await run(['-d', url, 'query', 'docs', '--batch', batch], { ELACSYM_CACHE_DIR: join(tmpDir(), 'cold') });
    expect(q.code).toBe(5);
    expect(q.stderr).toContain('publish the namespace again');
    const p = await publish();
    expect(p.code, p.stderr).toBe(0);
    expect(p.report!.objects_repaired).toBe(1);
    expect(p.report!.skipped).toBe('unchanged');
    expect(Buffer.from((await store.get(key))!).equals(Buffer.from(good))).toBe(true);
    expect(await remoteAnswers({ ELACSYM_CACHE_DIR: join(tmpDir(), 'cold2') })).toEqual(await localAnswers());
  });

  it('a local namespace with a damaged journal entry is not published (CORRUPT_JOURNAL, nothing uploaded)', async () => {
    const other = join(tmpDir(), 'jd');
    expect((await run(['-d', other, 'init', 'jr', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    const f = join(tmpDir(), 'jr.ndjson');
    writeNdjson(f, docs(0, 5));
    expect((await run(['-d', other, 'import', 'jr', f, '--no-flush'])).code).toBe(0);
    const db = new Database(join(other, 'jr', 'manifest.db'));
    db.prepare('UPDATE journal SET payload = zeroblob(length(payload))').run();
    db.close();
    const r = await run(['-d', other, 'publish', 'jr', url]);
    expect(r.code, r.stderr).toBe(5);
    expect(errorCode(r.stderr)).toBe('CORRUPT_JOURNAL');
    expect(await store.list('team/search/jr/')).toEqual([]);
  });

  it('a damaged cached state is fetched again, and a tiny cache gives the same answers', async () => {
    const want = await localAnswers();
    const stateDir = join(cache, 'state');
    for (const sha of readdirSync(stateDir)) {
      const f = join(stateDir, sha, 'manifest.db');
      if (!statSync(f, { throwIfNoEntry: false })) continue;
      const b = readFileSync(f);
      b[b.length >> 1] ^= 0xff;
      writeFileSync(f, b);
    }
    expect(await remoteAnswers()).toEqual(want);
    expect(await remoteAnswers({ ELACSYM_CACHE_DIR: join(tmpDir(), 'tiny'), ELACSYM_CACHE_MAX_BYTES: '300000' })).toEqual(want);
  });

  it('refuses a prefix holding another namespace of the same name (PREFIX_CONFLICT), and leaves it as it was', async () => {
    const served = await remoteAnswers();
    const other = join(tmpDir(), 'other');
    expect((await run(['-d', other, 'init', 'docs', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    const f = join(tmpDir(), 'o.ndjson');
    writeNdjson(f, docs(1000, 1150));
    expect((await run(['-d', other, 'import', 'docs', f, '--segment-docs', '100'])).code).toBe(0);
    const objects = await store.list('team/search/docs/');
    const r = await run(['-d', other, 'publish', 'docs', url]);
    expect(r.code, r.stderr).toBe(4);
    expect(errorCode(r.stderr)).toBe('PREFIX_CONFLICT');
    expect(await remoteAnswers()).toEqual(served);
    expect(await store.list('team/search/docs/')).toEqual(objects); // refused before uploading anything
    // a restored backup of the namespace is the same namespace: it may publish there
    const bk = join(tmpDir(), 'bk');
    expect((await run(['-d', d, 'backup', 'docs', bk])).code).toBe(0);
    const restored = join(tmpDir(), 'restored');
    expect((await run(['-d', restored, 'restore', bk, 'docs'])).code).toBe(0);
    const again = await run(['-d', restored, 'publish', 'docs', url]);
    expect(again.code, again.stderr).toBe(0);
    expect(await remoteAnswers()).toEqual(served);
  });

  it('serve -d s3://: answers as the CLI does, sees a new version at its next request (--refresh-interval 0), reports versions and the cache, refuses writes', async () => {
    const s = await serve(url, ['--workers', '1', '--refresh-interval', '0'], { ...env, ELACSYM_CACHE_DIR: join(tmpDir(), 'serve-cache') });
    try {
      const viaHttp = async () => {
        const out: Record<string, unknown>[] = [];
        for (const r of REQUESTS) {
          const res = await post(`${s.url}/v1/namespaces/docs/query`, r);
          expect(res.status).toBe(200);
          const b = await json(res);
          delete b.took_ms;
          out.push(b);
        }
        return out;
      };
      expect(await viaHttp()).toEqual(await remoteAnswers());
      // a new version, published while the server runs, is what the next request answers from
      const more = join(tmpDir(), 'more-serve.ndjson');
      writeNdjson(more, docs(400, 420));
      expect((await run(['-d', d, 'import', 'docs', more])).code).toBe(0);
      const p = await publish();
      expect(p.code, p.stderr).toBe(0);
      const want = await localAnswers();
      expect(await viaHttp()).toEqual(want);
      // deleted from the store and published again (from more data): version 1 again, another commit
      const all = await store.list('team/search/docs/');
      await store.delete(all);
      const more2 = join(tmpDir(), 'more-serve2.ndjson');
      writeNdjson(more2, docs(420, 430));
      expect((await run(['-d', d, 'import', 'docs', more2])).code).toBe(0);
      const again = await publish();
      expect(again.code, again.stderr).toBe(0);
      expect(again.report!.version).toBe(1);
      expect(await viaHttp()).toEqual(await localAnswers());
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/^elacsym_published_version\{worker="0",namespace="docs"\} 1$/m);
      // every query counted once, as a hit (no fetch) or a miss (it waited for a version to load)
      const metric = (name: string) => Number(new RegExp(`^${name}\\{worker="0"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(metric('elacsym_cache_query_hits_total') + metric('elacsym_cache_query_misses_total')).toBe(3 * REQUESTS.length);
      expect(metric('elacsym_cache_query_hits_total')).toBeGreaterThanOrEqual(3 * REQUESTS.length - 3);
      expect(metric('elacsym_cache_query_hit_ratio')).toBeCloseTo(metric('elacsym_cache_query_hits_total') / (3 * REQUESTS.length), 5);
      expect(metrics).toMatch(/^elacsym_cache_fetched_bytes_total\{worker="0"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^elacsym_cache_bytes\{worker="0"\} [1-9]\d*$/m);
      const health = await json(await fetch(`${s.url}/health`));
      expect(health.status).toBe('healthy');
      expect(health.threads[0].namespaces[0]).toMatchObject({ namespace: 'docs', version: 1 });
      expect(await json(await fetch(`${s.url}/v1/namespaces`))).toEqual({ namespaces: [{ name: 'docs' }] });
      for (const [method, path] of [
        ['PUT', '/v1/namespaces/docs'],
        ['POST', '/v1/namespaces/docs/upsert'],
        ['DELETE', '/v1/namespaces/docs'],
        ['GET', '/v1/namespaces/docs/export'],
      ] as const) {
        const r = await fetch(`${s.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
        expect(r.status, path).toBe(400);
        expect((await json(r)).error.code, path).toBe('USAGE');
      }
      const missing = await post(`${s.url}/v1/namespaces/nope/query`, { top_k: 1 });
      expect(missing.status).toBe(404);
      expect((await json(missing)).error.code).toBe('NAMESPACE_NOT_FOUND');
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('serve -d s3://: a store that stops answering does not take down a namespace already loaded; a new one fails with STORE_UNAVAILABLE', async () => {
    // a real TCP forwarder in front of the real server, closed mid-test: the store "goes away"
    const fwd = await forwarder(env.ELACSYM_S3_ENDPOINT);
    const endpoint = fwd.endpoint;
    const s = await serve(url, ['--workers', '1', '--refresh-interval', '0', '--s3-endpoint', endpoint], { ...env, ELACSYM_CACHE_DIR: join(tmpDir(), 'outage-cache') });
    try {
      const ask = async (ns = 'docs') => post(`${s.url}/v1/namespaces/${ns}/query`, REQUESTS[0]);
      const before = await ask();
      expect(before.status).toBe(200);
      const want = (await json(before)).results;
      await fwd.cut();
      const during = await ask();
      expect(during.status).toBe(200);
      expect((await json(during)).results).toEqual(want);
      const hres = await fetch(`${s.url}/health`);
      expect(hres.status).toBe(503);
      const health = await json(hres);
      expect(health.status).toBe('degraded');
      expect(health.threads[0].namespaces[0].last_error).toEqual(expect.any(String));
      // a namespace this server has not loaded cannot be served without the store
      const other = await ask('other');
      expect(other.status).toBe(503);
      expect((await json(other)).error.code).toBe('STORE_UNAVAILABLE');
    } finally {
      fwd.close();
      expect(await s.stop()).toBe(0);
    }
  });

  it('a namespace restored from an older backup that wrote on never overwrites the objects the published version names (PREFIX_CONFLICT)', async () => {
    const root = tmpDir();
    const dv = join(root, 'dv');
    const part = (n: number, from: number) => {
      const f = join(root, `p${n}.ndjson`);
      writeNdjson(f, docs(from, from + 10));
      return f;
    };
    expect((await run(['-d', dv, 'init', 'div', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    expect((await run(['-d', dv, 'import', 'div', part(1, 0), '--segment-docs', '10'])).code).toBe(0);
    expect((await run(['-d', dv, 'publish', 'div', url])).code).toBe(0);
    const bk = join(root, 'bk');
    expect((await run(['-d', dv, 'backup', 'div', bk])).code).toBe(0);
    expect((await run(['-d', dv, 'import', 'div', part(2, 10), '--segment-docs', '10'])).code).toBe(0);
    expect((await run(['-d', dv, 'publish', 'div', url])).code).toBe(0);
    const q = ['query', 'div', '--filter', '{"field":"n","op":"gte","value":0}', '-k', '100', '--include-attributes', 'n', '--json'];
    const served = answers((await run(['-d', url, ...q])).stdout);
    // the restored copy goes on with other documents: its segment files reuse the names, with other bytes,
    // and its position passes the published one
    const rv = join(root, 'rv');
    expect((await run(['-d', rv, 'restore', bk, 'div'])).code).toBe(0);
    for (const [n, from] of [[3, 500], [4, 600], [5, 700]] as const) expect((await run(['-d', rv, 'import', 'div', part(n, from), '--segment-docs', '10'])).code).toBe(0);
    const r = await run(['-d', rv, 'publish', 'div', url]);
    expect(r.code, r.stderr).toBe(4);
    expect(errorCode(r.stderr)).toBe('PREFIX_CONFLICT');
    expect(answers((await run(['-d', url, ...q], { ELACSYM_CACHE_DIR: join(root, 'fresh') })).stdout)).toEqual(served);
  });

  it('a namespace written on the store since this copy published it: publish says so (PREFIX_CONFLICT, not a BUSY to retry forever) and changes nothing', async () => {
    const root = tmpDir();
    const dl = join(root, 'dl');
    const part = (n: number, from: number) => {
      const f = join(root, `w${n}.ndjson`);
      writeNdjson(f, docs(from, from + 5));
      return f;
    };
    expect((await run(['-d', dl, 'init', 'wr', '--dim', '4', '--full-text', 'title'])).code).toBe(0);
    expect((await run(['-d', dl, 'import', 'wr', part(1, 0)])).code).toBe(0);
    expect((await run(['-d', dl, 'publish', 'wr', url])).code).toBe(0);
    // written on the store itself, then on the local copy
    expect((await run(['-d', url, 'import', 'wr', part(2, 100)])).code).toBe(0);
    expect((await run(['-d', dl, 'import', 'wr', part(3, 200)])).code).toBe(0);
    const q = ['query', 'wr', '--filter', '{"field":"n","op":"gte","value":0}', '-k', '100', '--json'];
    const served = answers((await run(['-d', url, ...q])).stdout);
    for (let i = 0; i < 2; i++) {
      const r = await run(['-d', dl, 'publish', 'wr', url]);
      expect(r.code, r.stderr).toBe(ERRORS.PREFIX_CONFLICT.exit);
      expect(errorCode(r.stderr)).toBe('PREFIX_CONFLICT');
      expect(r.stderr).toContain(`by a writer on the store ${url}/wr`);
      expect(r.stderr).toContain(`\`elacsym -d ${url} import wr ...\``);
    }
    expect(answers((await run(['-d', url, ...q])).stdout)).toEqual(served);
  });

  it('names what is missing or unsupported (an unpublished namespace, a non-s3 target, drop on s3://); listings answer as locally', async () => {
    const missing = await run(['-d', url, 'query', 'nope', '--text', 'x']);
    expect(missing.code).toBe(3);
    expect(errorCode(missing.stderr)).toBe('NAMESPACE_NOT_FOUND');
    // the hint names this store and this namespace, both ways to make it, no placeholder
    expect(missing.stderr).toContain(`\`elacsym -d ${url} init nope ...\``);
    expect(missing.stderr).toContain(`\`elacsym publish nope ${url}\``);
    // commands over every namespace are local forms: the hint lists the namespaces, it does not repeat them
    for (const args of [['compact', '--all', '--if-needed'], ['health']]) {
      const r = await run(['-d', url, ...args]);
      expect(errorCode(r.stderr), r.stderr).toBe('USAGE');
      expect(r.stderr).toContain(`\`elacsym -d ${url} namespaces\` lists them`);
      expect(r.stderr).not.toMatch(/hint:.*compact --all/);
    }
    const notS3 = await run(['-d', d, 'publish', 'docs', tmpDir()]);
    expect(notS3.code).toBe(2);
    expect(errorCode(notS3.stderr)).toBe('USAGE');
    const exportMissing = await run(['-d', url, 'export', 'nope']);
    expect(exportMissing.code).toBe(3);
    const drop = await run(['-d', url, 'drop', 'docs', '--yes'], {});
    expect(drop.code).toBe(2);
    expect(drop.stderr).toContain('does not work on an object store yet');
    // filter-only listings, sorted and paged, answer as locally
    for (const args of [
      ['query', 'docs', '--filter', '{"field":"n","op":"lt","value":30}', '--limit', '4', '--sort', 'n:desc', '--json'],
      ['query', 'docs', '--filter', '{"field":"tag","op":"eq","value":"a"}', '--limit', '3', '--offset', '5', '--json'],
    ]) {
      const l = await run(['-d', d, ...args]);
      const r = await run(['-d', url, ...args]);
      expect(l.code, l.stderr).toBe(0);
      expect([r.code, r.stdout], args.join(' ')).toEqual([0, l.stdout]);
      expect(JSON.parse(r.stdout).results.length).toBeGreaterThan(0);
    }
  });
});
