/**
 * The object-store port: the few operations elacsym needs from a place that keeps immutable objects by key
 * (a local directory or an S3-compatible bucket). Nothing here knows about namespaces or segments.
 *
 * The one primitive a commit needs is `putIfAbsent` (S3: PutObject with `If-None-Match: *`): it creates a key
 * only when no object has it, atomically, and reports 'exists' otherwise (HTTP 412). The commit protocol in
 * `commit.ts` is built on it alone; `If-Match` is never used (S3-compatible servers disagree on it).
 *
 * Errors are ElacsymErrors: STORE_UNAVAILABLE (connection refused, timeout, 5xx after bounded retries: the
 * outcome of a write is then unknown), STORE_ACCESS_DENIED, BUCKET_NOT_FOUND, PERMISSION_DENIED / NO_SPACE
 * (local). A missing key is not an error: `get`/`head` return null.
 */
import { ElacsymError } from '../errors.js';

/** A byte range of an object: `length` bytes from `offset` (clipped at the end of the object). */
export interface ByteRange {
  offset: number;
  length: number;
}

export interface ObjectInfo {
  size: number;
  /** Changes whenever the object's bytes change (S3's ETag; size+mtime on a local directory). */
  etag: string;
}

/** A listed object and when it was last written. */
export interface ListedObject {
  key: string;
  modified: number;
}

export interface ListOptions {
  /** Only keys strictly after this one (S3 StartAfter). */
  startAfter?: string;
  /** Keys per listing request (S3 MaxKeys, at most 1000); every page is still read. */
  pageSize?: number;
}

export interface ObjectStore {
  /** Human-readable location, for messages: `s3://bucket` or a directory path. */
  readonly location: string;
  /**
   * The object's bytes, or null when no object has the key. With a range: at most `length` bytes from
   * `offset`; a range that starts at or past the end returns no bytes (not an error).
   */
  get(key: string, range?: ByteRange): Promise<Uint8Array | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Create the object only if the key is free, atomically: 'created', or 'exists' (nothing written). */
  putIfAbsent(key: string, bytes: Uint8Array): Promise<'created' | 'exists'>;
  /** Create or replace the object, atomically (readers see the old or the new bytes, never a mix). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Every key that starts with `prefix`, in byte order, all pages read. */
  list(prefix: string, opts?: ListOptions): Promise<string[]>;
  /**
   * As `list`, with each object's last-modified time (ms since the epoch; S3's LastModified, a file's
   * mtime). Optional: garbage collection of objects no version references needs their age.
   */
  listModified?(prefix: string, opts?: ListOptions): Promise<ListedObject[]>;
  /** Delete these keys; keys that do not exist are ignored. */
  delete(keys: readonly string[]): Promise<void>;
}

/** Where an `s3://bucket/prefix` URL points. The prefix is '' or ends with '/'. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/** True when a data-directory argument names object storage rather than a local path. */
/** A URL of any scheme (`s3://...`, `gs://...`): never a local path, wherever a directory is expected. */
export function isUrl(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
}

export function isObjectStoreUrl(target: string): boolean {
  return /^s3:\/\//i.test(target);
}

/**
 * Parse `s3://bucket[/prefix[/]]`. The prefix is normalised to '' or 'a/b/' (one trailing slash, no empty
 * segments), so `s3://b/x` and `s3://b/x/` name the same place. Bucket names follow S3's rules (3-63
 * characters of lower-case letters, digits, dots and hyphens); anything else is a USAGE error.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (!m || !/^s3:\/\//.test(url)) throw new ElacsymError('USAGE', `not an s3:// URL: ${url}`, { hint: 'write it as s3://bucket/prefix' });
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new ElacsymError('USAGE', `invalid bucket name "${bucket}" in ${url}`, {
      hint: 'bucket names are 3-63 characters of lower-case letters, digits, dots and hyphens',
    });
  }
  const parts = (m[2] ?? '').split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (p === '.' || p === '..') throw new ElacsymError('USAGE', `invalid prefix in ${url}: "." and ".." are not allowed`, { hint: 'write it as s3://bucket/prefix' });
  }
  return { bucket, prefix: parts.length ? `${parts.join('/')}/` : '' };
}

/**
 * Check a key before it reaches a store: relative, '/'-separated, no empty, '.' or '..' segments. Both
 * implementations use it, so a key valid on one is valid on the other.
 */
export function checkKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.endsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..') || key.includes('\0')) {
    throw new ElacsymError('INTERNAL', `invalid object key "${key}"`);
  }
}
