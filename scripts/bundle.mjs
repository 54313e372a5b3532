// Bundles the CLI into dist/bundle/ (ESM with code splitting): one module graph resolved at build time
// instead of ~40 files resolved at every start-up. node_modules stay external and are loaded lazily
// where the source uses dynamic import(). Run by `npm run build` after tsc (which type-checks and emits
// dist/ for tests and the library API).
import { build } from 'esbuild';

await build({
  entryPoints: { main: 'src/cli/main.ts', 'ivf-worker': 'src/store/ivf-worker.ts' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  jsx: 'automatic',
  sourcemap: false,
  logLevel: 'warning',
});
