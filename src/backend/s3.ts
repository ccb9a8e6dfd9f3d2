/**
 * {@link S3Backend}: a repository in an S3 bucket (AWS, Ceph RGW, MinIO, R2, B2, …), under
 * an optional key prefix, with the layout of {@link pathFor}.
 *
 * - Write-once: small objects are sent with `PutObject` + `If-None-Match: *` (HTTP 412 →
 *   `ALREADY_EXISTS`), which is atomic on servers that support conditional writes (AWS
 *   since 2024, Ceph RGW, MinIO, R2). Objects of at least `multipartThreshold` bytes go
 *   through a multipart upload (`@aws-sdk/lib-storage`), where RGW ignores `If-None-Match`:
 *   a `HeadObject` is made first, so a concurrent writer of the same key between that check
 *   and `CompleteMultipartUpload` can still be overwritten. Repository files are named by
 *   the hash of their bytes, so such a race writes identical bytes.
 * - The client is built for S3-compatible servers: no default trailing checksums
 *   (`requestChecksumCalculation`/`responseChecksumValidation: 'WHEN_REQUIRED'`; RGW and
 *   older servers answer 411 otherwise), path-style addressing when an endpoint is given,
 *   `maxAttempts: 1` (retries belong to {@link RetryBackend}) and connection, request and
 *   idle-socket timeouts. Single PUTs carry `Content-MD5`, so the server rejects a body
 *   corrupted in transit.
 * - Errors map to `BLOB_NOT_FOUND` (404/NoSuchKey), `ALREADY_EXISTS` (412),
 *   `REPO_NOT_FOUND` (missing bucket), `BACKEND_AUTH` (credentials refused, permission
 *   denied), `BACKEND_UNREACHABLE` (connection refused, DNS, connect timeout; retryable),
 *   `BACKEND_TRANSIENT` (5xx, 429, timeouts, resets) or `BACKEND` (everything else), with a
 *   one-line message that names the endpoint and bucket and what to check, and
 *   `details: { endpoint, bucket, key, status, s3Code, errno }`.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { BucketLocationConstraint, ListObjectsV2CommandOutput, S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';
import { CONFIG_PATH, checkRange, checkTempPath, dirFor, handleFromPath, pathFor, resolveRange } from './layout.js';
import { abortUpload, listPendingUploads, type PendingUpload, type UploadsTarget } from './s3-uploads.js';

/** Static S3 credentials. Without them the SDK's default chain is used (env, profile, IMDS). */
export interface S3Credentials {
  /** Access key id (`AWS_ACCESS_KEY_ID`). */
  accessKeyId: string;
  /** Secret access key (`AWS_SECRET_ACCESS_KEY`). */
  secretAccessKey: string;
  /** For temporary (STS) credentials. */
  sessionToken?: string;
}

/** Options of {@link S3Backend}. */
export interface S3BackendOptions {
  /** Endpoint URL, e.g. `http://127.0.0.1:7480`. Omit for AWS S3. */
  endpoint?: string;
  /** Signing region. Default `us-east-1` (what RGW, MinIO and R2 accept). */
  region?: string;
  /** Bucket name. */
  bucket: string;
  /** Key prefix the repository lives under, without leading or trailing `/`. Default none. */
  prefix?: string;
  /** Path-style URLs (`endpoint/bucket/key`). Default: true when `endpoint` is given. */
  forcePathStyle?: boolean;
  /** Static credentials; default: the SDK's default provider chain. */
  credentials?: S3Credentials;
  /** Objects of at least this many bytes use a multipart upload. Default 16 MiB. */
  multipartThreshold?: number;
  /** Part size of multipart uploads, bytes (≥ 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Parts in flight per multipart upload. Default 4. */
  queueSize?: number;
  /** TCP connect timeout, ms. Default 10 000. */
  connectionTimeoutMs?: number;
  /** Time from sending a request until the response headers arrive, ms. Default 300 000. */
  requestTimeoutMs?: number;
  /** Time a socket may sit idle mid-request (stalled transfer), ms. Default 60 000. */
  socketTimeoutMs?: number;
}

/** Default multipart threshold: 16 MiB. */
export const DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024;
/** Default multipart part size: 8 MiB. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Default parts in flight per multipart upload. */
export const DEFAULT_QUEUE_SIZE = 4;

/** Context of an S3 error, for messages and details. */
export interface S3ErrorContext {
  /** `save`, `load`, `stat`, `list`, `remove`, `create`, `isRepository`. */
  op: string;
  /** Endpoint URL as shown to the user. */
  endpoint: string;
  /** The bucket name. */
  bucket: string;
  /** The object key, or the listing prefix. */
  key: string;
}

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
  errors?: unknown;
}

const UNREACHABLE_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const TRANSIENT_ERRNOS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'ENETDOWN',
  'EPROTO',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);
const TRANSIENT_S3_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequests',
  'ConditionalRequestConflict',
  'OperationAborted',
  'TimeoutError',
]);
const CREDENTIAL_S3_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'Forbidden',
  'InvalidToken',
  'ExpiredToken',
  'InvalidSecurity',
]);

/** The first Node-style errno (`ECONNREFUSED`, …) in `err`, its cause chain or its aggregated errors. */
function errnoOf(err: unknown, depth = 0): string | undefined {
  if (err === null || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as AwsLikeError;
  if (typeof e.code === 'string' && /^(E[A-Z_]+|ERR_[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(e.code)) return e.code;
  if (Array.isArray(e.errors)) {
    for (const sub of e.errors) {
      const c = errnoOf(sub, depth + 1);
      if (c !== undefined) return c;
    }
  }
  return errnoOf(e.cause, depth + 1);
}

/**
 * SDK errors carry the whole HTTP response (socket, agent, …): keep only what helps a
 * reader (name, message, S3 code, status, request id) so errors stay small in logs.
 */
function compactCause(err: unknown): unknown {
  if (err === null || typeof err !== 'object' || !('$metadata' in err)) return err;
  const e = err as AwsLikeError & { stack?: unknown; $metadata?: { requestId?: unknown } };
  const c = new Error(typeof e.message === 'string' ? e.message : String(e.name));
  c.name = typeof e.name === 'string' ? e.name : 'S3Error';
  if (typeof e.stack === 'string') c.stack = e.stack;
  Object.assign(c, { Code: e.Code, $fault: e.$fault, $metadata: { httpStatusCode: e.$metadata?.httpStatusCode, requestId: e.$metadata?.requestId } });
  return c;
}

/**
 * Maps an error thrown by the AWS SDK (or a socket) to a {@link ClawbackError}; see the
 * module comment. A {@link ClawbackError} passes through unchanged.
 */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): ClawbackError {
  if (err instanceof ClawbackError) return err;
  const e = (err !== null && typeof err === 'object' ? err : {}) as AwsLikeError;
  const name = typeof e.name === 'string' ? e.name : undefined;
  const s3Code = typeof e.Code === 'string' ? e.Code : name;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const errno = errnoOf(err);
  const rawMessage = typeof e.message === 'string' && e.message !== 'UnknownError' ? e.message : undefined;
  const details = { endpoint: ctx.endpoint, bucket: ctx.bucket, key: ctx.key, op: ctx.op, status, s3Code, errno };
  const where = `${ctx.op}${ctx.key === '' ? '' : ` ${ctx.key}`} in bucket ${ctx.bucket} at ${ctx.endpoint}`;
  const cause = compactCause(err);
  const make = (
    code: 'BACKEND' | 'BACKEND_TRANSIENT' | 'BACKEND_AUTH' | 'BACKEND_UNREACHABLE' | 'BLOB_NOT_FOUND' | 'ALREADY_EXISTS' | 'REPO_NOT_FOUND' | 'ABORTED',
    message: string,
  ): ClawbackError => new ClawbackError(code, message, { cause, details });

  if (name === 'AbortError') return make('ABORTED', 'operation interrupted');
  const connectTimeout = name === 'TimeoutError' && /without establishing a connection/i.test(rawMessage ?? '');
  if ((errno !== undefined && UNREACHABLE_ERRNOS.has(errno)) || connectTimeout) {
    return make(
      'BACKEND_UNREACHABLE',
      `cannot reach ${ctx.endpoint} (bucket ${ctx.bucket}): check the endpoint URL and network, and that the server is running (${errno ?? 'connect timeout'})`,
    );
  }
  if (name === 'CredentialsProviderError') {
    return make(
      'BACKEND_AUTH',
      `no S3 credentials for bucket ${ctx.bucket} at ${ctx.endpoint}: set the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)`,
    );
  }
  if (status === undefined && (name === 'TimeoutError' || (errno !== undefined && TRANSIENT_ERRNOS.has(errno)) || /socket hang up/i.test(rawMessage ?? ''))) {
    return make('BACKEND_TRANSIENT', `${where} failed: ${errno ?? name ?? 'connection error'}${rawMessage === undefined ? '' : ` (${rawMessage})`}`);
  }
  if (s3Code === 'NoSuchBucket') {
    return make('REPO_NOT_FOUND', `bucket ${ctx.bucket} not found at ${ctx.endpoint}: check the bucket name and endpoint, or create it with \`clawback init\``);
  }
  if (status === 412 || s3Code === 'PreconditionFailed') {
    return make('ALREADY_EXISTS', `${ctx.key} already exists in bucket ${ctx.bucket} at ${ctx.endpoint}`);
  }
  if (status === 404 || s3Code === 'NoSuchKey' || s3Code === 'NotFound') {
    return make('BLOB_NOT_FOUND', `${ctx.key} not found in bucket ${ctx.bucket} at ${ctx.endpoint}`);
  }
  if (s3Code === 'RequestTimeTooSkewed') {
    return make('BACKEND', `${where} refused: the clock of this machine differs too much from the server's; fix the system time`);
  }
  if (status === 403 || (s3Code !== undefined && CREDENTIAL_S3_CODES.has(s3Code))) {
    const keys = 'check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)';
    if (s3Code === 'InvalidAccessKeyId') return make('BACKEND_AUTH', `${ctx.endpoint} does not know the access key id used for bucket ${ctx.bucket} (InvalidAccessKeyId): ${keys}`);
    if (s3Code === 'SignatureDoesNotMatch') return make('BACKEND_AUTH', `${ctx.endpoint} rejected the secret key used for bucket ${ctx.bucket} (SignatureDoesNotMatch): ${keys}`);
    if (s3Code === 'InvalidToken' || s3Code === 'ExpiredToken') return make('BACKEND_AUTH', `${ctx.endpoint} rejected the session token for bucket ${ctx.bucket} (${s3Code}): ${keys} and AWS_SESSION_TOKEN`);
    if (s3Code === 'AccessDenied') {
      const on = ctx.key === '' ? ctx.op : `${ctx.op} ${ctx.key}`;
      return make('BACKEND_AUTH', `access denied to bucket ${ctx.bucket} at ${ctx.endpoint} (AccessDenied: ${on}): ${keys}, and that the bucket's policy grants this key the permission`);
    }
    const what = s3Code !== undefined && s3Code !== 'Unknown' ? s3Code : `HTTP ${status ?? '?'}`;
    return make('BACKEND_AUTH', `access denied to bucket ${ctx.bucket} at ${ctx.endpoint} (${what}): ${keys} and the bucket's permissions`);
  }
  if (status === 301 || s3Code === 'PermanentRedirect' || s3Code === 'AuthorizationHeaderMalformed') {
    return make('BACKEND', `bucket ${ctx.bucket} at ${ctx.endpoint} is in another region: set the region (AWS_REGION) to the bucket's`);
  }
  if (status === 411 || s3Code === 'MissingContentLength') {
    return make('BACKEND', `${where} rejected (HTTP 411): the server does not accept streaming checksums`);
  }
  if (
    (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
    (s3Code !== undefined && TRANSIENT_S3_CODES.has(s3Code)) ||
    e.$fault === 'server' ||
    (errno !== undefined && TRANSIENT_ERRNOS.has(errno))
  ) {
    return make('BACKEND_TRANSIENT', `${where} failed: ${s3Code ?? errno ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`);
  }
  const what = s3Code !== undefined && s3Code !== 'Unknown' && s3Code !== 'Error' ? s3Code : (rawMessage ?? errno ?? 'error');
  return make('BACKEND', `${where} failed: ${what}${status === undefined ? '' : ` (HTTP ${status})`}`);
}

/** A repository in an S3 bucket; see the module comment. */
export class S3Backend implements Backend {
  /** `s3:<endpoint>/<bucket>[/<prefix>]`, or `s3:<bucket>[/<prefix>]` for AWS. */
  readonly location: string;
  /** The endpoint as shown in messages (the AWS regional endpoint when none was given). */
  readonly endpoint: string;
  /** The bucket name. */
  readonly bucket: string;
  /** Key prefix, without leading/trailing `/`; `''` for the bucket root. */
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #region: string;
  readonly #customEndpoint: boolean;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #queueSize: number;
  /** Interrupted uploads by temp-file path, as {@link listTempFiles} last saw them. */
  readonly #pendingUploads = new Map<string, PendingUpload>();

  /**
   * Builds the client; makes no request.
   *
   * @throws ClawbackError `USAGE` for an empty bucket or a part size below 5 MiB.
   */
  constructor(options: S3BackendOptions) {
    if (options.bucket === '') throw new ClawbackError('USAGE', 'S3 bucket name is empty');
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.#region = options.region ?? 'us-east-1';
    this.#customEndpoint = options.endpoint !== undefined;
    this.endpoint = options.endpoint?.replace(/\/+$/, '') ?? `https://s3.${this.#region}.amazonaws.com`;
    const tail = this.prefix === '' ? this.bucket : `${this.bucket}/${this.prefix}`;
    this.location = options.endpoint === undefined ? `s3:${tail}` : `s3:${this.endpoint}/${tail}`;
    this.#threshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
    this.#partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.#queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (this.#partSize < 5 * 1024 * 1024) throw new ClawbackError('USAGE', `S3 part size ${this.#partSize} is below the 5 MiB minimum`);
    const config: S3ClientConfig = {
      region: this.#region,
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 10_000,
        requestTimeout: options.requestTimeoutMs ?? 300_000,
        throwOnRequestTimeout: true,
        socketTimeout: options.socketTimeoutMs ?? 60_000,
      },
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.credentials !== undefined) {
      const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
      config.credentials = sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
    }
    this.#client = new S3Client(config);
  }

  #key(h: Handle): string {
    const p = pathFor(h);
    return this.prefix === '' ? p : `${this.prefix}/${p}`;
  }

  #err(err: unknown, op: string, key: string): ClawbackError {
    return mapS3Error(err, { op, endpoint: this.endpoint, bucket: this.bucket, key });
  }

  /**
   * Creates the bucket if `HeadBucket` says it is missing (an existing bucket of ours is
   * fine). Outside AWS no location constraint is sent.
   *
   * @throws ClawbackError `BACKEND_AUTH` for refused credentials or permissions; `BACKEND`
   *   for a bucket owned by someone else or a refused creation; `BACKEND_UNREACHABLE` /
   *   `BACKEND_TRANSIENT` for network/5xx failures.
   */
  async create(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      const e = this.#err(err, 'create', '');
      if (e.code !== 'BLOB_NOT_FOUND' && e.code !== 'REPO_NOT_FOUND') throw await this.#explain(e, '');
    }
    try {
      const needsConstraint = !this.#customEndpoint && this.#region !== 'us-east-1';
      await this.#client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ...(needsConstraint ? { CreateBucketConfiguration: { LocationConstraint: this.#region as BucketLocationConstraint } } : {}),
        }),
      );
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      if (name === 'BucketAlreadyOwnedByYou') return;
      if (name === 'BucketAlreadyExists') {
        throw new ClawbackError('BACKEND', `bucket ${this.bucket} at ${this.endpoint} exists and belongs to someone else: choose another name`, {
          cause: err,
          details: { endpoint: this.endpoint, bucket: this.bucket, key: '' },
        });
      }
      throw this.#err(err, 'create bucket', '');
    }
  }

  /**
   * True when the `config` object exists. When it does not, a `HeadBucket` tells a missing
   * bucket (`REPO_NOT_FOUND`, naming the bucket) from an empty prefix (false).
   *
   * @throws ClawbackError `REPO_NOT_FOUND` for a missing bucket; `BACKEND_AUTH` for refused
   *   credentials or permissions; `BACKEND_UNREACHABLE`, `BACKEND_TRANSIENT`, `BACKEND`.
   */
  async isRepository(): Promise<boolean> {
    try {
      await this.stat({ type: 'config', name: CONFIG_PATH });
      return true;
    } catch (err) {
      if (!(err instanceof ClawbackError && err.code === 'BLOB_NOT_FOUND')) throw err;
    }
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const e = this.#err(err, 'isRepository', '');
      if (e.code === 'BLOB_NOT_FOUND') throw this.#err({ name: 'NoSuchBucket' }, 'isRepository', '');
      throw await this.#explain(e, '');
    }
    return false;
  }

  /**
   * `HEAD` responses carry no body, so a refused `HeadObject`/`HeadBucket` says only "403".
   * For such an error, a one-byte `GetObject` of `key` (any key: a missing one is fine)
   * learns the reason (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`) and
   * that error is returned instead; otherwise `e` itself.
   */
  async #explain(e: ClawbackError, key: string): Promise<ClawbackError> {
    if (e.code !== 'BACKEND_AUTH' || (e.details['s3Code'] !== undefined && e.details['s3Code'] !== 'Unknown')) return e;
    const probe = key === '' ? (this.prefix === '' ? CONFIG_PATH : `${this.prefix}/${CONFIG_PATH}`) : key;
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: probe, Range: 'bytes=0-0' }));
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.(); // free the socket
      return e;
    } catch (err) {
      const precise = mapS3Error(err, { op: String(e.details['op'] ?? 'stat'), endpoint: this.endpoint, bucket: this.bucket, key: String(e.details['key'] ?? key) });
      return precise.code === 'BACKEND_AUTH' && precise.details['s3Code'] !== undefined && precise.details['s3Code'] !== 'Unknown' ? precise : e;
    }
  }

  /**
   * Stores `data` write-once: a conditional `PutObject` below the multipart threshold,
   * else `HeadObject` + multipart upload (see the module comment for the race).
   *
   * @throws ClawbackError `ALREADY_EXISTS` if the object exists; `BACKEND` /
   *   `BACKEND_TRANSIENT` per {@link mapS3Error}; `INTERNAL` for a bad name.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const key = this.#key(h);
    try {
      if (data.length < this.#threshold) {
        const md5 = createHash('md5').update(data).digest('base64');
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            ContentMD5: md5,
            IfNoneMatch: '*',
          }),
        );
        return;
      }
      if (await this.#exists(key)) {
        throw mapS3Error({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }, {
          op: 'save',
          endpoint: this.endpoint,
          bucket: this.bucket,
          key,
        });
      }
      const upload = new Upload({
        client: this.#client,
        params: { Bucket: this.bucket, Key: key, Body: data, IfNoneMatch: '*' },
        partSize: this.#partSize,
        queueSize: this.#queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.#err(err, 'save', key);
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      const e = this.#err(err, 'save', key);
      if (e.code === 'BLOB_NOT_FOUND') return false;
      throw await this.#explain(e, key);
    }
  }

  /**
   * The bytes of `h`, or of `range` (a ranged GET, `bytes=a-b`; cut at the end of the
   * object; a range starting at or past the end gives empty bytes).
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing; `BACKEND_TRANSIENT` when the body
   *   arrives short or the connection drops; others per {@link mapS3Error}.
   */
  async load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    checkRange(range);
    const key = this.#key(h);
    const offset = range?.offset ?? 0;
    const length = range?.length;
    if (length === 0) {
      await this.stat(h);
      return new Uint8Array(0);
    }
    const rangeHeader =
      offset === 0 && length === undefined ? undefined : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    try {
      const res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(rangeHeader === undefined ? {} : { Range: rangeHeader }) }),
      );
      if (res.Body === undefined) throw new ClawbackError('BACKEND_TRANSIENT', `${key}: response without a body`);
      const raw = await res.Body.transformToByteArray();
      let out = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
      if (res.ContentLength !== undefined && out.length !== res.ContentLength) {
        throw new ClawbackError(
          'BACKEND_TRANSIENT',
          `load ${key} in bucket ${this.bucket} at ${this.endpoint}: got ${out.length} of ${res.ContentLength} bytes`,
          { details: { endpoint: this.endpoint, bucket: this.bucket, key } },
        );
      }
      if (rangeHeader !== undefined && res.ContentRange === undefined) {
        // The server ignored the Range header and sent the whole object.
        const { start, end } = resolveRange(range, out.length);
        out = out.subarray(start, end);
      }
      return out;
    } catch (err) {
      const status = (err as AwsLikeError | null)?.$metadata?.httpStatusCode;
      // 416: the object exists but the range starts at or past its end (or it is empty).
      if (status === 416) return new Uint8Array(0);
      throw this.#err(err, 'load', key);
    }
  }

  /**
   * Size of `h` from `HeadObject`.
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing (or the bucket is missing); others
   *   per {@link mapS3Error}.
   */
  async stat(h: Handle): Promise<FileInfo> {
    const key = this.#key(h);
    try {
      const res = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { name: h.type === 'config' ? 'config' : h.name, size: res.ContentLength ?? 0 };
    } catch (err) {
      throw await this.#explain(this.#err(err, 'stat', key), key);
    }
  }

  /**
   * The files of `type`, from `ListObjectsV2` pages of up to 1000 keys (all of `data/`'s
   * fan-out directories in one walk). Keys that are not repository files are skipped.
   *
   * @throws ClawbackError `BACKEND` for a missing bucket or bad credentials;
   *   `BACKEND_TRANSIENT` when a page request fails transiently.
   */
  async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'config') {
      try {
        yield await this.stat({ type: 'config', name: CONFIG_PATH });
      } catch (err) {
        if (!(err instanceof ClawbackError && err.code === 'BLOB_NOT_FOUND')) throw err;
      }
      return;
    }
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const listPrefix = `${base}${dirFor(type)}/`;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: listPrefix,
            MaxKeys: 1000,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
      } catch (err) {
        const e = this.#err(err, 'list', listPrefix);
        // A 404 here can only be the bucket (a prefix is never "not found").
        if (e.code === 'BLOB_NOT_FOUND') throw this.#err({ name: 'NoSuchBucket' }, 'list', listPrefix);
        throw e;
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(base)) continue;
        const h = handleFromPath(obj.Key.slice(base.length));
        if (h?.type === type) yield { name: h.name, size: obj.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /**
   * Deletes `h` (`DeleteObject` succeeds for a missing key; a 404 is accepted too).
   *
   * @throws ClawbackError `BACKEND` for a missing bucket or bad credentials;
   *   `BACKEND_TRANSIENT` for network/5xx failures.
   */
  async remove(h: Handle): Promise<void> {
    const key = this.#key(h);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const e = this.#err(err, 'remove', key);
      if (e.code !== 'BLOB_NOT_FOUND') throw e;
    }
  }

  /** What s3-uploads.ts needs to list and abort this repository's multipart uploads. */
  get #uploadsTarget(): UploadsTarget {
    return { client: this.#client, bucket: this.bucket, prefix: this.prefix, fail: (err, op, key) => this.#err(err, op, key) };
  }

  /**
   * The multipart uploads under this repository that never completed (a crash cut them
   * short), as `<dir>/.tmp-<64 hex>` temp files whose size is the bytes of their parts;
   * see s3-uploads.ts. A PUT leaves nothing when it fails, so these are all there is.
   * @throws ClawbackError per {@link mapS3Error} when listing fails.
   */
  async *listTempFiles(): AsyncIterable<TempFileInfo> {
    for await (const u of listPendingUploads(this.#uploadsTarget)) {
      this.#pendingUploads.set(u.path, u);
      yield { path: u.path, size: u.size };
    }
  }

  /**
   * Aborts the interrupted multipart upload that {@link listTempFiles} named `path`, which
   * deletes its parts; succeeds when it is already gone.
   * @throws ClawbackError `INTERNAL` when `path` is not a temp file's; per
   *   {@link mapS3Error} when the abort fails.
   */
  async removeTempFile(path: string): Promise<void> {
    checkTempPath(path);
    let u = this.#pendingUploads.get(path);
    if (u === undefined) for await (const x of listPendingUploads(this.#uploadsTarget)) if (x.path === path) u = x;
    if (u === undefined) return;
    await abortUpload(this.#uploadsTarget, u.key, u.uploadId);
    this.#pendingUploads.delete(path);
  }

  /** Closes the client's sockets. */
  async close(): Promise<void> {
    this.#client.destroy();
  }
}
