/**
 * `clawback repair index`: rebuild the index from the packs.
 *
 * Definitions only (names, options, help): the implementation, `../actions/repair.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `repair`. */
export function makeRepairCommand(io: CliIo): Command {
  const cmd = new Command('repair').description('repair repository metadata');
  cmd
    .command('index')
    .description('rebuild the index (and the local cache) from the pack files alone')
    .action(async (_o: unknown, c: Command) => (await import('../actions/repair.js')).runRepairIndex(io, c));
  return cmd;
}
