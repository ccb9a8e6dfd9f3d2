/**
 * `clawback snapshot restore`: into a directory, or an agent's state (`snapshot-agent.ts`).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { preloadIndexCache } from '../../repository/repository.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { selectSnapshot } from '../select.js';
import { wantsAgent } from '../agent-select.js';
import type { AgentRestoreCliOptions } from './snapshot-agent.js';
import { lazy } from '../lazy.js';

const restorer = lazy(() => import('../../restorer/restorer.js'));
const restoreHooks = lazy(() => import('../../agent/restore-hooks.js'));

/** Runs `clawback snapshot restore`. */
export async function runSnapshotRestore(io: CliIo, selector: string, o: AgentRestoreCliOptions & { target?: string; path?: string[]; overwrite?: boolean; force?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  if (wantsAgent(o)) return (await import('./snapshot-agent.js')).runAgentRestore(ctx, io, selector, o, (repo, sel, entries) => selectSnapshot(ctx, repo, sel, entries));
  if (o.healthCheck !== undefined) throw new ClawbackError('USAGE', '--health-check needs --profile or --manifest (in-place agent restores)');
  if (!o.target) throw new ClawbackError('USAGE', 'give --target DIR: the directory to restore into');
  const target = resolve(io.cwd, o.target);
  await ctx.withRepo(async (repo) => {
    const [{ restoreTree }, { sqliteRestoreHooks }] = await Promise.all([restorer(), restoreHooks()]);
    const r = await selectSnapshot(ctx, repo, selector);
    const progress = makeProgress(ctx, 'restore', { filesTotal: r.snapshot.manifest.summary.files, bytesTotal: r.snapshot.manifest.summary.bytes });
    const res = await restoreTree(repo, r.snapshot.manifest.tree, target, { paths: o.path, overwrite: o.overwrite === true || o.force === true, hooks: sqliteRestoreHooks(), signal: io.signal, progress });
    progress.done?.({ phase: 'restore', filesDone: res.files, bytesDone: res.bytes });
    ctx.emit({ message_type: 'summary', snapshot: r.snapshot.id, version: r.snapshot.version, target, ...res });
    ctx.out(`restored v${r.snapshot.version} (${shortId(r.snapshot.id)}) to ${target}: ${res.files} files, ${res.dirs} dirs, ${res.symlinks} symlinks, ${formatBytes(res.bytes)}`);
  }, { preload: [restorer, restoreHooks, preloadIndexCache] });
}
