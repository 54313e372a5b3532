/**
 * Loading a package's exported CommonJS file without Node's package-exports resolver (see
 * requirePackageExport). Not engine I/O: this reads a dependency's package.json, never data.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const exportMaps = new Map<string, { root: string; exports: Record<string, unknown> } | null>();

/**
 * `require(`${pkg}/${subpath}`)` for the @orama packages, without Node's package-exports resolver: its
 * first use loads the ESM resolution modules and costs ~22 M instructions (about 3 ms) of a cold CJK
 * query (callgrind, `require('@orama/stopwords/mandarin')` against the file's path). This reads the
 * package's exports map itself and takes the entry's `require` target when it is a plain file; for
 * anything else it asks Node, which stays the authority.
 */
export function requirePackageExport(requireHere: NodeJS.Require, pkg: string, subpath: string): unknown {
  let map = exportMaps.get(pkg);
  if (map === undefined) {
    map = null;
    for (const dir of requireHere.resolve.paths(pkg) ?? []) {
      const root = join(dir, pkg);
      let text: string;
      try {
        text = readFileSync(join(root, 'package.json'), 'utf8');
      } catch {
        continue; // not in this node_modules: Node would look in the next one too
      }
      const exports = (JSON.parse(text) as { exports?: unknown }).exports;
      map = exports !== null && typeof exports === 'object' ? { root, exports: exports as Record<string, unknown> } : null;
      break;
    }
    exportMaps.set(pkg, map);
  }
  const entry = map?.exports[`./${subpath}`];
  const target = typeof entry === 'string' ? entry : entry !== null && typeof entry === 'object' ? (entry as { require?: unknown }).require : undefined;
  if (map && typeof target === 'string' && target.startsWith('./') && target.endsWith('.cjs')) return requireHere(join(map.root, target));
  return requireHere(`${pkg}/${subpath}`);
}
