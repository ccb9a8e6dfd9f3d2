/**
 * Pack files (docs/FORMAT.md §Packs), after restic's design:
 *
 *     pack   = blob_1 || … || blob_n || header || header_length (uint32 LE)
 *     blob_i = an envelope (codec byte + payload, sealed when encrypted)
 *     header = an envelope of: magic "CBPK" || version (1) || n (uint32 LE) || n × entry
 *     entry  = type (uint8: 0 data, 1 tree) || length (uint32 LE, stored bytes of blob_i)
 *              || raw_length (uint32 LE, plaintext bytes) || id (32 bytes)
 *
 * Blob offsets are the running sum of the lengths, from 0. The header lets the index be
 * rebuilt from the packs alone (`repair index`).
 */
import { ClawbackError } from '../errors.js';
import { toHex, type BlobId } from '../ids.js';

/** What a blob holds. */
export type BlobType = 'data' | 'tree';

/** One blob in a pack. */
export interface PackEntry {
  type: BlobType;
  id: BlobId;
  /** Byte offset of the stored blob in the pack. */
  offset: number;
  /** Stored length in bytes (envelope). */
  length: number;
  /** Plaintext length in bytes. */
  rawLength: number;
}

export const PACK_MAGIC = Buffer.from('CBPK');
export const PACK_VERSION = 1;
/** Bytes of one header entry. */
export const ENTRY_BYTES = 1 + 4 + 4 + 32;
/** Largest header plaintext we accept when reading (a pack of ~1.6M blobs). */
export const MAX_HEADER_BYTES = 64 << 20;

const TYPE_CODES: Record<BlobType, number> = { data: 0, tree: 1 };

/** Serializes the header plaintext for `entries` (offsets must be consecutive from 0). */
export function encodePackHeader(entries: readonly PackEntry[]): Buffer {
  const out = Buffer.alloc(4 + 1 + 4 + entries.length * ENTRY_BYTES);
  PACK_MAGIC.copy(out, 0);
  out[4] = PACK_VERSION;
  out.writeUInt32LE(entries.length, 5);
  let pos = 9;
  let offset = 0;
  for (const e of entries) {
    if (e.offset !== offset) throw new ClawbackError('INTERNAL', 'pack entries must be consecutive');
    out[pos] = TYPE_CODES[e.type];
    out.writeUInt32LE(e.length, pos + 1);
    out.writeUInt32LE(e.rawLength, pos + 5);
    const idWritten = out.write(e.id, pos + 9, 32, 'hex');
    if (idWritten !== 32) throw new ClawbackError('INTERNAL', `bad blob id ${e.id}`);
    pos += ENTRY_BYTES;
    offset += e.length;
  }
  return out;
}

/**
 * Parses header plaintext.
 * @param blobBytes number of bytes before the header in the pack (the blobs' total length).
 * @throws ClawbackError 'INTEGRITY' naming `what` when malformed or inconsistent.
 */
export function decodePackHeader(plain: Uint8Array, blobBytes: number, what: string): PackEntry[] {
  const b = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  if (b.length < 9 || !b.subarray(0, 4).equals(PACK_MAGIC)) throw new ClawbackError('INTEGRITY', `${what}: pack header has no CBPK magic`);
  if (b[4] !== PACK_VERSION) throw new ClawbackError('INTEGRITY', `${what}: pack header version ${String(b[4])} is unknown`);
  const n = b.readUInt32LE(5);
  if (b.length !== 9 + n * ENTRY_BYTES) throw new ClawbackError('INTEGRITY', `${what}: pack header length does not match its ${n} entries`);
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let i = 0, pos = 9; i < n; i++, pos += ENTRY_BYTES) {
    const t = b[pos];
    if (t !== 0 && t !== 1) throw new ClawbackError('INTEGRITY', `${what}: entry ${i} has unknown blob type ${String(t)}`);
    const length = b.readUInt32LE(pos + 1);
    const rawLength = b.readUInt32LE(pos + 5);
    entries.push({ type: t === 0 ? 'data' : 'tree', length, rawLength, offset, id: toHex(b.subarray(pos + 9, pos + 41)) });
    offset += length;
  }
  if (offset !== blobBytes) throw new ClawbackError('INTEGRITY', `${what}: header lists ${offset} bytes of blobs, pack has ${blobBytes}`);
  return entries;
}
