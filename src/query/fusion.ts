/**
 * Reciprocal Rank Fusion (Cormack et al. 2009), k = 60 by default:
 *   fused(d) = sum over retrievers r containing d of weight_r / (k + rank_r(d)),  rank 1-based.
 * The result does not depend on the order retrievers are given in; an id appears once; ties are broken by
 * id (compareIds) so output is deterministic.
 */
import { compareIds } from '../model/document.js';
import type { DocId } from '../model/types.js';

export interface RankedList {
  name: string;
  weight: number;
  /** Best first; duplicate ids after the first occurrence are ignored. */
  ids: readonly DocId[];
}

export interface FusedHit {
  id: DocId;
  score: number;
  /** retriever name -> { rank, term } for every retriever that returned the id. */
  terms: Record<string, { rank: number; term: number }>;
}

export function rrf(lists: readonly RankedList[], k: number): FusedHit[] {
  const byKey = new Map<string, FusedHit>();
  // Sorted by name so floating-point sums are accumulated in the same order whatever the input order.
  const sorted = [...lists].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const l of sorted) {
    const seen = new Set<string>();
    let rank = 0;
    for (const id of l.ids) {
      const key = typeof id === 'number' ? `n${id}` : `s${id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rank++;
      const term = l.weight / (k + rank);
      let h = byKey.get(key);
      if (!h) byKey.set(key, (h = { id, score: 0, terms: {} }));
      h.score += term;
      h.terms[l.name] = { rank, term };
    }
  }
  return [...byKey.values()].sort((a, b) => b.score - a.score || compareIds(a.id, b.id));
}
