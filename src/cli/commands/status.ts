/**
 * `clawback status [--json] [--state-dir DIR] [--job NAME]… [--offline]`: one answer to
 * "am I protected?". Per job: enabled, schedule, last run (time, size, result), next run,
 * health (`scheduler/health.ts`: healthy / overdue / failing / never-run / disabled),
 * storage, retention, encryption, and (unless `--offline`) the job's snapshots in its
 * repository. Exit 0 only when there is at least one enabled job and every enabled job is
 * healthy, else 1, so it can serve as a monitoring probe.
 *
 * Definitions only (names, options, help): the implementation, `../actions/status.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

export type { JobStatus } from '../actions/status.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Builds `status`. */
export function makeStatusCommand(io: CliIo): Command {
  return new Command('status')
    .description('per job: enabled, schedule, last and next run, health, storage, retention, encryption (exit 0 only if every enabled job is healthy)')
    .option('--state-dir <dir>', 'job state directory (env CLAWBACK_STATE_DIR)')
    .option('--job <name>', 'only this job (repeatable)', collect)
    .option('--offline', 'do not open the repositories (state files only)')
    .action(async (o: { stateDir?: string; job?: string[]; offline?: boolean }, c: Command) => (await import('../actions/status.js')).runStatus(io, o, c));
}
