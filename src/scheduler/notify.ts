/**
 * Failure notifications (`notifyOnFailure`): a shell command, a JSON POST to a URL, or both.
 *
 * The command runs through `/bin/sh -c` with these variables added to the environment:
 * `CLAWBACK_JOB` (job name), `CLAWBACK_ERROR` (the error message), `CLAWBACK_LOG` (path of
 * the job's log file), `CLAWBACK_TIME` (ISO time of the failed run's start) and
 * `CLAWBACK_FAILURES` (failed runs in a row). The POST body is
 * `{"event":"backup_failed","job":…,"error":…,"log":…,"time":…,"failures":…,"host":…}`.
 *
 * A notification that fails is reported back (for the job log), never thrown: it must not
 * turn into another failure.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { NotifySettings } from '../config/types.js';

/** What a failure notification says. */
export interface FailureNotice {
  job: string;
  error: string;
  /** Path of the job's log file. */
  log: string;
  /** Start of the failed run, ISO-8601. */
  time: string;
  /** Failed runs in a row, this one included. */
  failures: number;
}

/** Options of {@link notifyFailure}. */
export interface NotifyOptions {
  /** Base environment of the command (without the repository password). */
  env: Record<string, string | undefined>;
  /** Time limit of the command and of the POST, ms (default 60 000). */
  timeoutMs?: number;
}

/** What happened to each channel; `problems` lists failures, for the log. */
export interface NotifyOutcome {
  command?: { exitCode: number | null; output: string };
  url?: { status: number };
  problems: string[];
}

/** Environment variables that must not reach a notify command. */
const STRIPPED = ['CLAWBACK_PASSWORD'];

/** Runs `command` with the notice in its environment. Resolves with its exit code and output (first 4 KiB). */
export function runNotifyCommand(command: string, notice: FailureNotice, opts: NotifyOptions): Promise<{ exitCode: number | null; output: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined && !STRIPPED.includes(k)) env[k] = v;
  Object.assign(env, {
    CLAWBACK_JOB: notice.job,
    CLAWBACK_ERROR: notice.error,
    CLAWBACK_LOG: notice.log,
    CLAWBACK_TIME: notice.time,
    CLAWBACK_FAILURES: String(notice.failures),
  });
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    let output = '';
    const take = (b: Buffer): void => {
      if (output.length < 4096) output += b.toString('utf8').slice(0, 4096 - output.length);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => resolve({ exitCode: code, output }));
  });
}

/** POSTs the notice as JSON to `url`; resolves with the HTTP status. */
export async function postNotice(url: string, notice: FailureNotice, timeoutMs = 60_000): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'backup_failed', ...notice, host: hostname() }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}

/** Sends the notice through every configured channel (see the module comment). Never throws. */
export async function notifyFailure(settings: NotifySettings, notice: FailureNotice, opts: NotifyOptions): Promise<NotifyOutcome> {
  const out: NotifyOutcome = { problems: [] };
  if (settings.command !== undefined) {
    try {
      out.command = await runNotifyCommand(settings.command, notice, opts);
      if (out.command.exitCode !== 0) out.problems.push(`notify command exited with ${out.command.exitCode ?? 'a signal (time limit?)'}${out.command.output ? `: ${out.command.output.trim()}` : ''}`);
    } catch (err) {
      out.problems.push(`notify command could not run: ${(err as Error).message}`);
    }
  }
  if (settings.url !== undefined) {
    try {
      out.url = { status: await postNotice(settings.url, notice, opts.timeoutMs) };
      if (out.url.status < 200 || out.url.status > 299) out.problems.push(`notify URL ${settings.url} answered HTTP ${out.url.status}`);
    } catch (err) {
      out.problems.push(`notify URL ${settings.url} failed: ${(err as Error).message}`);
    }
  }
  return out;
}
