/**
 * The HTTP face of the one error table (src/errors.ts): every stable code maps to exactly one HTTP status,
 * as every code maps to one exit status in the CLI. Bodies are always
 * `{"error":{"code","message","hint"}}` (the CLI's `--json` error shape), never plain text.
 */
import { ElacsymError, ERRORS, type ErrorCode } from '../errors.js';

/** Code -> HTTP status. A code missing here is a compile error (Record over ErrorCode). */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  INTERNAL: 500,
  USAGE: 400,
  INVALID_NAMESPACE_NAME: 400,
  INVALID_SCHEMA: 400,
  INVALID_DOCUMENT: 400,
  INVALID_FILTER: 400,
  INVALID_QUERY: 400,
  CONFIRMATION_REQUIRED: 400,
  NAMESPACE_NOT_FOUND: 404,
  DATA_DIR_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  DOCUMENT_NOT_FOUND: 404,
  NAMESPACE_EXISTS: 409,
  CORRUPT_JOURNAL: 500,
  CORRUPT_SEGMENT: 500,
  CORRUPT_MANIFEST: 500,
  FORMAT_TOO_NEW: 500,
  FORMAT_TOO_OLD: 500,
  BUSY: 503,
  NO_SPACE: 507,
  PERMISSION_DENIED: 403,
  BACKUP_EXISTS: 409,
  PREFIX_CONFLICT: 409,
  JOB_CONFLICT: 409,
  RESUME_CONFLICT: 409,
  CORRUPT_BACKUP: 500,
  INTERRUPTED: 503,
  // Object storage: the store behind the server failed (a gateway's view: 502/503), or refused its credentials.
  STORE_UNAVAILABLE: 503,
  STORE_ACCESS_DENIED: 502,
  STORE_CERTIFICATE: 502,
  BUCKET_NOT_FOUND: 502,
  STORE_UNSAFE: 500,
  DEGRADED: 503,
  REGRESSION: 500,
};

/**
 * Errors that exist only at the HTTP door (no CLI equivalent): they share the body shape but are not in
 * the core's table, because the core never raises them.
 */
export type HttpOnlyCode = 'UNAUTHORIZED' | 'PAYLOAD_TOO_LARGE' | 'TIMEOUT' | 'ROUTE_NOT_FOUND' | 'UNSUPPORTED_MEDIA_TYPE' | 'SHUTTING_DOWN';
export const HTTP_ONLY: Record<HttpOnlyCode, { status: number; hint: string }> = {
  UNAUTHORIZED: { status: 401, hint: 'send the header `Authorization: Bearer <token>` with the token the server was started with' },
  PAYLOAD_TOO_LARGE: { status: 413, hint: 'split the request, or use the streaming import route; see `man elacsym-serve`' },
  TIMEOUT: { status: 503, hint: 'the request ran past the server\'s --request-timeout; narrow it or retry' },
  ROUTE_NOT_FOUND: { status: 404, hint: 'see `man elacsym-serve` for the routes' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, hint: 'send Content-Type: application/json (or application/x-ndjson for import)' },
  SHUTTING_DOWN: { status: 503, hint: 'the server is shutting down; retry against another instance or after restart' },
};

/**
 * What to do next, said over HTTP: the error table's default hints speak of CLI commands and flags
 * (`elacsym namespaces`, `--wait`), which mean nothing to a client of the server. Used when an error
 * carries its code's default hint; a hint written for the case at hand is kept.
 */
const HTTP_HINTS: Partial<Record<ErrorCode, string>> = {
  USAGE: 'see `man elacsym-serve` for the route, its parameters and its body',
  INVALID_QUERY: 'see `man elacsym-serve` (POST /v1/namespaces/:namespace/query) for the request shape',
  INVALID_DOCUMENT: 'fix the line, or send the import with ?on_error=skip (the response lists the rejected lines)',
  NAMESPACE_NOT_FOUND: 'list namespaces with GET /v1/namespaces, create one with PUT /v1/namespaces/:namespace',
  DATA_DIR_NOT_FOUND: 'create a namespace with PUT /v1/namespaces/:namespace',
  NAMESPACE_EXISTS: 'pick another name, or remove it with DELETE /v1/namespaces/:namespace',
  BUSY: 'another process is writing this namespace; retry after the Retry-After seconds',
  INTERNAL: 'this is a bug in elacsym; see the server log',
  CORRUPT_JOURNAL: "the namespace's journal is damaged; its operator should run `elacsym wal inspect` on the server",
  CORRUPT_SEGMENT: "a segment file is damaged; its operator should run `elacsym health --deep` on the server",
  CORRUPT_MANIFEST: "the namespace's manifest is damaged; its operator should run `elacsym health --deep` on the server",
};

/** The server's data directory in a message becomes `<data-dir>`: a client has no use for the server's paths. */
function redact(text: string, dataDir: string | undefined): string {
  return dataDir ? text.split(dataDir).join('<data-dir>') : text;
}

/** Seconds a client should wait before retrying a BUSY (writer lock held) answer. */
export const RETRY_AFTER_S = 1;

export interface HttpError {
  status: number;
  code: string;
  body: { error: { code: string; message: string; hint: string; [k: string]: unknown } };
  retryAfter?: number;
}

export class HttpOnlyError extends Error {
  constructor(
    readonly code: HttpOnlyCode,
    message: string,
  ) {
    super(message);
  }
}

/** Any thrown value -> status + JSON body. Unknown errors are INTERNAL (500) without their internals leaking. */
export function toHttpError(e: unknown, dataDir?: string): HttpError {
  if (e instanceof ElacsymError) {
    // A line over the size limit is INVALID_DOCUMENT to the CLI (exit 2) but 413 over HTTP: the limit is the server's.
    const status = e.code === 'INVALID_DOCUMENT' && e.details.max_line_bytes !== undefined ? 413 : HTTP_STATUS[e.code];
    const extra: Record<string, unknown> = {};
    if (e.details.line !== undefined) extra.line = e.details.line;
    if (e.code === 'DOCUMENT_NOT_FOUND' && Array.isArray(e.details.missing)) extra.missing = e.details.missing;
    return {
      status,
      code: e.code,
      body: {
        error: {
          code: e.code,
          message: redact(e.message, dataDir),
          hint: redact(e.hint === ERRORS[e.code].hint ? (HTTP_HINTS[e.code] ?? e.hint) : e.hint, dataDir),
          ...extra,
        },
      },
      retryAfter: status === 503 ? RETRY_AFTER_S : undefined,
    };
  }
  if (e instanceof HttpOnlyError) {
    const spec = HTTP_ONLY[e.code];
    return { status: spec.status, code: e.code, body: { error: { code: e.code, message: e.message, hint: spec.hint } }, retryAfter: spec.status === 503 ? RETRY_AFTER_S : undefined };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { status: 500, code: 'INTERNAL', body: { error: { code: 'INTERNAL', message: `internal error: ${msg}`, hint: 'this is a bug in elacsym; see the server log' } } };
}
