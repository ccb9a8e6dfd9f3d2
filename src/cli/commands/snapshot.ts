/**
 * `clawback snapshot create|list|show|restore`.
 */
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { createSnapshot } from '../../archiver/create-snapshot.js';
import { restoreTree } from '../../restorer/restorer.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions, resolveSelector, type Resolved, type SnapshotEntry } from '../../snapshot/selector.js';
import type { Repository } from '../../repository/repository.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { formatSnapshotTable, snapshotRow } from '../snapshot-table.js';
import { makeProgress } from '../progress.js';
import { makeForgetCommand } from './forget.js';
import { runAgentCreate, runAgentList, runAgentRestore, wantsAgent, type AgentCreateCliOptions, type AgentRestoreCliOptions } from './snapshot-agent.js';
import { sqliteRestoreHooks } from '../../agent/restore-hooks.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Resolves a selector and tells the user when a timestamp prefix matched several. */
export async function selectSnapshot(ctx: Context, repo: Repository, selector: string | undefined, entries?: SnapshotEntry[]): Promise<Resolved> {
  const list = entries ?? (await listSnapshots(repo)).entries;
  const r = resolveSelector(selector, list);
  if (r.others.length > 0) {
    ctx.info(`"${selector}" matched ${r.others.length + 1} snapshots; using the newest, v${r.snapshot.version} (${r.snapshot.manifest.time}, ${shortId(r.snapshot.id)})`);
  }
  return r;
}

/** Builds `snapshot` and its subcommands. */
export function makeSnapshotCommand(io: CliIo): Command {
  const cmd = new Command('snapshot').description('create, list, show and restore snapshots');

  cmd
    .command('create')
    .description('snapshot one or more paths, or an agent\'s state with --profile/--manifest (creates the default repository on first use)')
    .argument('[path...]', 'files or directories to snapshot (with --profile: extra paths)')
    .option('--name <label>', 'label for the snapshot (unique per source)')
    .option('--tag <tag>', 'add a tag (repeatable)', collect)
    .option('--auto', 'mark the snapshot as automatic (retention may remove it)')
    .option('--force', 're-read every file even if unchanged since the last snapshot')
    .option('--no-sqlite', 'copy SQLite databases byte for byte instead of through SQLite\'s online backup API')
    .option('--profile <name>', 'snapshot an agent\'s state: openclaw, hermes or nemoclaw (docs/PROFILES.md)')
    .option('--manifest <file>', 'snapshot an agent described by a JSON agent manifest')
    .option('--root <dir>', 'the agent\'s state directory (default: the profile\'s, e.g. $OPENCLAW_STATE_DIR or ~/.openclaw)')
    .option('--scope <scope>', 'with a profile: everything (default) or config-only')
    .option('--no-workspace', 'with a profile: leave out the workspace dirs')
    .option('--extra-path <path>', 'with a profile: also capture this path (repeatable)', collect)
    .option('--include-secrets', 'with a profile: also store credentials and secret values (encrypted repositories only)')
    .action(async (paths: string[], o: AgentCreateCliOptions & { name?: string; tag?: string[]; auto?: boolean; force?: boolean; sqlite?: boolean }, c: Command) => {
      const ctx = Context.of(io, c);
      if (wantsAgent(o)) return runAgentCreate(ctx, io, paths, o);
      if (paths.length === 0) throw new ClawbackError('USAGE', 'give the paths to snapshot, or --profile NAME / --manifest FILE');
      await ctx.withRepo(async (repo) => {
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
      }, { autoInit: true });
    });

  cmd
    .command('list')
    .description('list snapshots, v1 = oldest')
    .option('--tag <tag>', 'only snapshots with this tag', collect)
    .option('--profile <name>', 'only this agent\'s snapshots (versions counted within them)')
    .option('--manifest <file>', 'only the snapshots of the agent this manifest describes')
    .option('--root <dir>', 'the agent\'s state directory (with --profile/--manifest)')
    .action(async (o: { tag?: string[]; profile?: string; manifest?: string; root?: string }, c: Command) => {
      const ctx = Context.of(io, c);
      if (wantsAgent(o)) return runAgentList(ctx, io, o);
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
    });

  cmd
    .command('show')
    .description('show one snapshot manifest')
    .argument('[selector]', 'latest | vN | label | timestamp prefix | id prefix', 'latest')
    .action(async (selector: string, _o: unknown, c: Command) => {
      const ctx = Context.of(io, c);
      await ctx.withRepo(async (repo) => {
        const r = await selectSnapshot(ctx, repo, selector);
        ctx.emit({ ...snapshotRow(r.snapshot), manifest: r.snapshot.manifest });
        const m = r.snapshot.manifest;
        ctx.out(
          [
            `snapshot ${r.snapshot.id} (v${r.snapshot.version})`,
            `  time      ${m.time}`,
            `  name      ${m.label ?? '-'}`,
            `  kind      ${m.kind}`,
            `  host      ${m.host} (${m.username})`,
            `  paths     ${m.paths.join(', ')}`,
            `  source    ${m.source}`,
            `  tags      ${m.tags.join(', ') || '-'}`,
            `  tree      ${m.tree}`,
            `  parent    ${m.parent ?? '-'}`,
            `  files     ${m.summary.files} (${formatBytes(m.summary.bytes)}), ${m.summary.dirs} dirs, ${m.summary.symlinks} symlinks`,
            `  added     ${formatBytes(m.summary.bytesAdded)} (${formatBytes(m.summary.storedBytesAdded)} stored, ${m.summary.blobsAdded} blobs)`,
          ].join('\n'),
        );
      });
    });

  cmd
    .command('restore')
    .description('restore a snapshot into a directory, or an agent\'s state in place with --profile/--manifest')
    .argument('[selector]', 'latest | vN | label | timestamp prefix | id prefix', 'latest')
    .addOption(new Option('--target <dir>', 'directory to restore into (must be empty or new unless --overwrite)'))
    .option('--path <path>', 'restore only this path inside the snapshot (repeatable)', collect)
    .option('--overwrite', 'restore into a non-empty directory, replacing what differs and removing what the snapshot lacks')
    .option('--force', 'same as --overwrite')
    .option('--profile <name>', 'restore an agent\'s snapshot: in place (atomic, undoable) unless --target is given')
    .option('--manifest <file>', 'restore a snapshot of the agent this manifest describes')
    .option('--root <dir>', 'the agent\'s state directory (with --profile/--manifest)')
    .option('--health-check <cmd>', 'with a profile, in place: run this shell command afterwards; on failure the previous state is put back')
    .option('--no-pre-restore', 'with a profile, in place: skip the automatic pre-restore snapshot (the restore cannot be undone)')
    .action(async (selector: string, o: AgentRestoreCliOptions & { target?: string; path?: string[]; overwrite?: boolean; force?: boolean }, c: Command) => {
      const ctx = Context.of(io, c);
      if (wantsAgent(o)) return runAgentRestore(ctx, io, selector, o, (repo, sel, entries) => selectSnapshot(ctx, repo, sel, entries));
      if (o.healthCheck !== undefined) throw new ClawbackError('USAGE', '--health-check needs --profile or --manifest (in-place agent restores)');
      if (!o.target) throw new ClawbackError('USAGE', 'give --target DIR: the directory to restore into');
      const target = resolve(io.cwd, o.target);
      await ctx.withRepo(async (repo) => {
        const r = await selectSnapshot(ctx, repo, selector);
        const progress = makeProgress(ctx, 'restore', { filesTotal: r.snapshot.manifest.summary.files, bytesTotal: r.snapshot.manifest.summary.bytes });
        const res = await restoreTree(repo, r.snapshot.manifest.tree, target, { paths: o.path, overwrite: o.overwrite === true || o.force === true, hooks: sqliteRestoreHooks(), signal: io.signal, progress });
        progress.done?.({ phase: 'restore', filesDone: res.files, bytesDone: res.bytes });
        ctx.emit({ message_type: 'summary', snapshot: r.snapshot.id, version: r.snapshot.version, target, ...res });
        ctx.out(`restored v${r.snapshot.version} (${shortId(r.snapshot.id)}) to ${target}: ${res.files} files, ${res.dirs} dirs, ${res.symlinks} symlinks, ${formatBytes(res.bytes)}`);
      });
    });

  cmd.addCommand(makeForgetCommand(io, 'forget'));

  return cmd;
}
