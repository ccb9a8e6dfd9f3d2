/**
 * `clawback status [--json] [--state-dir DIR] [--job NAME]… [--offline]`: one answer to
 * "am I protected?". Per job: enabled, schedule, last run (time, size, result), next run,
 * health (`scheduler/health.ts`: healthy / overdue / failing / never-run / disabled),
 * storage, retention, encryption, and (unless `--offline`) the job's snapshots in its
 * repository. Exit 0 only when there is at least one enabled job and every enabled job is
 * healthy, else 1, so it can serve as a monitoring probe.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import type { ClawbackConfig, JobConfig, PasswordSetting } from '../../config/types.js';
import { jobHealth, type Health } from '../../scheduler/health.js';
import { parseSchedule } from '../../scheduler/schedule.js';
import { readJobState, type JobState } from '../../scheduler/state.js';
import type { RetentionPolicy } from '../../snapshot/policy.js';
import { pathsSource } from '../../archiver/create-snapshot.js';
import { listSnapshots } from '../../snapshot/store.js';
import type { CliIo } from '../io.js';
import { Context, type GlobalOptions } from '../context.js';
import { loadCliConfig } from '../config-io.js';
import { formatBytes } from '../format.js';
import { jobContext, selectJobs, stateDirFor } from '../jobs.js';

/** The status of one job (also the `--json` shape). Times are ISO strings. */
export interface JobStatus {
  name: string;
  enabled: boolean;
  schedule: string;
  health: Health;
  reason: string;
  nextRun: string | null;
  lastRun: {
    start: string;
    end: string | null;
    result: string;
    snapshot: string | null;
    size: number | null;
    bytesAdded: number | null;
    error: string | null;
  } | null;
  lastSuccess: string | null;
  storage: { location: string; kind: 'local' | 's3' };
  retention: string;
  encryption: { configured: string; encrypted: boolean | null };
  repository: { snapshots: number; automatic: number; manual: number; latest: string | null } | { error: string } | null;
}

/** A retention policy in words. */
export function describeRetention(p: RetentionPolicy | undefined): string {
  if (p === undefined) return 'keep every snapshot';
  const parts: string[] = [];
  const names: [keyof RetentionPolicy, string][] = [
    ['maxBackups', 'maxBackups'], ['maxAgeDays', 'maxAgeDays'], ['last', 'keepLast'], ['hourly', 'keepHourly'], ['daily', 'keepDaily'],
    ['weekly', 'keepWeekly'], ['monthly', 'keepMonthly'], ['yearly', 'keepYearly'], ['within', 'keepWithin'], ['withinHourly', 'keepWithinHourly'],
    ['withinDaily', 'keepWithinDaily'], ['withinWeekly', 'keepWithinWeekly'], ['withinMonthly', 'keepWithinMonthly'], ['withinYearly', 'keepWithinYearly'],
  ];
  for (const [k, label] of names) if (p[k] !== undefined) parts.push(`${label} ${String(p[k])}`);
  if (p.tags) parts.push(`keepTags ${p.tags.map((g) => g.join(',')).join(' ')}`);
  return `${parts.join(', ')} (automatic snapshots only)`;
}

function describePassword(p: PasswordSetting | undefined, env: Record<string, string | undefined>): string {
  if (p === undefined) {
    if (env['CLAWBACK_PASSWORD'] !== undefined) return 'password from CLAWBACK_PASSWORD';
    if (env['CLAWBACK_PASSWORD_FILE'] !== undefined) return 'password file from CLAWBACK_PASSWORD_FILE';
    if (env['CLAWBACK_PASSWORD_COMMAND'] !== undefined) return 'password command from CLAWBACK_PASSWORD_COMMAND';
    return 'no password configured';
  }
  if (p.kind === 'none') return 'disabled';
  if (p.kind === 'value') return 'passphrase';
  if (p.kind === 'file') return `key file ${p.file}`;
  return 'password command';
}

async function statusOf(io: CliIo, opts: GlobalOptions, cfg: ClawbackConfig, job: JobConfig, stateDir: string, offline: boolean, now: number): Promise<JobStatus> {
  const schedule = parseSchedule(job.schedule, job.timezone);
  let state: JobState | undefined;
  let stateError: string | undefined;
  try {
    state = await readJobState(stateDir, job.name);
  } catch (err) {
    stateError = (err as Error).message;
  }
  const h = jobHealth(job.enabled, schedule, state, now);
  const ctx = jobContext(io, opts, job, cfg, io.signal, { line: () => undefined });
  const location = ctx.location;
  const st: JobStatus = {
    name: job.name,
    enabled: job.enabled,
    schedule: job.schedule + (job.timezone ? ` (${job.timezone})` : ''),
    health: h.health,
    reason: stateError ?? h.reason,
    nextRun: h.nextRun === undefined ? null : new Date(h.nextRun).toISOString(),
    lastRun: state?.lastStart === undefined
      ? null
      : {
          start: state.lastStart,
          end: state.lastEnd ?? null,
          result: state.result ?? 'unknown',
          snapshot: state.snapshot ?? null,
          size: state.size ?? null,
          bytesAdded: state.bytesAdded ?? null,
          error: state.error ?? null,
        },
    lastSuccess: state?.lastSuccess ?? null,
    storage: { location, kind: location.startsWith('s3:') ? 's3' : 'local' },
    retention: describeRetention(job.retention),
    encryption: { configured: describePassword(job.repository.password, ctx.io.env), encrypted: null },
    repository: null,
  };
  if (!offline) {
    try {
      st.repository = await ctx.withRepo(async (repo) => {
        st.encryption.encrypted = repo.encrypted;
        const { entries } = await listSnapshots(repo);
        let source = job.source.kind === 'paths' ? pathsSource(job.source.paths) : undefined;
        if (state?.snapshot !== undefined) source = entries.find((e) => e.id === state?.snapshot)?.manifest.source ?? source;
        const mine = entries.filter((e) => e.manifest.source === source);
        return {
          snapshots: mine.length,
          automatic: mine.filter((e) => e.manifest.kind === 'auto').length,
          manual: mine.filter((e) => e.manifest.kind === 'manual').length,
          latest: mine.length > 0 ? mine[mine.length - 1]!.manifest.time : null,
        };
      }, { lock: 'none' });
    } catch (err) {
      st.repository = { error: (err as Error).message };
    }
  }
  return st;
}

function text(s: JobStatus): string {
  const lr = s.lastRun;
  const last = lr === null
    ? 'never'
    : `${lr.start}, ${lr.result}${lr.size !== null ? `, ${formatBytes(lr.size)}` : ''}${lr.bytesAdded !== null ? ` (${formatBytes(lr.bytesAdded)} added)` : ''}` +
      `${lr.snapshot ? `, snapshot ${lr.snapshot.slice(0, 8)}` : ''}${lr.error ? `: ${lr.error}` : ''}`;
  const repo = s.repository === null
    ? null
    : 'error' in s.repository
      ? `unavailable: ${s.repository.error}`
      : `${s.repository.snapshots} (${s.repository.automatic} automatic, ${s.repository.manual} manual)${s.repository.latest ? `, latest ${s.repository.latest}` : ''}`;
  const enc = `${s.encryption.configured}${s.encryption.encrypted === null ? '' : s.encryption.encrypted ? ' (repository encrypted)' : ' (repository NOT encrypted)'}`;
  return [
    `job ${s.name}: ${s.health.toUpperCase()}`,
    `  enabled     ${s.enabled ? 'yes' : 'no'}`,
    `  schedule    ${s.schedule}`,
    `  last run    ${last}`,
    `  next run    ${s.nextRun ?? '-'}`,
    `  health      ${s.health}: ${s.reason}`,
    `  storage     ${s.storage.location}`,
    `  retention   ${s.retention}`,
    `  encryption  ${enc}`,
    ...(repo !== null ? [`  snapshots   ${repo}`] : []),
  ].join('\n');
}

/** Runs `clawback status`. */
export async function runStatus(io: CliIo, o: { stateDir?: string; job?: string[]; offline?: boolean }, c: Command): Promise<void> {
  const opts = c.optsWithGlobals<GlobalOptions>();
  const ctx = new Context(io, opts);
  const cfg = await loadCliConfig(io, opts.config);
  const jobs = selectJobs(cfg, o.job);
  const stateDir = stateDirFor(o.stateDir, io, cfg);
  const now = Date.now();
  const statuses: JobStatus[] = [];
  for (const j of jobs) statuses.push(await statusOf(io, opts, cfg, j, stateDir, o.offline === true, now));
  const enabled = statuses.filter((s) => s.enabled);
  const healthy = enabled.length > 0 && enabled.every((s) => s.health === 'healthy');
  ctx.emit({ message_type: 'status', healthy, config: cfg.file ?? null, stateDir, jobs: statuses });
  if (statuses.length === 0) ctx.out(`no backup jobs are configured${cfg.file ? ` in ${cfg.file}` : ''}: see docs/CONFIG.md`);
  else ctx.out(statuses.map(text).join('\n\n'));
  if (!healthy) {
    const bad = enabled.filter((s) => s.health !== 'healthy');
    const why = enabled.length === 0 ? 'no enabled backup job' : bad.map((s) => `${s.name} ${s.health}`).join(', ');
    throw new ClawbackError('UNHEALTHY', `not every backup job is healthy: ${why}`, { details: { unhealthy: bad.map((s) => s.name) } });
  }
}
