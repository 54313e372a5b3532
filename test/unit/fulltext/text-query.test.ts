import { describe, expect, it } from 'vitest';
import { parseTextQuery } from '../../../src/index/fulltext/text-query.js';

describe('parseTextQuery', () => {
  it('splits terms on white space', () => {
    expect(parseTextQuery('  hello   world\tfoo-bar ')).toEqual([
      { kind: 'term', text: 'hello' },
      { kind: 'term', text: 'world' },
      { kind: 'term', text: 'foo-bar' },
    ]);
  });

  it('extracts quoted phrases in order', () => {
    expect(parseTextQuery('a "bank of america" b"c d"e')).toEqual([
      { kind: 'term', text: 'a' },
      { kind: 'phrase', text: 'bank of america' },
      { kind: 'term', text: 'b' },
      { kind: 'phrase', text: 'c d' },
      { kind: 'term', text: 'e' },
    ]);
  });

  it('treats an unbalanced quote as a phrase to the end', () => {
    expect(parseTextQuery('x "new york city')).toEqual([
      { kind: 'term', text: 'x' },
      { kind: 'phrase', text: 'new york city' },
    ]);
  });

  it('returns no clause for empty input or empty phrases', () => {
    expect(parseTextQuery('')).toEqual([]);
    expect(parseTextQuery('   ')).toEqual([]);
    expect(parseTextQuery('""')).toEqual([]);
    expect(parseTextQuery('"  " "')).toEqual([]);
  });
});

describe('prefix and fuzzy terms', () => {
  it('parses vect* as a prefix and vectr~1 / vectr~ as fuzzy terms, phrases untouched', () => {
    expect(parseTextQuery('vect* vectr~1 vectr~ plain~0 "a* b~1"')).toEqual([
      { kind: 'prefix', text: 'vect' },
      { kind: 'fuzzy', text: 'vectr', distance: 1 },
      { kind: 'fuzzy', text: 'vectr', distance: 2 },
      { kind: 'term', text: 'plain' },
      { kind: 'phrase', text: 'a* b~1' },
    ]);
    expect(parseTextQuery('* ~')).toEqual([
      { kind: 'term', text: '*' },
      { kind: 'term', text: '~' },
    ]);
  });

  it('refuses an edit distance above 2 with INVALID_QUERY', () => {
    let code: string | undefined;
    try {
      parseTextQuery('vector~3');
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('INVALID_QUERY');
  });
});
