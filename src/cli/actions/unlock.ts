/**
 * `clawback unlock [--remove-all]`: remove stale lock files (holder dead on this host, or
 * not refreshed for 30 minutes), or with `--remove-all` every lock file.
 */
import type { Command } from 'commander';
import { shortId } from '../../ids.js';
import { describeLock, unlockRepository } from '../../repository/lock.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';

/** Runs `clawback unlock`. */
export async function runUnlock(io: CliIo, o: { removeAll?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(
    async (repo) => {
      const r = await unlockRepository(repo, { all: o.removeAll === true });
      ctx.emit({ message_type: 'summary', removed: r.removed, kept: r.kept });
      for (const e of r.removed) ctx.out(`removed ${shortId(e.id)}: ${describeLock(e)}`);
      for (const e of r.kept) ctx.out(`kept ${shortId(e.id)}: ${describeLock(e)} (not stale; --remove-all removes it)`);
      ctx.out(`removed ${r.removed.length} lock(s)${r.kept.length > 0 ? `, ${r.kept.length} live lock(s) left` : ''}`);
    },
    { lock: 'none' },
  );
}
