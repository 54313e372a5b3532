/**
 * Query worker thread: holds its own warm snapshots (a Snapshot is not shareable across threads) and
 * answers `{id, ns, body}` messages with `{id, json}` or `{id, error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ElacsymError } from '../errors.js';
import { failpointPauseSync } from '../util/failpoint.js';
import { PublishedWarm, type RemoteSpec } from './published-warm.js';
import { answerQuery } from './query-exec.js';
import { WarmNamespaces, type WarmSource } from './warm.js';

/** `cancel[0]`: the id of the last request the pool gave up on (its time limit passed); see pool.ts. */
const { dataDir, cancel, remote } = workerData as { dataDir: string; cancel: Int32Array; remote: RemoteSpec | null };
const published = remote ? new PublishedWarm(remote) : null;
const warm: WarmSource = published ?? new WarmNamespaces(dataDir);

class Stopped extends Error {}

parentPort!.on('message', async (m: { id: number; ns: string; body: unknown; fence: number; deadline: number } | { close: true } | { stats: number }) => {
  if ('stats' in m) {
    parentPort!.postMessage({ stats: m.stats, warm: warm.stats(), cache: published ? published.publishedStats().cache : null });
    return;
  }
  if ('close' in m) {
    warm.close();
    parentPort!.close();
    return;
  }
  const slot = m.id & 0x7fffffff;
  const seen = Atomics.load(cancel, 0);
  // The request time limit, checked before the query and between its segments: a query the pool gave
  // up on (or past its deadline, e.g. queued behind a slow one) stops instead of holding the worker.
  const guard = () => {
    failpointPauseSync('query:before-segment', { array: cancel, index: 0, value: seen });
    if (Atomics.load(cancel, 0) === slot || (m.deadline > 0 && Date.now() > m.deadline)) throw new Stopped();
  };
  try {
    // Published namespaces resolve their latest version first (I/O through the bridge); a local data
    // directory has no ready() and stays on the synchronous path.
    if (warm.ready) await warm.ready(m.ns);
    const a = answerQuery(warm, m.ns, m.body, guard, m.fence);
    parentPort!.postMessage({ id: m.id, json: a.json, kind: a.kind, generation: a.generation });
  } catch (e) {
    const err =
      e instanceof Stopped
        ? { code: 'TIMEOUT', message: 'the query did not finish within the request time limit (--request-timeout)' }
        : e instanceof ElacsymError
        ? { code: e.code, message: e.message, hint: e.hint, details: { line: e.details.line } }
        : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage({ id: m.id, error: err });
  }
});
