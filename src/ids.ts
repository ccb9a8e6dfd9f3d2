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

/** `HEX_DIGIT[c]` is 1 when char code `c` (< 128) is a lowercase hex digit `0-9a-f`. */
const HEX_DIGIT = new Uint8Array(128);
for (const c of '0123456789abcdef') HEX_DIGIT[c.charCodeAt(0)] = 1;

/**
 * True when `s` is a 64-character lowercase hex id (`/^[0-9a-f]{64}$/`). A table lookup per
 * character: about twice as fast as the regular expression, and ids are checked per tree node.
 */
export function isHexId(s: unknown): s is string {
  return typeof s === 'string' && s.length === 64 && isHexIdAt(s, 0);
}

/** True when the 64 characters of `s` from `start` are lowercase hex digits (and exist). */
export function isHexIdAt(s: string, start: number): boolean {
  if (start < 0 || start + 64 > s.length) return false;
  let bad = 0;
  for (let i = start; i < start + 64; i++) {
    const c = s.charCodeAt(i);
    bad |= (c >> 7) | (HEX_DIGIT[c & 127]! ^ 1);
  }
  return bad === 0;
}

/** True when two content lists hold the same blob ids in the same order (both absent: true). */
export function sameIds(x: readonly BlobId[] | undefined, y: readonly BlobId[] | undefined): boolean {
  if (x === y) return true;
  if (!x || !y || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
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
