/**
 * `clawback ls SELECTOR [PATH]`: list the content of a snapshot.
 *
 * Definitions only (names, options, help): the implementation, `../actions/ls.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `ls`. */
export function makeLsCommand(io: CliIo): Command {
  return new Command('ls')
    .description('list files in a snapshot')
    .argument('[selector]', 'latest | vN | label | timestamp prefix | id prefix', 'latest')
    .argument('[path]', 'directory or file inside the snapshot', '')
    .option('-l, --long', 'show mode, size and time')
    .option('-R, --recursive', 'list everything below PATH (default: one level)')
    .action(async (selector: string, path: string, o: { long?: boolean; recursive?: boolean }, c: Command) => (await import('../actions/ls.js')).runLs(io, selector, path, o, c));
}
