import { describe, expect, it } from 'vitest';
import { ClawbackError } from '../../src/errors.js';
import { nextDue, overdueAfter, parseInterval, parseSchedule } from '../../src/scheduler/schedule.js';
import { jobHealth } from '../../src/scheduler/health.js';
import { emptyState, type JobState } from '../../src/scheduler/state.js';

const H = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function usage(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ClawbackError);
  expect((err as ClawbackError).code).toBe('USAGE');
  expect((err as ClawbackError).message).toMatch(re);
}

describe('parseSchedule', () => {
  it('reads durations with s, m (minutes), h, d, w', () => {
    expect(parseInterval('30m')).toBe(30 * 60_000);
    expect(parseInterval('6h')).toBe(6 * H);
    expect(parseInterval('1d')).toBe(24 * H);
    expect(parseInterval('1w')).toBe(7 * 24 * H);
    expect(parseInterval('1h30m')).toBe(90 * 60_000);
    expect(parseInterval('90s')).toBe(90_000);
    expect(parseInterval('0 3 * * *')).toBeUndefined();
    const s = parseSchedule(' 6h ');
    expect(s).toMatchObject({ kind: 'interval', ms: 6 * H, text: '6h' });
  });

  it('reads cron expressions and nicknames', () => {
    expect(parseSchedule('0 3 * * *').kind).toBe('cron');
    expect(parseSchedule('*/15 * * * *', 'Europe/Berlin').kind).toBe('cron');
    expect(parseSchedule('@daily').kind).toBe('cron');
  });

  it('rejects bad schedules with the accepted forms', () => {
    usage(() => parseSchedule(''), /empty schedule/);
    usage(() => parseSchedule('30s'), /shorter than one minute/);
    usage(() => parseSchedule('0m'), /shorter than one minute/);
    usage(() => parseSchedule('every day'), /invalid schedule "every day".*"30m", "6h" or "1d".*cron/);
    usage(() => parseSchedule('61 * * * *'), /invalid schedule/);
    usage(() => parseSchedule('0 3 * * *', 'Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
  });
});

describe('nextDue and overdueAfter', () => {
  const six = parseSchedule('6h');
  const cron = parseSchedule('0 3 * * *', 'UTC');

  it('a never-run duration job is due at once; a never-run cron job at its next time', () => {
    expect(nextDue(six, undefined, T0)).toBe(T0);
    expect(iso(nextDue(cron, undefined, T0))).toBe('2026-03-01T03:00:00.000Z');
  });

  it('counts from the previous start; missed times collapse into one due time in the past', () => {
    expect(nextDue(six, T0, T0 + H)).toBe(T0 + 6 * H);
    expect(iso(nextDue(cron, T0 + 3 * H, 0))).toBe('2026-03-02T03:00:00.000Z');
    // Last start ten days ago: due time is ten days ago (one run, now).
    expect(nextDue(six, T0 - 240 * H, T0)).toBe(T0 - 234 * H);
  });

  it('overdue after two schedule periods', () => {
    expect(overdueAfter(six, T0)).toBe(T0 + 12 * H);
    expect(iso(overdueAfter(cron, T0 + 3 * H))).toBe('2026-03-03T03:00:00.000Z');
  });
});

describe('jobHealth', () => {
  const six = parseSchedule('6h');
  const st = (o: Partial<JobState>): JobState => ({ ...emptyState('j'), ...o });

  it('never-run without a state, or with only an aborted first run', () => {
    expect(jobHealth(true, six, undefined, T0).health).toBe('never-run');
    expect(jobHealth(true, six, undefined, T0).nextRun).toBe(T0);
    expect(jobHealth(true, six, st({ lastStart: iso(T0), result: 'aborted' }), T0 + H).health).toBe('never-run');
  });

  it('healthy after a recent success, overdue after two periods without one', () => {
    const ok = st({ lastStart: iso(T0), lastEnd: iso(T0 + 60_000), result: 'success', lastSuccess: iso(T0) });
    expect(jobHealth(true, six, ok, T0 + H)).toMatchObject({ health: 'healthy', nextRun: T0 + 6 * H });
    expect(jobHealth(true, six, ok, T0 + 12 * H).health).toBe('healthy');
    expect(jobHealth(true, six, ok, T0 + 12 * H + 1).health).toBe('overdue');
  });

  it('failing when the last run failed, even when recent', () => {
    const failed = st({ lastStart: iso(T0 + H), result: 'failure', error: 'disk full', lastSuccess: iso(T0), consecutiveFailures: 2 });
    const h = jobHealth(true, six, failed, T0 + 2 * H);
    expect(h.health).toBe('failing');
    expect(h.reason).toMatch(/disk full/);
    expect(h.reason).toMatch(/2 in a row/);
  });

  it('an aborted run after a success keeps the verdict of the success', () => {
    const s = st({ lastStart: iso(T0 + 6 * H), result: 'aborted', lastSuccess: iso(T0) });
    expect(jobHealth(true, six, s, T0 + 7 * H).health).toBe('healthy');
    expect(jobHealth(true, six, s, T0 + 13 * H).health).toBe('overdue');
  });

  it('disabled jobs are disabled whatever their state', () => {
    expect(jobHealth(false, six, undefined, T0)).toEqual({ health: 'disabled', reason: 'the job is disabled' });
  });
});
