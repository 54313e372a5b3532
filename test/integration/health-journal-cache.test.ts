/**
 * A long-lived process (the server's /health and /metrics) remembers decoded journal entries between
 * checks. Whatever it remembers, every check must give what a fresh process computes: after more pending
 * writes, after a flush, and after the namespace is dropped and created again with the same seqs.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkNamespace, type NamespaceHealth } from '../../src/store/health.js';
import { cleanupTmp, cli, tmpDir } from '../helpers/cli.js';

afterAll(cleanupTmp);

const lines = (ids: (number | string)[], x = 1) => `${ids.map((id) => JSON.stringify({ id, vector: [x, 1] })).join('\n')}\n`;

/** The parts of a check that depend on the journal. */
const view = (h: NamespaceHealth) => ({ documents: h.documents, journal: { ...h.journal, oldest_pending_age_s: null }, coverage: h.index_coverage });

describe('health with remembered journal entries', () => {
  it('equals a check without them after every kind of change', async () => {
    const d = join(tmpDir(), 'data');
    const ns = join(d, 'ns');
    const run = async (args: string[], input?: string) => {
      const r = await cli(['-d', d, ...args], input === undefined ? {} : { input });
      expect(r.code, r.stderr).toBe(0);
    };
    const both = () => {
      const cached = view(checkNamespace(ns, 'ns', { cacheJournal: true }));
      const fresh = view(checkNamespace(ns, 'ns'));
      expect(cached).toEqual(fresh);
      return cached;
    };
    await run(['init', 'ns', '--dim', '2']);
    await run(['import', 'ns', '-'], lines([1, 2, 3]));
    await run(['import', 'ns', '-', '--no-flush'], lines([1, 4]));
    expect(both().documents).toBe(4);
    expect(both().documents).toBe(4); // the second check answers from what the first remembered
    await run(['import', 'ns', '-', '--no-flush'], lines([5]));
    expect(both().documents).toBe(5);
    await run(['wal', 'replay', 'ns']);
    expect(both()).toMatchObject({ documents: 5, journal: { pending_entries: 0 } });

    // Dropped and created again: the journal's seqs start over; other ids, other counts.
    await run(['drop', 'ns', '--yes']);
    await run(['init', 'ns', '--dim', '2']);
    await run(['import', 'ns', '-', '--no-flush'], lines(['a', 'b']));
    expect(both().documents).toBe(2);
    await run(['import', 'ns', '-', '--no-flush'], lines(['a'], 2));
    // (A writer first flushes what an earlier --no-flush import left pending.)
    expect(both()).toMatchObject({ documents: 2, journal: { pending_entries: 1, pending_documents: 1 } });
  });
});
