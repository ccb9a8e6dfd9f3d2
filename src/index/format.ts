/**
 * Index files (docs/FORMAT.md §Index): the source of truth for where every blob lives.
 * Each file is immutable, named by the BLAKE3 of its stored bytes, and lists whole packs:
 *
 *     plaintext = magic "CBIX" || version (1)
 *                 || s (uint32 LE) || s × superseded index id (32 bytes)
 *                 || p (uint32 LE) || p × pack
 *     pack      = pack id (32) || pack size (uint64 LE, bytes) || n (uint32 LE) || n × blob
 *     blob      = type (uint8: 0 data, 1 tree) || offset (uint32 LE) || length (uint32 LE)
 *                 || raw_length (uint32 LE) || id (32)
 *
 * stored in an envelope (zstd, sealed). `superseded` lists index files whose content this
 * one includes (written by gc); readers may ignore a superseded file that still exists.
 */
import { ClawbackError } from '../errors.js';
import { toHex, type FileId } from '../ids.js';
import type { PackEntry } from '../pack/format.js';

/** One pack as an index file lists it. */
export interface IndexedPack {
  id: FileId;
  /** Size of the pack file in bytes. */
  size: number;
  blobs: PackEntry[];
}

/** Parsed index file. */
export interface IndexFile {
  superseded: FileId[];
  packs: IndexedPack[];
}

export const INDEX_MAGIC = Buffer.from('CBIX');
export const INDEX_VERSION = 1;
const BLOB_BYTES = 1 + 4 + 4 + 4 + 32;
/**
 * Bytes of one blob record in an index file: type (u8) || offset || length || raw_length
 * (u32 LE each) || id (32). {@link scanIndex} returns records in this layout.
 */
export const INDEX_RECORD_BYTES = BLOB_BYTES;
/** Offset of the blob id within an index record. */
export const RECORD_ID_OFFSET = 13;
/** Largest index plaintext we accept (bounded allocation on hostile input). */
export const MAX_INDEX_BYTES = 1 << 30;

/** Serializes an index file's plaintext. */
export function encodeIndex(idx: IndexFile): Buffer {
  let size = 4 + 1 + 4 + idx.superseded.length * 32 + 4;
  for (const p of idx.packs) size += 32 + 8 + 4 + p.blobs.length * BLOB_BYTES;
  const out = Buffer.alloc(size);
  INDEX_MAGIC.copy(out, 0);
  out[4] = INDEX_VERSION;
  let pos = 5;
  out.writeUInt32LE(idx.superseded.length, pos);
  pos += 4;
  for (const s of idx.superseded) pos += out.write(s, pos, 32, 'hex');
  out.writeUInt32LE(idx.packs.length, pos);
  pos += 4;
  for (const p of idx.packs) {
    pos += out.write(p.id, pos, 32, 'hex');
    out.writeBigUInt64LE(BigInt(p.size), pos);
    pos += 8;
    out.writeUInt32LE(p.blobs.length, pos);
    pos += 4;
    for (const b of p.blobs) {
      writeRecord(out, pos, b);
      pos += BLOB_BYTES;
    }
  }
  if (pos !== size) throw new ClawbackError('INTERNAL', 'index encoding size mismatch (bad hex id?)');
  return out;
}

/**
 * Writes blob `b`'s index record ({@link INDEX_RECORD_BYTES} bytes) into `out` at `pos`.
 * @throws ClawbackError 'INTERNAL' when `b.id` is not 64 hex digits.
 */
function writeRecord(out: Buffer, pos: number, b: PackEntry): void {
  out[pos] = b.type === 'data' ? 0 : 1;
  out.writeUInt32LE(b.offset, pos + 1);
  out.writeUInt32LE(b.length, pos + 5);
  out.writeUInt32LE(b.rawLength, pos + 9);
  if (b.id.length !== 64 || out.write(b.id, pos + RECORD_ID_OFFSET, 32, 'hex') !== 32) {
    throw new ClawbackError('INTERNAL', `blob id ${b.id} is not 64 hex digits`);
  }
}

/**
 * The index records of `blobs`, back to back in their stored layout (as {@link scanIndex}
 * returns a pack's `records`): `blobs.length` × {@link INDEX_RECORD_BYTES} bytes.
 * @throws ClawbackError 'INTERNAL' when an id is not 64 hex digits.
 */
export function packRecords(blobs: readonly PackEntry[]): Buffer {
  const out = Buffer.allocUnsafe(blobs.length * BLOB_BYTES);
  blobs.forEach((b, k) => writeRecord(out, k * BLOB_BYTES, b));
  return out;
}

/**
 * Parses an index file's plaintext.
 * @throws ClawbackError 'INTEGRITY' naming `what` when malformed.
 */
export function decodeIndex(plain: Uint8Array, what: string): IndexFile {
  const { superseded, packs } = scanIndex(plain, what);
  return {
    superseded,
    packs: packs.map((p) => {
      const blobs: PackEntry[] = [];
      for (let pos = 0; pos < p.records.length; pos += BLOB_BYTES) {
        const r = p.records;
        blobs.push({
          type: r[pos] === 0 ? 'data' : 'tree',
          offset: r.readUInt32LE(pos + 1),
          length: r.readUInt32LE(pos + 5),
          rawLength: r.readUInt32LE(pos + 9),
          id: toHex(r.subarray(pos + RECORD_ID_OFFSET, pos + BLOB_BYTES)),
        });
      }
      return { id: p.id, size: p.size, blobs };
    }),
  };
}

/** One pack of a {@link ScannedIndex}: its blob records left in their stored layout. */
export interface ScannedPack {
  id: FileId;
  /** Size of the pack file in bytes. */
  size: number;
  /** `n` blob records of {@link INDEX_RECORD_BYTES} bytes each (a view into the plaintext). */
  records: Buffer;
}

/** An index file parsed without one object per blob (see {@link scanIndex}). */
export interface ScannedIndex {
  superseded: FileId[];
  packs: ScannedPack[];
}

/**
 * Parses an index file's plaintext like {@link decodeIndex}, with the same checks and
 * messages, but leaves each pack's blob records as a view into `plain` (45 bytes per
 * blob instead of a JavaScript object): for readers of the whole index (verify, gc).
 * @throws ClawbackError 'INTEGRITY' naming `what` when malformed.
 */
export function scanIndex(plain: Uint8Array, what: string): ScannedIndex {
  const b = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  const fail = (why: string): never => {
    throw new ClawbackError('INTEGRITY', `${what}: ${why}`);
  };
  const need = (pos: number, n: number): void => {
    if (pos + n > b.length) fail('truncated');
  };
  need(0, 9);
  if (!b.subarray(0, 4).equals(INDEX_MAGIC)) fail('no CBIX magic');
  if (b[4] !== INDEX_VERSION) fail(`unknown version ${String(b[4])}`);
  let pos = 5;
  const s = b.readUInt32LE(pos);
  pos += 4;
  need(pos, s * 32);
  const superseded: FileId[] = [];
  for (let i = 0; i < s; i++, pos += 32) superseded.push(toHex(b.subarray(pos, pos + 32)));
  need(pos, 4);
  const np = b.readUInt32LE(pos);
  pos += 4;
  const packs: ScannedPack[] = [];
  for (let i = 0; i < np; i++) {
    need(pos, 44);
    const id = toHex(b.subarray(pos, pos + 32));
    const size64 = b.readBigUInt64LE(pos + 32);
    if (size64 > BigInt(Number.MAX_SAFE_INTEGER)) fail(`pack ${id} has an impossible size`);
    const size = Number(size64);
    const n = b.readUInt32LE(pos + 40);
    pos += 44;
    need(pos, n * BLOB_BYTES);
    const start = pos;
    for (let j = 0; j < n; j++, pos += BLOB_BYTES) {
      const t = b[pos];
      if (t !== 0 && t !== 1) fail(`unknown blob type ${String(t)}`);
      if (b.readUInt32LE(pos + 1) + b.readUInt32LE(pos + 5) > size) fail(`blob ${toHex(b.subarray(pos + RECORD_ID_OFFSET, pos + BLOB_BYTES))} lies outside pack ${id}`);
    }
    packs.push({ id, size, records: b.subarray(start, pos) });
  }
  if (pos !== b.length) fail('trailing bytes');
  return { superseded, packs };
}
