/**
 * One door from a data-directory argument to an ObjectStore: `s3://bucket/prefix` -> S3ObjectStore (the SDK
 * is loaded here, by dynamic import, only when a URL asks for it), anything else -> LocalObjectStore.
 * The caller (cli/) reads the environment and passes the S3 settings in: the core never reads the environment.
 */
import { LocalObjectStore } from './local.js';
import { isObjectStoreUrl, type ObjectStore, parseS3Url } from './object-store.js';

export interface S3Settings {
  endpoint?: string;
  region?: string;
  maxAttempts?: number;
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

export interface OpenedStore {
  store: ObjectStore;
  /** Release connections (S3); a no-op for a directory. */
  close(): Promise<void>;
}

export async function openObjectStore(target: string, s3: S3Settings = {}): Promise<OpenedStore> {
  if (!isObjectStoreUrl(target)) {
    const store = new LocalObjectStore(target);
    return { store, close: async () => undefined };
  }
  const { bucket, prefix } = parseS3Url(target);
  const { S3ObjectStore } = await import('./s3.js');
  const store = new S3ObjectStore({ bucket, prefix, ...s3 });
  return { store, close: () => store.close() };
}
