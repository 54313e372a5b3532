import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import type { FullTextOptions } from '../../../src/model/types.js';
import {
  ARRAY_POSITION_GAP,
  MAX_STEMMED_LENGTH,
  SUPPORTED_LANGUAGES,
  createAnalyzer,
  validateFullTextOptions,
} from '../../../src/index/fulltext/analyzer.js';

const opts = (o: Partial<FullTextOptions> = {}): FullTextOptions => ({
  language: 'english',
  stemming: true,
  remove_stopwords: true,
  case_sensitive: false,
  ...o,
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isElacsymError(e) ? e.code : `non-elacsym: ${String(e)}`;
  }
  return undefined;
}

const loaded = (): string[] => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('natural'));

describe('analyzer', () => {
  it('loads stemmers lazily and never through natural/index.js', () => {
    // swedish is used by no other test in this file.
    validateFullTextOptions(opts({ language: 'swedish' }));
    expect(loaded().some((k) => k.includes('porter_stemmer_sv'))).toBe(false);
    createAnalyzer(opts({ language: 'swedish', stemming: false, remove_stopwords: false }));
    expect(loaded().some((k) => k.includes('porter_stemmer_sv') || k.includes('stopwords_sv'))).toBe(false);
    const a = createAnalyzer(opts({ language: 'swedish', stemming: true, remove_stopwords: false }));
    expect(loaded().some((k) => k.includes('porter_stemmer_sv'))).toBe(true);
    expect(a.analyze('bilarna').map((t) => t.term)).toEqual(['bil']);
    expect(loaded().some((k) => /natural[/\\]lib[/\\]natural[/\\]index\.js$/.test(k))).toBe(false);
    expect(loaded().some((k) => /stemmers[/\\]index\.js$/.test(k))).toBe(false);
  });

  it('stems english words', () => {
    const a = createAnalyzer(opts());
    expect(a.analyze('Running connections')).toEqual([
      { term: 'run', pos: 0 },
      { term: 'connect', pos: 1 },
    ]);
  });

  it('without stemming keeps words (lower-cased)', () => {
    const a = createAnalyzer(opts({ stemming: false, remove_stopwords: false }));
    expect(a.analyze('Running  Connections, 42!')).toEqual([
      { term: 'running', pos: 0 },
      { term: 'connections', pos: 1 },
      { term: '42', pos: 2 },
    ]);
  });

  it('removes stopwords, leaving position gaps', () => {
    const a = createAnalyzer(opts({ stemming: false }));
    expect(a.analyze('bank of america')).toEqual([
      { term: 'bank', pos: 0 },
      { term: 'america', pos: 2 },
    ]);
    expect(a.analyze('The Bank OF the world')).toEqual([
      { term: 'bank', pos: 1 },
      { term: 'world', pos: 4 },
    ]);
    expect(a.analyze('the of and')).toEqual([]);
    // natural's English list has single letters (kept) and digits (dropped from the list by elacsym).
    expect(a.analyze('windows 7 x 42')).toEqual([
      { term: 'windows', pos: 0 },
      { term: '7', pos: 1 },
      { term: '42', pos: 3 },
    ]);
  });

  it('case_sensitive keeps case, compares stopwords case-insensitively', () => {
    const a = createAnalyzer(opts({ stemming: false, case_sensitive: true }));
    expect(a.analyze('The Bank OF America')).toEqual([
      { term: 'Bank', pos: 1 },
      { term: 'America', pos: 3 },
    ]);
    const s = createAnalyzer(opts({ case_sensitive: true }));
    expect(s.analyze('Running RUNNING running').map((t) => t.term)).toEqual(['Run', 'RUN', 'run']);
    const i = createAnalyzer(opts({ case_sensitive: false }));
    expect(i.analyze('Running RUNNING running').map((t) => t.term)).toEqual(['run', 'run', 'run']);
  });

  it('splits on apostrophes and punctuation, keeps letters and digits of any script', () => {
    const a = createAnalyzer(opts({ stemming: false, remove_stopwords: false }));
    expect(a.analyze("don't stop-me now: x1 Ünïcode 日本語 Ελληνικά").map((t) => t.term)).toEqual([
      'don',
      't',
      'stop',
      'me',
      'now',
      'x1',
      'ünïcode',
      '日本語',
      'ελληνικά',
    ]);
    // Decomposed and composed forms index the same term.
    expect(a.analyze('cafe\u0301')).toEqual(a.analyze('caf\u00e9'));
    // Combining marks stay inside the word (Devanagari vowel signs).
    expect(a.analyze('नमस्ते दुनिया').map((t) => t.term)).toEqual(['नमस्ते', 'दुनिया']);
    expect(a.analyze('')).toEqual([]);
    expect(a.analyze('  ...  ')).toEqual([]);
  });

  it('french stemmer and stopwords work', () => {
    const a = createAnalyzer(opts({ language: 'french' }));
    expect(a.analyze('les chevaux continuellement')).toEqual([
      { term: 'cheval', pos: 1 },
      { term: 'continuel', pos: 2 },
    ]);
  });

  it('german stemmer and stopwords work', () => {
    const a = createAnalyzer(opts({ language: 'german' }));
    expect(a.analyze('Die Häuser und die Kategorien').map((t) => t.term)).toEqual(['haus', 'kategori']);
  });

  it('every release-1 language stems and has a stopword list (later languages: languages.test.ts)', () => {
    // [word, a stopword of the language, expected stem]
    const samples: Record<string, [string, string, string]> = {
      english: ['connections', 'the', 'connect'],
      french: ['chevaux', 'les', 'cheval'],
      german: ['kategorien', 'und', 'kategori'],
      spanish: ['bibliotecas', 'el', 'bibliotec'],
      italian: ['gattini', 'al', 'gattin'],
      dutch: ['huizen', 'aan', 'huiz'],
      norwegian: ['bilene', 'og', 'bil'],
      portuguese: ['bibliotecas', 'ao', 'bibliotec'],
      russian: ['книгами', 'после', 'книг'],
      swedish: ['bilarna', 'aldrig', 'bil'],
      ukrainian: ['книгами', 'після', 'книг'],
      indonesian: ['perekonomian', 'adalah', 'ekonomi'],
    };
    for (const language of Object.keys(samples)) expect(SUPPORTED_LANGUAGES).toContain(language);
    for (const language of Object.keys(samples)) {
      const [word, stop, stem] = samples[language]!;
      const a = createAnalyzer(opts({ language }));
      expect(a.analyze(`${stop} ${word}`), language).toEqual([{ term: stem, pos: 1 }]);
      const keep = createAnalyzer(opts({ language, remove_stopwords: false, stemming: false }));
      expect(keep.analyze(`${stop} ${word}`).map((t) => t.term), language).toEqual([stop, word]);
    }
  });

  it('rejects unknown languages and bad options with INVALID_SCHEMA', () => {
    expect(codeOf(() => validateFullTextOptions(opts({ language: 'klingon' })))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => createAnalyzer(opts({ language: 'klingon' })))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => validateFullTextOptions(opts({ language: 'English' })))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => validateFullTextOptions(opts({ language: 'toString' })))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => validateFullTextOptions(opts({ language: 'farsi' })))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => validateFullTextOptions({ ...opts(), stemming: 'yes' as unknown as boolean }))).toBe('INVALID_SCHEMA');
    expect(codeOf(() => validateFullTextOptions(opts()))).toBeUndefined();
  });

  it('release-1 languages tokenize exactly as in release 1 (no segmentation, no folding without the option)', () => {
    // Existing namespaces were indexed with these tokens: a change here would make old segments disagree
    // with new queries. Output recorded from the release-1 analyzer.
    const a = createAnalyzer(opts({ stemming: false, remove_stopwords: false }));
    expect(a.analyze("Café ﬁne ＡＢＣ 東京の天気 don't ภาษาไทย").map((t) => t.term)).toEqual(['café', 'ﬁne', 'ａｂｃ', '東京の天気', 'don', 't', 'ภาษาไทย']);
    const b = createAnalyzer(opts({ language: 'french' }));
    expect(b.analyze('Les élèves étaient à l’école').map((t) => t.term)).toEqual(['élev', 'écol']);
  });

  it('analyzes array values with a position gap between elements', () => {
    const a = createAnalyzer(opts({ stemming: false }));
    expect(a.analyzeValue(['John Abraham', 'Lincoln of Smith'])).toEqual([
      { term: 'john', pos: 0 },
      { term: 'abraham', pos: 1 },
      { term: 'lincoln', pos: 2 + ARRAY_POSITION_GAP },
      { term: 'smith', pos: 4 + ARRAY_POSITION_GAP },
    ]);
    expect(a.analyzeValue(['the bee', '', 'cat'])).toEqual([
      { term: 'bee', pos: 1 },
      { term: 'cat', pos: 2 + 2 * ARRAY_POSITION_GAP },
    ]);
    expect(a.analyzeValue('john of abraham')).toEqual(a.analyze('john of abraham'));
    expect(a.analyzeValue(null)).toEqual([]);
    expect(a.analyzeValue([])).toEqual([]);
  });
});

describe('very long words', () => {
  it('are indexed as they are past MAX_STEMMED_LENGTH (stemmers are quadratic in the word length), and stemmed up to it', () => {
    const a = createAnalyzer(opts());
    const stemmed = (w: string) => a.analyze(w).map((t) => t.term);
    const short = `${'ab'.repeat((MAX_STEMMED_LENGTH - 3) >> 1)}ing`; // at most MAX_STEMMED_LENGTH letters
    expect(short.length).toBeLessThanOrEqual(MAX_STEMMED_LENGTH);
    expect(stemmed(short)).toEqual([short.slice(0, -3)]);
    const long = `${'ab'.repeat(MAX_STEMMED_LENGTH >> 1)}ing`;
    expect(long.length).toBeGreaterThan(MAX_STEMMED_LENGTH);
    expect(stemmed(long)).toEqual([long]);
    // One 60,000-letter word in every stemming language: each returns it whole (it took ~20 s in Porter alone).
    const huge = 'x'.repeat(60_000);
    for (const language of SUPPORTED_LANGUAGES) {
      const terms = createAnalyzer(opts({ language })).analyze(huge).map((t) => t.term);
      expect(terms.join(''), language).toBe(huge);
    }
  });
});
