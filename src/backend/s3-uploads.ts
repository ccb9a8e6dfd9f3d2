/**
 * Interrupted multipart uploads of an {@link S3Backend}, seen as temp files
 * ({@link Backend.listTempFiles}).
 *
 * An object of at least the multipart threshold (a full pack) is uploaded in parts. A
 * process killed before `CompleteMultipartUpload` (or before the SDK's abort on error)
 * leaves its parts in the bucket: stored and billed, but not an object, so no object
 * listing shows them, until the upload is aborted (or a bucket lifecycle rule does it).
 * They are what a crash leaves on S3, as `.tmp-*` files are on a local disk, so `gc`
 * (holding the exclusive lock, so no save of this repository is in flight) removes them
 * the same way.
 *
 * Each upload under the repository's prefix whose key lies in a repository directory is
 * reported as `<dir>/.tmp-<h>`, where `h` is the hex SHA-256 of the repository-relative
 * key, a NUL byte and the upload id (a stable name in the temp-file form of
 * layout.ts), with the bytes of its uploaded parts as its size.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ClawbackError } from '../errors.js';
import { isTempPath } from './layout.js';

/** An interrupted multipart upload, as a temp file. */
export interface PendingUpload {
  /** Temp-file path, e.g. `data/ab/.tmp-<64 hex digits>`. */
  path: string;
  /** Full object key (with the prefix). */
  key: string;
  uploadId: string;
  /** Bytes of the parts uploaded so far. */
  size: number;
}

/** Where an S3 call failed, for {@link UploadsTarget.fail}. */
export interface UploadsTarget {
  client: S3Client;
  bucket: string;
  /** Key prefix of the repository without slashes ('' for none). */
  prefix: string;
  /** Maps an SDK error of operation `op` on `key` to a ClawbackError (s3.ts `mapS3Error`). */
  fail(err: unknown, op: string, key: string): ClawbackError;
}

/**
 * The temp-file path of upload `uploadId` of the repository-relative key `relKey`, or
 * undefined when `relKey` is not in a repository directory (not ours to remove).
 */
export function uploadTempPath(relKey: string, uploadId: string): string | undefined {
  const cut = relKey.lastIndexOf('/');
  const dir = cut < 0 ? '' : relKey.slice(0, cut);
  const h = createHash('sha256').update(relKey).update('\0').update(uploadId).digest('hex');
  const path = dir === '' ? `.tmp-${h}` : `${dir}/.tmp-${h}`;
  return isTempPath(path) ? path : undefined;
}

/**
 * Lists the repository's interrupted multipart uploads (ListMultipartUploads, then
 * ListParts for each one's size).
 * @throws ClawbackError from `t.fail` when a listing fails.
 */
export async function* listPendingUploads(t: UploadsTarget): AsyncIterable<PendingUpload> {
  const base = t.prefix === '' ? '' : `${t.prefix}/`;
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await t.client.send(
        new ListMultipartUploadsCommand({ Bucket: t.bucket, Prefix: base, ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker, UploadIdMarker: idMarker }) }),
      );
    } catch (err) {
      throw t.fail(err, 'list uploads', base);
    }
    for (const u of page.Uploads ?? []) {
      if (u.Key === undefined || u.UploadId === undefined || !u.Key.startsWith(base)) continue;
      const path = uploadTempPath(u.Key.slice(base.length), u.UploadId);
      if (path === undefined) continue;
      yield { path, key: u.Key, uploadId: u.UploadId, size: await uploadedBytes(t, u.Key, u.UploadId) };
    }
    if (!page.IsTruncated || page.NextKeyMarker === undefined) return;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
}

/** Bytes of the parts of one upload so far (0 if it is gone). */
async function uploadedBytes(t: UploadsTarget, key: string, uploadId: string): Promise<number> {
  let size = 0;
  let marker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await t.client.send(new ListPartsCommand({ Bucket: t.bucket, Key: key, UploadId: uploadId, ...(marker === undefined ? {} : { PartNumberMarker: marker }) }));
    } catch (err) {
      if (isNoSuchUpload(err)) return size;
      throw t.fail(err, 'list parts', key);
    }
    for (const p of page.Parts ?? []) size += p.Size ?? 0;
    if (!page.IsTruncated || page.NextPartNumberMarker === undefined) return size;
    marker = page.NextPartNumberMarker;
  }
}

/**
 * Aborts an upload, which deletes its parts; an upload already gone (completed, aborted)
 * is fine.
 * @throws ClawbackError from `t.fail` for any other failure.
 */
export async function abortUpload(t: UploadsTarget, key: string, uploadId: string): Promise<void> {
  try {
    await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    if (!isNoSuchUpload(err)) throw t.fail(err, 'abort upload', key);
  }
}

function isNoSuchUpload(err: unknown): boolean {
  const e = err as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  return e?.name === 'NoSuchUpload' || e?.Code === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404;
}
