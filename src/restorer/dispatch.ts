/**
 * Sends the restorer's leaves (files, SQLite databases, symlinks) to the blob workers,
 * reading each needed part of each pack about once: leaves are collected into windows (in
 * walk order, the order the archiver wrote them), and a window is written pack by pack —
 * one ranged read per run of neighbouring wanted blobs (ranges.ts), every blob of it
 * handed to the files that need it, as restic's restorer does. The next window is
 * collected while one is written. Symlinks and empty files need no pack and go at once.
 *
 * A file's blobs are located in the index when it is added (a blob missing there fails the
 * file before anything is written). Its blobs go to one worker (chosen per directory, see
 * {@link Dispatcher.workerFor}) in segments of at most {@link SEGMENT_BYTES} stored bytes,
 * each blob with its offset in the file; the worker opens each blob (decrypt, decompress,
 * verify the id) and writes it to the file's temp file (file-writer.ts). A file larger than
 * {@link SHARE_ABOVE} has its later segments written by whichever worker is least loaded. A failure on the
 * main side after the first segment (a missing pack, a stop) sends a `cancel` so the worker
 * removes the temp file.
 *
 * Memory: at most `maxBytes` of stored blob bytes are in flight to the workers (taken
 * before a segment is sent, given back when the worker is done with it), plus three
 * reused buffers of {@link MAX_RANGE} bytes for pack ranges (the one being handed out, the
 * next, prefetched, and a spare; a range is copied into the workers' batches before its
 * buffer is reused), plus the metadata of at most three windows (≤ {@link WINDOW_LEAVES} leaves
 * and ≤ {@link WINDOW_BYTES} stored bytes each) and `maxLeaves` leaves in flight.
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId } from '../ids.js';
import type { BlobLocation } from '../index/cache.js';
import type { OpenPool } from '../repository/open-pool.js';
import type { Repository } from '../repository/repository.js';
import type { TreeNode } from '../tree/node.js';
import { Budget } from '../util/budget.js';
import { PackBufferPool } from '../pack/buffer-pool.js';
import { JobSender, type FileJob, type LeafOutcome, type Segment } from './file-jobs.js';
import type { WriteTask } from './file-writer.js';
import { planRanges, type PackRange, type WantedBlob } from './ranges.js';

/** Largest segment of one file sent to a worker at once, stored bytes (one blob may exceed it). */
export const SEGMENT_BYTES = 4 << 20;
/**
 * A file of more stored bytes than this is shared out among the workers (file-jobs.ts): its
 * segments after the first go to the least loaded worker. Smaller files stay on one worker
 * (one open file, writes in one thread), which the many small files of a tree keep busy.
 */
export const SHARE_ABOVE = 2 * SEGMENT_BYTES;
/** Longest ranged read of a pack, bytes. */
export const MAX_RANGE = 4 << 20;
/** Range buffers kept for reuse: the one being handed out, the next (prefetched) and a spare. */
const RANGE_BUFFERS = 3;
/** Unneeded bytes read between two wanted blobs of a pack at most. */
export const MAX_GAP = 1 << 20;
/** Leaves per window at most (the first windows are smaller, so writing starts early). */
export const WINDOW_LEAVES = 1024;
const FIRST_WINDOW_LEAVES = 256;
/** Stored bytes per window at most (the metadata is kept, not the bytes). */
export const WINDOW_BYTES = 64 << 20;
/** A directory's worker moves to a less busy one only when it has more work than this queued (task costs). */
const REBALANCE_ABOVE = 256;

/** Why a leaf was not attempted: the restore is stopping. */
export const STOPPED = new ClawbackError('ABORTED', 'restore stopped before this entry');


/** Which worker a directory's leaves go to (see {@link Dispatcher.add}). */
export interface Affinity {
  worker?: number;
}

/** A file, SQLite database or symlink to restore. */
export interface Leaf {
  node: TreeNode;
  /** The directory it goes into. */
  dir: string;
  /** The directory's worker choice, kept between calls. */
  affinity: Affinity;
  /** Called once with the outcome. */
  done: (o: LeafOutcome) => void;
}

/** Options of {@link Dispatcher}. */
export interface DispatchOptions {
  /** Stored blob bytes in flight at most. */
  maxBytes: number;
  /** Leaves added and not done at most. */
  maxLeaves: number;
  /** Leave these files' temp files for the caller (SQLite databases with a placing hook). */
  keep: (node: TreeNode) => boolean;
  /** True once the restore is stopping: nothing new is started. */
  stopped: () => boolean;
  /** Called with an error that must stop the whole restore (a backend failure). */
  fatal: (err: unknown) => void;
  /** Seconds for fs.utimes from ns (restorer.ts `timeOf`). */
  timeOf: (ns: bigint) => number;
}

interface Window {
  jobs: FileJob[];
  bytes: number;
}

type Ref = { job: FileJob; index: number };

/** Feeds leaves to an {@link OpenPool} running the file writer. */
export class Dispatcher {
  private readonly repo: Repository;
  private readonly pool: OpenPool;
  private readonly o: DispatchOptions;
  private readonly bytes: Budget;
  private readonly leaves: Budget;
  private readonly jobs: JobSender;
  private window: Window = { jobs: [], bytes: 0 };
  private windowLeaves = FIRST_WINDOW_LEAVES;
  /** Sealed windows being written, oldest first. */
  private readonly flushing: Promise<void>[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Buffers for pack ranges, reused (see {@link rangeBuffer}). */
  private readonly rangeBuffers = new PackBufferPool(MAX_RANGE, RANGE_BUFFERS);

  constructor(repo: Repository, pool: OpenPool, o: DispatchOptions) {
    this.repo = repo;
    this.pool = pool;
    this.o = o;
    this.bytes = new Budget(o.maxBytes);
    this.leaves = new Budget(o.maxLeaves);
    this.jobs = new JobSender(pool, this.bytes, { keep: o.keep, timeOf: o.timeOf, shareAbove: SHARE_ABOVE });
  }

  /**
   * Adds leaves (in walk order); resolves once they are accepted (waits while the budgets
   * are exhausted). Their blobs are located in one batch. Never throws: each leaf's `done`
   * is called exactly once, later, with its outcome.
   */
  async add(leaves: readonly Leaf[]): Promise<void> {
    const ids: string[] = [];
    for (const l of leaves) if (l.node.content) ids.push(...l.node.content);
    let located: (BlobLocation | ClawbackError)[] = [];
    let lookupError: unknown;
    try {
      if (ids.length > 0) located = await this.repo.locateBlobs(ids);
    } catch (err) {
      lookupError = err;
    }
    let next = 0;
    for (const leaf of leaves) {
      const n = leaf.node.content?.length ?? 0;
      const locs = located.slice(next, next + n);
      next += n;
      if (!this.leaves.tryTake(1)) {
        // Leaves in the open window wait for it to be written: write it rather than wait forever.
        this.seal();
        await this.leaves.take(1);
      }
      this.addOne(leaf, lookupError ?? locs.find((l): l is ClawbackError => l instanceof ClawbackError), locs as BlobLocation[]);
      // At most one sealed window waits while another is written.
      while (this.flushing.length > 1) await this.flushing[0];
    }
  }

  /** Adds one leaf whose leaves budget is taken; `error` fails it at once. */
  private addOne(leaf: Leaf, error: unknown, locs: BlobLocation[]): void {
    const { node, dir, affinity, done } = leaf;
    const finish = (o: LeafOutcome): void => {
      this.leaves.give(1);
      done(o);
    };
    if (this.o.stopped()) return finish({ ok: false, error: STOPPED });
    if (error !== undefined) return finish({ ok: false, error });
    if (node.type === 'symlink') {
      const data: WriteTask = { op: 'symlink', dir, name: node.name, target: node.target ?? '', mtime: this.o.timeOf(node.mtimeNs) };
      this.pool.submit(this.workerFor(affinity), { data, blobs: [], cost: 1 }, (err) => finish(err ? { ok: false, error: err } : { ok: true }));
      return;
    }
    const job = this.jobs.create(node, dir, locs, () => this.workerFor(affinity), finish);
    if (locs.length === 0) {
      this.jobs.send(job, []);
      return;
    }
    let bytes = 0;
    for (const loc of locs) bytes += loc.length;
    this.window.jobs.push(job);
    this.window.bytes += bytes;
    if (this.window.jobs.length >= this.windowLeaves || this.window.bytes >= WINDOW_BYTES) this.seal();
  }

  /** Writes what was added; resolves when everything is sent (not necessarily done). */
  async finish(): Promise<void> {
    this.seal();
    await this.chain;
  }

  /** Closes the open window and queues it for writing. */
  private seal(): void {
    const w = this.window;
    if (w.jobs.length === 0) return;
    this.window = { jobs: [], bytes: 0 };
    this.windowLeaves = Math.min(WINDOW_LEAVES, this.windowLeaves * 4);
    const p = (this.chain = this.chain.then(() => this.flush(w)));
    this.flushing.push(p);
    void p.finally(() => this.flushing.splice(this.flushing.indexOf(p), 1));
  }

  /**
   * The worker for the next leaf of a directory: the directory's worker, so that two
   * workers rarely create files in one directory at once (they would queue on the
   * directory's lock in the kernel), unless it is far busier than the least busy one or
   * another worker is idle (a directory of a few large files, such as an agent's
   * databases, otherwise kept one worker busy while the other waited).
   */
  private workerFor(affinity: Affinity): number {
    const w = affinity.worker;
    const least = this.pool.leastLoaded();
    const busy = w === undefined ? 0 : this.pool.loadOf(w);
    const other = this.pool.loadOf(least);
    if (w === undefined || (busy > REBALANCE_ABOVE && busy > 4 * other) || (other === 0 && busy > 0)) {
      affinity.worker = least;
      return least;
    }
    return w;
  }

  /** Writes a window: pack ranges in order, each handed to the files that need it. */
  private async flush(w: Window): Promise<void> {
    try {
      const wanted: WantedBlob<Ref>[] = [];
      for (const job of w.jobs) job.locs.forEach((loc, index) => wanted.push({ loc, ref: { job, index } }));
      const ranges = planRanges(wanted, { maxGap: MAX_GAP, maxRange: MAX_RANGE });
      const loads: Promise<Uint8Array>[] = [];
      // The buffer each load may read into (see rangeBuffer), given back once its range is
      // handed out or its load failed, whether the backend used it or not.
      const into: (Buffer | undefined)[] = [];
      const load = (k: number): void => {
        const r = ranges[k];
        if (!r || loads[k]) return;
        into[k] = this.rangeBuffer(r.length);
        loads[k] = this.repo.backend.load({ type: 'data', name: r.packId }, { offset: r.offset, length: r.length, into: into[k] });
        loads[k].catch(() => undefined); // handled when awaited; may be skipped after a stop
      };
      const giveBack = (k: number): void => {
        const buf = into[k];
        if (buf) this.rangeBuffers.give(buf);
      };
      for (let k = 0; k < ranges.length && !this.o.stopped(); k++) {
        load(k);
        load(k + 1);
        const r = ranges[k]!;
        let buf: Uint8Array;
        try {
          buf = await loads[k]!;
        } catch (err) {
          if (!isClawbackError(err, 'BLOB_NOT_FOUND')) throw err;
          this.packMissing(r, err);
          giveBack(k);
          continue;
        }
        delete loads[k];
        await this.hand(r, buf);
        // Every blob of the range is copied into a worker's batch now: its buffer is free.
        this.pool.flush();
        giveBack(k);
      }
    } catch (err) {
      this.o.fatal(err);
    } finally {
      for (const job of w.jobs) this.jobs.fail(job, STOPPED);
    }
  }

  /**
   * A buffer of {@link MAX_RANGE} bytes to read a range of `length` bytes into (reused: one
   * allocation per range made V8 collect its heap every few ranges, for the external
   * memory); undefined for a longer range (one blob larger than MAX_RANGE).
   */
  private rangeBuffer(length: number): Buffer | undefined {
    return length > MAX_RANGE ? undefined : this.rangeBuffers.take();
  }

  /** Hands the blobs of range `r` (bytes `buf`) to their files. */
  private async hand(r: PackRange<Ref>, buf: Uint8Array): Promise<void> {
    const perJob = new Map<FileJob, WantedBlob<Ref>[]>();
    for (const b of r.blobs) {
      let list = perJob.get(b.ref.job);
      if (!list) perJob.set(b.ref.job, (list = []));
      list.push(b);
    }
    for (const [job, blobs] of perJob) {
      if (job.closed) continue;
      let seg: Segment = [];
      let segBytes = 0;
      for (let i = 0; i < blobs.length; i++) {
        const { loc, ref } = blobs[i]!;
        const at = loc.offset - r.offset;
        seg.push({ loc, stored: buf.subarray(at, at + loc.length), index: ref.index });
        segBytes += loc.length;
        const next = blobs[i + 1];
        if (!next || segBytes + next.loc.length > SEGMENT_BYTES) {
          if (this.o.stopped()) return;
          if (!this.bytes.tryTake(segBytes)) await this.bytes.take(segBytes);
          this.jobs.sendSegment(job, seg, segBytes);
          seg = [];
          segBytes = 0;
        }
      }
    }
  }

  /** Every file needing range `r` of a missing pack fails, naming the pack and its blob. */
  private packMissing(r: PackRange<Ref>, cause: unknown): void {
    for (const b of r.blobs) {
      const { loc } = b;
      const msg = `pack ${shortId(loc.packId)} holding blob ${shortId(loc.id)} is missing`;
      this.jobs.fail(b.ref.job, new ClawbackError('INTEGRITY', msg, { cause, details: { pack: loc.packId, blob: loc.id } }));
    }
  }

}
