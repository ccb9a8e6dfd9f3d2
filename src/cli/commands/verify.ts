/**
 * `clawback verify [--read-data | --read-data-subset SPEC]`: check the repository and name
 * every damaged object with the snapshots and paths it affects. Exit 0 when clean
 * (unreferenced data is reported but allowed), 1 when damaged.
 *
 * Definitions only (names, options, help): the implementation, `../actions/verify.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `verify`. */
export function makeVerifyCommand(io: CliIo): Command {
  return new Command('verify')
    .description('check the repository: snapshots, trees, index and packs; with --read-data also every stored byte')
    .option('--read-data', 'read every pack: check its hash, decrypt, decompress and re-hash every blob')
    .option('--read-data-subset <spec>', 'read only a subset of the packs: n/t (e.g. 1/7), x% (random) or a size such as 500M (random)')
    .action(async (o: { readData?: boolean; readDataSubset?: string }, c: Command) => (await import('../actions/verify.js')).runVerify(io, o, c));
}
