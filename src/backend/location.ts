/**
 * Repository locations as users type them, and opening the matching backend.
 *
 * ```text
 * s3:https://host[:port]/bucket[/prefix…]   S3-compatible server (RGW, MinIO, R2, B2, …)
 * s3:bucket[/prefix…]                       AWS S3 (regional endpoint from the region)
 * local:/path or anything else              a local directory (resolved to an absolute path)
 * ```
 *
 * @module
 */

import * as nodePath from 'node:path';
import { ClawbackError } from '../errors.js';
import type { Backend } from './backend.js';
import { LimitBackend } from './limit.js';
import { LocalBackend } from './local.js';
import type { LocalBackendOptions } from './local.js';
import { RetryBackend } from './retry.js';
import type { RetryOptions } from './retry.js';
import type { S3BackendOptions, S3Credentials } from './s3.js';

/** A local directory repository. */
export interface LocalLocation {
  kind: 'local';
  /** Absolute path. */
  path: string;
}

/** An S3 repository. */
export interface S3Location {
  kind: 's3';
  /** `http(s)://host[:port]`, or undefined for AWS S3. */
  endpoint: string | undefined;
  /** The bucket name. */
  bucket: string;
  /** Key prefix without leading/trailing `/`; `''` for the bucket root. */
  prefix: string;
}

/** A parsed repository location. */
export type Location = LocalLocation | S3Location;

const S3_FORMS =
  'expected s3:http(s)://host[:port]/bucket[/prefix] or s3:bucket[/prefix] (AWS), e.g. s3:https://s3.example.com:7480/backups/laptop or s3:my-bucket/laptop';

const BUCKET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;

function usage(s: string, why: string): ClawbackError {
  return new ClawbackError('USAGE', `bad S3 location ${JSON.stringify(s)}: ${why}; ${S3_FORMS}`, { details: { location: s } });
}

function bucketAndPrefix(s: string, segments: string[]): { bucket: string; prefix: string } {
  const [bucket, ...rest] = segments;
  if (bucket === undefined) throw usage(s, 'no bucket');
  if (!BUCKET_RE.test(bucket)) throw usage(s, `invalid bucket name ${JSON.stringify(bucket)} (3-255 letters, digits, '.', '-', '_')`);
  if (rest.some((p) => p === '.' || p === '..')) throw usage(s, "'.' and '..' are not allowed in the prefix");
  return { bucket, prefix: rest.join('/') };
}

/**
 * Parses a repository location (see the module comment). Local paths are resolved
 * against `cwd` (default: the process working directory).
 *
 * @throws ClawbackError `USAGE` for an empty location or a malformed `s3:` location (the
 *   message shows the accepted forms).
 */
export function parseLocation(s: string, cwd?: string): Location {
  if (s.trim() === '') throw new ClawbackError('USAGE', 'empty repository location: give a directory or an s3: location');
  if (s.startsWith('local:')) {
    const p = s.slice('local:'.length);
    if (p === '') throw new ClawbackError('USAGE', 'empty path in local: location, e.g. local:/srv/backups');
    return { kind: 'local', path: cwd === undefined ? nodePath.resolve(p) : nodePath.resolve(cwd, p) };
  }
  if (!s.startsWith('s3:')) return { kind: 'local', path: cwd === undefined ? nodePath.resolve(s) : nodePath.resolve(cwd, s) };
  const rest = s.slice(3);
  if (rest === '') throw usage(s, 'nothing after s3:');
  if (/^https?:\/\//i.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw usage(s, 'not a valid URL');
    }
    if (url.hostname === '') throw usage(s, 'no host');
    if (url.username !== '' || url.password !== '') throw usage(s, 'credentials do not belong in the URL (use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)');
    if (url.search !== '' || url.hash !== '') throw usage(s, 'no query string or fragment allowed');
    let segments: string[];
    try {
      segments = url.pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
    } catch {
      throw usage(s, 'bad percent-encoding in the path');
    }
    return { kind: 's3', endpoint: `${url.protocol}//${url.host}`, ...bucketAndPrefix(s, segments) };
  }
  if (rest.startsWith('/')) throw usage(s, "s3:// and s3:/ are not accepted (write s3:bucket/prefix for AWS)");
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(rest)) throw usage(s, 'only http:// and https:// endpoints are supported (host:port needs a scheme)');
  return { kind: 's3', endpoint: undefined, ...bucketAndPrefix(s, rest.split('/').filter((p) => p !== '')) };
}

/** The canonical text of a location (what {@link parseLocation} reads back to the same value). */
export function formatLocation(loc: Location): string {
  if (loc.kind === 'local') return loc.path;
  const tail = loc.prefix === '' ? loc.bucket : `${loc.bucket}/${loc.prefix}`;
  return loc.endpoint === undefined ? `s3:${tail}` : `s3:${loc.endpoint}/${tail}`;
}

/** Options of {@link openBackend}. */
export interface OpenBackendOptions {
  /**
   * Environment to take S3 settings from (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   * `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_DEFAULT_REGION`); the CLI passes
   * `process.env`. Default `{}`. Without a key pair here or in `credentials`, the AWS SDK's
   * default chain applies (which itself reads the process environment, profiles and IMDS).
   */
  env?: Record<string, string | undefined>;
  /** S3 credentials; win over `env`. */
  credentials?: S3Credentials;
  /** S3 region; wins over `env`. Default `us-east-1`. */
  region?: string;
  /** S3 calls in flight at once ({@link LimitBackend}). Default 4. */
  connections?: number;
  /** Retry policy for S3 ({@link RetryBackend}). */
  retry?: RetryOptions;
  /** Further {@link S3BackendOptions} (thresholds, timeouts, path style). */
  s3?: Omit<S3BackendOptions, 'bucket' | 'endpoint' | 'prefix' | 'credentials' | 'region'>;
  /** Options of the local backend. */
  local?: LocalBackendOptions;
}

/**
 * The S3 credentials from `opts.credentials` or `env`, or undefined for the SDK's chain.
 *
 * @throws ClawbackError `USAGE` when only one of AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY is set.
 */
export function s3CredentialsFrom(env: Record<string, string | undefined>): S3Credentials | undefined {
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  const token = env['AWS_SESSION_TOKEN'];
  if (!id && !secret) return undefined;
  if (!id || !secret) {
    throw new ClawbackError(
      'USAGE',
      `${id ? 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not' : 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not'}: set both`,
    );
  }
  return token ? { accessKeyId: id, secretAccessKey: secret, sessionToken: token } : { accessKeyId: id, secretAccessKey: secret };
}

/**
 * Opens the backend for `location` (a string is parsed with {@link parseLocation}):
 * a {@link LocalBackend} for a directory; for S3,
 * `RetryBackend(LimitBackend(S3Backend))`. Makes no I/O; the S3 SDK is loaded only
 * when an S3 location is opened.
 *
 * @throws ClawbackError `USAGE` for a malformed location or half-set credentials.
 */
export async function openBackend(location: string | Location, opts: OpenBackendOptions = {}): Promise<Backend> {
  const loc = typeof location === 'string' ? parseLocation(location) : location;
  if (loc.kind === 'local') return new LocalBackend(loc.path, opts.local);
  const env = opts.env ?? {};
  const credentials = opts.credentials ?? s3CredentialsFrom(env);
  const region = opts.region ?? (env['AWS_REGION'] || undefined) ?? (env['AWS_DEFAULT_REGION'] || undefined) ?? 'us-east-1';
  const { S3Backend } = await import('./s3.js');
  const s3 = new S3Backend({
    ...opts.s3,
    bucket: loc.bucket,
    prefix: loc.prefix,
    region,
    ...(loc.endpoint === undefined ? {} : { endpoint: loc.endpoint }),
    ...(credentials === undefined ? {} : { credentials }),
  });
  return new RetryBackend(new LimitBackend(s3, { concurrency: opts.connections ?? 4 }), opts.retry);
}
