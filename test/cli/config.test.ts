/**
 * Defaults from configuration: the user's config.toml, the data directory's elacsym.toml, ELACSYM_*
 * variables and flags, in that order of increasing precedence; bad files are USAGE errors naming the file,
 * line and key; health --json shows every effective value with its source.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, lineOf } from '../../src/cli/config.js';
import { DEAD_RATIO, MAX_SEGMENTS, TIER_BASE_DOCS } from '../../src/store/compact.js';
import { cleanupTmp, cli, errorCode, ndjson, tmpDir, writeNdjson } from '../helpers/cli.js';

afterAll(cleanupTmp);

const doc = (i: number) => ({ id: i, vector: [i, 1], attributes: { title: `t ${i}` } });

/** A data dir with namespace docs of `segments` small segments, and an empty user config home. */
async function setup(segments = 3) {
  const root = tmpDir();
  const d = join(root, 'data');
  const xdg = join(root, 'xdg');
  mkdirSync(join(xdg, 'elacsym'), { recursive: true });
  const env = { XDG_CONFIG_HOME: xdg };
  expect((await cli(['-d', d, 'init', 'docs', '--dim', '2'], { env })).code).toBe(0);
  for (let s = 0; s < segments; s++) {
    const f = join(root, `s${s}.ndjson`);
    writeNdjson(f, Array.from({ length: 10 }, (_, k) => doc(s * 10 + k)));
    expect((await cli(['-d', d, 'import', 'docs', f], { env })).code).toBe(0);
  }
  return { root, d, env, user: join(xdg, 'elacsym', 'config.toml'), local: join(d, 'elacsym.toml') };
}

const plan = async (d: string, env: Record<string, string>) => {
  const r = await cli(['-d', d, '--json', 'compact', 'docs', '--if-needed', '--dry-run'], { env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { nothing_to_do: boolean; reason: string[] };
};

describe('configuration', () => {
  it('built-in defaults are the engine constants', () => {
    expect(CONFIG_KEYS['compaction.max_segments'].default).toBe(MAX_SEGMENTS);
    expect(CONFIG_KEYS['compaction.min_segment_size'].default).toBe(TIER_BASE_DOCS);
    expect(CONFIG_KEYS['compaction.dead_ratio'].default).toBe(DEAD_RATIO);
  });

  it('compaction thresholds: user file < data-dir file < environment', async () => {
    const { d, env, user, local } = await setup(3);
    expect((await plan(d, env)).nothing_to_do).toBe(true); // 3 segments of 10 docs: below every default threshold
    writeFileSync(user, '[compaction]\nmax_segments = 2\n');
    const p = await plan(d, env);
    expect(p.nothing_to_do).toBe(false);
    expect(p.reason).toContain('3 segments > 2');
    writeFileSync(local, '# this data directory\n[compaction]\nmax_segments = 10\n');
    expect((await plan(d, env)).nothing_to_do).toBe(true); // the data dir's file overrides the user's
    expect((await plan(d, { ...env, ELACSYM_COMPACTION_MAX_SEGMENTS: '1' })).reason).toContain('3 segments > 1');
  });

  it('min_segment_size sets the size tiers that --if-needed merges', async () => {
    const { root, d, env, local } = await setup(3);
    const f = join(root, 'big.ndjson');
    writeNdjson(f, Array.from({ length: 40 }, (_, k) => doc(100 + k)));
    expect((await cli(['-d', d, 'import', 'docs', f], { env })).code).toBe(0);
    // Segments of 10, 10, 10 and 40 docs: with 1000-doc tiers all four are tier 0 (4 >= fan-out 4: merge);
    // with 10-doc tiers the 40-doc one is tier 1 and tier 0 holds only three.
    const p = await plan(d, env);
    expect(p.reason).toContain('tier 0 holds 4 segments >= 4');
    writeFileSync(local, '[compaction]\nmin_segment_size = 10\n');
    expect((await plan(d, env)).nothing_to_do).toBe(true);
  });

  it('health --json and describe --json show the effective values with their sources', async () => {
    const { d, env, user, local } = await setup(1);
    writeFileSync(user, '[import]\nbatch_size = 500\nsegment_docs = 9000\n');
    writeFileSync(local, '[import]\n\nbatch_size = 1000\n[storage]\nendpoint = "s3://bucket/prefix"\n');
    const r = await cli(['-d', d, '--json', 'health'], { env: { ...env, ELACSYM_OUTPUT_FORMAT: 'ndjson' } });
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout).config;
    expect(c['import.batch_size']).toEqual({ value: 1000, source: 'data-dir', origin: `${local}:3` });
    expect(c['import.segment_docs']).toEqual({ value: 9000, source: 'user', origin: `${user}:3` });
    expect(c['output.format']).toEqual({ value: 'ndjson', source: 'env', origin: 'ELACSYM_OUTPUT_FORMAT' });
    expect(c['compaction.max_segments']).toEqual({ value: MAX_SEGMENTS, source: 'default' });
    expect(c['storage.endpoint'].value).toBe('s3://bucket/prefix');
    const info = JSON.parse((await cli(['-d', d, '--json', 'describe', 'docs'], { env })).stdout);
    expect(info.config['import.batch_size'].value).toBe(1000);
  });

  it('import batch size: file < environment < flag', async () => {
    const { root, d, env, local } = await setup(0);
    const f = join(root, 'in.ndjson');
    writeNdjson(f, Array.from({ length: 60 }, (_, k) => doc(k)));
    const batches = async (extra: string[], e: Record<string, string>) => {
      const r = await cli(['-d', d, '--json', 'import', 'docs', f, ...extra], { env: e });
      expect(r.code, r.stderr).toBe(0);
      return [...new Set(ndjson(r.stderr.split('\n').filter((l) => l.startsWith('{"event":"committed"')).join('\n')).map((e) => e.documents))];
    };
    writeFileSync(local, '[import]\nbatch_size = 20\n');
    expect(await batches([], env)).toEqual([20, 40, 60]);
    expect(await batches([], { ...env, ELACSYM_IMPORT_BATCH_SIZE: '30' })).toEqual([30, 60]);
    expect(await batches(['--batch-size', '60'], { ...env, ELACSYM_IMPORT_BATCH_SIZE: '30' })).toEqual([60]);
  });

  it('output format: the configured one unless --format or --json is given', async () => {
    const { d, env, user } = await setup(1);
    writeFileSync(user, '[output]\nformat = "ndjson"\n');
    const r = await cli(['-d', d, 'query', 'docs', '--top-k', '3'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(ndjson(r.stdout).length).toBe(3); // one hit per line
    const j = await cli(['-d', d, 'query', 'docs', '--top-k', '3', '--format', 'json'], { env });
    expect(JSON.parse(j.stdout).results.length).toBe(3);
    // the listing mode of query too
    const l = await cli(['-d', d, 'query', 'docs', '--sort', 'title', '--limit', '2'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(ndjson(l.stdout).map((x) => x.id)).toEqual([0, 1]);
  });

  it('unknown keys, wrong types, bad TOML and bad variables are USAGE errors naming the file, line and key', async () => {
    const { d, env, local } = await setup(0);
    const cases: [string, RegExp][] = [
      ['[compaction]\nmax_segments = 4\nmax_segmnets = 5\n', /elacsym\.toml:3: compaction\.max_segmnets: unknown key/],
      ['[output]\nformat = 3\n', /elacsym\.toml:2: output\.format: expected a string/],
      ['[output]\nformat = "yaml"\n', /elacsym\.toml:2: output\.format: expected one of json, ndjson, table/],
      ['\n[compaction]\nmax_segments = 1.5\n', /elacsym\.toml:3: compaction\.max_segments: expected an integer/],
      ['[backup]\nx = 1\n', /elacsym\.toml:1: backup: unknown section/],
      ['[import\nbatch_size = 1\n', /elacsym\.toml:1: not valid TOML/],
    ['[import]\nbatch_size = 5\n\ncompaction = { max_segmnets = 2 }\n', /elacsym\.toml:4: import\.compaction: unknown key/],
    ['\ncompaction = { max_segments = "2" }\n', /elacsym\.toml:2: compaction\.max_segments: expected an integer, got string/],
    ];
    for (const [text, re] of cases) {
      writeFileSync(local, text);
      const r = await cli(['-d', d, 'health'], { env });
      expect(r.code, text).toBe(2);
      expect(errorCode(r.stderr)).toBe('USAGE');
      expect(r.stderr).toMatch(re);
    }
    writeFileSync(local, '');
    const bad = await cli(['-d', d, 'import', 'docs', '-'], { env: { ...env, ELACSYM_IMPORT_BATCH_SIZE: 'many' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ELACSYM_IMPORT_BATCH_SIZE');
    const typo = await cli(['-d', d, '--json', 'health'], { env: { ...env, ELACSYM_COMPACTION_MAX_SEGMENT: '3' } });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('ELACSYM_COMPACTION_MAX_SEGMENT');
  });

  it('the TOML parser is loaded only when a configuration file exists (a cold query does not pay for it)', async () => {
    const { d, env, local } = await setup(1);
    // NODE_DEBUG=module makes Node log every module it loads on stderr.
    const loads = async () => (await cli(['-d', d, 'query', 'docs', '--top-k', '1'], { env: { ...env, NODE_DEBUG: 'module' } })).stderr.includes('smol-toml');
    expect(await loads()).toBe(false);
    writeFileSync(local, '[output]\nformat = "json"\n');
    expect(await loads()).toBe(true);
  });

  it('lineOf finds keys under tables, dotted keys and quoted names', () => {
    const text = '# c\n[compaction]\nmax_segments = 1\n\n[ "output" ]\n"format" = "json"\nimport.batch_size = 3\n';
    expect(lineOf(text, 'compaction.max_segments')).toBe(3);
    expect(lineOf(text, 'output.format')).toBe(6);
    expect(lineOf(text, 'output.import.batch_size')).toBe(7);
    expect(lineOf(text, 'compaction')).toBe(2);
  });
});
