import { createInterface } from 'node:readline/promises';
import { join } from 'node:path';
import { ElacsymError } from '../../errors.js';
import { DataDir } from '../../store/data-dir.js';
import { acquireWriterLock } from '../../storage/lock.js';
import { validateNamespaceName } from '../../model/schema.js';
import { assertWritable } from '../../util/env-error.js';
import { intOpt } from '../args.js';
import { err, isTTY, printJson, type GlobalOptions } from '../output.js';

export default async function drop([name]: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  validateNamespaceName(name!);
  const dir = DataDir.open(g.dataDir);
  if (!dir.exists(name!)) {
    throw new ElacsymError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in ${g.dataDir}`);
  }
  if (!o.yes) {
    if (!isTTY('stdin') || !isTTY('stderr')) {
      throw new ElacsymError('CONFIRMATION_REQUIRED', `refusing to drop ${name} without --yes when not on a terminal`);
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answer: string;
    try {
      answer = await rl.question(`drop namespace ${name} and all its data? type its name to confirm: `);
    } catch (e) {
      // Ctrl-C at the prompt arrives as a keypress (the terminal is in raw mode), not as SIGINT: it
      // rejects the question. It means what SIGINT means everywhere else (it used to report INTERNAL).
      if ((e as { code?: string }).code === 'ABORT_ERR') throw new ElacsymError('INTERRUPTED', `not dropped: ${name} is unchanged`, { hint: 'rerun the command to drop it' });
      throw e;
    } finally {
      rl.close();
    }
    if (answer.trim() !== name) {
      err('not dropped');
      return 2;
    }
  }
  // Where nothing may be written, say so before anything else (the lock would fail less clearly).
  assertWritable([g.dataDir, dir.namespacePath(name!)], `namespace ${name}`);
  // Hold the writer lock so a running import or compaction is not pulled out from under.
  const lock = acquireWriterLock(join(dir.namespacePath(name!), 'writer.lock'), intOpt(o.wait ?? 0, '--wait'), `namespace ${name}`);
  try {
    dir.dropNamespace(name!);
  } finally {
    lock.release();
  }
  if (g.json) await printJson({ dropped: name });
  else if (!g.quiet) err(`dropped namespace ${name}`);
  return 0;
}
