/**
 * `clawback find PATTERN [--snapshot SEL]…`: the paths matching a glob (see ../glob.ts) in
 * every snapshot, or in the selected ones. Subtrees shared by several snapshots are
 * searched once.
 *
 * Definitions only (names, options, help): the implementation, `../actions/find.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Builds `find`. */
export function makeFindCommand(io: CliIo): Command {
  return new Command('find')
    .description('find paths matching a glob (* ? ** [a-z]) in all snapshots or the selected ones')
    .argument('<pattern>', "glob; without '/' it matches names (e.g. '*.sqlite'), with '/' whole paths (e.g. 'agents/**/state.db')")
    .option('--snapshot <selector>', 'search only this snapshot (repeatable)', collect)
    .option('-l, --long', 'show size and time')
    .action(async (pattern: string, o: { snapshot?: string[]; long?: boolean }, c: Command) => (await import('../actions/find.js')).runFind(io, pattern, o, c));
}
