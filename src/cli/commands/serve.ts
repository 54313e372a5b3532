/**
 * `elacsym serve`: parses options, loads the HTTP server (dist/server.mjs, its own bundle: the CLI's
 * other commands never load fastify), prints one JSON line `{"listening": URL, "workers": N}` on stderr
 * when ready, and shuts down gracefully on SIGTERM/SIGINT.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ElacsymError } from '../../errors.js';
import type { RunningServer, ServeOptions } from '../../server/app.js';
import { isObjectStoreUrl } from '../../objstore/object-store.js';
import { intOpt, numOpt, readInput } from '../args.js';
import { checkS3EndpointUse } from '../s3-settings.js';
import { interruptSignal } from '../interrupt.js';
import { err, type GlobalOptions } from '../output.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

async function loadServer(): Promise<typeof import('../../server/app.js')> {
  const here = import.meta.url;
  // dist/server.mjs beside the CLI bundle, or dist/server/app.js beside tsc's output
  const url = [new URL('./server.mjs', here), new URL('../../server/app.js', here)].find((u) => existsSync(fileURLToPath(u)));
  if (!url) throw new ElacsymError('INTERNAL', 'the server is not built; run npm run build');
  const imp = (globalThis as { __elacsymImport?: (s: string) => Promise<unknown> }).__elacsymImport ?? ((s: string) => import(s));
  return (await imp(url.href)) as typeof import('../../server/app.js');
}

export function readToken(o: Record<string, unknown>): string | null {
  let token: string | undefined;
  if (typeof o.tokenFile === 'string') token = readInput(o.tokenFile, 'token file').trim();
  else if (process.env.ELACSYM_TOKEN !== undefined) token = process.env.ELACSYM_TOKEN.trim();
  if (token === undefined) return null;
  if (token.length < 16) throw new ElacsymError('USAGE', 'the bearer token must be at least 16 characters');
  return token;
}

export default async function serve(_args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  const host = String(o.host);
  const token = readToken(o);
  if (token === null && !LOOPBACK.test(host)) {
    throw new ElacsymError('USAGE', `binding to ${host} (not a loopback address) requires a bearer token: pass --token-file FILE or set ELACSYM_TOKEN`);
  }
  const opts: ServeOptions = {
    dataDir: g.dataDir,
    host,
    port: intOpt(o.port, '--port', 0, 65535),
    token,
    workers: o.workers === undefined ? availableParallelism() : intOpt(o.workers, '--workers', 0, 256),
    maxBodyBytes: intOpt(o.maxBodyBytes, '--max-body-bytes', 1024),
    maxLineBytes: intOpt(o.maxLineBytes, '--max-line-bytes', 1024),
    requestTimeoutMs: Math.round(intOpt(o.requestTimeout, '--request-timeout', 0, 86400) * 1000),
    writeWaitMs: Math.round(intOpt(o.writeWait, '--write-wait', 0, 86400) * 1000),
    accessLog: o.accessLog ? (line: string) => err(line) : null,
    remote: null,
  };
  checkS3EndpointUse(o, g.dataDir);
  // A missing data directory is refused as by every command but init: a mistyped -d must not give a
  // server that answers healthy and empty (and creates the directory at the first PUT of a namespace).
  if (!isObjectStoreUrl(g.dataDir) && !existsSync(g.dataDir)) {
    throw new ElacsymError('DATA_DIR_NOT_FOUND', `data directory ${g.dataDir} does not exist`, {
      details: { path: g.dataDir },
      hint: `check -d (or ELACSYM_DATA_DIR); to serve a new, empty data directory, create it first: mkdir -p ${g.dataDir}`,
    });
  }
  if (isObjectStoreUrl(g.dataDir)) {
    // A query machine for namespaces published to an object store (read-only; see elacsym-serve(1)).
    const { cacheBytes, cacheDir, s3Spec } = await import('../remote.js');
    opts.remote = { spec: s3Spec(g.dataDir, o), cacheDir: cacheDir(), cacheBytes: cacheBytes(), refreshMs: Math.round(numOpt(o.refreshInterval ?? '1', '--refresh-interval', 0) * 1000) };
  } else if (g.explicit.has('refreshInterval')) {
    throw new ElacsymError('USAGE', '--refresh-interval applies to an s3:// data directory (a local one is refreshed at every request)');
  }
  const shutdownMs = intOpt(o.shutdownTimeout, '--shutdown-timeout', 1, 3600) * 1000;
  const { startServer } = await loadServer();
  let server: RunningServer;
  try {
    server = await startServer(opts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ElacsymError('USAGE', `cannot listen on ${host}:${opts.port}: ${(e as Error).message}`);
    throw e;
  }
  err(JSON.stringify({ listening: server.url, workers: server.workers }));
  return new Promise<number>((resolve) => {
    let forced: NodeJS.Timeout | null = null;
    const stop = (signal: string) => {
      if (forced) return;
      if (!g.quiet) err(JSON.stringify({ event: 'shutdown', signal }));
      // Bounded: in-flight requests get shutdownMs; after that the process exits anyway (the kernel
      // releases writer locks of a dead process, and committed batches are durable).
      forced = setTimeout(() => {
        err(JSON.stringify({ event: 'shutdown-timeout', after_s: shutdownMs / 1000 }));
        process.exit(1);
      }, shutdownMs);
      forced.unref();
      server.close().then(
        () => {
          if (forced) clearTimeout(forced);
          if (!g.quiet) err(JSON.stringify({ event: 'stopped' }));
          resolve(0);
        },
        (e) => {
          err(`elacsym: error during shutdown: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    // The CLI's interrupt handlers (../interrupt.ts) abort this signal on the first SIGTERM/SIGINT; a
    // second signal exits 130 at once, as for every command.
    const signal = interruptSignal('accepting no new connections, finishing the requests in flight and stopping');
    signal.addEventListener('abort', () => stop(/SIG[A-Z]+/.exec(String((signal.reason as Error | undefined)?.message))?.[0] ?? 'signal'), { once: true });
  });
}
