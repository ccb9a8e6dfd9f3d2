/**
 * Saves files too large for the blob workers to read whole (archiver.ts `smallLimit`):
 * this thread reads the file into a few reused windows and cuts each window into chunks
 * (content-defined chunking is sequential: each cut depends on the one before), and a blob
 * worker hashes the window's chunks, sealing them too when they are likely new. While a
 * worker hashes one window, this thread reads and cuts the next, so a large file keeps both
 * cores busy instead of one thread reading, cutting and hashing it in turn (docs/PERFORMANCE.md,
 * the "big" data set).
 *
 * Windows are {@link WINDOW_FACTOR} × the chunker's maximum chunk size; a window holds the
 * previous window's unfinished chunk (less than the maximum size) at its start, then the
 * file's next bytes, and is cut while a whole maximum-size stretch remains (or to the end
 * at end of file), so the boundaries are exactly those of chunker/index.ts `chunkBuffer` on
 * the whole file. At most {@link WINDOWS} + 1 windows exist per saver (see `inUse`).
 *
 * Sealing: a window's chunks are sealed on the worker while their bytes are there when
 * most of the file's bytes saved in the last stretch of {@link EVIDENCE} maximum-size
 * chunks were new (before that: when the file has no parent node); otherwise they are only
 * hashed, and the few new chunks are saved from the window once it is back. The next
 * version of a large file (mostly stored already) is thus not compressed in vain, and a
 * new file is not sent to the workers twice.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import type { Chunker } from '../chunker/index.js';
import { ClawbackError } from '../errors.js';
import type { BlobId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { PackBufferPool } from '../pack/buffer-pool.js';
import { Budget } from '../util/budget.js';

/** Window size, as a multiple of the chunker's maximum chunk size. */
export const WINDOW_FACTOR = 2;
/** Windows per saver: one being read and cut, the others with the workers. */
export const WINDOWS = 3;
/** Sealing is decided again after this many maximum-size chunks' worth of a file's bytes. */
export const EVIDENCE = 4;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** What {@link LargeFileSaver.save} reports as it goes. */
export interface LargeFileProgress {
  /** `bytes` more of the file were read and cut. */
  (bytes: number): void;
}

/** Saves large files through the repository's blob workers; see the module comment. */
export class LargeFileSaver {
  private readonly repo: Repository;
  /** The chunker every file of this saver is cut with. */
  readonly chunker: Chunker;
  /** Windows not in use, for reuse (allocated as needed). */
  private readonly windows: PackBufferPool;
  /** Windows in use (being filled, or with the workers), at most {@link WINDOWS} + 1. */
  private readonly inUse = new Budget(WINDOWS + 1);

  constructor(repo: Repository, chunker: Chunker) {
    this.repo = repo;
    this.chunker = chunker;
    this.windows = new PackBufferPool(WINDOW_FACTOR * chunker.maxSize, WINDOWS + 1);
  }

  /**
   * Reads, cuts and saves the file at `path` (opened with O_NOFOLLOW).
   * @param hasParent whether the parent snapshot had this file (its chunks are then
   *   expected to be stored mostly: the first window is only hashed).
   * @param check called before each window (throws to stop, e.g. on abort).
   * @returns the chunk ids in order and the size read, bytes.
   * @throws the fs error of the file; ClawbackError 'INTERNAL' if a worker or the chunker failed.
   */
  async save(path: string, hasParent: boolean, check: () => void, progress?: LargeFileProgress): Promise<{ content: BlobId[]; size: number }> {
    const fd = openSync(path, OPEN_FLAGS);
    const content: BlobId[] = [];
    let size = 0;
    let seal = !hasParent;
    // What the chunks saved so far turned out to be, bytes (see the module comment).
    let seenNew = 0;
    let seen = 0;
    // Windows with the workers, oldest first, each settling once its chunks are saved.
    const pending: Promise<void>[] = [];
    let failed: unknown;
    // The window being filled and cut: this call's to give back if it fails (the windows
    // with the workers come back when their chunks are saved).
    let win: Uint8Array | undefined;
    try {
      win = await this.take();
      let end = 0;
      let eof = false;
      while (!eof && win) {
        check();
        if (failed !== undefined) throw failed;
        while (end < win.length) {
          const got = readSync(fd, win, end, win.length - end, null);
          if (got === 0) {
            eof = true;
            break;
          }
          end += got;
        }
        const lengths: number[] = [];
        let start = 0;
        while (end - start >= this.chunker.maxSize || (eof && start < end)) {
          const len = this.chunker.cut(win, start, end, eof);
          if (len <= 0 || len > end - start) throw new ClawbackError('INTERNAL', `chunker returned length ${len} for ${end - start} available bytes`);
          lengths.push(len);
          start += len;
        }
        progress?.(start);
        size += start;
        // The unfinished chunk moves to the start of the next window before this one goes.
        const next = eof ? undefined : await this.take();
        if (next) next.set(win.subarray(start, end));
        end -= start;
        if (lengths.length === 0) {
          this.give(win);
          win = next;
        } else {
          const sealThis = seal;
          const cut = start;
          const hashed = this.repo.hashCut(win.buffer as ArrayBuffer, lengths, sealThis);
          win = next;
          const previous = pending.at(-1) ?? Promise.resolve();
          const saved = (async () => {
            const r = await hashed;
            const window = new Uint8Array(r.window);
            try {
              // In file order; an earlier window's failure ends the file (its window comes back all the same).
              await previous;
              seenNew += await this.saveChunks(r.ids, lengths, window, r.envelopes);
              content.push(...r.ids);
              seen += cut;
              if (seen >= EVIDENCE * this.chunker.maxSize) {
                seal = seenNew * 2 > seen;
                seenNew = seen = 0;
              }
            } finally {
              this.give(window);
            }
          })();
          saved.catch((err: unknown) => {
            failed ??= err;
          });
          pending.push(saved);
          if (pending.length >= WINDOWS) await pending.shift();
        }
      }
      for (const p of pending) await p;
      return { content, size };
    } catch (err) {
      if (win) this.give(win);
      await Promise.allSettled(pending);
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  /** Saves the chunks of one window (sealed on the worker, or from `window`); returns the bytes of those that were new. */
  private async saveChunks(ids: BlobId[], lengths: number[], window: Uint8Array, envelopes: Buffer[] | undefined): Promise<number> {
    let added = 0;
    if (envelopes) {
      for (let k = 0; k < ids.length; k++) if ((await this.repo.saveSealedBlob('data', ids[k]!, envelopes[k]!, lengths[k]!)).added) added += lengths[k]!;
      return added;
    }
    const present = await this.repo.hasBlobs(ids);
    let pos = 0;
    for (let k = 0; k < ids.length; k++) {
      const len = lengths[k]!;
      // saveBlob copies the bytes before it resolves: the window may be reused after.
      if (!present[k] && (await this.repo.saveBlob('data', window.subarray(pos, pos + len), ids[k])).added) added += len;
      pos += len;
    }
    return added;
  }

  /** A window: waits while {@link WINDOWS} + 1 are in use. */
  private async take(): Promise<Uint8Array> {
    await this.inUse.take(1);
    return this.windows.take();
  }

  /** Gives back a window from {@link take} (its buffer may have been to a worker and back). */
  private give(w: Uint8Array): void {
    this.windows.give(Buffer.from(w.buffer, w.byteOffset, w.byteLength));
    this.inUse.give(1);
  }
}
