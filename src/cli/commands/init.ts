/**
 * `clawback init`: create a repository.
 *
 * Definitions only (names, options, help): the implementation, `../actions/init.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `init`. */
export function makeInitCommand(io: CliIo): Command {
  return new Command('init')
    .description('create a repository (encrypted with a password unless --no-password)')
    .option('--no-password', 'create an unencrypted repository (local directories only; credential files are never stored in it)')
    .option('--compression-level <n>', 'zstd level 0..19 of every blob (0 = off; default 3, and 1 for SQLite databases)', (v) => Number(v))
    .option('--pack-size <MiB>', 'target pack size in MiB', (v) => Number(v))
    .option('--copy-chunker-params-from <location>', 'chunk like this repository (same chunker, seed and blob ids) so `copy` between them moves blobs as they are; its password from CLAWBACK_FROM_PASSWORD or the usual ones')
    .action(async (o: { password: boolean; compressionLevel?: number; packSize?: number; copyChunkerParamsFrom?: string }, c: Command) => (await import('../actions/init.js')).runInit(io, o, c));
}
