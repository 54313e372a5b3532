/**
 * The real S3-compatible server for tests: `scripts/s3-server start` (idempotent; concurrent starts from
 * several test files serialise on its lock) and the environment it prints. No mocks: tests talk to Ceph's
 * radosgw on 127.0.0.1. Each test file makes its own bucket, so files stay independent.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { S3ObjectStore, type S3StoreOptions } from '../../src/objstore/s3.js';
import { ROOT } from './cli.js';

export interface S3Env {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
  ELACSYM_S3_ENDPOINT: string;
}

// The SDK warns under Node 20 that its later releases need Node 22 (elacsym pins it): keep test logs clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let started: Promise<S3Env> | undefined;

/** Start the server (or find it running) and return its environment: `export K=V K=V ...` parsed. */
export function s3Server(): Promise<S3Env> {
  started ??= new Promise((resolve, reject) => {
    execFile(join(ROOT, 'scripts', 's3-server'), ['start'], { timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`scripts/s3-server start failed: ${stderr || err.message}`));
      const line = stdout.split('\n').find((l) => l.startsWith('export '));
      if (!line) return reject(new Error(`scripts/s3-server start printed no env line: ${stdout}`));
      const env: Record<string, string> = {};
      for (const kv of line.slice('export '.length).trim().split(/\s+/)) {
        const i = kv.indexOf('=');
        env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      resolve(env as unknown as S3Env);
    });
  });
  return started;
}

export function uniqueBucket(tag: string): string {
  return `elacsym-${tag}-${randomBytes(4).toString('hex')}`.toLowerCase();
}

export function storeOptions(env: S3Env, bucket: string, extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    bucket,
    endpoint: env.ELACSYM_S3_ENDPOINT,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    ...extra,
  };
}

/** A fresh bucket on the test server and a store on it (prefix optional). */
export async function freshS3Store(tag: string, extra: Partial<S3StoreOptions> = {}): Promise<{ env: S3Env; bucket: string; store: S3ObjectStore }> {
  const env = await s3Server();
  const bucket = uniqueBucket(tag);
  const store = new S3ObjectStore(storeOptions(env, bucket, extra));
  await store.createBucket();
  return { env, bucket, store };
}
