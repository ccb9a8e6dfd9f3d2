/**
 * One file being restored: its blobs go to one worker in segments (the first segment picks
 * the worker and creates the temp file there; the last one places the file), and its
 * outcome is reported once, when it is closed (last segment or cancel sent) and every task
 * sent for it has been answered. See dispatch.ts.
 */
import type { BlobLocation } from '../index/cache.js';
import type { OpenPool } from '../repository/open-pool.js';
import type { TreeNode } from '../tree/node.js';
import type { Budget } from '../util/budget.js';
import type { WriteResult, WriteTask } from './file-writer.js';

/** A leaf's outcome: placed (or, for a kept file, its temp path), or the error that failed it. */
export type LeafOutcome = { ok: true; tmp?: string | undefined } | { ok: false; error: unknown };

/** A file (or SQLite database) being restored. */
export interface FileJob {
  node: TreeNode;
  dir: string;
  /** Picks the worker when the first segment goes out. */
  pickWorker: () => number;
  finish: (o: LeafOutcome) => void;
  locs: BlobLocation[];
  /** Offset in the file of each blob, bytes. */
  offsets: number[];
  fid: number;
  worker: number;
  /** Blobs not sent yet. */
  left: number;
  /** Tasks sent and not settled. */
  outstanding: number;
  started: boolean;
  /** The last segment or a cancel was sent: nothing more goes to the worker. */
  closed: boolean;
  /** The first error a worker answered with (the worker ignores the later segments). */
  rejected: unknown;
  /** Why the main side ended the job early. */
  failure: unknown;
  /** The temp path the last segment answered with (kept files). */
  tmp: string | undefined;
  reported: boolean;
}

/** Blobs of one file sent together: their stored bytes and their index in the file. */
export type Segment = { loc: BlobLocation; stored: Uint8Array; index: number }[];

/** Options of {@link JobSender}. */
export interface JobSenderOptions {
  /** Leave these files' temp files for the caller (SQLite databases with a placing hook). */
  keep: (node: TreeNode) => boolean;
  /** Seconds for fs.utimes from ns (restorer.ts `timeOf`). */
  timeOf: (ns: bigint) => number;
}

/** Sends file jobs' segments and cancels to the workers and reports their outcomes. */
export class JobSender {
  private readonly pool: OpenPool;
  private readonly bytes: Budget;
  private readonly o: JobSenderOptions;
  private nextFid = 0;

  /** @param bytes the in-flight budget that segments' bytes were taken from. */
  constructor(pool: OpenPool, bytes: Budget, o: JobSenderOptions) {
    this.pool = pool;
    this.bytes = bytes;
    this.o = o;
  }

  /** A new job for `node` with its blobs' locations. */
  create(node: TreeNode, dir: string, locs: BlobLocation[], pickWorker: () => number, finish: (o: LeafOutcome) => void): FileJob {
    const offsets: number[] = [];
    let at = 0;
    for (const loc of locs) {
      offsets.push(at);
      at += loc.rawLength;
    }
    return { node, dir, pickWorker, finish, locs, offsets, fid: this.nextFid++, worker: 0, left: locs.length, outstanding: 0, started: false, closed: false, rejected: undefined, failure: undefined, tmp: undefined, reported: false };
  }

  /** Sends one segment of `job` whose `bytes` of budget were taken (given back when it settles). */
  sendSegment(job: FileJob, seg: Segment, bytes: number): void {
    if (job.closed || job.rejected !== undefined) {
      this.bytes.give(bytes);
      // The worker dropped the file at the rejected segment: end it there too.
      if (job.rejected !== undefined) this.fail(job, undefined);
      return;
    }
    this.send(job, seg, () => this.bytes.give(bytes));
  }

  /** Sends a segment of `job` (the first picks the worker; the last closes the job). */
  send(job: FileJob, seg: Segment, settled?: () => void): void {
    const first = !job.started;
    if (first) job.worker = job.pickWorker();
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
    job.outstanding++;
    this.pool.submit(job.worker, { data, blobs: seg }, (err, value) => {
      settled?.();
      job.outstanding--;
      if (err) job.rejected ??= err;
      else if (last) job.tmp = (value as WriteResult | undefined)?.tmp;
      this.report(job);
    });
    if (last) {
      job.closed = true;
      this.report(job);
    }
  }

  /**
   * Ends `job` early (unless it is closed already): the worker removes its temp file.
   * @param failure the outcome's error; undefined when a worker already rejected a segment.
   */
  fail(job: FileJob, failure: unknown): void {
    if (job.closed) return;
    job.closed = true;
    job.failure = failure;
    if (job.started) {
      const cancel: WriteTask = { op: 'cancel', fid: job.fid };
      job.outstanding++;
      this.pool.submit(job.worker, { data: cancel, blobs: [], cost: 1 }, (err) => {
        job.outstanding--;
        if (err) job.rejected ??= err;
        this.report(job);
      });
    }
    this.report(job);
  }

  /** Reports `job`'s outcome once it is closed and everything sent for it has settled. */
  private report(job: FileJob): void {
    if (!job.closed || job.outstanding > 0 || job.reported) return;
    job.reported = true;
    if (job.rejected !== undefined) job.finish({ ok: false, error: job.rejected });
    else if (job.failure !== undefined) job.finish({ ok: false, error: job.failure });
    else job.finish({ ok: true, tmp: job.tmp });
  }
}
