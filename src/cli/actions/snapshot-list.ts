/**
 * `clawback snapshot list`: all snapshots, or an agent's (`snapshot-agent.ts`).
 */
import type { Command } from 'commander';
import { shortId } from '../../ids.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions } from '../../snapshot/selector.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatSnapshotTable, snapshotRow } from '../snapshot-table.js';
import { wantsAgent } from '../agent-select.js';

/** Runs `clawback snapshot list`. */
export async function runSnapshotList(io: CliIo, o: { tag?: string[]; profile?: string; manifest?: string; root?: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  if (wantsAgent(o)) return (await import('./snapshot-agent.js')).runAgentList(ctx, io, o);
  await ctx.withRepo(async (repo) => {
    const { entries, damaged } = await listSnapshots(repo);
    for (const d of damaged) ctx.warn(`snapshot ${shortId(d.id)} cannot be read: ${d.error}`);
    const versioned = assignVersions(entries).filter((v) => !o.tag || o.tag.every((t) => v.manifest.tags.includes(t)));
    ctx.emit(versioned.map(snapshotRow));
    if (versioned.length === 0) {
      ctx.out('no snapshots yet');
      return;
    }
    ctx.out(formatSnapshotTable(versioned));
  });
}
