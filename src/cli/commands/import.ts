import { accessSync, constants, createReadStream, openSync, realpathSync, statSync, closeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ElacsymError } from '../../errors.js';
import { namespaceDir } from '../../store/data-dir.js';
import { importNdjson, type ImportProgress, type ImportSummary } from '../../store/ingest.js';
import { IMPORT_FORMATS, type ImportFormat } from '../../store/records.js';
import { Writer } from '../../store/writer.js';
import { toEnvError } from '../../util/env-error.js';
import { writeAllSync } from '../../util/fs.js';
import { intOpt, shardOption } from '../args.js';
import { loadConfig } from '../config.js';
import { interruptSignal, lockWaitNotice, quarantineNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, errNow, fmtInt, isTTY, printJson, type GlobalOptions } from '../output.js';
import { startProgress } from '../progress.js';
import { peakRssBytes } from '../../util/peak-rss.js';

export default function importCmd(args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  return runImport(args, o, g, false);
}

/** Checks the options and the input file before anything else (on an object store: before contacting it). */
export function preflight(args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<unknown> {
  return importChecks(args, o, g, false);
}

/**
 * What `import` and `patch` check before they touch the namespace: the input file, the options and their
 * combinations (USAGE, FILE_NOT_FOUND, PERMISSION_DENIED...). Reads nothing of the data directory but its
 * configuration.
 */
export async function importChecks([, file = '-']: string[], o: Record<string, unknown>, g: GlobalOptions, patch: boolean) {
  const fromStdin = file === '-';
  let total: number | undefined;
  let resumeKey: string | undefined;
  if (!fromStdin) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(file);
      resumeKey = realpathSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ElacsymError('FILE_NOT_FOUND', `input file ${file} does not exist`, { details: { path: file } });
      }
      throw toEnvError(e, file, 'reading the input file');
    }
    // A directory would fail only at the first read, after the writer lock and recovery: refuse it now.
    if (st.isDirectory()) throw new ElacsymError('USAGE', `input ${file} is a directory; name an NDJSON file, or - for stdin`, { details: { path: file } });
    // A regular file has a size for the progress bar; a pipe or device (/dev/stdin, <(cmd)) does not.
    total = st.isFile() ? st.size : undefined;
    try {
      accessSync(file, constants.R_OK); // not open(): opening a named pipe would block, or take its data
    } catch (e) {
      throw toEnvError(e, file, 'reading the input file');
    }
  }
  const shard = shardOption(o);
  if (shard && !g.remote && !/^s3:\/\//.test(g.dataDir)) {
    throw new ElacsymError('USAGE', '--shard splits an import between machines writing one namespace on an object store: it needs an s3:// data directory', {
      hint: 'on a local data directory, import the whole file: one writer at a time writes a namespace',
      details: { option: '--shard' },
    });
  }
  if (shard && patch) throw new ElacsymError('USAGE', '--shard applies to import', { details: { option: '--shard' } });
  if (o.bulk) {
    const bulkUsage = (why: string, hint?: string) => new ElacsymError('USAGE', `--bulk ${why}`, { details: { option: '--bulk' }, ...(hint ? { hint } : {}) });
    if (o.flush === false) throw bulkUsage('writes segments; --no-flush leaves documents in the journal: choose one');
    if (o.dryRun) throw bulkUsage('writes segments; --dry-run writes nothing: choose one');
    if (g.remote || /^s3:\/\//.test(g.dataDir)) throw bulkUsage('applies to a local data directory', 'on an object store, import without --bulk (or split the input with --shard)');
  }
  if (o.resume && fromStdin) throw new ElacsymError('USAGE', '--resume needs a FILE; for stdin pass --skip-lines N');
  if (o.resume && o.skipLines !== undefined) throw new ElacsymError('USAGE', '--resume and --skip-lines are exclusive');
  if (o.rejects && o.onError !== 'skip') throw new ElacsymError('USAGE', '--rejects needs --on-error skip');
  // The --rejects file is created later; a directory it cannot be created in is named now.
  if (typeof o.rejects === 'string') {
    try {
      accessSync(dirname(resolve(o.rejects)), constants.W_OK);
    } catch (e) {
      throw toEnvError(e, o.rejects, 'opening the --rejects file');
    }
  }
  // Flags typed by the user win; otherwise ELACSYM_IMPORT_* or elacsym.toml [import], else the built-in defaults.
  const cfg = await loadConfig(g.dataDir);
  const batchDocs = g.explicit.has('batchSize') ? intOpt(o.batchSize, '--batch-size', 1, 1_000_000) : (cfg['import.batch_size'].value as number);
  const segmentDocs = g.explicit.has('segmentDocs') ? intOpt(o.segmentDocs, '--segment-docs', 1, 100_000_000) : (cfg['import.segment_docs'].value as number);
  const maxLineBytes = intOpt(o.maxLineBytes, '--max-line-bytes', 1024);
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);
  return { fromStdin, total, resumeKey, shard, batchDocs, segmentDocs, maxLineBytes, wait };
}

/** `import`, or with `patch` the `patch` command: the same reading, validation, durability and summary. */
export async function runImport([name, file = '-']: string[], o: Record<string, unknown>, g: GlobalOptions, patch: boolean): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  const { fromStdin, total, resumeKey, shard, batchDocs, segmentDocs, maxLineBytes, wait } = await importChecks([name!, file], o, g, patch);

  let rejectsFd: number | null = null;
  if (typeof o.rejects === 'string') {
    try {
      rejectsFd = openSync(o.rejects, 'w');
    } catch (e) {
      throw toEnvError(e, o.rejects, 'opening the --rejects file');
    }
  }

  // --format, else the file's extension, else NDJSON. Flat records: CSV/TSV/Parquet always, JSON/NDJSON
  // with --id-field or --vector-field.
  const ext = fromStdin ? '' : file.toLowerCase().replace(/^.*\./, '');
  const format: ImportFormat =
    typeof o.format === 'string' ? (o.format as ImportFormat) : (IMPORT_FORMATS as readonly string[]).includes(ext) ? (ext as ImportFormat) : ext === 'jsonl' ? 'ndjson' : 'ndjson';
  const flat = format === 'csv' || format === 'tsv' || format === 'parquet' || o.idField !== undefined || o.vectorField !== undefined;
  const toLines = async (raw: AsyncIterable<Uint8Array>, schema: import('../../model/types.js').Schema): Promise<AsyncIterable<Uint8Array>> => {
    if (format === 'ndjson' && !flat) return raw;
    const rec = await import('../../store/records.js');
    const fo = { idField: typeof o.idField === 'string' ? o.idField : 'id', vectorField: typeof o.vectorField === 'string' ? o.vectorField : 'vector', schema, textCells: format === 'csv' || format === 'tsv' };
    return format === 'ndjson' ? rec.flatNdjsonLines(raw, fo) : rec.toImportLines(format, raw, { ...fo, flat });
  };
  if (o.dryRun) {
    if (patch) throw new ElacsymError('USAGE', '--dry-run applies to import');
    // Reads and validates everything, writes nothing, takes no lock (see store/dry-run.ts).
    const { DryRunSink } = await import('../../store/dry-run.js');
    const sink = DryRunSink.open(dir, name!, segmentBytesFromEnv());
    const input = await toLines(fromStdin ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 }), sink.schema);
    let summary: ImportSummary;
    try {
      summary = await importNdjson(sink, input, {
        onError: o.onError === 'skip' ? 'skip' : 'fail',
        dryRun: true,
        onReject: (line, _text, reason) => err(g.json ? JSON.stringify({ event: 'rejected', line, reason }) : `line ${line}: ${reason}`),
        skipLines: o.skipLines !== undefined ? intOpt(o.skipLines, '--skip-lines') : 0,
        batchDocs,
        maxLineBytes,
        flush: false,
        shard: shard ?? undefined,
        markedRejects: format === 'csv' || format === 'tsv',
      });
    } finally {
      if (fromStdin) process.stdin.destroy();
    }
    const c = sink.classify();
    const report = { namespace: name, dry_run: true, format, read: summary.read, ...(shard ? { other_shards: summary.other_shards } : {}), would_insert: c.inserted, would_update: c.updated, rejected: summary.rejected, lines: summary.lines };
    if (g.json) await printJson(report);
    else if (!g.quiet) err(`dry run of ${format} into ${name}: read ${fmtInt(report.read)}, would insert ${fmtInt(c.inserted)}, would update ${fmtInt(c.updated)}, rejected ${fmtInt(report.rejected)}; nothing was written`);
    return 0;
  }

  // SIGINT/SIGTERM: stop reading, commit the complete lines already read, exit 130 (see interrupt.ts).
  // (a bulk import commits nothing more: what it read since its last segment commit is not written)
  const signal = interruptSignal(o.bulk ? 'stopping; documents read since the last segment are not written' : 'committing what was read and stopping');
  const writer = await Writer.open(dir, name!, { waitSeconds: wait, segmentDocs, segmentBytes: segmentBytesFromEnv(), signal, onLockWait: lockWaitNotice(g, name!, wait) });
  // A user who typed `elacsym import docs` and forgot the file would otherwise face a silent terminal.
  if (fromStdin && isTTY('stdin') && !g.quiet) err('elacsym: reading NDJSON from standard input (end with Ctrl-D; Ctrl-C commits what was read and stops)');
  const showBar = !g.quiet && !g.json && (isTTY('stderr') || Boolean(o.progress));
  const bar = showBar ? await startProgress(total, { force: Boolean(o.progress) }) : null;
  try {
    const resumeAt = o.resume ? writer.resumePoint(resumeKey!) : null;
    const skipLines = resumeAt ? resumeAt.lines : o.skipLines !== undefined ? intOpt(o.skipLines, '--skip-lines') : 0;
    if (o.resume && !g.quiet) err(`resuming ${file} after line ${skipLines}`);
    if (writer.recovered && writer.recovered.entries > 0 && !g.quiet) {
      const r = writer.recovered;
      err(g.json ? JSON.stringify({ event: 'recovered', entries: r.entries, documents: r.docs }) : `recovered ${r.entries} pending journal entr${r.entries === 1 ? 'y' : 'ies'} (${r.docs} document${r.docs === 1 ? '' : 's'}) into a segment`);
    }
    const input = await toLines(fromStdin ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 }), writer.schema);
    const summary = await importNdjson(writer, input, {
      onError: o.onError === 'skip' ? 'skip' : 'fail',
      onReject:
        rejectsFd !== null
          ? (line, text, reason) => {
              try {
                writeAllSync(rejectsFd!, `${JSON.stringify({ line, reason, text })}\n`);
              } catch (e) {
                throw toEnvError(e, String(o.rejects), 'writing rejected lines to');
              }
            }
          : undefined,
      skipLines,
      batchDocs,
      segmentDocs,
      maxLineBytes,
      resumeKey,
      resumeCrc32: resumeAt?.crc32 ?? null,
      signal,
      flush: o.flush !== false,
      bulk: o.bulk === true,
      patch,
      shard: shard ?? undefined,
      markedRejects: format === 'csv' || format === 'tsv',
      // With --json, every committed batch is acknowledged on stderr as an NDJSON event (scripts, crash tests).
      // On an object store, once the batch is durable there (g.afterBatch): the rest of the output waits
      // for the commit, an acknowledgement must not.
      onProgress:
        bar || g.json || g.afterBatch
          ? (p: ImportProgress) => {
              bar?.update(p);
              if (p.phase !== 'journal') return;
              const ack = g.json && !bar ? JSON.stringify({ event: 'committed', documents: p.committed, lines: p.lines, rejected: p.rejected }) : null;
              if (g.afterBatch) g.afterBatch(() => ack !== null && errNow(ack));
              else if (ack !== null) err(ack);
            }
          : undefined,
    });
    bar?.stop();
    g.onImportSummary?.(summary);
    if (g.json) await printJson({ namespace: name, ...summary, peak_rss_bytes: peakRssBytes() });
    else if (!g.quiet) {
      // With --no-flush the documents wait in the journal: whether each is new or an update is only known
      // when the journal is flushed, so say that instead of printing "inserted 0, updated 0".
      const counts =
        o.flush === false
          ? `${summary.segments ? `inserted ${fmtInt(summary.inserted)}, updated ${fmtInt(summary.updated)} (flushed), ` : ''}${fmtInt(summary.pending)} left in the journal (inserts and updates are counted when \`elacsym wal replay ${name}\` or the next writer flushes it)`
          : `inserted ${fmtInt(summary.inserted)}, updated ${fmtInt(summary.updated)}`;
      err(
        `${patch ? 'patched' : 'imported'} ${fmtInt(summary.committed)} documents ${patch ? 'of' : 'into'} ${name}: read ${fmtInt(summary.read)}, ${counts}, rejected ${fmtInt(summary.rejected)}` +
          `${summary.skipped_lines ? `, skipped ${fmtInt(summary.skipped_lines)} lines` : ''}${shard && shard.count > 1 ? `, left ${fmtInt(summary.other_shards ?? 0)} lines to the other ${shard.count === 2 ? 'shard' : `${shard.count - 1} shards`}` : ''} in ${(summary.elapsed_ms / 1000).toFixed(2)}s (${fmtInt(summary.docs_per_s)} docs/s; durable after ${(summary.durable_ms / 1000).toFixed(2)}s)`,
      );
    }
    return 0;
  } finally {
    bar?.stop();
    // An interrupted read leaves stdin open; a live handle would keep the process from exiting.
    if (fromStdin) process.stdin.destroy();
    if (rejectsFd !== null) closeSync(rejectsFd);
    quarantineNotice(g, name!, writer.quarantinedEntries, writer.quarantinedDeletes);
    writer.close();
  }
}
