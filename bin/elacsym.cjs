#!/usr/bin/env node
// Loads dist/elacsym.cjs through V8's code cache (dist/elacsym.cjs.cache, written at build time): a cold
// start compiles almost nothing. Without a usable cache it simply compiles the bundle.
// CommonJS on purpose (bin/package.json): the ESM loader's own start-up is measurable in a cold query.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, '..', 'dist', 'elacsym.cjs');
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
// latin1, not utf8: the build keeps the bundle ASCII (scripts/bundle.mjs), where both decode alike, and
// latin1 decoding is the cheaper one (~4 ms less for 1 MB here).
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'latin1')), { filename: file, cachedData });
// A real module's import(), lent to the bundle for the ES modules it loads (ink screens).
globalThis.__elacsymImport = (specifier) => import(specifier);
const mod = { exports: {} };
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
mod.exports.main(process.argv).then(
  (code) => {
    process.exitCode = code;
    if (process.env.ELACSYM_WRITE_CODE_CACHE === '1') {
      const tmp = `${cacheFile}.${process.pid}`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    }
  },
  (e) => {
    process.stderr.write(`elacsym: internal error: ${(e && e.stack) || e}\n`);
    process.exitCode = 1;
  },
);
