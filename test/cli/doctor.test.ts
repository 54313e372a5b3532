/**
 * `elacsym doctor`: passes on a local directory and on the real S3-compatible server (Ceph radosgw), and
 * refuses, with STORE_UNSAFE and exit 2, a real S3 emulator that accepts a conditional create of an
 * existing key (s3rver from npm overwrites on If-None-Match: *). Spawns the real binary.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorError, runDoctor } from '../../src/objstore/doctor.js';
import { LocalObjectStore } from '../../src/objstore/local.js';
import type { ObjectStore } from '../../src/objstore/object-store.js';
import { cleanupTmp, cli, errorCode, tmpDir } from '../helpers/cli.js';
import { freshS3Store, type S3Env } from '../helpers/s3.js';

afterAll(() => cleanupTmp());

const s3vars = (env: S3Env, endpoint = env.ELACSYM_S3_ENDPOINT) => ({
  AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
  AWS_REGION: env.AWS_REGION,
  ELACSYM_S3_ENDPOINT: endpoint,
});

interface Report {
  verdict: string;
  checks: { name: string; status: string; code?: string }[];
  leftovers: string[];
}

describe('elacsym doctor', () => {
  it('a local directory passes every check, and nothing of the probe is left in it', async () => {
    const d = tmpDir();
    const r = await cli(['doctor', d, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.verdict).toBe('ok');
    expect(report.checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(readdirSync(d)).toEqual([]);
  });

  it('the default target is the data directory; text output is a table and a verdict', async () => {
    const d = tmpDir();
    const r = await cli(['-d', d, 'doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^check\s+result\s+detail$/m);
    expect(r.stdout).toMatch(/^conditional-create\s+ok\b/m);
  });

  it('a missing local directory is DATA_DIR_NOT_FOUND (exit 3)', async () => {
    const r = await cli(['doctor', join(tmpDir(), 'nope')]);
    expect([r.code, errorCode(r.stderr)]).toEqual([3, 'DATA_DIR_NOT_FOUND']);
  });

  describe('on the real S3-compatible server (radosgw)', () => {
    let env: S3Env;
    let bucket: string;
    let store: ObjectStore;
    beforeAll(async () => {
      ({ env, bucket, store } = await freshS3Store('doctor'));
    });

    it('passes every check and removes its probe objects', async () => {
      await store.put('keep/me', new Uint8Array([1]));
      const r = await cli(['doctor', `s3://${bucket}/some/prefix`, '--json'], { env: s3vars(env) });
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.verdict).toBe('ok');
      expect(report.checks.every((c) => c.status === 'ok')).toBe(true);
      expect(await store.list('')).toEqual(['keep/me']);
    });

    it('--s3-endpoint overrides the environment', async () => {
      const r = await cli(['doctor', `s3://${bucket}`, '--s3-endpoint', env.ELACSYM_S3_ENDPOINT, '--json'], { env: s3vars(env, 'http://127.0.0.1:1') });
      expect(r.code, r.stderr).toBe(0);
    });

    it('a missing bucket is BUCKET_NOT_FOUND (exit 3), a refused connection STORE_UNAVAILABLE (exit 75), bad keys STORE_ACCESS_DENIED (exit 77)', async () => {
      const missing = await cli(['doctor', 's3://elacsym-no-such-bucket/x', '--json'], { env: s3vars(env) });
      expect([missing.code, errorCode(missing.stderr)]).toEqual([3, 'BUCKET_NOT_FOUND']);
      const refused = await cli(['doctor', `s3://${bucket}`], { env: s3vars(env, 'http://127.0.0.1:1') });
      expect([refused.code, errorCode(refused.stderr)]).toEqual([75, 'STORE_UNAVAILABLE']);
      const denied = await cli(['doctor', `s3://${bucket}`], { env: { ...s3vars(env), AWS_SECRET_ACCESS_KEY: 'wrong' } });
      expect([denied.code, errorCode(denied.stderr)]).toEqual([77, 'STORE_ACCESS_DENIED']);
    });
  });

  describe('on a store that ignores conditional creates (s3rver, a real S3 emulator that overwrites)', () => {
    let server: S3rver;
    let endpoint: string;
    beforeAll(async () => {
      server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: mkdtempSync(join(tmpdir(), 'elacsym-s3rver-')), configureBuckets: [{ name: 'unsafe-bucket' }] });
      const { port } = await server.run();
      endpoint = `http://127.0.0.1:${port}`;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('is refused for writing: STORE_UNSAFE, exit 2, the conditional-create check failed', async () => {
      const r = await cli(['doctor', 's3://unsafe-bucket/ns', '--json'], {
        env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', ELACSYM_S3_ENDPOINT: endpoint },
      });
      expect([r.code, errorCode(r.stderr)]).toEqual([2, 'STORE_UNSAFE']);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.verdict).toBe('unsafe');
      expect(report.checks.find((c) => c.name === 'conditional-create')!.status).toBe('fail');
    });
  });

  it('the core refuses an overwriting store in-process too (an adaptor that turns putIfAbsent into put)', async () => {
    const inner = new LocalObjectStore(tmpDir());
    const overwriting: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      putIfAbsent: async (k: string, b: Uint8Array) => {
        await inner.put(k, b);
        return 'created' as const;
      },
    });
    const report = await runDoctor(overwriting);
    expect(report.verdict).toBe('unsafe');
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['conditional-create']);
  });

  it('an interrupt between checks skips the rest, still removes every probe object, and says interrupted', async () => {
    const root = tmpDir();
    const inner = new LocalObjectStore(root);
    const stop = new AbortController();
    // Ctrl-C arrives while the first check writes its object.
    const store: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      put: async (k: string, b: Uint8Array) => {
        await inner.put(k, b);
        stop.abort();
      },
    });
    const report = await runDoctor(store, { signal: stop.signal });
    expect(report.verdict).toBe('interrupted');
    expect(report.checks[0]!.status).toBe('ok');
    expect(report.checks.slice(1).every((c) => c.status === 'skipped')).toBe(true);
    expect(report.leftovers).toEqual([]);
    expect(await inner.list('')).toEqual([]);
    expect(doctorError(report)?.code).toBe('INTERRUPTED');
  });

  it('commands that do not touch S3 never load the AWS SDK', async () => {
    const hook = join(tmpDir(), 'hook.cjs');
    writeFileSync(hook, "const M = require('module'); const l = M._load; M._load = function (r, ...a) { if (/^@aws-sdk\\//.test(r)) process.stderr.write('AWS-SDK-LOADED\\n'); return l.call(this, r, ...a); };\n");
    const d = tmpDir();
    const plain = await cli(['-d', d, 'namespaces'], { env: { NODE_OPTIONS: `--require ${hook}` } });
    expect(plain.stderr).not.toContain('AWS-SDK-LOADED');
    const local = await cli(['doctor', d], { env: { NODE_OPTIONS: `--require ${hook}` } });
    expect(local.code).toBe(0);
    expect(local.stderr).not.toContain('AWS-SDK-LOADED');
  });
});

describe('a malformed S3 endpoint', () => {
  it('is USAGE (exit 2), not an unavailable store', async () => {
    for (const endpoint of ['not-a-url', 'ftp://127.0.0.1:1', 'http://127.0.0.1:7480/extra/path']) {
      const r = await cli(['doctor', 's3://bucket/p', '--s3-endpoint', endpoint], { env: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' } });
      expect([r.code, errorCode(r.stderr)], `${endpoint}: ${r.stderr}`).toEqual([2, 'USAGE']);
    }
  });
});

describe('an object-store URL as the data directory', () => {
  it('is refused with USAGE by the commands that work on local data directories only (drop, restore, backup), and any scheme but s3:// by all (it named a local directory "s3:" before)', async () => {
    const cwd = tmpDir();
    for (const args of [
      ['-d', 's3://bucket/prefix', 'drop', 'x', '--yes'],
      ['-d', 's3://bucket/prefix', 'restore', 'somewhere', 'x'],
      ['-d', 'gs://bucket', 'query', 'x', '--text', 'a'],
      ['-d', 'gs://bucket', 'doctor'],
      ['-d', 's3://bucket/prefix', 'backup', 'x', 'somewhere'],
    ]) {
      const r = await cli(args, { cwd });
      expect(r.code, r.stderr).toBe(2);
      expect(errorCode(r.stderr)).toBe('USAGE');
    }
    // a local data directory backed up "to" or restored "from" a URL: a local directory named "s3:" before
    const local = join(cwd, '..', `local-${process.pid}`);
    for (const args of [
      ['-d', local, 'backup', 'x', 's3://bucket/backups/x'],
      ['-d', local, 'restore', 's3://bucket/backups/x', 'x'],
    ]) {
      const r = await cli(args, { cwd });
      expect([r.code, errorCode(r.stderr)], r.stderr).toEqual([2, 'USAGE']);
    }
    const env = await cli(['drop', 'x', '--yes'], { cwd, env: { ELACSYM_DATA_DIR: 's3://bucket/prefix' } });
    expect(env.code).toBe(2);
    expect(readdirSync(cwd)).toEqual([]); // nothing written locally
  });
});
