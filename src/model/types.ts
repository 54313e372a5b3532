/** Pure types shared by every layer. No I/O here. */

export type AttrType = 'string' | 'integer' | 'float' | 'boolean' | 'array<string>';
export type Metric = 'cosine' | 'l2' | 'dot';

export interface FullTextOptions {
  /** A language `natural` has a stemmer for, lower case (e.g. "english", "french"). */
  language: string;
  stemming: boolean;
  remove_stopwords: boolean;
  case_sensitive: boolean;
  /**
   * Fold diacritics and compatibility forms on both sides (Café = cafe, ﬁ = fi, ＡＢＣ = abc). Absent in
   * every schema written before the option existed, which means false: old namespaces keep their index.
   */
  ascii_folding?: boolean;
  /**
   * "legacy" (release 1: runs of letters and digits) or "unicode" (the same, plus dictionary segmentation
   * of scripts written without spaces). Absent: the language's default ("legacy" for release 1's twelve
   * languages, "unicode" for every later one).
   */
  tokenizer?: 'legacy' | 'unicode';
  /** A custom stopword list replacing the language's (needs remove_stopwords). */
  stopwords?: string[];
  /**
   * Keep token positions in the segments' postings (fast phrase queries, ~1 byte per token more). false:
   * phrases are checked against the stored text of the documents holding every phrase term (same answers,
   * slower phrase queries, the more so the longer the text). "auto": positions in a segment whose values
   * of the field average more than AUTO_POSITIONS_MIN_TOKENS tokens, none in one of short values. Absent in
   * every schema written before format 5, which means true: old namespaces keep their postings; `init` and
   * `alter` write "auto" unless told otherwise.
   */
  positions?: boolean | 'auto';
}

export interface AttributeSchema {
  type: AttrType;
  /** null when the attribute is not full-text indexed. */
  full_text: FullTextOptions | null;
}

export interface Schema {
  /** 0 for a text-only namespace. */
  vector_dim: number;
  vector_metric: Metric;
  attributes: Record<string, AttributeSchema>;
}

/** Non-negative safe integers or non-empty strings (see docs/reference.md, "Documents and import"). */
export type DocId = number | string;
export type AttrValue = string | number | boolean | string[] | null;
export type Attributes = Record<string, AttrValue>;

export interface Doc {
  id: DocId;
  /** null when the document has no vector. */
  vector: Float32Array | null;
  attributes: Attributes;
}
