/**
 * `clawback forget` (also `clawback snapshot forget`): remove snapshots by retention policy
 * (restic's `--keep-*` rules plus `--max-backups`/`--max-age-days`, `--auto-only`) or by
 * selector (`forget v3 before-upgrade`). `--dry-run` shows the decision with the reason for
 * every kept snapshot. Takes the exclusive lock. Data is freed by `gc` (or `--prune`).
 */
import type { Command } from 'commander';
import { shortId } from '../../ids.js';
import { forgetSnapshots, type ForgetDecision } from '../../snapshot/forget.js';
import type { RetentionPolicy } from '../../snapshot/policy.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatTable } from '../format.js';
import { lazy } from '../lazy.js';

/** gc, for `--prune`. */
const gc = lazy(() => import('./gc.js'));

/** Options as commander parses them. */
export interface ForgetFlags {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  keepTag?: string[];
  maxBackups?: number;
  maxAgeDays?: number;
  autoOnly?: boolean;
  dryRun?: boolean;
  prune?: boolean;
  maxUnused?: string;
}

/** The policy the flags describe, or undefined when no policy flag is given. */
export function policyFromFlags(o: ForgetFlags): RetentionPolicy | undefined {
  const p: RetentionPolicy = {};
  let any = false;
  const set = <K extends keyof RetentionPolicy>(k: K, v: RetentionPolicy[K] | undefined): void => {
    if (v === undefined) return;
    p[k] = v;
    any = true;
  };
  set('last', o.keepLast);
  set('hourly', o.keepHourly);
  set('daily', o.keepDaily);
  set('weekly', o.keepWeekly);
  set('monthly', o.keepMonthly);
  set('yearly', o.keepYearly);
  set('within', o.keepWithin);
  set('withinHourly', o.keepWithinHourly);
  set('withinDaily', o.keepWithinDaily);
  set('withinWeekly', o.keepWithinWeekly);
  set('withinMonthly', o.keepWithinMonthly);
  set('withinYearly', o.keepWithinYearly);
  // --keep-tag a,b --keep-tag c: keep snapshots with both a and b, or with c.
  set('tags', o.keepTag?.map((g) => g.split(',').map((t) => t.trim())));
  set('maxBackups', o.maxBackups);
  set('maxAgeDays', o.maxAgeDays);
  if (o.autoOnly) p.autoOnly = true;
  return any || o.autoOnly ? p : undefined;
}

function row(d: ForgetDecision): string[] {
  const m = d.snapshot.manifest;
  return [d.keep ? 'keep' : 'remove', `v${d.snapshot.version}`, m.time.replace(/\.\d+Z$/, 'Z'), shortId(d.snapshot.id), m.label ?? '', m.kind, d.reasons.join(', ')];
}

function jsonOf(d: ForgetDecision) {
  const m = d.snapshot.manifest;
  return { id: d.snapshot.id, version: d.snapshot.version, time: m.time, label: m.label ?? null, source: m.source, kind: m.kind, tags: m.tags, reasons: d.reasons };
}

/** Runs `clawback forget` (and `clawback snapshot forget`). */
export async function runForget(io: CliIo, selectors: string[], o: ForgetFlags, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const policy = policyFromFlags(o);
  await ctx.withRepo(
    async (repo) => {
      const r = await forgetSnapshots(repo, { policy, selectors, dryRun: o.dryRun });
      for (const d of r.damaged) ctx.warn(`snapshot ${shortId(d.id)} cannot be read and was left alone: ${d.error}`);
      const keep = r.decisions.filter((d) => d.keep);
      const remove = r.decisions.filter((d) => !d.keep);
      const removedDamaged = r.removed.filter((id) => !r.decisions.some((d) => d.snapshot.id === id));
      ctx.emit({ message_type: 'summary', dryRun: o.dryRun === true, keep: keep.map(jsonOf), remove: remove.map(jsonOf), removedDamaged });
      for (const id of removedDamaged) ctx.out(`removed damaged snapshot file ${shortId(id)}`);
      const bySource = new Map<string, ForgetDecision[]>();
      for (const d of r.decisions) {
        const g = bySource.get(d.snapshot.manifest.source) ?? [];
        g.push(d);
        bySource.set(d.snapshot.manifest.source, g);
      }
      for (const [source, ds] of bySource) {
        ctx.out(`${source}: keep ${ds.filter((d) => d.keep).length}, ${o.dryRun ? 'would remove' : 'remove'} ${ds.filter((d) => !d.keep).length}`);
        ctx.out(formatTable(['action', 'version', 'time', 'id', 'name', 'kind', 'reasons'], [...ds].reverse().map(row)));
      }
      if (o.dryRun) ctx.out(`dry run: ${remove.length} snapshot(s) would be removed, nothing was changed`);
      else ctx.out(`removed ${remove.length} snapshot(s); versions are renumbered${remove.length > 0 && !o.prune ? '; run `clawback gc` to free their data' : ''}`);
      if (o.prune && !o.dryRun && remove.length > 0) await (await gc()).runGc(ctx, repo, { maxUnused: o.maxUnused });
    },
    { lock: o.dryRun ? 'shared' : 'exclusive', preload: o.prune && !o.dryRun ? [() => gc().then((m) => m.GC_PRELOAD.forEach((load) => void load()))] : [] },
  );
}
