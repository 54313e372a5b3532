// The analyzer cuts ASCII text by a scan of its character codes (runAscii) and everything else with
// TOKEN_RE. Both must give the same tokens: a text with one non-ASCII word appended goes through TOKEN_RE,
// and its tokens but the last (that word's) are what the ASCII text alone must give.
import { describe, expect, it } from 'vitest';
import type { FullTextOptions } from '../../../src/model/types.js';
import { SUPPORTED_LANGUAGES, createAnalyzer, type Token } from '../../../src/index/fulltext/analyzer.js';
import { FieldIndexBuilder } from '../../../src/index/fulltext/postings.js';
import { fullCollection } from '../../../src/util/gc.js';
import { mulberry32 } from '../../../src/util/prng.js';

const WORDS = [
  'the', 'of', 'and', 'The', 'AND', 'running', 'Runs', 'ran', 'connection', 'CONNECTED', 'national', 'generously',
  'der', 'und', 'Haus', 'Hauser', 'le', 'les', 'maison', 'casa', 'casas', 'de', 'el', 'och', 'huset', 'rumah',
  'Windows7', '42', '3d', 'x', 'I', 'i', 'IT', 'it', 'a', 'A1b2C3', 'caf', 'naive', 'ok', 'dont', 'don', 't',
];
// Separators: every ASCII character that is not a letter or digit, controls and DEL included.
const SEPARATORS = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c)).filter((ch) => !/[0-9A-Za-z]/.test(ch));

function asciiTexts(seed: number, count: number): string[] {
  const r = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = Math.floor(r() * 14);
    for (let w = 0; w < n; w++) {
      if (w > 0 || r() < 0.3) {
        const k = 1 + Math.floor(r() * 3);
        for (let j = 0; j < k; j++) s += SEPARATORS[Math.floor(r() * SEPARATORS.length)];
      }
      s += WORDS[Math.floor(r() * WORDS.length)];
    }
    if (r() < 0.3) s += SEPARATORS[Math.floor(r() * SEPARATORS.length)];
    out.push(s);
  }
  return out;
}

/** The tokens of `text` as TOKEN_RE cuts it: `text` with a non-ASCII word after it, that word's token dropped. */
function throughPattern(analyze: (t: string) => Token[], text: string): Token[] {
  const toks = analyze(`${text} \u00ff\u00ff\u00ff`);
  const last = toks.at(-1);
  expect(last, 'the marker word gives a token').toBeDefined();
  expect(toks.filter((t) => t.pos === last!.pos)).toHaveLength(1);
  return toks.slice(0, -1);
}

const variants: Partial<FullTextOptions>[] = [
  { stemming: true, remove_stopwords: true, case_sensitive: false },
  { stemming: true, remove_stopwords: true, case_sensitive: true },
  { stemming: true, remove_stopwords: true, case_sensitive: false, ascii_folding: true },
  { stemming: false, remove_stopwords: false, case_sensitive: false },
  { stemming: false, remove_stopwords: false, case_sensitive: true },
];

describe('ASCII text is cut as TOKEN_RE cuts it', () => {
  const texts = asciiTexts(7, 300);
  it.each(SUPPORTED_LANGUAGES.flatMap((language) => variants.map((v) => ({ language, ...v }))))('%o', (o) => {
    const a = createAnalyzer({ language: o.language!, stemming: o.stemming!, remove_stopwords: o.remove_stopwords!, case_sensitive: o.case_sensitive!, ...(o.ascii_folding ? { ascii_folding: true } : {}) });
    // A second analyzer, whose own memo serves the pattern's path (the marker makes every text it sees
    // non-ASCII); the two share the ASCII memo of these options, which only `a` fills here.
    const b = createAnalyzer(a.options);
    for (const text of texts) expect(a.analyze(text), JSON.stringify(text)).toEqual(throughPattern((t) => b.analyze(t), text));
    // and again, now from the memo
    for (const text of texts) expect(a.analyze(text), JSON.stringify(text)).toEqual(throughPattern((t) => b.analyze(t), text));
  });

  it('past the memo bound (100,000 words) and through its growth', () => {
    const a = createAnalyzer({ language: 'english', stemming: false, remove_stopwords: true, case_sensitive: false });
    const b = createAnalyzer(a.options);
    for (let chunk = 0; chunk < 24; chunk++) {
      const words: string[] = [];
      for (let i = 0; i < 5000; i++) words.push(`w${chunk * 5000 + i} the W${i % 97}`);
      const text = words.join(' ');
      expect(a.analyze(text)).toEqual(throughPattern((t) => b.analyze(t), text));
    }
  });

  // The memo outlives its analyzers (shared by options): a word kept as a slice of its text (V8 makes one of
  // 13 or more characters a view of the whole string) kept every text with a new long word alive: 20,000
  // texts of 21 KB held 418 MB after a full collection.
  it('the shared memo keeps the words, not the texts they came from', () => {
    const opts: FullTextOptions = { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false };
    const pad = 'lorem ipsum dolor sit amet '.repeat(400); // 10.8 KB
    fullCollection();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2000; i++) createAnalyzer(opts).analyze(`${pad} averyuniqueword${i}x ${pad}`);
    fullCollection();
    const grown = process.memoryUsage().heapUsed - before;
    // 2,000 texts of 21.6 KB would be ~43 MB; the words alone well under 1 MB
    expect(grown).toBeLessThan(12 * 1024 * 1024);
  });

  it('forEachToken gives what analyzeValue gives, arrays included', () => {
    const a = createAnalyzer({ language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false });
    const values: (string | string[] | null)[] = [...asciiTexts(11, 50), ['The running dogs', 'caf\u00e9 au lait', ''], null, 'na\u00efve caf\u00e9'];
    for (const v of values) {
      const got: Token[] = [];
      a.forEachToken(v, (term, pos) => got.push({ term, pos }));
      expect(got).toEqual(a.analyzeValue(v));
    }
  });

  it('FieldIndexBuilder.addValue writes the bytes add() of analyzeValue writes', () => {
    const a = createAnalyzer({ language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false });
    const values: (string | string[] | null)[] = [...asciiTexts(13, 400), ['x y', 'z'], null, '', 'the of and', 'caf\u00e9'];
    for (const positions of [true, false, 'auto'] as const) {
      const viaTokens = new FieldIndexBuilder(values.length, positions);
      const viaSink = new FieldIndexBuilder(0, positions); // no expected count: grows by doubling
      for (const v of values) {
        viaTokens.add(v === null ? null : a.analyzeValue(v));
        viaSink.addValue(a, v);
      }
      expect(Buffer.from(viaSink.finish()).equals(Buffer.from(viaTokens.finish()))).toBe(true);
    }
  });
});
