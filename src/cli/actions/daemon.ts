/**
 * `clawback daemon [--state-dir DIR] [--job NAME]… [--once]`: runs the config file's jobs
 * on their schedules (`scheduler/scheduler.ts`): each run takes an automatic snapshot,
 * applies the job's retention (automatic snapshots only) and gc at its threshold, records
 * the run in the job's state file and log, and notifies on failure (`scheduler/run-job.ts`).
 * SIGINT/SIGTERM abort the running snapshot cleanly (no manifest is written) and stop.
 * `--once` runs every selected enabled job once now and exits (1 if any run failed), for
 * use from cron or a systemd timer instead of a resident daemon.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import type { ClawbackConfig, JobConfig } from '../../config/types.js';
import { systemClock } from '../../scheduler/clock.js';
import { acquireDaemonLock } from '../../scheduler/daemon-lock.js';
import { runJob } from '../../scheduler/run-job.js';
import { parseSchedule } from '../../scheduler/schedule.js';
import { Scheduler, type SchedulerEvent } from '../../scheduler/scheduler.js';
import { appendJobLog, readJobState, type JobState } from '../../scheduler/state.js';
import type { CliIo } from '../io.js';
import { Context, type GlobalOptions } from '../context.js';
import { loadCliConfig } from '../config-io.js';
import { cliJobSteps, selectJobs, stateDirFor } from '../jobs.js';

/** Options of `daemon`. */
export interface DaemonFlags {
  stateDir?: string;
  job?: string[];
  once?: boolean;
}

/** Queues lines for a job's log file, in order. */
class JobLog {
  private chain: Promise<void> = Promise.resolve();
  private readonly stateDir: string;
  private readonly job: string;
  constructor(stateDir: string, job: string) {
    this.stateDir = stateDir;
    this.job = job;
  }
  line(text: string): void {
    this.chain = this.chain.then(() => appendJobLog(this.stateDir, this.job, text).catch(() => undefined));
  }
  flush(): Promise<void> {
    return this.chain;
  }
}

/** Where each job is in its schedule, from its state file (a run that did not end counts as not run). */
async function lastStartOf(stateDir: string, job: JobConfig, ctx: Context): Promise<number | undefined> {
  let s: JobState | undefined;
  try {
    s = await readJobState(stateDir, job.name);
  } catch (err) {
    ctx.warn(`${job.name}: ${(err as Error).message}; treating the job as never run`);
    return undefined;
  }
  if (s?.lastStart === undefined) return undefined;
  if (s.result === 'success' || s.result === 'failure') return Date.parse(s.lastStart);
  // Interrupted (running/aborted): run again soon — as if the last start were the last success.
  return s.lastSuccess !== undefined ? Date.parse(s.lastSuccess) : 0;
}

/** Runs one job once, with its log. */
async function runOnce(io: CliIo, opts: GlobalOptions, cfg: ClawbackConfig, job: JobConfig, stateDir: string, ctx: Context, signal: AbortSignal): Promise<JobState> {
  const log = new JobLog(stateDir, job.name);
  try {
    return await runJob({
      job: job.name,
      stateDir,
      steps: cliJobSteps(io, opts, job, cfg, log),
      gc: job.gc,
      notify: job.notify,
      env: io.env,
      clock: systemClock,
      signal,
      onLog: (l) => ctx.info(l),
    });
  } finally {
    await log.flush();
  }
}

function describeEvent(e: SchedulerEvent): string | undefined {
  if (e.type === 'waiting') return `${e.job}: next run at ${new Date(e.due).toISOString()}`;
  if (e.type === 'finished' && e.reason === 'no more run times') return `${e.job}: its schedule has no more run times`;
  if (e.type === 'end' && e.error !== undefined) return `${e.job}: run ended with an error: ${(e.error as Error).message ?? String(e.error)}`;
  return undefined;
}

/** Runs `clawback daemon`. */
export async function runDaemon(io: CliIo, o: DaemonFlags, c: Command): Promise<void> {
  const opts = c.optsWithGlobals<GlobalOptions>();
  const ctx = new Context(io, opts);
  const cfg = await loadCliConfig(io, opts.config);
  const jobs = selectJobs(cfg, o.job).filter((j) => j.enabled);
  if (jobs.length === 0) {
    throw new ClawbackError('USAGE', cfg.file === undefined
      ? 'no config file, so no jobs: write ~/.config/clawback/config.json5 or give --config (see docs/CONFIG.md)'
      : `no enabled jobs in ${cfg.file}: add jobs (or set enabled: true); see docs/CONFIG.md`);
  }
  const stateDir = stateDirFor(o.stateDir, io, cfg);
  const lock = await acquireDaemonLock(stateDir);
  try {
    if (o.once) {
      const results: JobState[] = [];
      for (const job of jobs) {
        if (io.signal.aborted) break;
        results.push(await runOnce(io, opts, cfg, job, stateDir, ctx, io.signal));
      }
      ctx.emit({ message_type: 'summary', stateDir, runs: results });
      for (const r of results) ctx.out(`${r.job}: ${r.result}${r.error ? `: ${r.error}` : r.snapshot ? ` (snapshot ${r.snapshot.slice(0, 8)})` : ''}`);
      const failed = results.filter((r) => r.result !== 'success');
      if (io.signal.aborted) throw new ClawbackError('ABORTED', 'interrupted: the running snapshot was aborted, nothing partial was kept');
      if (failed.length > 0) {
        // One cause for every failure (a wrong password, an unreachable storage, a lock)
        // gets its own exit code; mixed or unknown causes exit 1.
        const codes = new Set(failed.map((f) => f.errorCode));
        const [only] = codes;
        const code = codes.size === 1 && only !== undefined ? only : 'CAPTURE';
        throw new ClawbackError(code, `${failed.length} of ${results.length} job run(s) failed: ${failed.map((f) => f.job).join(', ')} (logs in ${stateDir}/logs)`);
      }
      return;
    }
    const lastStarts: Record<string, number | undefined> = {};
    for (const j of jobs) lastStarts[j.name] = await lastStartOf(stateDir, j, ctx);
    const byName = new Map(jobs.map((j) => [j.name, j]));
    const scheduler = new Scheduler({
      clock: systemClock,
      jobs: jobs.map((j) => ({ name: j.name, schedule: parseSchedule(j.schedule, j.timezone) })),
      lastStarts,
      run: async (name, signal) => {
        await runOnce(io, opts, cfg, byName.get(name)!, stateDir, ctx, signal);
      },
      onEvent: (e) => {
        const line = describeEvent(e);
        if (line !== undefined) ctx.info(line);
      },
    });
    ctx.info(`clawback daemon: ${jobs.length} job(s) from ${cfg.file ?? 'the config'}; state in ${stateDir}`);
    scheduler.start();
    await Promise.race([
      scheduler.done(),
      new Promise<void>((resolve) => {
        if (io.signal.aborted) resolve();
        else io.signal.addEventListener('abort', () => resolve(), { once: true });
      }),
    ]);
    await scheduler.stop();
    ctx.info('clawback daemon: stopped');
  } finally {
    await lock.release();
  }
}
