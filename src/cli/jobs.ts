/**
 * Scheduled jobs as CLI runs: how the daemon takes a job's snapshot, applies its
 * retention and runs gc, and how `status` opens a job's repository.
 *
 * A job's snapshot is exactly `clawback snapshot create --auto --json …` run in-process
 * (so it behaves like the command a user would type, profiles included), with the job's
 * repository settings in the environment (`config/overlay.ts` `withJobSettings`: the job's
 * own settings replace the environment's) and `--no-config` (the settings are already
 * applied). Retention and gc use the library under the repository's exclusive lock.
 */
import { join, resolve as resolvePath } from 'node:path';
import { ClawbackError, isErrorCode } from '../errors.js';
import { homeFrom } from '../config/reader.js';
import type { ClawbackConfig, JobConfig } from '../config/types.js';
import { withJobSettings } from '../config/overlay.js';
import { applyJobRetention } from '../scheduler/retention.js';
import type { JobSteps, SnapshotOutcome } from '../scheduler/run-job.js';
import type { CliIo } from './io.js';
import { Context, type GlobalOptions } from './context.js';

/** Environment variables that point an agent profile at its state dir. */
const PROFILE_STATE_ENV: Record<string, string> = { openclaw: 'OPENCLAW_STATE_DIR', hermes: 'HERMES_HOME' };

/** How long a job's run waits for a repository lock held by another process (unless --retry-lock says otherwise). */
export const DEFAULT_JOB_RETRY_LOCK = '10m';

/** The global flags of the daemon/status command that jobs inherit (when they do not set the same thing). */
export function inheritedFlags(opts: GlobalOptions, job: JobConfig): GlobalOptions {
  const out: GlobalOptions = { quiet: true };
  if (job.repository.location === undefined && opts.repo !== undefined) out.repo = opts.repo;
  if (opts.cacheDir !== undefined) out.cacheDir = opts.cacheDir;
  if (job.repository.password === undefined) {
    if (opts.passwordFile !== undefined) out.passwordFile = opts.passwordFile;
    if (opts.passwordCommand !== undefined) out.passwordCommand = opts.passwordCommand;
  }
  // Unattended runs wait for a lock held by a manual command instead of failing at once.
  out.retryLock = opts.retryLock ?? DEFAULT_JOB_RETRY_LOCK;
  return out;
}

/** The flags of {@link inheritedFlags} as argv. */
export function flagsArgv(f: GlobalOptions): string[] {
  const a: string[] = [];
  if (f.repo !== undefined) a.push('--repo', f.repo);
  if (f.cacheDir !== undefined) a.push('--cache-dir', f.cacheDir);
  if (f.passwordFile !== undefined) a.push('--password-file', f.passwordFile);
  if (f.passwordCommand !== undefined) a.push('--password-command', f.passwordCommand);
  if (f.retryLock !== undefined) a.push('--retry-lock', f.retryLock);
  return a;
}

/** The environment a job runs with. */
export function jobEnv(base: Record<string, string | undefined>, job: JobConfig, cfg: ClawbackConfig): Record<string, string | undefined> {
  const env = withJobSettings(base, job.repository, cfg.cacheDir);
  if (job.source.kind === 'profile' && job.source.stateDir !== undefined) {
    const v = PROFILE_STATE_ENV[job.source.profile];
    if (v !== undefined) env[v] = job.source.stateDir;
  }
  return env;
}

/** `snapshot create` arguments for the job (after the global flags). */
export function snapshotArgs(job: JobConfig): string[] {
  const a = ['snapshot', 'create', '--auto'];
  for (const t of job.tags) a.push('--tag', t);
  if (job.source.kind === 'profile') {
    a.push('--profile', job.source.profile);
    if (!job.source.workspace) a.push('--no-workspace');
    for (const p of job.source.extraPaths) a.push('--extra-path', p);
  } else {
    a.push('--', ...job.source.paths);
  }
  return a;
}

/** Where a job's CLI runs write: lines for the job log. */
export interface JobOutput {
  line(text: string): void;
}

/** An io for a job's in-process runs: job env, output to `out`, `signal`, never a TTY. */
export function jobIo(base: CliIo, env: Record<string, string | undefined>, signal: AbortSignal, out: JobOutput, stdout?: (s: string) => void): CliIo {
  const lines = (s: string) => {
    for (const l of s.replace(/\n+$/, '').split('\n')) if (l.trim() !== '') out.line(l);
  };
  return { stdout: stdout ?? lines, stderr: lines, env, cwd: base.cwd, stderrIsTTY: false, readPassword: undefined, signal };
}

/** A Context for library calls on the job's repository (retention, gc, status). */
export function jobContext(base: CliIo, opts: GlobalOptions, job: JobConfig, cfg: ClawbackConfig, signal: AbortSignal, out: JobOutput): Context {
  return new Context(jobIo(base, jobEnv(base.env, job, cfg), signal, out), inheritedFlags(opts, job));
}

interface SummaryLine {
  message_type?: string;
  id?: string;
  source?: string;
  size?: number;
  added?: number;
  files?: number;
}

/**
 * The real steps of a job run: the snapshot via `snapshot create --auto --json` in-process,
 * retention and gc through the library.
 */
export function cliJobSteps(base: CliIo, opts: GlobalOptions, job: JobConfig, cfg: ClawbackConfig, out: JobOutput): JobSteps {
  const env = jobEnv(base.env, job, cfg);
  const steps: JobSteps = {
    async snapshot(signal): Promise<SnapshotOutcome> {
      let stdout = '';
      let lastError: { code?: number; error?: string; message?: string } | undefined;
      let usageLine: string | undefined;
      const io = jobIo(base, env, signal, {
        line: (l) => {
          if (usageLine === undefined && l.startsWith('error: ')) usageLine = l.slice('error: '.length);
          if (l.startsWith('{"message_type":"exit_error"')) {
            try {
              lastError = JSON.parse(l) as typeof lastError;
              return;
            } catch {
              /* log it as is */
            }
          }
          out.line(l);
        },
      }, (s) => void (stdout += s));
      const { runCli } = await import('./run.js');
      const argv = ['--no-config', '--json', ...flagsArgv(inheritedFlags(opts, job)), ...snapshotArgs(job)];
      const code = await runCli(argv, io);
      if (code !== 0) {
        const msg = lastError?.message ?? `snapshot create exited with ${code}${usageLine !== undefined ? `: ${usageLine}` : ''}`;
        // The child's own code (WRONG_PASSWORD, LOCKED, BACKEND_UNREACHABLE, …) tells the
        // user what to fix; CAPTURE only when it printed none.
        const childCode = lastError?.error;
        throw new ClawbackError(isErrorCode(childCode) ? childCode : code === 130 ? 'ABORTED' : 'CAPTURE', msg);
      }
      const summary = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as SummaryLine)
        .find((s) => s.message_type === 'summary');
      if (!summary?.id || summary.source === undefined) throw new ClawbackError('INTERNAL', 'snapshot create printed no summary');
      return { id: summary.id, source: summary.source, size: summary.size ?? 0, bytesAdded: summary.added ?? 0, files: summary.files ?? 0 };
    },
  };
  if (job.retention !== undefined) {
    const policy = job.retention;
    steps.retention = async (snap, signal) => {
      const ctx = new Context(jobIo(base, env, signal, out), inheritedFlags(opts, job));
      const r = await ctx.withRepo((repo) => applyJobRetention(repo, { source: snap.source, policy, signal }), { lock: 'exclusive' });
      for (const id of r.removed) out.line(`forgot automatic snapshot ${id.slice(0, 8)}`);
      return r.removed.length;
    };
  }
  const gc = job.gc;
  if (gc !== undefined) {
    steps.gc = async (signal) => {
      const ctx = new Context(jobIo(base, env, signal, out), inheritedFlags(opts, job));
      const { runGc } = await import('./actions/gc.js');
      await ctx.withRepo((repo) => runGc(ctx, repo, { maxUnused: gc.maxUnused }), { lock: 'exclusive' });
    };
  }
  return steps;
}

/**
 * The scheduler state directory: `--state-dir`, `CLAWBACK_STATE_DIR`, the config's
 * `stateDir`, `$XDG_STATE_HOME/clawback`, or `~/.local/state/clawback`.
 */
export function stateDirFor(flag: string | undefined, io: CliIo, cfg: ClawbackConfig): string {
  const env = io.env;
  if (flag !== undefined) return resolvePath(io.cwd, flag);
  const fromEnv = env['CLAWBACK_STATE_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return resolvePath(io.cwd, fromEnv);
  if (cfg.stateDir !== undefined) return cfg.stateDir;
  const xdg = env['XDG_STATE_HOME'];
  if (xdg !== undefined && xdg !== '') return join(xdg, 'clawback');
  return join(homeFrom(env), '.local', 'state', 'clawback');
}

/** The jobs named by `--job` (all when none), in config order. @throws ClawbackError `USAGE` for an unknown name. */
export function selectJobs(cfg: ClawbackConfig, names: string[] | undefined): JobConfig[] {
  if (names === undefined || names.length === 0) return cfg.jobs;
  for (const n of names) {
    if (!cfg.jobs.some((j) => j.name === n)) {
      throw new ClawbackError('USAGE', `no job named ${JSON.stringify(n)} in ${cfg.file ?? 'the config'}${cfg.jobs.length > 0 ? `: the jobs are ${cfg.jobs.map((j) => j.name).join(', ')}` : ''}`);
    }
  }
  return cfg.jobs.filter((j) => names.includes(j.name));
}
