/**
 * The write thread: imports, upserts and deletes run here, so building a segment (seconds of CPU) or
 * validating a streamed import never blocks the main thread's HTTP handling. The main thread forwards
 * request-body chunks (`chunk`, with a consumption ack for backpressure) and relays the events back.
 * Each job takes the namespace's writer lock like the CLI (writes.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ElacsymError } from '../errors.js';
import type { DocId } from '../model/types.js';
import { namespaceDir } from '../store/data-dir.js';
import { importNdjson, type ImportOptions } from '../store/ingest.js';
import { withWriter } from './writes.js';

const { dataDir } = workerData as { dataDir: string };
const port = parentPort!;

export type ImportJobOptions = Pick<ImportOptions, 'onError' | 'batchDocs' | 'segmentDocs' | 'maxLineBytes' | 'skipLines' | 'flush'>;
export type WriteMsg =
  | { t: 'import'; id: number; name: string; opts: ImportJobOptions; waitMs: number; events: boolean }
  | { t: 'delete'; id: number; name: string; ids: DocId[]; waitMs: number }
  | { t: 'chunk'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'stop'; id: number };

/** The request body of one import, as an async iterable fed by `chunk` messages. */
class Feed implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  stopped = false;
  private wake: (() => void) | null = null;
  constructor(private readonly id: number) {}
  push(c: Uint8Array) {
    this.chunks.push(c);
    this.wake?.();
  }
  end() {
    this.ended = true;
    this.wake?.();
  }
  readonly abort = new AbortController();
  stop() {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      // Shutdown aborts the job's signal: importNdjson then commits the complete lines it already read
      // (acknowledging them with a committed event) and throws INTERRUPTED; the feed just ends.
      if (this.stopped) return;
      const c = this.chunks.shift();
      if (c) {
        port.postMessage({ t: 'consumed', id: this.id });
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

const feeds = new Map<number, Feed>();

function fail(id: number, e: unknown) {
  const err =
    e instanceof ElacsymError
      ? { code: e.code, message: e.message, hint: e.hint, details: e.details }
      : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), hint: undefined, details: {} };
  port.postMessage({ t: 'error', id, error: JSON.parse(JSON.stringify(err)) as unknown });
}

port.on('message', (m: WriteMsg) => {
  switch (m.t) {
    case 'chunk':
      feeds.get(m.id)?.push(m.chunk);
      return;
    case 'end':
      feeds.get(m.id)?.end();
      return;
    case 'stop':
      feeds.get(m.id)?.stop();
      return;
    case 'import': {
      const feed = new Feed(m.id);
      feeds.set(m.id, feed);
      const ev = (event: Record<string, unknown>) => port.postMessage({ t: 'event', id: m.id, event });
      (async () => {
        const dir = namespaceDir(dataDir, m.name);
        const signal = feed.abort.signal;
        return withWriter(dir, m.name, m.waitMs, { signal }, (w) =>
          importNdjson(w, feed, {
            ...m.opts,
            dialect: 'http', // messages name ?skip_lines=..., not the CLI's flags
            signal,
            onReject: m.events ? (line, text, reason) => ev({ event: 'rejected', line, reason, text: text.length > 200 ? `${text.slice(0, 200)}...` : text }) : undefined,
            onProgress: m.events
              ? (p) => {
                  if (p.phase === 'journal' && p.committed > 0) ev({ event: 'committed', documents: p.committed, lines: p.lines, rejected: p.rejected });
                }
              : undefined,
          }),
        );
      })().then(
        (summary) => port.postMessage({ t: 'done', id: m.id, result: summary }),
        (e) => fail(m.id, e),
      ).finally(() => feeds.delete(m.id));
      return;
    }
    case 'delete': {
      (async () => {
        const dir = namespaceDir(dataDir, m.name);
        return withWriter(dir, m.name, m.waitMs, {}, async (w) => {
          if (m.ids.length > 0) w.appendDeletes(m.ids);
          return w.flush();
        });
      })().then(
        (r) => port.postMessage({ t: 'done', id: m.id, result: r }),
        (e) => fail(m.id, e),
      );
      return;
    }
  }
});
