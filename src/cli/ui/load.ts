/**
 * Loads an ink screen (an ES module: ink is ESM-only) from wherever this build put it:
 * dist/ui/<name>.mjs beside the CLI bundle, or dist/cli/ui/<name>.js beside tsc's output.
 * The CLI bundle is compiled by bin/elacsym through vm.Script, where a bare import() has no module
 * loader; bin/elacsym lends one as globalThis.__elacsymImport.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function loadScreen<T>(name: string): Promise<T> {
  // NO_COLOR (https://no-color.org: set and not empty) turns colours off. ink styles text through chalk,
  // which does not read NO_COLOR but does read FORCE_COLOR when it is first loaded: 0 means no colour.
  if (process.env.NO_COLOR) process.env.FORCE_COLOR = '0';
  const here = import.meta.url;
  const url = [new URL(`./ui/${name}.mjs`, here), new URL(`./${name}.js`, here), new URL(`../ui/${name}.js`, here)].find((u) =>
    existsSync(fileURLToPath(u)),
  );
  if (!url) throw new Error(`ink screen ${name} is not built; run npm run build`);
  const imp = (globalThis as { __elacsymImport?: (s: string) => Promise<unknown> }).__elacsymImport ?? ((s: string) => import(s));
  return (await imp(url.href)) as T;
}
