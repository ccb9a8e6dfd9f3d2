import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler, type SchedulerEvent } from '../../src/scheduler/scheduler.js';
import { parseSchedule } from '../../src/scheduler/schedule.js';
import { FakeClock, settle } from './fake-clock.js';

const H = 3_600_000;
const M = 60_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');

interface Harness {
  clock: FakeClock;
  scheduler: Scheduler;
  starts: { job: string; at: number }[];
  events: SchedulerEvent[];
  /** Concurrent runs right now, and the maximum seen. */
  live: { now: number; max: number; perJob: Map<string, number>; maxPerJob: number };
}

let current: Harness | undefined;
afterEach(async () => {
  await current?.scheduler.stop();
  current = undefined;
});

function harness(
  jobs: { name: string; schedule: string; timezone?: string }[],
  opts: { lastStarts?: Record<string, number>; run?: (job: string, signal: AbortSignal, clock: FakeClock) => Promise<void>; concurrency?: number; start?: number; pollMs?: number } = {},
): Harness {
  const clock = new FakeClock(opts.start ?? T0);
  const starts: { job: string; at: number }[] = [];
  const events: SchedulerEvent[] = [];
  const live = { now: 0, max: 0, perJob: new Map<string, number>(), maxPerJob: 0 };
  const scheduler = new Scheduler({
    clock,
    jobs: jobs.map((j) => ({ name: j.name, schedule: parseSchedule(j.schedule, j.timezone) })),
    ...(opts.lastStarts ? { lastStarts: opts.lastStarts } : {}),
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
    run: async (job, signal) => {
      starts.push({ job, at: clock.now() });
      live.now++;
      live.max = Math.max(live.max, live.now);
      const n = (live.perJob.get(job) ?? 0) + 1;
      live.perJob.set(job, n);
      live.maxPerJob = Math.max(live.maxPerJob, n);
      try {
        await opts.run?.(job, signal, clock);
      } finally {
        live.now--;
        live.perJob.set(job, (live.perJob.get(job) ?? 1) - 1);
      }
    },
    onEvent: (e) => events.push(e),
  });
  current = { clock, scheduler, starts, events, live };
  return current;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('Scheduler with a fake clock', () => {
  it('runs a duration schedule at once, then every period from the previous start', async () => {
    const h = harness([{ name: 'a', schedule: '6h' }]);
    h.scheduler.start();
    await h.clock.advance(25 * H);
    expect(h.starts.map((s) => iso(s.at))).toEqual([iso(T0), iso(T0 + 6 * H), iso(T0 + 12 * H), iso(T0 + 18 * H), iso(T0 + 24 * H)]);
    expect(h.scheduler.nextRun('a')).toBe(T0 + 30 * H);
  });

  it('runs "30m" and "1d" schedules on time', async () => {
    const h = harness([{ name: 'half', schedule: '30m' }, { name: 'day', schedule: '1d' }], { concurrency: 2 });
    h.scheduler.start();
    await h.clock.advance(2 * 24 * H + M);
    expect(h.starts.filter((s) => s.job === 'half')).toHaveLength(2 * 48 + 1);
    expect(h.starts.filter((s) => s.job === 'day').map((s) => iso(s.at))).toEqual([iso(T0), iso(T0 + 24 * H), iso(T0 + 48 * H)]);
  });

  it('runs a cron schedule at its times only (not at start)', async () => {
    const h = harness([{ name: 'c', schedule: '0 3 * * *', timezone: 'UTC' }], { pollMs: 20 * M });
    h.scheduler.start();
    await h.clock.advance(2 * H);
    expect(h.starts).toHaveLength(0);
    expect(h.scheduler.nextRun('c')).toBe(T0 + 3 * H);
    await h.clock.advance(3 * 24 * H);
    expect(h.starts.map((s) => iso(s.at))).toEqual([iso(T0 + 3 * H), iso(T0 + 27 * H), iso(T0 + 51 * H)]);
  });

  it('runs a cron schedule with minutes and weekdays', async () => {
    // 2026-03-01 is a Sunday; "at :15 past every 6th hour on Mondays".
    const h = harness([{ name: 'c', schedule: '15 */6 * * 1', timezone: 'UTC' }], { pollMs: 20 * M });
    h.scheduler.start();
    await h.clock.advance(3 * 24 * H);
    expect(h.starts.map((s) => iso(s.at))).toEqual(['2026-03-02T00:15:00.000Z', '2026-03-02T06:15:00.000Z', '2026-03-02T12:15:00.000Z', '2026-03-02T18:15:00.000Z']);
  });

  it('runs a job whose runs were missed while the daemon was down once, at start', async () => {
    const h = harness([{ name: 'a', schedule: '1h' }, { name: 'c', schedule: '0 * * * *', timezone: 'UTC' }], {
      lastStarts: { a: T0 - 10 * H, c: T0 - 10 * H },
    });
    h.scheduler.start();
    await h.clock.advance(30 * M);
    expect(h.starts.map((s) => s.job).sort()).toEqual(['a', 'c']);
    expect(h.starts.every((s) => s.at === T0)).toBe(true);
    await h.clock.advance(40 * M);
    // a: next at T0+1h; c: next at the next full hour (T0+1h).
    expect(h.starts.map((s) => iso(s.at))).toEqual([iso(T0), iso(T0), iso(T0 + H), iso(T0 + H)]);
  });

  it('a job that ran recently waits for its period', async () => {
    const h = harness([{ name: 'a', schedule: '6h' }], { lastStarts: { a: T0 - 2 * H } });
    h.scheduler.start();
    await h.clock.advance(3 * H + 59 * M);
    expect(h.starts).toHaveLength(0);
    await h.clock.advance(M);
    expect(h.starts.map((s) => iso(s.at))).toEqual([iso(T0 + 4 * H)]);
  });

  it('a run missed while the machine slept runs once at wake (within the poll interval)', async () => {
    const h = harness([{ name: 'a', schedule: '1h' }, { name: 'c', schedule: '0 * * * *', timezone: 'UTC' }], { concurrency: 2 });
    h.scheduler.start();
    await h.clock.advance(10 * M); // a ran at T0
    expect(h.starts.map((s) => s.job)).toEqual(['a']);
    h.clock.suspend(5 * H); // asleep from T0+10m to T0+5h10m: 5 runs of each job missed
    expect(h.starts).toHaveLength(1);
    await h.clock.advance(M); // the next poll (≤ 60 s after wake) notices
    const afterWake = h.starts.slice(1);
    expect(afterWake.map((s) => s.job).sort()).toEqual(['a', 'c']);
    for (const s of afterWake) expect(s.at).toBeGreaterThan(T0 + 5 * H + 10 * M);
    for (const s of afterWake) expect(s.at).toBeLessThanOrEqual(T0 + 5 * H + 11 * M);
    await h.clock.advance(30 * M);
    expect(h.starts).toHaveLength(3); // no catch-up burst
  });

  it('never overlaps two runs of one job; a run that overran its period is followed by one run', async () => {
    let release!: () => void;
    let blocking = true;
    const h = harness([{ name: 'a', schedule: '1h' }], {
      run: async () => {
        if (blocking) await new Promise<void>((r) => (release = r));
      },
    });
    h.scheduler.start();
    await h.clock.advance(5 * H + 30 * M);
    expect(h.starts).toHaveLength(1);
    expect(h.scheduler.running()).toEqual(['a']);
    blocking = false;
    release();
    await h.clock.advance(M);
    // Overdue since T0+1h: one run now, not five.
    expect(h.starts.map((s) => iso(s.at))).toEqual([iso(T0), iso(T0 + 5 * H + 30 * M)]);
    expect(h.live.maxPerJob).toBe(1);
    await h.clock.advance(H);
    expect(h.starts).toHaveLength(3);
  });

  it('runs one job at a time by default; others wait their turn', async () => {
    const h = harness([{ name: 'a', schedule: '1h' }, { name: 'b', schedule: '1h' }], {
      run: async (_job, _signal, clock) => {
        await new Promise<void>((r) => clock.setTimeout(r, 10 * M));
      },
    });
    h.scheduler.start();
    await h.clock.advance(30 * M);
    expect(h.live.max).toBe(1);
    expect(h.starts.map((s) => `${s.job}@${(s.at - T0) / M}m`)).toEqual(['a@0m', 'b@10m']);
  });

  it('stop() aborts the running run, waits for it, and schedules nothing more', async () => {
    let sawAbort = false;
    const h = harness([{ name: 'a', schedule: '1h' }], {
      run: (_job, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(new Error('aborted'));
          });
        }),
    });
    h.scheduler.start();
    await h.clock.advance(M);
    expect(h.scheduler.running()).toEqual(['a']);
    await h.scheduler.stop();
    expect(sawAbort).toBe(true);
    expect(h.scheduler.running()).toEqual([]);
    expect(h.events.some((e) => e.type === 'end' && e.error !== undefined)).toBe(true);
    await h.clock.advance(5 * H);
    expect(h.starts).toHaveLength(1);
    expect(h.clock.pending).toBe(0);
  });

  it('a failing run is reported and the job stays scheduled', async () => {
    const h = harness([{ name: 'a', schedule: '1h' }], {
      run: async () => {
        throw new Error('boom');
      },
    });
    h.scheduler.start();
    await h.clock.advance(2 * H + M);
    expect(h.starts).toHaveLength(3);
    expect(h.events.filter((e) => e.type === 'end' && (e.error as Error)?.message === 'boom')).toHaveLength(3);
  });

  it('accepts 6-field cron expressions (seconds first) and nicknames', async () => {
    const h = harness([{ name: 'newyear', schedule: '0 0 0 1 1 *', timezone: 'UTC' }, { name: 'hourly', schedule: '@hourly', timezone: 'UTC' }], {
      start: Date.parse('2026-12-31T22:30:00.000Z'),
      concurrency: 2,
    });
    h.scheduler.start();
    await h.clock.advance(2 * H);
    expect(h.starts.map((s) => `${s.job}@${iso(s.at)}`).sort()).toEqual([
      'hourly@2026-12-31T23:00:00.000Z',
      'hourly@2027-01-01T00:00:00.000Z',
      'newyear@2027-01-01T00:00:00.000Z',
    ]);
    await settle();
  });
});
