/**
 * `clawback forget` (also `clawback snapshot forget`): remove snapshots by retention policy
 * (restic's `--keep-*` rules plus `--max-backups`/`--max-age-days`, `--auto-only`) or by
 * selector (`forget v3 before-upgrade`). `--dry-run` shows the decision with the reason for
 * every kept snapshot. Takes the exclusive lock. Data is freed by `gc` (or `--prune`).
 *
 * Definitions only (names, options, help): the implementation, `../actions/forget.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import type { CliIo } from '../io.js';
import type { ForgetFlags } from '../actions/forget.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function count(flag: string): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim())) throw new ClawbackError('USAGE', `invalid ${flag} ${JSON.stringify(v)}: give a whole number (-1 = unlimited)`);
    return Number(v);
  };
}

/** Builds `forget` under `name` (registered as `forget` and as `snapshot forget`). */
export function makeForgetCommand(io: CliIo, name = 'forget'): Command {
  return new Command(name)
    .description('remove snapshots by policy (--keep-*, --max-backups, --max-age-days) or by selector; data is freed by gc')
    .argument('[selectors...]', 'snapshots to remove: vN, label, timestamp prefix or id prefix (instead of a policy)')
    .option('--keep-last <n>', 'keep the n newest snapshots', count('--keep-last'))
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours with snapshots (UTC)', count('--keep-hourly'))
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days (UTC)', count('--keep-daily'))
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n ISO weeks', count('--keep-weekly'))
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months', count('--keep-monthly'))
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the last n years', count('--keep-yearly'))
    .option('--keep-within <duration>', 'keep every snapshot within this duration of the newest (e.g. 2d, 1y5m7d2h)')
    .option('--keep-within-hourly <duration>', 'keep hourly snapshots within this duration of the newest')
    .option('--keep-within-daily <duration>', 'keep daily snapshots within this duration of the newest')
    .option('--keep-within-weekly <duration>', 'keep weekly snapshots within this duration of the newest')
    .option('--keep-within-monthly <duration>', 'keep monthly snapshots within this duration of the newest')
    .option('--keep-within-yearly <duration>', 'keep yearly snapshots within this duration of the newest')
    .option('--keep-tag <tags>', 'keep snapshots with these tags (repeatable; a,b = both a and b; "" = untagged)', collect)
    .option('--max-backups <n>', 'keep at most the n newest snapshots (after --max-age-days)', count('--max-backups'))
    .option('--max-age-days <n>', 'remove snapshots older than n days', count('--max-age-days'))
    .option('--auto-only', 'never remove manual snapshots; apply the policy to automatic ones only')
    .option('--dry-run', 'show what would be removed; remove nothing')
    .option('--prune', 'run gc afterwards to free the data of removed snapshots')
    .option('--max-unused <percent>', 'with --prune: repack packs with more unused space than this (default 5%)')
    .action(async (selectors: string[], o: ForgetFlags, c: Command) => (await import('../actions/forget.js')).runForget(io, selectors, o, c));
}
