/**
 * `clawback dump SELECTOR PATH`: write one file of a snapshot to stdout, or a directory as
 * a tar archive (paths relative to the directory's parent; `/` dumps the whole snapshot).
 *
 * Definitions only (names, options, help): the implementation, `../actions/dump.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `dump`. */
export function makeDumpCommand(io: CliIo): Command {
  return new Command('dump')
    .description('write a file from a snapshot to stdout, or a directory as a tar archive')
    .argument('<selector>', 'latest | vN | label | timestamp prefix | id prefix')
    .argument('<path>', 'file or directory inside the snapshot (/ = everything)')
    .action(async (selector: string, path: string, _o: unknown, c: Command) => (await import('../actions/dump.js')).runDump(io, selector, path, c));
}
