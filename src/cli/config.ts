/**
 * Defaults from configuration files and the environment.
 *
 * Precedence, highest first (docs/reference.md "Configuration", man elacsym(1) FILES):
 *   1. command-line flags
 *   2. ELACSYM_<SECTION>_<KEY> environment variables (e.g. ELACSYM_COMPACTION_MAX_SEGMENTS)
 *   3. the data directory's own <data-dir>/elacsym.toml
 *   4. the user's $XDG_CONFIG_HOME/elacsym/config.toml (default ~/.config/elacsym/config.toml)
 *   5. built-in defaults
 *
 * The TOML parser is loaded only when a file exists, so a cold `elacsym query` without configuration pays
 * two stat calls. Unknown sections or keys and values of the wrong type are USAGE errors naming the file,
 * the line and the key: a typo must not silently fall back to a default.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ElacsymError } from '../errors.js';

export type ConfigSource = 'default' | 'user' | 'data-dir' | 'env' | 'flag';

export interface Setting<T> {
  value: T;
  source: ConfigSource;
  /** Where it came from: "FILE:LINE", an environment variable, or a flag. */
  origin?: string;
}

interface KeySpec {
  type: 'int' | 'number' | 'string';
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** Built-in default; null = decided at run time (e.g. output format: table on a terminal, else JSON). */
  default: number | string | null;
  doc: string;
}

/**
 * Every key. Compaction defaults mirror src/store/compact.ts (MAX_SEGMENTS, TIER_BASE_DOCS, DEAD_RATIO) and
 * import defaults src/store/ingest.ts; test/cli/config.test.ts checks that they agree. They are repeated
 * here so that loading configuration never loads the engine.
 */
export const CONFIG_KEYS = {
  'compaction.max_segments': { type: 'int', min: 1, max: 1_000_000, default: 16, doc: 'compact --if-needed merges everything past this many segments' },
  'compaction.min_segment_size': {
    type: 'int',
    min: 1,
    max: 1_000_000_000,
    default: 1000,
    doc: 'live documents of the smallest size tier (tiers grow by 4x); segments of a tier are merged once 4 of them exist',
  },
  'compaction.dead_ratio': { type: 'number', min: 0.01, max: 1, default: 0.2, doc: 'compact --if-needed rewrites a segment once this share of its rows is dead' },
  'output.format': { type: 'string', choices: ['json', 'ndjson', 'table'], default: null, doc: 'query output format (default: table on a terminal, else json)' },
  'import.batch_size': { type: 'int', min: 1, max: 1_000_000, default: 8192, doc: 'documents per durable journal batch (import --batch-size)' },
  'import.segment_docs': { type: 'int', min: 1, max: 100_000_000, default: 100_000, doc: 'documents per segment flush (import --segment-docs)' },
  'storage.endpoint': { type: 'string', default: null, doc: 'reserved for an object-storage endpoint; not used yet' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export type EffectiveConfig = { [K in ConfigKey]: Setting<number | string | null> };

export const envName = (key: string) => `ELACSYM_${key.replace('.', '_').toUpperCase()}`;

export function configFiles(dataDir: string, env: NodeJS.ProcessEnv = process.env): { user: string; dataDir: string } {
  const xdg = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return { user: join(xdg, 'elacsym', 'config.toml'), dataDir: join(dataDir, 'elacsym.toml') };
}

/** Check a value against its key's spec; returns a message or null. */
function checkValue(spec: KeySpec, v: unknown): string | null {
  if (spec.type === 'string') {
    if (typeof v !== 'string') return `expected a string, got ${describe(v)}`;
    if (spec.choices && !spec.choices.includes(v)) return `expected one of ${spec.choices.join(', ')}, got ${JSON.stringify(v)}`;
    return null;
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return `expected ${spec.type === 'int' ? 'an integer' : 'a number'}, got ${describe(v)}`;
  if (spec.type === 'int' && !Number.isInteger(n)) return `expected an integer, got ${n}`;
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return `expected a value between ${spec.min} and ${spec.max}, got ${n}`;
  return null;
}

const describe = (v: unknown) => (Array.isArray(v) ? 'an array' : v instanceof Date ? 'a date' : v === null ? 'null' : typeof v === 'object' ? 'a table' : `${typeof v} ${JSON.stringify(v)}`);

/** The 1-based line that sets `key` (dotted) in TOML text: best effort, 0 when not found. */
export function lineOf(text: string, key: string): number {
  const lines = text.split(/\r?\n/);
  const unq = (s: string) => s.trim().replace(/^["']|["']$/g, '');
  let table = '';
  let tableLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.replace(/#.*$/, '');
    const h = /^\s*\[\s*([^\]]+?)\s*\]\s*$/.exec(l);
    if (h) {
      table = h[1]!.split('.').map(unq).join('.');
      if (table === key) tableLine = i + 1;
      continue;
    }
    const k = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/.exec(l);
    if (!k) continue;
    const full = [table, ...k[1]!.split('.').map(unq)].filter(Boolean).join('.');
    if (full === key) return i + 1;
  }
  // Not on a line of its own (an inline table, say): the line of its table or parent key.
  if (tableLine === 0 && key.includes('.')) return lineOf(text, key.slice(0, key.lastIndexOf('.')));
  return tableLine;
}

interface Loaded {
  values: Map<ConfigKey, { value: number | string; line: number }>;
}

let parser: ((text: string) => Record<string, unknown>) | null = null;

async function loadFile(path: string): Promise<Loaded> {
  const text = readFileSync(path, 'utf8');
  if (!parser) parser = (await import('smol-toml')).parse as unknown as (text: string) => Record<string, unknown>;
  let doc: Record<string, unknown>;
  try {
    doc = parser(text);
  } catch (e) {
    const line = (e as { line?: number }).line ?? 0;
    const msg = ((e as Error).message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ElacsymError('USAGE', `${path}:${line}: not valid TOML: ${msg}`, { hint: 'fix the configuration file (see man elacsym, FILES)', details: { path, line } });
  }
  const bad = (key: string, what: string): never => {
    const line = lineOf(text, key);
    throw new ElacsymError('USAGE', `${path}:${line}: ${key}: ${what}`, { hint: 'fix the configuration file (see man elacsym, FILES)', details: { path, line, field: key } });
  };
  const values = new Map<ConfigKey, { value: number | string; line: number }>();
  for (const [section, table] of Object.entries(doc)) {
    const sectionKnown = Object.keys(CONFIG_KEYS).some((k) => k.startsWith(`${section}.`));
    if (!sectionKnown) bad(section, `unknown section or key (known sections: ${[...new Set(Object.keys(CONFIG_KEYS).map((k) => k.split('.')[0]))].join(', ')})`);
    if (table === null || typeof table !== 'object' || Array.isArray(table) || table instanceof Date) bad(section, 'expected a table ([section])');
    for (const [name, v] of Object.entries(table as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      const spec = (CONFIG_KEYS as Record<string, KeySpec>)[key];
      if (!spec) bad(key, `unknown key (known keys of [${section}]: ${Object.keys(CONFIG_KEYS).filter((k) => k.startsWith(`${section}.`)).map((k) => k.split('.')[1]).join(', ')})`);
      const problem = checkValue(spec!, v);
      if (problem) bad(key, problem);
      values.set(key as ConfigKey, { value: typeof v === 'bigint' ? Number(v) : (v as number | string), line: lineOf(text, key) });
    }
  }
  return { values };
}

/**
 * The effective configuration for a data directory (flags are applied by each command on top, with
 * `withFlag`). Reads the environment given (process.env by default).
 */
/** One load per process and data directory: main validates it for every command, which then reads it. */
const loaded = new Map<string, Promise<EffectiveConfig>>();

export function loadConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<EffectiveConfig> {
  if (env !== process.env) return readConfig(dataDir, env);
  let p = loaded.get(dataDir);
  if (!p) loaded.set(dataDir, (p = readConfig(dataDir, env)));
  return p;
}

async function readConfig(dataDir: string, env: NodeJS.ProcessEnv): Promise<EffectiveConfig> {
  const cfg = {} as EffectiveConfig;
  for (const [k, spec] of Object.entries(CONFIG_KEYS) as [ConfigKey, KeySpec][]) cfg[k] = { value: spec.default, source: 'default' };
  const files = configFiles(dataDir, env);
  // Lower precedence first; each layer overwrites the one before.
  for (const [source, path] of [
    ['user', files.user],
    ['data-dir', files.dataDir],
  ] as const) {
    if (!existsSync(path)) continue;
    const { values } = await loadFile(path);
    for (const [k, { value, line }] of values) cfg[k] = { value, source, origin: `${path}:${line}` };
  }
  // A misspelt variable of a configuration section would otherwise be ignored without a word.
  const known = new Set(Object.keys(CONFIG_KEYS).map(envName));
  const sections = [...new Set(Object.keys(CONFIG_KEYS).map((k) => k.split('.')[0]!.toUpperCase()))];
  for (const name of Object.keys(env)) {
    if (!known.has(name) && sections.some((sct) => name.startsWith(`ELACSYM_${sct}_`))) {
      throw new ElacsymError('USAGE', `unknown environment variable ${name} (known: ${[...known].join(', ')})`, { hint: `fix or unset ${name}`, details: { field: name } });
    }
  }
  for (const [k, spec] of Object.entries(CONFIG_KEYS) as [ConfigKey, KeySpec][]) {
    const name = envName(k);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    // Decimal only, as on the command line: Number() would also take "0x10" or "1e1".
    const t = raw.trim();
    const decimal = /^-?(\d+(\.\d*)?|\.\d+)$/.test(t);
    const v = spec.type === 'string' ? raw : Number(t);
    const problem = spec.type !== 'string' && !decimal ? `expected a decimal ${spec.type === 'int' ? 'integer' : 'number'}, got ${JSON.stringify(raw)}` : checkValue(spec, v);
    if (problem) throw new ElacsymError('USAGE', `environment variable ${name}: ${problem}`, { hint: `fix or unset ${name}`, details: { field: name } });
    cfg[k] = { value: v, source: 'env', origin: name };
  }
  return cfg;
}

/** A command's flag wins over the configuration when the user typed it. */
export function withFlag<T>(setting: Setting<T>, explicit: boolean, flagValue: T, flag: string): Setting<T> {
  return explicit ? { value: flagValue, source: 'flag', origin: flag } : setting;
}

/** The configuration as health --json shows it: key -> {value, source, origin}. */
export function configReport(cfg: EffectiveConfig): Record<string, Setting<unknown>> {
  return { ...cfg };
}
