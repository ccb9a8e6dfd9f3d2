/**
 * Whole-pack reads for sequential consumers (restore, copy): the first blob wanted from a
 * pack loads the whole pack once; later blobs of the same pack come from memory. Archivers
 * write files in walk order, so restoring in walk order reads each pack about once — one
 * request per pack instead of one per blob, which matters most for S3.
 *
 * Memory: at most `maxBytes` of packs are kept (least recently used evicted), plus packs
 * being loaded. Concurrent requests for one pack share one load.
 */
import type { Backend } from '../backend/backend.js';
import type { FileId } from '../ids.js';

/** A bounded LRU of whole packs. */
export class PackCache {
  private readonly backend: Backend;
  private readonly maxBytes: number;
  private readonly packs = new Map<FileId, Promise<Uint8Array>>();
  private readonly sizes = new Map<FileId, number>();
  private bytes = 0;

  /** @param maxBytes memory budget in bytes (default 96 MiB). */
  constructor(backend: Backend, maxBytes = 96 << 20) {
    this.backend = backend;
    this.maxBytes = maxBytes;
  }

  /** The bytes of pack `id` (loaded once while cached). */
  get(id: FileId): Promise<Uint8Array> {
    const hit = this.packs.get(id);
    if (hit) {
      // Refresh LRU position.
      this.packs.delete(id);
      this.packs.set(id, hit);
      return hit;
    }
    const p = this.backend.load({ type: 'data', name: id }).then(
      (bytes) => {
        this.sizes.set(id, bytes.byteLength);
        this.bytes += bytes.byteLength;
        this.evict(id);
        return bytes;
      },
      (err: unknown) => {
        this.packs.delete(id);
        throw err;
      },
    );
    this.packs.set(id, p);
    return p;
  }

  private evict(keep: FileId): void {
    for (const id of this.packs.keys()) {
      if (this.bytes <= this.maxBytes) return;
      if (id === keep) continue;
      const size = this.sizes.get(id);
      if (size === undefined) continue; // still loading
      this.packs.delete(id);
      this.sizes.delete(id);
      this.bytes -= size;
    }
  }
}
