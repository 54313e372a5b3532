/**
 * Issue 9 §7, against a dumb oracle: attribute names are data. Whatever names a document and a schema use
 * (including Object.prototype members and "__proto__"), parseSchema keeps every declared name, toDoc
 * accepts exactly what the schema allows, and a filter on a name sees exactly the document's own value —
 * row by row (compileFilter) and column by column (the journal source's columns).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFilter, evaluateColumns } from '../../src/index/filter/evaluate.js';
import { toDoc } from '../../src/model/document.js';
import { parseFilter } from '../../src/model/filter.js';
import { parseSchema } from '../../src/model/schema.js';
import type { Doc } from '../../src/model/types.js';
import { JournalSource } from '../../src/store/search-sources.js';

const PROTO = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__'];
const nameArb = fc.constantFrom(...PROTO, 'title', 'a', 'b');
const valueArb = fc.oneof(fc.constantFrom('x', 'y'), fc.constant(null));

/** JSON text of an object with these own keys (so "__proto__" is a real key, as in an NDJSON line). */
const objectJson = (entries: [string, unknown][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;

describe('attribute names are data', () => {
  it('schemas keep every declared name; filters see only own values', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nameArb, { maxLength: 5 }),
        fc.array(fc.uniqueArray(fc.tuple(nameArb, valueArb), { selector: (t) => t[0], maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        nameArb,
        (declared, docsAttrs, field) => {
          const schemaJson = `{"attributes":${objectJson(declared.map((n) => [n, { type: 'string' }]))}}`;
          const schema = parseSchema(JSON.parse(schemaJson));
          expect(Object.keys(schema.attributes).sort()).toEqual([...declared].sort());
          const docs: Doc[] = docsAttrs.map((entries, i) => toDoc(JSON.parse(`{"id":${i},"attributes":${objectJson(entries)}}`), schema, new Map()));
          const own = (d: Doc) => (Object.hasOwn(d.attributes, field) ? d.attributes[field] : undefined);
          for (const [op, value] of [
            ['exists', true],
            ['exists', false],
            ['eq', 'x'],
            ['ne', 'y'],
          ] as const) {
            const f = parseFilter({ field, op, value })!;
            const oracle = docs.map((d) => {
              const x = own(d);
              const present = x !== undefined && x !== null;
              if (op === 'exists') return value === present;
              if (op === 'eq') return x === value;
              return x !== value;
            });
            expect(docs.map((d) => compileFilter(f)(d.attributes))).toEqual(oracle);
            const src = new JournalSource(docs, { ...schema, vector_dim: 0 }, () => {
              throw new Error('no text');
            });
            const mask = evaluateColumns(f, (c) => src.column(c), src.size);
            // the journal source orders documents by id; ids here are 0..n-1 in order
            expect(Array.from(mask, (m) => m === 1)).toEqual(oracle);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
