/**
 * The full-text query syntax: double-quoted substrings are phrases, everything else is split on white space
 * into terms (each term is analyzed later, per field, and may yield zero or several tokens). An unbalanced
 * quote makes the rest of the query a phrase. Empty phrases and empty queries yield no clauses.
 * Clauses keep the order in which they appear.
 *
 * Outside phrases, a term ending in `*` is a prefix term (`vect*`: every indexed term starting with
 * "vect"), and a term ending in `~`, `~1` or `~2` is a fuzzy term (`vectr~1`: every indexed term within
 * that many edits; `~` alone means 2, Lucene's default). `~0` is an ordinary term; `~3` and more are
 * refused (INVALID_QUERY): they match too much to be useful. Inside a phrase `*` and `~` are plain text
 * (they separate words like any punctuation). How terms expand: see bm25.ts.
 */
import { ElacsymError } from '../../errors.js';

export interface TextClause {
  kind: 'term' | 'phrase' | 'prefix' | 'fuzzy';
  text: string;
  /** Fuzzy terms only: the largest edit distance, 1 or 2. */
  distance?: number;
}

/** Largest edit distance of a fuzzy term. */
export const MAX_FUZZY_DISTANCE = 2;

const PREFIX_RE = /^(.*[^*])\*+$/su;
const FUZZY_RE = /^(.*[^~])~(\d*)$/su;

function termClause(t: string): TextClause {
  const p = PREFIX_RE.exec(t);
  if (p !== null) return { kind: 'prefix', text: p[1]! };
  const f = FUZZY_RE.exec(t);
  if (f !== null) {
    const d = f[2] === '' ? MAX_FUZZY_DISTANCE : Number(f[2]);
    if (!(d <= MAX_FUZZY_DISTANCE)) {
      throw new ElacsymError('INVALID_QUERY', `fuzzy term ${JSON.stringify(t)}: the edit distance must be 0, 1 or 2`);
    }
    return d === 0 ? { kind: 'term', text: f[1]! } : { kind: 'fuzzy', text: f[1]!, distance: d };
  }
  return { kind: 'term', text: t };
}

export function parseTextQuery(q: string): TextClause[] {
  const out: TextClause[] = [];
  const pushTerms = (s: string): void => {
    for (const t of s.split(/\s+/u)) if (t.length > 0) out.push(termClause(t));
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
