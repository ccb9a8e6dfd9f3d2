/**
 * `clawback unlock [--remove-all]`: remove stale lock files (holder dead on this host, or
 * not refreshed for 30 minutes), or with `--remove-all` every lock file.
 *
 * Definitions only (names, options, help): the implementation, `../actions/unlock.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `unlock`. */
export function makeUnlockCommand(io: CliIo): Command {
  return new Command('unlock')
    .description('remove stale locks (dead process on this host, or not refreshed for 30 min)')
    .option('--remove-all', 'remove every lock, also live ones: only when no other clawback uses the repository')
    .action(async (o: { removeAll?: boolean }, c: Command) => (await import('../actions/unlock.js')).runUnlock(io, o, c));
}
