/** `id` conditions evaluated by lookup equal the same conditions compared row by row against the ids. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Column, evaluateColumns } from '../../../src/index/filter/evaluate.js';
import { idKey } from '../../../src/model/document.js';
import type { Filter } from '../../../src/model/filter.js';
import type { DocId } from '../../../src/model/types.js';

const idArb: fc.Arbitrary<DocId> = fc.oneof(fc.nat({ max: 12 }), fc.constantFrom('a', 'b', '3', '7'));
const idCond: fc.Arbitrary<Filter> = fc.oneof(
  fc.record({ type: fc.constant('cond' as const), field: fc.constant('id'), op: fc.constantFrom('eq' as const, 'ne' as const), value: idArb }),
  fc.record({ type: fc.constant('cond' as const), field: fc.constant('id'), op: fc.constantFrom('in' as const, 'nin' as const), value: fc.array(idArb, { minLength: 1, maxLength: 4 }) }),
);
const attrCond: fc.Arbitrary<Filter> = fc.record({ type: fc.constant('cond' as const), field: fc.constant('n'), op: fc.constant('gt' as const), value: fc.nat({ max: 5 }) });
const filterArb: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    idCond,
    attrCond,
    fc.record({ type: fc.constantFrom('and' as const, 'or' as const), conditions: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant('not' as const), condition: tie('f') }),
  ),
})).f;

describe('id filters', () => {
  it('by lookup equal the row-by-row comparison, in every combination', () => {
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { selector: idKey, maxLength: 15 }), filterArb, (ids, f) => {
        const n = ids.length;
        const nums: Column = ids.map((_, i) => i % 6);
        const cols = (field: string): Column => (field === 'id' ? ids : nums);
        const byKey = new Map(ids.map((id, ord) => [idKey(id), ord]));
        const lookup = (want: readonly DocId[]) => want.flatMap((id) => (byKey.has(idKey(id)) ? [byKey.get(idKey(id))!] : []));
        const scanned = evaluateColumns(f, cols, n);
        const looked = evaluateColumns(f, cols, n, undefined, lookup);
        expect(Array.from(looked)).toEqual(Array.from(scanned));
      }),
      { numRuns: 3000 },
    );
  });
});
