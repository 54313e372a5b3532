import { describe, expect, it } from 'vitest';
import type { Doc } from '../../../src/model/types.js';
import { capGroups, groupVectorArena, MAX_MERGE_DOCS, planCompaction, type SegStat, tierOf } from '../../../src/store/compact.js';
import { packVectors } from '../../../src/store/segment-builder.js';
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

describe('a merge group holds its vectors once (groupVectorArena)', () => {
  it('copies each vector into consecutive rows of one shared buffer, which the IVF build takes without a copy', () => {
    const dim = 4;
    const rows = [{ id: 1, doc_count: 3 }, { id: 2, doc_count: 2 }] as SegmentRow[];
    const adopt = groupVectorArena(rows, dim);
    const input: Doc[] = [
      { id: 'a', vector: Float32Array.of(1, 2, 3, 4), attributes: { n: 1 } },
      { id: 'b', vector: null, attributes: {} }, // no vector: passed through, takes no row
      { id: 'c', vector: Float32Array.of(5, 6, 7, 8), attributes: {} },
      { id: 'd', vector: Float32Array.of(9, 10, 11, 12), attributes: {} },
    ];
    const out = input.map(adopt);
    expect(out.map((d) => d.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(out[0]!.attributes).toBe(input[0]!.attributes);
    expect(out[1]).toBe(input[1]);
    out.forEach((d, i) => expect(d.vector ? Array.from(d.vector) : null).toEqual(input[i]!.vector ? Array.from(input[i]!.vector!) : null));
    const buffer = out[0]!.vector!.buffer;
    expect(buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(out[3]!.vector!.buffer).toBe(buffer);
    // The build's packing is a view of those rows, not a copy.
    const packed = packVectors(out, dim)!;
    expect(packed.packed.buffer).toBe(buffer);
    expect(Array.from(packed.packed)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Array.from(packed.ords)).toEqual([0, 2, 3]);
    // Without vectors in the schema nothing is copied.
    expect(groupVectorArena(rows, 0)(input[0]!)).toBe(input[0]);
  });

  it('passes on, unchanged, a vector of another length and any beyond the inputs\' row count', () => {
    const adopt = groupVectorArena([{ id: 1, doc_count: 1 }] as SegmentRow[], 2);
    const odd: Doc = { id: 1, vector: Float32Array.of(1, 2, 3), attributes: {} };
    expect(adopt(odd)).toBe(odd);
    const first = adopt({ id: 2, vector: Float32Array.of(1, 2), attributes: {} });
    expect(first.vector!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const extra: Doc = { id: 3, vector: Float32Array.of(3, 4), attributes: {} };
    expect(adopt(extra)).toBe(extra);
  });
});
