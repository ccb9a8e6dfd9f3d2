/**
 * Reading packs: the header (to rebuild the index or verify) and single blobs.
 */
import type { Backend } from '../backend/backend.js';
import { ClawbackError } from '../errors.js';
import { openEnvelope, type Cipher } from '../crypto/envelope.js';
import { shortId, type FileId } from '../ids.js';
import { decodePackHeader, MAX_HEADER_BYTES, type PackEntry } from './format.js';

/** How many bytes from the end to fetch first when reading a header (one round trip usually). */
const TAIL_GUESS = 64 * 1024;

/**
 * Parses the header of a complete pack held in memory.
 * @throws ClawbackError 'INTEGRITY' naming the pack.
 */
export function readPackHeaderFromBytes(cipher: Cipher, packId: FileId, bytes: Uint8Array): PackEntry[] {
  const what = `pack ${shortId(packId)}`;
  if (bytes.byteLength < 4) throw new ClawbackError('INTEGRITY', `${what}: too short (${bytes.byteLength} bytes)`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = b.readUInt32LE(b.length - 4);
  if (hlen + 4 > b.length) throw new ClawbackError('INTEGRITY', `${what}: header length ${hlen} exceeds the pack size ${b.length}`);
  const sealed = b.subarray(b.length - 4 - hlen, b.length - 4);
  const plain = openEnvelope(cipher, sealed, `${what} header`, MAX_HEADER_BYTES, false);
  return decodePackHeader(plain, b.length - 4 - hlen, what);
}

/**
 * Reads a pack's header through the backend with ranged loads (the tail only).
 * @param size the pack's size in bytes (from the index or `stat`).
 */
export async function readPackHeader(backend: Backend, cipher: Cipher, packId: FileId, size: number): Promise<PackEntry[]> {
  const what = `pack ${shortId(packId)}`;
  if (size < 4) throw new ClawbackError('INTEGRITY', `${what}: too short (${size} bytes)`);
  const h = { type: 'data' as const, name: packId };
  const guess = Math.min(size, TAIL_GUESS);
  let tail = Buffer.from(await backend.load(h, { offset: size - guess, length: guess }));
  if (tail.length !== guess) throw new ClawbackError('INTEGRITY', `${what}: shorter than its recorded size ${size}`);
  const hlen = tail.readUInt32LE(tail.length - 4);
  if (hlen + 4 > size || hlen > MAX_HEADER_BYTES + 64) throw new ClawbackError('INTEGRITY', `${what}: header length ${hlen} is impossible for a ${size}-byte pack`);
  if (hlen + 4 > tail.length) {
    tail = Buffer.from(await backend.load(h, { offset: size - hlen - 4, length: hlen + 4 }));
  }
  const sealed = tail.subarray(tail.length - 4 - hlen, tail.length - 4);
  const plain = openEnvelope(cipher, sealed, `${what} header`, MAX_HEADER_BYTES, false);
  return decodePackHeader(plain, size - 4 - hlen, what);
}
