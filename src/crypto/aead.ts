/**
 * AES-256-GCM authenticated encryption (NIST SP 800-38D) with random 96-bit nonces.
 *
 * Sealed layout: `nonce (12 bytes) || ciphertext || tag (16 bytes)`; no associated data.
 * Random nonces are safe for up to 2^32 messages per key (SP 800-38D §8.3); a repository
 * reaching that many blobs should rotate its master key (not yet implemented).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ClawbackError } from '../errors.js';

/** Nonce length in bytes. */
export const NONCE_BYTES = 12;
/** GCM tag length in bytes. */
export const TAG_BYTES = 16;
/** Key length in bytes. */
export const KEY_BYTES = 32;
/** Bytes that sealing adds to a plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Encrypts `parts` (concatenated) under `key`.
 * @returns `nonce || ciphertext || tag`, length = plaintext + {@link SEAL_OVERHEAD} bytes.
 */
export function seal(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const chunks: Buffer[] = [nonce];
  for (const p of parts) chunks.push(cipher.update(p));
  chunks.push(cipher.final(), cipher.getAuthTag());
  return Buffer.concat(chunks);
}

/**
 * Decrypts and authenticates a sealed message.
 * @param what names the object in the error message ("pack 1a2b…, blob 3c4d…").
 * @throws ClawbackError 'INTEGRITY' when the message is too short or the tag does not verify
 *   (wrong key, flipped bit, truncation).
 */
export function open(key: Uint8Array, sealed: Uint8Array, what: string): Buffer {
  if (sealed.byteLength < SEAL_OVERHEAD) {
    throw new ClawbackError('INTEGRITY', `${what}: encrypted data is truncated (${sealed.byteLength} bytes)`);
  }
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = buf.subarray(0, NONCE_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(NONCE_BYTES, buf.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (cause) {
    throw new ClawbackError('INTEGRITY', `${what}: authentication failed (data damaged or wrong key)`, { cause });
  }
}
