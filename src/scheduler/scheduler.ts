/**
 * The scheduler: runs each job when it is due (see `scheduler/schedule.ts` for "due").
 *
 * - One loop per job: it computes the next due time from the start of the job's previous
 *   run, sleeps toward it in steps of at most `pollMs` (re-reading the wall clock after each
 *   step, so a machine that slept past a run time notices within `pollMs` of waking), and
 *   runs the job once when the time has passed, however many run times were missed.
 * - Two runs of one job never overlap: the job's loop awaits its run before it computes
 *   the next due time. Across jobs, at most `concurrency` runs happen at once (default 1,
 *   so jobs that share a repository take turns).
 * - {@link Scheduler.stop} aborts the signal given to running runs (they must stop cleanly
 *   and leave nothing partial: a snapshot that is aborted writes no manifest), waits for
 *   them, and ends every loop.
 *
 * Time comes from an injected {@link Clock}, so tests drive it with a fake clock.
 */
import type { Clock } from './clock.js';
import { sleep } from './clock.js';
import { nextDue, type Schedule } from './schedule.js';

/** A job as the scheduler sees it. */
export interface SchedulerJob {
  name: string;
  schedule: Schedule;
}

/** Something that happened (for logs and tests). Times in ms since the epoch. */
export type SchedulerEvent =
  | { type: 'waiting'; job: string; due: number }
  | { type: 'start'; job: string; at: number }
  | { type: 'end'; job: string; at: number; error?: unknown }
  | { type: 'finished'; job: string; reason: 'no more run times' | 'stopped' };

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  clock: Clock;
  jobs: SchedulerJob[];
  /** Start time (ms) of each job's previous run, from its state file; absent = never ran. */
  lastStarts?: Record<string, number | undefined>;
  /**
   * Runs one job. `signal` aborts when the scheduler stops: the run must then stop cleanly.
   * A rejection is reported as an `end` event with `error`; the job stays scheduled.
   */
  run(job: string, signal: AbortSignal): Promise<void>;
  /** Longest single sleep, ms (default 60 000). */
  pollMs?: number;
  /** Runs at once across all jobs (default 1). */
  concurrency?: number;
  onEvent?(event: SchedulerEvent): void;
}

/** Runs jobs on their schedules until stopped. See the module comment. */
export class Scheduler {
  private readonly opts: SchedulerOptions;
  private readonly last = new Map<string, number | undefined>();
  private readonly next = new Map<string, number | undefined>();
  private readonly active = new Set<string>();
  private readonly stopper = new AbortController();
  private readonly waiters: (() => void)[] = [];
  private free: number;
  private loops: Promise<void>[] = [];
  private started = false;

  constructor(opts: SchedulerOptions) {
    this.opts = opts;
    this.free = Math.max(1, opts.concurrency ?? 1);
    const names = new Set<string>();
    for (const j of opts.jobs) {
      if (names.has(j.name)) throw new Error(`job ${j.name} is scheduled twice`);
      names.add(j.name);
      this.last.set(j.name, opts.lastStarts?.[j.name]);
    }
  }

  /** Starts every job's loop (once). */
  start(): void {
    if (this.started) return;
    this.started = true;
    const since = this.opts.clock.now();
    this.loops = this.opts.jobs.map((j) => this.loop(j, since));
  }

  /** The next due time of `job` (ms; may be in the past = due now), or undefined. */
  nextRun(job: string): number | undefined {
    return this.next.get(job);
  }

  /** Start of the latest run of `job` (ms), or undefined. */
  lastStart(job: string): number | undefined {
    return this.last.get(job);
  }

  /** Names of the jobs running now. */
  running(): string[] {
    return [...this.active];
  }

  /** Resolves when every loop has ended (after {@link stop}, or when no job has run times left). */
  async done(): Promise<void> {
    await Promise.all(this.loops);
  }

  /** Aborts running runs, waits for them, and ends every loop. */
  async stop(): Promise<void> {
    this.stopper.abort();
    for (const w of this.waiters.splice(0)) w();
    await this.done();
  }

  private emit(e: SchedulerEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      /* a listener's failure must not stop the scheduler */
    }
  }

  private async acquire(): Promise<boolean> {
    while (this.free === 0) {
      if (this.stopper.signal.aborted) return false;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.stopper.signal.aborted) return false;
    this.free--;
    return true;
  }

  private release(): void {
    this.free++;
    this.waiters.shift()?.();
  }

  private async loop(job: SchedulerJob, since: number): Promise<void> {
    const { clock } = this.opts;
    const poll = Math.max(1, this.opts.pollMs ?? 60_000);
    const signal = this.stopper.signal;
    let announced: number | undefined;
    while (!signal.aborted) {
      const due = nextDue(job.schedule, this.last.get(job.name), since);
      this.next.set(job.name, due);
      if (due === undefined) {
        this.emit({ type: 'finished', job: job.name, reason: 'no more run times' });
        return;
      }
      const now = clock.now();
      if (due > now) {
        if (announced !== due) {
          announced = due;
          this.emit({ type: 'waiting', job: job.name, due });
        }
        await sleep(clock, Math.min(due - now, poll), signal);
        continue;
      }
      if (!(await this.acquire())) break;
      const at = clock.now();
      this.last.set(job.name, at);
      this.active.add(job.name);
      this.emit({ type: 'start', job: job.name, at });
      try {
        await this.opts.run(job.name, signal);
        this.emit({ type: 'end', job: job.name, at: clock.now() });
      } catch (error) {
        this.emit({ type: 'end', job: job.name, at: clock.now(), error });
      } finally {
        this.active.delete(job.name);
        this.release();
      }
    }
    this.emit({ type: 'finished', job: job.name, reason: 'stopped' });
  }
}
