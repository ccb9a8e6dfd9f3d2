/**
 * Flow control for the archiver's concurrent walk.
 *
 * - {@link Slots}: a counting semaphore; {@link Slots.acquire} waiters are served last in,
 *   first out, so directories queued for listing are taken depth first and the number of
 *   directories open at once stays near (slots × depth) instead of growing to whole levels
 *   of the tree, as first-in-first-out (breadth first) would.
 * - {@link ReadQueue}: batches small files for {@link Repository.hashFiles} (one worker
 *   message per batch) and bounds the bytes being read at once.
 * - {@link Countdown}: one promise for many callbacks (a directory's files in flight).
 */
import type { HashedFile } from '../repository/seal-pool.js';
import type { Chunker } from '../chunker/index.js';
import type { BlobId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { Budget } from '../util/budget.js';

/** A counting semaphore whose waiters are served last in, first out. */
export class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  /** @param n number of slots (≥ 1). */
  constructor(n: number) {
    this.free = n;
  }

  /** Resolves once a slot is held; give it back with {@link release}. */
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((r) => this.waiters.push(r));
  }

  /** Takes a slot if one is free (without waiting: no promise); true when it did. */
  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }

  /** Gives a slot back (to the newest waiter, if any). */
  release(): void {
    const w = this.waiters.pop();
    if (w) w();
    else this.free++;
  }
}

/**
 * Waits for a set of callbacks without a promise each: {@link add} before each piece of work
 * starts, {@link done} or {@link fail} exactly once when it ends. {@link close} (once, after
 * the last `add`) returns a promise that settles when every piece has ended: fulfilled, or
 * rejected with the first failure. It never settles before all have ended, so a caller
 * waiting on it after a failure knows nothing is still running.
 */
export class Countdown {
  private left = 0;
  private closed = false;
  private failed = false;
  private error: unknown;
  private settle: (() => void) | undefined;

  /** Counts one more piece of work. */
  add(): void {
    this.left++;
  }

  /** One piece ended well. */
  done(): void {
    if (--this.left === 0 && this.closed) this.settle?.();
  }

  /** One piece ended with `err` (the first such error is the one {@link close} rejects with). */
  fail(err: unknown): void {
    if (!this.failed) {
      this.failed = true;
      this.error = err;
    }
    this.done();
  }

  /** Settles once every piece counted so far has ended (see the class comment). */
  close(): Promise<void> {
    this.closed = true;
    if (this.left === 0) return this.failed ? Promise.reject(this.error) : Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.settle = () => (this.failed ? reject(this.error) : resolve());
    });
  }
}

/** Limits of a {@link ReadQueue}. */
export interface ReadQueueLimits {
  /** Files per worker message. */
  batchFiles: number;
  /** Bytes (by size hint) per worker message. */
  batchBytes: number;
  /** Bytes (by size hint) submitted and not yet handed back, at most (one file may exceed it). */
  inFlightBytes: number;
}

/**
 * The read queue's choice whether the workers seal what they read: sealing a chunk that
 * turns out to be stored already (the same content under another path, a copied tree)
 * wastes its compression, so sealing stays on only while at most a quarter of the chunks
 * sealed in the last window existed; when off, every 64th batch is sealed again as a probe.
 */
export class SealingChoice {
  private added = 0;
  private existing = 0;
  private on = true;
  private batches = 0;

  /** Whether the next batch should be sealed on the workers. */
  wanted(): boolean {
    this.batches++;
    return this.on || this.batches % 64 === 0;
  }

  /** Records the chunks of one sealed file: `added` were new, `existing` were stored already. */
  record(added: number, existing: number): void {
    this.added += added;
    this.existing += existing;
    const n = this.added + this.existing;
    if (n < 64) return;
    this.on = this.existing * 4 <= n;
    this.added = 0;
    this.existing = 0;
  }
}

/** Defaults: 256 files or 4 MiB per message, 32 MiB in flight. */
export const DEFAULT_READ_QUEUE_LIMITS: ReadQueueLimits = { batchFiles: 256, batchBytes: 4 << 20, inFlightBytes: 32 << 20 };

interface Pending {
  path: string;
  hint: number;
  prev: readonly BlobId[] | null;
  resolve: (r: HashedFile) => void;
  reject: (e: unknown) => void;
}

/**
 * Reads and hashes small files on the repository's blob workers, many per message. A batch
 * is sent when full, or at the end of the current event-loop turn.
 */
export class ReadQueue {
  private readonly repo: Repository;
  private readonly chunker: Chunker | undefined;
  private readonly limits: ReadQueueLimits;
  private batch: Pending[] = [];
  /**
   * Whether the workers seal what they read (see `Repository.hashFiles`): on while most
   * chunks sealed that way turn out new, off once too many were already stored (their
   * sealing was wasted work), and probed again now and then.
   */
  private readonly sealing = new SealingChoice();
  private batchBytes = 0;
  /** Bytes (by size hint) read and not yet handed back; granted first come, first served. */
  private readonly inFlight: Budget;

  /** @param chunker cuts the files on the workers (see `Repository.hashFiles`); none: one chunk each. */
  constructor(repo: Repository, chunker?: Chunker, limits: ReadQueueLimits = DEFAULT_READ_QUEUE_LIMITS) {
    this.repo = repo;
    this.chunker = chunker;
    this.limits = limits;
    this.inFlight = new Budget(limits.inFlightBytes);
  }

  /**
   * Queues the file at `path` (expected `hint` bytes). Waits while too many bytes are in
   * flight. The bytes count as in flight until {@link done} is called with `hint`.
   * @param prev the chunk ids the caller expects (the parent snapshot's), or null.
   * @returns the file's content and chunk ids, `same` (its ids are `prev`), `grew`, or its
   *   fs error (see `HashedFile`).
   * @throws ClawbackError 'INTERNAL' if the worker failed.
   */
  async read(path: string, hint: number, prev: readonly BlobId[] | null = null): Promise<HashedFile> {
    if (!this.inFlight.tryTake(hint)) {
      // Send what is queued, so that the bytes in flight come back and make room.
      this.flush();
      await this.inFlight.take(hint);
    }
    return new Promise<HashedFile>((resolve, reject) => this.enqueue({ path, hint, prev, resolve, reject }));
  }

  /**
   * {@link read} without a promise, for callers that settle many files at once: queues the
   * file and calls `resolve` (or `reject`, as `read` would reject) when its batch comes
   * back. Only when `hint` bytes fit the in-flight budget now; otherwise queues nothing and
   * returns false (the caller then uses {@link read}, which waits for room). `resolve` and
   * `reject` must not throw: a batch's callbacks are called in one loop, and one that threw
   * would leave the files after it unanswered.
   */
  submit(path: string, hint: number, prev: readonly BlobId[] | null, resolve: (r: HashedFile) => void, reject: (e: unknown) => void): boolean {
    if (!this.inFlight.tryTake(hint)) return false;
    this.enqueue({ path, hint, prev, resolve, reject });
    return true;
  }

  private enqueue(p: Pending): void {
    if (this.batch.length === 0) setImmediate(() => this.flush());
    this.batch.push(p);
    this.batchBytes += p.hint;
    if (this.batch.length >= this.limits.batchFiles || this.batchBytes >= this.limits.batchBytes) this.flush();
  }

  /** Marks `hint` bytes of a {@link read} or {@link submit} as handed back (its content saved or dropped). */
  done(hint: number): void {
    this.inFlight.give(hint);
  }

  /** Reports how the chunks of a `sealed` result fared: `added` new, `existing` already stored. */
  sealedOutcome(added: number, existing: number): void {
    this.sealing.record(added, existing);
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    const prev = batch.some((p) => p.prev !== null) ? batch.map((p) => p.prev) : undefined;
    this.repo.hashFiles(batch.map((p) => p.path), batch.map((p) => p.hint), this.chunker, prev, this.sealing.wanted()).then(
      (results) => batch.forEach((p, i) => p.resolve(results[i]!)),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  }
}
