/**
 * Reading blobs (trees, for `verify` and gc's mark phase) through the index files' view
 * ({@link LiveIndex}) instead of the LMDB cache, which may be stale or damaged.
 *
 * Packs are read whole and kept in a small LRU: tree blobs are written together into tree
 * packs in walk order, so a walk reads each tree pack about once — one read per pack
 * instead of one open/read/close (or one S3 request) per tree. Evicted packs are freed at
 * once (release.ts), and all of them by {@link BlobReader.close}.
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';
import { releaseBytes } from './release.js';

/** Default memory for whole packs kept by a {@link BlobReader}, bytes. */
export const DEFAULT_READER_CACHE = 32 << 20;

/** Loads blobs through the locations of a {@link LiveIndex}; one read at a time. */
export class BlobReader {
  private readonly repo: Repository;
  private readonly index: LiveIndex;
  private readonly present: ReadonlyMap<FileId, number>;
  private readonly maxBytes: number;
  /** Whole packs, least recently used first. */
  private readonly packs = new Map<FileId, Promise<Uint8Array>>();
  private readonly sizes = new Map<FileId, number>();
  private bytes = 0;

  /**
   * @param present the files in `data/` (id → size): only copies in these packs are read.
   * @param cacheBytes memory for whole packs kept between reads (default 32 MiB; the pack
   *   being read is always kept).
   */
  constructor(repo: Repository, index: LiveIndex, present: ReadonlyMap<FileId, number>, cacheBytes = DEFAULT_READER_CACHE) {
    this.repo = repo;
    this.index = index;
    this.present = present;
    this.maxBytes = cacheBytes;
  }

  /** The bytes of pack `id`, loaded once while cached. */
  private pack(id: FileId): Promise<Uint8Array> {
    const hit = this.packs.get(id);
    if (hit) {
      this.packs.delete(id);
      this.packs.set(id, hit);
      return hit;
    }
    const p = this.repo.backend.load({ type: 'data', name: id }).then(
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
    for (const [id, p] of this.packs) {
      if (this.bytes <= this.maxBytes) return;
      const size = this.sizes.get(id);
      if (id === keep || size === undefined) continue; // still loading
      this.packs.delete(id);
      this.sizes.delete(id);
      this.bytes -= size;
      void p.then(releaseBytes);
    }
  }

  /** Frees the cached packs. Blobs read before must not be used after. */
  async close(): Promise<void> {
    const all = [...this.packs.values()];
    this.packs.clear();
    this.sizes.clear();
    this.bytes = 0;
    for (const r of await Promise.allSettled(all)) if (r.status === 'fulfilled') releaseBytes(r.value);
  }

  /**
   * Loads blob `id`, trying each listed copy in a present pack until one opens and
   * re-hashes correctly.
   * The plaintext may share memory with a cached pack: use it before the next `read` or
   * `close` (a later read may free that pack).
   * @param skip copies known to be damaged (`pack:offset` keys), tried last.
   * @throws ClawbackError `BLOB_NOT_FOUND` when no live index file lists it in a present
   *   pack; `INTEGRITY` (the first copy's error) when every copy is damaged or missing.
   */
  async read(id: BlobId, skip?: ReadonlySet<string>): Promise<Buffer> {
    const copies = this.index.copies(id).filter((e) => this.present.has(this.index.packId(this.index.packOf(e))));
    if (copies.length === 0) {
      throw new ClawbackError('BLOB_NOT_FOUND', `blob ${shortId(id)} is not in any pack`, { details: { blob: id } });
    }
    if (skip && skip.size > 0) {
      const bad = (e: number) => Number(skip.has(`${this.index.packId(this.index.packOf(e))}:${this.index.offset(e)}`));
      copies.sort((a, b) => bad(a) - bad(b));
    }
    let first: unknown;
    for (const e of copies) {
      const loc = this.index.location(e);
      try {
        let bytes: Uint8Array;
        try {
          bytes = await this.pack(loc.packId);
        } catch (err) {
          if (!isClawbackError(err, 'BLOB_NOT_FOUND')) throw err;
          throw new ClawbackError('INTEGRITY', `pack ${shortId(loc.packId)} holding blob ${shortId(loc.id)} is missing`, { cause: err, details: { pack: loc.packId, blob: loc.id } });
        }
        return this.repo.openBlob(loc, bytes.subarray(Math.min(loc.offset, bytes.byteLength), Math.min(bytes.byteLength, loc.offset + loc.length)));
      } catch (err) {
        if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
        first ??= err;
      }
    }
    throw first;
  }
}
