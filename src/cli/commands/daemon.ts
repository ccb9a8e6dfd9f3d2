/**
 * `clawback daemon [--state-dir DIR] [--job NAME]… [--once]`: runs the config file's jobs
 * on their schedules (`scheduler/scheduler.ts`): each run takes an automatic snapshot,
 * applies the job's retention (automatic snapshots only) and gc at its threshold, records
 * the run in the job's state file and log, and notifies on failure (`scheduler/run-job.ts`).
 * SIGINT/SIGTERM abort the running snapshot cleanly (no manifest is written) and stop.
 * `--once` runs every selected enabled job once now and exits (1 if any run failed), for
 * use from cron or a systemd timer instead of a resident daemon.
 *
 * Definitions only (names, options, help): the implementation, `../actions/daemon.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { DaemonFlags } from '../actions/daemon.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Builds `daemon`. */
export function makeDaemonCommand(io: CliIo): Command {
  return new Command('daemon')
    .description('run the configured jobs on their schedules: snapshot --auto, retention, gc; notify on failure (stops on SIGTERM)')
    .option('--state-dir <dir>', 'job state and logs (env CLAWBACK_STATE_DIR; default $XDG_STATE_HOME/clawback or ~/.local/state/clawback)')
    .option('--job <name>', 'run only this job (repeatable)', collect)
    .option('--once', 'run each selected enabled job once now and exit (exit 1 if a run failed)')
    .action(async (o: DaemonFlags, c: Command) => (await import('../actions/daemon.js')).runDaemon(io, o, c));
}
