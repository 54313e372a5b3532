/**
 * NDJSON import: lines -> validated documents -> journal batches -> segments.
 *
 * Contract (docs/reference.md "Documents and import"):
 * - a document is acknowledged (counted) only once its batch is committed to the journal;
 * - with onError 'fail', the first bad line stops the import: earlier batches stay committed, nothing of
 *   the failing batch is, and the error says how many lines were committed and how to resume;
 * - with onError 'skip', bad lines go to `onReject` with their reason and the import goes on;
 * - empty lines, CRLF line ends and a leading UTF-8 BOM are accepted.
 */
import { isUtf8 } from 'node:buffer';
import { ElacsymError, isElacsymError } from '../errors.js';
import { envError } from '../util/env-error.js';
import { crc32 } from '../util/crc32.js';
import { fullCollection } from '../util/gc.js';
import { DocumentError, idKey, parseId, toDoc, toInvalidDocument, VectorSlab } from '../model/document.js';
import { dataRecord } from '../model/schema.js';
import type { AttrValue, Attributes, Doc, DocId } from '../model/types.js';
import { Snapshot } from './snapshot.js';
import type { FlushResult, Writer } from './writer.js';

export interface ImportOptions {
  onError?: 'fail' | 'skip';
  /** `import --dry-run` (a DryRunSink): errors say nothing was written and offer no resume. */
  dryRun?: boolean;
  /** Called for each rejected line with onError 'skip' (1-based line number, raw text, reason). */
  onReject?: (line: number, text: string, reason: string) => void;
  /** Skip this many input lines first (resume after a failed import). */
  skipLines?: number;
  /** Documents per journal batch (one fsync each). */
  batchDocs?: number;
  /**
   * Line bytes per journal batch (default: half the writer's segmentBytes). A batch is cut before the line
   * that would pass it (a single longer line makes a batch of its own), so every acknowledged batch fits
   * in one bounded flush, and no payload string outgrows what V8 can build.
   */
  batchBytes?: number;
  /** Pending documents that trigger a flush into a new segment (bounds memory on huge imports). */
  segmentDocs?: number;
  /** Longest accepted line in bytes. */
  maxLineBytes?: number;
  /**
   * Records the resume point under this key (a file's absolute path) with each batch: the lines committed
   * and their fingerprint (lineFingerprint).
   */
  resumeKey?: string;
  /**
   * `--resume`: the fingerprint the resume point recorded for the `skipLines` lines skipped. When the
   * input's first lines do not give it (the file was replaced or edited since), the import stops with
   * RESUME_CONFLICT before it commits anything: skipping by line count alone would have dropped lines
   * in silence. Null (a point an older release recorded): not checked.
   */
  resumeCrc32?: number | null;
  /**
   * Whose options the messages name: the CLI's flags (`--skip-lines 800`, the default) or the HTTP import
   * route's query parameters (`?skip_lines=800`).
   */
  dialect?: 'cli' | 'http';
  /**
   * When it aborts, the import stops reading (even while it waits on a quiet stdin), commits the complete
   * lines it had already read, and throws INTERRUPTED naming the lines to resume after; the segment build
   * is skipped (the documents stay queryable in the journal). Give the writer the same signal.
   */
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** Flush pending documents into a segment at the end (default true). */
  flush?: boolean;
  /**
   * `import --bulk`: batches skip the journal and are staged in memory (Writer.stageUpserts); each segment
   * flush (every `segmentDocs` documents, or the writer's byte bound) commits them, and only then are they
   * acknowledged (counted, reported by `onProgress` as a 'journal' event, recorded as the resume point).
   * An error, an interrupt or a crash keeps the segments committed before it and loses only the documents
   * staged since, which a resume reads again. A bad line with onError 'fail' commits the whole batches
   * staged before it first, as the journal path does. Needs a Writer; not with `flush: false` or `patch`.
   */
  bulk?: boolean;
  /**
   * Patch mode (`elacsym patch`): each line is `{"id", "attributes": {...}}` and changes only the given
   * attributes of an existing document (null removes one); its vector and other attributes are kept. A
   * line naming no live document is rejected. Durability, batches, --on-error and the summary are the
   * import's: the merged documents are journalled as upserts.
   */
  patch?: boolean;
  /**
   * Shard `index` (1-based) of `count`: only the documents this shard owns are imported (see shardOf); the
   * others are counted in `other_shards`. A line whose id cannot be read (not UTF-8, not JSON, too long, a
   * bad id) belongs to shard ((line - 1) mod count) + 1, so every rejected line is reported by exactly one
   * shard.
   */
  shard?: { index: number; count: number };
  clock?: () => number;
  /**
   * The input comes from a record converter (records.ts toImportLines, CSV/TSV): a line that begins with a
   * NUL byte is a record it found bad, rejected with the reason it gives (records.ts rejectLine).
   */
  markedRejects?: boolean;
}

export interface ImportProgress {
  bytes: number;
  lines: number;
  committed: number;
  rejected: number;
  phase: 'journal' | 'index';
}

export interface ImportSummary {
  read: number;
  committed: number;
  inserted: number;
  updated: number;
  deleted: number;
  rejected: number;
  skipped_lines: number;
  /** Lines left to other shards (import --shard). */
  other_shards?: number;
  /** import --shard: CRC-32 of every input byte read (shards of one job must read the same input). */
  input_crc32?: number;
  /** Documents left pending in the journal at the end (with flush: false); not yet inserted or updated. */
  pending: number;
  lines: number;
  segments: number;
  elapsed_ms: number;
  durable_ms: number;
  docs_per_s: number;
}

const DEFAULT_BATCH = 8192;
const DEFAULT_SEGMENT_DOCS = 100_000;

/**
 * An import collects garbage after each batch that brings the documents appended (or staged) since its
 * last collection to this many (about every fourth default batch), unless a flush follows the batch (the
 * segment build collects at its start).
 *
 * Why: each batch leaves garbage in the old generation once it has lived through two scavenges: its
 * journal payload and the payload's JSON (~8.6 MB for 8,192 of the bench's documents, in the C heap until
 * V8 collects their wrappers), the documents the writer replaced with its arena's copies. V8 collects the
 * old generation when it has grown by a factor of what survived the last collection, which here is every
 * pending document. The 400k import (4 segments, slab blocks recycled) peaked at 333-336 MiB without these
 * collections and 308-329 MiB with them; the 100k import at 297-305 against 291-300 MiB. Each costs a
 * full mark-compact of the pending documents (~50 ms at 100k pending): ~1.5% of the import
 * (docs/performance.md, "Session 28").
 */
const COLLECT_EVERY_DOCS = 32_768;
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Counters of the line reader, for tests that prove it linear (bytes copied grow with the input, not its square). */
export interface LineReaderStats {
  /** Bytes copied to join a line that spans chunks (each such line is joined once). */
  copiedBytes: number;
}

/**
 * End the iteration of `input` as soon as `signal` aborts, even while a read is pending (an import waiting
 * on a quiet stdin). The pending read's promise is raced, not abandoned unhandled.
 *
 * The abort promise is made afresh for each read and dropped after it: racing every read against one
 * long-lived promise that never settles left a reaction on it per read, each holding the settled race's
 * value (the chunk), so an import retained its whole input (773 MB of buffers for an 818 MB file).
 */
async function* untilAborted(input: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (!signal) {
    yield* input;
    return;
  }
  const it = input[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (signal.aborted) return;
      let onAbort: () => void = () => undefined;
      const aborted = new Promise<null>((resolve) => {
        onAbort = () => resolve(null);
        signal.addEventListener('abort', onAbort, { once: true });
        if (signal.aborted) resolve(null); // aborted before the listener was added
      });
      let r: IteratorResult<Uint8Array> | null;
      try {
        r = await Promise.race([it.next(), aborted]);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (r === null || r.done) return;
      yield r.value;
    }
  } finally {
    // Release the source (a file descriptor, a socket) even while a read is pending; its outcome is moot.
    if (signal.aborted) Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

/**
 * Split a byte stream into lines without holding more than one line plus one chunk in memory. A line
 * longer than `maxLineBytes` is reported once (consumed = -1, its first bytes) and then skipped up to its
 * newline without buffering it, so an import with --on-error skip resynchronises on the next line.
 *
 * Linear in the line length from any source: the pieces of a line that spans chunks are collected and
 * joined once when its newline arrives (concatenating each 64 KiB stdin chunk onto the partial line was
 * quadratic: a 50 MB line copied ~20 GB). When `signal` aborts, the lines already received are still
 * yielded but a trailing partial line is not (its end may arrive after the signal).
 */
export async function* readLines(
  input: AsyncIterable<Uint8Array>,
  maxLineBytes: number,
  signal?: AbortSignal,
  stats?: LineReaderStats,
): AsyncGenerator<{ bytes: Buffer; consumed: number }> {
  let parts: Buffer[] = []; // the partial line: pieces of earlier chunks, in order
  let partLen = 0;
  let first = true;
  let consumed = 0;
  let skipping = false;
  const join = (tail: Buffer): Buffer => {
    if (parts.length === 0) return tail;
    const whole = Buffer.concat(tail.length > 0 ? [...parts, tail] : parts, partLen + tail.length);
    if (stats) stats.copiedBytes += whole.length;
    parts = [];
    partLen = 0;
    return whole;
  };
  for await (const chunk0 of untilAborted(input, signal)) {
    let chunk = Buffer.isBuffer(chunk0) ? chunk0 : Buffer.from(chunk0.buffer, chunk0.byteOffset, chunk0.byteLength);
    if (first && chunk.length > 0) {
      first = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        chunk = chunk.subarray(3);
        consumed += 3;
      }
    }
    if (skipping) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        consumed += chunk.length;
        continue;
      }
      consumed += nl + 1;
      chunk = chunk.subarray(nl + 1);
      skipping = false;
    }
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      consumed += partLen + nl + 1 - start;
      const line = join(chunk.subarray(start, nl));
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      yield { bytes: line.subarray(0, end), consumed };
      start = nl + 1;
    }
    if (start < chunk.length) {
      // A view, not a copy: streams hand out a fresh Buffer per chunk and never reuse it.
      parts.push(chunk.subarray(start));
      partLen += chunk.length - start;
    }
    if (partLen > maxLineBytes) {
      consumed += partLen;
      const headParts: Buffer[] = [];
      for (let i = 0, n = 0; i < parts.length && n < 256; n += parts[i]!.length, i++) headParts.push(parts[i]!);
      const head = Buffer.concat(headParts).subarray(0, 256);
      parts = [];
      partLen = 0;
      yield { bytes: head, consumed: -1 };
      skipping = true;
    }
  }
  if (partLen > 0 && !signal?.aborted) {
    const line = join(Buffer.alloc(0));
    const end = line[line.length - 1] === 13 ? line.length - 1 : line.length;
    consumed += line.length;
    yield { bytes: line.subarray(0, end), consumed };
  }
}

/**
 * What the import pipeline needs of a writer (Writer; DryRunSink for `import --dry-run`). `appendUpserts`
 * (and a Writer's `stageUpserts`) must copy what they keep of the documents' vectors before they return:
 * the import hands the same vector storage out again for its next batch (VectorSlab.recycle). Writer
 * copies them into its arena; DryRunSink keeps only ids.
 */
export type ImportSink = Pick<
  Writer,
  'appendUpserts' | 'dir' | 'flush' | 'forgetPending' | 'name' | 'pendingByteCount' | 'pendingDocCount' | 'schema' | 'segmentBytes' | 'segmentDocs'
>;

/** Stops a bulk import at a bad line once the documents staged before it are committed (see ImportOptions.bulk). */
class BulkStop {
  constructor(
    readonly line: number,
    readonly err: ElacsymError,
  ) {}
}

/**
 * Imports NDJSON documents (or patches) from `input` into `writer` in durable batches, flushing segments as
 * they fill (see ImportOptions); returns the summary, or throws ElacsymError (INVALID_DOCUMENT, NO_SPACE,
 * INTERRUPTED, RESUME_CONFLICT, ...) naming what was committed before. `writer` is a Writer (or DryRunSink):
 * a sink of one's own must copy what it keeps of the documents it is given, vectors included, before
 * `appendUpserts` returns, since their vector storage is handed out again for the next batch (ImportSink).
 */
export async function importNdjson(writer: ImportSink, input: AsyncIterable<Uint8Array>, opts: ImportOptions = {}): Promise<ImportSummary> {
  let bulk: Pick<Writer, 'stageUpserts'> | null = null;
  if (opts.bulk) {
    if (opts.flush === false) throw new ElacsymError('USAGE', 'a bulk import writes segments: it cannot leave its documents in the journal (--no-flush)');
    if (opts.patch) throw new ElacsymError('USAGE', 'patch changes documents through the journal; bulk applies to import');
    if (!('stageUpserts' in writer)) throw new ElacsymError('INTERNAL', 'a bulk import needs a Writer');
    bulk = writer as ImportSink & Pick<Writer, 'stageUpserts'>;
  }
  const clock = opts.clock ?? Date.now;
  const t0 = clock();
  const onError = opts.onError ?? 'fail';
  const batchDocs = Math.max(1, opts.batchDocs ?? DEFAULT_BATCH);
  const segmentDocs = Math.max(1, opts.segmentDocs ?? DEFAULT_SEGMENT_DOCS);
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const skip = opts.skipLines ?? 0;
  const batchBytes = Math.max(1, opts.batchBytes ?? Math.floor(writer.segmentBytes / 2));
  const signal = opts.signal;
  writer.segmentDocs = segmentDocs;
  /**
   * Documents the current batch may hold: a batch also ends where the pending documents reach segmentDocs,
   * so a flush builds segments of exactly `--segment-docs` documents (the last one fewer), whatever the
   * batch size (a batch of 8,192 used to make `--segment-docs 3000` write segments of 8,192). Without
   * flushing (`--no-flush`) no segment is built and batches keep their size; with a backlog already over
   * the bound the next commit flushes it anyway.
   */
  const batchLimit = (): number => {
    if (opts.flush === false) return batchDocs;
    const room = segmentDocs - writer.pendingDocCount;
    return room > 0 ? Math.min(batchDocs, room) : batchDocs;
  };
  // Storage for the parsed vectors (see VectorSlab): the writer copies each batch's into its arena.
  let vectorSlab: VectorSlab | undefined;
  const slab = (): VectorSlab | undefined => {
    const dim = writer.schema.vector_dim;
    if (dim === 0) return undefined;
    if (vectorSlab?.dim !== dim) vectorSlab = new VectorSlab(dim);
    return vectorSlab;
  };
  const s: ImportSummary = {
    read: 0,
    committed: 0,
    inserted: 0,
    updated: 0,
    deleted: 0,
    rejected: 0,
    skipped_lines: 0,
    pending: 0,
    lines: 0,
    segments: 0,
    elapsed_ms: 0,
    durable_ms: 0,
    docs_per_s: 0,
  };
  const shard = opts.shard;
  if (shard) s.other_shards = 0;
  /**
   * Whether this shard owns line `lineNo` (its parsed JSON `obj`, when it parsed): by its id (shardOf), or
   * by its line number when it has no valid id. Counts the lines it leaves to other shards.
   */
  const owns = (lineNo: number, obj?: unknown): boolean => {
    if (!shard) return true;
    let key: string | null = null;
    if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
      try {
        key = idKey(parseId((obj as { id?: unknown }).id));
      } catch {
        key = null;
      }
    }
    const own = key !== null ? shardOf(key, shard.count) === shard.index : ((lineNo - 1) % shard.count) + 1 === shard.index;
    if (!own) s.other_shards!++;
    return own;
  };
  let batch: Doc[] = [];
  /** Patch mode: the batch's patch lines, merged into documents when the batch commits. */
  let patches: { line: number; raw: Buffer; id: DocId; attributes: Record<string, AttrValue | null> }[] = [];
  let batchRaw = 0; // line bytes in `batch`
  let newAttrs = new Map<string, AttrValue>();
  let lineNo = 0;
  let bytes = 0;
  let committedLines = skip;
  // The fingerprint of lines 1..lineNo and of lines 1..lineNo-1 (lineFingerprint), kept for resume points.
  const fingerprints = opts.resumeKey !== undefined || (opts.resumeCrc32 ?? null) !== null;
  let fp = 0;
  let fpBefore = 0;
  const resumeConflict = (why: string) =>
    new ElacsymError('RESUME_CONFLICT', `--resume: ${why}, so its first ${skip} lines are not the ones the earlier import committed (the file was replaced or edited since); nothing was imported`, {
      details: { resume_lines: skip },
    });
  let durableAt = t0;
  /** Every input line was read (the last batch's commit and the final flush run after). */
  let inputEnded = false;
  // Documents appended or staged since the last collection (COLLECT_EVERY_DOCS).
  let sinceCollection = 0;
  // Called where no flush follows the commit: a flush's build collects at its start (segment-builder.ts),
  // and flushNow starts the count again.
  const collectIfDue = () => {
    if (sinceCollection < COLLECT_EVERY_DOCS) return;
    sinceCollection = 0;
    fullCollection();
  };
  // Bulk: documents staged since the last segment commit (not acknowledged yet), and the input lines they
  // cover (committedLines moves up to it when their segment commits).
  let staged = 0;
  let stagedLines = skip;

  const addFlush = (f: FlushResult) => {
    s.inserted += f.inserted;
    s.updated += f.updated;
    s.deleted += f.deleted;
    if (f.segmentId !== null) s.segments++;
  };
  const progress = (phase: 'journal' | 'index') =>
    // A journal event acknowledges exactly the lines its batch covers (a byte cut ends before the current line).
    opts.onProgress?.({ bytes, lines: phase === 'journal' ? committedLines : lineNo, committed: s.committed, rejected: s.rejected, phase });

  // Messages name the caller's own options (see ImportOptions.dialect).
  const http = opts.dialect === 'http';
  // A shard stages all of its part or nothing: it is run again whole, not resumed.
  const resumeWith = (n: number, alt = true) =>
    opts.shard ? 'run the shard again' : http ? `send the rest again with ?skip_lines=${n}` : `resume with --skip-lines ${n}${alt && opts.resumeKey ? ' (or --resume)' : ''}`;
  const skipBadLines = http ? 'send again with ?on_error=skip (the response lists the rejected lines)' : 'rerun with --on-error skip --rejects FILE';
  const maxLineOption = http ? 'max_line_bytes' : '--max-line-bytes';
  /**
   * The input lines this run committed: "lines 1-M", or "lines K+1-M" after skipping K (--skip-lines,
   * --resume: the first K were committed by an earlier run, not this one); null when none.
   */
  const linesThisRun = () => (committedLines > skip ? `input lines ${skip + 1}-${committedLines}` : null);
  /** "N documents from input lines 1-M were committed", without an empty range such as "lines 1-0". */
  const committedSoFar = () => {
    const lines = linesThisRun();
    if (lines) return `${s.committed} documents from ${lines} were committed`;
    return skip > 0 ? `no document after input line ${skip} was committed` : 'no document was committed';
  };
  // Where the committed documents are: a flush may have built segments of them already.
  const whereCommitted = () => {
    if (s.committed === 0) return 'nothing was written';
    if (bulk) return `they are in segments and queryable${staged > 0 ? `; the ${staged} documents read after them were not written` : ''}`;
    const pending = writer.pendingDocCount;
    if (pending === 0) return 'they are in segments and queryable';
    return `they are queryable, ${pending === s.committed ? 'all' : `${pending} documents`} in the journal, whose segment the next writer (or \`elacsym wal replay ${writer.name}\`) builds`;
  };
  const interrupted = () =>
    new ElacsymError(
      'INTERRUPTED',
      `interrupted after committing ${s.committed} documents${linesThisRun() ? ` (${linesThisRun()})` : ''}; ${whereCommitted()}`,
      {
        hint: resumeWith(committedLines),
        details: { committed: s.committed, lines: committedLines },
      },
    );
  // A full disk stops the import like a bad line does: what was acknowledged stays, and the error says
  // how much that is and how to go on from there.
  const noSpaceInJournal = (e: unknown): unknown => {
    const env = isElacsymError(e, 'NO_SPACE') ? e : envError(e, undefined, 'committing a batch to the journal');
    if (env?.code !== 'NO_SPACE') return e;
    return new ElacsymError('NO_SPACE', `${env.message}; ${committedSoFar()}, nothing after`, {
      cause: e,
      hint: `free disk space, then ${resumeWith(committedLines)}`,
      details: { ...env.details, committed: s.committed, committed_lines: committedLines },
    });
  };
  const noSpaceInFlush = (e: unknown): unknown => {
    const env = isElacsymError(e, 'NO_SPACE') ? e : envError(e, undefined, 'writing segment files');
    if (env?.code !== 'NO_SPACE') return e;
    if (bulk) {
      // The staged documents were in no journal: they are not written, and the resume point is before them.
      return new ElacsymError('NO_SPACE', `${env.message}; ${committedSoFar()} (in segments), the ${staged} documents read after them were not written`, {
        cause: e,
        hint: `free disk space, then ${resumeWith(committedLines)}`,
        details: { ...env.details, committed: s.committed, committed_lines: committedLines },
      });
    }
    // Earlier flushes of this import may have written segments already: only the pending documents are
    // waiting in the journal. The input past the committed lines was never read unless it had ended.
    const pending = writer.pendingDocCount;
    const where = pending === s.committed ? 'all of them in the journal' : `${s.committed - pending} in segments, the other ${pending} in the journal`;
    const unread = !inputEnded || committedLines < lineNo;
    return new ElacsymError(
      'NO_SPACE',
      `${env.message}; ${committedSoFar()} (durable and queryable, ${where}), but the segment of the ${pending} in the journal could not be written${unread ? `; the input after line ${committedLines} was not read` : ''}`,
      {
        cause: e,
        hint: `free disk space, then run \`elacsym wal replay ${writer.name}\` to build the segment${unread ? `, and ${resumeWith(committedLines)}` : ''}`,
        details: { ...env.details, committed: s.committed, committed_lines: committedLines, pending },
      },
    );
  };
  const flushNow = async () => {
    progress('index');
    sinceCollection = 0;
    try {
      addFlush(await writer.flush());
    } catch (e) {
      if (e instanceof ElacsymError && e.code === 'INTERRUPTED') throw interrupted();
      throw noSpaceInFlush(e);
    }
    if (bulk && staged > 0) {
      // The segment holding the staged documents is committed: now they are acknowledged.
      s.committed += staged;
      staged = 0;
      committedLines = stagedLines;
      durableAt = clock();
      progress('journal');
    }
  };

  /**
   * Whether the pending documents must be flushed before the next batch: they reached segmentDocs, or the
   * next batch could carry their bytes past the writer's segment bound. The next batch is at most
   * min(batchDocs, the documents left to segmentDocs) documents and batchBytes line bytes; its payload is
   * expected at twice the pending documents' average. Taking it as batchBytes whatever its documents (as
   * before) flushed a 100k import of the bench's documents at 98,304 and left a segment of 1,696 (11
   * segments at 1M instead of 10). A batch larger than expected still keeps a flush bounded: the writer then
   * reads the journal back in chunks of the bound (a bulk import's staged batch may pass it by at most
   * one batch, batchBytes).
   */
  const flushDue = (): boolean => {
    const docs = writer.pendingDocCount;
    if (docs >= segmentDocs) return true;
    if (docs === 0) return false;
    const bytes = writer.pendingByteCount;
    const next = Math.min(batchDocs, segmentDocs - docs);
    return bytes + Math.min(batchBytes, Math.ceil((bytes / docs) * next * 2)) > writer.segmentBytes;
  };

  /** Commit the batch, which covers input lines 1..throughLine. */
  const commit = async (throughLine = lineNo) => {
    if (patches.length > 0) resolvePatches();
    if (bulk) {
      if (batch.length > 0) {
        const crc = throughLine === lineNo ? fp : fpBefore;
        const n = bulk.stageUpserts(batch, newAttrs, opts.resumeKey ? { source: opts.resumeKey, lines: throughLine, crc32: crc } : undefined);
        staged += n;
        sinceCollection += n;
        // The writer copied the staged vectors into its arena: the slab's rows are free again.
        vectorSlab?.recycle();
        batch = [];
        batchRaw = 0;
        newAttrs = new Map();
      }
      // Lines without a document (blank, rejected) are covered at once when nothing waits for a segment.
      if (staged > 0) stagedLines = throughLine;
      else committedLines = throughLine;
      if (signal?.aborted) throw interrupted();
      if (flushDue()) await flushNow();
      else collectIfDue();
      return;
    }
    if (batch.length > 0) {
      try {
        // throughLine is lineNo, or lineNo - 1 when the batch is cut before the current line.
        const crc = throughLine === lineNo ? fp : fpBefore;
        writer.appendUpserts(batch, newAttrs, opts.resumeKey ? { source: opts.resumeKey, lines: throughLine, crc32: crc } : undefined);
      } catch (e) {
        throw noSpaceInJournal(e);
      }
      s.committed += batch.length;
      // The writer copied the vectors it keeps into its arena (or keeps none): the slab's rows are free again.
      vectorSlab?.recycle();
      sinceCollection += batch.length;
      batch = [];
      batchRaw = 0;
      newAttrs = new Map();
      durableAt = clock();
      committedLines = throughLine; // only once committed: a failed append reports the lines before it
      // One 'journal' event per committed batch, never for an empty one (the final commit after a full
      // last batch would otherwise repeat the last event).
      progress('journal');
    }
    committedLines = throughLine;
    if (signal?.aborted) throw interrupted();
    if (opts.flush === false) {
      writer.forgetPending();
      collectIfDue();
    }
    // Flush before the next batch could carry the pending bytes past the writer's segment bound.
    else if (flushDue()) await flushNow();
    else collectIfDue();
  };

  /**
   * Patch mode: merge the batch's patch lines into the documents they change. The current state is read
   * under the writer lock (nobody else writes) after this import's own earlier batches committed, and
   * patches of one id within the batch apply in input order.
   */
  const resolvePatches = () => {
    const lines = patches;
    patches = [];
    const snap = Snapshot.open(writer.dir, { locate: [...new Set(lines.map((p) => idKey(p.id)))] });
    try {
      const current = new Map<string, Doc>();
      for (const d of snap.pendingDocs) current.set(idKey(d.id), d);
      for (const p of lines) {
        const key = idKey(p.id);
        let base = current.get(key);
        const at = base ? undefined : snap.located.get(key);
        if (!base && at) base = { id: p.id, vector: at.segment.vectorOf(at.ord, snap.schema.vector_dim), attributes: at.segment.attributesOf(at.ord) };
        if (!base) {
          reject(p.line, p.raw, new ElacsymError('INVALID_DOCUMENT', `line ${p.line}, field id: no live document with id ${JSON.stringify(p.id)} to patch (patch changes existing documents; create them with import)`, { details: { line: p.line, field: 'id' } }));
          continue;
        }
        const attributes: Attributes = dataRecord();
        for (const k of Object.keys(base.attributes)) attributes[k] = base.attributes[k]!;
        for (const k of Object.keys(p.attributes)) {
          const v = p.attributes[k];
          if (v === null || v === undefined) delete attributes[k];
          else attributes[k] = v;
        }
        let doc: Doc;
        try {
          doc = toDoc({ id: p.id, vector: base.vector ? Array.from(base.vector) : null, attributes }, writer.schema, newAttrs);
        } catch (e) {
          if (e instanceof DocumentError) {
            reject(p.line, p.raw, toInvalidDocument(e, p.line));
            continue;
          }
          throw e;
        }
        current.set(key, doc);
        batch.push(doc);
      }
    } finally {
      snap.close();
    }
  };

  const badLine = (line: number, err: ElacsymError) =>
    new ElacsymError('INVALID_DOCUMENT', `${err.message}; ${committedSoFar()}, nothing after`, {
      hint: `fix line ${line} and ${resumeWith(committedLines)}, or ${skipBadLines}`,
      details: { ...err.details, committed: s.committed, committed_lines: committedLines },
    });

  const reject = (line: number, raw: Buffer, err: ElacsymError) => {
    if (onError === 'fail' && opts.dryRun) {
      // Nothing was committed: a resume hint would skip lines never imported.
      throw new ElacsymError('INVALID_DOCUMENT', `${err.message}; a dry run, nothing was written`, {
        hint: `fix line ${line} and run the dry run again, or add --on-error skip to see every bad line`,
        details: { ...err.details },
      });
    }
    if (onError === 'fail') {
      if (bulk && staged > 0) throw new BulkStop(line, err);
      throw badLine(line, err);
    }
    s.rejected++;
    let text: string;
    try {
      // Cut on a character boundary: the first 4,096 bytes less any continuation bytes of a split character.
      let n = 4096;
      while (raw.length > 4096 && n > 0 && (raw[n]! & 0xc0) === 0x80) n--;
      text = raw.length > 4096 ? `${raw.subarray(0, n).toString('utf8')}...` : raw.toString('utf8');
    } catch {
      text = '';
    }
    opts.onReject?.(line, text, err.message);
  };

  try {
    for await (const { bytes: raw, consumed } of readLines(shard ? crcTap(input, s) : input, maxLine, signal)) {
      lineNo++;
      if (fingerprints) {
        fpBefore = fp;
        fp = lineFingerprint(raw, fp);
        if (lineNo === skip && opts.resumeCrc32 != null && fp !== opts.resumeCrc32) throw resumeConflict(`the content of lines 1-${skip} differs`);
      }
      if (consumed < 0) {
        if (lineNo <= skip) {
          s.skipped_lines++;
          continue;
        }
        s.read++;
        // (a converter's mark cut at the limit: its text is not the record's, so none is shown)
        reject(lineNo, opts.markedRejects && raw[0] === 0 ? Buffer.alloc(0) : raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: longer than ${maxLine} bytes (${maxLineOption})`, { details: { line: lineNo, max_line_bytes: maxLine } }));
        continue;
      }
      bytes = consumed;
      if (lineNo <= skip) {
        s.skipped_lines++;
        continue;
      }
      if (raw.length === 0 || isBlank(raw)) continue;
      if (opts.markedRejects && raw[0] === 0) {
        if (!owns(lineNo)) continue;
        s.read++;
        let m: { reason?: unknown; text?: unknown } = {};
        try {
          m = JSON.parse(raw.subarray(1).toString('utf8')) as typeof m;
        } catch {
          // an unreadable mark is still a reject
        }
        reject(lineNo, Buffer.from(typeof m.text === 'string' ? m.text : ''), new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: ${typeof m.reason === 'string' ? m.reason : 'a bad record'}`, { details: { line: lineNo } }));
        continue;
      }
      // (a line of another shard is not read: neither counted nor rejected here)
      if (raw.length > maxLine) {
        if (!owns(lineNo)) continue;
        s.read++;
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: longer than ${maxLine} bytes (${maxLineOption})`, { details: { line: lineNo, max_line_bytes: maxLine } }));
        continue;
      }
      let text: string;
      if (isUtf8(raw)) text = raw.toString('utf8');
      else {
        if (!owns(lineNo)) continue;
        s.read++;
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: not valid UTF-8`, { details: { line: lineNo } }));
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        if (!owns(lineNo)) continue;
        s.read++;
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: malformed JSON (${(e as Error).message})`, { details: { line: lineNo } }));
        continue;
      }
      if (!owns(lineNo, obj)) continue;
      s.read++;
      // Cut the batch before this line if it would pass the byte bound (lines 1..lineNo-1 are then covered).
      // Before toDoc: it records this line's new attributes, which belong to the next batch.
      if (batch.length + patches.length > 0 && batchRaw + raw.length > batchBytes) await commit(lineNo - 1);
      if (opts.patch) {
        try {
          patches.push({ line: lineNo, raw, ...toPatch(obj) });
        } catch (e) {
          if (e instanceof DocumentError) {
            reject(lineNo, raw, toInvalidDocument(e, lineNo));
            continue;
          }
          throw e;
        }
        batchRaw += raw.length;
        if (patches.length >= batchLimit()) await commit();
        continue;
      }
      let doc: Doc;
      try {
        doc = toDoc(obj, writer.schema, newAttrs, slab());
      } catch (e) {
        if (e instanceof DocumentError) {
          reject(lineNo, raw, toInvalidDocument(e, lineNo));
          continue;
        }
        throw e;
      }
      batch.push(doc);
      batchRaw += raw.length;
      if (batch.length >= batchLimit()) await commit();
    }
  } catch (e) {
    // Bulk: the whole batches staged before the bad line are committed first (their segment), then the
    // error names what that committed.
    if (e instanceof BulkStop) {
      await flushNow();
      throw badLine(e.line, e.err);
    }
    // A bad line stops the import, but what was committed before it still gets its segment (and
    // indexes), as it would have at the end of a successful import.
    if (e instanceof ElacsymError && e.code === 'INVALID_DOCUMENT' && opts.flush !== false) {
      try {
        await writer.flush();
      } catch {
        // the journal keeps the documents; the next writer flushes them
      }
    }
    throw e;
  }
  if (lineNo < skip && opts.resumeCrc32 != null && !signal?.aborted) throw resumeConflict(`the input has ${lineNo} lines, not the ${skip} committed`);
  inputEnded = true;
  await commit();
  if (signal?.aborted) throw interrupted();
  s.lines = lineNo;
  if (opts.flush !== false) await flushNow();
  else s.pending = writer.pendingDocCount;
  // (after the last flush: a bulk import's documents are durable when their segment commits)
  s.durable_ms = durableAt - t0;
  s.elapsed_ms = clock() - t0;
  s.docs_per_s = s.elapsed_ms > 0 ? Math.round((s.committed / s.elapsed_ms) * 1000) : s.committed;
  return s;
}

const NEWLINE = new Uint8Array([10]);

/**
 * The fingerprint of an input's lines so far: CRC-32 (IEEE) over each line's bytes as the line reader
 * gives them (no line end, no CR, no leading byte-order mark; a line longer than the limit by its first
 * 256 bytes), each followed by one newline, continuing from `prev` (0 before the first line). A resume
 * point records it with the line count, and `--resume` recomputes it while skipping those lines.
 */
export function lineFingerprint(line: Uint8Array, prev: number): number {
  return crc32(NEWLINE, crc32(line, prev));
}

/** The shape of a patch line: an id and an attributes object (values are checked once merged). */
function toPatch(obj: unknown): { id: DocId; attributes: Record<string, AttrValue | null> } {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new DocumentError('', 'expected a JSON object like {"id": 1, "attributes": {...}}');
  const o = obj as Record<string, unknown>;
  let id: DocId;
  try {
    id = parseId(o.id);
  } catch (e) {
    throw new DocumentError('id', (e as Error).message);
  }
  for (const key of Object.keys(o)) {
    if (key === 'vector') throw new DocumentError('vector', 'patch keeps the vector; to change it, import the whole document');
    if (key !== 'id' && key !== 'attributes') throw new DocumentError(key, 'unknown key; a patch line has id and attributes');
  }
  const a = o.attributes;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new DocumentError('attributes', 'expected an object of the attributes to change (null removes one)');
  return { id, attributes: a as Record<string, AttrValue | null> };
}

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** `input`, with the CRC-32 of its bytes kept in `s.input_crc32` as they pass. */
async function* crcTap(input: AsyncIterable<Uint8Array>, s: ImportSummary): AsyncGenerator<Uint8Array> {
  s.input_crc32 = 0;
  for await (const chunk of input) {
    s.input_crc32 = crc32(chunk, s.input_crc32);
    yield chunk;
  }
}

/**
 * The shard (1 .. count) that owns the document whose id key is `key` (model/document.ts idKey): CRC-32
 * (IEEE) of the key's UTF-8 bytes, modulo count, plus one. Stable across releases: machines running
 * different versions of one sharded import must agree on it.
 */
export function shardOf(key: string, count: number): number {
  return (crc32(Buffer.from(key, 'utf8')) % count) + 1;
}
