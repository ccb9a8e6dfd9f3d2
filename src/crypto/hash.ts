/**
 * BLAKE3 hashing (https://github.com/BLAKE3-team/BLAKE3-specs) through @napi-rs/blake-hash.
 *
 * - Blob ids are keyed BLAKE3-256 (keyed mode, 32-byte key = the repository's `hashKey`) of
 *   the blob's plaintext, so ids reveal nothing about content to someone without the key.
 * - File ids (names of packs, index files, snapshots, key files) are plain BLAKE3-256 of the
 *   stored (already encrypted) bytes, so anyone can check a file against its name (b3sum).
 */
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import type * as BlakeHash from '@napi-rs/blake-hash';
import type { BlobId, FileId } from '../ids.js';
import { ClawbackError } from '../errors.js';

let native: typeof BlakeHash | undefined;
let nativePath: string | undefined;

/**
 * @napi-rs/blake-hash, loaded on first use (or by {@link loadHashNative}). On glibc Linux
 * (x64, arm64) its binding package is loaded directly when it is installed: the package's
 * own loader first probes the C library through a diagnostic report
 * (`process.report.getReport()`, ~7 ms here, in every thread that loads it).
 */
export function loadHashNative(): typeof BlakeHash {
  if (native) return native;
  const req = createRequire(import.meta.url);
  const a = arch();
  if (platform() === 'linux' && (a === 'x64' || a === 'arm64')) {
    try {
      const path = req.resolve(`@napi-rs/blake-hash-linux-${a}-gnu`);
      native = req(path) as typeof BlakeHash;
      nativePath = path;
      return native;
    } catch {
      // Not installed (a musl system), or it does not load here: the package decides.
    }
  }
  nativePath = req.resolve('@napi-rs/blake-hash');
  return (native = req(nativePath) as typeof BlakeHash);
}

/**
 * The module path worker threads load BLAKE3 from: the one {@link loadHashNative} loaded
 * (loading it now if needed), so a worker never tries a binding this process could not load.
 */
export function hashNativePath(): string {
  loadHashNative();
  return nativePath!;
}

/** Size of a BLAKE3 key in bytes. */
export const HASH_KEY_BYTES = 32;

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Keyed BLAKE3-256 of `data` as a hex {@link BlobId}.
 * @throws ClawbackError 'INTERNAL' if `key` is not 32 bytes.
 */
export function blobId(key: Uint8Array, data: Uint8Array): BlobId {
  return blobIdBytes(key, data).toString('hex');
}

/**
 * The keyed hasher of the last key used, reset before each use. A new native hasher per
 * blob costs more than hashing a small blob, and each one holds native memory until the
 * garbage collector finds it (~150 MB over the kernel tree's 78.6k files).
 */
let keyed: { key: Buffer; hasher: BlakeHash.Blake3Hasher } | undefined;

/** Keyed BLAKE3-256 of `data` as 32 raw bytes. */
export function blobIdBytes(key: Uint8Array, data: Uint8Array): Buffer {
  if (key.byteLength !== HASH_KEY_BYTES) {
    throw new ClawbackError('INTERNAL', `BLAKE3 key must be ${HASH_KEY_BYTES} bytes, got ${key.byteLength}`);
  }
  const k = asBuffer(key);
  if (!keyed || !keyed.key.equals(k)) keyed = { key: Buffer.from(k), hasher: loadHashNative().Blake3Hasher.newKeyed(k) };
  const h = keyed.hasher;
  h.reset();
  return h.update(asBuffer(data)).digestBuffer();
}

/** Unkeyed BLAKE3-256 of `data` as a hex {@link FileId}. */
export function fileId(data: Uint8Array): FileId {
  return loadHashNative().blake3(asBuffer(data)).toString('hex');
}

/** An incremental unkeyed BLAKE3 hasher (for streaming verification of large files). */
export function createFileHasher(): { update(data: Uint8Array): void; digestHex(): string } {
  const h = new (loadHashNative().Blake3Hasher)();
  return {
    update(data) {
      h.update(asBuffer(data));
    },
    digestHex() {
      return h.digestBuffer().toString('hex');
    },
  };
}
