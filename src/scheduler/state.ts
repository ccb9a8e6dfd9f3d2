/**
 * The scheduler's state directory: one small JSON state file per job
 * (`<stateDir>/jobs/<job>.json`), written atomically (temp file, fsync, rename, fsync of the
 * directory) so a crash leaves the old or the new state, never a torn one; and one log file
 * per job (`<stateDir>/logs/<job>.log`).
 *
 * State dir: `--state-dir`, else `CLAWBACK_STATE_DIR`, else the config's `stateDir`, else
 * `$XDG_STATE_HOME/clawback`, else `~/.local/state/clawback` (resolved by the CLI).
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClawbackError, type ErrorCode } from '../errors.js';

/** How a run ended. `running`: started and not (yet) ended, e.g. the daemon was killed. */
export type RunResult = 'running' | 'success' | 'failure' | 'aborted';

/** What the state file of one job holds. Times are ISO-8601 UTC strings. */
export interface JobState {
  version: 1;
  job: string;
  /** Start of the last run. */
  lastStart?: string;
  /** End of the last run (absent while it runs). */
  lastEnd?: string;
  result?: RunResult;
  /** Snapshot written by the last run. */
  snapshot?: string;
  /** Plaintext bytes the last run added to the repository (after dedup). */
  bytesAdded?: number;
  /** Logical size of the last snapshot, bytes. */
  size?: number;
  /** Files in the last snapshot. */
  files?: number;
  /** Error message of the last run when it failed. */
  error?: string;
  /**
   * Error code of the last run when it failed (errors.ts `ErrorCode`: `WRONG_PASSWORD`,
   * `BACKEND_UNREACHABLE`, `CAPTURE`, …); absent for a failure that carried no code.
   */
  errorCode?: ErrorCode;
  /** Start of the last run that succeeded. */
  lastSuccess?: string;
  /** Failed runs since the last success. */
  consecutiveFailures: number;
  /** Snapshots removed by the last run's retention. */
  removed?: number;
  /** Snapshots removed by retention since the last gc (for the gc threshold). */
  removedSinceGc: number;
  /** End of the last automatic gc. */
  lastGc?: string;
}

/** A fresh state for `job`. */
export function emptyState(job: string): JobState {
  return { version: 1, job, consecutiveFailures: 0, removedSinceGc: 0 };
}

/** Path of the state file of `job`. */
export function stateFile(stateDir: string, job: string): string {
  return join(stateDir, 'jobs', `${job}.json`);
}

/** Path of the log file of `job`. */
export function logFile(stateDir: string, job: string): string {
  return join(stateDir, 'logs', `${job}.log`);
}

/**
 * Reads the state of `job`; undefined when it has none yet.
 * @throws ClawbackError `INTEGRITY` when the file exists but is not a state file.
 */
export async function readJobState(stateDir: string, job: string): Promise<JobState | undefined> {
  const file = stateFile(stateDir, job);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClawbackError('INTEGRITY', `cannot read job state ${file}: ${(err as Error).message}`, { cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `job state ${file} is not valid JSON: delete it to start over`, { cause: err });
  }
  const s = v as Partial<JobState>;
  if (!s || typeof s !== 'object' || s.version !== 1 || s.job !== job) {
    throw new ClawbackError('INTEGRITY', `job state ${file} is not a clawback state file for job ${job}: delete it to start over`);
  }
  return { ...emptyState(job), ...s };
}

/** Writes `data` to `file` atomically: temp file in the same dir, fsync, rename, fsync dir. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* directory fsync is best effort (not supported everywhere) */
  }
}

/** Writes the state of `state.job` atomically. */
export async function writeJobState(stateDir: string, state: JobState): Promise<void> {
  await writeFileAtomic(stateFile(stateDir, state.job), JSON.stringify(state, null, 2) + '\n');
}

/** Largest log file kept, bytes; a longer one is cut to its last half. */
export const MAX_LOG_BYTES = 1 << 20;

/** Appends lines to the log of `job` (each prefixed with an ISO time). */
export async function appendJobLog(stateDir: string, job: string, text: string, now = new Date()): Promise<void> {
  const file = logFile(stateDir, job);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const stamp = now.toISOString();
  const lines = text.replace(/\n+$/, '').split('\n').map((l) => `${stamp} ${l}`).join('\n') + '\n';
  try {
    const st = await stat(file);
    if (st.size > MAX_LOG_BYTES) {
      const old = await readFile(file);
      const keep = old.subarray(old.length - (MAX_LOG_BYTES >> 1));
      const nl = keep.indexOf(10);
      await writeFileAtomic(file, keep.subarray(nl + 1));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await appendFile(file, lines, { mode: 0o600 });
}
