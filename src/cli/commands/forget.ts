/**
 * `clawback forget` (also `clawback snapshot forget`): remove snapshots by retention policy
 * (restic's `--keep-*` rules plus `--max-backups`/`--max-age-days`, `--auto-only`) or by
 * selector (`forget v3 before-upgrade`). `--dry-run` shows the decision with the reason for
 * every kept snapshot. Takes the exclusive lock. Data is freed by `gc` (or `--prune`).
 */
import { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { forgetSnapshots, type ForgetDecision } from '../../snapshot/forget.js';
import type { RetentionPolicy } from '../../snapshot/policy.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatTable } from '../format.js';
import { runGc } from './gc.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function count(flag: string): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim())) throw new ClawbackError('USAGE', `invalid ${flag} ${JSON.stringify(v)}: give a whole number (-1 = unlimited)`);
    return Number(v);
  };
}

/** Options as commander parses them. */
interface ForgetFlags {
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
    .action(async (selectors: string[], o: ForgetFlags, c: Command) => {
      const ctx = Context.of(io, c);
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
          if (o.prune && !o.dryRun && remove.length > 0) await runGc(ctx, repo, { maxUnused: o.maxUnused });
        },
        { lock: o.dryRun ? 'shared' : 'exclusive' },
      );
    });
}
