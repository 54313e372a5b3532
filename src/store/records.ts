/**
 * Import formats other than NDJSON in the import shape (`import --format json|csv|tsv|parquet`, flat
 * records): each record becomes one NDJSON line in the import shape, and that stream goes through the one
 * import pipeline (validation, batches, durability, rejects, resume), so every format gets the same
 * guarantees. A record's line number is its position in the input (for CSV/TSV the header is line 1).
 *
 * Flat records: the `idField` column is the id, the `vectorField` column the vector, every other column an
 * attribute. Values are typed by the schema where it declares the attribute:
 *   integer / float   a decimal number ("" = absent)         boolean   true/false/1/0 ("" = absent)
 *   string            the text as is                         array<string>  a JSON array, or a|b|c
 * Columns the schema does not declare: numbers and true/false in CSV/TSV are typed as such, everything
 * else is a string (the import then types the attribute on first sight). A vector cell is a JSON array.
 */
import { ElacsymError } from '../errors.js';
import { isCanonicalInteger } from '../model/document.js';
import type { Schema } from '../model/types.js';

export type ImportFormat = 'ndjson' | 'json' | 'csv' | 'tsv' | 'parquet';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['ndjson', 'json', 'csv', 'tsv', 'parquet'];

export interface FlatOptions {
  idField: string;
  vectorField: string;
  schema: Schema;
  /** CSV/TSV: cells are text and are typed here; JSON and Parquet values keep their own types. */
  textCells: boolean;
}

const NUM_RE = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

function typed(name: string, cell: unknown, o: FlatOptions): unknown {
  if (!o.textCells || typeof cell !== 'string') return cell;
  const a = Object.hasOwn(o.schema.attributes, name) ? o.schema.attributes[name] : undefined;
  const t = cell.trim();
  switch (a?.type) {
    case 'string':
      // An empty cell is absent whether or not the column is typed yet (a first batch infers it, later
      // ones read the schema): "" here used to make `exists` and `ne` depend on the import's batches.
      return cell === '' ? null : cell;
    case 'integer':
    case 'float':
      return t === '' ? null : NUM_RE.test(t) ? Number(t) : cell; // a non-number stays text: the import names it
    case 'boolean':
      return t === '' ? null : t === 'true' || t === '1' ? true : t === 'false' || t === '0' ? false : cell;
    case 'array<string>':
      if (t === '') return null;
      if (t.startsWith('[')) {
        try {
          return JSON.parse(t);
        } catch {
          return cell;
        }
      }
      return t.split('|');
    default:
      // Only an empty cell is absent; one of spaces is text, as it will be once the column is typed string.
      if (cell === '') return null;
      if (NUM_RE.test(t)) return Number(t);
      if (t === 'true' || t === 'false') return t === 'true';
      return cell;
  }
}

function idOf(v: unknown, o: FlatOptions): unknown {
  // CSV cells are text: an integer written in its canonical form is the integer id (as on the command
  // line, see cli/args.ts cliId), anything else a string id. "007" stays the string "007": read as 7 it
  // became the same document as "7", and one of the two rows was lost without a word.
  if (o.textCells && typeof v === 'string' && isCanonicalInteger(v.trim())) return Number(v.trim());
  return v;
}

/** One flat record -> the import shape. Unparseable vector cells are passed on as text (the import names them). */
export function flatToDoc(rec: Record<string, unknown>, o: FlatOptions): Record<string, unknown> {
  const doc: Record<string, unknown> = { id: idOf(rec[o.idField], o) };
  const attributes: Record<string, unknown> = Object.create(null);
  for (const k of Object.keys(rec)) {
    if (k === o.idField) continue;
    let v = rec[k];
    if (k === o.vectorField) {
      if (typeof v === 'string') {
        const t = v.trim();
        if (t === '') continue;
        try {
          v = JSON.parse(t);
        } catch {
          // left as text: the import reports "vector: expected an array"
        }
      }
      if (v !== null && v !== undefined) doc.vector = v;
      continue;
    }
    const x = typed(k, v, o);
    if (x !== null && x !== undefined) attributes[k] = x;
  }
  doc.attributes = attributes;
  return doc;
}

const enc = new TextEncoder();

/** Stands for a non-finite number while a record is serialised (see toJsonLine). */
const NON_FINITE = '\u0000elacsym:non-finite\u0000';
const NEG_INFINITE = '\u0000elacsym:-infinite\u0000';

/**
 * A record as one JSON line for the import. JSON has no NaN or Infinity, and JSON.stringify writes them
 * as null: a Parquet NaN or Infinity was imported as "absent" without a word. Such a number is written as
 * 1e999 (-1e999 for -Infinity) instead, which JSON.parse reads as an infinity, so the import refuses the
 * record naming the field ("numbers must be finite"), as it refuses the same value anywhere else.
 */
function toJsonLine(rec: unknown): string {
  // A replacer costs a call per value (+7.5 us a 128-d record, ~0.75 s per 100k): only for the rare
  // record that needs it, found by a plain walk first (+2 us).
  if (!hasNonFinite(rec)) return JSON.stringify(rec);
  const text = JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? (v === Number.NEGATIVE_INFINITY ? NEG_INFINITE : NON_FINITE) : v));
  return text.replaceAll(JSON.stringify(NON_FINITE), '1e999').replaceAll(JSON.stringify(NEG_INFINITE), '-1e999');
}

/** Whether `v` is or holds (in arrays and objects, at any depth) a NaN or an infinity. */
function hasNonFinite(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v);
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(hasNonFinite);
  for (const k in v) if (Object.hasOwn(v, k) && hasNonFinite((v as Record<string, unknown>)[k])) return true;
  return false;
}

/**
 * The records of `input` in `format` as NDJSON lines of the import shape. `flat` says whether JSON
 * records are flat (CSV/TSV/Parquet always are). Throws INVALID_DOCUMENT for input that is not the format.
 */
export async function* toImportLines(format: Exclude<ImportFormat, 'ndjson'>, input: AsyncIterable<Uint8Array> | Uint8Array, o: FlatOptions & { flat: boolean }): AsyncGenerator<Uint8Array> {
  const line = (rec: unknown) => enc.encode(`${toJsonLine(o.flat && rec !== null && typeof rec === 'object' && !Array.isArray(rec) ? flatToDoc(rec as Record<string, unknown>, o) : rec)}\n`);
  if (format === 'parquet') {
    const { readParquetRecords } = await import('../storage/parquet.js');
    let rows: Awaited<ReturnType<typeof readParquetRecords>>;
    try {
      rows = await readParquetRecords(input instanceof Uint8Array ? input : await collect(input));
    } catch (e) {
      throw new ElacsymError('INVALID_DOCUMENT', `the input is not a readable Parquet file (${(e as Error).message})`, { cause: e });
    }
    // An elacsym segment file gives documents in the import shape (ids, vector, attributes as stored).
    for (const r of rows.records) yield rows.segment ? enc.encode(`${toJsonLine(r)}\n`) : line(r);
    return;
  }
  if (format === 'json') {
    const text = Buffer.from(input instanceof Uint8Array ? input : await collect(input)).toString('utf8');
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new ElacsymError('INVALID_DOCUMENT', `the input is not valid JSON (${(e as Error).message}); --format json takes one array of documents`, { cause: e });
    }
    if (!Array.isArray(arr)) throw new ElacsymError('INVALID_DOCUMENT', '--format json takes one JSON array of documents');
    for (const r of arr) yield line(r);
    return;
  }
  // CSV / TSV, streamed: a header line names the columns; the header is input line 1, so record i is line i+1.
  const { parse } = await import('csv-parse');
  // TSV has no quoting (IANA text/tab-separated-values): a quote character is data there.
  // A header that names a column twice is refused: csv-parse would keep the last cell of the two (a
  // record silently lost half its data).
  let headerLength = 0;
  const columns = (header: string[]): string[] => {
    headerLength = header.length;
    const seen = new Map<string, number>();
    header.forEach((name, i) => {
      const first = seen.get(name);
      if (first !== undefined) {
        throw new ElacsymError('INVALID_DOCUMENT', `line 1: the header names column ${JSON.stringify(name)} twice (columns ${first + 1} and ${i + 1}); rename one`, { details: { line: 1 } });
      }
      seen.set(name, i);
    });
    return header;
  };
  // A row with another number of cells than the header is a bad record, not a bad file: the reader passes
  // it on (relax_column_count) with its error and raw text, and it becomes a rejected line (rejectLine),
  // so that --on-error skip steps over it like over any other bad record.
  // Records end at CRLF or LF alike (record_delimiter): detected from the header alone, a file of mixed
  // line ends had an LF row merged into the next one (a tester's id "1\n2"). Blank lines are no records.
  const parser = parse({ columns, delimiter: format === 'tsv' ? '\t' : ',', quote: format === 'tsv' ? false : '"', bom: true, relax_column_count: true, info: true, raw: true, skip_empty_lines: true, record_delimiter: ['\r\n', '\n'] });
  const feed = (async () => {
    try {
      if (input instanceof Uint8Array) parser.write(input);
      else for await (const chunk of input) if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
      parser.end();
    } catch (e) {
      parser.destroy(e as Error);
    }
  })();
  // Line numbers: each record is emitted as the import's line number where it starts in the file, blank
  // lines filling the gaps (the import skips them), so rejects, hints, --skip-lines and --resume count file
  // lines even past blank lines and records whose quoted cells span lines.
  const BLANK = enc.encode('\n');
  yield BLANK; // the header's line
  let emitted = 1;
  try {
    for await (const r of parser as AsyncIterable<{ record: Record<string, unknown>; raw: string; info: { lines: number; error?: Error & { record?: unknown[] } } }>) {
      // The record's own text: its raw text may also hold skipped blank lines before it and its line end.
      const text = r.raw.replace(/^[\r\n]+/, '').replace(/[\r\n]+$/, '');
      let inner = 0;
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) inner++;
      const start = r.info.lines - inner;
      for (; emitted < start - 1; emitted++) yield BLANK;
      emitted++;
      const err = r.info.error;
      if (err) {
        const cells = Array.isArray(err.record) ? err.record.length : Number.NaN;
        yield rejectLine(`${cells} cell${cells === 1 ? '' : 's'} where the header has ${headerLength} column${headerLength === 1 ? '' : 's'}`, text);
      } else yield line(r.record);
    }
  } catch (e) {
    if (e instanceof ElacsymError) throw e;
    // Not the import's usual hint (--on-error skip): the reader cannot step over an unclosed quote (where
    // the record ends is unknown), so only fixing the file helps.
    throw new ElacsymError('INVALID_DOCUMENT', `the input is not valid ${format.toUpperCase()}: ${(e as Error).message}`, {
      cause: e,
      hint: `fix the ${format.toUpperCase()} where the message says (an unclosed quote stops the reader: --on-error skip cannot step over it), then resume with --resume or --skip-lines`,
    });
  }
  await feed;
}

/**
 * A record the converter itself found bad, as a line for the import: a NUL byte (never the first byte of a
 * JSON text) then JSON {reason, text}. An import told so (ImportOptions.markedRejects) rejects the line
 * with that reason, its rejects file showing `text`, the record as the input has it.
 */
function rejectLine(reason: string, text: string): Uint8Array {
  return enc.encode(`\u0000${JSON.stringify({ reason, text })}\n`);
}

async function collect(input: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of input) parts.push(c);
  return Buffer.concat(parts);
}

/** Flat NDJSON (`--id-field`/`--vector-field` with NDJSON): each parseable object line becomes the import shape. */
export async function* flatNdjsonLines(input: AsyncIterable<Uint8Array>, o: FlatOptions): AsyncGenerator<Uint8Array> {
  const { readLines } = await import('./ingest.js');
  for await (const { bytes, consumed } of readLines(input, Number.MAX_SAFE_INTEGER)) {
    if (consumed < 0) continue;
    let out: Uint8Array = bytes;
    try {
      const rec = JSON.parse(bytes.toString('utf8')) as unknown;
      if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) out = enc.encode(JSON.stringify(flatToDoc(rec as Record<string, unknown>, o)));
    } catch {
      // not JSON: passed on as it is, and the import rejects it naming the line
    }
    yield Buffer.concat([out, enc.encode('\n')]);
  }
}
