/**
 * Cold start: only the files of the languages a command uses are loaded (a file of its own, so that no
 * other test has loaded them first).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createAnalyzer, validateFullTextOptions } from '../../../src/index/fulltext/analyzer.js';

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@orama'));
const opts = (language: string, o = {}) => ({ language, stemming: true, remove_stopwords: true, case_sensitive: false, ...o });

describe('lazy loading of stemmers and stopword lists', () => {
  it('validating loads nothing; an analyzer loads its own language files only when it stems or drops stopwords', () => {
    expect(loaded()).toEqual([]);
    validateFullTextOptions(opts('armenian'));
    createAnalyzer(opts('armenian', { stemming: false, remove_stopwords: false }));
    expect(loaded()).toEqual([]);
    createAnalyzer(opts('armenian')).analyze('գրքեր');
    const files = loaded();
    expect(files.length).toBe(2);
    for (const k of files) expect(k).toMatch(/[/\\]am\.cjs$/);
    createAnalyzer(opts('unicode')).analyze('Café 東京の天気');
    expect(loaded()).toEqual(files);
  });
});
