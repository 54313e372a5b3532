/**
 * `elacsym doctor [target]`: check a store (a local directory or s3://bucket/prefix) before anyone writes
 * to it. Thin: reads the S3 settings from the options and the environment, runs src/objstore/doctor.ts,
 * prints a table (or --json), and exits 0 when every check passed; otherwise the report is still printed and
 * the error follows on stderr: STORE_UNSAFE (exit 2) for a store that accepts a conditional create of an
 * existing key, or the store's own error (STORE_UNAVAILABLE 75, STORE_ACCESS_DENIED 77, BUCKET_NOT_FOUND 3).
 */
import { openObjectStore } from '../../objstore/open.js';
import { s3Settings } from '../s3-settings.js';

export { s3Settings };
import { doctorError, runDoctor } from '../../objstore/doctor.js';
import { interruptSignal } from '../interrupt.js';
import { type GlobalOptions, outLine, printJson } from '../output.js';
import { renderTable } from '../table.js';

export default async function doctor([target]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const where = target ?? g.dataDir;
  const { store, close } = await openObjectStore(where, s3Settings(o));
  let report;
  try {
    // Ctrl-C stops between checks: the probe objects are removed and the report printed all the same.
    report = await runDoctor(store, { signal: interruptSignal('removing its probe objects and stopping') });
  } finally {
    await close();
  }
  if (g.json) await printJson(report);
  else {
    const rows = report.checks.map((c) => [c.name, c.status === 'ok' ? 'ok' : c.status === 'fail' ? 'FAIL' : 'skipped', c.code ? `[${c.code}] ${c.detail}` : c.detail]);
    for (const l of renderTable([{ head: 'check', shrink: false }, { head: 'result', shrink: false }, { head: 'detail', shrink: false }], rows)) await outLine(l);
    for (const k of report.leftovers) await outLine(`left behind (could not delete): ${k}`);
    const verdict = { ok: 'safe to use as a data directory', unsafe: 'NOT safe to write: refused', failed: 'the store failed a check', interrupted: 'interrupted before every check ran' }[report.verdict];
    await outLine(`${report.location}: ${verdict}`);
  }
  const e = doctorError(report);
  if (e) throw e;
  return 0;
}
