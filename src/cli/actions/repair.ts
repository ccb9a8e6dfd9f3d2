/**
 * `clawback repair index`: rebuild the index from the packs.
 */
import type { Command } from 'commander';
import { repairIndex } from '../../repository/repair.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { preloadIndexCache } from '../../repository/repository.js';

/** Runs `clawback repair index`. */
export async function runRepairIndex(io: CliIo, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const r = await repairIndex(repo, { warn: (m) => ctx.warn(m) });
    ctx.emit({ message_type: 'summary', ...r });
    ctx.out(`index rebuilt from ${r.packs} packs (${r.blobs} blobs): wrote ${r.newIndexFiles.length} index file(s), removed ${r.removedIndexFiles.length}`);
    if (r.damagedPacks.length > 0) ctx.warn(`${r.damagedPacks.length} pack(s) could not be read and were left out; run \`clawback verify\``);
  }, { lock: 'exclusive', preload: [preloadIndexCache] });
}
