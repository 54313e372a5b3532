/**
 * One door from a data-directory argument to an ObjectStore: `s3://bucket/prefix` -> S3ObjectStore (the SDK
 * is loaded here, by dynamic import, only when a URL asks for it), anything else -> LocalObjectStore.
 * The caller (cli/) reads the environment and passes the S3 settings in: the core never reads the environment.
 */
import { ElacsymError } from '../errors.js';
import { LocalObjectStore } from './local.js';
import { isObjectStoreUrl, type ObjectStore, parseS3Url } from './object-store.js';

export interface S3Settings {
  endpoint?: string;
  region?: string;
  maxAttempts?: number;
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** See S3StoreOptions.ca. */
  ca?: string[];
}

export interface OpenedStore {
  store: ObjectStore;
  /** Release connections (S3); a no-op for a directory. */
  close(): Promise<void>;
}

/**
 * An endpoint is an http:// or https:// URL of the server alone: anything else is the user's typo (USAGE),
 * not an unreachable server (STORE_UNAVAILABLE said "retry later" for `--s3-endpoint not-a-url`), and a
 * path after the host would be taken for part of the bucket's path.
 */
export function checkEndpoint(endpoint: string): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new ElacsymError('USAGE', `S3 endpoint ${JSON.stringify(endpoint)} is not a URL`, { hint: 'give the server as http://HOST:PORT or https://HOST (--s3-endpoint or ELACSYM_S3_ENDPOINT)' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ElacsymError('USAGE', `S3 endpoint ${endpoint} is not an http:// or https:// URL`, { hint: 'give the server as http://HOST:PORT or https://HOST (--s3-endpoint or ELACSYM_S3_ENDPOINT)' });
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new ElacsymError('USAGE', `S3 endpoint ${endpoint} has a path or query; the bucket and prefix belong in the s3:// URL`, { hint: 'give the server alone, as http://HOST:PORT, and the bucket as s3://BUCKET/PREFIX' });
  }
}

export async function openObjectStore(target: string, s3: S3Settings = {}): Promise<OpenedStore> {
  if (!isObjectStoreUrl(target)) {
    const store = new LocalObjectStore(target);
    return { store, close: async () => undefined };
  }
  const { bucket, prefix } = parseS3Url(target);
  if (s3.endpoint !== undefined) checkEndpoint(s3.endpoint);
  const { S3ObjectStore } = await import('./s3.js');
  const store = new S3ObjectStore({ bucket, prefix, ...s3 });
  return { store, close: () => store.close() };
}
