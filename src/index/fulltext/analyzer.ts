/**
 * Text analysis for full-text attributes: tokenize, lowercase, drop stopwords, stem.
 *
 * Start-up cost: the `natural` package is NEVER loaded through its index (that pulls in database drivers,
 * costs about a second and prints to stdout). Each language's stemmer and stopword list is loaded from its
 * own submodule file, lazily, the first time an analyzer needing it is built, and cached per language.
 * `validateFullTextOptions` (run at `init`) only checks names and loads nothing.
 *
 * Supported languages (every language natural v8 has a WORKING stemmer for; checked by hand):
 *   english (Porter), french, german, spanish, italian, dutch, norwegian, portuguese, russian, swedish,
 *   ukrainian (natural's Porter/Snowball ports) and indonesian (Nazief-Adriani with a root-word dictionary;
 *   the slowest to load, ~35 ms).
 * Deliberately NOT supported, although natural ships a file for them:
 *   - farsi/persian (porter_stemmer_fa) and polish (stemmer_pl): their `stem` is the identity function;
 *   - japanese (stemmer_ja): it only normalizes katakana and expects text segmented by natural's Japanese
 *     tokenizer; our tokenizer does not segment CJK text, so "japanese" would silently index whole runs of
 *     kana/kanji as single words;
 *   - lancaster_stemmer / Carry are alternative English / French stemmers, not languages.
 * Every supported language has a stopword list (german: natural's own German stemmer uses the `de` list of
 * the `stopwords-iso` package, a dependency of natural, which that stemmer loads anyway; we reuse it), so
 * `remove_stopwords` never has to be refused. Stopword entries without any letter are dropped (natural's
 * English list contains the digits 0-9, which would make "windows 7" lose its 7); its single letters stay.
 *
 * Tokenization: text is NFC-normalized, then split into maximal runs of letters, digits and combining marks
 * that start with a letter or digit (`[\p{L}\p{N}][\p{L}\p{M}\p{N}]*`; the marks keep e.g. Devanagari
 * words whole). Everything else, apostrophes included, separates tokens ("don't" -> "don", "t").
 * A token's `pos` is its index in the ORIGINAL token stream, so removed stopwords leave gaps and phrase
 * matching honours them ("bank of america" -> bank@0, america@2).
 * Stemming always runs on the lower-cased word (natural's stemmers disagree about case); with
 * `case_sensitive` the original casing is re-applied to the stem (see `recase`).
 */
import { createRequire } from 'node:module';
import { ElacsymError } from '../../errors.js';
import type { FullTextOptions } from '../../model/types.js';

export interface Token {
  term: string;
  pos: number;
}

export interface Analyzer {
  readonly options: Readonly<FullTextOptions>;
  /** Tokens of one string; positions start at 0. */
  analyze(text: string): Token[];
  /**
   * Tokens of an attribute value. For an array, positions continue across elements with a gap of
   * `ARRAY_POSITION_GAP` so a phrase cannot span two elements. null -> [].
   */
  analyzeValue(value: string | readonly string[] | null | undefined): Token[];
}

/** Position increment inserted between the elements of an array<string> value (Lucene's default). */
export const ARRAY_POSITION_GAP = 100;

interface LanguageSpec {
  /** Path of the stemmer module inside the natural package. */
  stemmer: string;
  /** Path of the stopword module inside the natural package, or a loader for another source. */
  stopwords: string | (() => readonly string[]);
}

const NATURAL = 'natural/lib/natural/';

const LANGUAGES: Readonly<Record<string, LanguageSpec>> = {
  english: { stemmer: 'stemmers/porter_stemmer.js', stopwords: 'util/stopwords.js' },
  french: { stemmer: 'stemmers/porter_stemmer_fr.js', stopwords: 'util/stopwords_fr.js' },
  german: { stemmer: 'stemmers/porter_stemmer_de.js', stopwords: loadGermanStopwords },
  spanish: { stemmer: 'stemmers/porter_stemmer_es.js', stopwords: 'util/stopwords_es.js' },
  italian: { stemmer: 'stemmers/porter_stemmer_it.js', stopwords: 'util/stopwords_it.js' },
  dutch: { stemmer: 'stemmers/porter_stemmer_nl.js', stopwords: 'util/stopwords_nl.js' },
  norwegian: { stemmer: 'stemmers/porter_stemmer_no.js', stopwords: 'util/stopwords_no.js' },
  portuguese: { stemmer: 'stemmers/porter_stemmer_pt.js', stopwords: 'util/stopwords_pt.js' },
  russian: { stemmer: 'stemmers/porter_stemmer_ru.js', stopwords: 'util/stopwords_ru.js' },
  swedish: { stemmer: 'stemmers/porter_stemmer_sv.js', stopwords: 'util/stopwords_sv.js' },
  ukrainian: { stemmer: 'stemmers/porter_stemmer_uk.js', stopwords: 'util/stopwords_uk.js' },
  indonesian: { stemmer: 'stemmers/indonesian/stemmer_id.js', stopwords: 'util/stopwords_id.js' },
};

export const SUPPORTED_LANGUAGES: readonly string[] = Object.freeze(Object.keys(LANGUAGES));

const requireHere = createRequire(import.meta.url);

function loadGermanStopwords(): readonly string[] {
  // Resolve stopwords-iso the way natural's German stemmer does (from natural's own location).
  const req = createRequire(requireHere.resolve(`${NATURAL}stemmers/stemmer_de.js`));
  const all = req('stopwords-iso') as Record<string, unknown>;
  const de = all['de'];
  if (!Array.isArray(de)) throw new ElacsymError('INTERNAL', 'stopwords-iso has no German list');
  return de as string[];
}

type StemFn = (word: string) => string;
const stemmerCache = new Map<string, StemFn>();
const stopwordCache = new Map<string, ReadonlySet<string>>();

function specOf(language: string): LanguageSpec {
  const spec = Object.prototype.hasOwnProperty.call(LANGUAGES, language) ? LANGUAGES[language] : undefined;
  if (spec === undefined) {
    throw new ElacsymError(
      'INVALID_SCHEMA',
      `unknown full-text language "${language}"; supported: ${SUPPORTED_LANGUAGES.join(', ')}`,
    );
  }
  return spec;
}

function loadStemmer(language: string): StemFn {
  let fn = stemmerCache.get(language);
  if (fn !== undefined) return fn;
  const spec = specOf(language);
  const mod = requireHere(NATURAL + spec.stemmer) as { stem?: unknown };
  const stem = mod.stem;
  if (typeof stem !== 'function') {
    throw new ElacsymError('INTERNAL', `natural's ${language} stemmer has no stem() function`);
  }
  fn = (word: string): string => {
    const s: unknown = stem.call(mod, word);
    // Some stemmers return undefined/'' for degenerate input: keep the word then.
    return typeof s === 'string' && s.length > 0 ? s : word;
  };
  stemmerCache.set(language, fn);
  return fn;
}

function loadStopwords(language: string): ReadonlySet<string> {
  let set = stopwordCache.get(language);
  if (set !== undefined) return set;
  const spec = specOf(language);
  let words: readonly string[];
  if (typeof spec.stopwords === 'function') {
    words = spec.stopwords();
  } else {
    const mod = requireHere(NATURAL + spec.stopwords) as { words?: unknown };
    if (!Array.isArray(mod.words)) {
      throw new ElacsymError('INVALID_SCHEMA', `no stopword list for full-text language "${language}"`);
    }
    words = mod.words as string[];
  }
  // Entries without a letter (natural's English list has "0".."9", "$", "_") are dropped: numbers such as
  // the 7 of "windows 7" are worth indexing, and symbols never form tokens anyway.
  set = new Set(words.map((w) => String(w).normalize('NFC').toLowerCase()).filter((w) => /\p{L}/u.test(w)));
  stopwordCache.set(language, set);
  return set;
}

/** Checks the options without loading any stemmer or stopword list (cheap; called at `init`). */
export function validateFullTextOptions(o: FullTextOptions): void {
  if (o === null || typeof o !== 'object') {
    throw new ElacsymError('INVALID_SCHEMA', 'full-text options must be an object');
  }
  if (typeof o.language !== 'string') {
    throw new ElacsymError('INVALID_SCHEMA', `full-text language must be a string; supported: ${SUPPORTED_LANGUAGES.join(', ')}`);
  }
  specOf(o.language);
  for (const k of ['stemming', 'remove_stopwords', 'case_sensitive'] as const) {
    if (typeof o[k] !== 'boolean') {
      throw new ElacsymError('INVALID_SCHEMA', `full-text option "${k}" must be true or false`);
    }
  }
}

const TOKEN_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu;
const MEMO_MAX = 100_000;

/** Re-applies the casing of `orig` (whose lower-case form is `lower`) to the stem of `lower`. */
function recase(orig: string, lower: string, stem: string): string {
  if (orig === lower) return stem;
  if (stem === lower) return orig;
  if (orig.length === lower.length && lower.startsWith(stem)) return orig.slice(0, stem.length);
  if (orig === orig.toUpperCase()) return stem.toUpperCase();
  const first = orig.codePointAt(0) ?? 0;
  const firstStr = String.fromCodePoint(first);
  if (firstStr !== firstStr.toLowerCase()) {
    const sFirst = String.fromCodePoint(stem.codePointAt(0) ?? 0);
    return sFirst.toUpperCase() + stem.slice(sFirst.length);
  }
  return stem;
}

export function createAnalyzer(o: FullTextOptions): Analyzer {
  validateFullTextOptions(o);
  const options: Readonly<FullTextOptions> = Object.freeze({ ...o });
  const stopwords = options.remove_stopwords ? loadStopwords(options.language) : null;
  const stem = options.stemming ? loadStemmer(options.language) : null;
  const caseSensitive = options.case_sensitive;
  // Per-analyzer memo: word as it appears in the (lower-cased unless case_sensitive) text -> indexed term,
  // or null for a stopword. One hash lookup per token on the hot path (Zipf: few distinct words).
  const memo = new Map<string, string | null>();
  const plain = stem === null && stopwords === null;

  const termOf = (word: string): string | null => {
    const lower = caseSensitive ? word.toLowerCase() : word;
    if (stopwords !== null && stopwords.has(lower)) return null;
    if (stem === null) return word;
    const s = stem(lower);
    return caseSensitive ? recase(word, lower, s) : s;
  };

  /** Appends the tokens of `text` with positions starting at `base`; returns the next free position. */
  const run = (text: string, base: number, out: Token[]): number => {
    // Case-insensitive: lower-case the whole text once (cheaper than per token).
    const normalized = caseSensitive ? text.normalize('NFC') : text.normalize('NFC').toLowerCase();
    TOKEN_RE.lastIndex = 0;
    let pos = base;
    for (let m = TOKEN_RE.exec(normalized); m !== null; m = TOKEN_RE.exec(normalized)) {
      const word = m[0];
      if (plain) {
        out.push({ term: word, pos: pos++ });
        continue;
      }
      let term = memo.get(word);
      if (term === undefined) {
        term = termOf(word);
        if (memo.size >= MEMO_MAX) memo.clear();
        memo.set(word, term);
      }
      if (term !== null) out.push({ term, pos });
      pos++;
    }
    return pos;
  };

  return {
    options,
    analyze(text: string): Token[] {
      const out: Token[] = [];
      run(text, 0, out);
      return out;
    },
    analyzeValue(value: string | readonly string[] | null | undefined): Token[] {
      const out: Token[] = [];
      if (value === null || value === undefined) return out;
      if (typeof value === 'string') {
        run(value, 0, out);
        return out;
      }
      let base = 0;
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        if (i > 0) base += ARRAY_POSITION_GAP;
        if (typeof v === 'string') base = run(v, base, out);
      }
      return out;
    },
  };
}
