/**
 * Writes new blobs: dedup against the index, seal on worker threads, collect into packs
 * (one open pack per blob type), upload packs with bounded concurrency, and write an index
 * file for uploaded packs. Write order: pack → index file → (caller) snapshot, so a crash
 * anywhere leaves only unreferenced packs.
 *
 * Memory is bounded by {@link SaverLimits}: bytes being sealed, two open packs and the packs
 * being uploaded; the set of blobs written but not yet indexed is flushed to an index file
 * every {@link SaverLimits.indexEvery} blobs.
 */
import type { Backend } from '../backend/backend.js';
import { ClawbackError, isClawbackError } from '../errors.js';
import { fileId } from '../crypto/hash.js';
import type { Cipher } from '../crypto/envelope.js';
import type { BlobId, FileId } from '../ids.js';
import { PackBufferPool } from '../pack/buffer-pool.js';
import { PackWriter } from '../pack/writer.js';
import { ENTRY_BYTES, type BlobType, type PackEntry } from '../pack/format.js';
import type { IndexedPack } from '../index/format.js';
import type { BlobLocation } from '../index/cache.js';
import type { SealPool } from './seal-pool.js';
import { Budget } from '../util/budget.js';

/** Room reserved in a pack writer beyond the pack size, bytes (see BlobSaver.newWriter). */
const PACK_HEADROOM = 4 << 20;

/**
 * An uploaded pack whose blobs are not yet in a committed index file. Every pending blob of
 * it maps to this one object (not to a location object per blob: a pack of small files
 * holds a hundred thousand blobs); {@link byId} is built only if a location is asked for.
 */
interface UploadedPack {
  id: FileId;
  entries: PackEntry[];
  byId?: Map<BlobId, PackEntry>;
}

/** Resource limits of a {@link BlobSaver}. */
export interface SaverLimits {
  /** Target pack size in bytes. */
  packSize: number;
  /** Plaintext bytes allowed in the seal pool at once. */
  sealBytes: number;
  /** Packs uploading at once. */
  uploads: number;
  /** Write an index file after this many unindexed blobs. */
  indexEvery: number;
}

/** Counters of what a saver wrote. */
export interface SaverStats {
  /** New blobs written. */
  blobsAdded: number;
  /** Plaintext bytes of new blobs. */
  bytesAdded: number;
  /** Stored bytes of new blobs (after compression and encryption). */
  storedBytesAdded: number;
  /** Packs uploaded. */
  packsWritten: number;
}

/** Result of {@link BlobSaver.save}. */
export interface SaveTicket {
  id: BlobId;
  /** False when the blob already existed (deduplicated). */
  added: boolean;
  /** Settles when the blob is in an open pack (rejects if sealing failed). */
  done: Promise<void>;
}

/** What the saver needs from the repository. */
export interface SaverHost {
  backend: Backend;
  cipher: Cipher;
  pool: SealPool;
  /** True if the blob is in the committed index. */
  isIndexed(id: BlobId): boolean;
  /** Writes an index file for `packs` and merges it into the cache. */
  writeIndex(packs: IndexedPack[]): Promise<void>;
}

/** See the module comment. */
export class BlobSaver {
  readonly stats: SaverStats = { blobsAdded: 0, bytesAdded: 0, storedBytesAdded: 0, packsWritten: 0 };
  private readonly host: SaverHost;
  private readonly limits: SaverLimits;
  /** Blobs written in this session and not yet in a committed index file; null = not uploaded. */
  private readonly pending = new Map<BlobId, UploadedPack | null>();
  private readonly writers: Record<BlobType, PackWriter>;
  /** Pack buffers: one per writer and per upload in flight are ever in use. */
  private readonly buffers: PackBufferPool;
  private readonly sealing = new Set<Promise<void>>();
  /** Plaintext bytes in the seal pool (at most `sealBytes`; granted first come, first served). */
  private readonly sealRoom: Budget;
  private readonly uploading = new Set<Promise<void>>();
  private unindexed: IndexedPack[] = [];
  private unindexedBlobs = 0;
  private error: unknown;

  constructor(host: SaverHost, limits: SaverLimits) {
    this.host = host;
    this.limits = limits;
    this.sealRoom = new Budget(limits.sealBytes);
    this.buffers = new PackBufferPool(limits.packSize + PACK_HEADROOM, limits.uploads + 1);
    this.writers = { data: this.newWriter(), tree: this.newWriter() };
  }

  /**
   * A pack writer with room for a whole pack: it closes once its blobs and header reach the
   * pack size (see {@link isFull}), so it holds at most that plus one blob and the header's
   * envelope ({@link PACK_HEADROOM} covers most blobs; beyond it the writer grows).
   */
  private newWriter(): PackWriter {
    return new PackWriter(this.buffers);
  }

  /** True if `id` is indexed or written in this session. */
  has(id: BlobId): boolean {
    return this.pending.has(id) || this.host.isIndexed(id);
  }

  /** Location of a blob uploaded in this session but not yet indexed. */
  pendingLocation(id: BlobId): BlobLocation | undefined {
    const pack = this.pending.get(id);
    if (!pack) return undefined;
    pack.byId ??= new Map(pack.entries.map((e) => [e.id, e]));
    const e = pack.byId.get(id)!;
    return { id, type: e.type, packId: pack.id, offset: e.offset, length: e.length, rawLength: e.rawLength };
  }

  /**
   * True when a pack writer's blobs and header (at most {@link ENTRY_BYTES} per blob before
   * compression) reach the pack size. Counting the header bounds a pack of small blobs
   * too: 16 MiB of 70-byte blobs would otherwise add a 10 MB header and outgrow the writer.
   */
  private isFull(w: PackWriter): boolean {
    return w.byteLength + w.count * ENTRY_BYTES >= this.limits.packSize;
  }

  private check(): void {
    if (this.error !== undefined) throw this.error;
  }

  /**
   * Saves a blob unless it exists. Resolves once the blob is accepted (backpressure); the
   * ticket's `done` settles when it is sealed into a pack.
   * @param id the keyed BLAKE3 of `plaintext` (the caller computed it).
   * @param force write the blob even if the committed index has it (gc repacking a blob
   *   whose only copies are in packs about to be deleted); still deduplicated against
   *   blobs saved in this session.
   */
  async save(type: BlobType, id: BlobId, plaintext: Uint8Array, force = false): Promise<SaveTicket> {
    this.check();
    if (this.pending.has(id) || (!force && this.host.isIndexed(id))) return { id, added: false, done: Promise.resolve() };
    this.pending.set(id, null);
    const size = plaintext.byteLength;
    if (!this.sealRoom.tryTake(size)) {
      await this.sealRoom.take(size);
      if (this.error !== undefined) {
        this.sealRoom.give(size);
        throw this.error;
      }
    }
    const done = this.track(
      id,
      this.host.pool.seal(plaintext).then((stored) => this.addToPack(type, id, stored, size)),
      () => this.sealRoom.give(size),
    );
    return { id, added: true, done };
  }

  /**
   * Tracks the sealing of blob `id` (see {@link flush}): a failure becomes the saver's
   * error and forgets the pending blob; `after` runs once it settles.
   * @returns `work`, rejecting as it does.
   */
  private track(id: BlobId, work: Promise<void>, after?: () => void): Promise<void> {
    const done = work
      .catch((err: unknown) => {
        this.error ??= err;
        this.pending.delete(id);
        throw err;
      })
      .finally(() => {
        this.sealing.delete(tracked);
        after?.();
      });
    const tracked = done.catch(() => undefined);
    this.sealing.add(tracked);
    return done;
  }

  /**
   * Saves a blob already sealed into its envelope (by the blob workers, as {@link SealPool.seal}
   * seals) unless it exists; like {@link save} otherwise. The envelope is copied into the
   * open pack before the returned ticket's `done` settles.
   * @param rawLength the plaintext length in bytes.
   */
  async saveSealed(type: BlobType, id: BlobId, stored: Buffer, rawLength: number): Promise<SaveTicket> {
    this.check();
    if (this.pending.has(id) || this.host.isIndexed(id)) return { id, added: false, done: Promise.resolve() };
    this.pending.set(id, null);
    const done = this.track(id, this.addToPack(type, id, stored, rawLength));
    await done.catch(() => undefined);
    this.check();
    return { id, added: true, done };
  }

  /**
   * {@link saveSealed} of one file's chunks at once, without a promise, when that needs no
   * wait: each blob not yet stored goes into the open pack, which must have room for all of
   * them without filling up (a pack that fills must be closed and uploaded, and that may
   * wait for an upload slot). All or nothing.
   * @param envelopes the sealed blobs (as {@link saveSealed} takes them), with their ids and
   *   plaintext lengths (bytes) at the same index.
   * @returns how many blobs were added (the others were stored already), or undefined when
   *   the open pack has no room: nothing was saved, use {@link saveSealed}.
   * @throws the saver's error, if a pack failed.
   */
  saveSealedNow(type: BlobType, ids: readonly BlobId[], envelopes: readonly Buffer[], rawLengths: readonly number[]): number | undefined {
    this.check();
    const w = this.writers[type];
    let bytes = w.byteLength + (w.count + ids.length) * ENTRY_BYTES;
    for (const e of envelopes) bytes += e.length;
    if (bytes >= this.limits.packSize) return undefined;
    let added = 0;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (this.pending.has(id) || this.host.isIndexed(id)) continue;
      this.pending.set(id, null);
      this.addToOpenPack(w, type, id, envelopes[k]!, rawLengths[k]!);
      added++;
    }
    return added;
  }

  private addToOpenPack(w: PackWriter, type: BlobType, id: BlobId, stored: Buffer, rawLength: number): void {
    // The writer copies `stored`, a view into its seal batch's output shared with other
    // blobs: the batch is released at once, whichever packs its blobs go to.
    w.add(type, id, stored, rawLength);
    this.stats.blobsAdded++;
    this.stats.bytesAdded += rawLength;
    this.stats.storedBytesAdded += stored.length;
  }

  private async addToPack(type: BlobType, id: BlobId, stored: Buffer, rawLength: number): Promise<void> {
    const w = this.writers[type];
    this.addToOpenPack(w, type, id, stored, rawLength);
    if (this.isFull(w)) await this.closePack(type);
  }

  private async closePack(type: BlobType): Promise<void> {
    const w = this.writers[type];
    if (w.count === 0) return;
    this.writers[type] = this.newWriter();
    const pack = w.finish(this.host.cipher);
    while (this.uploading.size >= this.limits.uploads) await Promise.race(this.uploading);
    const up = this.uploadPack(pack.id, pack.bytes)
      .then(async () => {
        this.stats.packsWritten++;
        const uploaded: UploadedPack = { id: pack.id, entries: pack.entries };
        for (const e of pack.entries) this.pending.set(e.id, uploaded);
        this.unindexed.push({ id: pack.id, size: pack.bytes.length, blobs: pack.entries });
        this.unindexedBlobs += pack.entries.length;
        if (this.unindexedBlobs >= this.limits.indexEvery) await this.writeIndex();
      })
      .catch((err: unknown) => {
        this.error ??= err;
      })
      .finally(() => {
        this.uploading.delete(up);
        // The backend is done with the bytes (Backend.save keeps no reference once settled).
        this.buffers.give(pack.buffer);
      });
    this.uploading.add(up);
  }

  /**
   * Uploads a pack. Packs are named by their hash, so an existing file of that name holds
   * the same bytes (unencrypted packs are deterministic: a snapshot re-run after a crash
   * rebuilds identical packs) — unless it is damaged: then it is replaced.
   */
  private async uploadPack(id: string, bytes: Buffer): Promise<void> {
    const h = { type: 'data' as const, name: id };
    try {
      await this.host.backend.save(h, bytes);
    } catch (err) {
      if (!isClawbackError(err, 'ALREADY_EXISTS')) throw err;
      const existing = await this.host.backend.load(h);
      if (fileId(existing) === id) return;
      await this.host.backend.remove(h);
      await this.host.backend.save(h, bytes);
    }
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    this.unindexedBlobs = 0;
    await this.host.writeIndex(packs);
    for (const p of packs) for (const b of p.blobs) this.pending.delete(b.id);
  }

  /**
   * Writes everything out: waits for sealing, closes the open packs, waits for uploads and
   * writes an index file. After it resolves every saved blob is in a committed index.
   * @throws the first error any background step hit.
   */
  async flush(): Promise<void> {
    while (this.sealing.size > 0) await Promise.all(this.sealing);
    this.check();
    await this.closePack('data');
    await this.closePack('tree');
    while (this.uploading.size > 0) await Promise.all(this.uploading);
    this.check();
    await this.writeIndex();
    // Every pack is written and the writers are idle (holding no buffer): keep none.
    this.buffers.drain();
    if (this.pending.size !== 0) throw new ClawbackError('INTERNAL', `${this.pending.size} blobs left unindexed after flush`);
  }

  /** Waits for background work to stop (after a failure), ignoring its errors. */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.sealing, ...this.uploading]);
  }
}
