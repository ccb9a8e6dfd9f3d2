/**
 * `clawback snapshot create|list|show|restore`.
 *
 * Definitions only (names, options, help); the implementations are imported when a
 * command runs: `../actions/snapshot-{create,list,show,restore}.ts` (and
 * `snapshot-agent.ts` with --profile/--manifest).
 */
import { Command, Option } from 'commander';
import type { CliIo } from '../io.js';
import type { AgentCreateCliOptions, AgentRestoreCliOptions } from '../actions/snapshot-agent.js';
import { makeForgetCommand } from './forget.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

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
    .action(async (paths: string[], o: AgentCreateCliOptions & { name?: string; tag?: string[]; auto?: boolean; force?: boolean; sqlite?: boolean }, c: Command) => (await import('../actions/snapshot-create.js')).runSnapshotCreate(io, paths, o, c));

  cmd
    .command('list')
    .description('list snapshots, v1 = oldest')
    .option('--tag <tag>', 'only snapshots with this tag', collect)
    .option('--profile <name>', 'only this agent\'s snapshots (versions counted within them)')
    .option('--manifest <file>', 'only the snapshots of the agent this manifest describes')
    .option('--root <dir>', 'the agent\'s state directory (with --profile/--manifest)')
    .action(async (o: { tag?: string[]; profile?: string; manifest?: string; root?: string }, c: Command) => (await import('../actions/snapshot-list.js')).runSnapshotList(io, o, c));

  cmd
    .command('show')
    .description('show one snapshot manifest')
    .argument('[selector]', 'latest | vN | label | timestamp prefix | id prefix', 'latest')
    .action(async (selector: string, _o: unknown, c: Command) => (await import('../actions/snapshot-show.js')).runSnapshotShow(io, selector, c));

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
    .action(async (selector: string, o: AgentRestoreCliOptions & { target?: string; path?: string[]; overwrite?: boolean; force?: boolean }, c: Command) => (await import('../actions/snapshot-restore.js')).runSnapshotRestore(io, selector, o, c));

  cmd.addCommand(makeForgetCommand(io, 'forget'));

  return cmd;
}
