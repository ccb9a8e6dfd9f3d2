/**
 * `clawback stats [SELECTOR]`: logical size, unique and stored size, dedup ratio, and per
 * snapshot added bytes; of one snapshot, or of all of them plus the repository totals.
 *
 * Definitions only (names, options, help): the implementation, `../actions/stats.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `stats`. */
export function makeStatsCommand(io: CliIo): Command {
  return new Command('stats')
    .description('sizes: logical, unique, stored, dedup ratio, and what each snapshot added')
    .argument('[selector]', 'one snapshot (default: all snapshots)')
    .action(async (selector: string | undefined, _o: unknown, c: Command) => (await import('../actions/stats.js')).runStats(io, selector, c));
}
