/**
 * `clawback snapshot create`: paths, or an agent's state (`snapshot-agent.ts`).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { preloadIndexCache } from '../../repository/repository.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions } from '../../snapshot/selector.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { snapshotRow } from '../snapshot-table.js';
import { makeProgress } from '../progress.js';
import { wantsAgent } from '../agent-select.js';
import type { AgentCreateCliOptions } from './snapshot-agent.js';
import { lazy } from '../lazy.js';

const archiver = lazy(() => import('../../archiver/create-snapshot.js'));

/** Runs `clawback snapshot create`. */
export async function runSnapshotCreate(io: CliIo, paths: string[], o: AgentCreateCliOptions & { name?: string; tag?: string[]; auto?: boolean; force?: boolean; sqlite?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  if (wantsAgent(o)) return (await import('./snapshot-agent.js')).runAgentCreate(ctx, io, paths, o);
  if (paths.length === 0) throw new ClawbackError('USAGE', 'give the paths to snapshot, or --profile NAME / --manifest FILE');
  await ctx.withRepo(async (repo) => {
    const { createSnapshot } = await archiver();
    const progress = makeProgress(ctx, 'snapshot');
    const r = await createSnapshot(repo, {
      paths: paths.map((p) => resolve(io.cwd, p)),
      label: o.name,
      tags: o.tag,
      kind: o.auto ? 'auto' : 'manual',
      force: o.force,
      sqlite: o.sqlite,
      signal: io.signal,
      progress,
    });
    progress.done?.({ phase: 'snapshot', filesDone: r.manifest.summary.files, bytesDone: r.manifest.summary.bytes });
    const { entries } = await listSnapshots(repo);
    const v = assignVersions(entries).find((e) => e.id === r.id);
    ctx.emit({ message_type: 'summary', ...snapshotRow({ id: r.id, manifest: r.manifest, version: v?.version ?? 0 }), filesRead: r.filesRead, summary: r.manifest.summary });
    const s = r.manifest.summary;
    ctx.out(
      `snapshot ${shortId(r.id)} saved as v${v?.version ?? '?'}${r.manifest.label ? ` (${r.manifest.label})` : ''}: ` +
        `${s.files} files, ${formatBytes(s.bytes)}; added ${formatBytes(s.bytesAdded)} (${formatBytes(s.storedBytesAdded)} stored) in ${(s.durationMs / 1000).toFixed(1)} s`,
    );
  }, { autoInit: true, preload: [archiver, preloadIndexCache] });
}
