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
 * verify the id) and writes it to the file's temp file (file-writer.ts). A failure on the
 * main side after the first segment (a missing pack, a stop) sends a `cancel` so the worker
 * removes the temp file.
 *
 * Memory: at most `maxBytes` of stored blob bytes are in flight to the workers (taken
 * before a segment is sent, given back when the worker is done with it), plus two pack
 * ranges of at most {@link MAX_RANGE} bytes (the one being handed out and the next,
 * prefetched), plus the metadata of at most three windows (≤ {@link WINDOW_LEAVES} leaves
 * and ≤ {@link WINDOW_BYTES} stored bytes each) and `maxLeaves` leaves in flight.
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId } from '../ids.js';
import type { BlobLocation } from '../index/cache.js';
import type { OpenPool } from '../repository/open-pool.js';
import type { Repository } from '../repository/repository.js';
import type { TreeNode } from '../tree/node.js';
import { Budget } from './budget.js';
import type { WriteResult, WriteTask } from './file-writer.js';
import { planRanges, type PackRange, type WantedBlob } from './ranges.js';

/** Largest segment of one file sent to a worker at once, stored bytes (one blob may exceed it). */
export const SEGMENT_BYTES = 4 << 20;
/** Longest ranged read of a pack, bytes. */
export const MAX_RANGE = Number(process.env['DBG_RANGE'] ?? 8) << 20;
/** Unneeded bytes read between two wanted blobs of a pack at most. */
export const MAX_GAP = 1 << 20;
/** Leaves per window at most (the first windows are smaller, so writing starts early). */
export const WINDOW_LEAVES = Number(process.env['DBG_WL'] ?? 2048);
const FIRST_WINDOW_LEAVES = 256;
/** Stored bytes per window at most (the metadata is kept, not the bytes). */
export const WINDOW_BYTES = 64 << 20;
/** A directory's worker moves to a less busy one only when it has more work than this queued (task costs). */
const REBALANCE_ABOVE = 256;

/** Why a leaf was not attempted: the restore is stopping. */
export const STOPPED = new ClawbackError('ABORTED', 'restore stopped before this entry');

/** A leaf's outcome: placed (or, for a kept file, its temp path), or the error that failed it. */
export type LeafOutcome = { ok: true; tmp?: string | undefined } | { ok: false; error: unknown };

/** Which worker a directory's leaves go to (see {@link Dispatcher.add}). */
export interface Affinity {
  worker?: number;
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

interface FileJob {
  node: TreeNode;
  dir: string;
  affinity: Affinity;
  finish: (o: LeafOutcome) => void;
  locs: BlobLocation[];
  /** Offset in the file of each blob, bytes. */
  offsets: number[];
  fid: number;
  worker: number;
  /** Blobs not sent yet. */
  left: number;
  sent: Promise<unknown>[];
  started: boolean;
  /** The last segment or a cancel was sent: nothing more goes to the worker. */
  closed: boolean;
  /** A segment was rejected by the worker (the worker ignores the rest). */
  rejected: boolean;
  failure: unknown;
}

interface Window {
  jobs: FileJob[];
  bytes: number;
}

type Ref = { job: FileJob; index: number };

/** Blobs of one file sent together: their stored bytes and their index in the file. */
type Segment = { loc: BlobLocation; stored: Uint8Array; index: number }[];

/** Feeds leaves to an {@link OpenPool} running the file writer. */
export class Dispatcher {
  private readonly repo: Repository;
  private readonly pool: OpenPool;
  private readonly o: DispatchOptions;
  private readonly bytes: Budget;
  private readonly leaves: Budget;
  private nextFid = 0;
  private window: Window = { jobs: [], bytes: 0 };
  private windowLeaves = FIRST_WINDOW_LEAVES;
  /** Sealed windows being written, oldest first. */
  private readonly flushing: Promise<void>[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(repo: Repository, pool: OpenPool, o: DispatchOptions) {
    this.repo = repo;
    this.pool = pool;
    this.o = o;
    this.bytes = new Budget(o.maxBytes);
    this.leaves = new Budget(o.maxLeaves);
  }

  /**
   * Adds `node`, an entry of directory `dir`; resolves once it is accepted (waits while
   * the budgets are exhausted). Never throws: `done` is called exactly once, later, with
   * the outcome.
   * @param affinity the directory's worker choice, kept between calls.
   */
  async add(node: TreeNode, dir: string, affinity: Affinity, done: (o: LeafOutcome) => void): Promise<void> {
    if (!this.leaves.tryTake(1)) {
      // Leaves in the open window wait for it to be written: write it rather than wait forever.
      this.seal();
      await this.leaves.take(1);
    }
    const finish = (o: LeafOutcome): void => {
      this.leaves.give(1);
      done(o);
    };
    try {
      if (this.o.stopped()) return finish({ ok: false, error: STOPPED });
      if (node.type === 'symlink') {
        const data: WriteTask = { op: 'symlink', dir, name: node.name, target: node.target ?? '', mtime: this.o.timeOf(node.mtimeNs) };
        this.pool.run(this.workerFor(affinity), { data, blobs: [], cost: 1 }).then(
          () => finish({ ok: true }),
          (error: unknown) => finish({ ok: false, error }),
        );
        return;
      }
      const locs: BlobLocation[] = [];
      const offsets: number[] = [];
      let at = 0;
      let bytes = 0;
      for (const id of node.content ?? []) {
        const loc = await this.repo.locateBlob(id);
        locs.push(loc);
        offsets.push(at);
        at += loc.rawLength;
        bytes += loc.length;
      }
      const job: FileJob = { node, dir, affinity, finish, locs, offsets, fid: this.nextFid++, worker: 0, left: locs.length, sent: [], started: false, closed: false, rejected: false, failure: undefined };
      if (locs.length === 0) {
        this.send(job, []);
        return;
      }
      this.window.jobs.push(job);
      this.window.bytes += bytes;
      if (this.window.jobs.length >= this.windowLeaves || this.window.bytes >= WINDOW_BYTES) this.seal();
      // At most one sealed window waits while another is written.
      while (this.flushing.length > 1) await this.flushing[0];
    } catch (error) {
      finish({ ok: false, error });
    }
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
   * directory's lock in the kernel), unless it is far busier than the least busy one.
   */
  private workerFor(affinity: Affinity): number {
    const w = affinity.worker;
    const least = this.pool.leastLoaded();
    if (w === undefined || (this.pool.loadOf(w) > REBALANCE_ABOVE && this.pool.loadOf(w) > 4 * this.pool.loadOf(least))) {
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
      const load = (k: number): void => {
        const r = ranges[k];
        if (!r || loads[k]) return;
        loads[k] = this.repo.backend.load({ type: 'data', name: r.packId }, { offset: r.offset, length: r.length });
        loads[k].catch(() => undefined); // handled when awaited; may be skipped after a stop
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
          continue;
        }
        delete loads[k];
        await this.hand(r, buf);
      }
    } catch (err) {
      this.o.fatal(err);
    } finally {
      for (const job of w.jobs) this.fail(job, STOPPED);
    }
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
          this.sendSegment(job, seg, segBytes);
          seg = [];
          segBytes = 0;
        }
      }
    }
  }

  /** Sends one segment of `job` whose `bytes` of budget were taken (given back when it settles). */
  private sendSegment(job: FileJob, seg: Segment, bytes: number): void {
    if (job.closed || job.rejected) {
      this.bytes.give(bytes);
      // The worker dropped the file at the rejected segment: end it there too.
      if (job.rejected) this.fail(job, undefined);
      return;
    }
    this.send(job, seg, () => this.bytes.give(bytes));
  }

  /** Sends a segment of `job` (the first picks the worker; the last closes the job). */
  private send(job: FileJob, seg: Segment, settled?: () => void): void {
    const first = !job.started;
    if (first) job.worker = this.workerFor(job.affinity);
    job.started = true;
    job.left -= seg.length;
    const last = job.left === 0;
    const data: WriteTask = {
      op: 'file',
      fid: job.fid,
      dir: job.dir,
      name: job.node.name,
      first,
      last,
      offsets: seg.map((s) => job.offsets[s.index]!),
      size: job.node.size,
      mode: job.node.mode,
      mtime: this.o.timeOf(job.node.mtimeNs),
      keep: this.o.keep(job.node),
    };
    const p = this.pool.run(job.worker, { data, blobs: seg }).then(
      (v) => {
        settled?.();
        return v;
      },
      (err: unknown) => {
        settled?.();
        job.rejected = true;
        throw err;
      },
    );
    // Handled when the job completes (complete() may come later, after more segments).
    p.catch(() => undefined);
    job.sent.push(p);
    if (last) {
      job.closed = true;
      this.complete(job);
    }
  }

  /** Every file needing range `r` of a missing pack fails, naming the pack and its blob. */
  private packMissing(r: PackRange<Ref>, cause: unknown): void {
    for (const b of r.blobs) {
      const { loc } = b;
      const msg = `pack ${shortId(loc.packId)} holding blob ${shortId(loc.id)} is missing`;
      this.fail(b.ref.job, new ClawbackError('INTEGRITY', msg, { cause, details: { pack: loc.packId, blob: loc.id } }));
    }
  }

  /**
   * Ends `job` early (unless it is closed already): the worker removes its temp file.
   * @param failure the outcome's error; undefined when a worker already rejected a segment.
   */
  private fail(job: FileJob, failure: unknown): void {
    if (job.closed) return;
    job.closed = true;
    job.failure = failure;
    if (job.started) {
      const cancel: WriteTask = { op: 'cancel', fid: job.fid };
      job.sent.push(this.pool.run(job.worker, { data: cancel, blobs: [], cost: 1 }));
    }
    this.complete(job);
  }

  /** Reports `job`'s outcome once everything sent for it has settled. */
  private complete(job: FileJob): void {
    void Promise.allSettled(job.sent).then((rs) => {
      const rejected = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) job.finish({ ok: false, error: rejected.reason });
      else if (job.failure !== undefined) job.finish({ ok: false, error: job.failure });
      else {
        const last = rs[rs.length - 1] as PromiseFulfilledResult<unknown> | undefined;
        job.finish({ ok: true, tmp: (last?.value as WriteResult | undefined)?.tmp });
      }
    });
  }
}
