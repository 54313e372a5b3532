/**
 * Query worker thread: holds its own warm snapshots (a Snapshot is not shareable across threads) and
 * answers `{id, ns, body}` messages with `{id, json}` or `{id, error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ElacsymError } from '../errors.js';
import { answerQuery } from './query-exec.js';
import { WarmNamespaces } from './warm.js';

const { dataDir } = workerData as { dataDir: string };
const warm = new WarmNamespaces(dataDir);

parentPort!.on('message', (m: { id: number; ns: string; body: unknown } | { close: true } | { stats: number }) => {
  if ('stats' in m) {
    parentPort!.postMessage({ stats: m.stats, warm: warm.stats() });
    return;
  }
  if ('close' in m) {
    warm.close();
    parentPort!.close();
    return;
  }
  try {
    const a = answerQuery(warm, m.ns, m.body);
    parentPort!.postMessage({ id: m.id, json: a.json, kind: a.kind, generation: a.generation });
  } catch (e) {
    const err =
      e instanceof ElacsymError
        ? { code: e.code, message: e.message, hint: e.hint, details: { line: e.details.line } }
        : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage({ id: m.id, error: err });
  }
});
