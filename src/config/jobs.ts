/**
 * clawback's own config format (`config.json5`), after `${ENV}` substitution: top-level
 * repository settings and job defaults, and a list of jobs. See docs/CONFIG.md for the
 * file format; the result is described in `config/types.ts`.
 *
 * ```json5
 * {
 *   repository: "s3:https://s3.example.com/backups/laptop",   // or storage: { … }
 *   password: "${CLAWBACK_PASSWORD}",          // or passwordFile, passwordCommand, encryption: { … }
 *   schedule: "6h", retention: { maxBackups: 7, maxAgeDays: 30 },   // defaults for jobs
 *   notifyOnFailure: { command: "notify-send clawback \"$CLAWBACK_ERROR\"" },
 *   jobs: [
 *     { name: "openclaw", profile: "openclaw", schedule: "1d" },
 *     { name: "notes", paths: ["~/notes"], schedule: "0 * * * *", retention: { keepHourly: 24, keepDaily: 7 } },
 *   ],
 * }
 * ```
 *
 * Pure module.
 */
import { parseSchedule } from '../scheduler/schedule.js';
import { validateTag } from '../snapshot/label.js';
import type { RetentionPolicy } from '../snapshot/policy.js';
import { childPath, configError, expandPath, ObjectReader, type PathContext } from './reader.js';
import { parseGc, parseNotify, parseRepositoryKeys, parseRetention } from './sections.js';
import {
  DEFAULT_GC_THRESHOLD,
  DEFAULT_RETENTION,
  DEFAULT_SCHEDULE,
  type ConfigWarning,
  type GcSettings,
  type JobConfig,
  type JobSource,
  type NotifySettings,
  type RepositorySettings,
} from './types.js';

/** Job names: like snapshot labels (they name state and log files). */
export const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Settings a job inherits when it does not set them. */
export interface JobDefaults {
  schedule: string;
  timezone?: string;
  repository: RepositorySettings;
  retention: RetentionPolicy | null;
  gc: GcSettings | null;
  /** Top-level notify settings (what `notifyOnFailure: true` means), or null. */
  notify: NotifySettings | null;
  /** Whether jobs notify unless they say otherwise. */
  notifyByDefault: boolean;
}

/** Merges job-level repository settings over inherited ones, field by field. */
export function mergeRepository(base: RepositorySettings, own: RepositorySettings): RepositorySettings {
  return { ...base, ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)) };
}

/** Resolves a parsed `notifyOnFailure` against the defaults. */
export function resolveNotify(
  own: NotifySettings | null | true | undefined,
  defaults: JobDefaults,
  path: string,
  warnings: ConfigWarning[],
): NotifySettings | undefined {
  if (own === null) return undefined;
  if (own === undefined) return defaults.notifyByDefault && defaults.notify ? defaults.notify : undefined;
  if (own === true) {
    if (defaults.notify) return defaults.notify;
    warnings.push({ path, message: `${path} is true but no notify command or URL is configured: failures are only logged; give notifyOnFailure: { command: "…", url: "…" }` });
    return undefined;
  }
  return own;
}

/** Checks a schedule and time zone; errors name the key path. */
export function checkSchedule(where: string, path: string, schedule: string, timezone: string | undefined): void {
  try {
    parseSchedule(schedule, timezone);
  } catch (err) {
    throw configError(where, path, (err as Error).message);
  }
}

/** Parses one entry of `jobs`. */
export function parseJob(value: unknown, where: string, path: string, ctx: PathContext, defaults: JobDefaults, warnings: ConfigWarning[]): JobConfig {
  const r = new ObjectReader(value, where, path);
  const name = r.str('name');
  if (name === undefined) throw r.error('name', 'every job needs a name');
  if (!JOB_NAME.test(name)) throw r.error('name', `invalid job name ${JSON.stringify(name)}: 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  const enabled = r.bool('enabled') ?? true;
  const schedule = r.str('schedule') ?? defaults.schedule;
  const timezone = r.str('timezone') ?? defaults.timezone;
  checkSchedule(where, childPath(path, 'schedule'), schedule, timezone);
  const paths = r.strList('paths');
  const profile = r.str('profile');
  const include = r.obj('include');
  let source: JobSource;
  if (paths !== undefined && profile !== undefined) throw r.error('profile', 'give either paths or profile, not both');
  if (paths !== undefined) {
    if (paths.length === 0) throw r.error('paths', 'is empty: list the directories to snapshot');
    if (include !== undefined) throw r.error('include', 'goes with profile; with paths, list every path in paths');
    source = { kind: 'paths', paths: paths.map((p) => expandPath(p, ctx)) };
  } else if (profile !== undefined) {
    source = { kind: 'profile', profile, workspace: true, extraPaths: [] };
    if (include !== undefined) {
      const stateDir = include.raw('stateDir');
      if (typeof stateDir === 'string') source.stateDir = expandPath(stateDir, ctx);
      else if (stateDir !== undefined && stateDir !== true) throw include.error('stateDir', 'with a profile, give a directory or true (the profile always captures its state directory)');
      const ws = include.bool('workspace');
      if (ws !== undefined) source.workspace = ws;
      source.extraPaths = (include.strList('extraPaths') ?? []).map((p) => expandPath(p, ctx));
      include.done();
    }
  } else {
    throw configError(where, path, 'give paths (directories to snapshot) or profile (an agent profile such as "openclaw")');
  }
  const tags = r.strList('tags') ?? [];
  for (const t of tags) {
    try {
      validateTag(t);
    } catch (err) {
      throw r.error('tags', (err as Error).message);
    }
  }
  const repository = mergeRepository(defaults.repository, parseRepositoryKeys(r, ctx));
  const retentionOwn = parseRetention(r.raw('retention'), where, childPath(path, 'retention'));
  const retention = retentionOwn === undefined ? defaults.retention : retentionOwn;
  const gcOwn = parseGc(r.raw('gc'), where, childPath(path, 'gc'));
  const gc = gcOwn === undefined ? defaults.gc : gcOwn;
  const notify = resolveNotify(parseNotify(r.raw('notifyOnFailure'), where, childPath(path, 'notifyOnFailure')), defaults, childPath(path, 'notifyOnFailure'), warnings);
  r.done();
  return {
    name,
    enabled,
    schedule,
    ...(timezone !== undefined ? { timezone } : {}),
    source,
    tags,
    repository,
    ...(retention !== null ? { retention } : {}),
    ...(gc !== null ? { gc } : {}),
    ...(notify !== undefined ? { notify } : {}),
  };
}

/** What {@link parseClawbackDocument} returns. */
export interface ParsedClawbackConfig {
  repository: RepositorySettings;
  cacheDir?: string;
  stateDir?: string;
  jobs: JobConfig[];
}

/**
 * Parses a whole clawback config document (already substituted).
 * @throws ClawbackError `USAGE` naming the file and key of the first problem.
 */
export function parseClawbackDocument(doc: unknown, where: string, ctx: PathContext, warnings: ConfigWarning[]): ParsedClawbackConfig {
  const r = new ObjectReader(doc, where, '');
  r.raw('$schema');
  const repository = parseRepositoryKeys(r, ctx);
  const cacheDir = r.str('cacheDir');
  const stateDir = r.str('stateDir');
  const schedule = r.str('schedule') ?? DEFAULT_SCHEDULE;
  const timezone = r.str('timezone');
  checkSchedule(where, 'schedule', schedule, timezone);
  const retention = parseRetention(r.raw('retention'), where, 'retention');
  const gc = parseGc(r.raw('gc'), where, 'gc');
  const notifyTop = parseNotify(r.raw('notifyOnFailure'), where, 'notifyOnFailure');
  if (notifyTop === true) warnings.push({ path: 'notifyOnFailure', message: 'notifyOnFailure: true at the top level has nothing to run: give { command: "…", url: "…" }' });
  const defaults: JobDefaults = {
    schedule,
    ...(timezone !== undefined ? { timezone } : {}),
    repository,
    retention: retention === undefined ? { ...DEFAULT_RETENTION, autoOnly: true } : retention,
    gc: gc === undefined ? { threshold: DEFAULT_GC_THRESHOLD } : gc,
    notify: notifyTop === true || notifyTop === null || notifyTop === undefined ? null : notifyTop,
    notifyByDefault: notifyTop !== null && notifyTop !== undefined && notifyTop !== true,
  };
  const jobsRaw = r.raw('jobs');
  r.done();
  const jobs: JobConfig[] = [];
  if (jobsRaw !== undefined) {
    if (!Array.isArray(jobsRaw)) throw configError(where, 'jobs', 'expected a list of jobs');
    jobsRaw.forEach((j, i) => jobs.push(parseJob(j, where, childPath('jobs', i), ctx, defaults, warnings)));
  }
  const seen = new Set<string>();
  jobs.forEach((j, i) => {
    if (seen.has(j.name)) throw configError(where, childPath(childPath('jobs', i), 'name'), `job name ${JSON.stringify(j.name)} is used twice: job names must be unique`);
    seen.add(j.name);
  });
  return {
    repository,
    ...(cacheDir !== undefined ? { cacheDir: expandPath(cacheDir, ctx) } : {}),
    ...(stateDir !== undefined ? { stateDir: expandPath(stateDir, ctx) } : {}),
    jobs,
  };
}
