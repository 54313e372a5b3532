/**
 * The one error table. Every failure the core can report has a stable SCREAMING_SNAKE code, an exit
 * status and a default hint naming what to do next. Tests assert codes, never message text.
 *
 * Exit statuses are a public contract (README "Exit statuses", man/elacsym.1): never renumber them.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  CORRUPT: 5,
  DEGRADED: 6,
  BUSY: 75,
  /** sysexits EX_NOPERM: the file system or its permissions refuse a write (or a read). */
  PERMISSION: 77,
  INTERRUPTED: 130,
} as const;
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

interface ErrorSpec {
  readonly exit: ExitStatus;
  readonly hint: string;
}

export const ERRORS = {
  INTERNAL: { exit: EXIT.INTERNAL, hint: 'this is a bug in elacsym; rerun with --debug and report the stack trace' },
  USAGE: { exit: EXIT.USAGE, hint: 'see `elacsym <command> --help`' },
  INVALID_NAMESPACE_NAME: {
    exit: EXIT.USAGE,
    hint: 'namespace names are 1-64 characters of [A-Za-z0-9_-], starting with a letter or digit',
  },
  INVALID_SCHEMA: { exit: EXIT.USAGE, hint: 'see `man elacsym-init` for the schema format' },
  INVALID_DOCUMENT: { exit: EXIT.USAGE, hint: 'fix the line, or rerun with --on-error skip --rejects FILE' },
  INVALID_FILTER: { exit: EXIT.USAGE, hint: 'see `man elacsym-query` for the filter grammar' },
  INVALID_QUERY: { exit: EXIT.USAGE, hint: 'see `elacsym query --help`' },
  NAMESPACE_NOT_FOUND: { exit: EXIT.NOT_FOUND, hint: 'list namespaces with `elacsym namespaces`, create one with `elacsym init <namespace> --dim N` (or --text-only)' },
  DATA_DIR_NOT_FOUND: { exit: EXIT.NOT_FOUND, hint: 'create it with `elacsym init <namespace> --dim N` (N: the dimension of its vectors; --text-only for none) or pass --data-dir' },
  FILE_NOT_FOUND: { exit: EXIT.NOT_FOUND, hint: 'check the path' },
  DOCUMENT_NOT_FOUND: { exit: EXIT.NOT_FOUND, hint: 'the documents that exist were printed on stdout; the missing ids are listed in the message' },
  NAMESPACE_EXISTS: { exit: EXIT.CONFLICT, hint: 'pick another name, or remove it with `elacsym drop <namespace> --yes`' },
  BACKUP_EXISTS: { exit: EXIT.CONFLICT, hint: 'back up into a new directory, or remove the old backup first' },
  PREFIX_CONFLICT: { exit: EXIT.CONFLICT, hint: 'publish to a prefix of its own: each namespace lives under <prefix>/<namespace>/' },
  JOB_CONFLICT: { exit: EXIT.CONFLICT, hint: 'run every shard of the import again, on the same input, under a new --job name' },
  RESUME_CONFLICT: { exit: EXIT.CONFLICT, hint: 'import the file without --resume (documents are upserted: importing a line again is harmless), or name the lines to skip with --skip-lines N' },
  CONFIRMATION_REQUIRED: { exit: EXIT.USAGE, hint: 'pass --yes to confirm' },
  CORRUPT_JOURNAL: { exit: EXIT.CORRUPT, hint: 'inspect with `elacsym wal inspect <namespace>`' },
  CORRUPT_SEGMENT: { exit: EXIT.CORRUPT, hint: 'run `elacsym health <namespace> --deep`; restore the file from a backup or re-import' },
  CORRUPT_MANIFEST: { exit: EXIT.CORRUPT, hint: 'run `elacsym health <namespace> --deep`' },
  CORRUPT_BACKUP: { exit: EXIT.CORRUPT, hint: 'the backup is damaged or incomplete; restore from another backup' },
  FORMAT_TOO_NEW: { exit: EXIT.CORRUPT, hint: 'this data directory was written by a newer elacsym; upgrade elacsym' },
  FORMAT_TOO_OLD: { exit: EXIT.CORRUPT, hint: 'this data directory was written by an older, unsupported elacsym' },
  BUSY: { exit: EXIT.BUSY, hint: 'another process is writing this namespace; retry later or pass --wait SECONDS' },
  NO_SPACE: { exit: EXIT.BUSY, hint: 'free disk space and retry' },
  PERMISSION_DENIED: {
    exit: EXIT.PERMISSION,
    hint: 'run as a user who may write the data directory, or mount it read-write; reading commands (query, export, ls, health, wal inspect) work without write access',
  },
  STORE_UNAVAILABLE: {
    exit: EXIT.BUSY,
    hint: 'the object store did not answer (connection refused, timeout or 5xx after retries); check the endpoint (--s3-endpoint, ELACSYM_S3_ENDPOINT) and that the server runs, then retry',
  },
  STORE_ACCESS_DENIED: {
    exit: EXIT.PERMISSION,
    hint: 'check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that they may read, write, list and delete under the prefix',
  },
  STORE_CERTIFICATE: {
    exit: EXIT.PERMISSION,
    hint: "the store's TLS certificate is not trusted here: if a private certificate authority signs it, point NODE_EXTRA_CA_CERTS at that authority's PEM file; otherwise check the endpoint's host name (--s3-endpoint, ELACSYM_S3_ENDPOINT)",
  },
  BUCKET_NOT_FOUND: { exit: EXIT.NOT_FOUND, hint: 'create the bucket first, or check the bucket name, the region (AWS_REGION) and the endpoint' },
  STORE_UNSAFE: {
    exit: EXIT.USAGE,
    hint: 'run `elacsym doctor <data-dir>`: elacsym writes only to a store that refuses a conditional create of an existing key (HTTP 412), as AWS S3 and Ceph radosgw do',
  },
  INTERRUPTED: { exit: EXIT.INTERRUPTED, hint: 'rerun the command; committed batches are kept' },
  DEGRADED: { exit: EXIT.DEGRADED, hint: 'run `elacsym compact <namespace>` or `elacsym wal replay <namespace>`' },
  REGRESSION: { exit: EXIT.DEGRADED, hint: 'compare the report with the baseline' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetails {
  /** 1-based input line number, when the error is about a line of input. */
  line?: number;
  field?: string;
  path?: string;
  [key: string]: unknown;
}

/** The only error type the core throws on purpose. `cli/main.ts` maps it to text and an exit status. */
export class ElacsymError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ElacsymError';
    this.code = code;
    this.hint = opts.hint ?? ERRORS[code].hint;
    this.details = opts.details ?? {};
  }

  get exitStatus(): ExitStatus {
    return ERRORS[this.code].exit;
  }
}

export function isElacsymError(e: unknown, code?: ErrorCode): e is ElacsymError {
  return e instanceof ElacsymError && (code === undefined || e.code === code);
}
