/**
 * A job's health, as `clawback status` reports it:
 *
 * - `disabled`: the job is switched off (never counts against the exit code);
 * - `never-run`: no run has completed yet (none started, or the first is running or was aborted);
 * - `failing`: the last run failed;
 * - `overdue`: no successful run within two schedule periods (two run times have passed
 *   since the start of the last successful run, or since the first run when none succeeded);
 * - `healthy`: otherwise.
 *
 * An `aborted` or `running` last run is neither a failure nor a success: the verdict then
 * rests on the last successful run.
 *
 * Pure module.
 */
import { nextDue, overdueAfter, type Schedule } from './schedule.js';
import type { JobState } from './state.js';

/** Health states. */
export type Health = 'healthy' | 'overdue' | 'failing' | 'never-run' | 'disabled';

/** The verdict with its reason and the next run time. */
export interface HealthReport {
  health: Health;
  /** One line for humans. */
  reason: string;
  /** Next run time (ms; may be in the past = due as soon as the daemon runs); undefined if none. */
  nextRun?: number;
}

const ms = (iso: string | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
};

/**
 * Judges one job (see the module comment).
 * @param state the job's state file, undefined when it has none.
 * @param nowMs the current time.
 */
export function jobHealth(enabled: boolean, schedule: Schedule, state: JobState | undefined, nowMs: number): HealthReport {
  const lastStart = ms(state?.lastStart);
  const next = nextDue(schedule, lastStart, nowMs);
  const withNext = (r: Omit<HealthReport, 'nextRun'>): HealthReport => (enabled && next !== undefined ? { ...r, nextRun: next } : r);
  if (!enabled) return withNext({ health: 'disabled', reason: 'the job is disabled' });
  if (state === undefined || lastStart === undefined) return withNext({ health: 'never-run', reason: 'no run has started yet (is `clawback daemon` running?)' });
  if (state.result === 'failure') {
    return withNext({ health: 'failing', reason: `the last run failed${state.consecutiveFailures > 1 ? ` (${state.consecutiveFailures} in a row)` : ''}: ${state.error ?? 'unknown error'}` });
  }
  const lastSuccess = ms(state.lastSuccess);
  const since = lastSuccess ?? lastStart;
  const limit = overdueAfter(schedule, since);
  if (limit !== undefined && nowMs > limit) {
    return withNext({
      health: 'overdue',
      reason: lastSuccess === undefined ? `no run has succeeded since ${new Date(lastStart).toISOString()}` : `no successful run since ${new Date(lastSuccess).toISOString()} (over two schedule periods)`,
    });
  }
  if (lastSuccess === undefined) {
    return withNext({ health: 'never-run', reason: state.result === 'running' ? 'the first run is in progress' : `no run has completed yet (the last one was ${state.result ?? 'interrupted'})` });
  }
  return withNext({ health: 'healthy', reason: `last successful run ${new Date(lastSuccess).toISOString()}` });
}
