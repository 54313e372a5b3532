/**
 * `SearchSource` implementations: a flushed segment (reads its index file lazily, caches what it read —
 * a long `--batch` run pays each load once) and the pending journal (documents in memory, exact vector
 * scan, a full-text index built on first use).
 */
import { ElacsymError } from '../errors.js';
import { compareIds } from '../model/document.js';
import { attributeOf, ownValue } from '../model/schema.js';
import type { Attributes, Doc, DocId, Schema } from '../model/types.js';
import { idKey } from '../model/document.js';
import { type Column, columnValues } from '../index/filter/evaluate.js';
import { isTypedColumn, TypedColumn } from '../index/filter/columns.js';
import { type Analyzer, createAnalyzer } from '../index/fulltext/analyzer.js';
import { type LiveStats, liveStats, liveStatsByScan } from '../index/fulltext/bm25.js';
import { buildFieldIndex, FieldIndexReader } from '../index/fulltext/postings.js';
import { exactTopK, exactTopKRows, type FlatVectorIndex, type IvfReader, openVectorIndex } from '../index/vector/ivf.js';
import type { Hits, TieBreak } from '../index/vector/topk.js';
import type { SearchSource } from '../query/engine.js';
import { MemorySource } from '../util/bytes.js';
import { type SegmentFile, SEGMENT_BLOCK_BYTES } from '../storage/segment-file.js';
import type { SegmentHandle, Snapshot } from './snapshot.js';

// ignoreBOM: stored strings may begin with U+FEFF, which is data here, not a byte-order mark to drop.
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY: Hits = { ords: new Uint32Array(0), scores: new Float32Array(0) };
const RESIDENT_CACHE_BYTES = 256 * 1024 * 1024;

/** One IVF reader per open segment file, and how many sources use it (see SegmentSource.ivfReader). */
const sharedIvf = new WeakMap<SegmentFile, { reader: IvfReader | FlatVectorIndex | null; users: number }>();

type VectorMatrix = { present: Uint8Array; data: Float32Array };
/**
 * The vectors of a segment held in memory (--batch) as one matrix, built once per segment file: since
 * layout 2 `SegmentHandle.vectorMatrix` gathers every vector out of the Parquet file on each call
 * (~100 ms at 100k x 128, which made filtered 1% --batch queries take ~50-140 ms). Null when not in memory.
 */
const sharedMatrix = new WeakMap<SegmentFile, VectorMatrix | null>();
function vectorMatrixOf(seg: SegmentHandle, dim: number): VectorMatrix | null {
  let m = sharedMatrix.get(seg.file);
  if (m === undefined) {
    m = seg.vectorMatrix(dim);
    sharedMatrix.set(seg.file, m);
  }
  return m;
}

/** SegmentSource.vectorExact's row list (a query is synchronous: one for all sources; read only during the call). */
let exactRowsScratch = new Uint32Array(0);

export class SegmentSource implements SearchSource {
  /** A segment's rows, columns and dead rows never change under a source: its filter masks can be kept. */
  readonly maskCache = new Map<string, Uint8Array>();
  readonly name: string;
  readonly size: number;
  readonly liveCount: number;
  readonly dead: Uint8Array | null;
  readonly hasVectors: boolean;
  private ivf: IvfReader | FlatVectorIndex | null | undefined;
  private readonly columns = new Map<string, Column>();
  private readonly text = new Map<string, FieldIndexReader | null>();
  private readonly stats = new Map<string, LiveStats>();
  /**
   * A segment's ordinals are in write order, not id order: equal scores are ordered by the documents'
   * ids (idOf is cached by the handle), so the k-th place of every per-segment top-k keeps the smallest
   * ids and the merge across sources (engine.selectTop) sees every document that can place.
   */
  private readonly tie: TieBreak = (a, b) => compareIds(this.seg.idOf(a), this.seg.idOf(b));

  /**
   * `outdatedText(field)`: the current analyzer when this segment's index of the field was built with an
   * older one (store/alter.ts), else null. Such a field is indexed in memory from the stored values.
   */
  constructor(
    private readonly seg: SegmentHandle,
    private readonly outdatedText: (field: string) => Analyzer | null = () => null,
  ) {
    this.name = seg.row.index_file.replace(/\.idx$/, '');
    this.size = seg.docCount;
    this.liveCount = seg.liveCount;
    this.dead = seg.dead;
    this.hasVectors = seg.file.has('ivf');
  }

  idOf(ord: number): DocId {
    return this.seg.idOf(ord);
  }
  attributesOf(ord: number, only?: readonly string[]): Attributes {
    return this.seg.attributesOf(ord, only);
  }
  vectorOf(ord: number): Float32Array | null {
    const ivf = this.ivfReader();
    return ivf ? this.seg.vectorOf(ord, ivf.dim) : null;
  }

  /** id key -> ordinal, built on the first id filter from the ids section (no attribute decoding). */
  private idIndex: Map<string, number> | null = null;
  ordsOfIds(ids: readonly DocId[]): number[] {
    if (!this.idIndex) {
      const t = this.seg.ids;
      const m = new Map<string, number>();
      for (let ord = 0; ord < this.size; ord++) m.set(t.get(ord), ord);
      this.idIndex = m;
    }
    const out: number[] = [];
    for (const id of ids) {
      const o = this.idIndex.get(idKey(id));
      if (o !== undefined) out.push(o);
    }
    return out;
  }

  column(field: string): Column {
    let c = this.columns.get(field);
    if (c) return c;
    const what = `${this.seg.file.path}: column ${field}`;
    const bytes = this.seg.file.readVerified(`col:${field}`);
    const text = bytes ? null : this.seg.textReader(field);
    // Long text stored once (format 6): the segment's Parquet column, decoded whole for a filter or a
    // re-analysis that reads every value.
    if (text) c = text.all();
    else if (!bytes) c = new Array(this.size).fill(undefined) as Column;
    else if (isTypedColumn(bytes)) {
      // Typed (written since issue 11): typed arrays over the verified bytes, no JS value per row.
      c = new TypedColumn(bytes, what);
      if (c.length !== this.size) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${what} has the wrong length`, { details: { path: this.seg.file.path } });
      }
    } else {
      // Release-1 files: a JSON array of the values by ordinal.
      try {
        c = JSON.parse(dec.decode(bytes)) as Column;
      } catch (e) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${what} is unreadable`, { cause: e, details: { path: this.seg.file.path } });
      }
      if (!Array.isArray(c) || c.length !== this.size) {
        throw new ElacsymError('CORRUPT_SEGMENT', `${what} has the wrong length`, { details: { path: this.seg.file.path } });
      }
    }
    this.columns.set(field, c);
    return c;
  }

  private ivfReader(): IvfReader | FlatVectorIndex | null {
    if (this.ivf === undefined) {
      // The IVF reader depends on the file only (dead rows are applied by the engine's `allow`), so the
      // sources of one segment file under different deletion states (SegmentHandle.withDead: a warm
      // snapshot refreshed after updates) share one reader instead of re-reading and re-pinning it.
      const shared = sharedIvf.get(this.seg.file);
      if (shared) {
        shared.users++;
        this.ivf = shared.reader;
      } else {
        const src = this.seg.file.source('ivf');
        // A batch (many queries): clusters are pinned into the scoring kernels' memory once, and the cache
        // may hold more of them (they are views of the loaded file; the pinned copy is the cost).
        const resident = this.seg.resident;
        // A version 2 index holds quantized codes only: it re-scores its candidates (and reads every
        // vector for exact scans) through the segment's one copy of the original vectors. In memory
        // (--batch) a view into the segment's matrix, else one read per candidate. The callback holds the
        // handle, not this source (the reader outlives it when shared); the handle's files stay open
        // while any sibling owns them, and the reader is shared only while a source uses it.
        const seg = this.seg;
        let dim = 0;
        const vectorOf = (ord: number): Float32Array | null => {
          const mat = vectorMatrixOf(seg, dim);
          if (mat === null) return seg.vectorOf(ord, dim);
          return mat.present[ord] === 1 ? mat.data.subarray(ord * dim, (ord + 1) * dim) : null;
        };
        const vectorMatrix = () => vectorMatrixOf(seg, dim);
        const vectorInto = (ord: number, out: Float32Array): boolean => seg.vectorInto(ord, dim, out);
        // Not resident: one query (a single `elacsym query`, delete by filter): clusters are not cached.
        this.ivf = src
          ? openVectorIndex(src, resident ? { resident, cacheBytes: RESIDENT_CACHE_BYTES, vectorOf, vectorMatrix } : { vectorOf, vectorInto, vectorMatrix, transientClusters: true })
          : null;
        dim = this.ivf?.dim ?? 0;
        sharedIvf.set(this.seg.file, { reader: this.ivf, users: 1 });
      }
    }
    return this.ivf;
  }

  vectorSearch(q: Float32Array, k: number, allow?: (ord: number) => boolean, selectivity?: number, nprobe?: number, mask?: Uint8Array, floor?: number): Hits {
    const ivf = this.ivfReader();
    if (!ivf) return EMPTY;
    if ('flat' in ivf) {
      // A flat index (fewer than FLAT_BELOW vectors): every allowed row scored exactly.
      const ords: number[] = [];
      for (let ord = 0; ord < this.size; ord++) if (!allow || allow(ord)) ords.push(ord);
      return this.vectorExact(q, k, ords);
    }
    return ivf.search(q, k, { allow, mask: allow ? mask : undefined, selectivity, tie: this.tie, nprobe, floor });
  }

  warmVectors(): void {
    const ivf = this.ivfReader();
    if (ivf && !('flat' in ivf)) ivf.warm();
  }

  lastVectorSearch(): { probes: number; candidates: number } | null {
    const ivf = this.ivf;
    if (ivf === undefined || ivf === null || 'flat' in ivf) return null;
    const st = ivf.stats();
    return { probes: st.lastProbes, candidates: st.lastCandidates };
  }

  /** Whether vector queries scan this segment exactly (a flat index: no clusters, no codes). */
  get flatVectors(): boolean {
    const ivf = this.ivfReader();
    return ivf !== null && 'flat' in ivf;
  }
  /**
   * Exact scan of the given ordinals from the segment's ordinal-ordered vector section (not the IVF file,
   * whose rows are grouped by cluster): the planner's choice when a filter matches few documents.
   */
  vectorExact(q: Float32Array, k: number, ords: Iterable<number>): Hits {
    const ivf = this.ivfReader();
    if (!ivf) return EMPTY;
    const dim = ivf.dim;
    const mat = vectorMatrixOf(this.seg, dim);
    if (mat) {
      // In memory (--batch): score straight from the section, no copy of the matching vectors. The rows
      // listed in a scratch array (a growing number[] and its typed copy were most of a 1%-filtered 1M
      // `--batch` query's garbage: 10 segments x ~1,000 rows).
      let n = 0;
      let rows = exactRowsScratch;
      for (const ord of ords) {
        if (mat.present[ord] !== 1) continue;
        if (n === rows.length) {
          const grown = new Uint32Array(Math.max(1024, 2 * n));
          grown.set(rows);
          rows = exactRowsScratch = grown;
        }
        rows[n++] = ord;
      }
      const r = exactTopKRows(mat.data, dim, ivf.metric, q, k, rows.subarray(0, n), this.tie);
      return { ords: r.rows, scores: r.scores };
    }
    // Read in as few ranges as the vectors' places allow (in file order; ties go by id whatever the order).
    const { ords: rowOrd, rows } = this.seg.vectorsOf(ords, dim);
    const r = exactTopK(rows, dim, ivf.metric, q, k, undefined, (a, b) => this.tie(rowOrd[a]!, rowOrd[b]!));
    return { ords: r.rows.map((row) => rowOrd[row]!), scores: r.scores };
  }

  /**
   * 0 when the segment's vectors are in memory (--batch, serve, a file small enough to be read whole),
   * else what reading one for an exact scan costs: each read is verified block by block, so it reads the
   * 4 KiB block(s) it touches, SEGMENT_BLOCK_BYTES + 4 x dim - 1 bytes on average (engine.ts exactScanRatio).
   */
  vectorReadBytes(): number {
    const ivf = this.ivfReader();
    if (!ivf) return 0;
    return this.seg.vectorsInMemory(ivf.dim) ? 0 : SEGMENT_BLOCK_BYTES + 4 * ivf.dim - 1;
  }

  /** The segment this source reads (QueryContext reuses a source only for the very same handle). */
  get handle(): SegmentHandle {
    return this.seg;
  }

  /** Query contexts that hold this source (a newer context reuses it for an unchanged segment). */
  private holders = 1;
  retain(): this {
    this.holders++;
    return this;
  }

  /** Frees what the source pinned outside the JS heap once its last holder lets go (it stays usable). */
  release(): void {
    if (--this.holders > 0) return;
    if (this.ivf === undefined) return;
    const shared = sharedIvf.get(this.seg.file);
    if (shared && --shared.users > 0) return;
    sharedIvf.delete(this.seg.file);
    this.ivf?.release();
  }

  textIndex(field: string): FieldIndexReader | null {
    if (!this.text.has(field)) {
      const analyzer = this.outdatedText(field);
      if (analyzer !== null) {
        // Re-analyzed with the current settings until compaction rewrites the segment: exact answers.
        const col = columnValues(this.column(field));
        const tokens = col.map((v) => (typeof v === 'string' || Array.isArray(v) ? analyzer.analyzeValue(v as string | string[]) : null));
        this.text.set(field, FieldIndexReader.open(new MemorySource(buildFieldIndex(tokens))));
      } else {
        const src = this.seg.file.source(`ft:${field}`);
        this.text.set(field, src ? FieldIndexReader.open(src) : null);
      }
    }
    return this.text.get(field)!;
  }

  textStats(field: string): LiveStats {
    let s = this.stats.get(field);
    if (!s) {
      const reader = this.textIndex(field);
      if (!reader) s = { docCount: 0, sumDocLen: 0 };
      else {
        const deadOrds: number[] = [];
        if (this.dead) for (let i = 0; i < this.dead.length; i++) if (this.dead[i]) deadOrds.push(i);
        s = liveStats({ reader }, deadOrds);
      }
      this.stats.set(field, s);
    }
    return s;
  }
}

/**
 * The pending journal's live documents as a source. Ordinal = index in the documents sorted by id
 * (compareIds), so the exact scan's default tie-break (smaller ordinal) is the documented one (smaller
 * id) whatever order the documents were imported in.
 */
export class JournalSource implements SearchSource {
  readonly name = 'journal';
  /** The journal is always scanned exactly (`--explain` says exact-scan). */
  readonly flatVectors = true;
  readonly size: number;
  readonly liveCount: number;
  readonly dead = null;
  readonly hasVectors: boolean;
  private vecs: Float32Array | null = null;
  private rows: Uint32Array | null = null;
  private readonly columns = new Map<string, Column>();
  private readonly text = new Map<string, FieldIndexReader | null>();
  private readonly docs: readonly Doc[];

  constructor(
    docs: readonly Doc[],
    private readonly schema: Schema,
    private readonly analyzerFor: (field: string) => Analyzer,
  ) {
    this.docs = [...docs].sort((a, b) => compareIds(a.id, b.id));
    this.size = docs.length;
    this.liveCount = docs.length;
    this.hasVectors = schema.vector_dim > 0 && this.docs.some((d) => d.vector);
  }
  idOf(ord: number): DocId {
    return this.docs[ord]!.id;
  }
  attributesOf(ord: number): Attributes {
    return this.docs[ord]!.attributes;
  }
  vectorOf(ord: number): Float32Array | null {
    return this.docs[ord]!.vector;
  }
  column(field: string): Column {
    let c = this.columns.get(field);
    if (!c) this.columns.set(field, (c = this.docs.map((d) => ownValue(d.attributes, field))));
    return c;
  }
  private idIndex: Map<string, number> | null = null;
  ordsOfIds(ids: readonly DocId[]): number[] {
    this.idIndex ??= new Map(this.docs.map((d, ord) => [idKey(d.id), ord]));
    const out: number[] = [];
    for (const id of ids) {
      const o = this.idIndex.get(idKey(id));
      if (o !== undefined) out.push(o);
    }
    return out;
  }
  private packed(): { vecs: Float32Array; rows: Uint32Array } {
    if (!this.vecs || !this.rows) {
      const dim = this.schema.vector_dim;
      const rows: number[] = [];
      this.docs.forEach((d, i) => d.vector && rows.push(i));
      const vecs = new Float32Array(rows.length * dim);
      rows.forEach((r, j) => vecs.set(this.docs[r]!.vector!, j * dim));
      this.vecs = vecs;
      this.rows = Uint32Array.from(rows);
    }
    return { vecs: this.vecs, rows: this.rows };
  }
  vectorSearch(q: Float32Array, k: number, allow?: (ord: number) => boolean): Hits {
    const { vecs, rows } = this.packed();
    const r = exactTopK(vecs, this.schema.vector_dim, this.schema.vector_metric, q, k, allow ? (row) => allow(rows[row]!) : undefined);
    return { ords: r.rows.map((row) => rows[row]!), scores: r.scores };
  }
  vectorExact(q: Float32Array, k: number, ords: Iterable<number>): Hits {
    const set = new Set(ords);
    return this.vectorSearch(q, k, (o) => set.has(o));
  }
  textIndex(field: string): FieldIndexReader | null {
    if (!this.text.has(field)) {
      if (!attributeOf(this.schema, field)?.full_text) this.text.set(field, null);
      else {
        const a = this.analyzerFor(field);
        const tokens = this.docs.map((d) => {
          const v = ownValue(d.attributes, field);
          return typeof v === 'string' || Array.isArray(v) ? a.analyzeValue(v) : null;
        });
        this.text.set(field, FieldIndexReader.open(new MemorySource(buildFieldIndex(tokens))));
      }
    }
    return this.text.get(field)!;
  }
  textStats(field: string): LiveStats {
    const reader = this.textIndex(field);
    return reader ? liveStatsByScan({ reader, isLive: () => true }) : { docCount: 0, sumDocLen: 0 };
  }
}

/** Sources of a snapshot plus an analyzer cache: everything a query needs, reusable across a batch. */
export class QueryContext {
  readonly sources: SearchSource[];
  private readonly analyzers = new Map<string, Analyzer>();

  /**
   * `prev`: the context of an older snapshot of the same namespace (Snapshot.refresh), still open. A
   * segment the new snapshot took over unchanged (the same SegmentHandle) keeps its source and everything
   * it decoded and cached (IVF clusters, columns, postings, statistics); `release` of either context
   * frees a shared source only with its last holder. Handles are shared only when the schema and the
   * text-reindex map are unchanged, so the source's analyzers are still the right ones.
   */
  constructor(
    readonly snapshot: Snapshot,
    prev?: QueryContext,
  ) {
    const analyzerFor = (f: string) => this.analyzerFor(f);
    const reindex = snapshot.textReindex;
    const reusable = new Map<SegmentHandle, SegmentSource>();
    if (prev) for (const s of prev.sources) if (s instanceof SegmentSource) reusable.set(s.handle, s);
    this.sources = snapshot.segments.map(
      (s) =>
        reusable.get(s)?.retain() ??
        new SegmentSource(s, (f) => (s.row.id < (Object.prototype.hasOwnProperty.call(reindex, f) ? reindex[f]! : 0) ? this.analyzerFor(f) : null)),
    );
    if (snapshot.pendingDocs.length > 0) this.sources.push(new JournalSource(snapshot.pendingDocs, snapshot.schema, analyzerFor));
  }

  /** Frees what the sources pinned outside the JS heap (see IvfOpenOptions.resident). */
  release(): void {
    for (const s of this.sources) if (s instanceof SegmentSource) s.release();
  }

  analyzerFor(field: string): Analyzer {
    let a = this.analyzers.get(field);
    if (!a) {
      const ft = attributeOf(this.snapshot.schema, field)?.full_text;
      if (!ft) throw new ElacsymError('INVALID_QUERY', `${field} is not a full-text field`);
      // Fields with the same options share one analyzer, hence its memo of word -> term: a query over
      // title and body stems each word once, not once per field.
      // The key covers EVERY option (folding and a custom stopword list included).
      const key = `\0${JSON.stringify([ft.language, ft.stemming, ft.remove_stopwords, ft.case_sensitive, ft.ascii_folding ?? null, ft.stopwords ?? null, ft.tokenizer ?? null])}`;
      a = this.analyzers.get(key) ?? createAnalyzer(ft);
      this.analyzers.set(key, a);
      this.analyzers.set(field, a);
    }
    return a;
  }
}

