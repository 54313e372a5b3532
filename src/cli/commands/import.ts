import { createReadStream, openSync, realpathSync, statSync, writeSync, closeSync } from 'node:fs';
import { ElacsymError } from '../../errors.js';
import { namespaceDir } from '../../store/data-dir.js';
import { importNdjson, type ImportProgress } from '../../store/ingest.js';
import { Writer } from '../../store/writer.js';
import { intOpt } from '../args.js';
import { interruptSignal, lockWaitNotice } from '../interrupt.js';
import { segmentBytesFromEnv } from '../limits.js';
import { err, fmtInt, isTTY, printJson, type GlobalOptions } from '../output.js';
import { startProgress } from '../progress.js';

export default async function importCmd([name, file = '-']: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const dir = namespaceDir(g.dataDir, name!);
  const fromStdin = file === '-';
  let total: number | undefined;
  let resumeKey: string | undefined;
  if (!fromStdin) {
    try {
      total = statSync(file).size;
      resumeKey = realpathSync(file);
    } catch {
      throw new ElacsymError('FILE_NOT_FOUND', `input file ${file} does not exist`, { details: { path: file } });
    }
  }
  if (o.resume && fromStdin) throw new ElacsymError('USAGE', '--resume needs a FILE; for stdin pass --skip-lines N');
  if (o.resume && o.skipLines !== undefined) throw new ElacsymError('USAGE', '--resume and --skip-lines are exclusive');
  if (o.rejects && o.onError !== 'skip') throw new ElacsymError('USAGE', '--rejects needs --on-error skip');
  const batchDocs = intOpt(o.batchSize, '--batch-size', 1, 1_000_000);
  const segmentDocs = intOpt(o.segmentDocs, '--segment-docs', 1, 100_000_000);
  const maxLineBytes = intOpt(o.maxLineBytes, '--max-line-bytes', 1024);
  const wait = intOpt(o.wait ?? 0, '--wait', 0, 86400);

  let rejectsFd: number | null = null;
  if (typeof o.rejects === 'string') rejectsFd = openSync(o.rejects, 'w');

  // SIGINT/SIGTERM: stop reading, commit the complete lines already read, exit 130 (see interrupt.ts).
  const signal = interruptSignal();
  const writer = await Writer.open(dir, name!, { waitSeconds: wait, segmentDocs, segmentBytes: segmentBytesFromEnv(), signal, onLockWait: lockWaitNotice(g, name!, wait) });
  // A user who typed `elacsym import docs` and forgot the file would otherwise face a silent terminal.
  if (fromStdin && isTTY('stdin') && !g.quiet) err('elacsym: reading NDJSON from standard input (end with Ctrl-D; Ctrl-C commits what was read and stops)');
  const showBar = !g.quiet && !g.json && (isTTY('stderr') || Boolean(o.progress));
  const bar = showBar ? await startProgress(total) : null;
  try {
    const skipLines = o.resume ? writer.resumePoint(resumeKey!) : o.skipLines !== undefined ? intOpt(o.skipLines, '--skip-lines') : 0;
    if (o.resume && !g.quiet) err(`resuming ${file} after line ${skipLines}`);
    if (writer.recovered && writer.recovered.entries > 0 && !g.quiet) {
      err(`recovered ${writer.recovered.entries} pending journal entries (${writer.recovered.docs} documents) into a segment`);
    }
    const input = fromStdin ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const summary = await importNdjson(writer, input, {
      onError: o.onError === 'skip' ? 'skip' : 'fail',
      onReject:
        rejectsFd !== null
          ? (line, text, reason) => {
              writeSync(rejectsFd!, `${JSON.stringify({ line, reason, text })}\n`);
            }
          : undefined,
      skipLines,
      batchDocs,
      segmentDocs,
      maxLineBytes,
      resumeKey,
      signal,
      flush: o.flush !== false,
      // With --json, every committed batch is acknowledged on stderr as an NDJSON event (scripts, crash tests).
      onProgress: bar
        ? (p: ImportProgress) => bar.update(p)
        : g.json
          ? (p: ImportProgress) => {
              if (p.phase === 'journal') err(JSON.stringify({ event: 'committed', documents: p.committed, lines: p.lines, rejected: p.rejected }));
            }
          : undefined,
    });
    bar?.stop();
    const peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
    if (g.json) await printJson({ namespace: name, ...summary, peak_rss_bytes });
    else if (!g.quiet) {
      err(
        `imported ${fmtInt(summary.committed)} documents into ${name}: read ${fmtInt(summary.read)}, inserted ${fmtInt(summary.inserted)}, updated ${fmtInt(summary.updated)}, rejected ${fmtInt(summary.rejected)}` +
          `${summary.skipped_lines ? `, skipped ${fmtInt(summary.skipped_lines)} lines` : ''} in ${(summary.elapsed_ms / 1000).toFixed(2)}s (${fmtInt(summary.docs_per_s)} docs/s; durable after ${(summary.durable_ms / 1000).toFixed(2)}s)`,
      );
    }
    return 0;
  } finally {
    bar?.stop();
    // An interrupted read leaves stdin open; a live handle would keep the process from exiting.
    if (fromStdin) process.stdin.destroy();
    if (rejectsFd !== null) closeSync(rejectsFd);
    writer.close();
  }
}
