/**
 * `clawback diff A B`: paths added (+), removed (-), modified (M), changed type (T) or
 * changed only in mode/mtime (U) from snapshot A to snapshot B, with sizes.
 *
 * Definitions only (names, options, help): the implementation, `../actions/diff.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `diff`. */
export function makeDiffCommand(io: CliIo): Command {
  return new Command('diff')
    .description('show what changed between two snapshots: + added, - removed, M modified, T type changed, U mode/mtime changed')
    .argument('<a>', 'the older snapshot: vN, label, timestamp prefix or id prefix')
    .argument('<b>', 'the newer snapshot')
    .action(async (a: string, b: string, _o: unknown, c: Command) => (await import('../actions/diff.js')).runDiff(io, a, b, c));
}
