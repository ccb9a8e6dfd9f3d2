/**
 * Schedules: when a job is due.
 *
 * A schedule is either
 * - a duration: one or more `<integer><unit>` parts, units `s`, `m` (minutes), `h`, `d`,
 *   `w` (`30m`, `6h`, `1d`, `1h30m`), at least one minute; the job runs that long after the
 *   start of its previous run; or
 * - a cron expression (5 fields, or 6 with seconds first, or a nickname such as `@daily`),
 *   evaluated by croner (https://github.com/Hexagon/croner) in the job's time zone (default:
 *   the machine's local zone).
 *
 * Missed runs (the machine slept or the daemon was stopped): when the next run time has
 * passed, the job is due now, once, however many runs were missed. A job that has never run
 * is due at once for a duration schedule, and at the next cron time for a cron schedule.
 *
 * Note the unit difference with retention durations (`snapshot/policy.ts`), where `m`
 * means months as in restic; here `m` is minutes, as in OpenClaw's `"30m"`.
 *
 * Pure module (no timers): callers pass the times.
 */
import { Cron } from 'croner';
import { ClawbackError } from '../errors.js';

/** A parsed schedule. */
export type Schedule =
  | { kind: 'interval'; /** Period in ms. */ ms: number; text: string }
  | { kind: 'cron'; cron: Cron; text: string; timezone?: string };

/** Shortest duration schedule, ms. */
export const MIN_INTERVAL_MS = 60_000;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const DURATION = /^(?:\d+[smhdw])+$/;

/**
 * Parses a duration schedule (`30m`, `6h`, `1d`, `1h30m`) to ms, or undefined when `text`
 * is not of that form.
 */
export function parseInterval(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms;
}

/**
 * Parses a schedule (see the module comment).
 * @param timezone IANA zone for cron expressions (e.g. `Europe/Berlin`, `UTC`).
 * @throws ClawbackError `USAGE` naming the schedule and the accepted forms when it is
 *   neither a duration of at least 1 minute nor a valid cron expression, or the time zone
 *   is unknown.
 */
export function parseSchedule(text: string, timezone?: string): Schedule {
  const forms = 'use a duration such as "30m", "6h" or "1d", or a cron expression such as "0 3 * * *"';
  if (typeof text !== 'string' || text.trim() === '') throw new ClawbackError('USAGE', `empty schedule: ${forms}`);
  const ms = parseInterval(text);
  if (ms !== undefined) {
    if (!Number.isSafeInteger(ms) || ms < MIN_INTERVAL_MS) {
      throw new ClawbackError('USAGE', `schedule ${JSON.stringify(text)} is shorter than one minute (or too large): ${forms}`, { details: { schedule: text } });
    }
    return { kind: 'interval', ms, text: text.trim() };
  }
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    } catch {
      throw new ClawbackError('USAGE', `unknown time zone ${JSON.stringify(timezone)}: give an IANA zone such as "UTC" or "Europe/Berlin"`, { details: { timezone } });
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(text.trim(), { paused: true, ...(timezone !== undefined ? { timezone } : {}) });
  } catch (err) {
    throw new ClawbackError('USAGE', `invalid schedule ${JSON.stringify(text)} (${(err as Error).message}): ${forms}`, { details: { schedule: text }, cause: err });
  }
  if (cron.nextRun(new Date(0)) === null && cron.nextRun() === null) {
    throw new ClawbackError('USAGE', `schedule ${JSON.stringify(text)} never fires: ${forms}`, { details: { schedule: text } });
  }
  return { kind: 'cron', cron, text: text.trim(), ...(timezone !== undefined ? { timezone } : {}) };
}

/** The first scheduled time strictly after `afterMs` (ms since the epoch), or undefined if none. */
export function nextOccurrence(s: Schedule, afterMs: number): number | undefined {
  if (s.kind === 'interval') return afterMs + s.ms;
  const next = s.cron.nextRun(new Date(afterMs));
  return next === null ? undefined : next.getTime();
}

/**
 * When a job is next due, in ms since the epoch (may be in the past: then it is due now).
 *
 * @param lastStartMs start of the previous run, or undefined when it never ran.
 * @param sinceMs for a job that never ran: the reference time (the daemon's start).
 * @returns `lastStart + period` (duration), the first cron time after `lastStart`, or for a
 *   job that never ran `sinceMs` (duration) / the first cron time after `sinceMs`;
 *   undefined when a cron expression has no further time.
 */
export function nextDue(s: Schedule, lastStartMs: number | undefined, sinceMs: number): number | undefined {
  if (lastStartMs === undefined) return s.kind === 'interval' ? sinceMs : nextOccurrence(s, sinceMs);
  return nextOccurrence(s, lastStartMs);
}

/**
 * The time after which a job whose last successful run started at `lastSuccessMs` is
 * overdue: two scheduled runs have come and gone (`lastSuccess + 2 × period` for a duration;
 * the second cron time after `lastSuccess` for cron), undefined if the cron has no such time.
 */
export function overdueAfter(s: Schedule, lastSuccessMs: number): number | undefined {
  const first = nextOccurrence(s, lastSuccessMs);
  return first === undefined ? undefined : nextOccurrence(s, first);
}
