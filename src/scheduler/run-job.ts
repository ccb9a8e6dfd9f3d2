/**
 * One run of a scheduled job: snapshot (kind `auto`) → retention (automatic snapshots of the
 * job's source only) → gc once retention has removed `gc.threshold` snapshots since the last
 * gc. The steps are injected (the CLI supplies real ones, tests fakes); this module keeps
 * the job's state file and log and sends the failure notification.
 *
 * - The state file is written when the run starts (`result: running`) and when it ends.
 * - Retention and gc run only after a successful snapshot: a failing backup never deletes
 *   older backups.
 * - A run aborted through its signal (the daemon stopping) ends as `aborted`, without a
 *   notification; an aborted snapshot writes no manifest.
 * - Every other failure ends as `failure` and notifies once (`notify`), with the error and
 *   the log path.
 */
import { isClawbackError } from '../errors.js';
import type { GcSettings, NotifySettings } from '../config/types.js';
import type { Clock } from './clock.js';
import { notifyFailure } from './notify.js';
import { appendJobLog, emptyState, logFile, readJobState, writeJobState, type JobState } from './state.js';

/** What the snapshot step reports. */
export interface SnapshotOutcome {
  id: string;
  /** `manifest.source` of the snapshot (retention works on this source). */
  source: string;
  bytesAdded: number;
  /** Logical bytes. */
  size: number;
  files: number;
}

/** The steps of a run. */
export interface JobSteps {
  /** Takes the automatic snapshot; throws on failure (an aborted one writes nothing). */
  snapshot(signal: AbortSignal): Promise<SnapshotOutcome>;
  /** Applies retention; returns how many snapshots it removed. Absent: no retention. */
  retention?(snapshot: SnapshotOutcome, signal: AbortSignal): Promise<number>;
  /** Runs gc. Absent: gc is not available. */
  gc?(signal: AbortSignal): Promise<void>;
}

/** Options of {@link runJob}. */
export interface RunJobOptions {
  job: string;
  stateDir: string;
  steps: JobSteps;
  gc?: GcSettings | undefined;
  notify?: NotifySettings | undefined;
  /** Environment for the notify command. */
  env: Record<string, string | undefined>;
  clock: Clock;
  signal: AbortSignal;
  /** Also receives every log line (e.g. the daemon's stderr). */
  onLog?(line: string): void;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the job once (see the module comment) and returns its new state. Never throws for
 * a failed run (the failure is in the state); throws only when the state dir is unusable.
 */
export async function runJob(opts: RunJobOptions): Promise<JobState> {
  const { job, stateDir, clock } = opts;
  const iso = (ms: number) => new Date(ms).toISOString();
  const log = async (line: string): Promise<void> => {
    opts.onLog?.(`${job}: ${line}`);
    await appendJobLog(stateDir, job, line, new Date(clock.now())).catch(() => undefined);
  };
  let prev: JobState;
  try {
    prev = (await readJobState(stateDir, job)) ?? emptyState(job);
  } catch (err) {
    await log(`state file unreadable, starting afresh: ${message(err)}`);
    prev = emptyState(job);
  }
  const startMs = clock.now();
  const state: JobState = {
    version: 1,
    job,
    lastStart: iso(startMs),
    result: 'running',
    consecutiveFailures: prev.consecutiveFailures,
    removedSinceGc: prev.removedSinceGc,
    ...(prev.lastSuccess !== undefined ? { lastSuccess: prev.lastSuccess } : {}),
    ...(prev.lastGc !== undefined ? { lastGc: prev.lastGc } : {}),
  };
  await writeJobState(stateDir, state);
  await log('run started');
  let phase = 'snapshot';
  try {
    const snap = await opts.steps.snapshot(opts.signal);
    Object.assign(state, { snapshot: snap.id, bytesAdded: snap.bytesAdded, size: snap.size, files: snap.files });
    await log(`snapshot ${snap.id.slice(0, 8)} saved: ${snap.files} files, ${snap.size} bytes, ${snap.bytesAdded} bytes added`);
    if (opts.steps.retention) {
      phase = 'retention';
      const removed = await opts.steps.retention(snap, opts.signal);
      state.removed = removed;
      state.removedSinceGc += removed;
      await log(`retention removed ${removed} automatic snapshot(s)`);
    }
    if (opts.gc !== undefined && state.removedSinceGc >= opts.gc.threshold) {
      phase = 'gc';
      if (opts.steps.gc) {
        await log(`gc: ${state.removedSinceGc} snapshot(s) removed since the last gc (threshold ${opts.gc.threshold})`);
        await opts.steps.gc(opts.signal);
        state.removedSinceGc = 0;
        state.lastGc = iso(clock.now());
        await log('gc done');
      } else {
        await log('gc threshold reached, but gc is not available in this build');
      }
    }
    state.result = 'success';
    state.lastSuccess = state.lastStart;
    state.consecutiveFailures = 0;
  } catch (err) {
    const aborted = opts.signal.aborted || isClawbackError(err, 'ABORTED');
    state.result = aborted ? 'aborted' : 'failure';
    state.error = phase === 'snapshot' ? message(err) : `${phase} failed: ${message(err)}`;
    if (isClawbackError(err)) state.errorCode = err.code;
    if (!aborted) state.consecutiveFailures += 1;
  }
  state.lastEnd = iso(clock.now());
  await writeJobState(stateDir, state);
  if (state.result === 'success') await log('run succeeded');
  else await log(`run ${state.result === 'aborted' ? 'aborted (nothing partial was kept)' : 'FAILED'}: ${state.error ?? ''}`);
  if (state.result === 'failure' && opts.notify !== undefined) {
    const outcome = await notifyFailure(
      opts.notify,
      { job, error: state.error ?? 'unknown error', log: logFile(stateDir, job), time: state.lastStart ?? iso(startMs), failures: state.consecutiveFailures },
      { env: opts.env },
    );
    for (const p of outcome.problems) await log(p);
    if (outcome.problems.length === 0) await log('failure notification sent');
  }
  return state;
}
