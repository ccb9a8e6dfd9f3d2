/**
 * The envelope every stored blob and metadata file is wrapped in (docs/FORMAT.md §Envelope):
 *
 *     body     = codec (1 byte: 0 = none, 1 = zstd) || payload
 *     stored   = encrypted repository:   nonce (12) || AES-256-GCM(body) || tag (16)
 *                unencrypted repository: body
 *
 * Compression is tried first and kept only when it shrinks the data.
 */
import { randomBytes } from 'node:crypto';
import { ClawbackError } from '../errors.js';
import { zstdCompress, zstdDecompress } from '../compress/zstd.js';
import { KEY_BYTES, SEAL_OVERHEAD, open, seal } from './aead.js';

/** Codec byte values. */
export const CODEC_NONE = 0;
export const CODEC_ZSTD = 1;

/** Encrypts and decrypts envelopes; the identity for an unencrypted repository. */
export interface Cipher {
  /** True for AES-256-GCM, false for the unencrypted mode. */
  readonly encrypted: boolean;
  /** Bytes added by sealing (28 for AES-256-GCM, 0 for none). */
  readonly overhead: number;
  seal(...parts: Uint8Array[]): Buffer;
  /** @throws ClawbackError 'INTEGRITY' naming `what` on authentication failure. */
  open(data: Uint8Array, what: string): Buffer;
}

/** AES-256-GCM under a 32-byte master encryption key. */
export function aesCipher(key: Uint8Array): Cipher {
  if (key.byteLength !== KEY_BYTES) throw new ClawbackError('INTERNAL', 'encryption key must be 32 bytes');
  return {
    encrypted: true,
    overhead: SEAL_OVERHEAD,
    seal: (...parts) => seal(key, ...parts),
    open: (data, what) => open(key, data, what),
  };
}

/** The unencrypted mode: bodies are stored as they are. */
export const noneCipher: Cipher = {
  encrypted: false,
  overhead: 0,
  seal: (...parts) => Buffer.concat(parts),
  open: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength),
};

/** A new random 32-byte key. */
export function randomKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

const CODEC_NONE_BYTE = Uint8Array.of(CODEC_NONE);
const CODEC_ZSTD_BYTE = Uint8Array.of(CODEC_ZSTD);

/**
 * Wraps `plaintext` in an envelope, zstd-compressed at `level` when that shrinks it
 * (`level` 0 disables compression).
 */
export function sealEnvelope(cipher: Cipher, plaintext: Uint8Array, level: number): Buffer {
  const compressed = level > 0 ? zstdCompress(plaintext, level) : undefined;
  return compressed === undefined
    ? cipher.seal(CODEC_NONE_BYTE, plaintext)
    : cipher.seal(CODEC_ZSTD_BYTE, compressed);
}

/**
 * Opens an envelope and returns the plaintext.
 * @param maxLength the exact plaintext length when known (pack entries), else an upper
 *   bound for metadata files; protects against decompression bombs.
 * @param exact true when `maxLength` is the exact length (blobs).
 * @throws ClawbackError 'INTEGRITY' naming `what` for any damage.
 */
export function openEnvelope(cipher: Cipher, stored: Uint8Array, what: string, maxLength: number, exact: boolean): Buffer {
  const body = cipher.open(stored, what);
  if (body.length < 1) throw new ClawbackError('INTEGRITY', `${what}: empty envelope`);
  const codec = body[0];
  const payload = body.subarray(1);
  if (codec === CODEC_NONE) {
    if (exact ? payload.length !== maxLength : payload.length > maxLength) {
      throw new ClawbackError('INTEGRITY', `${what}: length ${payload.length} does not match the expected ${maxLength}`);
    }
    return payload;
  }
  if (codec === CODEC_ZSTD) {
    if (exact) return zstdDecompress(payload, maxLength, what);
    return zstdDecompressBounded(payload, maxLength, what);
  }
  throw new ClawbackError('INTEGRITY', `${what}: unknown codec ${String(codec)}`);
}

/** Decompresses a metadata frame of unknown size, refusing more than `maxLength` bytes. */
function zstdDecompressBounded(frame: Uint8Array, maxLength: number, what: string): Buffer {
  // Metadata frames are written with their content size in the header (zstd one-shot API).
  const size = frameContentSize(frame);
  if (size === undefined || size > maxLength) {
    throw new ClawbackError('INTEGRITY', `${what}: compressed metadata has no valid size (limit ${maxLength} bytes)`);
  }
  return zstdDecompress(frame, size, what);
}

/**
 * Reads Frame_Content_Size from a zstd frame header (RFC 8878 §3.1.1.1), or undefined.
 */
export function frameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  if (frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return undefined;
  const fhd = frame[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdFlag = fhd & 3;
  let pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0 || frame.length < pos + fcsBytes) return undefined;
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (fcsBytes) {
    case 1:
      return b[pos]!;
    case 2:
      return b.readUInt16LE(pos) + 256;
    case 4:
      return b.readUInt32LE(pos);
    default: {
      const v = b.readBigUInt64LE(pos);
      pos += 8;
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
    }
  }
}
