/**
 * The writing commands on `-d s3://...` (init, import, patch, delete, compact, wal replay, alter) through the
 * real binary against the real S3-compatible server (radosgw): the same commands leave a namespace on the
 * store exactly as they leave a local one; two writers racing commit both (the loser runs again on the
 * winner's version) or, reading standard input, commit nothing and say so (BUSY, exit 75) with nothing
 * printed as done; a writer killed before its commit leaves the previous version, one killed after it the
 * new one; a store that goes away at the commit is STORE_UNAVAILABLE with nothing acknowledged; imports of
 * two halves by two concurrent processes equal one import of the whole.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, errorCode, tmpDir, writeNdjson } from '../../helpers/cli.js';
import { ERRORS } from '../../../src/errors.js';
import { answers, docs, forwarder, REQUESTS } from '../../helpers/published-fixtures.js';
import { freshS3Store, type S3Env, storeOptions } from '../../helpers/s3.js';
import { S3ObjectStore } from '../../../src/objstore/s3.js';
import { CommitLog } from '../../../src/objstore/commit.js';
import { type PublishedNamespace, publishNamespace } from '../../../src/store/published.js';
import { checkoutNamespace } from '../../../src/store/checkout.js';

afterAll(cleanupTmp);

/** The ids of exported documents, in order. */
const ids = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: number }).id)
    .sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
/** Exported documents by id (the order of segments differs with the order of commits). */
const byId = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => (JSON.parse(a) as { id: number }).id - (JSON.parse(b) as { id: number }).id);

/** Starts the binary with stdin piped; `paused` resolves once it announces a paused fail point on stderr. */
function start(args: string[], env: Record<string, string>, input?: string | null) {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) base[k] = v;
  const c = spawn(process.execPath, [BIN, ...args], { env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  let onErr: () => void = () => undefined;
  c.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    onErr();
  });
  // `times`: resolves once the text has appeared that many times on stderr
  const waits: { text: string; times: number; resolve: () => void }[] = [];
  const count = (text: string) => stderr.split(text).length - 1;
  const saw = (text: string, times = 1) => new Promise<void>((resolve) => (count(text) >= times ? resolve() : waits.push({ text, times, resolve })));
  onErr = () => {
    for (const w of waits.splice(0)) (count(w.text) >= w.times ? w.resolve : () => waits.push(w))();
  };
  const paused = saw('"paused":true');
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    c.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout, stderr })),
  );
  c.stdin.on('error', () => undefined);
  // null: stdin stays open (the test writes to it)
  if (input !== null) c.stdin.end(input ?? '');
  return { c, paused, saw, done };
}

describe('writing commands on an s3:// data directory', () => {
  let env: S3Env;
  let store: S3ObjectStore;
  let root: string;
  let cache: string;
  let batch: string;
  let run: (args: string[], extra?: Record<string, string>) => ReturnType<typeof cli>;
  let bucketUrl: string;
  let bucket: string;

  beforeAll(async () => {
    const s = await freshS3Store('rw');
    env = s.env;
    store = s.store;
    bucket = s.bucket;
    bucketUrl = `s3://${s.bucket}`;
    root = tmpDir();
    cache = join(root, 'cache');
    batch = join(root, 'requests.ndjson');
    writeFileSync(batch, REQUESTS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    run = (args, extra = {}) => cli(args, { env: { ...env, ELACSYM_CACHE_DIR: cache, ...extra } });
  }, 300_000);

  /**
   * A schema declaring every attribute of `docs()`: an import that adds no attribute acknowledges each batch
   * once it is durable in the store; one that adds some, at its commit (JournalUploader.held).
   */
  const declared = () => {
    const f = join(root, 'declared.json');
    writeFileSync(f, JSON.stringify({ vector_dim: 4, attributes: { title: { type: 'string', full_text: true }, n: { type: 'integer' }, tag: { type: 'string' } } }));
    return f;
  };
  const file = (name: string, rows: unknown[]) => {
    const f = join(root, name);
    writeNdjson(f, rows);
    return f;
  };
  const ok = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await run(args, extra);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const versions = async (prefix: string) => (await store.list(`${prefix}manifest/`)).length;
  /** Segment and state objects under a namespace that no version references (what a lost race must not leave). */
  const orphans = async (prefix: string) => {
    const log = new CommitLog<PublishedNamespace>(store, prefix);
    const referenced = new Set<string>();
    const latest = await log.latest();
    for (let v = 1; v <= (latest?.version ?? 0); v++) {
      const p = (await log.read(v))!.payload;
      // the state key is relative to the data directory's prefix (`<ns>/state/...`): `prefix` is `<dir>/<ns>/`
      referenced.add(`${prefix.slice(0, prefix.indexOf('/') + 1)}${p.state.key}`);
      for (const g of p.segments) referenced.add(`${prefix}segments/${g.name}`);
    }
    return [...(await store.list(`${prefix}segments/`)), ...(await store.list(`${prefix}state/`))].filter((k) => !referenced.has(k));
  };

  it('init, import, patch, delete, wal replay, alter and compact leave the namespace as they leave a local one', async () => {
    const d = join(root, 'local');
    const url = `${bucketUrl}/same`;
    const a = file('a.ndjson', docs(0, 120));
    const b = file('b.ndjson', docs(100, 200));
    const p = file('p.ndjson', [{ id: 3, attributes: { title: 'document 3 patched plum' } }]);
    const steps = [
      ['init', 'docs', '--dim', '4', '--full-text', 'title'],
      ['import', 'docs', a, '--segment-docs', '50'],
      ['import', 'docs', b, '--no-flush'],
      ['patch', 'docs', p],
      ['delete', 'docs', '--ids', '7,9,150'],
      ['wal', 'replay', 'docs'],
      ['delete', 'docs', '--filter', '{"field":"n","op":"gte","value":190}'],
      ['alter', 'docs', 'tag', '--full-text', 'true'],
      ['compact', 'docs'],
    ];
    let commits = 0;
    for (const s of steps) {
      const l = await ok(['-d', d, ...s]);
      const r = await ok(['-d', url, ...s]);
      if (/committed docs as version/.test(r.stderr)) commits++;
      expect(r.stdout, s.join(' ')).toBe(l.stdout);
      // what it printed names the URL, never the working copy it ran on
      expect(r.stderr, s.join(' ')).not.toContain(cache);
      expect(r.stderr, s.join(' ')).toMatch(/committed docs as version \d+|nothing changed/);
      const ex = await ok(['-d', url, 'export', 'docs']);
      expect(ex.stdout, s.join(' ')).toBe((await ok(['-d', d, 'export', 'docs'])).stdout);
    }
    const local = answers((await ok(['-d', d, 'query', 'docs', '--batch', batch])).stdout);
    expect(local[1]!.results).not.toEqual([]);
    expect(answers((await ok(['-d', url, 'query', 'docs', '--batch', batch])).stdout)).toEqual(local);
    // one version per command that changed something (wal replay found the journal flushed by patch)
    expect(commits).toBeGreaterThanOrEqual(steps.length - 1);
    expect(await versions('same/docs/')).toBe(commits);
    // a command that changes nothing commits nothing
    const again = await ok(['-d', url, 'compact', 'docs']);
    expect(again.stderr).toContain('nothing changed');
    expect(await versions('same/docs/')).toBe(commits);
    // the reading commands that need the whole namespace work on it too
    const h = await ok(['-d', url, '--json', 'health', 'docs', '--deep']);
    expect(JSON.parse(h.stdout).status ?? JSON.parse(h.stdout)[0]?.status).toBeDefined();
    await ok(['-d', url, 'wal', 'inspect', 'docs']);
    const desc = await ok(['-d', url, '--json', 'describe', 'docs']);
    expect(desc.stdout).not.toContain(cache);
    expect(JSON.parse(desc.stdout)).toMatchObject({ namespace: 'docs' });
    // init of an existing namespace and writes to a missing one say what they are
    const dup = await run(['-d', url, 'init', 'docs', '--dim', '4']);
    expect([dup.code, errorCode(dup.stderr)]).toEqual([4, 'NAMESPACE_EXISTS']);
    const missing = await run(['-d', url, 'import', 'nope', a]);
    expect([missing.code, errorCode(missing.stderr)]).toEqual([3, 'NAMESPACE_NOT_FOUND']);
    // no working copy is left behind
    expect(readdirSync(join(cache, 'work'))).toEqual([]);
  }, 300_000);

  it('two writers racing: an import that loses commits its acknowledged batches on the winner\'s version without reading its input again (rebase); a patch that loses runs again', async () => {
    const url = `${bucketUrl}/race`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const pause = { ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' };
    // B checks out, imports and uploads, and waits before its commit; A (reading stdin) does the same after it
    const b = start(['-d', url, '--json', 'import', 'docs', file('rb.ndjson', docs(60, 100))], pause);
    await b.paused;
    const a = start(['-d', url, '--json', 'import', 'docs', '-'], pause, docs(0, 60).map((x) => JSON.stringify(x)).join('\n') + '\n');
    await a.paused;
    b.c.kill('SIGUSR2');
    const rb = await b.done;
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).toMatch(/"event":"published".*"version":2/);
    // A lost the race to version 2: it commits its journal objects on it, as version 3
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(ra.stderr).toContain('"event":"rebase"');
    expect(ra.stderr).toMatch(/"event":"published".*"version":3/);
    expect(ra.stdout.trim().split('\n')).toHaveLength(1);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 100));
    // the attempt that lost deleted the segment objects it had uploaded; the journal objects are gone
    expect(await orphans('race/docs/')).toEqual([]);
    expect(await store.list('race/docs/journal/')).toEqual([]);
    // a patch computes its documents from the version it read: it runs again on the new one
    const p = start(['-d', url, '--json', 'patch', 'docs', file('rp.ndjson', [{ id: 3, attributes: { title: 'patched plum' } }])], pause);
    await p.paused;
    await ok(['-d', url, 'import', 'docs', file('rc.ndjson', docs(100, 110))]);
    p.c.kill('SIGUSR2');
    const rp = await p.done; // (a fail point pauses once: the second attempt commits)
    expect(rp.stderr).toContain('"event":"retry"');
    expect(rp.code, rp.stderr).toBe(0);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 110));
    expect((await ok(['-d', url, 'get', 'docs', '3'])).stdout).toContain('patched plum');
  }, 300_000);

  it('a patch that loses a race never undoes what the winner committed: another patch\'s change stays, a deleted document stays deleted', async () => {
    const url = `${bucketUrl}/patchrace`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    await ok(['-d', url, 'import', 'docs', file('pr0.ndjson', docs(0, 10))]);
    const pause = { ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' };
    // P read version 2 and computed document 5 from it; W changes another attribute of 5 and commits first
    const p = start(['-d', url, '--json', 'patch', 'docs', file('pr1.ndjson', [{ id: 5, attributes: { title: 'raced title' } }])], pause);
    await p.paused;
    // nothing of P is acknowledged before its commit, so nothing of it is in the store's journal
    expect(p.c.exitCode).toBe(null);
    expect(await store.list('patchrace/docs/journal/')).toEqual([]);
    await ok(['-d', url, 'patch', 'docs', file('pr2.ndjson', [{ id: 5, attributes: { tag: 'won' } }])]);
    p.c.kill('SIGUSR2');
    const rp = await p.done;
    expect(rp.code, rp.stderr).toBe(0);
    expect(rp.stderr).toContain('"event":"retry"');
    // one acknowledgement: the attempt that lost printed none
    expect(rp.stderr.split('"event":"committed"').length - 1).toBe(1);
    const five = JSON.parse((await ok(['-d', url, 'get', 'docs', '5'])).stdout) as { attributes: Record<string, unknown> };
    expect(five.attributes).toMatchObject({ title: 'raced title', tag: 'won' });
    // Q read document 6; a delete of 6 commits first: Q's second attempt finds no document 6 to patch
    const q = start(['-d', url, '--json', 'patch', 'docs', file('pr3.ndjson', [{ id: 6, attributes: { title: 'too late' } }])], pause);
    await q.paused;
    await ok(['-d', url, 'delete', 'docs', '--ids', '6']);
    q.c.kill('SIGUSR2');
    const rq = await q.done;
    expect(errorCode(rq.stderr)).toBe('INVALID_DOCUMENT');
    expect(rq.code).toBe(ERRORS.INVALID_DOCUMENT.exit);
    // and no later write brings it back
    await ok(['-d', url, 'wal', 'replay', 'docs']);
    expect((await run(['-d', url, 'get', 'docs', '6'])).code).not.toBe(0);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9]);
    expect(await store.list('patchrace/docs/journal/')).toEqual([]);
  }, 300_000);

  it('two imports giving a new attribute different types at once: the one whose batch comes second fails with nothing acknowledged, the other acknowledges its batch at its commit', async () => {
    const url = `${bucketUrl}/attrrace`;
    await ok(['-d', url, 'init', 'docs', '--dim', '2']);
    const rows = (from: number, to: number, z: (i: number) => unknown) => Array.from({ length: to - from }, (_, k) => ({ id: from + k, vector: [1, from + k], attributes: { z: z(from + k) } }));
    const at = (point: string) => ({ ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: `${point}=pause` });
    // A (z a number) has checked out version 1 and waits
    const a = start(['-d', url, '--json', 'import', 'docs', file('ar1.ndjson', rows(0, 50, (i) => i))], at('remote:after-checkout'));
    await a.paused;
    // B (z a string) checks out version 1 too, uploads its batch and waits before its commit: the batch adds
    // an attribute, so its acknowledgement waits for the commit
    const b = start(['-d', url, '--json', 'import', 'docs', file('ar2.ndjson', rows(50, 100, (i) => `s${i}`))], at('publish:before-commit'));
    await b.paused;
    expect(b.c.exitCode).toBe(null);
    expect(await store.list('attrrace/docs/journal/')).toHaveLength(1);
    // A's batch, acknowledged after B's, is applied after it on a rebase and cannot be: A commits nothing,
    // acknowledges nothing, and withdraws its batch
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect(errorCode(ra.stderr), ra.stderr).toBe('INVALID_DOCUMENT');
    expect(ra.code).toBe(ERRORS.INVALID_DOCUMENT.exit);
    expect(ra.stderr).not.toContain('"event":"committed"');
    expect(ra.stderr).toContain('attribute \\"z\\" type float');
    expect(ra.stdout).toBe('');
    expect(await store.list('attrrace/docs/journal/')).toHaveLength(1);
    // B commits, and acknowledges its batch then
    b.c.kill('SIGUSR2');
    const rb = await b.done;
    expect(rb.code, rb.stderr).toBe(0);
    const events = rb.stderr.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events.filter((e) => e !== 'paused')).toEqual(['committed', 'published']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(50, 100));
    expect(await store.list('attrrace/docs/journal/')).toEqual([]);
    await ok(['-d', url, 'health', 'docs']);
  }, 300_000);

  it('an import whose batches the winner of the race already applied says so and exits 0', async () => {
    const url = `${bucketUrl}/stdin`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const input = docs(0, 30).map((x) => JSON.stringify(x)).join('\n') + '\n';
    const a = start(['-d', url, '--json', 'import', 'docs', '-'], { ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' }, input);
    await a.paused;
    // the winner starts after A acknowledged its batch: its checkout applies it
    await ok(['-d', url, 'import', 'docs', file('sb.ndjson', docs(30, 40))]);
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(ra.stderr).toContain('"event":"committed","documents":30');
    expect(ra.stderr).toMatch(/"event":"committed_by_other","version":2/);
    expect(ra.stderr).not.toMatch(/"event":"published"/);
    const ex = await ok(['-d', url, 'export', 'docs']);
    expect(ids(ex.stdout)).toEqual(range(0, 40));
    expect(await orphans('stdin/docs/')).toEqual([]);
  }, 300_000);

  it('killed before its commit the store stays at the previous version; killed after it the new version is whole; the dead working copies are swept', async () => {
    const url = `${bucketUrl}/kill`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    await ok(['-d', url, 'import', 'docs', file('k0.ndjson', docs(0, 20))]);
    const before = (await ok(['-d', url, 'export', 'docs'])).stdout;
    const k1 = await run(['-d', url, 'import', 'docs', file('k1.ndjson', docs(20, 40))], { ELACSYM_FAILPOINTS: 'remote:before-commit' });
    expect(k1.code).toBe(137);
    expect(k1.stdout).toBe('');
    expect((await ok(['-d', url, 'export', 'docs'])).stdout).toBe(before);
    expect(await versions('kill/docs/')).toBe(2);
    // its batch was acknowledged (durable in the store's journal): the next writer commits it with its own
    const k2 = await run(['-d', url, 'import', 'docs', file('k2.ndjson', docs(40, 60))], { ELACSYM_FAILPOINTS: 'remote:after-commit' });
    expect(k2.code).toBe(137);
    expect(await versions('kill/docs/')).toBe(3);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 60));
    // the killed run left its working copy (the one killed before was swept by the next writer's start)
    expect(readdirSync(join(cache, 'work')).length).toBe(1);
    await ok(['-d', url, 'import', 'docs', file('k1.ndjson', docs(20, 40))]);
    expect(readdirSync(join(cache, 'work'))).toEqual([]);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 60));
  }, 300_000);

  it('a store that goes away at the commit: STORE_UNAVAILABLE (exit 75), no summary, no version; what it acknowledged before is kept, and wal replay commits it once the store is back', async () => {
    const url = `${bucketUrl}/outage`;
    await ok(['-d', url, 'init', 'docs', '--schema', declared()]);
    const fwd = await forwarder(env.ELACSYM_S3_ENDPOINT);
    const endpoint = fwd.endpoint;
    const f = file('o.ndjson', docs(0, 25));
    const a = start(['-d', url, '--json', 'import', 'docs', f], { ...env, ELACSYM_S3_ENDPOINT: endpoint, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' });
    await a.paused;
    await fwd.cut();
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(75);
    expect(errorCode(ra.stderr)).toBe('STORE_UNAVAILABLE');
    expect(ra.stdout).toBe('');
    expect(ra.stderr).not.toContain('"event":"published"');
    // its one batch was acknowledged while the store was there, and the error says where it is
    expect(ra.stderr).toContain('"event":"committed","documents":25');
    expect(ra.stderr).toContain("the batch it acknowledged is in the store's journal");
    expect((await ok(['-d', url, 'export', 'docs'])).stdout).toBe('');
    await ok(['-d', url, 'wal', 'replay', 'docs']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 25));
  }, 300_000);

  it('an import acknowledges a batch once it is durable in the store: killed (SIGKILL) with stdin still open, every acknowledged document survives; wal inspect shows them, the next write commits them', async () => {
    const url = `${bucketUrl}/acked`;
    await ok(['-d', url, 'init', 'docs', '--schema', declared()]);
    // stdin stays open: the importer acknowledges batches of 100 and then waits for more input, forever
    const a = start(['-d', url, '--json', 'import', 'docs', '-', '--batch-size', '100'], { ...env, ELACSYM_CACHE_DIR: cache }, null);
    a.c.stdin.write(docs(0, 250).map((d) => JSON.stringify(d)).join('\n') + '\n');
    await a.saw('"documents":200');
    a.c.kill('SIGKILL');
    const ra = await a.done;
    expect(ra.code).toBe(137);
    const acked = Math.max(...ra.stderr.split('\n').filter((l) => l.includes('"event":"committed"')).map((l) => (JSON.parse(l) as { documents: number }).documents));
    expect(acked).toBeGreaterThanOrEqual(200);
    // nothing was committed as a version, but the acknowledged batches are pending in the store's journal
    expect((await ok(['-d', url, 'export', 'docs'])).stdout).toBe('');
    const pending = (await ok(['-d', url, 'wal', 'inspect', 'docs', '--json'])).stdout;
    expect(pending).toMatch(/"pending"/);
    // health names the store's version, its age, this machine's cache, and the batches not yet committed
    const h = JSON.parse((await run(['-d', url, 'health', 'docs', '--json'])).stdout) as { object_store: { version: number; manifest_age_s: number; pending_journal_objects: number; cache: { bytes: number }; checkout: { segment_files: number; hit_ratio: number } } };
    expect(h.object_store.version).toBe(1);
    expect(h.object_store.pending_journal_objects).toBeGreaterThanOrEqual(2);
    expect(h.object_store.manifest_age_s).toBeGreaterThanOrEqual(0);
    expect(h.object_store.checkout).toMatchObject({ segment_files: 0, hit_ratio: 1 });
    // health reports what readers see: the pending batches are not counted as documents
    expect((h as unknown as { namespaces: { documents: number }[] }).namespaces[0]!.documents).toBe(0);
    expect((h as unknown as { namespaces: { status: string; problems: { code: string }[] }[] }).namespaces[0]!.problems.map((p) => p.code)).toContain('JOURNAL_OBJECTS_PENDING');
    // the next writer (a delete of an id that does not exist) commits them with its own change
    await ok(['-d', url, 'delete', 'docs', '--ids', '9999']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, acked));
    // and the journal objects are gone once a version holds them
    expect(await store.list('acked/docs/journal/')).toEqual([]);
    await ok(['-d', url, 'health', 'docs', '--deep']);
  }, 300_000);

  it('a damaged journal object in the store: health reads each pending one and says CORRUPT_JOURNAL (exit 5) naming it; wal replay sets it aside and commits the rest', async () => {
    const url = `${bucketUrl}/damagedjo`;
    await ok(['-d', url, 'init', 'docs', '--schema', declared()]);
    const a = start(['-d', url, '--json', 'import', 'docs', '-', '--batch-size', '10'], { ...env, ELACSYM_CACHE_DIR: cache }, null);
    a.c.stdin.write(docs(0, 35).map((d) => JSON.stringify(d)).join('\n') + '\n');
    await a.saw('"documents":30');
    a.c.kill('SIGKILL');
    expect((await a.done).code).toBe(137);
    const keys = (await store.list('damagedjo/docs/journal/')).sort();
    expect(keys).toHaveLength(3);
    const bytes = (await store.get(keys[1]!))!.slice();
    bytes[bytes.length - 7]! ^= 0xff;
    await store.put(keys[1]!, bytes);
    const h = await run(['-d', url, 'health', 'docs']);
    expect(h.code, h.stdout + h.stderr).toBe(5);
    expect(h.stdout).toContain(`[CORRUPT_JOURNAL] journal object ${keys[1]!.slice('damagedjo/'.length)} in the store fails its CRC-32`);
    expect((await run(['-d', url, 'health', 'docs', '--prometheus'])).stdout).toMatch(/^elacsym_store_damaged_journal_objects\{namespace="docs"\} 1$/m);
    await run(['-d', url, 'wal', 'replay', 'docs']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual([...range(0, 10), ...range(20, 30)]);
    const after = await run(['-d', url, 'health', 'docs']);
    expect(after.code, after.stdout).toBe(6);
    expect(after.stdout).not.toContain('CORRUPT_JOURNAL');
  }, 300_000);

  it('import FILE --resume after a kill starts after the batches acknowledged in the store (their objects carry the resume point)', async () => {
    const url = `${bucketUrl}/resume`;
    await ok(['-d', url, 'init', 'docs', '--schema', declared()]);
    // a named pipe kept open: the importer acknowledges 3 batches of 10 and waits for more
    const fifo = join(root, 'resume.fifo');
    execFileSync('mkfifo', [fifo]);
    const lines = docs(0, 45).map((x) => JSON.stringify(x) + '\n');
    const a = start(['-d', url, '--json', 'import', 'docs', fifo, '--batch-size', '10'], { ...env, ELACSYM_CACHE_DIR: cache });
    const w = createWriteStream(fifo);
    w.write(lines.slice(0, 35).join(''));
    await a.saw('"lines":30');
    a.c.kill('SIGKILL');
    expect((await a.done).code).toBe(137);
    w.destroy();
    const r = start(['-d', url, '--json', 'import', 'docs', fifo, '--resume', '--batch-size', '10'], { ...env, ELACSYM_CACHE_DIR: cache });
    createWriteStream(fifo).end(lines.join(''));
    const rr = await r.done;
    expect(rr.code, rr.stderr).toBe(0);
    const summary = JSON.parse(rr.stdout) as { skipped_lines: number; read: number };
    expect(summary).toMatchObject({ skipped_lines: 30, read: 15 });
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 45));
  }, 300_000);

  it('a failed init is its own error; a delete of ids that do not exist commits nothing', async () => {
    const url = `${bucketUrl}/errs`;
    const bad = await run(['-d', url, 'init', 'docs', '--dim', '-3']);
    expect([bad.code, errorCode(bad.stderr)]).toEqual([2, 'USAGE']);
    expect(bad.stderr).not.toContain(cache);
    expect(bad.stderr).not.toContain('nothing changed');
    expect(await versions('errs/docs/')).toBe(0);
    // its usage errors are USAGE even when the store cannot be reached (not "retry later")
    const down = await run(['-d', url, 'init', 'docs', '--dim', '-3', '--s3-endpoint', 'http://127.0.0.1:9']);
    expect([down.code, errorCode(down.stderr)]).toEqual([2, 'USAGE']);
    // and so are the other writers' (their options and input are checked before the store is contacted)
    const nowhere = ['--s3-endpoint', 'http://127.0.0.1:9'];
    const f = file('pre.ndjson', docs(0, 2));
    for (const [args, want] of [
      [['import', 'docs', join(root, 'no-such.ndjson')], 'FILE_NOT_FOUND'],
      [['import', 'docs', f, '--batch-size', '0'], 'USAGE'],
      [['patch', 'docs', f, '--resume', '--skip-lines', '1'], 'USAGE'],
      [['delete', 'docs'], 'USAGE'],
      [['delete', 'docs', '--ids', '1', '--filter', '{"field":"n","op":"eq","value":1}'], 'USAGE'],
    ] as [string[], keyof typeof ERRORS][]) {
      const r = await run(['-d', url, ...args, ...nowhere]);
      expect([r.code, errorCode(r.stderr)], `${args.join(' ')}: ${r.stderr}`).toEqual([ERRORS[want].exit, want]);
    }
    await ok(['-d', url, 'init', 'docs', '--dim', '4']);
    const none = await ok(['-d', url, 'delete', 'docs', '--ids', '424242']);
    expect(none.stderr).toContain('nothing changed');
    expect(await versions('errs/docs/')).toBe(1);
  }, 300_000);

  it('an input that cannot be read twice (a named pipe) is not read again after a lost race: its acknowledged batches are committed', async () => {
    const url = `${bucketUrl}/fifo`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const fifo = join(root, 'input.fifo');
    execFileSync('mkfifo', [fifo]);
    const a = start(['-d', url, '--json', 'import', 'docs', fifo], { ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' });
    const w = createWriteStream(fifo);
    w.end(docs(0, 20).map((x) => JSON.stringify(x)).join('\n') + '\n');
    await a.paused;
    await ok(['-d', url, 'import', 'docs', file('fb.ndjson', docs(20, 30))]);
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(ra.stderr).not.toContain('"event":"retry"');
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 30));
    expect(await orphans('fifo/docs/')).toEqual([]);
  }, 300_000);

  it('SIGINT during the commit stops before it: exit 130, no version committed, no segment left in the store; the acknowledged batches stay in its journal', async () => {
    const url = `${bucketUrl}/sigint`;
    await ok(['-d', url, 'init', 'docs', '--schema', declared()]);
    const a = start(['-d', url, 'import', 'docs', file('si.ndjson', docs(0, 20))], { ...env, ELACSYM_CACHE_DIR: cache, ELACSYM_FAILPOINTS: 'publish:before-commit=pause' });
    await a.paused; // uploads done, commit next
    a.c.kill('SIGINT');
    await a.saw('stopping before the commit'); // the signal was handled: now let the commit go on
    a.c.kill('SIGUSR2');
    const ra = await a.done;
    expect([ra.code, errorCode(ra.stderr)]).toEqual([130, 'INTERRUPTED']);
    expect(ra.stderr).toContain("the batch it acknowledged is in the store's journal");
    expect(ra.stderr).not.toMatch(/imported 20 documents|committed docs as version/);
    expect(await versions('sigint/docs/')).toBe(1);
    expect(await orphans('sigint/docs/')).toEqual([]);
    // as an interrupted local import keeps what it had committed: `wal replay` commits it
    await ok(['-d', url, 'wal', 'replay', 'docs']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 20));
  }, 300_000);

  it('objects a killed writer uploaded are collected once older than an hour, never earlier, and nothing referenced goes', async () => {
    const url = `${bucketUrl}/orphan`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    await ok(['-d', url, 'import', 'docs', file('o0.ndjson', docs(0, 20))]);
    const killed = await run(['-d', url, 'import', 'docs', file('o1.ndjson', docs(20, 40))], { ELACSYM_FAILPOINTS: 'remote:after-commit' });
    expect(killed.code).toBe(137);
    const dead = await run(['-d', url, 'import', 'docs', file('o2.ndjson', docs(40, 60))], { ELACSYM_FAILPOINTS: 'publish:before-commit' });
    expect(dead.code).toBe(137);
    const left = await orphans('orphan/docs/');
    expect(left.length).toBeGreaterThanOrEqual(2); // the dead writer's segment files
    const before = (await ok(['-d', url, 'export', 'docs'])).stdout;
    // a writer now: they are young (maybe a live writer's uploads), so they stay
    await ok(['-d', url, 'delete', 'docs', '--ids', '0']);
    expect(await orphans('orphan/docs/')).toEqual(left);
    // the same collection two hours later: gone, and every version's objects are still there
    const work = join(root, 'orphan-work');
    const under = new S3ObjectStore(storeOptions(env, bucket, { prefix: 'orphan/' }));
    const c = await checkoutNamespace(under, 'docs', work, join(root, 'orphan-pool'));
    const r = await publishNamespace(join(work, 'docs'), 'docs', under, { expectBase: c.base!.version, clock: () => Date.now() + 2 * 3600_000, gcGraceMs: 900_000 });
    expect(r.objects_deleted).toBeGreaterThanOrEqual(left.length);
    expect(await orphans('orphan/docs/')).toEqual([]);
    // (the dead writer's acknowledged batch, 40..59, was committed by the delete)
    expect(ids(before)).toEqual(range(0, 40));
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(1, 60));
  }, 300_000);

  it.skipIf(process.getuid?.() !== 0)('a cache on a read-only or a full file system is named for what it is, with ELACSYM_CACHE_DIR in the hint (needs root for mounts)', async () => {
    const url = `${bucketUrl}/cachefs`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const f = file('cf.ndjson', docs(0, 2000));
    const mounts: string[] = [];
    const tmpfs = (size: string) => {
      const d = tmpDir('elacsym-cachefs-');
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', d]);
      mounts.push(d);
      return d;
    };
    try {
      const ro = tmpfs('1m');
      execFileSync('mkdir', [join(ro, 'c')]);
      execFileSync('mount', ['-o', 'remount,ro', ro]);
      const r1 = await run(['-d', url, 'import', 'docs', f], { ELACSYM_CACHE_DIR: join(ro, 'c') });
      expect([r1.code, errorCode(r1.stderr)], r1.stderr).toEqual([ERRORS.PERMISSION_DENIED.exit, 'PERMISSION_DENIED']);
      expect(r1.stderr).toContain('ELACSYM_CACHE_DIR');
      const full = tmpfs('96k');
      const r2 = await run(['-d', url, 'import', 'docs', f], { ELACSYM_CACHE_DIR: full });
      expect([r2.code, errorCode(r2.stderr)], r2.stderr).toEqual([ERRORS.NO_SPACE.exit, 'NO_SPACE']);
      expect(r2.stderr).toContain('ELACSYM_CACHE_DIR');
      // whatever was committed is whole: every document in the store is one of the input's, readable
      const ex = await ok(['-d', url, 'export', 'docs']);
      for (const i of ids(ex.stdout)) expect(i).toBeLessThan(2000);
    } finally {
      for (const m of mounts.reverse()) execFileSync('umount', [m]);
    }
  }, 300_000);

  it('readers while writers import and compact: every answer is one whole version\'s', async () => {
    const url = `${bucketUrl}/readers`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    await ok(['-d', url, 'import', 'docs', file('r0.ndjson', docs(0, 40))]);
    // the writer: 3 imports of 20 new documents, each followed by a compaction (segments replaced)
    let writing = true;
    const writer = (async () => {
      for (let k = 1; k <= 3; k++) {
        await ok(['-d', url, 'import', 'docs', file(`r${k}.ndjson`, docs(40 * k, 40 * k + 20)), '--segment-docs', '7']);
        await ok(['-d', url, 'compact', 'docs']);
      }
      writing = false;
    })();
    // each export is a committed version's documents, whole: the first 40, then 20 more per import
    const versionsIds = [1, 2, 3, 4].map((n) => [...range(0, 40), ...[1, 2, 3].slice(0, n - 1).flatMap((k) => range(40 * k, 40 * k + 20))]);
    const seen = new Set<number>();
    let reads = 0;
    while (writing || reads < 3) {
      const r = await run(['-d', url, 'export', 'docs'], { ELACSYM_CACHE_DIR: join(root, 'reader-cache') });
      expect(r.code, r.stderr).toBe(0);
      const got = JSON.stringify(ids(r.stdout));
      const which = versionsIds.findIndex((v) => JSON.stringify(v) === got);
      expect(which, got).toBeGreaterThanOrEqual(0);
      seen.add(which);
      reads++;
    }
    await writer;
    expect(seen.has(3)).toBe(true);
  }, 300_000);

  it('a sharded import (--shard I/N --job): three concurrent shards, one commit, equal to one import of the whole; a dry run stages nothing; a shard of the committed job run again is refused', async () => {
    const whole = `${bucketUrl}/whole`;
    const split = `${bucketUrl}/split`;
    // Ids 0..299 with ids 40..59 repeated later with new text (the later line wins, as in one import), and
    // a new attribute on a few documents (the shards' schemas are merged).
    const rows: unknown[] = [...docs(0, 300), ...docs(40, 60).map((d) => ({ ...d, attributes: { ...(d as { attributes: object }).attributes, title: `rewritten plum ${(d as { id: number }).id}`, extra: 'x' } }))];
    const input = file('sharded.ndjson', rows);
    for (const u of [whole, split]) {
      await ok(['-d', u, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
      // Before the job: documents it updates, and an acknowledged batch still in the journal.
      await ok(['-d', u, 'import', 'docs', file('before.ndjson', docs(250, 320))]);
      await ok(['-d', u, 'import', 'docs', file('pending.ndjson', docs(280, 290).map((d) => ({ ...d, attributes: { title: 'pending apple' } }))), '--no-flush']);
    }
    await ok(['-d', whole, 'import', 'docs', input]);
    // a dry run of a shard reads its part like any dry run (segments included) and stages nothing
    const dry = await ok(['-d', split, 'import', 'docs', input, '--shard', '1/3', '--job', 'j1', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true });
    expect(dry.stderr).not.toMatch(/staged|waiting/);
    expect(await store.list('split/docs/shards/')).toEqual([]);
    const before = await versions('split/docs/');
    const runs = await Promise.all([1, 2, 3].map((i) => run(['-d', split, 'import', 'docs', input, '--shard', `${i}/3`, '--job', 'j1', '--json'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    // Each shard read its part (by id) and staged it; exactly one committed the job, as one version.
    const events = runs.flatMap((r) => r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; job?: string; documents?: number }));
    expect(events.filter((e) => e.event === 'staged').map((e) => e.documents).reduce((a, b) => a! + b!, 0)).toBe(300);
    expect(events.filter((e) => e.event === 'published' && e.job === 'j1')).toHaveLength(1);
    expect(await versions('split/docs/')).toBe(before + 1);
    expect(await store.list('split/docs/shards/')).toEqual([]);
    const summaries = runs.map((r) => JSON.parse(r.stdout) as { read: number; other_shards: number });
    for (const s of summaries) expect(s.read + s.other_shards).toBe(rows.length);
    const want = byId((await ok(['-d', whole, 'export', 'docs'])).stdout);
    expect(byId((await ok(['-d', split, 'export', 'docs'])).stdout)).toEqual(want);
    const answersOf = async (u: string) => answers((await ok(['-d', u, 'query', 'docs', '--batch', batch])).stdout);
    expect(await answersOf(split)).toEqual(await answersOf(whole));
    const extra = async (u: string) => (JSON.parse((await ok(['-d', u, 'query', 'docs', '--filter', '{"field":"extra","op":"eq","value":"x"}', '--top-k', '50', '--json'])).stdout) as { results: unknown[] }).results;
    const got = await extra(split);
    expect(got).toHaveLength(20);
    expect(got).toEqual(await extra(whole));
    await ok(['-d', split, 'health', 'docs', '--deep']);
    // A shard of the committed job run again is refused: its part would be imported twice.
    const again = await run(['-d', split, 'import', 'docs', input, '--shard', '2/3', '--job', 'j1']);
    expect([again.code, errorCode(again.stderr)]).toEqual([ERRORS.JOB_CONFLICT.exit, 'JOB_CONFLICT']);
    expect(await versions('split/docs/')).toBe(before + 1);
    expect(await store.list('split/docs/shards/')).toEqual([]);
  }, 300_000);

  it('a job whose committing shard died is reported by health (degraded) and committed by wal replay; shards that read different inputs are refused', async () => {
    const url = `${bucketUrl}/jobs`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const input = file('jobs.ndjson', docs(0, 60));
    await ok(['-d', url, 'import', 'docs', input, '--shard', '1/2', '--job', 'k1']);
    // the last shard is killed right after staging, before it commits the job
    const killed = await run(['-d', url, 'import', 'docs', input, '--shard', '2/2', '--job', 'k1'], { ELACSYM_FAILPOINTS: 'shard:after-stage' });
    expect(killed.code).toBe(137);
    expect((await ok(['-d', url, 'count', 'docs'])).stdout.trim()).toBe('0');
    const h = await run(['-d', url, 'health', 'docs']);
    expect(h.code).toBe(ERRORS.DEGRADED.exit);
    // The command is pasteable: it names the store (-d s3://...), like an error's hint.
    expect(h.stdout).toContain(`degraded: [SHARD_JOB_UNCOMMITTED] sharded import job k1: all 2 shards staged, not committed: run \`elacsym -d ${url} wal replay docs\``);
    const replay = await ok(['-d', url, 'wal', 'replay', 'docs']);
    expect(replay.stderr).toMatch(/committed job k1 \(2 shards, 60 documents/);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 60));
    await ok(['-d', url, 'health', 'docs']);
    // two shards of one job on different inputs: the job is refused, nothing committed
    const v = await versions('jobs/docs/');
    await ok(['-d', url, 'import', 'docs', input, '--shard', '1/2', '--job', 'x1']);
    const mixed = await run(['-d', url, 'import', 'docs', file('other.ndjson', docs(0, 61)), '--shard', '2/2', '--job', 'x1']);
    expect([mixed.code, errorCode(mixed.stderr)]).toEqual([ERRORS.JOB_CONFLICT.exit, 'JOB_CONFLICT']);
    expect(mixed.stderr).toMatch(/read different inputs/);
    expect(await versions('jobs/docs/')).toBe(v);
    // health names it (degraded, with the way out); wal replay warns and does the rest; --abandon-job drops it
    const hx = await run(['-d', url, 'health', 'docs', '--json']);
    expect(hx.code).toBe(ERRORS.DEGRADED.exit);
    const hj = JSON.parse(hx.stdout) as { namespaces: { status: string; problems: { code: string; message: string }[] }[] };
    expect(hj.namespaces[0]!.status).toBe('degraded');
    expect(hj.namespaces[0]!.problems.map((p) => p.code)).toContain('SHARD_JOB_CONFLICT');
    const rx = await ok(['-d', url, 'wal', 'replay', 'docs']);
    expect(rx.stderr).toMatch(/warning: job x1 was not committed: .*read different inputs/);
    const ab = await ok(['-d', url, 'wal', 'replay', 'docs', '--abandon-job', 'x1']);
    expect(ab.stderr).toMatch(/abandoned job x1: 2 stages removed/);
    expect(await store.list('jobs/docs/shards/')).toEqual([]);
    await ok(['-d', url, 'health', 'docs']);
    expect(ids((await ok(['-d', url, 'export', 'docs'])).stdout)).toEqual(range(0, 60));
    // a typo in --abandon-job is an error, not a silent success
    const typo = await run(['-d', url, 'wal', 'replay', 'docs', '--abandon-job', 'nosuch']);
    expect([typo.code, errorCode(typo.stderr)]).toEqual([ERRORS.USAGE.exit, 'USAGE']);
    // one job, one N: a shard that says another N is refused before it stages
    await ok(['-d', url, 'import', 'docs', input, '--shard', '1/2', '--job', 'n1']);
    const otherN = await run(['-d', url, 'import', 'docs', input, '--shard', '2/3', '--job', 'n1']);
    expect([otherN.code, errorCode(otherN.stderr)]).toEqual([ERRORS.JOB_CONFLICT.exit, 'JOB_CONFLICT']);
    expect((await store.list('jobs/docs/shards/')).map((k) => k.split('/').pop())).toEqual(['1-of-2.json.gz']);
  }, 300_000);

  it('acknowledgement order wins over start order: a killed writer\'s earlier batches never overwrite a later writer\'s', async () => {
    const url = `${bucketUrl}/order`;
    await ok(['-d', url, 'init', 'docs', '--dim', '4', '--full-text', 'title']);
    const env2 = { ...env, ELACSYM_CACHE_DIR: cache };
    const line = (i: number, v: string) => JSON.stringify({ ...docs(i, i + 1)[0], attributes: { title: `value ${v}` } });
    // A starts first (its checkout is done once it acknowledged its first batch) and stays open
    const a = start(['-d', url, '--json', 'import', 'docs', '-', '--batch-size', '10'], env2, null);
    a.c.stdin.write(Array.from({ length: 10 }, (_, k) => line(1000 + k, 'a')).join('\n') + '\n');
    await a.saw('"documents":10');
    // B starts later, acknowledges ids 0..9 = "b", and is killed
    const b = start(['-d', url, '--json', 'import', 'docs', '-', '--batch-size', '10'], env2, null);
    b.c.stdin.write(Array.from({ length: 10 }, (_, k) => line(k, 'b')).join('\n') + '\n');
    await b.saw('"documents":10');
    b.c.kill('SIGKILL');
    await b.done;
    // A then acknowledges ids 0..9 = "a": later than B's, so "a" must win
    a.c.stdin.end(Array.from({ length: 10 }, (_, k) => line(k, 'a')).join('\n') + '\n');
    const ra = await a.done;
    // A does not hold B's earlier batch: committing as it is would apply it after A's; A commits on a
    // checkout that applies every pending batch in the order they were acknowledged
    expect(ra.code, ra.stderr).toBe(0);
    expect(ra.stderr).toContain('"event":"rebase"');
    const titles = new Map((await ok(['-d', url, 'export', 'docs'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; attributes: { title: string } }).map((d) => [d.id, d.attributes.title]));
    expect(titles.size).toBe(20);
    for (let k = 0; k < 10; k++) expect(titles.get(k)).toBe('value a');
  }, 300_000);

  it('--shard: names what it needs (an s3:// data directory, --job, a valid I/N) before reading anything', async () => {
    const local = join(root, 'local-shard');
    await ok(['-d', local, 'init', 'docs', '--dim', '4']);
    const f = file('s.ndjson', docs(0, 3));
    const cases: [string[], RegExp][] = [
      [['-d', local, 'import', 'docs', f, '--shard', '1/2', '--job', 'a'], /needs an s3:\/\/ data directory/],
      [['-d', `${bucketUrl}/usage`, 'import', 'docs', f, '--shard', '1/2'], /--shard needs --job NAME/],
      [['-d', `${bucketUrl}/usage`, 'import', 'docs', f, '--shard', '3/2', '--job', 'a'], /--shard expects I\/N/],
      [['-d', `${bucketUrl}/usage`, 'import', 'docs', f, '--job', 'a'], /--job names the job of a sharded import/],
      [['-d', `${bucketUrl}/usage`, 'import', 'docs', f, '--shard', '1/2', '--job', 'a', '--no-flush'], /--no-flush/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(ERRORS.USAGE.exit);
      expect(r.stderr).toMatch(msg);
    }
  }, 120_000);
});
