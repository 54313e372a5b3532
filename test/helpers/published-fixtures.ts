/**
 * What the object-storage integration tests share: a small deterministic corpus (4-d vectors, a full-text
 * title, a number and a tag), the query requests of every kind, answers without timings, and a real TCP
 * forwarder in front of the S3 server that a test closes to make the store "go away".
 */
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

export const doc = (i: number) => ({
  id: i,
  vector: [Math.sin(i), Math.cos(i * 0.7), (i % 13) / 13, 1 + (i % 5)],
  attributes: { title: `document ${i} ${['red apple', 'green pear', 'blue plum', 'yellow lemon'][i % 4]}`, n: i, tag: ['a', 'b', 'c'][i % 3] },
});
export const docs = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => doc(from + k));

/** Requests of every kind: vector, BM25, hybrid, filtered, filter-only, phrase. */
export const REQUESTS = [
  { vector: [0.3, 0.9, 0.2, 2], top_k: 7 },
  { full_text: { query: 'plum' }, top_k: 5 },
  { vector: [1, 0, 0.5, 1], full_text: { query: 'green pear' }, top_k: 6 },
  { vector: [0.1, 0.2, 0.3, 3], filter: { field: 'tag', op: 'eq', value: 'b' }, top_k: 8 },
  { filter: { field: 'n', op: 'lt', value: 40 }, top_k: 50 },
  { full_text: { query: '"yellow lemon"' }, top_k: 4 },
];

/** The answers of `query --batch` without timings (the only thing that may differ between two runs). */
export const answers = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => {
      const r = JSON.parse(l) as Record<string, unknown>;
      delete r.took_ms;
      return r;
    });

/**
 * A TCP forwarder on an ephemeral loopback port to `endpoint`; `cut()` closes it and every connection.
 * With `tls` (a key and certificate for 127.0.0.1) it terminates TLS and forwards the bytes inside: an
 * https:// endpoint in front of a plain one.
 */
export async function forwarder(endpoint: string, tls?: { key: Buffer; cert: Buffer }): Promise<{ endpoint: string; cut: () => Promise<void>; close: () => void }> {
  const target = new URL(endpoint);
  const sockets = new Set<Socket>();
  const forward = (c: Socket) => {
    const up = connect(Number(target.port), target.hostname);
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    const drop = () => (c.destroy(), up.destroy());
    c.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  };
  const proxy = tls ? createTlsServer(tls, forward).on('tlsClientError', () => undefined) : createServer(forward); // a client that refuses the certificate hangs up
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    cut: () =>
      new Promise<void>((r) => {
        proxy.close(() => r());
        for (const k of sockets) k.destroy();
      }),
    close: () => proxy.close(),
  };
}
