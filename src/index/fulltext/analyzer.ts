/**
 * Text analysis for full-text attributes: normalize, tokenize (segment), lowercase, drop stopwords, stem,
 * fold accents. `man elacsym-init` has the table of languages and what each analyzer does.
 *
 * Start-up cost: the `natural` package is NEVER loaded through its index (that pulls in database drivers,
 * costs about a second and prints to stdout), and neither are @orama/stemmers / @orama/stopwords (one
 * CommonJS file per language). Each language's stemmer and stopword list is loaded from its own file,
 * lazily, the first time an analyzer needing it is built, and cached per language; `Intl.Segmenter` is
 * created only when a text contains a script written without spaces. `validateFullTextOptions` (run at
 * `init`) only checks names and loads nothing.
 *
 * Two families of languages:
 *   - the 12 "legacy" languages of release 1 (english, french, german, spanish, italian, dutch, norwegian,
 *     portuguese, russian, swedish, ukrainian with natural's Porter/Snowball ports, indonesian with
 *     natural's Nazief-Adriani): tokenized EXACTLY as in release 1 (the `legacy` tokenizer below), so that
 *     every existing namespace keeps its index and its answers. Do not change their pipeline.
 *   - every later language uses the `unicode` tokenizer: the same runs of letters/digits, and each run that
 *     contains a script written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) is cut
 *     into words by `Intl.Segmenter` (ICU's dictionary segmentation, built into Node). Snowball stemmers and
 *     stopword lists come from @orama/stemmers / @orama/stopwords; chinese, japanese, korean, thai and the
 *     language-neutral `unicode` have no Snowball stemmer (korean strips common particles, see koreanStem).
 * Deliberately NOT offered: farsi and polish (natural's stemmers are the identity), slovenian (the orama
 * stopword list for it is a Russian list), sanskrit (orama's stemmer changes nothing and its stopword list
 * is in Latin transliteration, so neither applies to Devanagari text).
 *
 * Stopword entries without any letter are dropped (natural's English list contains the digits 0-9, which
 * would make "windows 7" lose its 7, and orama's Mandarin list punctuation); single letters stay.
 *
 * Legacy tokenization: text is NFC-normalized, then split into maximal runs of letters, digits and
 * combining marks that start with a letter or digit (`[\p{L}\p{N}][\p{L}\p{M}\p{N}]*`; the marks keep
 * e.g. Devanagari words whole). Everything else, apostrophes included, separates tokens ("don't" -> "don", "t").
 * A token's `pos` is its index in the ORIGINAL token stream, so removed stopwords leave gaps and phrase
 * matching honours them ("bank of america" -> bank@0, america@2). In a CJK run every segmented word is one
 * position, so a phrase query is the sequence of segmented words.
 * Stemming always runs on the lower-cased word (the stemmers disagree about case); with `case_sensitive`
 * the original casing is re-applied to the stem (see `recase`).
 *
 * ASCII folding (`ascii_folding`, off unless set, except for `unicode` where init turns it on): the text is
 * NFKC-normalized instead of NFC (compatibility forms: "ﬁ" -> "fi", full-width "ＡＢＣ" -> "ABC", "①" ->
 * "1"), and each term, AFTER the stopword check and the stemmer (which both expect the accents of their
 * language), loses its diacritics and a few letters are spelt out (ß -> ss, æ -> ae, ø -> o, ł -> l ...; see
 * `foldTerm`). The query goes through the same pipeline, phrases included, so "Café" = "cafe" both ways.
 * With folding, a word whose folded form is a folded stopword is a stopword too.
 */
import { createRequire } from 'node:module';
import { ElacsymError } from '../../errors.js';
import { requirePackageExport } from '../../util/require-export.js';
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
  /**
   * The tokens of `analyzeValue(value)`, in the same order, handed to `emit` one at a time instead of as
   * objects (a segment build indexes ~9 tokens per document and keeps none of them).
   */
  forEachToken(value: string | readonly string[] | null | undefined, emit: TokenSink): void;
  /**
   * The words of `text` normalized like indexed terms (case, Unicode normalization, folding) but neither
   * stemmed nor checked against the stopwords: what a prefix query `vect*` compares with the dictionary.
   */
  normalizeWords(text: string): string[];
}

/** Receives one token: its term and position (see Analyzer.forEachToken). */
export type TokenSink = (term: string, pos: number) => void;

/** Position increment inserted between the elements of an array<string> value (Lucene's default). */
export const ARRAY_POSITION_GAP = 100;

type StemFn = (word: string) => string;
type Tokenizer = 'legacy' | 'unicode';

interface LanguageSpec {
  tokenizer: Tokenizer;
  /** Loads the stemmer; null = the language has none (`stemming` is then a no-op). */
  stemmer: (() => StemFn) | null;
  /** Loads the stopword list; null = none (`remove_stopwords` is then a no-op unless `stopwords` is given). */
  stopwords: (() => readonly string[]) | null;
  /** Locale for Intl.Segmenter and for lower-casing (turkish: dotted/dotless i). */
  locale?: string;
  lowerLocale?: string;
  /**
   * The form in which a word is looked up in the stopword list, when it is not the lower-cased word
   * (greek: orama's list is written without accents and with σ for final ς).
   */
  stopKey?: (word: string) => string;
}

const NATURAL = 'natural/lib/natural/';
const requireHere = createRequire(import.meta.url);

const requireExport = (pkg: string, subpath: string): unknown => requirePackageExport(requireHere, pkg, subpath);

function naturalStemmer(path: string, language: string): () => StemFn {
  return () => {
    const mod = requireHere(NATURAL + path) as { stem?: unknown };
    const stem = mod.stem;
    if (typeof stem !== 'function') throw new ElacsymError('INTERNAL', `natural's ${language} stemmer has no stem() function`);
    return (word: string): string => stem.call(mod, word) as string;
  };
}

function naturalStopwords(path: string, language: string): () => readonly string[] {
  return () => {
    const mod = requireHere(NATURAL + path) as { words?: unknown };
    if (!Array.isArray(mod.words)) throw new ElacsymError('INVALID_SCHEMA', `no stopword list for full-text language "${language}"`);
    return mod.words as string[];
  };
}

/** @orama/stemmers: one CommonJS file per language (`require` export condition), `stemmer(word)`. */
function oramaStemmer(name: string): () => StemFn {
  return () => {
    const mod = requireExport('@orama/stemmers', name) as { stemmer?: unknown };
    const stem = mod.stemmer;
    if (typeof stem !== 'function') throw new ElacsymError('INTERNAL', `@orama/stemmers/${name} has no stemmer() function`);
    return stem as StemFn;
  };
}

function oramaStopwords(name: string, repair?: (w: string) => string): () => readonly string[] {
  return () => {
    const mod = requireExport('@orama/stopwords', name) as { stopwords?: unknown };
    if (!Array.isArray(mod.stopwords)) throw new ElacsymError('INTERNAL', `@orama/stopwords/${name} has no stopword list`);
    const words = mod.stopwords as string[];
    return repair ? words.map(repair) : words;
  };
}

/**
 * orama's Serbian list was decoded from Windows-1250 as Latin-1 (ć, č, đ appear as æ, è, ð: "moæi" for
 * "moći"); š and ž came through. Those three letters do not occur in Serbian, so mapping them back is safe.
 */
const SERBIAN_REPAIR: Readonly<Record<string, string>> = { æ: 'ć', è: 'č', ð: 'đ', Æ: 'Ć', È: 'Č', Ð: 'Đ' };
const repairSerbian = (w: string): string => w.replace(/[æèðÆÈÐ]/gu, (c) => SERBIAN_REPAIR[c] ?? c);
/** Greek words as orama's Greek stopword list spells them: no accents, σ for final ς. */
const greekStopKey = (w: string): string => foldTerm(w).replace(/ς/gu, 'σ');

function loadGermanStopwords(): readonly string[] {
  // Resolve stopwords-iso the way natural's German stemmer does (from natural's own location).
  const req = createRequire(requireHere.resolve(`${NATURAL}stemmers/stemmer_de.js`));
  const all = req('stopwords-iso') as Record<string, unknown>;
  const de = all['de'];
  if (!Array.isArray(de)) throw new ElacsymError('INTERNAL', 'stopwords-iso has no German list');
  return de as string[];
}

/** Korean particles (josa) stripped from the end of a Hangul word, longest first. */
const KOREAN_PARTICLES = ['에서는', '에게서', '으로는', '에서', '에게', '으로', '까지', '부터', '처럼', '보다', '은', '는', '이', '가', '을', '를', '의', '에', '로', '와', '과', '도', '만'];
let hangulWord: RegExp | undefined;

/**
 * A light Korean stemmer: Korean is written with spaces, but particles attach to the noun ("데이터베이스를"
 * = database + object marker). Strips one particle when at least two syllables remain. Over-stripping
 * (a noun that happens to end like a particle) is harmless: queries are stemmed the same way.
 */
function koreanStem(word: string): string {
  if (!(hangulWord ??= /^[\p{Script=Hangul}]+$/u).test(word)) return word;
  for (const p of KOREAN_PARTICLES) {
    if (word.length >= p.length + 2 && word.endsWith(p)) return word.slice(0, -p.length);
  }
  return word;
}

/**
 * Lucene's BulgarianStemmer (Savoy's light stemmer), which @orama/stemmers ports with writes into the
 * characters of a JS string: a TypeError in strict mode (its file is strict), e.g. on "търсене". Here the
 * same rules run on an array of characters.
 */
function bulgarianStem(word: string): string {
  const s = [...word];
  const endsWith = (len: number, suffix: string): boolean => {
    const suf = [...suffix];
    if (suf.length > len) return false;
    for (let i = 0; i < suf.length; i++) if (s[len - suf.length + i] !== suf[i]) return false;
    return true;
  };
  const removeArticle = (len: number): number => {
    if (len > 6 && endsWith(len, 'ият')) return len - 3;
    if (len > 5 && (endsWith(len, 'ът') || endsWith(len, 'то') || endsWith(len, 'те') || endsWith(len, 'та') || endsWith(len, 'ия'))) return len - 2;
    if (len > 4 && endsWith(len, 'ят')) return len - 2;
    return len;
  };
  const removePlural = (len: number): number => {
    if (len > 6) {
      if (endsWith(len, 'овци')) return len - 3;
      if (endsWith(len, 'ове')) return len - 3;
      if (endsWith(len, 'еве')) {
        s[len - 3] = 'й';
        return len - 2;
      }
    }
    if (len > 5) {
      if (endsWith(len, 'ища')) return len - 3;
      if (endsWith(len, 'та')) return len - 2;
      if (endsWith(len, 'ци')) {
        s[len - 2] = 'к';
        return len - 1;
      }
      if (endsWith(len, 'зи')) {
        s[len - 2] = 'г';
        return len - 1;
      }
      if (s[len - 3] === 'е' && s[len - 1] === 'и') {
        s[len - 3] = 'я';
        return len - 1;
      }
    }
    if (len > 4) {
      if (endsWith(len, 'си')) {
        s[len - 2] = 'х';
        return len - 1;
      }
      if (endsWith(len, 'и')) return len - 1;
    }
    return len;
  };
  let len = s.length;
  if (len < 4) return word;
  if (len > 5 && endsWith(len, 'ища')) return s.slice(0, len - 3).join('');
  len = removeArticle(len);
  len = removePlural(len);
  if (len > 3) {
    if (endsWith(len, 'я')) len--;
    if (endsWith(len, 'а') || endsWith(len, 'о') || endsWith(len, 'е')) len--;
  }
  if (len > 4 && endsWith(len, 'ен')) {
    s[len - 2] = 'н';
    len--;
  }
  if (len > 5 && s[len - 2] === 'ъ') {
    s[len - 2] = s[len - 1]!;
    len--;
  }
  return s.slice(0, len).join('');
}

const legacy = (stem: string, stop: string | (() => readonly string[]), language: string): LanguageSpec => ({
  tokenizer: 'legacy',
  stemmer: naturalStemmer(stem, language),
  stopwords: typeof stop === 'string' ? naturalStopwords(stop, language) : stop,
});
const snowball = (name: string, stop: string = name, extra: Partial<LanguageSpec> = {}): LanguageSpec => ({
  tokenizer: 'unicode',
  stemmer: oramaStemmer(name),
  stopwords: oramaStopwords(stop),
  ...extra,
});

const LANGUAGES: Readonly<Record<string, LanguageSpec>> = {
  // Release 1's languages: natural's stemmers and lists, legacy tokenizer (see the file comment).
  english: legacy('stemmers/porter_stemmer.js', 'util/stopwords.js', 'english'),
  french: legacy('stemmers/porter_stemmer_fr.js', 'util/stopwords_fr.js', 'french'),
  german: legacy('stemmers/porter_stemmer_de.js', loadGermanStopwords, 'german'),
  spanish: legacy('stemmers/porter_stemmer_es.js', 'util/stopwords_es.js', 'spanish'),
  italian: legacy('stemmers/porter_stemmer_it.js', 'util/stopwords_it.js', 'italian'),
  dutch: legacy('stemmers/porter_stemmer_nl.js', 'util/stopwords_nl.js', 'dutch'),
  norwegian: legacy('stemmers/porter_stemmer_no.js', 'util/stopwords_no.js', 'norwegian'),
  portuguese: legacy('stemmers/porter_stemmer_pt.js', 'util/stopwords_pt.js', 'portuguese'),
  russian: legacy('stemmers/porter_stemmer_ru.js', 'util/stopwords_ru.js', 'russian'),
  swedish: legacy('stemmers/porter_stemmer_sv.js', 'util/stopwords_sv.js', 'swedish'),
  ukrainian: legacy('stemmers/porter_stemmer_uk.js', 'util/stopwords_uk.js', 'ukrainian'),
  indonesian: legacy('stemmers/indonesian/stemmer_id.js', 'util/stopwords_id.js', 'indonesian'),
  // Snowball stemmers and stopword lists of @orama/stemmers / @orama/stopwords, unicode tokenizer.
  arabic: snowball('arabic'),
  armenian: snowball('armenian'),
  bulgarian: { tokenizer: 'unicode', stemmer: () => bulgarianStem, stopwords: oramaStopwords('bulgarian') },
  danish: snowball('danish'),
  finnish: snowball('finnish'),
  greek: snowball('greek', 'greek', { stopKey: greekStopKey }),
  hindi: snowball('indian', 'indian'),
  hungarian: snowball('hungarian'),
  irish: snowball('irish'),
  lithuanian: snowball('lithuanian'),
  nepali: snowball('nepali'),
  romanian: snowball('romanian'),
  serbian: { tokenizer: 'unicode', stemmer: oramaStemmer('serbian'), stopwords: oramaStopwords('serbian', repairSerbian) },
  tamil: snowball('tamil'),
  turkish: snowball('turkish', 'turkish', { lowerLocale: 'tr' }),
  // Scripts without spaces: dictionary segmentation, no Snowball stemmer.
  chinese: { tokenizer: 'unicode', stemmer: null, stopwords: oramaStopwords('mandarin'), locale: 'zh' },
  japanese: { tokenizer: 'unicode', stemmer: null, stopwords: oramaStopwords('japanese'), locale: 'ja' },
  korean: { tokenizer: 'unicode', stemmer: () => koreanStem, stopwords: null, locale: 'ko' },
  thai: { tokenizer: 'unicode', stemmer: null, stopwords: null, locale: 'th' },
  // Language-neutral: segmentation of every script, lower-casing, folding (on by default), nothing else.
  unicode: { tokenizer: 'unicode', stemmer: null, stopwords: null },
};

export const SUPPORTED_LANGUAGES: readonly string[] = Object.freeze(Object.keys(LANGUAGES));

/** The languages of release 1 (an elacsym of manifest format 1 knows only these). */
export const RELEASE1_LANGUAGES: readonly string[] = Object.freeze(SUPPORTED_LANGUAGES.filter((l) => LANGUAGES[l]!.tokenizer === 'legacy'));

/** Languages whose analyzer stems (`stemming` is a no-op for the others). */
export function hasStemmer(language: string): boolean {
  return specOf(language).stemmer !== null;
}

/** Languages with a built-in stopword list (`remove_stopwords` without `stopwords` is a no-op for the others). */
export function hasStopwords(language: string): boolean {
  return specOf(language).stopwords !== null;
}

const stemmerCache = new Map<string, StemFn>();
const stopwordCache = new Map<string, readonly string[]>();

function specOf(language: string): LanguageSpec {
  const spec = Object.prototype.hasOwnProperty.call(LANGUAGES, language) ? LANGUAGES[language] : undefined;
  if (spec === undefined) {
    throw new ElacsymError('INVALID_SCHEMA', `unknown full-text language "${language}"; supported: ${SUPPORTED_LANGUAGES.join(', ')}`);
  }
  return spec;
}

/** Longest word (UTF-16 code units) handed to a stemmer; see loadStemmer. */
export const MAX_STEMMED_LENGTH = 255;

function loadStemmer(language: string): StemFn | null {
  let fn = stemmerCache.get(language);
  if (fn !== undefined) return fn;
  const spec = specOf(language);
  if (spec.stemmer === null) return null;
  const stem = spec.stemmer();
  const guarded = spec.tokenizer !== 'legacy';
  fn = (word: string): string => {
    // Stemmers run in time quadratic in the word's length (natural's Porter: 2.5 s for one 20,000-letter
    // word): a longer word is indexed as it is, so one document or query cannot tie up a core. No
    // language has words this long; Lucene's tokenizers stop at the same 255.
    if (word.length > MAX_STEMMED_LENGTH) return word;
    let s: unknown;
    if (guarded) {
      // Third-party stemmers of the later languages: one that throws on some word (orama's Bulgarian
      // did) must not fail an import. Deterministic, so the query side falls back the same way.
      try {
        s = stem(word);
      } catch {
        s = word;
      }
    } else {
      s = stem(word);
    }
    // Some stemmers return undefined/'' for degenerate input: keep the word then.
    return typeof s === 'string' && s.length > 0 ? s : word;
  };
  stemmerCache.set(language, fn);
  return fn;
}

function loadStopwords(language: string): readonly string[] | null {
  let words = stopwordCache.get(language);
  if (words !== undefined) return words;
  const spec = specOf(language);
  if (spec.stopwords === null) return null;
  words = spec.stopwords();
  stopwordCache.set(language, words);
  return words;
}

/** Most stopwords a custom `stopwords` list may hold, and their longest length. */
export const MAX_CUSTOM_STOPWORDS = 10_000;

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
  if (o.tokenizer !== undefined && o.tokenizer !== 'legacy' && o.tokenizer !== 'unicode') {
    throw new ElacsymError('INVALID_SCHEMA', 'full-text option "tokenizer" must be "legacy" or "unicode"');
  }
  if (o.positions !== undefined && typeof o.positions !== 'boolean' && o.positions !== 'auto') {
    throw new ElacsymError('INVALID_SCHEMA', 'full-text option "positions" must be true, false or "auto"');
  }
  if (o.ascii_folding !== undefined && typeof o.ascii_folding !== 'boolean') {
    throw new ElacsymError('INVALID_SCHEMA', 'full-text option "ascii_folding" must be true or false');
  }
  if (o.stopwords !== undefined) {
    if (!Array.isArray(o.stopwords) || o.stopwords.length > MAX_CUSTOM_STOPWORDS || !o.stopwords.every((w) => typeof w === 'string' && w.length > 0 && w.length <= 256)) {
      throw new ElacsymError('INVALID_SCHEMA', `full-text option "stopwords" must be a list of at most ${MAX_CUSTOM_STOPWORDS} non-empty words`);
    }
    if (!o.remove_stopwords) {
      throw new ElacsymError('INVALID_SCHEMA', 'full-text option "stopwords" needs "remove_stopwords": true');
    }
  }
}

// The Unicode-property patterns are made on first use, not when the module loads: V8 builds their
// character sets from ICU when a literal is evaluated (~1 ms of every cold process, vector queries included).
let tokenRe: RegExp | undefined;
let noSpaceRe: RegExp | undefined;
const tokenPattern = (): RegExp => (tokenRe ??= /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu);
/** Scripts written without spaces between words: runs containing them go through Intl.Segmenter. */
const noSpacePattern = (): RegExp =>
  (noSpaceRe ??= /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u);
/**
 * Longest piece handed to one Intl.Segmenter call. V8's segment iterator slows down badly on long strings
 * (measured: 1 MB of Chinese in one call ran at 0.03 MB/s, in sentence-sized pieces at 3.5 MB/s); a run
 * without punctuation longer than this is cut, which can split one word at the cut (rare: it takes
 * 2,000 characters of CJK text without a single punctuation mark or space).
 */
const SEGMENT_PIECE = 2_000;
const MEMO_MAX = 100_000;

const segmenters = new Map<string, Intl.Segmenter>();
function segmenterFor(locale: string | undefined): Intl.Segmenter {
  const key = locale ?? '';
  let s = segmenters.get(key);
  if (s === undefined) {
    s = new Intl.Segmenter(locale, { granularity: 'word' });
    segmenters.set(key, s);
  }
  return s;
}

/** Combining diacritical marks of the Latin, Greek and Cyrillic scripts (removed by folding). */
const DIACRITICS_RE = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/gu;
/** Letters that do not decompose into a base letter + mark, spelt the way Lucene's ASCIIFoldingFilter does. */
const SPELT: Readonly<Record<string, string>> = {
  ß: 'ss', ẞ: 'SS', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', đ: 'd', Đ: 'D', ð: 'd', Ð: 'D',
  ł: 'l', Ł: 'L', þ: 'th', Þ: 'TH', ı: 'i', ħ: 'h', Ħ: 'H', ŧ: 't', Ŧ: 'T', ŋ: 'n', Ŋ: 'N', ĸ: 'q', ſ: 's',
};
const SPELT_RE = /[ßẞæÆœŒøØđĐðÐłŁþÞıħĦŧŦŋŊĸſ]/gu;
const ASCII_RE = /^[\u0000-\u007f]*$/;
/** 1 for the ASCII characters TOKEN_RE's classes hold (\p{L}, \p{N}; \p{M} has none): [0-9A-Za-z]. */
const ASCII_WORD = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) t[c] = 1;
  return t;
})();
// 32-bit FNV-1a over UTF-16 code units (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/).
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const WORD_MEMO_MIN = 1024;

/**
 * The WordMemo of every analyzer of these options in this process (at most SHARED_MEMOS option sets;
 * past that they start over): a segment build makes analyzers of its own, and an import's or a
 * compaction's next segment has mostly the words of the last one, whose terms (natural's Porter stemmer:
 * ~5 us a word, a regular expression per rule; ~0.2 s of each 100k-document segment of English glosses)
 * are then known. Fields of one schema with the same options share one memo too. The terms depend on the
 * options alone (stopword lists included), so sharing cannot change a token.
 */
function sharedWordMemo(options: Readonly<FullTextOptions>): WordMemo {
  const key = JSON.stringify(options);
  let m = sharedMemos.get(key);
  if (m === undefined) {
    if (sharedMemos.size >= SHARED_MEMOS) sharedMemos.clear();
    m = new WordMemo();
    sharedMemos.set(key, m);
  }
  return m;
}
const SHARED_MEMOS = 8;
const sharedMemos = new Map<string, WordMemo>();

/**
 * A memo of word -> term (null: a stopword) for runAscii (see sharedWordMemo), looked up by a word's place
 * in the text and its hash, so a word seen before costs no new string. Open addressing with linear probing, at
 * most half full: it starts at WORD_MEMO_MIN slots (a query's analyzer sees a few words) and doubles;
 * at MEMO_MAX words it starts over, as the analyzer's other memo does (Zipf: the frequent words come back
 * at once).
 */
class WordMemo {
  private words: (string | undefined)[] = new Array<string | undefined>(WORD_MEMO_MIN).fill(undefined);
  private terms: (string | null)[] = new Array<string | null>(WORD_MEMO_MIN).fill(null);
  private hashes = new Int32Array(WORD_MEMO_MIN);
  private count = 0;

  /** The term of text[start, end) (whose hash is h), or undefined if not memoized. */
  get(text: string, start: number, end: number, h: number): string | null | undefined {
    const { words, hashes } = this;
    const mask = words.length - 1;
    const len = end - start;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const w = words[slot];
      if (w === undefined) return undefined;
      if (hashes[slot] === h && w.length === len) {
        let k = 0;
        while (k < len && w.charCodeAt(k) === text.charCodeAt(start + k)) k++;
        if (k === len) return this.terms[slot] as string | null;
      }
    }
  }

  /** Memoizes word (hash h, not present) -> term. */
  set(word: string, h: number, term: string | null): void {
    if (this.count >= MEMO_MAX) this.reset(WORD_MEMO_MIN);
    else if (2 * (this.count + 1) > this.words.length) this.rehash(2 * this.words.length);
    this.insert(word, h, term);
    this.count++;
  }

  private insert(word: string, h: number, term: string | null): void {
    const mask = this.words.length - 1;
    let slot = h & mask;
    while (this.words[slot] !== undefined) slot = (slot + 1) & mask;
    this.words[slot] = word;
    this.terms[slot] = term;
    this.hashes[slot] = h;
  }

  private reset(cap: number): void {
    this.words = new Array<string | undefined>(cap).fill(undefined);
    this.terms = new Array<string | null>(cap).fill(null);
    this.hashes = new Int32Array(cap);
    this.count = 0;
  }

  private rehash(cap: number): void {
    const { words, terms, hashes } = this;
    this.reset(cap);
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (w !== undefined) {
        this.insert(w, hashes[i]!, terms[i] as string | null);
        this.count++;
      }
    }
  }
}

/** Folds one term: diacritics removed (in any script that uses the marks above), a few letters spelt out. */
export function foldTerm(term: string): string {
  if (ASCII_RE.test(term)) return term;
  const stripped = term.normalize('NFKD').replace(DIACRITICS_RE, '').replace(SPELT_RE, (c) => SPELT[c] ?? c);
  // Back to composed form: NFKD also decomposed Hangul syllables and kana with voicing marks, which are
  // not diacritics in the sense above and must come back as they were.
  return stripped.normalize('NFC');
}

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
  const options: Readonly<FullTextOptions> = Object.freeze({ ...o, ...(o.stopwords ? { stopwords: [...o.stopwords] } : {}) });
  const spec = specOf(options.language);
  const TOKEN_RE = tokenPattern();
  const NO_SPACE_RE = noSpacePattern();
  // Absent = off (schemas written before the option), except for `unicode`, which is newer than the option
  // and folds by default (parseSchema also writes it down explicitly at init).
  const folding = options.ascii_folding ?? options.language === 'unicode';
  const caseSensitive = options.case_sensitive;
  const lowerLocale = spec.lowerLocale;
  const lower = lowerLocale === undefined ? (t: string) => t.toLowerCase() : (t: string) => t.toLocaleLowerCase(lowerLocale);
  const stopKey = spec.stopKey ?? ((w: string) => w);

  let stopwords: ReadonlySet<string> | null = null;
  if (options.remove_stopwords) {
    const words = options.stopwords ?? loadStopwords(options.language);
    if (words !== null) {
      // Entries without a letter (natural's English list has "0".."9", "$", "_") are dropped: numbers such as
      // the 7 of "windows 7" are worth indexing, and symbols never form tokens anyway.
      const set = new Set<string>();
      for (const w of words) {
        const n = lower(String(w).normalize(folding ? 'NFKC' : 'NFC'));
        if (!/\p{L}/u.test(n)) continue;
        set.add(stopKey(n));
        if (folding) set.add(stopKey(foldTerm(n)));
      }
      stopwords = set;
    }
  }
  const stem = options.stemming ? loadStemmer(options.language) : null;
  // Per-analyzer memo: word as it appears in the (lower-cased unless case_sensitive) text -> indexed term,
  // or null for a stopword. One hash lookup per token on the hot path (Zipf: few distinct words).
  const memo = new Map<string, string | null>();
  const plain = stem === null && stopwords === null && !folding;

  const termOf = (word: string): string | null => {
    const low = caseSensitive ? lower(word) : word;
    if (stopwords !== null) {
      const key = stopKey(low);
      if (stopwords.has(key) || (folding && stopwords.has(stopKey(foldTerm(low))))) return null;
    }
    let t = word;
    if (stem !== null) {
      const s = stem(low);
      t = caseSensitive ? recase(word, low, s) : s;
    }
    return folding ? foldTerm(t) : t;
  };

  const normalizeText = (text: string): string => {
    const n = text.normalize(folding ? 'NFKC' : 'NFC');
    return caseSensitive ? n : lower(n);
  };

  // `tokenizer: "unicode"` opts a release-1 language into segmentation (its default stays "legacy").
  const tokenizer: Tokenizer = options.tokenizer ?? spec.tokenizer;
  const segmenter = tokenizer === 'unicode' ? () => segmenterFor(spec.locale) : null;
  /** Cuts a run containing a script without spaces into words (see SEGMENT_PIECE). */
  const segmentRun = (runText: string, emit: (w: string) => void): void => {
    const seg = segmenter!();
    if (runText.length <= SEGMENT_PIECE) {
      for (const s of seg.segment(runText)) if (s.isWordLike === true) emit(s.segment);
      return;
    }
    for (let i = 0; i < runText.length; ) {
      let end = Math.min(runText.length, i + SEGMENT_PIECE);
      // Never cut a surrogate pair (CJK extension B and later are outside the BMP).
      const c = runText.charCodeAt(end - 1);
      if (end < runText.length && c >= 0xd800 && c <= 0xdbff) end--;
      for (const s of seg.segment(runText.slice(i, end))) if (s.isWordLike === true) emit(s.segment);
      i = end;
    }
  };
  /** Calls `emit` with each word of the normalized text, in order (no stopwords, no stemming). */
  const words = (normalized: string, emit: (w: string) => void): void => {
    for (const m of normalized.matchAll(TOKEN_RE)) {
      if (segmenter !== null && NO_SPACE_RE.test(m[0])) segmentRun(m[0], emit);
      else emit(m[0]);
    }
  };

  // ASCII text, most text in many corpora, is cut by a scan of its character codes (runAscii) instead of
  // TOKEN_RE: the same tokens (ASCII is unchanged by every normalization form; lower-casing ASCII gives
  // ASCII except under a locale's rules, e.g. Turkish dotless i, hence the condition), without a match
  // object and a new string per token.
  const asciiFast = caseSensitive || lowerLocale === undefined;
  const wordMemo = sharedWordMemo(options);
  /** runAscii's cut of `n` (ASCII, normalized), positions from `base`; returns the next free position. */
  const runAscii = (n: string, base: number, emit: TokenSink): number => {
    let pos = base;
    const len = n.length;
    for (let i = 0; i < len; ) {
      let c = n.charCodeAt(i);
      if (ASCII_WORD[c] !== 1) {
        i++;
        continue;
      }
      const start = i;
      let h = Math.imul(FNV_OFFSET ^ c, FNV_PRIME);
      for (i++; i < len; i++) {
        c = n.charCodeAt(i);
        if (ASCII_WORD[c] !== 1) break;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      if (plain) {
        emit(n.slice(start, i), pos++);
        continue;
      }
      let term = wordMemo.get(n, start, i, h);
      if (term === undefined) {
        // A copy, not a slice: V8 makes a slice of 13 or more characters a view that keeps the whole text
        // alive, and the memo outlives this text (a document's body) and this analyzer.
        const word = i - start < 13 ? n.slice(start, i) : Buffer.from(n.slice(start, i), 'latin1').toString('latin1');
        term = termOf(word);
        wordMemo.set(word, h, term);
      }
      if (term !== null) emit(term, pos);
      pos++;
    }
    return pos;
  };

  /** Emits the tokens of `text` with positions starting at `base`; returns the next free position. */
  const run = (text: string, base: number, emit: TokenSink): number => {
    if (asciiFast && ASCII_RE.test(text)) return runAscii(caseSensitive ? text : text.toLowerCase(), base, emit);
    const normalized = normalizeText(text);
    let pos = base;
    const take = (word: string): void => {
      let term = memo.get(word);
      if (term === undefined) {
        term = termOf(word);
        if (memo.size >= MEMO_MAX) memo.clear();
        memo.set(word, term);
      }
      if (term !== null) emit(term, pos);
      pos++;
    };
    // One scan of the whole text decides whether any run may need the segmenter (most text: none).
    const segmenting = segmenter !== null && NO_SPACE_RE.test(normalized);
    TOKEN_RE.lastIndex = 0;
    for (let m = TOKEN_RE.exec(normalized); m !== null; m = TOKEN_RE.exec(normalized)) {
      const word = m[0];
      if (segmenting && NO_SPACE_RE.test(word)) {
        segmentRun(word, plain ? (w) => emit(w, pos++) : take);
        continue;
      }
      if (plain) {
        emit(word, pos++);
        continue;
      }
      take(word);
    }
    return pos;
  };

  const forEachToken = (value: string | readonly string[] | null | undefined, emit: TokenSink): void => {
    if (value === null || value === undefined) return;
    if (typeof value === 'string') {
      run(value, 0, emit);
      return;
    }
    let base = 0;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (i > 0) base += ARRAY_POSITION_GAP;
      if (typeof v === 'string') base = run(v, base, emit);
    }
  };
  return {
    options,
    analyze(text: string): Token[] {
      const out: Token[] = [];
      run(text, 0, (term, pos) => out.push({ term, pos }));
      return out;
    },
    analyzeValue(value: string | readonly string[] | null | undefined): Token[] {
      const out: Token[] = [];
      forEachToken(value, (term, pos) => out.push({ term, pos }));
      return out;
    },
    forEachToken,
    normalizeWords(text: string): string[] {
      const out: string[] = [];
      words(normalizeText(text), (w) => out.push(folding ? foldTerm(w) : w));
      return out;
    },
  };
}
