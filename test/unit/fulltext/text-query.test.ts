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
