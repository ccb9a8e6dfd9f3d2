/**
 * The one error type clawback throws on purpose. Every module below the CLI throws
 * {@link ClawbackError} with a {@link ErrorCode}; only `cli/` maps codes to exit codes.
 *
 * Messages name the thing that is wrong and the fix ("repository /x not found: run
 * `clawback init --repo /x` first"), because users read them, not stack traces.
 */

/**
 * Error codes, grouped by what the user can do about them.
 *
 * - `USAGE`: bad flags, selector or label; exit 2.
 * - `REPO_NOT_FOUND`: no repository at the location; exit 10.
 * - `REPO_EXISTS`: `init` over an existing repository.
 * - `LOCKED`: another process holds a conflicting lock; exit 11.
 * - `WRONG_PASSWORD`: no key file opens with the password; exit 12.
 * - `NOT_FOUND`: a snapshot, path or key the user named does not exist.
 * - `BLOB_NOT_FOUND`: a backend object or blob is missing (backends normalize ENOENT/NoSuchKey).
 * - `ALREADY_EXISTS`: write-once violation: the object exists already.
 * - `INTEGRITY`: bytes read back do not match their id/tag, or a file does not parse.
 * - `CAPTURE`: a source item could not be captured (unreadable, vanished, rejected).
 * - `UNHEALTHY`: `status` found an enabled backup job that is not healthy (failing,
 *   overdue, never run), or no enabled job; exit 1, so `status` serves as a monitoring probe.
 * - `UNSAFE`: restore/import refused because it would leave the target or follow a link.
 * - `BACKEND`: a backend failed permanently (permissions, missing bucket, …).
 * - `BACKEND_TRANSIENT`: a backend failed in a way that retrying may fix (5xx, reset).
 * - `BACKEND_AUTH`: the storage refused the credentials, or they lack permission (S3
 *   `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`, any 403); exit 12.
 * - `BACKEND_UNREACHABLE`: the storage endpoint cannot be reached (connection refused, DNS,
 *   no route, connect timeout); retryable; exit 13.
 * - `ABORTED`: cancelled through an AbortSignal (SIGINT/SIGTERM); exit 130.
 * - `INTERNAL`: a bug.
 */
export const ERROR_CODES = [
  'USAGE',
  'REPO_NOT_FOUND',
  'REPO_EXISTS',
  'LOCKED',
  'WRONG_PASSWORD',
  'NOT_FOUND',
  'BLOB_NOT_FOUND',
  'ALREADY_EXISTS',
  'INTEGRITY',
  'CAPTURE',
  'UNHEALTHY',
  'UNSAFE',
  'BACKEND',
  'BACKEND_TRANSIENT',
  'BACKEND_AUTH',
  'BACKEND_UNREACHABLE',
  'ABORTED',
  'INTERNAL',
] as const;

/** One of {@link ERROR_CODES}; see the list above. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** True when `s` is one of the {@link ErrorCode}s (e.g. read back from JSON). */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && (ERROR_CODES as readonly string[]).includes(s);
}

/** Options of {@link ClawbackError}. */
export interface ClawbackErrorOptions {
  /** The underlying error (ES2022 `cause`). */
  cause?: unknown;
  /** Structured context for `--json` output (paths, ids, …). */
  details?: Record<string, unknown>;
  /** True when retrying the same call may succeed (transient backend failures). */
  retryable?: boolean;
}

/** An error with a stable {@link ErrorCode}, a user-facing message and optional details. */
export class ClawbackError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: ClawbackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? (code === 'BACKEND_TRANSIENT' || code === 'BACKEND_UNREACHABLE');
  }

  /** A plain object for `--json` output. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/** True when `err` is a {@link ClawbackError}, optionally with one of `codes`. */
export function isClawbackError(err: unknown, ...codes: ErrorCode[]): err is ClawbackError {
  return err instanceof ClawbackError && (codes.length === 0 || codes.includes(err.code));
}

/** Shorthand for an `INTEGRITY` error. */
export function integrityError(message: string, details?: Record<string, unknown>): ClawbackError {
  return new ClawbackError('INTEGRITY', message, details === undefined ? {} : { details });
}

/** Throws `ABORTED` if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClawbackError('ABORTED', 'operation interrupted');
}
