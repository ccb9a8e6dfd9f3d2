/**
 * Assembles one pack in memory (packs are small: the configured pack size, 16 MiB by
 * default, plus at most one blob).
 */
import { fileId } from '../crypto/hash.js';
import { sealEnvelope, type Cipher } from '../crypto/envelope.js';
import type { FileId } from '../ids.js';
import { encodePackHeader, type BlobType, type PackEntry } from './format.js';

/** A finished pack: its bytes, id (BLAKE3 of the bytes) and entries. */
export interface FinishedPack {
  id: FileId;
  bytes: Buffer;
  entries: PackEntry[];
}

/** Size of the pages blobs are copied into, bytes. */
const PAGE_BYTES = 1 << 20;

/**
 * Collects sealed blobs and produces pack files. Blobs are copied into 1 MiB pages as they
 * come, so the writer holds a few large buffers instead of one object per blob (a pack of
 * small files has tens of thousands of blobs) and never pins the buffers the blobs came in.
 */
export class PackWriter {
  readonly entries: PackEntry[] = [];
  private readonly pages: Buffer[] = [];
  /** Bytes used in the last page. */
  private used = 0;
  private size = 0;

  /** Stored bytes of blobs so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Number of blobs so far. */
  get count(): number {
    return this.entries.length;
  }

  /** Appends (copies) an already sealed blob envelope. */
  add(type: BlobType, id: string, stored: Uint8Array, rawLength: number): PackEntry {
    const entry: PackEntry = { type, id, offset: this.size, length: stored.byteLength, rawLength };
    this.entries.push(entry);
    let at = 0;
    while (at < stored.byteLength) {
      let page = this.pages[this.pages.length - 1];
      if (!page || this.used === page.length) {
        page = Buffer.allocUnsafe(Math.max(PAGE_BYTES, stored.byteLength - at));
        this.pages.push(page);
        this.used = 0;
      }
      const n = Math.min(page.length - this.used, stored.byteLength - at);
      page.set(stored.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
    }
    this.size += stored.byteLength;
    return entry;
  }

  /** Seals the header and returns the complete pack. The writer must not be used after. */
  finish(cipher: Cipher): FinishedPack {
    const header = sealEnvelope(cipher, encodePackHeader(this.entries), 3);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length, 0);
    const last = this.pages.length - 1;
    const parts = this.pages.map((p, i) => (i === last ? p.subarray(0, this.used) : p));
    const bytes = Buffer.concat([...parts, header, len]);
    this.pages.length = 0;
    return { id: fileId(bytes), bytes, entries: this.entries };
  }
}
