/**
 * Assembles one pack in memory (packs are small: the configured pack size, 16 MiB by
 * default, plus at most one blob, plus the header).
 */
import { fileId } from '../crypto/hash.js';
import { sealEnvelope, type Cipher } from '../crypto/envelope.js';
import type { FileId } from '../ids.js';
import { encodePackHeader, type BlobType, type PackEntry } from './format.js';
import type { PackBufferPool } from './buffer-pool.js';

/** A finished pack: its bytes, id (BLAKE3 of the bytes) and entries. */
export interface FinishedPack {
  id: FileId;
  /** The pack file's bytes: a view of {@link buffer}. */
  bytes: Buffer;
  entries: PackEntry[];
  /** The writer's whole buffer, to hand back to a {@link PackBufferPool} once `bytes` is written. */
  buffer: Buffer;
}

/**
 * Collects sealed blobs and produces pack files. Blobs are copied, back to back, into one
 * buffer from a {@link PackBufferPool} (sized for a whole pack; it grows by doubling when a
 * pack turns out larger, and the outgrown buffer is left to the garbage collector), and the
 * header and trailer are written after them in the same buffer: the finished pack is a view
 * of it, never a concatenated copy, and the writer holds one large buffer instead of one
 * object per blob (a pack of small files has tens of thousands of blobs). The buffer is
 * taken with the first blob, so an idle writer holds none; it is handed back to the pool by
 * whoever writes the finished pack ({@link FinishedPack.buffer}).
 */
export class PackWriter {
  readonly entries: PackEntry[] = [];
  private buf: Buffer | undefined;
  private size = 0;
  private readonly pool: PackBufferPool;

  /** @param pool where the writer takes its buffer (see {@link FinishedPack.buffer}). */
  constructor(pool: PackBufferPool) {
    this.pool = pool;
  }

  /** Stored bytes of blobs so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Number of blobs so far. */
  get count(): number {
    return this.entries.length;
  }

  /** The buffer, with room for `n` more bytes (taken from the pool, or grown). */
  private reserve(n: number): Buffer {
    const buf = (this.buf ??= this.pool.take());
    if (this.size + n <= buf.length) return buf;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * buf.length, this.size + n));
    buf.copy(grown, 0, 0, this.size);
    return (this.buf = grown);
  }

  /** Appends (copies) an already sealed blob envelope. */
  add(type: BlobType, id: string, stored: Uint8Array, rawLength: number): PackEntry {
    const entry: PackEntry = { type, id, offset: this.size, length: stored.byteLength, rawLength };
    this.entries.push(entry);
    this.reserve(stored.byteLength).set(stored, this.size);
    this.size += stored.byteLength;
    return entry;
  }

  /** Seals the header and returns the complete pack. The writer must not be used after. */
  finish(cipher: Cipher): FinishedPack {
    const header = sealEnvelope(cipher, encodePackHeader(this.entries), 3);
    const buffer = this.reserve(header.length + 4);
    buffer.set(header, this.size);
    buffer.writeUInt32LE(header.length, this.size + header.length);
    const bytes = buffer.subarray(0, this.size + header.length + 4);
    this.buf = undefined;
    return { id: fileId(bytes), bytes, entries: this.entries, buffer };
  }
}
