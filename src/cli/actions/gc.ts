/**
 * `clawback gc [--dry-run] [--max-unused 5%]` (alias `prune`): delete the packs no
 * snapshot needs, repack partly used ones, remove temp files interrupted saves left, under
 * the exclusive lock. The plan is printed first; `--dry-run` prints only the plan.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import type { PlanTotals, PrunePlan } from '../../pruner/plan.js';
import { preloadIndexCache, type Repository } from '../../repository/repository.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { lazy } from '../lazy.js';

const planner = lazy(() => import('../../pruner/plan.js'));
const executor = lazy(() => import('../../pruner/execute.js'));

/** What {@link runGc} loads: `withRepo`'s `preload` for commands that run it. */
export const GC_PRELOAD: readonly (() => unknown)[] = [planner, executor, preloadIndexCache];

/** The plan as JSON (no internals); `t` is its `planTotals`. */
function planJson(plan: PrunePlan, t: PlanTotals) {
  return {
    maxUnused: plan.maxUnused,
    snapshots: plan.snapshots,
    reachableBlobs: plan.reachableBlobs,
    totals: t,
    repack: plan.packs.filter((p) => p.action === 'repack'),
    delete: plan.packs.filter((p) => p.action === 'delete'),
    unreferenced: plan.unreferenced,
    missingPacks: plan.missingPacks,
    tempFiles: plan.tempFiles,
    indexFiles: plan.indexFiles.length,
    supersededIndexFiles: plan.supersededIndexFiles,
    rewriteIndex: plan.rewriteIndex,
    missing: plan.missing,
    refusals: plan.refusals,
  };
}

function planText(plan: PrunePlan, t: PlanTotals, dryRun: boolean): string {
  const w = dryRun ? 'would ' : '';
  const be = dryRun ? 'would be' : 'will be';
  return [
    `${plan.snapshots} snapshot(s) reach ${plan.reachableBlobs} blob(s)`,
    `packs: keep ${t.keepPacks} (${formatBytes(t.keepBytes)}, ${formatBytes(t.keptUnusedBytes)} unused left in them)`,
    `       ${w}repack ${t.repackPacks} (${formatBytes(t.repackBytes)}, frees ${formatBytes(t.repackUnusedBytes)} unused)`,
    `       ${w}delete ${t.deletePacks} unused (${formatBytes(t.deleteBytes)}) and ${t.unreferencedPacks} unreferenced (${formatBytes(t.unreferencedBytes)})`,
    ...(plan.missingPacks.length > 0 ? [`       ${w}drop ${plan.missingPacks.length} indexed pack(s) missing from data/ from the index`] : []),
    ...(t.tempFiles > 0 ? [`temp files: ${w}remove ${t.tempFiles} left by interrupted saves (${formatBytes(t.tempBytes)})`] : []),
    `index: ${plan.indexFiles.length} file(s)${plan.rewriteIndex ? ` ${be} replaced by one` : ''}${plan.supersededIndexFiles.length > 0 ? `, ${plan.supersededIndexFiles.length} superseded ${be} deleted` : ''}`,
    `${dryRun ? 'would free' : 'frees'} about ${formatBytes(t.deleteBytes + t.unreferencedBytes + t.repackUnusedBytes + t.tempBytes)}`,
  ].join('\n');
}

/** Plans and (unless dry run) executes gc with the repository already locked. */
export async function runGc(ctx: Context, repo: Repository, o: { dryRun?: boolean | undefined; maxUnused?: string | undefined }): Promise<void> {
  const { parseMaxUnused, planPrune, planTotals } = await planner();
  const maxUnused = o.maxUnused === undefined ? 0.05 : parseMaxUnused(o.maxUnused);
  ctx.info('planning gc: marking every blob reachable from a snapshot…');
  const plan = await planPrune(repo, { maxUnused, signal: ctx.io.signal });
  const totals = planTotals(plan);
  ctx.out(planText(plan, totals, o.dryRun === true));
  if (plan.refusals.length > 0) {
    ctx.emit({ message_type: 'summary', dryRun: o.dryRun === true, plan: planJson(plan, totals), result: null });
    throw new ClawbackError('INTEGRITY', `gc refused, nothing was deleted:\n  ${plan.refusals.join('\n  ')}`, { details: { refusals: plan.refusals, missing: plan.missing } });
  }
  if (o.dryRun) {
    ctx.emit({ message_type: 'summary', dryRun: true, plan: planJson(plan, totals), result: null });
    ctx.out('dry run: nothing was changed');
    return;
  }
  const { executePlan } = await executor();
  const progress = makeProgress(ctx, 'gc');
  const r = await executePlan(repo, plan, { signal: ctx.io.signal, progress });
  ctx.emit({ message_type: 'summary', dryRun: false, plan: planJson(plan, totals), result: r });
  ctx.out(
    `gc done: deleted ${r.deletedPacks} pack(s) (${formatBytes(r.deletedBytes)}), repacked ${r.repackedPacks} into ${r.newPacks} (${formatBytes(r.newPackBytes)})` +
      `${r.indexFile ? `, new index ${shortId(r.indexFile)}` : ''}, removed ${r.removedIndexFiles} index file(s)` +
      `${r.removedTempFiles > 0 ? ` and ${r.removedTempFiles} stray temp file(s) (${formatBytes(r.removedTempBytes)})` : ''}`,
  );
}

/** Runs `clawback gc` (alias `prune`). */
export async function runGcCommand(io: CliIo, o: { dryRun?: boolean; maxUnused?: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo((repo) => runGc(ctx, repo, o), { lock: o.dryRun ? 'shared' : 'exclusive', preload: GC_PRELOAD });
}
