/**
 * The server's own metrics (without a server): the exposition parses strictly and the dashboard reads only
 * what exists; and the health series of a real server over a damaged namespace.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerMetrics } from '../../src/server/metrics.js';
import { cleanupTmp, cli, ROOT, tmpDir } from '../helpers/cli.js';
import { json, parsePrometheus, serve } from './serve-helpers.js';

afterAll(() => cleanupTmp());

describe('server metrics', () => {
  const m = new ServerMetrics();
  m.observe('/v1/namespaces/:ns/query', 'POST', 200, 0.003, 'vector');
  m.observe('/v1/namespaces/:ns/query', 'POST', 400, 0.0001, 'invalid', 'INVALID_QUERY');
  m.observe('/v1/namespaces/:ns/query', 'POST', 200, 42, 'hybrid');
  const text = m.toText({ workers: 2, snapshots: [{ worker: '0', namespace: 'we"ird', generation: 3, refresh_age_s: 0.25, journal_seq: 7 }] });
  const fams = parsePrometheus(text);

  it('histograms are cumulative, with +Inf equal to the count (values past the last bucket included)', () => {
    const h = fams.get('elacsym_http_request_duration_seconds')!.samples;
    const hybridInf = h.find((s) => s.labels.kind === 'hybrid' && s.labels.le === '+Inf')!;
    expect(hybridInf.value).toBe(1);
    expect(h.find((s) => s.labels.kind === 'hybrid' && s.labels.le === '30')!.value).toBe(0);
    expect(fams.get('elacsym_http_errors_total')!.samples).toEqual([{ name: 'elacsym_http_errors_total', labels: { code: 'INVALID_QUERY' }, value: 1 }]);
    expect(fams.get('elacsym_server_snapshot_generation')!.samples[0]!.labels.namespace).toBe('we\\"ird');
  });

  it('the Grafana dashboard reads only server metrics that exist', () => {
    const dash = readFileSync(join(ROOT, 'grafana', 'elacsym-dashboard.json'), 'utf8');
    const used = new Set((dash.match(/elacsym_(?:http|server)_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    expect(used.size).toBeGreaterThanOrEqual(4);
    for (const n of used) expect(fams.has(n), n).toBe(true);
  });
});

describe('health series of a namespace that could not be checked', () => {
  it('/health lists it under unchecked, /metrics keeps its status (2 for damage) with the error code, /v1/namespaces lists the others', async () => {
    const d = join(tmpDir(), 'data');
    for (const ns of ['ok', 'lost']) expect((await cli(['-d', d, 'init', ns, '--text-only'])).code).toBe(0);
    for (const f of readdirSync(join(d, 'lost'))) if (f.startsWith('manifest.db')) rmSync(join(d, 'lost', f));
    const s = await serve(d, ['--workers', '1']);
    try {
      const h = await fetch(`${s.url}/health`);
      expect(h.status).toBe(503);
      const hb = await json(h);
      expect(hb.status).toBe('corrupt');
      expect(hb.unchecked).toEqual([expect.objectContaining({ namespace: 'lost', code: 'CORRUPT_MANIFEST' })]);
      const fams = parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
      const status = fams.get('elacsym_health_status')!.samples.map((x) => [x.labels.namespace, x.value]);
      expect(status).toEqual([['ok', 0], ['lost', 2]]);
      expect(fams.get('elacsym_health_check_errors')!.samples).toEqual([{ name: 'elacsym_health_check_errors', labels: { namespace: 'lost', code: 'CORRUPT_MANIFEST' }, value: 1 }]);
      // the namespace list answers for the others (it was 500 for the whole list)
      const l = await fetch(`${s.url}/v1/namespaces`);
      expect(l.status).toBe(200);
      const lb = await json(l);
      expect(lb.namespaces.map((n: { namespace: string }) => n.namespace)).toEqual(['ok']);
      expect(lb.unreadable).toEqual([expect.objectContaining({ namespace: 'lost', code: 'CORRUPT_MANIFEST' })]);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});
