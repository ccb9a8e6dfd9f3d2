/**
 * One file being restored: its blobs go to one worker in segments (the first segment picks
 * the worker and creates the temp file there; the last one places the file), and its
 * outcome is reported once, when it is closed (last segment or cancel sent) and every task
 * sent for it has been answered. See dispatch.ts.
 *
 * A file of more than `shareAbove` stored bytes is shared out: once its first segment has
 * answered the temp file's descriptor, its other segments go as `part` tasks to the least
 * loaded worker (file-writer.ts), so one large file (a database, a disk image) is opened,
 * verified and written on every core instead of one. Its last segment, or the cancel that
 * ends it early, waits until every part has been answered: the descriptor is closed only
 * when no part can still be writing through it.
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
  /** Segments may go to any worker as `part` tasks once {@link fd} is known. */
  shared: boolean;
  /** The temp file's descriptor (a shared file's first segment answers it). */
  fd: number | undefined;
  /** `part` tasks sent and not settled. */
  parts: number;
  /** Bytes written by settled `part` tasks. */
  elsewhere: number;
  /** The last segment or cancel, sent once {@link parts} is 0. */
  held: (() => void) | undefined;
}

/** Blobs of one file sent together: their stored bytes and their index in the file. */
export type Segment = { loc: BlobLocation; stored: Uint8Array; index: number }[];

/** Options of {@link JobSender}. */
export interface JobSenderOptions {
  /** Leave these files' temp files for the caller (SQLite databases with a placing hook). */
  keep: (node: TreeNode) => boolean;
  /** Seconds for fs.utimes from ns (restorer.ts `timeOf`). */
  timeOf: (ns: bigint) => number;
  /** Share out files of more stored bytes than this among the workers (see the module comment). */
  shareAbove: number;
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
    let stored = 0;
    for (const loc of locs) {
      offsets.push(at);
      at += loc.rawLength;
      stored += loc.length;
    }
    const shared = this.pool.size > 1 && stored > this.o.shareAbove;
    return {
      node, dir, pickWorker, finish, locs, offsets, fid: this.nextFid++, worker: 0, left: locs.length, outstanding: 0, started: false, closed: false,
      rejected: undefined, failure: undefined, tmp: undefined, reported: false, shared, fd: undefined, parts: 0, elsewhere: 0, held: undefined,
    };
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

  /**
   * Sends a segment of `job` (the first picks the worker; the last closes the job): as a
   * `part` to the least loaded worker when the job is shared and its descriptor known; a
   * shared job's last segment waits for its parts.
   */
  send(job: FileJob, seg: Segment, settled?: () => void): void {
    const first = !job.started;
    if (first) job.worker = job.pickWorker();
    job.started = true;
    job.left -= seg.length;
    const last = job.left === 0;
    if (!last && job.fd !== undefined) return this.sendPart(job, job.fd, seg, settled);
    if (last && job.parts > 0) {
      job.closed = true;
      // The blobs are views into a pack range whose buffer is reused once the range is
      // handed out: keep a copy (at most one segment per shared file).
      const kept: Segment = seg.map((b) => ({ ...b, stored: new Uint8Array(b.stored) }));
      job.held = () => {
        if (job.rejected === undefined) this.sendFile(job, kept, first, last, settled);
        else {
          settled?.();
          this.sendCancel(job);
        }
      };
      return;
    }
    this.sendFile(job, seg, first, last, settled);
  }

  private sendFile(job: FileJob, seg: Segment, first: boolean, last: boolean, settled?: () => void): void {
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
      shared: job.shared,
      elsewhere: job.elsewhere,
    };
    job.outstanding++;
    this.pool.submit(job.worker, { data, blobs: seg }, (err, value) => {
      settled?.();
      job.outstanding--;
      const r = value as WriteResult | undefined;
      if (err) job.rejected ??= err;
      else if (last) job.tmp = r?.tmp;
      else if (first && r?.fd !== undefined && !job.closed) job.fd = r.fd;
      this.report(job);
    });
    if (last) {
      job.closed = true;
      this.report(job);
    }
  }

  /** Sends a segment of shared `job` as a `part` through descriptor `fd` to the least loaded worker. */
  private sendPart(job: FileJob, fd: number, seg: Segment, settled?: () => void): void {
    const data: WriteTask = { op: 'part', fd, offsets: seg.map((s) => job.offsets[s.index]!) };
    job.outstanding++;
    job.parts++;
    this.pool.submit(this.pool.leastLoaded(), { data, blobs: seg }, (err, value) => {
      settled?.();
      job.outstanding--;
      job.parts--;
      if (err) job.rejected ??= err;
      else job.elsewhere += (value as WriteResult | undefined)?.written ?? 0;
      if (job.parts === 0 && job.held) {
        const send = job.held;
        job.held = undefined;
        send();
      }
      this.report(job);
    });
  }

  /** Tells `job`'s worker to abandon the file (close and remove its temp file). */
  private sendCancel(job: FileJob): void {
    const cancel: WriteTask = { op: 'cancel', fid: job.fid };
    job.outstanding++;
    this.pool.submit(job.worker, { data: cancel, blobs: [], cost: 1 }, (err) => {
      job.outstanding--;
      if (err) job.rejected ??= err;
      this.report(job);
    });
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
      if (job.parts > 0) job.held = () => this.sendCancel(job);
      else this.sendCancel(job);
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
