/**
 * The exact score of a document vector for a query, computed independently of the engine (float64): the
 * cosine similarity, the negated Euclidean distance (l2) or the dot product. Brute force in tests.
 */
export function bruteScore(metric: string, q: readonly number[], v: readonly number[]): number {
  let s = 0;
  let qn = 0;
  let vn = 0;
  for (let j = 0; j < q.length; j++) {
    s += metric === 'l2' ? (q[j]! - v[j]!) ** 2 : q[j]! * v[j]!;
    qn += q[j]! * q[j]!;
    vn += v[j]! * v[j]!;
  }
  if (metric === 'l2') return -Math.sqrt(s);
  if (metric === 'cosine') return s / Math.sqrt(qn * vn);
  return s;
}
