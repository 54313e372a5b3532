/**
 * `patch` (issue 13): attributes change, vectors stay, and it is as durable as import (fail points).
 * Every test spawns the real binary.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, errorCode, exportMap, ndjson, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const SCHEMA = JSON.stringify({ vector_dim: 2, vector_metric: 'l2', attributes: { title: { type: 'string', full_text: true }, price: { type: 'float' }, tags: { type: 'array<string>' } } });

async function ns(n = 20, extra: string[] = []): Promise<string> {
  const d = join(tmpDir(), 'data');
  expect((await cli(['-d', d, 'init', 'docs', '--schema', '-'], { input: SCHEMA })).code).toBe(0);
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, vector: [i, 0.5], attributes: { title: `doc ${i}`, price: i, tags: ['t'] } }));
  expect((await cli(['-d', d, 'import', 'docs', '-', ...extra], { input: `${lines.join('\n')}\n` })).code).toBe(0);
  return d;
}

const exported = async (d: string) => new Map([...(await exportMap(d, 'docs'))].map(([k, v]) => [Number(k), JSON.parse(v) as { id: number; vector?: number[]; attributes: Record<string, unknown> }]));

describe('patch', () => {
  it('changes only the given attributes, removes those set to null, and keeps the vector and the rest', async () => {
    const d = await ns();
    const r = await cli(['-d', d, '--json', 'patch', 'docs', '-'], { input: '{"id": 3, "attributes": {"price": 99.5, "tags": null}}\n{"id": 5, "attributes": {"title": "renamed"}}\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 2, updated: 2, inserted: 0, rejected: 0 });
    const m = await exported(d);
    expect(m.get(3)).toEqual({ id: 3, vector: [3, 0.5], attributes: { title: 'doc 3', price: 99.5 } });
    expect(m.get(5)).toEqual({ id: 5, vector: [5, 0.5], attributes: { title: 'renamed', price: 5, tags: ['t'] } });
    expect(m.get(4)).toEqual({ id: 4, vector: [4, 0.5], attributes: { title: 'doc 4', price: 4, tags: ['t'] } });
    expect(m.size).toBe(20);
    // the text index follows the patched text, and the vector search still finds the document
    const q = JSON.parse((await cli(['-d', d, 'query', 'docs', '--text', 'renamed', '--format', 'json'])).stdout);
    expect(q.results.map((x: { id: number }) => x.id)).toEqual([5]);
    const v = JSON.parse((await cli(['-d', d, 'query', 'docs', '--vector', '[3,0.5]', '-k', '1', '--format', 'json'])).stdout);
    expect(v.results[0]).toMatchObject({ id: 3, attributes: { price: 99.5 } });
  });

  it('applies several patches of one id in input order, across batches, on documents still in the journal', async () => {
    const d = await ns(10, ['--no-flush']);
    const lines = ['{"id":1,"attributes":{"price":10}}', '{"id":2,"attributes":{"price":20}}', '{"id":1,"attributes":{"title":"one"}}', '{"id":1,"attributes":{"price":11}}'];
    const r = await cli(['-d', d, 'patch', 'docs', '-', '--batch-size', '1'], { input: `${lines.join('\n')}\n` });
    expect(r.code, r.stderr).toBe(0);
    const m = await exported(d);
    expect(m.get(1)).toEqual({ id: 1, vector: [1, 0.5], attributes: { title: 'one', price: 11, tags: ['t'] } });
    expect(m.get(2)?.attributes.price).toBe(20);
  });

  it('rejects a missing id, a vector key and a type change, naming the line; with --on-error skip it applies the rest', async () => {
    const d = await ns();
    const bad = await cli(['-d', d, '--json', 'patch', 'docs', '-'], { input: '{"id":1,"attributes":{"price":2.5}}\n{"id":404,"attributes":{"price":1}}\n' });
    expect(bad.code).toBe(2);
    expect(errorCode(bad.stderr)).toBe('INVALID_DOCUMENT');
    expect(bad.stderr).toContain('line 2');
    expect((await exported(d)).get(1)?.attributes.price).toBe(1); // nothing after the last committed batch
    const dir = tmpDir();
    const rejects = join(dir, 'rejects.ndjson');
    const input = ['{"id":404,"attributes":{"price":1}}', '{"id":1,"vector":[0,0],"attributes":{}}', '{"id":2,"attributes":{"price":"cheap"}}', '{"id":3,"attributes":{"price":7}}'];
    const r = await cli(['-d', d, '--json', 'patch', 'docs', '-', '--on-error', 'skip', '--rejects', rejects], { input: `${input.join('\n')}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ committed: 1, rejected: 3 });
    const rej = ndjson(readFileSync(rejects, 'utf8'));
    expect(rej.map((x) => x.line).sort()).toEqual([1, 2, 3]); // shape errors when read, missing ids when their batch commits
    const m = await exported(d);
    expect(m.get(3)?.attributes.price).toBe(7);
    expect(m.get(2)?.attributes.price).toBe(2);
    expect(m.get(1)?.vector).toEqual([1, 0.5]);
  });

  it.each(['import:after-journal-commit', 'flush:after-index-write', 'flush:after-manifest-commit'])(
    'killed at %s: every acknowledged patch survives, whole batches only, and the namespace stays consistent',
    async (fp) => {
      const d = await ns(40);
      const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: i, attributes: { price: 1000 + i } }));
      const r = await cli(['-d', d, '--json', 'patch', 'docs', '-', '--batch-size', '10'], { input: `${lines.join('\n')}\n`, env: { ELACSYM_FAILPOINTS: fp } });
      expect(r.code).toBe(137);
      const acked = Math.max(0, ...ndjson(r.stderr.split('\n').filter((l) => l.startsWith('{"event":"committed"')).join('\n')).map((e) => Number(e.lines)));
      const m = await exported(d);
      expect(m.size).toBe(40);
      const patched = [...m.values()].filter((x) => x.attributes.price === 1000 + x.id).map((x) => x.id).sort((a, b) => a - b);
      expect(patched.length % 10).toBe(0); // whole batches
      expect(patched).toEqual(Array.from({ length: patched.length }, (_, i) => i));
      expect(patched.length).toBeGreaterThanOrEqual(acked);
      for (const x of m.values()) expect(x.vector).toEqual([x.id, 0.5]);
      // Healthy, or degraded only by the killed writer's orphan files (the next writer collects them) and,
      // when the kill left every live document's newest version in the journal, by INDEX_EMPTY: the
      // segment's rows are all superseded, so its indexes cover none of the live documents until a flush.
      const h = await cli(['-d', d, '--json', 'health', 'docs', '--deep']);
      const report = JSON.parse(h.stdout) as { namespaces: { documents: number; problems: { code: string }[] }[] };
      expect(report.namespaces[0]!.documents).toBe(40);
      expect(report.namespaces[0]!.problems.filter((p) => p.code !== 'ORPHAN_FILES' && p.code !== 'INDEX_EMPTY'), h.stdout).toEqual([]);
    },
  );
});
