import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { applyPolicy, formatDuration, isEmptyPolicy, isoWeek, parseDuration } from '../../src/snapshot/policy.js';
import type { PolicyDecision, RetentionPolicy } from '../../src/snapshot/policy.js';
import type { SnapshotEntry } from '../../src/snapshot/selector.js';
import type { SnapshotManifest } from '../../src/snapshot/manifest.js';
import { entry, expectError, isoTime } from './helpers.js';

const NOW = new Date('2030-01-01T00:00:00.000Z');

/** [time, reasons] of the kept decisions, newest first. */
function kept(ds: PolicyDecision<SnapshotEntry>[]): [string, string[]][] {
  return ds
    .filter((d) => d.keep)
    .sort((a, b) => (a.snapshot.manifest.time < b.snapshot.manifest.time ? 1 : a.snapshot.manifest.time > b.snapshot.manifest.time ? -1 : a.snapshot.id < b.snapshot.id ? 1 : -1))
    .map((d) => [d.snapshot.manifest.time, d.reasons]);
}

function keptTimes(ds: PolicyDecision<SnapshotEntry>[]): string[] {
  return kept(ds).map(([t]) => t);
}

// ---- restic's TestApplyPolicy input (internal/data/snapshot_policy_test.go), times in UTC ----

const resticInput: [string, string[]?, string[]?][] = [
  ['2014-09-01 10:20:30'], ['2014-09-02 10:20:30'], ['2014-09-05 10:20:30'], ['2014-09-06 10:20:30'],
  ['2014-09-08 10:20:30'], ['2014-09-09 10:20:30'], ['2014-09-10 10:20:30'], ['2014-09-11 10:20:30'],
  ['2014-09-20 10:20:30'], ['2014-09-22 10:20:30'], ['2014-08-08 10:20:30'], ['2014-08-10 10:20:30'],
  ['2014-08-12 10:20:30'], ['2014-08-13 10:20:30'], ['2014-08-13 10:20:30.1'], ['2014-08-15 10:20:30'],
  ['2014-08-18 10:20:30'], ['2014-08-20 10:20:30'], ['2014-08-21 10:20:30'], ['2014-08-22 10:20:30'],
  ['2014-10-01 10:20:30', ['foo']], ['2014-10-02 10:20:30', ['foo']], ['2014-10-05 10:20:30', ['foo']],
  ['2014-10-06 10:20:30', ['foo']], ['2014-10-08 10:20:30', ['foo']], ['2014-10-09 10:20:30', ['foo']],
  ['2014-10-10 10:20:30', ['foo']], ['2014-10-11 10:20:30', ['foo']], ['2014-10-20 10:20:30', ['foo']],
  ['2014-10-22 10:20:30', ['foo']], ['2014-11-08 10:20:30', ['foo']], ['2014-11-10 10:20:30', ['foo']],
  ['2014-11-12 10:20:30', ['foo']], ['2014-11-13 10:20:30', ['foo']], ['2014-11-13 10:20:30.1', ['bar']],
  ['2014-11-15 10:20:30', ['foo', 'bar']], ['2014-11-18 10:20:30'], ['2014-11-20 10:20:30'],
  ['2014-11-21 10:20:30'], ['2014-11-22 10:20:30'], ['2015-09-01 10:20:30'], ['2015-09-02 10:20:30'],
  ['2015-09-05 10:20:30'], ['2015-09-06 10:20:30'], ['2015-09-08 10:20:30'], ['2015-09-09 10:20:30'],
  ['2015-09-10 10:20:30'], ['2015-09-11 10:20:30'], ['2015-09-20 10:20:30'], ['2015-09-22 10:20:30'],
  ['2015-08-08 10:20:30'], ['2015-08-10 10:20:30'], ['2015-08-12 10:20:30'], ['2015-08-13 10:20:30'],
  ['2015-08-13 10:20:30.1'], ['2015-08-15 10:20:30'], ['2015-08-18 10:20:30'], ['2015-08-20 10:20:30'],
  ['2015-08-21 10:20:30'], ['2015-08-22 10:20:30'], ['2015-10-01 10:20:30'], ['2015-10-02 10:20:30'],
  ['2015-10-05 10:20:30'], ['2015-10-06 10:20:30'], ['2015-10-08 10:20:30'], ['2015-10-09 10:20:30'],
  ['2015-10-10 10:20:30'], ['2015-10-11 10:20:30'], ['2015-10-20 10:20:30'], ['2015-10-22 10:20:30'],
  ['2015-10-22 10:20:30'], ['2015-10-22 10:20:30', ['foo', 'bar']], ['2015-10-22 10:20:30', ['foo', 'bar']],
  ['2015-10-22 10:20:30', ['foo', 'bar'], ['/path1', '/path2']], ['2015-11-08 10:20:30'], ['2015-11-10 10:20:30'],
  ['2015-11-12 10:20:30'], ['2015-11-13 10:20:30'], ['2015-11-13 10:20:30.1'], ['2015-11-15 10:20:30'],
  ['2015-11-18 10:20:30'], ['2015-11-20 10:20:30'], ['2015-11-21 10:20:30'], ['2015-11-22 10:20:30'],
  ['2016-01-01 01:02:03'], ['2016-01-01 01:03:03'], ['2016-01-01 07:08:03'], ['2016-01-03 07:02:03'],
  ['2016-01-04 10:23:03'], ['2016-01-04 11:23:03'], ['2016-01-04 12:23:03'], ['2016-01-04 12:24:03'],
  ['2016-01-04 12:28:03'], ['2016-01-04 12:30:03'], ['2016-01-04 16:23:03'], ['2016-01-05 09:02:03'],
  ['2016-01-06 08:02:03'], ['2016-01-07 10:02:03'], ['2016-01-08 20:02:03'], ['2016-01-09 21:02:03'],
  ['2016-01-12 21:02:03'], ['2016-01-12 21:08:03'], ['2016-01-18 12:02:03'],
];

// restic sorts with a stable sort, so among equal times the earlier input comes first
// (counts as newer); we break ties by id descending, so ids decrease with the input index.
// restic groups by host+paths only with --group-by; its policy test applies to all, so one source here.
const resticEntries: SnapshotEntry[] = resticInput.map(([t, tags, paths], i) =>
  entry(1000 - i, t, { tags: tags ?? [], ...(paths === undefined ? {} : { paths }) }),
);

const T = isoTime;

describe("restic's golden policy results (internal/data/testdata/policy_keep_snapshots_N)", () => {
  test('#7 keep-daily 10', () => {
    const ds = applyPolicy(resticEntries, { daily: 10 }, NOW);
    expect(kept(ds)).toEqual(
      ['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-09 21:02:03', '2016-01-08 20:02:03', '2016-01-07 10:02:03',
        '2016-01-06 08:02:03', '2016-01-05 09:02:03', '2016-01-04 16:23:03', '2016-01-03 07:02:03', '2016-01-01 07:08:03'].map((t) => [T(t), ['daily snapshot']]),
    );
  });

  test('#15 keep-daily 2, keep-weekly 2, keep-monthly 6', () => {
    const ds = applyPolicy(resticEntries, { daily: 2, weekly: 2, monthly: 6 }, NOW);
    expect(kept(ds)).toEqual([
      [T('2016-01-18 12:02:03'), ['daily snapshot', 'weekly snapshot', 'monthly snapshot']],
      [T('2016-01-12 21:08:03'), ['daily snapshot', 'weekly snapshot']],
      [T('2015-11-22 10:20:30'), ['monthly snapshot']],
      [T('2015-10-22 10:20:30'), ['monthly snapshot']],
      [T('2015-09-22 10:20:30'), ['monthly snapshot']],
      [T('2015-08-22 10:20:30'), ['monthly snapshot']],
      [T('2014-11-22 10:20:30'), ['monthly snapshot']],
    ]);
  });

  test('#39 keep-daily 3, keep-weekly 2, keep-monthly unlimited, keep-yearly unlimited (oldest kept)', () => {
    const ds = applyPolicy(resticEntries, { daily: 3, weekly: 2, monthly: -1, yearly: -1 }, NOW);
    expect(kept(ds)).toEqual([
      [T('2016-01-18 12:02:03'), ['daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot']],
      [T('2016-01-12 21:08:03'), ['daily snapshot', 'weekly snapshot']],
      [T('2016-01-09 21:02:03'), ['daily snapshot']],
      [T('2015-11-22 10:20:30'), ['monthly snapshot', 'yearly snapshot']],
      [T('2015-10-22 10:20:30'), ['monthly snapshot']],
      [T('2015-09-22 10:20:30'), ['monthly snapshot']],
      [T('2015-08-22 10:20:30'), ['monthly snapshot']],
      [T('2014-11-22 10:20:30'), ['monthly snapshot', 'yearly snapshot']],
      [T('2014-10-22 10:20:30'), ['monthly snapshot']],
      [T('2014-09-22 10:20:30'), ['monthly snapshot']],
      [T('2014-08-22 10:20:30'), ['monthly snapshot']],
      [T('2014-08-08 10:20:30'), ['oldest monthly snapshot', 'oldest yearly snapshot']],
    ]);
    // Of the five snapshots at 2015-10-22 10:20:30 the first in restic's input order is kept: untagged.
    const oct22 = ds.filter((d) => d.keep && d.snapshot.manifest.time === T('2015-10-22 10:20:30'));
    expect(oct22.map((d) => d.snapshot.id)).toEqual([resticEntries[69]?.id]);
  });

  test('#22 keep-within 2d', () => {
    expect(kept(applyPolicy(resticEntries, { within: '2d' }, NOW))).toEqual([[T('2016-01-18 12:02:03'), ['within 2d']]]);
  });

  test('#29 keep-within 1y2m3d3h', () => {
    const ds = applyPolicy(resticEntries, { within: '1y2m3d3h' }, NOW);
    const times = keptTimes(ds);
    expect(times).toHaveLength(68);
    expect(times.at(-1)).toBe(T('2014-11-15 10:20:30'));
    expect(ds.filter((d) => d.keep).every((d) => d.reasons.join() === 'within 1y2m3d3h')).toBe(true);
  });

  test('#32 keep-within-weekly 1y2m3d3h', () => {
    const ds = applyPolicy(resticEntries, { withinWeekly: '1y2m3d3h' }, NOW);
    expect(kept(ds)).toEqual(
      ['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-09 21:02:03', '2016-01-03 07:02:03', '2015-11-22 10:20:30',
        '2015-11-15 10:20:30', '2015-11-08 10:20:30', '2015-10-22 10:20:30', '2015-10-11 10:20:30', '2015-10-02 10:20:30',
        '2015-09-22 10:20:30', '2015-09-20 10:20:30', '2015-09-11 10:20:30', '2015-09-06 10:20:30', '2015-08-22 10:20:30',
        '2015-08-15 10:20:30', '2015-08-08 10:20:30', '2014-11-22 10:20:30', '2014-11-15 10:20:30'].map((t) => [T(t), ['weekly within 1y2m3d3h']]),
    );
  });

  test('#20 keep-tag foo, keep-tag bar', () => {
    const ds = applyPolicy(resticEntries, { tags: [['foo'], ['bar']] }, NOW);
    const k = kept(ds);
    expect(k).toHaveLength(19);
    expect(k.slice(0, 6)).toEqual([
      [T('2015-10-22 10:20:30'), ['has tag foo', 'has tag bar']],
      [T('2015-10-22 10:20:30'), ['has tag foo', 'has tag bar']],
      [T('2015-10-22 10:20:30'), ['has tag foo', 'has tag bar']],
      [T('2014-11-15 10:20:30'), ['has tag foo', 'has tag bar']],
      [T('2014-11-13 10:20:30.1'), ['has tag bar']],
      [T('2014-11-13 10:20:30'), ['has tag foo']],
    ]);
    expect(k.at(-1)).toEqual([T('2014-10-01 10:20:30'), ['has tag foo']]);
  });

  test('#19 keep-tag foo,bar (all tags of the group)', () => {
    const k = kept(applyPolicy(resticEntries, { tags: [['foo', 'bar']] }, NOW));
    expect(k.map(([t]) => t)).toEqual([T('2015-10-22 10:20:30'), T('2015-10-22 10:20:30'), T('2015-10-22 10:20:30'), T('2014-11-15 10:20:30')]);
    expect(k[0]?.[1]).toEqual(['has tags foo,bar']);
  });

  test('keep-last n and unlimited', () => {
    expect(keptTimes(applyPolicy(resticEntries, { last: 10 }, NOW))).toHaveLength(10);
    expect(applyPolicy(resticEntries, { last: 200 }, NOW).every((d) => d.keep)).toBe(true);
    expect(applyPolicy(resticEntries, { last: -1 }, NOW).every((d) => d.keep && d.reasons.join() === 'last snapshot')).toBe(true);
  });

  test('keep-hourly unlimited keeps one per hour', () => {
    const k = kept(applyPolicy(resticEntries, { hourly: -1 }, NOW));
    const hours = k.map(([t]) => t.slice(0, 13));
    expect(new Set(hours).size).toBe(hours.length);
    expect(hours.length).toBe(new Set(resticEntries.map((e) => e.manifest.time.slice(0, 13))).size);
    expect(k.every(([, rs]) => rs.join() === 'hourly snapshot')).toBe(true);
  });
});

describe("restic's documented examples (doc/060_forget.rst)", () => {
  test('one backup every Sunday for 12 weeks, --keep-daily 4', () => {
    const times = ['2019-09-01', '2019-09-08', '2019-09-15', '2019-09-22', '2019-09-29', '2019-10-06', '2019-10-13', '2019-10-20', '2019-10-27', '2019-11-03', '2019-11-10', '2019-11-17'];
    const es = times.map((d, i) => entry(i, `${d} 11:00:00`));
    const k = kept(applyPolicy(es, { daily: 4 }, NOW));
    expect(k).toEqual(['2019-11-17', '2019-11-10', '2019-11-03', '2019-10-27'].map((d) => [T(`${d} 11:00:00`), ['daily snapshot']]));
  });

  test('daily backups for 100 years, --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75', () => {
    const end = Date.UTC(2025, 11, 31, 3, 0, 0);
    const days = 365 * 100 + 25;
    const es = Array.from({ length: days }, (_, i) => entry(i, new Date(end - i * 86_400_000).toISOString()));
    const ds = applyPolicy(es, { daily: 7, weekly: 5, monthly: 12, yearly: 75 }, NOW);
    const k = kept(ds);
    const count = (r: string): number => k.filter(([, rs]) => rs.includes(r)).length;
    expect(count('daily snapshot')).toBe(7);
    expect(count('weekly snapshot')).toBe(5);
    expect(count('monthly snapshot')).toBe(12);
    expect(count('yearly snapshot')).toBe(75);
    // 7 dailies (Dec 25–31) hold 2 weeklies (Wed Dec 31 and Sun Dec 28), so 3 more weeklies,
    // 11 more monthlies (last days of Jan–Nov) and 74 more yearlies (Dec 31 1951–2024).
    expect(k).toHaveLength(7 + 3 + 11 + 74);
    expect(k.slice(7, 10).map(([t]) => t.slice(0, 10))).toEqual(['2025-12-21', '2025-12-14', '2025-12-07']);
    expect(k.at(-1)).toEqual([new Date(Date.UTC(1951, 11, 31, 3)).toISOString(), ['yearly snapshot']]);
  });
});

describe('calendar details (UTC)', () => {
  test.each([
    ['2021-01-03T23:59:59.999Z', 2020, 53],
    ['2021-01-04T00:00:00.000Z', 2021, 1],
    ['2019-12-30T00:00:00.000Z', 2020, 1],
    ['2026-01-01T12:00:00.000Z', 2026, 1],
    ['2024-12-29T00:00:00.000Z', 2024, 52],
    ['2024-12-30T00:00:00.000Z', 2025, 1],
    ['2015-12-31T00:00:00.000Z', 2015, 53],
  ])('isoWeek(%s) = %i-W%i', (t, year, week) => {
    expect(isoWeek(Date.parse(t))).toEqual({ year, week });
  });

  test('weekly buckets run Monday to Sunday across the year boundary', () => {
    const es = ['2020-12-31 10:00:00', '2021-01-03 10:00:00', '2021-01-04 10:00:00'].map((t, i) => entry(i, t));
    expect(keptTimes(applyPolicy(es, { weekly: 2 }, NOW))).toEqual([T('2021-01-04 10:00:00'), T('2021-01-03 10:00:00')]);
  });

  test('daily and hourly buckets are UTC', () => {
    const es = ['2026-05-01 23:30:00', '2026-05-01 23:10:00', '2026-05-02 00:10:00'].map((t, i) => entry(i, t));
    expect(keptTimes(applyPolicy(es, { daily: 2 }, NOW))).toEqual([T('2026-05-02 00:10:00'), T('2026-05-01 23:30:00')]);
    expect(keptTimes(applyPolicy(es, { hourly: 1 }, NOW))).toEqual([T('2026-05-02 00:10:00')]);
  });

  test('within uses calendar arithmetic relative to the newest snapshot, strictly after', () => {
    // 2026-03-31 minus 1 month is "2026-02-31", normalized to 2026-03-03 (as Go's AddDate).
    const es = [entry(1, '2026-03-31 12:00:00'), entry(2, '2026-03-03 12:00:00.001'), entry(3, '2026-03-03 12:00:00')];
    expect(keptTimes(applyPolicy(es, { within: '1m' }, NOW))).toEqual([T('2026-03-31 12:00:00'), T('2026-03-03 12:00:00.001')]);
    // Hours are subtracted after the calendar part.
    const hs = [entry(1, '2026-03-31 12:00:00'), entry(2, '2026-03-30 10:00:00.001'), entry(3, '2026-03-30 10:00:00')];
    expect(keptTimes(applyPolicy(hs, { within: '1d2h' }, NOW))).toHaveLength(2);
  });

  test('within ignores now, but snapshots in the future do not count as the newest', () => {
    const es = [entry(1, '2026-01-10 00:00:00'), entry(2, '2026-01-09 00:00:00'), entry(3, '2026-01-01 00:00:00')];
    expect(keptTimes(applyPolicy(es, { within: '2d' }, NOW))).toHaveLength(2);
    const now = new Date('2026-01-09T12:00:00.000Z'); // snapshot 1 is in the future
    const ds = applyPolicy(es, { within: '2d' }, now);
    expect(keptTimes(ds)).toEqual([T('2026-01-10 00:00:00'), T('2026-01-09 00:00:00')]);
    const past = new Date('2020-01-01T00:00:00.000Z'); // everything in the future: everything within
    expect(applyPolicy(es, { within: '1h' }, past).every((d) => d.keep)).toBe(true);
  });

  test('within-daily reasons and the oldest rule', () => {
    const es = ['2026-01-03 10:00:00', '2026-01-03 09:00:00', '2026-01-02 10:00:00', '2026-01-02 08:00:00'].map((t, i) => entry(i, t));
    expect(kept(applyPolicy(es, { withinDaily: '10d' }, NOW))).toEqual([
      [T('2026-01-03 10:00:00'), ['daily within 10d']],
      [T('2026-01-02 10:00:00'), ['daily within 10d']],
      [T('2026-01-02 08:00:00'), ['oldest daily within 10d']],
    ]);
  });

  test('keep-tag "" keeps untagged snapshots', () => {
    const es = [entry(1, '2026-01-01 00:00:00', { tags: ['x'] }), entry(2, '2026-01-02 00:00:00')];
    expect(kept(applyPolicy(es, { tags: [['']] }, NOW))).toEqual([[T('2026-01-02 00:00:00'), ['untagged']]]);
  });
});

describe('clawback additions', () => {
  const series = (n: number, over: (i: number) => Partial<SnapshotManifest> = () => ({})): SnapshotEntry[] =>
    Array.from({ length: n }, (_, i) => entry(i, new Date(Date.UTC(2029, 11, 31) - i * 86_400_000).toISOString(), over(i)));

  test('maxBackups keeps the newest n', () => {
    const ds = applyPolicy(series(10), { maxBackups: 3 }, NOW);
    expect(ds.map((d) => d.keep)).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(ds[0]?.reasons).toEqual(['one of the newest 3 (max-backups)']);
    expect(ds[5]?.reasons).toEqual([]);
  });

  test('maxAgeDays is relative to now; then maxBackups', () => {
    // Snapshots are 1..10 days before NOW.
    const ds = applyPolicy(series(10), { maxAgeDays: 5 }, NOW);
    expect(ds.filter((d) => d.keep)).toHaveLength(5);
    expect(ds[0]?.reasons).toEqual(['within max-age-days 5']);
    const both = applyPolicy(series(10), { maxAgeDays: 5, maxBackups: 2 }, NOW);
    expect(both.map((d) => d.keep)).toEqual([true, true, false, false, false, false, false, false, false, false]);
    expect(both[1]?.reasons).toEqual(['within max-age-days 5', 'one of the newest 2 (max-backups)']);
  });

  test('max rules cap the restic rules', () => {
    // keep-daily 7 keeps 7 (one per day); max-backups 3 keeps the newest 3 of those.
    const ds = applyPolicy(series(10), { daily: 7, maxBackups: 3 }, NOW);
    expect(ds.map((d) => d.keep)).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(ds[0]?.reasons).toEqual(['daily snapshot', 'one of the newest 3 (max-backups)']);
    // max-backups counts only what the restic rules keep: two per day, keep-daily 3 → 3 kept.
    const twoPerDay = Array.from({ length: 10 }, (_, i) => entry(i, new Date(Date.UTC(2029, 11, 31, 12) - i * 43_200_000).toISOString()));
    expect(applyPolicy(twoPerDay, { daily: 3, maxBackups: 5 }, NOW).filter((d) => d.keep)).toHaveLength(3);
    // A snapshot kept by restic rules is still dropped when older than max-age-days.
    expect(applyPolicy(series(10), { last: -1, maxAgeDays: 2 }, NOW).filter((d) => d.keep)).toHaveLength(2);
  });

  test('autoOnly: manual snapshots are kept and do not count', () => {
    const es = series(6, (i) => ({ kind: i % 2 === 0 ? 'manual' : 'auto' }));
    const ds = applyPolicy(es, { last: 1, autoOnly: true }, NOW);
    expect(ds.map((d) => d.keep)).toEqual([true, true, true, false, true, false]);
    expect(ds[0]?.reasons).toEqual(['manual snapshot (auto-only)']);
    expect(ds[1]?.reasons).toEqual(['last snapshot']);
    const capped = applyPolicy(es, { maxBackups: 2, autoOnly: true }, NOW);
    expect(capped.map((d) => d.keep)).toEqual([true, true, true, true, true, false]);
    // Without autoOnly, manual snapshots are treated like any other.
    expect(applyPolicy(es, { last: 1 }, NOW).filter((d) => d.keep)).toHaveLength(1);
  });

  test('groups by source; decisions in input order with the entries passed in', () => {
    const es = [
      entry(1, '2026-01-01 00:00:00', { source: 'a' }),
      entry(2, '2026-01-02 00:00:00', { source: 'b' }),
      entry(3, '2026-01-03 00:00:00', { source: 'a' }),
      entry(4, '2026-01-04 00:00:00', { source: 'b' }),
    ];
    const ds = applyPolicy(es, { last: 1 }, NOW);
    expect(ds.map((d) => d.snapshot)).toEqual(es);
    expect(ds[0]?.snapshot).toBe(es[0]);
    expect(ds.map((d) => d.keep)).toEqual([false, false, true, true]);
    // within is relative to each group's newest
    const w = applyPolicy([entry(1, '2026-01-01 00:00:00', { source: 'a' }), entry(2, '2026-06-01 00:00:00', { source: 'b' })], { within: '1d' }, NOW);
    expect(w.every((d) => d.keep)).toBe(true);
  });

  test('empty policies are refused', () => {
    for (const p of [{}, { last: 0 }, { autoOnly: true }, { tags: [] }, { within: '0d' }] as RetentionPolicy[]) {
      expect(isEmptyPolicy(p)).toBe(true);
      expectError(() => applyPolicy([], p, NOW), 'USAGE', /refusing to forget every snapshot: give at least one --keep-\* option/);
    }
    for (const p of [{ last: 1 }, { maxBackups: 1 }, { maxAgeDays: 1 }, { tags: [['x']] }, { withinYearly: '1y' }, { monthly: -1 }] as RetentionPolicy[]) {
      expect(isEmptyPolicy(p)).toBe(false);
    }
  });

  test.each<[RetentionPolicy, RegExp]>([
    [{ last: -2 }, /keep-last -2/],
    [{ daily: 1.5 }, /keep-daily 1.5/],
    [{ maxBackups: 0 }, /maxBackups 0/],
    [{ maxAgeDays: -1 }, /maxAgeDays -1/],
    [{ maxAgeDays: 0.5 }, /maxAgeDays 0.5/],
    [{ tags: [[]] }, /tag group/],
    [{ within: '2w' }, /unknown unit "w"/],
    [{ withinDaily: '' }, /empty/],
  ])('invalid policy %j → USAGE', (p, message) => {
    expectError(() => applyPolicy([], p, NOW), 'USAGE', message);
  });

  fcTest.prop([
    fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { maxLength: 30 }),
    fc.record({
      last: fc.integer({ min: -1, max: 5 }),
      hourly: fc.integer({ min: -1, max: 5 }),
      daily: fc.integer({ min: -1, max: 5 }),
      weekly: fc.integer({ min: -1, max: 3 }),
      monthly: fc.integer({ min: -1, max: 3 }),
      within: fc.constantFrom(undefined, '3d', '1m2h'),
      maxBackups: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
    }),
  ])('decisions: one per entry, independent of input order, reasons iff kept, counts bounded', (hours, p) => {
    const policy: RetentionPolicy = { ...p };
    if (isEmptyPolicy(policy)) return;
    const es = hours.map((h, i) => entry(i, new Date(Date.UTC(2026, 0, 1) + h * 3_600_000 * 7).toISOString()));
    const ds = applyPolicy(es, policy, NOW);
    expect(ds).toHaveLength(es.length);
    for (const d of ds) expect(d.keep).toBe(d.reasons.length > 0);
    const rev = applyPolicy([...es].reverse(), policy, NOW);
    expect(new Set(rev.filter((d) => d.keep).map((d) => d.snapshot.id))).toEqual(new Set(ds.filter((d) => d.keep).map((d) => d.snapshot.id)));
    if (policy.maxBackups !== undefined) expect(ds.filter((d) => d.keep).length).toBeLessThanOrEqual(policy.maxBackups);
    const counts = [p.last, p.hourly, p.daily, p.weekly, p.monthly];
    if (es.length > 0 && counts.some((c) => c !== 0)) expect(ds.some((d) => d.keep)).toBe(true);
    if (p.within === undefined && p.maxBackups === undefined && counts.every((c) => c >= 0)) {
      // restic's bound: at most the sum of the counts (+1 per rule for the oldest snapshot).
      const active = counts.filter((c) => c > 0);
      expect(ds.filter((d) => d.keep).length).toBeLessThanOrEqual(active.reduce((a, b) => a + b, 0) + active.length);
    }
  });
});

describe('parseDuration', () => {
  test.each<[string, { years: number; months: number; days: number; hours: number }, string]>([
    ['2d', { years: 0, months: 0, days: 2, hours: 0 }, '2d'],
    ['1y5m7d2h', { years: 1, months: 5, days: 7, hours: 2 }, '1y5m7d2h'],
    ['1y1d1m', { years: 1, months: 1, days: 1, hours: 0 }, '1y1m1d'],
    ['36h', { years: 0, months: 0, days: 0, hours: 36 }, '36h'],
    [' 13d23h ', { years: 0, months: 0, days: 13, hours: 23 }, '13d23h'],
    ['0d', { years: 0, months: 0, days: 0, hours: 0 }, ''],
  ])('%j', (s, d, formatted) => {
    expect(parseDuration(s)).toEqual(d);
    expect(formatDuration(parseDuration(s))).toBe(formatted);
  });

  test.each(['', '   ', 'd', '2', '2w', '2D', '-1d', '1d1d', '1.5d', '2 d', 'x2d', '9999999d'])('%j → USAGE', (s) => {
    expectError(() => parseDuration(s), 'USAGE', /invalid duration.*write it like 2d/);
  });

  test('huge but valid durations keep everything', () => {
    const es = [entry(1, '2026-01-01 00:00:00'), entry(2, '0001-01-01 00:00:00')];
    expect(applyPolicy(es, { within: '1000000y' }, NOW).every((d) => d.keep)).toBe(true);
  });
});
