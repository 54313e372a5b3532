/**
 * Reciprocal Rank Fusion (Cormack et al. 2009), k = 60 by default:
 *   fused(d) = sum over retrievers r containing d of weight_r / (k + rank_r(d)),  rank 1-based.
 * The result does not depend on the order retrievers are given in; an id appears once; ties are broken by
 * id (compareIds) so output is deterministic.
 */
import { compareIds } from '../model/document.js';
import type { DocId } from '../model/types.js';

export interface RankedList {
  /** Distinct per list (it keys FusedHit.terms). */
  name: string;
  weight: number;
  /** Best first; duplicate ids after the first occurrence are ignored. */
  ids: readonly DocId[];
}

export interface FusedHit {
  id: DocId;
  score: number;
  /**
   * retriever name -> { rank, term } for every retriever that returned the id; with `withTerms` false, an
   * empty object shared by every hit (nothing to explain: two objects less per id and list).
   */
  terms: Record<string, { rank: number; term: number }>;
}

const NO_TERMS: Record<string, { rank: number; term: number }> = Object.freeze({});

export function rrf(lists: readonly RankedList[], k: number, withTerms = true): FusedHit[] {
  // Keyed by the id itself: a Map tells 1 from "1" (SameValueZero), so no per-hit key string is built.
  const byId = new Map<DocId, FusedHit>();
  // Sorted by name so floating-point sums are accumulated in the same order whatever the input order.
  const sorted = [...lists].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const l of sorted) {
    // Without terms, the ids this list has counted so far (a repeat after the first is skipped).
    const seen = withTerms ? null : new Map<DocId, true>();
    let rank = 0;
    for (const id of l.ids) {
      let h = byId.get(id);
      if (seen !== null ? seen.has(id) : h !== undefined && Object.prototype.hasOwnProperty.call(h.terms, l.name)) continue; // repeated in this list
      seen?.set(id, true);
      rank++;
      const term = l.weight / (k + rank);
      if (h === undefined) byId.set(id, (h = { id, score: 0, terms: withTerms ? {} : NO_TERMS }));
      h.score += term;
      if (withTerms) h.terms[l.name] = { rank, term };
    }
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || compareIds(a.id, b.id));
}
