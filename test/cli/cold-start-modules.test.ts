/**
 * Cold start: a `query` loads nothing it does not use. Node's own modules are part of a cold query's cost
 * (each is compiled at first use), so the set a query loads is pinned here: commander's child_process,
 * perf_hooks (the first `performance.now()`), the ESM package-exports resolver (a `require` through an
 * `exports` map) and better-sqlite3's JavaScript files (bundled) must not come back unnoticed. This checks
 * what is loaded, not how long it takes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

let dir: string;
let report: string;
let preload: string;

beforeAll(async () => {
  dir = tmpDir();
  report = join(dir, 'modules.json');
  preload = join(dir, 'preload.cjs');
  // Runs before bin/elacsym; at exit it records Node's internal modules and the files `require` loaded.
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(process.env.MODULES_REPORT, JSON.stringify({ internal: process.moduleLoadList, files: Object.keys(require('node:module')._cache) })));\n`,
  );
  const schema = join(dir, 'schema.json');
  writeFileSync(schema, JSON.stringify({ attributes: { title: { type: 'string', full_text: { language: 'chinese' } }, body: { type: 'string', full_text: { language: 'english' } } } }));
  expect((await cli(['-d', join(dir, 'data'), 'init', 'ns', '--text-only', '--schema', schema])).code).toBe(0);
  const docs = ['我们正在构建向量数据库', '东京的天气很好', '数据库系统支持全文检索'].map((t, i) => JSON.stringify({ id: i, attributes: { title: t, body: `database number ${i}` } }));
  expect((await cli(['-d', join(dir, 'data'), 'import', 'ns', '-'], { input: `${docs.join('\n')}\n` })).code).toBe(0);
});
afterAll(cleanupTmp);

async function modulesOf(args: string[]): Promise<{ internal: string[]; files: string[] }> {
  const r = await cli(['-d', join(dir, 'data'), ...args], { env: { NODE_OPTIONS: `--require ${preload}`, MODULES_REPORT: report } });
  expect(r.code, r.stderr).toBe(0);
  const { readFileSync } = await import('node:fs');
  return JSON.parse(readFileSync(report, 'utf8')) as { internal: string[]; files: string[] };
}

describe('what a cold query loads', () => {
  for (const [kind, text, field] of [
    ['chinese', '数据库', 'title'],
    ['english', 'database', 'body'],
  ] as const) {
    it(`a ${kind} text query loads no child_process, perf_hooks, v8, tls, ESM resolver or better-sqlite3 files`, async () => {
      const { internal, files } = await modulesOf(['query', 'ns', '--text', text, '--fields', field, '--format', 'json']);
      // The check can fail: these are the names Node 20 gives the modules it loads.
      expect(internal).toContain('NativeModule fs');
      // tls: only an s3:// store over HTTPS needs it (cli/extra-ca.ts loads it when it does).
      for (const name of ['NativeModule child_process', 'NativeModule perf_hooks', 'NativeModule v8', 'NativeModule tls', 'NativeModule internal/modules/esm/resolve']) {
        expect(internal, name).not.toContain(name);
      }
      expect(files.filter((f) => /better-sqlite3[/\\]lib[/\\]/.test(f))).toEqual([]);
      expect(files.filter((f) => /[/\\]bindings[/\\]/.test(f))).toEqual([]);
    });
  }
});
