import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type NamespaceHealth, toPrometheus } from '../../../src/store/health.js';
import { ROOT } from '../../helpers/cli.js';

const sample: NamespaceHealth = {
  namespace: 'we"ird\\ns',
  status: 'degraded',
  format_version: 1,
  documents: 10,
  segments: 2,
  segment_documents: 12,
  deleted_rows: 2,
  journal: { pending_entries: 1, pending_documents: 3, pending_bytes: 100, oldest_pending_age_s: 5, quarantined: 0, corrupt: 0 },
  index_coverage: { vector: { indexed: 7, journal_only: 3, ratio: 0.7 } },
  last_compaction_at: null,
  last_compaction_age_s: null,
  orphan_files: ['x'],
  disk_bytes: 1234,
  manifest_bytes: 4096,
  deep: false,
  problems: [{ severity: 'degraded', code: 'ORPHAN_FILES', message: 'x' }],
};

describe('prometheus exposition', () => {
  const text = toPrometheus([sample]);

  it('escapes label values and gives every metric HELP and TYPE', () => {
    expect(text).toContain('elacsym_documents{namespace="we\\"ird\\\\ns"} 10');
    expect(text).toContain('elacsym_index_coverage_ratio{namespace="we\\"ird\\\\ns",index="vector"} 0.7');
    const names = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    for (const n of names) {
      expect(text).toContain(`# HELP ${n} `);
      expect(text).toContain(`# TYPE ${n} gauge`);
    }
  });

  it('the Grafana dashboard only reads metrics that exist', () => {
    const dash = readFileSync(join(ROOT, 'grafana', 'elacsym-dashboard.json'), 'utf8');
    const used = new Set(dash.match(/elacsym_[a-z_]+/g));
    expect(used.size).toBeGreaterThan(5);
    // elacsym_http_* / elacsym_server_* come from `elacsym serve` (checked in test/server/metrics.test.ts)
    for (const m of used) if (!/^elacsym_(http|server)_/.test(m)) expect(text, m).toContain(`# TYPE ${m} gauge`);
  });
});
