/**
 * The README is for users: its quick start and tour must run exactly as written. The ```sh blocks of the
 * "Quick start" section run in the clone (they use fixtures/), those of "A ten-minute tour" in an empty
 * directory, both with `elacsym` on the PATH (as `npm link` puts it) and the data directory in a temp dir.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, LAUNCHER, ROOT, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

function shellBlocks(from: string, to: string): string {
  const a = readme.indexOf(from);
  const b = readme.indexOf(to, a);
  expect(a, `README has no section ${from}`).toBeGreaterThanOrEqual(0);
  const blocks = [...readme.slice(a, b).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length, `${from} has no sh blocks`).toBeGreaterThan(0);
  return blocks.join('');
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(tmpDir(), 'bin');
  mkdirSync(bin);
  symlinkSync(LAUNCHER, join(bin, 'elacsym')); // as `npm link` puts it on PATH
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) clean[k] = v;
  return new Promise((resolve, reject) => {
    const c = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd, env: { ...clean, ...env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('README', () => {
  it('the quick start runs as written', async () => {
    const r = await bash(shellBlocks('## Quick start', '## A ten-minute tour'), ROOT, { ELACSYM_DATA_DIR: join(tmpDir(), 'data') });
    expect(r.code, r.stderr).toBe(0);
    const resp = JSON.parse(r.stdout) as { results: { attributes: { title: string; body: string } }[] };
    expect(resp.results.length).toBeGreaterThan(0);
    for (const x of resp.results) expect(`${x.attributes.title} ${x.attributes.body}`).toMatch(/bird/);
  });

  it('the tour runs as written, start to end', async () => {
    const cwd = tmpDir();
    const r = await bash(shellBlocks('## A ten-minute tour', '## Commands'), cwd, {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('would delete 1 documents');
    expect(r.stdout).toContain('articles: HEALTHY');
    expect(r.stdout).toMatch(/^articles-copy\t3$/m);
  });
});
