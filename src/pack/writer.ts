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

/** Collects sealed blobs and produces pack files. */
export class PackWriter {
  readonly entries: PackEntry[] = [];
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  /** Stored bytes of blobs so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Number of blobs so far. */
  get count(): number {
    return this.entries.length;
  }

  /** Appends an already sealed blob envelope. */
  add(type: BlobType, id: string, stored: Uint8Array, rawLength: number): PackEntry {
    const entry: PackEntry = { type, id, offset: this.size, length: stored.byteLength, rawLength };
    this.entries.push(entry);
    this.parts.push(stored);
    this.size += stored.byteLength;
    return entry;
  }

  /** Seals the header and returns the complete pack. The writer must not be used after. */
  finish(cipher: Cipher): FinishedPack {
    const header = sealEnvelope(cipher, encodePackHeader(this.entries), 3);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length, 0);
    const bytes = Buffer.concat([...this.parts, header, len]);
    this.parts.length = 0;
    return { id: fileId(bytes), bytes, entries: this.entries };
  }
}
