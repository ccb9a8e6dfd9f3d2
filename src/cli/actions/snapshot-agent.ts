/**
 * The agent-profile side of `clawback snapshot create|list|restore` (`--profile P` or
 * `--manifest F --root R`): snapshots of an agent's state as source
 * `profile:<name>:<root>`, versions v1..vN per agent, in-place restore with rollback and
 * `--target` copies. docs/PROFILES.md describes the profiles.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BUILTIN_PROFILES, builtinRoot, expandPath } from '../../agent/builtin.js';
import type { AgentSnapshotResult } from '../../agent/create.js';
import { commandHealthCheck } from '../../agent/health.js';
import { agentInfoOf } from '../../agent/info.js';
import { parseAgentManifest } from '../../agent/manifest-file.js';
import type { AgentProfile } from '../../agent/profile.js';
import { canonicalPath, profileSource } from '../../agent/root.js';
import type { AgentScope } from '../../agent/rules.js';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { preloadIndexCache, type Repository } from '../../repository/repository.js';
import { processAlive } from '../../repository/lock.js';
import type { SnapshotManifest } from '../../snapshot/manifest.js';
import { assignVersions, filterBySource, type SnapshotEntry, type Versioned } from '../../snapshot/selector.js';
import { listSnapshots } from '../../snapshot/store.js';
import type { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { formatSnapshotTable, snapshotRow } from '../snapshot-table.js';
import type { CliIo } from '../io.js';
import { makeProgress } from '../progress.js';
import type { AgentSelectOptions } from '../agent-select.js';
import { lazy } from '../lazy.js';

// Loaded while the repository opens (`withRepo`'s `preload`): the archiver and restorer.
const agentCreate = lazy(() => import('../../agent/create.js'));
const agentTarget = lazy(() => import('../../agent/target.js'));
const agentInPlace = lazy(() => import('../../agent/inplace.js'));

export { wantsAgent, type AgentSelectOptions } from '../agent-select.js';

/**
 * The profile named by `--profile` (built-in) or `--manifest` (a JSON agent manifest),
 * bound to `--root`, the profile's default root, or the manifest's `root`.
 * @throws ClawbackError 'USAGE' for an unknown profile, both options, a manifest without
 *   a root, or an invalid manifest.
 */
export async function resolveAgentProfile(ctx: Context, io: CliIo, o: AgentSelectOptions): Promise<AgentProfile> {
  const rc = { env: io.env, cwd: io.cwd };
  if (o.profile !== undefined && o.manifest !== undefined) throw new ClawbackError('USAGE', 'give either --profile or --manifest, not both');
  if (o.profile !== undefined) {
    const def = BUILTIN_PROFILES[o.profile];
    if (!def) throw new ClawbackError('USAGE', `unknown profile "${o.profile}": built-in profiles are ${Object.keys(BUILTIN_PROFILES).join(', ')}; use --manifest FILE for others`);
    return { definition: def, root: builtinRoot(o.profile, o.root, rc), origin: 'builtin' };
  }
  if (o.manifest === undefined) throw new ClawbackError('USAGE', 'give --profile NAME or --manifest FILE');
  const file = resolve(io.cwd, o.manifest);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ClawbackError('USAGE', `cannot read agent manifest ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = parseAgentManifest(text, file);
  for (const w of parsed.warnings) ctx.info(w);
  let root: string;
  if (o.root !== undefined) root = expandPath(o.root, rc);
  else if (parsed.root !== undefined) root = parsed.root.startsWith('~') || isAbsolute(parsed.root) ? expandPath(parsed.root, rc) : resolve(dirname(file), parsed.root);
  else throw new ClawbackError('USAGE', `agent manifest ${file} names no root: pass --root DIR`);
  return { definition: parsed.definition, root, origin: file };
}

/** The snapshots of one profile and root, numbered v1..vN within it. */
async function agentVersions(repo: Repository, profile: AgentProfile): Promise<{ source: string; versioned: Versioned[]; entries: SnapshotEntry[] }> {
  const source = profileSource(profile.definition.name, await canonicalPath(profile.root));
  const { entries } = await listSnapshots(repo);
  const mine = filterBySource(entries, source);
  return { source, versioned: assignVersions(mine), entries: mine };
}

/** A short description of an agent snapshot's scope: `everything`, `config-only`, `-workspace`, `+2 extra`. */
export function scopeLabel(m: SnapshotManifest): string {
  const info = agentInfoOf(m);
  const parts = [m.scope ?? (info ? info.scope : '')].filter((s) => s !== '');
  if (info?.noWorkspace) parts.push('-workspace');
  if (info && info.extraPaths.length > 0) parts.push(`+${info.extraPaths.length} extra`);
  if (info?.includeSecrets) parts.push('+secrets');
  return parts.join(' ');
}

function agentRow(v: Versioned) {
  const info = agentInfoOf(v.manifest);
  return {
    ...snapshotRow(v),
    noWorkspace: info?.noWorkspace ?? false,
    extraPaths: info?.extraPaths ?? [],
    includeSecrets: info?.includeSecrets ?? false,
  };
}

/** Options of `snapshot create` with a profile. */
export interface AgentCreateCliOptions extends AgentSelectOptions {
  name?: string;
  tag?: string[];
  auto?: boolean;
  force?: boolean;
  scope?: string;
  workspace?: boolean;
  extraPath?: string[];
  includeSecrets?: boolean;
}

/** `snapshot create --profile P | --manifest F` (positional paths are extra paths). */
export async function runAgentCreate(ctx: Context, io: CliIo, paths: string[], o: AgentCreateCliOptions): Promise<void> {
  const profile = await resolveAgentProfile(ctx, io, o);
  const scope = o.scope ?? 'everything';
  if (scope !== 'everything' && scope !== 'config-only') throw new ClawbackError('USAGE', `--scope must be "everything" or "config-only", not "${scope}"`);
  const extra = [...paths, ...(o.extraPath ?? [])].map((p) => expandPath(p, { env: io.env, cwd: io.cwd }));
  await ctx.withRepo(
    async (repo) => {
      const { createAgentSnapshot } = await agentCreate();
      const progress = makeProgress(ctx, 'snapshot');
      const r: AgentSnapshotResult = await createAgentSnapshot(repo, {
        profile,
        scope: scope as AgentScope,
        noWorkspace: o.workspace === false,
        extraPaths: extra,
        includeSecrets: o.includeSecrets === true,
        label: o.name,
        tags: o.tag,
        kind: o.auto ? 'auto' : 'manual',
        force: o.force,
        signal: io.signal,
        progress,
      });
      progress.done?.({ phase: 'snapshot', filesDone: r.manifest.summary.files, bytesDone: r.manifest.summary.bytes });
      const { versioned } = await agentVersions(repo, profile);
      const v = versioned.find((e) => e.id === r.id);
      const row = agentRow({ id: r.id, manifest: r.manifest, version: v?.version ?? 0 });
      ctx.emit({ message_type: 'summary', ...row, filesRead: r.filesRead, missing: r.info.missing, stripped: r.info.stripped, sqlite: r.info.sqlite, summary: r.manifest.summary });
      const s = r.manifest.summary;
      const notes: string[] = [];
      if (r.info.missing.length > 0) notes.push(`skipped ${r.info.missing.length} missing declared path(s): ${r.info.missing.join(', ')}`);
      if (r.info.sqlite.length > 0) notes.push(`${r.info.sqlite.length} SQLite database(s) via the online backup API`);
      if (r.info.stripped.length > 0) notes.push(`secrets removed from ${r.info.stripped.join(', ')}`);
      ctx.out(
        `snapshot ${shortId(r.id)} of ${profile.definition.name} (${r.info.root}) saved as v${v?.version ?? '?'}${r.manifest.label ? ` (${r.manifest.label})` : ''}, scope ${scopeLabel(r.manifest)}: ` +
          `${s.files} files, ${formatBytes(s.bytes)}; added ${formatBytes(s.bytesAdded)} (${formatBytes(s.storedBytesAdded)} stored) in ${(s.durationMs / 1000).toFixed(1)} s` +
          (notes.length > 0 ? `\n  ${notes.join('\n  ')}` : ''),
      );
    },
    { autoInit: true, preload: [agentCreate, preloadIndexCache] },
  );
}

/** `snapshot list --profile P | --manifest F`: this agent's snapshots, v1 = oldest. */
export async function runAgentList(ctx: Context, io: CliIo, o: AgentSelectOptions & { tag?: string[] }): Promise<void> {
  const profile = await resolveAgentProfile(ctx, io, o);
  await ctx.withRepo(async (repo) => {
    const { versioned } = await agentVersions(repo, profile);
    const rows = versioned.filter((v) => !o.tag || o.tag.every((t) => v.manifest.tags.includes(t)));
    ctx.emit(rows.map(agentRow));
    if (rows.length === 0) {
      ctx.out(`no snapshots of ${profile.definition.name} (${await canonicalPath(profile.root)}) yet`);
      return;
    }
    ctx.out(formatSnapshotTable(rows, scopeLabel));
  });
}

/** Options of `snapshot restore` with a profile. */
export interface AgentRestoreCliOptions extends AgentSelectOptions {
  target?: string;
  force?: boolean;
  overwrite?: boolean;
  path?: string[];
  healthCheck?: string;
  preRestore?: boolean;
}

/** `snapshot restore [SEL] --profile P [--target DIR [--force]] [--health-check CMD]`. */
export async function runAgentRestore(
  ctx: Context,
  io: CliIo,
  selector: string,
  o: AgentRestoreCliOptions,
  select: (repo: Repository, selector: string, entries: SnapshotEntry[]) => Promise<{ snapshot: Versioned }>,
): Promise<void> {
  const profile = await resolveAgentProfile(ctx, io, o);
  if (o.path && o.path.length > 0) throw new ClawbackError('USAGE', '--path cannot be used with --profile: an agent restore replaces the profile\'s state as a whole (use --target DIR and copy what you need)');
  if (o.target !== undefined && o.healthCheck !== undefined) throw new ClawbackError('USAGE', '--health-check applies to in-place restores, not to --target');
  await ctx.withRepo(async (repo) => {
    const { entries } = await agentVersions(repo, profile);
    if (entries.length === 0) throw new ClawbackError('NOT_FOUND', `no snapshots of ${profile.definition.name} (${await canonicalPath(profile.root)}): nothing to restore`);
    const { snapshot } = await select(repo, selector, entries);
    const totals = { filesTotal: snapshot.manifest.summary.files, bytesTotal: snapshot.manifest.summary.bytes };
    if (o.target !== undefined) {
      const target = resolve(io.cwd, o.target);
      const { restoreToTarget } = await agentTarget();
      const progress = makeProgress(ctx, 'restore', totals);
      const r = await restoreToTarget(repo, snapshot, target, { force: o.force === true || o.overwrite === true, signal: io.signal, progress });
      progress.done?.({ phase: 'restore', filesDone: r.files, bytesDone: r.bytes });
      if (r.placeholders.length > 0) ctx.warn(`stored without secrets, these files hold the placeholder __CLAWBACK_SECRET_REMOVED__: ${r.placeholders.join(', ')}`);
      ctx.emit({ message_type: 'summary', snapshot: snapshot.id, version: snapshot.version, target, inPlace: false, files: r.files, dirs: r.dirs, symlinks: r.symlinks, bytes: r.bytes, placeholders: r.placeholders });
      ctx.out(`restored v${snapshot.version} (${shortId(snapshot.id)}) of ${profile.definition.name} to ${target}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${formatBytes(r.bytes)}`);
      return;
    }
    const { restoreInPlace } = await agentInPlace();
    const progress = makeProgress(ctx, 'restore', totals);
    const root = await canonicalPath(profile.root);
    const r = await restoreInPlace(repo, {
      snapshot,
      profile,
      preRestore: o.preRestore !== false,
      healthCheck: o.healthCheck === undefined ? undefined : commandHealthCheck(o.healthCheck, { env: io.env, cwd: root, signal: io.signal }),
      owner: { pid: process.pid, isAlive: processAlive },
      signal: io.signal,
      progress,
    });
    progress.done?.({ phase: 'restore', filesDone: r.restored.files, bytesDone: r.restored.bytes });
    let preVersion: number | undefined;
    if (r.preRestore) preVersion = (await agentVersions(repo, profile)).versioned.find((v) => v.id === r.preRestore!.id)?.version;
    ctx.emit({
      message_type: 'summary',
      snapshot: snapshot.id,
      version: snapshot.version,
      root: r.root,
      inPlace: true,
      preRestore: r.preRestore ? { id: r.preRestore.id, version: preVersion ?? null } : null,
      recovered: r.recovered,
      replaced: r.replaced,
      merged: r.merged,
      kept: r.kept,
      healthCheck: o.healthCheck ?? null,
      ...r.restored,
    });
    const lines = [
      `restored v${snapshot.version} (${shortId(snapshot.id)}) of ${profile.definition.name} in place at ${r.root}: ${r.restored.files} files, ${r.restored.dirs} dirs, ${r.restored.symlinks} symlinks, ${formatBytes(r.restored.bytes)}`,
      `  replaced: ${r.replaced.join(', ') || '(nothing)'}`,
    ];
    const how = `${o.profile !== undefined ? `--profile ${o.profile}` : `--manifest ${o.manifest}`}${o.root !== undefined ? ` --root ${o.root}` : ''}`;
    if (r.preRestore) lines.push(`  undo with: clawback snapshot restore v${preVersion ?? '?'} ${how} (pre-restore snapshot ${shortId(r.preRestore.id)})`);
    if (r.merged.length > 0) lines.push(`  live secrets kept in: ${r.merged.join(', ')}`);
    if (r.kept.length > 0) lines.push(`  live credentials and excluded files kept: ${r.kept.length}`);
    if (o.healthCheck !== undefined) lines.push(`  health check passed: ${o.healthCheck}`);
    ctx.out(lines.join('\n'));
  }, { preload: [o.target !== undefined ? agentTarget : agentInPlace, preloadIndexCache] });
}
