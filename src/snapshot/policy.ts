/**
 * Retention policy for `clawback forget`: which snapshots to keep.
 *
 * The `last`/`hourly`/…/`within*`/`tags` rules are restic's `forget` policy, implemented
 * after restic's `internal/data/snapshot_policy.go` (`ApplyPolicy`) and documented at
 * https://restic.readthedocs.io/en/stable/060_forget.html ("Removing snapshots according
 * to a policy"):
 *
 * - Snapshots are considered newest first (ties: the higher id first, i.e. the reverse of
 *   the version order of `assignVersions`). Rules are OR-ed: a snapshot matching any rule
 *   is kept, with every matching rule listed in its reasons.
 * - `last n` keeps the n newest. `hourly`/`daily`/`weekly`/`monthly`/`yearly n` keep the
 *   newest snapshot of each of the n most recent distinct calendar buckets that contain a
 *   snapshot: hour (YYYYMMDDHH), day (YYYYMMDD), ISO-8601 week (ISO year*100 + ISO week,
 *   weeks run Monday 00:00 to Sunday 24:00), month (YYYYMM), year. `-1` means unlimited.
 *   While a rule still has counts left, the oldest snapshot is kept too (reason
 *   `oldest <rule>`), as restic ≥ 0.17 does, to maximize the history kept.
 * - `within D` keeps every snapshot strictly newer than (newest − D), where the newest is
 *   the newest snapshot of the group that is not in the future relative to `now`, and
 *   D = `1y5m7d2h` is subtracted with calendar arithmetic (years, months and days as by
 *   Go's `AddDate`/JS `Date.UTC` normalization, then hours). If every snapshot is in the
 *   future, every snapshot is within. `withinHourly D` etc. keep the bucket snapshots
 *   (as above, unlimited count) among the snapshots within D.
 * - `tags` keeps a snapshot that has all tags of at least one group; the group `['']`
 *   matches untagged snapshots (restic's `--keep-tag ''`).
 *
 * Deliberate differences from restic:
 * - Calendar buckets use **UTC**, not the local time zone, so a policy gives the same
 *   result on every machine (restic uses the local zone of the machine running forget).
 * - Grouping is by `manifest.source` (restic: host + paths by default).
 * - `tags` groups must be non-empty; durations must be positive and mention each unit at
 *   most once.
 *
 * clawback additions (OpenClaw's `maxBackups`/`maxAgeDays`):
 * - `maxAgeDays d` drops snapshots older than `now − d × 24 h`; then `maxBackups n` keeps
 *   only the n newest of the rest.
 * - When restic rules are given too, the max rules **cap** the restic result: restic rules
 *   pick a keep set first, then max-age drops old ones from that set and max-backups keeps
 *   the newest n of what is left. So a snapshot is kept only if the restic rules keep it
 *   *and* it survives the caps (max-backups counts only snapshots the restic rules keep).
 * - `autoOnly`: `manual` snapshots are always kept (reason `manual snapshot (auto-only)`)
 *   and neither count toward any limit nor serve as the newest snapshot for `within`.
 *
 * Pure module.
 */

import { ClawbackError } from '../errors.js';
import type { SnapshotEntry, Versioned } from './selector.js';

/** A retention policy. Counts: integer ≥ 0, or -1 for unlimited; 0/undefined = rule off. */
export interface RetentionPolicy {
  /** Keep the n newest snapshots (restic `--keep-last`). */
  last?: number;
  /** Keep the newest snapshot of each of the n newest hours with snapshots (UTC). */
  hourly?: number;
  /** … of each of the n newest days (UTC). */
  daily?: number;
  /** … of each of the n newest ISO weeks (UTC, Monday first). */
  weekly?: number;
  /** … of each of the n newest months (UTC). */
  monthly?: number;
  /** … of each of the n newest years (UTC). */
  yearly?: number;
  /** Keep every snapshot within this duration of the newest one, e.g. `2d`, `1y5m7d2h`. */
  within?: string;
  /** Keep hourly snapshots within this duration of the newest one. */
  withinHourly?: string;
  /** Keep daily snapshots within this duration of the newest one. */
  withinDaily?: string;
  /** Keep weekly snapshots within this duration of the newest one. */
  withinWeekly?: string;
  /** Keep monthly snapshots within this duration of the newest one. */
  withinMonthly?: string;
  /** Keep yearly snapshots within this duration of the newest one. */
  withinYearly?: string;
  /** Keep a snapshot if it has all tags of any group (`[['']]`: untagged snapshots). */
  tags?: string[][];
  /** Keep at most the n newest snapshots (integer ≥ 1), after `maxAgeDays`. */
  maxBackups?: number;
  /** Drop snapshots older than this many days (integer ≥ 1) before `now`. */
  maxAgeDays?: number;
  /** Apply the policy to `auto` snapshots only; `manual` ones are always kept. */
  autoOnly?: boolean;
}

/** The verdict for one snapshot. */
export interface PolicyDecision<T extends SnapshotEntry = Versioned | SnapshotEntry> {
  /** The entry as passed to {@link applyPolicy}. */
  snapshot: T;
  keep: boolean;
  /**
   * Why it is kept, in rule order, e.g. `last snapshot`, `daily snapshot`,
   * `oldest weekly snapshot`, `within 2d`, `daily within 7d`, `has tag keep`,
   * `has tags a,b`, `untagged`, `manual snapshot (auto-only)`, `within max-age-days 30`,
   * `one of the newest 7 (max-backups)`. Empty when removed.
   */
  reasons: string[];
}

/** A restic-style duration: each part a non-negative integer. */
export interface RetentionDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/** Largest number accepted in one duration part. */
const MAX_DURATION_PART = 1_000_000;

const UNIT_NAMES = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;

/**
 * Parses a restic duration: one or more `<integer><unit>` parts, units `y` (years),
 * `m` (months), `d` (days), `h` (hours), in any order, each unit at most once
 * (`2d`, `1y5m7d2h`, `36h`). Surrounding whitespace is ignored. Weeks (`1w`) are not a
 * unit, as in restic: write `7d`.
 *
 * @returns the parts; units not given are 0.
 * @throws ClawbackError `USAGE` for an empty string, a missing number or unit, an unknown
 *   unit, a repeated unit, a negative number or a part above 1000000.
 */
export function parseDuration(s: string): RetentionDuration {
  const text = typeof s === 'string' ? s.trim() : '';
  const bad = (why: string): never => {
    throw new ClawbackError(
      'USAGE',
      `invalid duration ${JSON.stringify(String(s))}: ${why}; write it like 2d, 36h or 1y5m7d2h (units y, m, d, h)`,
      { details: { duration: s } },
    );
  };
  if (text === '') bad('it is empty');
  const d: RetentionDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  const part = /(\d+)([a-zA-Z]?)/y;
  let pos = 0;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (m === null) bad(text[pos] === '-' ? 'negative numbers are not allowed' : `expected a number at ${JSON.stringify(text.slice(pos))}`);
    const [whole, digits, unit] = m as RegExpExecArray;
    if (unit === undefined || unit === '') bad(`no unit after number ${digits ?? ''}`);
    const u = unit as string;
    if (!(u in UNIT_NAMES)) bad(`unknown unit ${JSON.stringify(u)} after number ${digits ?? ''}`);
    if (seen.has(u)) bad(`unit ${JSON.stringify(u)} given twice`);
    seen.add(u);
    const n = Number(digits);
    if (!Number.isSafeInteger(n) || n > MAX_DURATION_PART) bad(`number ${digits ?? ''} is too large`);
    d[UNIT_NAMES[u as keyof typeof UNIT_NAMES]] = n;
    pos += whole.length;
  }
  return d;
}

/** Formats a duration like restic: non-zero parts in y, m, d, h order (`1y1m1d` for `1y1d1m`). */
export function formatDuration(d: RetentionDuration): string {
  let s = '';
  if (d.years !== 0) s += `${d.years}y`;
  if (d.months !== 0) s += `${d.months}m`;
  if (d.days !== 0) s += `${d.days}d`;
  if (d.hours !== 0) s += `${d.hours}h`;
  return s;
}

function isZeroDuration(d: RetentionDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

const COUNT_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const WITHIN_KEYS = ['withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;

/** True when `p.within*` names a non-zero duration (unparsable counts as set; applyPolicy rejects it). */
function withinSet(v: string | undefined): boolean {
  if (v === undefined) return false;
  try {
    return !isZeroDuration(parseDuration(v));
  } catch {
    return true;
  }
}

/** True when `p` has at least one restic rule (counts, within*, tags). */
function hasResticRules(p: RetentionPolicy): boolean {
  if (COUNT_KEYS.some((k) => (p[k] ?? 0) !== 0)) return true;
  if (withinSet(p.within) || WITHIN_KEYS.some((k) => withinSet(p[k]))) return true;
  return (p.tags?.length ?? 0) > 0;
}

function hasMaxRules(p: RetentionPolicy): boolean {
  return p.maxBackups !== undefined || p.maxAgeDays !== undefined;
}

/**
 * True when `p` has no rule at all: all counts 0 or absent, no non-zero duration, no tag
 * group, and neither `maxBackups` nor `maxAgeDays` (`autoOnly` alone is empty). Such a
 * policy would forget every snapshot, so {@link applyPolicy} refuses it.
 */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return !hasResticRules(p) && !hasMaxRules(p);
}

/** Checks the values of `p`; throws USAGE. Returns parsed durations. */
function validatePolicy(p: RetentionPolicy): { within?: RetentionDuration; buckets: (RetentionDuration | undefined)[] } {
  for (const k of COUNT_KEYS) {
    const v = p[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < -1)) {
      throw new ClawbackError('USAGE', `invalid keep-${k} ${String(v)}: give a count ≥ 0, or -1 (unlimited)`, { details: { [k]: v } });
    }
  }
  for (const [k, v] of [['maxBackups', p.maxBackups], ['maxAgeDays', p.maxAgeDays]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new ClawbackError('USAGE', `invalid ${k} ${String(v)}: give a whole number ≥ 1`, { details: { [k]: v } });
    }
  }
  if (p.tags !== undefined) {
    if (!Array.isArray(p.tags)) throw new ClawbackError('USAGE', 'invalid keep-tag: not a list of tag groups');
    for (const g of p.tags) {
      if (!Array.isArray(g) || g.length === 0 || g.some((t) => typeof t !== 'string')) {
        throw new ClawbackError('USAGE', 'invalid keep-tag: each tag group must list one or more tags (use "" for untagged snapshots)');
      }
    }
  }
  const parse = (v: string | undefined): RetentionDuration | undefined => {
    if (v === undefined) return undefined;
    const d = parseDuration(v);
    return isZeroDuration(d) ? undefined : d;
  };
  const within = parse(p.within);
  const buckets = WITHIN_KEYS.map((k) => parse(p[k]));
  return within === undefined ? { buckets } : { within, buckets };
}

// ---- calendar buckets (UTC) ----

type Bucker = (ms: number, nr: number) => number;

const always: Bucker = (_ms, nr) => nr;
const ymdh: Bucker = (ms) => {
  const d = new Date(ms);
  return d.getUTCFullYear() * 1_000_000 + (d.getUTCMonth() + 1) * 10_000 + d.getUTCDate() * 100 + d.getUTCHours();
};
const ymd: Bucker = (ms) => {
  const d = new Date(ms);
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
};
const ym: Bucker = (ms) => {
  const d = new Date(ms);
  return d.getUTCFullYear() * 100 + (d.getUTCMonth() + 1);
};
const y: Bucker = (ms) => new Date(ms).getUTCFullYear();
const yw: Bucker = (ms) => {
  const { year, week } = isoWeek(ms);
  return year * 100 + week;
};

/** The ISO-8601 week-numbering year and week (1..53) of the UTC day containing `ms` (as Go's `Time.ISOWeek`). */
export function isoWeek(ms: number): { year: number; week: number } {
  const d = new Date(ms);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const weekday = (d.getUTCDay() + 6) % 7; // Monday = 0
  const thursday = new Date(day + (3 - weekday) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const jan1 = Date.UTC(year, 0, 1);
  const week = Math.floor((thursday.getTime() - jan1) / 86_400_000 / 7) + 1;
  return { year, week };
}

/** `ms` minus `d`, calendar-wise in UTC (years/months/days normalized like Go's AddDate, then hours). */
function subtractDuration(ms: number, d: RetentionDuration): number {
  const t = new Date(ms);
  const shifted = Date.UTC(
    t.getUTCFullYear() - d.years,
    t.getUTCMonth() - d.months,
    t.getUTCDate() - d.days,
    t.getUTCHours(),
    t.getUTCMinutes(),
    t.getUTCSeconds(),
    t.getUTCMilliseconds(),
  );
  const r = shifted - d.hours * 3_600_000;
  return Number.isFinite(r) ? r : Number.NEGATIVE_INFINITY;
}

interface Item<T extends SnapshotEntry> {
  entry: T;
  ms: number;
  reasons: string[];
  keep: boolean;
}

/** Newest first; ties: higher id first (reverse of assignVersions order). */
function newestFirst<T extends SnapshotEntry>(a: Item<T>, b: Item<T>): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  if (a.entry.id !== b.entry.id) return a.entry.id < b.entry.id ? 1 : -1;
  return 0;
}

function tagReason(group: readonly string[]): string {
  if (group.length === 1 && group[0] === '') return 'untagged';
  return group.length === 1 ? `has tag ${group[0] ?? ''}` : `has tags ${group.join(',')}`;
}

/** restic's `HasTags`: all tags of `group` present; a `''` tag matches an untagged snapshot. */
function hasTags(tags: readonly string[], group: readonly string[]): boolean {
  for (const t of group) {
    if (t === '' && tags.length === 0) return true;
    if (!tags.includes(t)) return false;
  }
  return true;
}

/** restic's ApplyPolicy on one group, `list` newest first; sets keep/reasons. */
function applyRestic<T extends SnapshotEntry>(
  list: Item<T>[],
  p: RetentionPolicy,
  parsed: { within?: RetentionDuration; buckets: (RetentionDuration | undefined)[] },
  nowMs: number,
): void {
  if (list.length === 0) return;
  const buckets: { count: number; bucker: Bucker; last: number; reason: string }[] = [
    { count: p.last ?? 0, bucker: always, last: -1, reason: 'last snapshot' },
    { count: p.hourly ?? 0, bucker: ymdh, last: -1, reason: 'hourly snapshot' },
    { count: p.daily ?? 0, bucker: ymd, last: -1, reason: 'daily snapshot' },
    { count: p.weekly ?? 0, bucker: yw, last: -1, reason: 'weekly snapshot' },
    { count: p.monthly ?? 0, bucker: ym, last: -1, reason: 'monthly snapshot' },
    { count: p.yearly ?? 0, bucker: y, last: -1, reason: 'yearly snapshot' },
  ];
  const withinBuckers: Bucker[] = [ymdh, ymd, yw, ym, y];
  const withinNames = ['hourly within', 'daily within', 'weekly within', 'monthly within', 'yearly within'];
  const bucketsWithin = parsed.buckets.map((d, i) => ({
    within: d,
    bucker: withinBuckers[i] as Bucker,
    last: -1,
    reason: withinNames[i] as string,
  }));

  // The newest snapshot that is not in the future; if none, everything counts as within.
  let latest = Number.NEGATIVE_INFINITY;
  for (const it of list) if (it.ms < nowMs && it.ms > latest) latest = it.ms;
  const threshold = (d: RetentionDuration): number =>
    latest === Number.NEGATIVE_INFINITY ? Number.NEGATIVE_INFINITY : subtractDuration(latest, d);

  const lastIndex = list.length - 1;
  list.forEach((cur, nr) => {
    let keep = false;
    const reasons: string[] = [];
    for (const g of p.tags ?? []) {
      if (hasTags(cur.entry.manifest.tags, g)) {
        keep = true;
        reasons.push(tagReason(g));
      }
    }
    if (parsed.within !== undefined && cur.ms > threshold(parsed.within)) {
      keep = true;
      reasons.push(`within ${formatDuration(parsed.within)}`);
    }
    for (const b of buckets) {
      if (b.count > 0 || b.count === -1) {
        const val = b.bucker(cur.ms, nr);
        if (val !== b.last || nr === lastIndex) {
          keep = true;
          reasons.push(val === b.last ? `oldest ${b.reason}` : b.reason);
          b.last = val;
          if (b.count > 0) b.count--;
        }
      }
    }
    for (const b of bucketsWithin) {
      if (b.within !== undefined && cur.ms > threshold(b.within)) {
        const val = b.bucker(cur.ms, nr);
        if (val !== b.last || nr === lastIndex) {
          keep = true;
          const reason = val === b.last ? `oldest ${b.reason}` : b.reason;
          reasons.push(`${reason} ${formatDuration(b.within)}`);
          b.last = val;
        }
      }
    }
    cur.keep = keep;
    cur.reasons = reasons;
  });
}

/** Applies maxAgeDays then maxBackups to the kept items of `list` (newest first). */
function applyCaps<T extends SnapshotEntry>(list: Item<T>[], p: RetentionPolicy, nowMs: number): void {
  let survivors = list.filter((it) => it.keep);
  if (p.maxAgeDays !== undefined) {
    const cutoff = nowMs - p.maxAgeDays * 86_400_000;
    for (const it of survivors) {
      if (it.ms >= cutoff) it.reasons.push(`within max-age-days ${p.maxAgeDays}`);
      else {
        it.keep = false;
        it.reasons = [];
      }
    }
    survivors = survivors.filter((it) => it.keep);
  }
  if (p.maxBackups !== undefined) {
    survivors.forEach((it, i) => {
      if (i < (p.maxBackups as number)) it.reasons.push(`one of the newest ${p.maxBackups} (max-backups)`);
      else {
        it.keep = false;
        it.reasons = [];
      }
    });
  }
}

/**
 * Decides, for every entry, whether the policy keeps it. Entries are grouped by
 * `manifest.source` and the policy is applied to each group separately (see the module
 * comment for the exact semantics, restic's and clawback's).
 *
 * @param entries all snapshots to consider (any order; not modified).
 * @param policy the rules; validated first.
 * @param now the current time: reference for `maxAgeDays` and for ignoring future
 *   snapshots when finding the newest snapshot for `within*`.
 * @returns one decision per entry, in input order; `snapshot` is the entry object passed in.
 * @throws ClawbackError `USAGE` for an empty policy ("refusing to forget every snapshot: give
 *   at least one --keep-* option"), a count below -1 or not an integer, a `maxBackups` or
 *   `maxAgeDays` that is not an integer ≥ 1, an empty tag group, or a bad duration
 *   (see {@link parseDuration}).
 */
export function applyPolicy<T extends SnapshotEntry>(entries: readonly T[], policy: RetentionPolicy, now: Date): PolicyDecision<T>[] {
  const parsed = validatePolicy(policy);
  if (isEmptyPolicy(policy)) {
    throw new ClawbackError('USAGE', 'refusing to forget every snapshot: give at least one --keep-* option');
  }
  const nowMs = now.getTime();
  const restic = hasResticRules(policy);
  const items: Item<T>[] = entries.map((entry) => ({ entry, ms: Date.parse(entry.manifest.time), reasons: [], keep: false }));
  const groups = new Map<string, Item<T>[]>();
  for (const it of items) {
    const src = it.entry.manifest.source;
    let g = groups.get(src);
    if (g === undefined) groups.set(src, (g = []));
    g.push(it);
  }
  for (const group of groups.values()) {
    group.sort(newestFirst);
    let considered = group;
    if (policy.autoOnly === true) {
      considered = [];
      for (const it of group) {
        if (it.entry.manifest.kind === 'manual') {
          it.keep = true;
          it.reasons = ['manual snapshot (auto-only)'];
        } else considered.push(it);
      }
    }
    if (restic) applyRestic(considered, policy, parsed, nowMs);
    else for (const it of considered) it.keep = true;
    applyCaps(considered, policy, nowMs);
  }
  return items.map((it) => ({ snapshot: it.entry, keep: it.keep, reasons: it.reasons }));
}
