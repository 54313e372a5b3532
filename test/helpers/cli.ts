import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDocs, type DatasetOptions } from '../../src/bench/dataset.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin', 'elacsym');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
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

/** Run the real binary. `env` is merged over a clean environment (no ELACSYM_* from the caller). */
export function cli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): RunResult {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ELACSYM_') && v !== undefined) env[k] = v;
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], {
    input: opts.input,
    env: { ...env, ...opts.env },
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return { code: r.status ?? (r.signal === 'SIGKILL' ? 137 : 1), stdout: r.stdout, stderr: r.stderr };
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
export function exportMap(dataDir: string, ns: string): Map<string, string> {
  const r = cli(['-d', dataDir, 'export', ns]);
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
