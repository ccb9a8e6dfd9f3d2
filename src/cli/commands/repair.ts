/**
 * `clawback repair index`: rebuild the index from the packs.
 */
import { Command } from 'commander';
import { repairIndex } from '../../repository/repair.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';

/** Builds `repair`. */
export function makeRepairCommand(io: CliIo): Command {
  const cmd = new Command('repair').description('repair repository metadata');
  cmd
    .command('index')
    .description('rebuild the index (and the local cache) from the pack files alone')
    .action(async (_o: unknown, c: Command) => {
      const ctx = Context.of(io, c);
      await ctx.withRepo(async (repo) => {
        const r = await repairIndex(repo, { warn: (m) => ctx.warn(m) });
        ctx.emit({ message_type: 'summary', ...r });
        ctx.out(`index rebuilt from ${r.packs} packs (${r.blobs} blobs): wrote ${r.newIndexFiles.length} index file(s), removed ${r.removedIndexFiles.length}`);
        if (r.damagedPacks.length > 0) ctx.warn(`${r.damagedPacks.length} pack(s) could not be read and were left out; run \`clawback verify\``);
      }, { lock: 'exclusive' });
    });
  return cmd;
}
