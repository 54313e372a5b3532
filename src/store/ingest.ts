/**
 * NDJSON import: lines -> validated documents -> journal batches -> segments.
 *
 * Contract (README "Import"):
 * - a document is acknowledged (counted) only once its batch is committed to the journal;
 * - with onError 'fail', the first bad line stops the import: earlier batches stay committed, nothing of
 *   the failing batch is, and the error says how many lines were committed and how to resume;
 * - with onError 'skip', bad lines go to `onReject` with their reason and the import goes on;
 * - empty lines, CRLF line ends and a leading UTF-8 BOM are accepted.
 */
import { isUtf8 } from 'node:buffer';
import { ElacsymError } from '../errors.js';
import { DocumentError, toDoc, toInvalidDocument } from '../model/document.js';
import type { AttrValue, Doc } from '../model/types.js';
import type { FlushResult, Writer } from './writer.js';

export interface ImportOptions {
  onError?: 'fail' | 'skip';
  /** Called for each rejected line with onError 'skip' (1-based line number, raw text, reason). */
  onReject?: (line: number, text: string, reason: string) => void;
  /** Skip this many input lines first (resume after a failed import). */
  skipLines?: number;
  /** Documents per journal batch (one fsync each). */
  batchDocs?: number;
  /** Pending documents that trigger a flush into a new segment (bounds memory on huge imports). */
  segmentDocs?: number;
  /** Longest accepted line in bytes. */
  maxLineBytes?: number;
  /** Records the resume point under this key (a file's absolute path) with each batch. */
  resumeKey?: string;
  /** Checked between batches; when it returns true the import stops with INTERRUPTED. */
  shouldStop?: () => boolean;
  onProgress?: (p: ImportProgress) => void;
  /** Flush pending documents into a segment at the end (default true). */
  flush?: boolean;
  clock?: () => number;
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
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Split a byte stream into lines without holding more than one line plus one chunk in memory. A line
 * longer than `maxLineBytes` is reported once (consumed = -1, its first bytes) and then skipped up to its
 * newline without buffering it, so an import with --on-error skip resynchronises on the next line.
 */
async function* lines(input: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<{ bytes: Buffer; consumed: number }> {
  let carry: Buffer | null = null;
  let first = true;
  let consumed = 0;
  let skipping = false;
  for await (const chunk0 of input) {
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
    const buf: Buffer = carry && carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      consumed += nl + 1 - start;
      yield { bytes: buf.subarray(start, end), consumed };
      start = nl + 1;
    }
    carry = start < buf.length ? buf.subarray(start) : null;
    if (carry && carry.length > maxLineBytes) {
      consumed += carry.length;
      yield { bytes: carry.subarray(0, 256), consumed: -1 };
      carry = null;
      skipping = true;
    }
  }
  if (carry && carry.length > 0) {
    const end = carry[carry.length - 1] === 13 ? carry.length - 1 : carry.length;
    consumed += carry.length;
    yield { bytes: carry.subarray(0, end), consumed };
  }
}

export async function importNdjson(writer: Writer, input: AsyncIterable<Uint8Array>, opts: ImportOptions = {}): Promise<ImportSummary> {
  const clock = opts.clock ?? Date.now;
  const t0 = clock();
  const onError = opts.onError ?? 'fail';
  const batchDocs = Math.max(1, opts.batchDocs ?? DEFAULT_BATCH);
  const segmentDocs = Math.max(batchDocs, opts.segmentDocs ?? DEFAULT_SEGMENT_DOCS);
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const skip = opts.skipLines ?? 0;
  writer.segmentDocs = segmentDocs;
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
  let batch: Doc[] = [];
  let newAttrs = new Map<string, AttrValue>();
  let lineNo = 0;
  let bytes = 0;
  let committedLines = skip;
  let durableAt = t0;

  const addFlush = (f: FlushResult) => {
    s.inserted += f.inserted;
    s.updated += f.updated;
    s.deleted += f.deleted;
    if (f.segmentId !== null) s.segments++;
  };
  const progress = (phase: 'journal' | 'index') =>
    opts.onProgress?.({ bytes, lines: lineNo, committed: s.committed, rejected: s.rejected, phase });

  const commit = async () => {
    committedLines = lineNo;
    if (batch.length > 0) {
      writer.appendUpserts(batch, newAttrs, opts.resumeKey ? { source: opts.resumeKey, lines: lineNo } : undefined);
      s.committed += batch.length;
      batch = [];
      newAttrs = new Map();
      durableAt = clock();
      // One 'journal' event per committed batch, never for an empty one (the final commit after a full
      // last batch would otherwise repeat the last event).
      progress('journal');
    }
    if (opts.flush === false) writer.forgetPending();
    else if (writer.pendingDocCount >= segmentDocs) {
      progress('index');
      addFlush(await writer.flush());
    }
    if (opts.shouldStop?.()) {
      throw new ElacsymError('INTERRUPTED', `interrupted after committing ${s.committed} documents (input lines 1-${committedLines})`, {
        hint: `resume with --skip-lines ${committedLines}${opts.resumeKey ? ' or --resume' : ''}`,
        details: { committed: s.committed, lines: committedLines },
      });
    }
  };

  const reject = (line: number, raw: Buffer, err: ElacsymError) => {
    if (onError === 'fail') {
      throw new ElacsymError('INVALID_DOCUMENT', `${err.message}; ${s.committed} documents from input lines 1-${committedLines} were committed, nothing after`, {
        hint: `fix line ${line} and resume with --skip-lines ${committedLines}${opts.resumeKey ? ' (or --resume)' : ''}, or rerun with --on-error skip --rejects FILE`,
        details: { ...err.details, committed: s.committed, committed_lines: committedLines },
      });
    }
    s.rejected++;
    let text: string;
    try {
      text = raw.length > 4096 ? `${raw.subarray(0, 4096).toString('utf8')}...` : raw.toString('utf8');
    } catch {
      text = '';
    }
    opts.onReject?.(line, text, err.message);
  };

  try {
    for await (const { bytes: raw, consumed } of lines(input, maxLine)) {
      lineNo++;
      if (consumed < 0) {
        if (lineNo <= skip) {
          s.skipped_lines++;
          continue;
        }
        s.read++;
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: longer than ${maxLine} bytes (--max-line-bytes)`, { details: { line: lineNo } }));
        continue;
      }
      bytes = consumed;
      if (lineNo <= skip) {
        s.skipped_lines++;
        continue;
      }
      if (raw.length === 0 || isBlank(raw)) continue;
      s.read++;
      if (raw.length > maxLine) {
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: longer than ${maxLine} bytes (--max-line-bytes)`, { details: { line: lineNo } }));
        continue;
      }
      let text: string;
      if (isUtf8(raw)) text = raw.toString('utf8');
      else {
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: not valid UTF-8`, { details: { line: lineNo } }));
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        reject(lineNo, raw, new ElacsymError('INVALID_DOCUMENT', `line ${lineNo}: malformed JSON (${(e as Error).message})`, { details: { line: lineNo } }));
        continue;
      }
      try {
        batch.push(toDoc(obj, writer.schema, newAttrs));
      } catch (e) {
        if (e instanceof DocumentError) {
          reject(lineNo, raw, toInvalidDocument(e, lineNo));
          continue;
        }
        throw e;
      }
      if (batch.length >= batchDocs) await commit();
    }
  } catch (e) {
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
  await commit();
  s.lines = lineNo;
  s.durable_ms = durableAt - t0;
  if (opts.flush !== false) {
    progress('index');
    addFlush(await writer.flush());
  } else s.pending = writer.pendingDocCount;
  s.elapsed_ms = clock() - t0;
  s.docs_per_s = s.elapsed_ms > 0 ? Math.round((s.committed / s.elapsed_ms) * 1000) : s.committed;
  return s;
}

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
