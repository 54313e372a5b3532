/**
 * scripts/s3-server: a start with the state directory of a running instance but another gateway port
 * refuses, and the running instance keeps serving (it used to be stopped and its state wiped).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tmpDir } from '../../helpers/cli.js';
import { s3Server } from '../../helpers/s3.js';

const script = join(ROOT, 'scripts', 's3-server');
const run = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(script, args, { env: { ...process.env, ...env }, timeout: 120_000 }, (err, _out, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });

describe('scripts/s3-server', () => {
  it('refuses to start over a running instance of the same state directory on another port', async () => {
    const env = await s3Server();
    const port = Number(new URL(env.ELACSYM_S3_ENDPOINT).port);
    const r = await run(['start'], { ELACSYM_S3_PORT: String(port + 17) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is running/);
    expect((await run(['status'], { ELACSYM_S3_PORT: String(port) })).code).toBe(0);
  });

  it('a stale pid file naming a reused pid (an unrelated process) is not taken for a daemon, and stop does not kill it', async () => {
    const dir = join(tmpDir(), 's3-state');
    mkdirSync(join(dir, 'run'), { recursive: true });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      for (const d of ['mon', 'osd', 'client']) writeFileSync(join(dir, 'run', `${d}.pid`), String(other.pid));
      const env = { ELACSYM_S3_DIR: dir, ELACSYM_S3_PORT: '7479', ELACSYM_S3_MON_PORT: '3299' };
      expect((await run(['status'], env)).code).toBe(1);
      expect((await run(['stop'], env)).code).toBe(0);
      expect(other.exitCode).toBeNull();
      expect(process.kill(other.pid!, 0)).toBe(true); // still alive
    } finally {
      other.kill();
    }
  });
});
