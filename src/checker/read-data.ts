/**
 * The data pass of `verify` for one pack: read it whole, check its BLAKE3 name, parse its
 * header and compare it with the index, then open (decrypt, decompress) every indexed blob
 * and re-check its id.
 */
import { isClawbackError } from '../errors.js';
import { fileId } from '../crypto/hash.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import { readPackHeaderFromBytes } from '../pack/reader.js';
import type { PackEntry } from '../pack/format.js';
import type { Repository } from '../repository/repository.js';
import type { PackState } from '../repository/index-state.js';

/** A blob copy that failed to open. */
export interface DamagedCopy {
  blob: BlobId;
  type: PackEntry['type'];
  offset: number;
  error: string;
}

/** What {@link checkPack} found. */
export interface PackCheck {
  pack: FileId;
  /** Bytes read. */
  bytes: number;
  /** Pack-level problems (name hash, size, header); empty when the pack is sound. */
  problems: string[];
  /** Blob copies in this pack that do not open or do not match their id. */
  damaged: DamagedCopy[];
  /** Blobs opened and re-hashed successfully. */
  blobsOk: number;
  /** True when the pack vanished from the backend. */
  missing: boolean;
}

function entryKey(e: PackEntry): string {
  return `${e.offset}:${e.length}:${e.rawLength}:${e.type}:${e.id}`;
}

/** Checks one pack as described in the module comment. Never throws for damage. */
export async function checkPack(repo: Repository, pack: PackState): Promise<PackCheck> {
  const out: PackCheck = { pack: pack.id, bytes: 0, problems: [], damaged: [], blobsOk: 0, missing: false };
  let bytes: Uint8Array;
  try {
    bytes = await repo.backend.load({ type: 'data', name: pack.id });
  } catch (err) {
    if (isClawbackError(err, 'BLOB_NOT_FOUND')) {
      out.missing = true;
      return out;
    }
    throw err;
  }
  out.bytes = bytes.byteLength;
  if (bytes.byteLength !== pack.size) out.problems.push(`is ${bytes.byteLength} bytes, the index says ${pack.size}`);
  if (fileId(bytes) !== pack.id) out.problems.push('content does not match its name (BLAKE3)');
  try {
    const header = readPackHeaderFromBytes(repo.cipher, pack.id, bytes);
    const a = header.map(entryKey).sort();
    const b = pack.blobs.map(entryKey).sort();
    if (a.length !== b.length || a.some((k, i) => k !== b[i])) out.problems.push(`header lists ${header.length} blobs that disagree with the index's ${pack.blobs.length}`);
  } catch (err) {
    if (!isClawbackError(err, 'INTEGRITY')) throw err;
    out.problems.push(`header cannot be read: ${err.message}`);
  }
  for (const e of pack.blobs) {
    const stored = bytes.subarray(e.offset, Math.min(bytes.byteLength, e.offset + e.length));
    try {
      repo.openBlob({ ...e, packId: pack.id }, stored);
      out.blobsOk++;
    } catch (err) {
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      out.damaged.push({ blob: e.id, type: e.type, offset: e.offset, error: err.message });
    }
  }
  if (out.damaged.length > 0) out.problems.push(`${out.damaged.length} of ${pack.blobs.length} blobs are damaged (first: ${shortId(out.damaged[0]!.blob)})`);
  return out;
}
