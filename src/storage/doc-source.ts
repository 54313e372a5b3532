/**
 * A segment's documents as the segment build reads them (issue 11, bounded merge memory): consecutive
 * chunks in ordinal order, read in passes. A flush has them in one array already; a merge decodes its input
 * segments again on each pass (store/compact.ts), so the group's documents are never held at once: the
 * build holds one chunk, a Parquet row group's worth of documents, and what it makes of them.
 *
 * The build reads a source twice (store/segment-builder.ts): a survey first (`surveyDocs`: what the
 * Parquet file's key-value metadata and the layout must know before the first row is written), then the
 * pass that writes the Parquet row groups and feeds the index sections. Every pass must give the same
 * documents in the same order; a pass that gives more or fewer than the survey counted is INTERNAL.
 */
import { ElacsymError } from '../errors.js';
import type { AttrValue, Doc } from '../model/types.js';
import { COLLECT_FROM_DOCS, fullCollection } from '../util/gc.js';
import { hasLoneSurrogate } from '../util/utf16.js';

export interface DocSource {
  /** At most this many documents (sizes memory shared with the vector index build before the first pass). */
  readonly capacity: number;
  /**
   * The documents' vectors stay in memory, unchanged, until the build ends (a flush: the writer's arena),
   * so the vector index may read them there rather than from the writing pass (segment-builder.ts).
   */
  readonly vectorsHeld?: boolean;
  /**
   * A new pass over the documents, from ordinal 0, as consecutive non-empty chunks. `last`: no pass
   * follows this one, so a source may let go of each chunk once it has handed it out.
   */
  chunks(options?: { last?: boolean }): AsyncIterable<readonly Doc[]>;
}

/** Documents held in one array: every pass is that array, nothing copied. */
export function arraySource(docs: readonly Doc[]): DocSource {
  return {
    capacity: docs.length,
    vectorsHeld: true,
    async *chunks() {
      if (docs.length > 0) yield docs;
    },
  };
}

/** Documents per chunk of a releasing array source (a Parquet row group is at most 16,384 rows). */
const RELEASE_CHUNK_DOCS = 4096;

/**
 * The last pass over a releasing array source of at least COLLECT_FROM_DOCS documents collects garbage
 * after every this many chunks (24,576 documents; three collections in a 100k flush, whose build collects
 * again right after the pass).
 *
 * Why: the documents the pass lets go of sit in V8's old generation, which V8 collects only when it has
 * grown by a factor of what survived the last full collection (the flush's start, with every document
 * still live), so the writing pass's own allocations took fresh pages beside them: a `--trace-gc` of a 100k
 * import showed no full collection from the flush's start (53 MB live) to the end of the Parquet write
 * (88.6 MB used, 121.8 MB committed, 35 MB live after it). Collected as the pass goes, the pages of the
 * released documents are reused: the 100k import's peak fell from 325-329 to 293-315 MiB (docs/
 * performance.md, "Session 28") for ~0.2 s of collections per 100k (`--trace-gc`). A merge does the same
 * for its decoded row groups (store/compact.ts, COLLECT_EVERY_ROW_GROUPS).
 */
const COLLECT_EVERY_CHUNKS = 6;
/** Documents left after a chunk below which its collection is skipped (the build's own follows). */
const COLLECT_TAIL_DOCS = (COLLECT_EVERY_CHUNKS * RELEASE_CHUNK_DOCS) / 2;

/**
 * Documents in an array the caller gives up (a flush's documents, store/writer.ts): passes go through it
 * in chunks, and the last pass clears each chunk's entries from the array once handed out, so the
 * documents become garbage as the segment's Parquet row groups are written, not when the build ends.
 * A pass after the last one is INTERNAL.
 */
export function releasingArraySource(docs: (Doc | undefined)[]): DocSource {
  let released = false;
  return {
    capacity: docs.length,
    // The documents go, not their vectors: views of the writer's arena, or arrays the survey's packing keeps.
    vectorsHeld: true,
    async *chunks(options = {}) {
      if (released) internal('a pass over documents already let go of');
      if (options.last) released = true;
      for (let at = 0; at < docs.length; at += RELEASE_CHUNK_DOCS) {
        const end = Math.min(docs.length, at + RELEASE_CHUNK_DOCS);
        const chunk = docs.slice(at, end) as Doc[];
        if (options.last) docs.fill(undefined, at, end);
        yield chunk;
        // Not within half a stretch of the end: the build collects once the pass is over (segment-builder.ts).
        if (options.last && docs.length >= COLLECT_FROM_DOCS && (at / RELEASE_CHUNK_DOCS + 1) % COLLECT_EVERY_CHUNKS === 0 && docs.length - end >= COLLECT_TAIL_DOCS) fullCollection();
      }
    },
  };
}

/**
 * One turn of the event loop, then INTERRUPTED if `signal` has aborted. A segment build is CPU-bound and
 * its awaits settle as microtasks only, so without this a SIGINT or SIGTERM reached its handler only
 * when the build ended (a tester's compaction ran on for 45-58 s after the signal, then committed). Called
 * at each chunk of the survey and each row group of the writing pass.
 */
export async function buildCheckpoint(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw new ElacsymError('INTERRUPTED', 'interrupted while building a segment');
}

function internal(msg: string): never {
  throw new ElacsymError('INTERNAL', `segment build: ${msg}`);
}

/**
 * One pass over a source, read ahead as far as asked: `fill(to)` then `slice(from, to)` for row groups in
 * order, `release(before)` to let go of chunks wholly behind. Holds the chunks that overlap the rows not yet
 * released (one input row group and one output row group at most, for the build's sequential reads).
 */
export class DocWindow {
  private readonly it: AsyncIterator<readonly Doc[]>;
  private chunks: { first: number; docs: readonly Doc[] }[] = [];
  private loaded = 0;
  private done = false;
  constructor(source: DocSource, options: { last?: boolean } = {}) {
    this.it = source.chunks(options)[Symbol.asyncIterator]();
  }

  /** Reads chunks until ordinals below `to` are held; INTERNAL if the pass ends before. */
  async fill(to: number): Promise<void> {
    while (this.loaded < to) {
      const r = this.done ? { done: true as const, value: undefined } : await this.it.next();
      if (r.done) {
        this.done = true;
        internal(`a pass over the documents ended at ${this.loaded}, before ${to}`);
      }
      if (r.value.length === 0) continue;
      this.chunks.push({ first: this.loaded, docs: r.value });
      this.loaded += r.value.length;
    }
  }

  /** Documents [from, to), held (see fill). */
  slice(from: number, to: number): Doc[] {
    const out: Doc[] = new Array(to - from);
    let k = 0;
    for (const c of this.chunks) {
      const end = c.first + c.docs.length;
      if (end <= from || c.first >= to) continue;
      const a = Math.max(from, c.first);
      const b = Math.min(to, end);
      for (let i = a; i < b; i++) out[k++] = c.docs[i - c.first]!;
    }
    if (k !== to - from) internal(`documents ${from}-${to} are not held`);
    return out;
  }

  /** Lets go of the chunks wholly before ordinal `before`. */
  release(before: number): void {
    while (this.chunks.length > 0 && this.chunks[0]!.first + this.chunks[0]!.docs.length <= before) this.chunks.shift();
  }

  /**
   * Ends the pass early (an error, an interrupt): the source's generator runs its `finally` blocks now
   * (a merge closes its input files there), not never.
   */
  async abandon(): Promise<void> {
    this.chunks = [];
    if (this.done) return;
    this.done = true;
    await this.it.return?.();
  }

  /** The pass must be at its end after `count` documents: INTERNAL if it gives more. */
  async finish(count: number): Promise<void> {
    if (this.loaded > count) internal(`a pass over the documents gave ${this.loaded}, the survey counted ${count}`);
    this.chunks = [];
    if (this.done) return;
    for (;;) {
      const r = await this.it.next();
      if (r.done) break;
      if (r.value.length > 0) internal(`a pass over the documents gave more than the ${count} the survey counted`);
    }
    this.done = true;
  }
}

/** One attribute of a segment, as the survey saw it. */
export interface AttributeSurvey {
  name: string;
  /** Ordinals where the attribute is an explicit null (`"a": null`). */
  explicit: number[];
  /** Ordinals where the attribute is absent. */
  absent: number[];
  /** Its first non-null value (types an attribute the schema does not know). */
  first: AttrValue | undefined;
  /** [ordinal, value] of strings (or string arrays) with an unpaired surrogate: no UTF-8 form. */
  exact: [number, AttrValue][];
  /** Non-null values; all of them well-formed strings? UTF-16 code units of those strings. */
  values: number;
  onlyStrings: boolean;
  chars: number;
}

/** What a segment's build must know before it writes the first row (the first of its two passes). */
export interface DocSurvey {
  count: number;
  /** How the Parquet file stores the ids (parquet.ts): int64, plain strings, or idKey text. */
  idEncoding: 'int64' | 'string' | 'key';
  /** Attributes in order of first appearance. */
  attributes: AttributeSurvey[];
  /** 1 for documents with a vector (dim > 0), else null. */
  present: Uint8Array | null;
}

/** The survey of documents given chunk by chunk (surveyDocs; storedOnceLayout surveys an array). */
export class SurveyBuilder {
  private n = 0;
  private anyString = false;
  private allWellFormedStrings = true;
  private readonly attributes: AttributeSurvey[] = [];
  private readonly byName = new Set<string>();
  private present: Uint8Array | null;
  constructor(
    private readonly dim: number,
    capacity: number,
  ) {
    this.present = dim > 0 ? new Uint8Array(Math.max(16, capacity)) : null;
  }

  /** The next documents, in ordinal order. INTERNAL for a vector of another length than `dim`. */
  add(docs: readonly Doc[]): void {
    const { attributes, byName } = this;
    for (let j = 0; j < docs.length; j++) {
      const d = docs[j]!;
      const i = this.n + j;
      if (typeof d.id === 'string') {
        this.anyString = true;
        if (this.allWellFormedStrings && hasLoneSurrogate(d.id)) this.allWellFormedStrings = false;
      } else this.allWellFormedStrings = false;
      if (this.present !== null) {
        if (i >= this.present.length) {
          const grown = new Uint8Array(this.present.length * 2);
          grown.set(this.present);
          this.present = grown;
        }
        const v = d.vector;
        if (v) {
          if (v.length !== this.dim) internal(`document ${i} has a vector of ${v.length} numbers, not ${this.dim}`);
          this.present[i] = 1;
        }
      }
      const attrs = d.attributes;
      // A new attribute: absent from every earlier document.
      for (const k of Object.keys(attrs)) {
        if (byName.has(k)) continue;
        const a: AttributeSurvey = { name: k, explicit: [], absent: [], first: undefined, exact: [], values: 0, onlyStrings: true, chars: 0 };
        for (let o = 0; o < i; o++) a.absent.push(o);
        byName.add(k);
        attributes.push(a);
      }
      for (const a of attributes) {
        const v = Object.hasOwn(attrs, a.name) ? attrs[a.name] : undefined;
        if (v === undefined) a.absent.push(i);
        else if (v === null) a.explicit.push(i);
        else {
          a.first ??= v;
          a.values++;
          if (typeof v === 'string') {
            if (hasLoneSurrogate(v)) {
              a.exact.push([i, v]);
              a.onlyStrings = false;
            } else a.chars += v.length;
          } else {
            a.onlyStrings = false;
            if (Array.isArray(v) && v.some((s) => typeof s === 'string' && hasLoneSurrogate(s))) a.exact.push([i, v]);
          }
        }
      }
    }
    this.n += docs.length;
  }

  finish(): DocSurvey {
    const idEncoding = !this.anyString ? 'int64' : this.allWellFormedStrings ? 'string' : 'key';
    return { count: this.n, idEncoding, attributes: this.attributes, present: this.present === null ? null : this.present.subarray(0, this.n) };
  }
}

/**
 * The survey pass. `onChunk` sees each chunk with its first ordinal as it is read (the builder packs the
 * vectors for the IVF build there). Throws INTERNAL for a vector of another length than `dim`,
 * INTERRUPTED when `signal` aborts (buildCheckpoint).
 */
export async function surveyDocs(source: DocSource, dim: number, onChunk?: (docs: readonly Doc[], first: number) => void, signal?: AbortSignal): Promise<DocSurvey> {
  const b = new SurveyBuilder(dim, source.capacity);
  let n = 0;
  for await (const docs of source.chunks()) {
    await buildCheckpoint(signal);
    b.add(docs);
    onChunk?.(docs, n);
    n += docs.length;
  }
  return b.finish();
}
