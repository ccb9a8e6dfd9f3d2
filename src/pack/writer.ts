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

/** Capacity of a writer given no hint, bytes (it grows as needed). */
const DEFAULT_CAPACITY = 1 << 20;

/**
 * Collects sealed blobs and produces pack files. Blobs are copied, back to back, into one
 * buffer sized for the whole pack (the `capacity` hint; it grows by doubling when a pack
 * turns out larger), and the header and trailer are written after them in the same buffer:
 * the finished pack is a view of it, never a concatenated copy, and the writer holds one
 * large buffer instead of one object per blob (a pack of small files has tens of thousands
 * of blobs). Untouched capacity costs address space, not memory; a buffer from a pool
 * (see PackBufferPool) was touched by earlier packs and stays resident while in use.
 */
export class PackWriter {
  readonly entries: PackEntry[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private size = 0;
  private readonly source: number | PackBufferPool;

  /**
   * @param capacity bytes to reserve (the expected pack size plus its largest blob), or a
   *   pool to take a buffer from (see {@link FinishedPack.buffer}). The buffer is taken when
   *   the first blob arrives: an idle writer holds none.
   */
  constructor(capacity: number | PackBufferPool = DEFAULT_CAPACITY) {
    this.source = capacity;
  }

  /** Stored bytes of blobs so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Number of blobs so far. */
  get count(): number {
    return this.entries.length;
  }

  /** Makes room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.buf.length === 0) this.buf = typeof this.source === 'number' ? Buffer.allocUnsafeSlow(Math.max(1024, this.source)) : this.source.take();
    if (this.size + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.size + n));
    this.buf.copy(grown, 0, 0, this.size);
    this.buf = grown;
  }

  /** Appends (copies) an already sealed blob envelope. */
  add(type: BlobType, id: string, stored: Uint8Array, rawLength: number): PackEntry {
    const entry: PackEntry = { type, id, offset: this.size, length: stored.byteLength, rawLength };
    this.entries.push(entry);
    this.reserve(stored.byteLength);
    this.buf.set(stored, this.size);
    this.size += stored.byteLength;
    return entry;
  }

  /** Seals the header and returns the complete pack. The writer must not be used after. */
  finish(cipher: Cipher): FinishedPack {
    const header = sealEnvelope(cipher, encodePackHeader(this.entries), 3);
    this.reserve(header.length + 4);
    this.buf.set(header, this.size);
    this.buf.writeUInt32LE(header.length, this.size + header.length);
    const buffer = this.buf;
    const bytes = buffer.subarray(0, this.size + header.length + 4);
    this.buf = Buffer.alloc(0);
    return { id: fileId(bytes), bytes, entries: this.entries, buffer };
  }
}
