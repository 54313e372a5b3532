/**
 * The full-text query syntax: double-quoted substrings are phrases, everything else is split on white space
 * into terms (each term is analyzed later, per field, and may yield zero or several tokens). An unbalanced
 * quote makes the rest of the query a phrase. Empty phrases and empty queries yield no clauses.
 * Clauses keep the order in which they appear.
 */
export interface TextClause {
  kind: 'term' | 'phrase';
  text: string;
}

export function parseTextQuery(q: string): TextClause[] {
  const out: TextClause[] = [];
  const pushTerms = (s: string): void => {
    for (const t of s.split(/\s+/u)) if (t.length > 0) out.push({ kind: 'term', text: t });
  };
  let i = 0;
  while (i < q.length) {
    const open = q.indexOf('"', i);
    if (open < 0) {
      pushTerms(q.slice(i));
      break;
    }
    pushTerms(q.slice(i, open));
    const close = q.indexOf('"', open + 1);
    const phrase = (close < 0 ? q.slice(open + 1) : q.slice(open + 1, close)).trim();
    if (phrase.length > 0) out.push({ kind: 'phrase', text: phrase });
    i = close < 0 ? q.length : close + 1;
  }
  return out;
}
