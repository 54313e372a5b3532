/**
 * The object-store port on an S3-compatible bucket, through the official AWS SDK v3 (the only importer of
 * @aws-sdk/client-s3). Loaded by dynamic import from `open.ts`, so commands that never touch S3 never load
 * the SDK.
 *
 * The store is scoped to `bucket` + `prefix`: keys are relative to the prefix, as keys of a LocalObjectStore
 * are relative to its directory.
 *
 * Settings that S3-compatible servers need (Ceph radosgw in particular):
 * - path-style addressing (`http://host/bucket/key`) whenever an endpoint is given: such servers rarely have
 *   wildcard DNS for virtual-hosted buckets;
 * - checksums only when an operation requires them (`WHEN_REQUIRED`): the SDK's default streaming CRC32
 *   trailers are not understood by radosgw;
 * - putIfAbsent is PutObject with `If-None-Match: *`; 412 means the key exists. Never If-Match.
 *
 * Failures after the SDK's bounded retries (`maxAttempts`, exponential backoff, on network errors, timeouts,
 * throttling and 5xx) become STORE_UNAVAILABLE; 403s STORE_ACCESS_DENIED; a missing bucket BUCKET_NOT_FOUND.
 */
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ElacsymError } from '../errors.js';
import { type ByteRange, checkKey, type ListedObject, type ListOptions, type ObjectInfo, type ObjectStore } from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** '' or ending with '/'. */
  prefix?: string;
  /** An S3-compatible server, e.g. http://127.0.0.1:7480 (path-style addressing is then used). */
  endpoint?: string;
  /** Default: the SDK's (AWS_REGION / AWS_DEFAULT_REGION / profile), else us-east-1. */
  region?: string;
  /** Explicit credentials; default: the SDK's provider chain (AWS_ACCESS_KEY_ID..., profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, first included (default 3). */
  maxAttempts?: number;
  /**
   * Time limit of one request attempt up to the response's headers (the upload of a PUT's body included,
   * the download of a GET's body not), and of establishing its connection (default 30 s / 5 s).
   */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /**
   * The certificate authorities an HTTPS endpoint may be signed by, as PEM texts, replacing Node's default
   * store for this client (default: that store). cli/extra-ca.ts sets it to Node's bundled roots plus
   * NODE_EXTRA_CA_CERTS when the launcher kept Node from loading that file at start-up.
   */
  ca?: string[];
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/**
 * Node's codes for a server certificate that the client refused (OpenSSL's X509 verification results,
 * and the host name check): the store answered, but not as a party this machine trusts. Not an outage: a
 * retry would meet the same certificate.
 */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AllAccessDisabled', 'Forbidden']);

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;

  constructor(o: S3StoreOptions) {
    this.bucket = o.bucket;
    this.prefix = o.prefix ?? '';
    this.location = `s3://${o.bucket}/${this.prefix}`;
    const config: S3ClientConfig = {
      region: o.region ?? 'us-east-1',
      maxAttempts: o.maxAttempts ?? 3,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // throwOnRequestTimeout: without it the SDK only logs a warning when the time is up and goes on
      // waiting, so a server that accepts connections but never answers would hang the command forever.
      requestHandler: { requestTimeout: o.requestTimeoutMs ?? 30_000, connectionTimeout: o.connectionTimeoutMs ?? 5_000, throwOnRequestTimeout: true },
    };
    // The SDK's nested clients (STS for role and web-identity credentials) inherit this request handler.
    if (o.ca !== undefined) config.requestHandler = { ...config.requestHandler, httpsAgent: { ca: o.ca } };
    if (o.endpoint) {
      config.endpoint = o.endpoint;
      config.forcePathStyle = true;
    }
    if (o.credentials) config.credentials = o.credentials;
    this.client = new S3Client(config);
  }

  private key(key: string): string {
    checkKey(key);
    return this.prefix + key;
  }

  /** Map an SDK failure to the error table. `what` names the operation and key for the message. */
  private fail(e: unknown, what: string): never {
    if (e instanceof ElacsymError) throw e;
    const s = (e ?? {}) as SdkError;
    const name = s.name ?? s.Code ?? s.code ?? '';
    const status = s.$metadata?.httpStatusCode;
    const where = `${what} on ${this.location}`;
    if (typeof s.code === 'string' && UNTRUSTED_CERTIFICATE.has(s.code)) {
      throw new ElacsymError('STORE_CERTIFICATE', `${where}: the endpoint's TLS certificate is not trusted (${s.code}: ${s.message ?? ''})`, {
        cause: e,
        details: { tls_error: s.code },
      });
    }
    if (name === 'NoSuchBucket') throw new ElacsymError('BUCKET_NOT_FOUND', `${where}: bucket ${this.bucket} does not exist`, { cause: e, details: { bucket: this.bucket } });
    if (DENIED.has(name) || status === 403) throw new ElacsymError('STORE_ACCESS_DENIED', `${where}: access denied (${name || status})`, { cause: e });
    // No credentials anywhere in the SDK's chain: configuration, not an outage that a retry would cure.
    if (name === 'CredentialsProviderError') {
      throw new ElacsymError('STORE_ACCESS_DENIED', `${where}: no credentials (${s.message ?? name})`, {
        cause: e,
        hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where an instance role applies)',
      });
    }
    // Everything else that is not a client error in the request itself is the store being unavailable:
    // connection refused or reset, timeouts, throttling, 5xx (after the SDK's retries).
    if (name === 'BucketAlreadyExists') throw new ElacsymError('STORE_ACCESS_DENIED', `${where}: bucket ${this.bucket} belongs to another account`, { cause: e });
    // 409 ConditionalRequestConflict / OperationAborted: a concurrent write of the same key; retry later.
    if (status === undefined || status >= 500 || status === 429 || status === 408 || status === 409 || name === 'SlowDown') {
      throw new ElacsymError('STORE_UNAVAILABLE', `${where}: ${name || 'no response'}${status ? ` (HTTP ${status})` : ''}${s.message ? `: ${s.message}` : ''}`, {
        cause: e,
        details: { status, sdk_error: name || s.code },
      });
    }
    // Any other answer (a 404 to a listing, an HTML page, a 400 elacsym never provokes from S3): the endpoint is
    // not an S3 server as elacsym addresses it (a wrong port, a proxy, a website). An environment error
    // with what to check, never INTERNAL: elacsym's requests are the same to every S3 server.
    throw new ElacsymError('STORE_UNAVAILABLE', `${where}: the endpoint answered ${name && name !== 'UnknownError' ? `${name} ` : ''}(HTTP ${status}), not as an S3 server does`, {
      cause: e,
      hint: 'check the endpoint (--s3-endpoint, ELACSYM_S3_ENDPOINT) and the bucket: `elacsym doctor s3://bucket/prefix` tests a store',
      details: { status, sdk_error: name || s.code },
    });
  }

  private static status(e: unknown): number | undefined {
    return (e as SdkError)?.$metadata?.httpStatusCode;
  }

  private static isNotFound(e: unknown): boolean {
    const name = (e as SdkError)?.name;
    return name === 'NoSuchKey' || name === 'NotFound' || (S3ObjectStore.status(e) === 404 && name !== 'NoSuchBucket');
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array | null> {
    const k = this.key(key);
    if (range && range.length <= 0) return (await this.head(key)) ? new Uint8Array(0) : null;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: k, ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}) }),
      );
      if (!res.Body) return new Uint8Array(0);
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (S3ObjectStore.isNotFound(e)) return null;
      // 416: the range starts at or past the end of an existing object.
      if (range && (S3ObjectStore.status(e) === 416 || (e as SdkError).name === 'InvalidRange')) return new Uint8Array(0);
      this.fail(e, `get ${k}`);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const k = this.key(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: k }));
      return { size: res.ContentLength ?? 0, etag: res.ETag ?? '' };
    } catch (e) {
      // A HEAD response has no body: a missing bucket reads as a missing key here.
      if (S3ObjectStore.isNotFound(e)) return null;
      this.fail(e, `head ${k}`);
    }
  }

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<'created' | 'exists'> {
    const k = this.key(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: k, Body: bytes, IfNoneMatch: '*' }));
      return 'created';
    } catch (e) {
      if (S3ObjectStore.status(e) === 412 || (e as SdkError).name === 'PreconditionFailed') return 'exists';
      this.fail(e, `conditional put ${k}`);
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const k = this.key(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: k, Body: bytes }));
    } catch (e) {
      this.fail(e, `put ${k}`);
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<string[]> {
    return (await this.listModified(prefix, opts)).map((o) => o.key);
  }

  async listModified(prefix: string, opts: ListOptions = {}): Promise<ListedObject[]> {
    const full = this.prefix + prefix;
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: full,
            ContinuationToken: token,
            ...(token === undefined && opts.startAfter !== undefined ? { StartAfter: this.prefix + opts.startAfter } : {}),
            ...(opts.pageSize ? { MaxKeys: opts.pageSize } : {}),
          }),
        );
      } catch (e) {
        this.fail(e, `list ${full}`);
      }
      for (const o of res.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key.slice(this.prefix.length), modified: o.LastModified?.getTime() ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
      // A truncated page without a token would loop forever: treat it as a broken server.
      if (res.IsTruncated && !token) throw new ElacsymError('STORE_UNSAFE', `list ${full} on ${this.location}: a truncated page without a continuation token`);
    } while (token);
    // S3 lists in UTF-8 byte order already; sort anyway so both implementations agree by construction.
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys per request.
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.key(k) }));
      let res;
      try {
        res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      } catch (e) {
        this.fail(e, `delete ${batch.length} objects`);
      }
      const errors = (res.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (errors.length) {
        const first = errors[0]!;
        this.fail({ name: first.Code, message: `${first.Key}: ${first.Message}`, $metadata: { httpStatusCode: first.Code === 'AccessDenied' ? 403 : 500 } }, `delete ${first.Key}`);
      }
    }
  }

  /** Release the client's sockets (keep-alive connections would otherwise hold the process open). */
  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Test and `doctor` helper: create the bucket (ignored when it exists and is ours). */
  async createBucket(): Promise<void> {
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      const name = (e as SdkError).name;
      if (name === 'BucketAlreadyOwnedByYou') return;
      this.fail(e, `create bucket ${this.bucket}`);
    }
  }
}
