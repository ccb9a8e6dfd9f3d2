/**
 * `clawback gc [--dry-run] [--max-unused 5%]` (alias `prune`): delete the packs no
 * snapshot needs, repack partly used ones, under the exclusive lock. The plan is printed
 * first; `--dry-run` prints only the plan.
 *
 * Definitions only (names, options, help): the implementation, `../actions/gc.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `gc` (alias `prune`). */
export function makeGcCommand(io: CliIo): Command {
  return new Command('gc')
    .alias('prune')
    .description('delete data no snapshot uses and repack partly used packs (plan first; --dry-run shows only the plan)')
    .option('--dry-run', 'print the plan (packs and bytes to delete and repack); change nothing')
    .option('--max-unused <percent>', 'repack packs with more unused space than this: 0 = all partly used, 100% = none', '5%')
    .action(async (o: { dryRun?: boolean; maxUnused?: string }, c: Command) => (await import('../actions/gc.js')).runGcCommand(io, o, c));
}
