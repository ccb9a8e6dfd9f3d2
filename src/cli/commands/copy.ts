/**
 * `clawback copy --from SRC --to DST [SELECTOR…]`: copy snapshots between repositories.
 * Holds a shared lock on both while it runs (as restic's `copy`): a concurrent gc of
 * either one waits, so the source's blobs cannot vanish mid-copy and the destination's new
 * packs are not swept before the copied snapshots reference them.
 *
 * Definitions only (names, options, help): the implementation, `../actions/copy.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `copy`. */
export function makeCopyCommand(io: CliIo): Command {
  return new Command('copy')
    .description('copy snapshots (all, or the selected ones) to another repository; only missing data travels')
    .argument('[selector...]', 'snapshots to copy (default: all)')
    .option('--from <location>', 'source repository (default: --repo); password from CLAWBACK_FROM_PASSWORD[_FILE] or the usual ones')
    .requiredOption('--to <location>', 'destination repository; password from CLAWBACK_TO_PASSWORD[_FILE] or the usual ones')
    .action(async (selectors: string[], o: { from?: string; to: string }, c: Command) => (await import('../actions/copy.js')).runCopy(io, selectors, o, c));
}
