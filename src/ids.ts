/**
 * Identifiers. Every id in clawback is 32 bytes, written as 64 lowercase hex characters.
 *
 * - {@link BlobId}: keyed BLAKE3-256 of a blob's plaintext (chunk or tree), key = the
 *   repository's `hashKey` (docs/FORMAT.md §Ids).
 * - {@link FileId}: unkeyed BLAKE3-256 of a repository file's stored bytes (packs, index
 *   files, snapshots, key files); the file's name in the backend.
 */

/** Hex id of a blob (chunk or tree): keyed BLAKE3-256 of its plaintext. */
export type BlobId = string;
/** Hex id of a repository file: BLAKE3-256 of its bytes (also its name). */
export type FileId = string;
/** Hex id of a snapshot manifest file. */
export type SnapshotId = string;

/** Length of an id in bytes. */
export const ID_BYTES = 32;

const HEX_ID = /^[0-9a-f]{64}$/;

/** True when `s` is a 64-character lowercase hex id. */
export function isHexId(s: unknown): s is string {
  return typeof s === 'string' && HEX_ID.test(s);
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes of a hex string (no validation beyond Buffer's). */
export function fromHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

/** The first 8 hex characters of an id, as shown in tables. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
