/**
 * A signal stops a command that is waiting — for another writer's lock or on a quiet stdin — before it
 * does anything: `drop --wait` drops nothing, `delete --ids-file -` deletes nothing (exit 130). Also:
 * damaged manifest pages are CORRUPT_MANIFEST for every command, never INTERNAL. Synchronised on events
 * (stderr lines, the kernel's record of installed signal handlers), never on sleeps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanupTmp, cli, errorCode, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

function start(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  child.stdout!.resume();
  const exited = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig === 'SIGTERM' ? 143 : 1))));
  return { child, stderr: () => err, exited };
}

/** Resolves when `cond` holds, re-checking on every stderr chunk of `child` (or its exit). */
function when(child: ChildProcess, cond: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) {
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.on('close', () => (cond() ? resolve() : reject(new Error('exited before the event'))));
    check();
  });
}

async function ns(): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'k', '--dim', '2'])).code).toBe(0);
  expect((await cli(['-d', d, 'import', 'k', '-'], { input: '{"id":1,"vector":[1,0]}\n{"id":2,"vector":[0,1]}\n' })).code).toBe(0);
  return d;
}

describe('a signal while waiting does nothing destructive', () => {
  it('drop --wait interrupted while another writer holds the lock exits 130 and drops nothing', async () => {
    const d = await ns();
    const holder = start(['-d', d, '--json', 'import', 'k', '-', '--batch-size', '1']);
    holder.child.stdin!.write('{"id":3,"vector":[1,1]}\n');
    await when(holder.child, () => holder.stderr().includes('"event":"committed"'));
    const dropper = start(['-d', d, '--json', 'drop', 'k', '--yes', '--wait', '600']);
    await when(dropper.child, () => dropper.stderr().includes('"event":"waiting"'));
    dropper.child.kill('SIGTERM');
    expect(await dropper.exited).toBe(130);
    expect(errorCode(dropper.stderr())).toBe('INTERRUPTED');
    holder.child.stdin!.end();
    expect(await holder.exited).toBe(0);
    expect(ndjson((await cli(['-d', d, '--json', 'ls'])).stdout).map((r) => [r.namespace, r.documents])).toEqual([['k', 3]]);
  });

  it('delete --ids-file - interrupted on a quiet stdin exits 130 and deletes nothing', async () => {
    const d = await ns();
    const del = start(['-d', d, '--json', 'delete', 'k', '--ids-file', '-']);
    del.child.stdin!.write('1\n'); // stdin stays open: the command is reading
    await when(del.child, () => del.stderr().includes('"event":"reading"'));
    del.child.kill('SIGTERM');
    expect(await del.exited).toBe(130);
    expect((await cli(['-d', d, 'count', 'k'])).stdout).toBe('2\n');
  });
});

describe('damaged manifest pages', () => {
  it('are CORRUPT_MANIFEST (exit 5) for health, queries, counts, exports and writers, never INTERNAL', async () => {
    const d = await ns();
    const p = join(d, 'k', 'manifest.db');
    const b = readFileSync(p);
    for (let i = 8192; i < b.length; i++) b[i] ^= 0x55; // every page after the first two
    writeFileSync(p, b);
    const h = await cli(['-d', d, '--json', 'health', 'k', '--deep']);
    expect(h.code).toBe(5);
    expect(JSON.parse(h.stdout).namespaces[0].status).toBe('corrupt');
    for (const args of [['query', 'k', '--vector', '[1,0]'], ['count', 'k'], ['export', 'k'], ['get', 'k', '1']]) {
      const r = await cli(['-d', d, '--json', ...args]);
      expect(r.code, args.join(' ')).toBe(5);
      expect(errorCode(r.stderr), args.join(' ')).toBe('CORRUPT_MANIFEST');
    }
    const w = await cli(['-d', d, '--json', 'import', 'k', '-'], { input: '{"id":9,"vector":[1,0]}\n' });
    expect(w.code).toBe(5);
    expect(errorCode(w.stderr)).toBe('CORRUPT_MANIFEST');
  });
});

describe('listing names are data and must exist', () => {
  it('--include-attributes keeps __proto__; --sort by an unknown name is INVALID_QUERY with a suggestion', async () => {
    const d = join(tmpDir(), 'data');
    expect((await cli(['-d', d, 'init', 'p', '--text-only'])).code).toBe(0);
    expect((await cli(['-d', d, 'import', 'p', '-'], { input: '{"id":1,"attributes":{"__proto__":"evil","toString":5,"year":2020}}\n' })).code).toBe(0);
    const r = await cli(['-d', d, 'query', 'p', '--limit', '5', '--include-attributes', '__proto__,toString', '--format', 'ndjson']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('{"id":1,"attributes":{"__proto__":"evil","toString":5}}');
    const bad = await cli(['-d', d, '--json', 'query', 'p', '--sort', 'Year:desc']);
    expect(bad.code).toBe(2);
    expect(errorCode(bad.stderr)).toBe('INVALID_QUERY');
    expect(bad.stderr).toContain('did you mean');
  });
});
