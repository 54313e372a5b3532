import { describe, expect, it } from 'vitest';
import { capGroups, MAX_MERGE_DOCS, planCompaction, type SegStat, tierOf } from '../../../src/store/compact.js';
import type { SegmentRow } from '../../../src/storage/manifest.js';

const seg = (id: number, docs: number, dead = 0): SegStat => ({ row: { id, doc_count: docs } as SegmentRow, dead, live: docs - dead });

const sized = (id: number, docs: number, indexBytes: number, dead = 0): SegStat => ({ row: { id, doc_count: docs, index_bytes: indexBytes } as SegmentRow, dead, live: docs - dead });

describe('compaction plan', () => {
  it('merge groups are bounded in bytes as well as documents (the index file, scaled by live rows)', () => {
    const mib = 1 << 20;
    // each segment counts 10 MiB (a 10 MiB index file); a 25 MiB bound takes two per group
    const segs = [1, 2, 3, 4, 5].map((id) => sized(id, 100, 10 * mib));
    expect(capGroups(segs, 25 * mib)).toEqual([[1, 2], [3, 4]]); // 5 alone, clean: left as is
    // dead rows do not count: half-dead segments weigh 5 MiB each
    const halfDead = [1, 2, 3, 4].map((id) => sized(id, 100, 10 * mib, 50));
    expect(capGroups(halfDead, 25 * mib)).toEqual([[1, 2, 3, 4]]);
    // a single segment above the bound is still rewritten alone when it has dead rows
    expect(planCompaction([sized(1, 100, 80 * mib, 10)], 0, false, 25 * mib).groups).toEqual([[1]]);
  });

  it('tiers are powers of 4 from 1000 live documents', () => {
    expect([1, 999, 1000, 3999, 4000, 16000, 100_000].map(tierOf)).toEqual([0, 0, 0, 0, 1, 2, 3]);
  });

  it('major compaction merges everything, in groups bounded by MAX_MERGE_DOCS', () => {
    const ten = Array.from({ length: 10 }, (_, i) => seg(i + 1, 50_000));
    const groups = capGroups(ten);
    expect(groups).toEqual([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    for (const g of groups) expect(g.length * 50_000).toBeLessThanOrEqual(MAX_MERGE_DOCS);
    // segments already at the cap, without dead rows, are left alone
    expect(capGroups([seg(1, MAX_MERGE_DOCS), seg(2, MAX_MERGE_DOCS)])).toEqual([]);
    expect(planCompaction([seg(1, 50)], 0, false).groups).toEqual([]); // one clean segment: nothing to do
    expect(planCompaction([seg(1, 50, 5)], 0, false).groups).toEqual([[1]]); // dead rows: rewrite it
    expect(planCompaction([seg(1, 50), seg(2, 60)], 0, false).groups).toEqual([[1, 2]]);
  });

  it('--if-needed acts only past its thresholds', () => {
    expect(planCompaction([seg(1, 100), seg(2, 100), seg(3, 100)], 0, true).groups).toEqual([]);
    expect(planCompaction([seg(1, 100), seg(2, 100), seg(3, 100), seg(4, 100)], 0, true).groups).toEqual([[1, 2, 3, 4]]);
    expect(planCompaction([seg(1, 100_000), seg(2, 100), seg(3, 100), seg(4, 100)], 0, true).groups).toEqual([]);
    expect(planCompaction([seg(1, 1000, 200)], 0, true).groups).toEqual([[1]]); // 20% dead
    expect(planCompaction([seg(1, 1000, 199)], 0, true).groups).toEqual([]);
    expect(planCompaction([], 10_000, true).flushJournal).toBe(true);
    expect(planCompaction([], 9_999, true).flushJournal).toBe(false);
    const many = Array.from({ length: 17 }, (_, i) => seg(i + 1, 1000 * 4 ** (i % 5)));
    expect(planCompaction(many, 0, true).reason.join()).toContain('17 segments > 16');
  });

  it('segments with an outdated full-text index (after alter) are rewritten, alone if need be, in both modes', () => {
    const stale = new Set([1]);
    expect(planCompaction([seg(1, 50)], 0, false, undefined, undefined, stale).groups).toEqual([[1]]);
    expect(capGroups([seg(1, MAX_MERGE_DOCS), seg(2, MAX_MERGE_DOCS)], undefined, new Set([2]))).toEqual([[2]]);
    expect(planCompaction([seg(1, 100_000), seg(2, 100)], 0, true, undefined, undefined, stale).groups).toEqual([[1]]);
    expect(planCompaction([seg(1, 100_000), seg(2, 100)], 0, true, undefined, undefined, stale).reason.join()).toContain('outdated full-text index or an older storage layout');
    // Already picked for its dead rows: not listed twice.
    expect(planCompaction([seg(1, 1000, 200)], 0, true, undefined, undefined, stale).groups).toEqual([[1]]);
  });
});
