/**
 * Issue 9 §5: with vector components inside the documented bound (|x| <= MAX_VECTOR_COMPONENT = 1e15) and
 * any dimension up to MAX_DIM, every score the kernels produce is finite and no document is dropped:
 * asking for k = n returns all n, on both kernel backends, in the exact scan and the IVF search. Values
 * beyond the bound are refused where they enter (import and query), and a non-finite score that still
 * reached the engine (a vector stored before the bound existed) fails the query instead of printing null.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isElacsymError } from '../../src/errors.js';
import { buildIvf, exactTopK, IvfReader } from '../../src/index/vector/ivf.js';
import { useKernelBackend } from '../../src/index/vector/distance.js';
import { toDoc, DocumentError } from '../../src/model/document.js';
import { parseQueryRequest } from '../../src/model/query.js';
import { MAX_DIM, MAX_VECTOR_COMPONENT, MAX_WEIGHT } from '../../src/model/schema.js';
import type { Doc, Metric, Schema } from '../../src/model/types.js';
import { executeQuery } from '../../src/query/engine.js';
import { JournalSource } from '../../src/store/search-sources.js';
import { MemorySource } from '../../src/util/bytes.js';

const L = MAX_VECTOR_COMPONENT;
const comp = fc.oneof(fc.constantFrom(L, -L, 0, 1, -1, L / 3), fc.double({ min: -L, max: L, noNaN: true }));
const metric = fc.constantFrom<Metric>('cosine', 'l2', 'dot');

afterAll(() => useKernelBackend('wasm'));

describe('scores stay finite inside the documented component bound', () => {
  for (const backend of ['wasm', 'js'] as const) {
    it(`every document is returned with a finite score (${backend} kernels)`, () => {
      useKernelBackend(backend);
      fc.assert(
        fc.property(metric, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 12 }), fc.integer(), (m, dim, n, seed) => {
          const vecs = fc.sample(fc.array(comp, { minLength: n * dim, maxLength: n * dim }), { seed, numRuns: 1 })[0]!;
          const data = Float32Array.from(vecs);
          const q = Float32Array.from(fc.sample(fc.array(comp, { minLength: dim, maxLength: dim }), { seed: seed + 1, numRuns: 1 })[0]!);
          const exact = exactTopK(data, dim, m, q, n);
          expect(exact.rows.length).toBe(n);
          for (const s of exact.scores) expect(Number.isFinite(s)).toBe(true);
          const rd = IvfReader.open(new MemorySource(buildIvf(data, Uint32Array.from({ length: n }, (_, i) => i), dim, m, { seed: 1 })), {
            vectorOf: (o) => data.subarray(o * dim, (o + 1) * dim),
          });
          const ann = rd.search(q, n, { nprobe: rd.nlist });
          expect(ann.ords.length).toBe(n);
          for (const s of ann.scores) expect(Number.isFinite(s)).toBe(true);
        }),
        { numRuns: 150 },
      );
    });

    it(`the worst case at the largest dimension stays finite (${backend} kernels)`, () => {
      useKernelBackend(backend);
      const dim = MAX_DIM;
      const a = new Float32Array(2 * dim);
      for (let i = 0; i < dim; i++) {
        a[i] = L; // row 0: +L everywhere
        a[dim + i] = -L; // row 1: -L everywhere (farthest from the query in l2, most negative dot)
      }
      const q = new Float32Array(dim).fill(L);
      for (const m of ['cosine', 'l2', 'dot'] as const) {
        const r = exactTopK(a, dim, m, q, 2);
        expect(Array.from(r.rows)).toEqual([0, 1]);
        for (const s of r.scores) expect(Number.isFinite(s)).toBe(true);
      }
    });
  }

  it('documents and queries beyond the bound, and weights beyond MAX_WEIGHT, are refused naming the field', () => {
    const schema: Schema = { vector_dim: 2, vector_metric: 'dot', attributes: { t: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } } } };
    fc.assert(
      fc.property(fc.double({ min: L * 1.000001, max: 3.4e38, noNaN: true }), fc.boolean(), (x, neg) => {
        const v = neg ? -x : x;
        try {
          toDoc({ id: 1, vector: [1, v] }, schema, new Map());
          expect.unreachable();
        } catch (e) {
          expect(e).toBeInstanceOf(DocumentError);
          expect((e as DocumentError).field).toBe('vector[1]');
        }
        const refused = (req: unknown) => {
          try {
            parseQueryRequest(req, schema);
            return null;
          } catch (e) {
            return isElacsymError(e) ? e.code : 'other';
          }
        };
        expect(refused({ vector: [v, 0] })).toBe('INVALID_QUERY');
        const w = x; // > 1e15 > MAX_WEIGHT
        expect(refused({ vector: [1, 0], vector_weight: w })).toBe('INVALID_QUERY');
        expect(refused({ full_text: { query: 'a', weight: w } })).toBe('INVALID_QUERY');
        expect(refused({ full_text: { query: 'a', fields: ['t'], weights: { t: w } } })).toBe('INVALID_QUERY');
        expect(refused({ vector: [L, -L], vector_weight: MAX_WEIGHT })).toBeNull();
        expect(refused({ vector: [1, 0], vector_weight: MAX_WEIGHT * 1.5 })).toBe('INVALID_QUERY');
      }),
      { numRuns: 50 },
    );
  });

  it('a non-finite score that reaches the engine fails the query instead of printing null', () => {
    const schema: Schema = { vector_dim: 2, vector_metric: 'dot', attributes: {} };
    // Vectors as an older release could store them (float32-representable, beyond the bound).
    const docs: Doc[] = [
      { id: 1, vector: new Float32Array([3e38, 3e38]), attributes: {} },
      { id: 2, vector: new Float32Array([1, 1]), attributes: {} },
    ];
    const src = new JournalSource(docs, schema, () => {
      throw new Error('no text');
    });
    const req = parseQueryRequest({ vector: [1e15, 1e15], top_k: 2 }, schema);
    let code: string | null = null;
    try {
      const r = executeQuery([src], schema, req, () => {
        throw new Error('no text');
      });
      for (const h of r.results) expect(Number.isFinite(h.score)).toBe(true);
    } catch (e) {
      code = isElacsymError(e) ? e.code : 'other';
    }
    expect(code).toBe('INTERNAL');
  });
});
