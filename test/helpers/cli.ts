import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { generateDocs, type DatasetOptions } from '../../src/bench/dataset.js';

export const ROOT = resolve(import.meta.dirname, '../..');
/**
 * The CLI, bin/elacsym: tests run it as `node BIN` (its JavaScript). Run as a command, its first lines are
 * sh that set the malloc arena and exec Node on it (test/cli/launcher.test.ts).
 */
export const BIN = join(ROOT, 'bin', 'elacsym');
/** The same file, for tests that run it as a command (the launcher's sh lines, then Node). */
export const LAUNCHER = BIN;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * An environment for running the launcher as a command: the caller's without ELACSYM_*, GLIBC_TUNABLES and
 * the names in `drop`, with this test's Node first on PATH (the launcher execs the `node` it finds there),
 * then `extra`.
 */
export function launcherEnv(extra: Record<string, string> = {}, drop: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('ELACSYM_') || k === 'GLIBC_TUNABLES' || drop.includes(k)) continue;
    env[k] = v;
  }
  return { ...env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...extra };
}

/** Runs `file args` (the launcher as a command, or `node` on it) with exactly `env`; resolves when it closes. */
export function runFile(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const dirs: string[] = [];
export function tmpDir(prefix = 'elacsym-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function cleanupTmp(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * Run the real binary. `env` is merged over a clean environment (no ELACSYM_* from the caller).
 * Asynchronous on purpose: a test that blocked its worker's event loop in spawnSync for a minute would
 * trip vitest's RPC timeout under CI load.
 */
export function cli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...opts.env }, cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => errb.push(b));
    c.on('error', reject);
    c.stdin.on('error', () => undefined); // the child may exit before reading all input (e.g. usage errors)
    c.on('close', (code, signal) => {
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errb).toString('utf8') });
    });
    c.stdin.end(opts.input ?? '');
  });
}

/** Start the binary without waiting (for kill -9 tests). */
export function cliAsync(args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function errorCode(stderr: string): string | undefined {
  const m = /error\[([A-Z_]+)\]/.exec(stderr) ?? /"code":"([A-Z_]+)"/.exec(stderr);
  return m?.[1];
}

export function writeNdjson(path: string, docs: Iterable<unknown>): void {
  const lines: string[] = [];
  for (const d of docs) lines.push(JSON.stringify(d));
  writeFileSync(path, `${lines.join('\n')}\n`);
}

export function datasetFile(dir: string, o: DatasetOptions, name = 'data.ndjson'): string {
  const p = join(dir, name);
  writeNdjson(p, generateDocs(o));
  return p;
}

/** Parse NDJSON text into objects. */
export function ndjson(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Export lines keyed by id JSON, for set comparisons. */
export async function exportMap(dataDir: string, ns: string): Promise<Map<string, string>> {
  const r = await cli(['-d', dataDir, 'export', ns]);
  if (r.code !== 0) throw new Error(`export failed: ${r.stderr}`);
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const id = JSON.stringify((JSON.parse(line) as { id: unknown }).id);
    if (m.has(id)) throw new Error(`id ${id} exported twice`);
    m.set(id, line);
  }
  return m;
}
