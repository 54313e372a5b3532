/**
 * Import rules that keep the core a library: layers import downward only, only cli/ prints or exits,
 * each heavy dependency has one importer, and `natural` is never imported by its index.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const SRC = join(ROOT, 'src');
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(f) ? [p] : [];
  });
}
const all = files(SRC).map((p) => ({ path: relative(SRC, p), text: readFileSync(p, 'utf8') }));
const layer = (p: string) => (p.includes('/') ? p.split('/')[0]! : p.replace(/\.tsx?$/, ''));
const imports = (text: string) => [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);

/** Which layers each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  util: ['errors'],
  model: ['errors', 'util'],
  index: ['errors', 'util', 'model'],
  storage: ['errors', 'util', 'model', 'objstore'],
  objstore: ['errors', 'util'],
  query: ['errors', 'util', 'model', 'index'],
  store: ['errors', 'util', 'model', 'index', 'storage', 'query', 'objstore'],
  bench: ['errors', 'util', 'model', 'index', 'storage', 'query', 'store'],
  elacsym: ['errors', 'util', 'model', 'store'],
  server: ['errors', 'util', 'model', 'index', 'storage', 'query', 'store', 'objstore'],
  cli: ['errors', 'util', 'model', 'index', 'storage', 'query', 'store', 'bench', 'elacsym', 'server', 'objstore'],
};

describe('architecture', () => {
  it('layers import downward only', () => {
    const bad: string[] = [];
    let seen = 0;
    for (const f of all) {
      const from = layer(f.path);
      for (const spec of imports(f.text)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(SRC, join(SRC, f.path, '..', spec)).replace(/\.js$/, '.ts');
        const to = layer(target);
        seen++;
        if (to !== from && !ALLOWED[from]?.includes(to)) bad.push(`${f.path} imports ${spec} (${from} -> ${to})`);
      }
    }
    expect(seen).toBeGreaterThan(100); // the scan really sees the import lines
    expect(bad).toEqual([]);
  });

  it('only cli/ prints or exits; only util/failpoint.ts and cli/ read the environment', () => {
    const bad: string[] = [];
    for (const f of all) {
      if (f.path.startsWith('cli/')) continue;
      if (/console\.(log|error|warn)|process\.(stdout|stderr)\.write|process\.exit\(/.test(f.text)) bad.push(`${f.path} prints or exits`);
      if (/process\.env\b/.test(f.text) && f.path !== 'util/failpoint.ts' && f.path !== 'bench/run.ts') bad.push(`${f.path} reads process.env`);
    }
    expect(bad).toEqual([]);
  });

  it('segment files are read, written, listed and removed only through the storage port (storage/segment-store.ts)', () => {
    // The engine (index/, query/, store/ except the local-only backup, the data-directory layout, and publish,
    // which reads a local backup snapshot and the reader's state cache, and checkout, which builds a local working
    // copy of a published namespace, and shards, which uploads a working copy's new segment files and fetches
    // staged ones into the job's working copy) never opens, reads, writes, lists or
    // removes files itself: a second SegmentStore (object storage) must be able to hold every segment
    // without touching it.
    const engine = all.filter((f) => /^(index|query|store)\//.test(f.path) && !['store/backup.ts', 'store/data-dir.ts', 'store/published.ts', 'store/checkout.ts', 'store/shards.ts'].includes(f.path));
    expect(engine.length).toBeGreaterThan(20);
    const io = /\b(openSync|readSync|readFileSync|writeFileSync|writeSync|readdirSync|rmSync|unlinkSync|renameSync|createReadStream|createWriteStream|writeFileAtomic|FileSource)\b/;
    expect(engine.filter((f) => io.test(f.text)).map((f) => f.path)).toEqual([]);
  });

  it('each heavy dependency has one importer, and natural is imported by submodule only', () => {
    const importers = (pkg: RegExp) => all.filter((f) => imports(f.text).some((s) => pkg.test(s))).map((f) => f.path);
    expect(importers(/^better-sqlite3$/)).toEqual(['storage/sqlite.ts']);
    expect(importers(/^(parquet-wasm|apache-arrow)$/)).toEqual(['storage/parquet.ts']);
    expect(importers(/^natural$/)).toEqual([]);
    expect(importers(/^@aws-sdk\//)).toEqual(['objstore/s3.ts']);
    // The SDK is loaded only by a dynamic import of objstore/s3.ts (commands that never touch S3 never load it).
    // `import type` is erased at compile time (verbatimModuleSyntax), so it loads nothing and is allowed.
    const staticS3 = all.filter((f) => /^import\s(?!type\s)[^;]*from\s+'[^']*\/s3\.js'/m.test(f.text)).map((f) => f.path);
    expect(staticS3).toEqual([]);
    expect(importers(/^ink$/).every((p) => p.startsWith('cli/ui/'))).toBe(true);
  });
});
