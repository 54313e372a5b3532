/**
 * Every language on real sentences: inflected forms meet, stopwords are removed, folding works, and words
 * inside text written without spaces are found alone and as phrases.
 */
import { describe, expect, it } from 'vitest';
import { SUPPORTED_LANGUAGES, createAnalyzer, hasStemmer, hasStopwords } from '../../../src/index/fulltext/analyzer.js';
import type { FullTextOptions } from '../../../src/model/types.js';

const opts = (language: string, o: Partial<FullTextOptions> = {}): FullTextOptions => ({
  language,
  stemming: true,
  remove_stopwords: true,
  case_sensitive: false,
  ...o,
});
const terms = (language: string, text: string, o: Partial<FullTextOptions> = {}): string[] =>
  createAnalyzer(opts(language, o)).analyze(text).map((t) => t.term);

/**
 * [a sentence, a word of it in another inflected form (or the same form where the language has no
 * stemmer), a stopword the sentence contains (null: the language has no list)].
 */
const SENTENCES: Record<string, [string, string, string | null]> = {
  english: ['The connections between the libraries were running slowly', 'connection', 'the'],
  french: ['Les élèves travaillaient dans les bibliothèques', 'bibliothèque', 'les'],
  german: ['Die Kinder spielten in den Häusern der Stadt', 'Haus', 'die'],
  spanish: ['Los estudiantes leían libros en las bibliotecas', 'biblioteca', 'los'],
  italian: ['I gattini dormivano sulle sedie della cucina', 'gattino', 'della'],
  dutch: ['De kinderen speelden in de huizen van de stad', 'kinderen', 'de'],
  norwegian: ['Bilene sto parkert utenfor husene og butikkene', 'bil', 'og'],
  portuguese: ['Os alunos estudavam nas bibliotecas da cidade', 'biblioteca', 'os'],
  russian: ['Это доверенное лицо подписало документы после встречи', 'доверенные', 'после'],
  swedish: ['Bilarna stod parkerade utanför husen och affärerna', 'bil', 'och'],
  ukrainian: ['Студенти читали книгами після занять у бібліотеці', 'книга', 'після'],
  indonesian: ['Perekonomian negara adalah tanggung jawab pemerintah', 'ekonomi', 'adalah'],
  arabic: ['ذهب الطلاب إلى المكتبات في المدينة', 'مكتبة', 'في'],
  armenian: ['Ուսանողները կարդում էին գրքեր գրադարանում', 'գրադարան', 'էին'],
  bulgarian: ['Студентите четяха книгите в библиотеката', 'книга', 'в'],
  danish: ['Bilerne holdt parkeret uden for husene og butikkerne', 'bil', 'og'],
  finnish: ['Asumme talossa järven rannalla ja olemme onnellisia', 'talo', 'ja'],
  greek: ['Οι μαθητές περπατούσαν στους δρόμους της πόλης', 'δρόμος', 'της'],
  hindi: ['लड़कियाँ और बच्चे पुस्तकालय का किताबें पढ़ रहे हैं', 'किताब', 'और'],
  hungarian: ['A gyerekek a házak előtt játszottak', 'ház', 'a'],
  irish: ['Bhí na páistí ag súgradh ar an bhfeirm', 'feirm', 'na'],
  lithuanian: ['Vaikai žaidė miesto parkuose ir soduose', 'parkas', 'ir'],
  nepali: ['अब विद्यार्थीहरू पुस्तकालयमा किताबहरू पढ्दैछन्', 'किताब', 'अब'],
  romanian: ['Studenții citeau cărțile în bibliotecile orașului', 'biblioteca', 'în'],
  serbian: ['Posle predavanja studenti su čitali knjige u bibliotekama', 'biblioteka', 'posle'],
  tamil: ['மாணவர்கள் மற்றும் ஆசிரியர்கள் புத்தகங்கள் படித்தனர்', 'புத்தகம்', 'மற்றும்'],
  turkish: ['Öğrenciler kütüphanede kitaplar okuyorlar ve çalışıyorlar', 'kitap', 've'],
  chinese: ['我们正在构建向量数据库', '数据库', '我们'],
  japanese: ['東京の天気は晴れです', '天気', 'の'],
  korean: ['우리는 벡터 데이터베이스를 만들고 있습니다', '데이터베이스', null],
  thai: ['ฉันชอบกินข้าวผัดที่ร้านนี้', 'ข้าวผัด', null],
  unicode: ['Café crème 東京の天気 ฉันชอบกินข้าวผัด', 'cafe', null],
};

describe('languages', () => {
  it('every supported language has a real sentence here', () => {
    expect(Object.keys(SENTENCES).sort()).toEqual([...SUPPORTED_LANGUAGES].sort());
  });

  for (const [language, [sentence, other, stop]] of Object.entries(SENTENCES)) {
    it(`${language}: an inflected form meets the sentence, stopwords are removed`, () => {
      const doc = terms(language, sentence);
      const q = terms(language, other);
      expect(q.length, `${language}: ${other} -> ${q.join(' ')}`).toBeGreaterThan(0);
      for (const t of q) expect(doc, `${language}: ${other} -> ${t} in ${doc.join(' ')}`).toContain(t);
      if (stop !== null) {
        expect(hasStopwords(language) || language === 'unicode').toBe(true);
        const kept = terms(language, sentence, { remove_stopwords: false, stemming: false });
        expect(kept, language).toContain(terms(language, stop, { remove_stopwords: false, stemming: false })[0]);
        expect(terms(language, stop), `${language}: stopword ${stop}`).toEqual([]);
      }
    });
  }

  it('inflected forms the issue names are conflated', () => {
    expect(terms('russian', 'доверенное')).toEqual(terms('russian', 'доверенные'));
    expect(terms('turkish', 'kitaplar')).toEqual(terms('turkish', 'kitap'));
    expect(terms('finnish', 'talossa')).toEqual(terms('finnish', 'talo'));
    expect(terms('greek', 'δρόμους')).toEqual(terms('greek', 'δρόμος'));
    expect(terms('danish', 'bilerne')).toEqual(terms('danish', 'bil'));
    expect(terms('hungarian', 'házak')).toEqual(terms('hungarian', 'ház'));
    expect(terms('korean', '데이터베이스를')).toEqual(terms('korean', '데이터베이스'));
  });

  it('greek stopwords are found with accents and final sigma; serbian list is repaired', () => {
    expect(terms('greek', 'της Της ΤΗΣ')).toEqual([]);
    expect(terms('serbian', 'moći posle')).toEqual([]);
  });

  it('turkish lower-cases with dotted and dotless i', () => {
    expect(terms('turkish', 'KİTAPLAR')).toEqual(terms('turkish', 'kitap'));
  });

  it('stemming is a no-op for languages without a stemmer, and documented so', () => {
    for (const language of ['chinese', 'japanese', 'thai', 'unicode']) expect(hasStemmer(language), language).toBe(false);
    expect(hasStemmer('korean')).toBe(true);
    expect(terms('unicode', 'running runs')).toEqual(['running', 'runs']);
  });
});

describe('segmentation of scripts written without spaces', () => {
  const cases: Array<[string, string, string, string]> = [
    // [language, sentence, a word of it, a two-word phrase of it]
    ['chinese', '我们正在构建向量数据库', '向量', '向量数据库'],
    ['japanese', '東京の天気は晴れです', '天気', '天気は晴れ'],
    ['thai', 'ฉันชอบกินข้าวผัดที่ร้านนี้', 'ชอบ', 'ชอบกิน'],
    ['unicode', 'ខ្ញុំស្រលាញ់អ្នក', 'អ្នក', 'ស្រលាញ់អ្នក'],
    ['unicode', 'ຂ້ອຍຮັກເຈົ້າ', 'ຮັກ', 'ຮັກເຈົ້າ'],
  ];
  for (const [language, sentence, word, phrase] of cases) {
    it(`${language}: "${word}" is a word of "${sentence}", and "${phrase}" a run of its positions`, () => {
      const a = createAnalyzer(opts(language));
      const doc = a.analyze(sentence);
      const w = a.analyze(word);
      expect(w.length).toBeGreaterThan(0);
      for (const t of w) expect(doc.map((d) => d.term)).toContain(t.term);
      // The phrase's words occur in the sentence at the same relative positions.
      const p = a.analyze(phrase);
      expect(p.length).toBeGreaterThan(1);
      const starts = doc.filter((d) => d.term === p[0]!.term).map((d) => d.pos);
      expect(starts.some((s) => p.every((q) => doc.some((d) => d.term === q.term && d.pos === s + q.pos - p[0]!.pos)))).toBe(true);
    });
  }

  it('a release-1 language segments with tokenizer "unicode" (opt-in) and not without', () => {
    expect(terms('english', 'Vector databases in 東京の天気', { tokenizer: 'unicode' })).toEqual(['vector', 'databas', '東京', 'の', '天気']);
    expect(terms('english', 'Vector databases in 東京の天気')).toEqual(['vector', 'databas', '東京の天気']);
    // Text without such scripts tokenizes identically either way.
    const t = "Don't stop the e-mails, 3.14 Café";
    expect(terms('english', t, { tokenizer: 'unicode' })).toEqual(terms('english', t));
  });

  it('latin words keep their legacy tokenization inside the unicode analyzer', () => {
    expect(terms('unicode', "Don't stop", { ascii_folding: false })).toEqual(['don', 't', 'stop']);
    expect(terms('unicode', '東京2020オリンピック')).toEqual(['東京', '2020', 'オリンピック']);
  });

  it('a very long run without punctuation is segmented piecewise and completely', () => {
    const a = createAnalyzer(opts('chinese', { remove_stopwords: false }));
    const toks = a.analyze('向量数据库'.repeat(2000));
    expect(toks.filter((t) => t.term === '向量').length).toBeGreaterThan(1900);
    expect(toks.every((t, i) => t.pos === i)).toBe(true);
    // A cut never splits a surrogate pair: every character of the run survives (𠀀 is outside the BMP).
    const text = `向${'𠀀'.repeat(1500)}`; // the odd BMP character puts the 2,000th code unit mid-pair
    expect(a.analyze(text).map((t) => t.term).join('')).toBe(text);
  });
});

describe('ascii_folding', () => {
  it('folds diacritics, ligatures, full-width forms and special letters on both sides', () => {
    for (const language of ['english', 'unicode', 'german', 'finnish']) {
      const a = createAnalyzer(opts(language, { ascii_folding: true, stemming: false, remove_stopwords: false }));
      expect(a.analyze('Café ﬁne ＡＢＣ Straße Øre Łódź').map((t) => t.term), language).toEqual(['cafe', 'fine', 'abc', 'strasse', 'ore', 'lodz']);
    }
  });

  it('french: élève and eleve meet when folding, and not without', () => {
    expect(terms('french', 'élève', { ascii_folding: true })).toEqual(terms('french', 'eleve', { ascii_folding: true }));
    expect(terms('french', 'élèves', { ascii_folding: true })).toEqual(terms('french', 'eleve', { ascii_folding: true }));
    expect(terms('french', 'élève')).not.toEqual(terms('french', 'eleve'));
  });

  it('keeps kana voicing marks and Hangul syllables intact', () => {
    expect(terms('unicode', 'が 학교')).toEqual(['が', '학교']);
    expect(terms('japanese', 'ｶﾞｯｺｳ', { ascii_folding: true })).toEqual(terms('japanese', 'ガッコウ', { ascii_folding: true }));
  });

  it('without the option (every schema written before it existed) nothing is folded', () => {
    expect(terms('english', 'Café ﬁne ＡＢＣ', { stemming: false })).toEqual(['café', 'ﬁne', 'ａｂｃ']);
  });

  it('an unaccented form of a stopword is a stopword when folding', () => {
    expect(terms('french', 'a été', { ascii_folding: true })).toEqual([]);
    expect(terms('french', 'a ete', { ascii_folding: true })).toEqual([]);
  });
});

describe('custom stopwords', () => {
  it('replace the language list', () => {
    expect(terms('english', 'the quick brown fox', { stopwords: ['quick', 'FOX'], stemming: false })).toEqual(['the', 'brown']);
  });
  it('work for a language without a list', () => {
    expect(terms('thai', 'ฉันชอบกินข้าวผัด', { stopwords: ['ฉัน'] })).toEqual(['ชอบ', 'กิน', 'ข้าว', 'ผัด']);
  });
});

describe('documentation', () => {
  it('man/elacsym-init.1 has a row for every supported language', async () => {
    const { readFileSync } = await import('node:fs');
    const page = readFileSync(new URL('../../../man/elacsym-init.1', import.meta.url), 'utf8');
    const rows = new Set(page.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t')[0]));
    for (const l of SUPPORTED_LANGUAGES) expect(rows.has(l), l).toBe(true);
  });
});

describe('robustness', () => {
  it('no analyzer throws, whatever the text (orama Bulgarian stemmer wrote into strings and threw)', async () => {
    const fc = (await import('fast-check')).default;
    const analyzers = SUPPORTED_LANGUAGES.flatMap((l) => [createAnalyzer(opts(l)), createAnalyzer(opts(l, { ascii_folding: true, case_sensitive: true }))]);
    const words = Object.values(SENTENCES).flatMap(([s]) => s.split(/\s+/u));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.array(fc.constantFrom(...words), { maxLength: 6 }).map((w) => w.join(' '))), (text) => {
        for (const a of analyzers) {
          const toks = a.analyze(text);
          for (const t of toks) expect(t.term.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 200 },
    );
    expect(terms('bulgarian', 'търсене студентите')).toEqual(['търсн', 'студент']);
  });
});

