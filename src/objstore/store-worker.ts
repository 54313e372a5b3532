/**
 * The worker thread behind `SyncObjectStore` (sync-store.ts): it owns the asynchronous ObjectStore (an S3
 * client with its connections, or a local directory) and answers `{id, op, args}` requests on the port it
 * was given. After posting each reply it sets the shared flag and wakes the calling thread, which is
 * blocked in `Atomics.wait` and takes the reply with `receiveMessageOnPort`.
 *
 * Order matters: the reply is posted BEFORE the flag is raised, so a woken caller always finds it.
 * Errors travel as plain fields (code, message, hint, details, errno, path, syscall) and are rebuilt on the
 * other side with the same code.
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import type { ByteRange, ObjectStore } from './object-store.js';
import type { StoreSpec, WireReply, WireRequest } from './sync-store.js';
import { toWire } from '../util/wire-error.js';

const { spec, port, flag } = workerData as { spec: StoreSpec; port: MessagePort; flag: Int32Array };

let opened: Promise<ObjectStore> | undefined;
function store(): Promise<ObjectStore> {
  opened ??= (async () => {
    if (spec.kind === 'local') {
      const { LocalObjectStore } = await import('./local.js');
      return new LocalObjectStore(spec.root);
    }
    const { S3ObjectStore } = await import('./s3.js');
    return new S3ObjectStore(spec.options);
  })();
  return opened;
}

/** A byte array that owns its whole ArrayBuffer, so it can be transferred instead of copied. */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? b : b.slice();
}

async function run(req: WireRequest): Promise<unknown> {
  const s = await store();
  switch (req.op) {
    case 'head':
      return s.head(req.key);
    case 'get':
      return s.get(req.key);
    case 'getRanges':
      // Every run of missing blocks of one read, fetched in parallel: one round trip for the whole read.
      return Promise.all(req.ranges.map((r: ByteRange) => s.get(req.key, r)));
    case 'putIfAbsent':
      return s.putIfAbsent(req.key, req.bytes);
    case 'list':
      return s.list(req.prefix);
    case 'delete':
      return s.delete(req.keys);
    case 'ping':
      return 'pong';
  }
}

function reply(r: WireReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(r, transfer);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

// Ready: the calling thread waits for this before its first request (see SyncObjectStore.start).
reply({ id: 0, ok: true, value: 'ready' });

port.on('message', (req: WireRequest) => {
  run(req).then(
    (value) => {
      const transfer: ArrayBuffer[] = [];
      const wrap = (v: unknown) => {
        if (!(v instanceof Uint8Array)) return v;
        const o = own(v);
        transfer.push(o.buffer as ArrayBuffer);
        return o;
      };
      const out = Array.isArray(value) ? value.map(wrap) : wrap(value);
      reply({ id: req.id, ok: true, value: out }, transfer);
    },
    (e: unknown) => reply({ id: req.id, ok: false, error: toWire(e) }),
  );
});
