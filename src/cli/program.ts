/**
 * The root command: global options and every subcommand. `createProgram(io)` builds a
 * fresh program per run so tests can call it in-process.
 *
 * Start-up cost: `commands/*.ts` only define the commands (names, options, help) and import
 * nothing but commander; each action imports its implementation (`actions/*.ts`, and
 * through it the library) when it runs, so `--version`, `--help` and every command load
 * only what they use.
 */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import type { CliIo } from './io.js';
import { makeInitCommand } from './commands/init.js';
import { makeSnapshotCommand } from './commands/snapshot.js';
import { makeLsCommand } from './commands/ls.js';
import { makeKeyCommand } from './commands/key.js';
import { makeRepairCommand } from './commands/repair.js';
import { makeCopyCommand } from './commands/copy.js';
import { makeVerifyCommand } from './commands/verify.js';
import { makeForgetCommand } from './commands/forget.js';
import { makeGcCommand } from './commands/gc.js';
import { makeUnlockCommand } from './commands/unlock.js';
import { makeStatsCommand } from './commands/stats.js';
import { makeDiffCommand } from './commands/diff.js';
import { makeDumpCommand } from './commands/dump.js';
import { makeFindCommand } from './commands/find.js';
import { makeDaemonCommand } from './commands/daemon.js';
import { makeStatusCommand } from './commands/status.js';
import { makeExportCommand, makeImportCommand } from './commands/portable.js';

/** Subcommand factories, in help order. Later features register here. */
export const COMMANDS: ((io: CliIo) => Command)[] = [makeInitCommand, makeSnapshotCommand, makeLsCommand, makeKeyCommand, makeRepairCommand, makeCopyCommand, makeVerifyCommand, (io) => makeForgetCommand(io), makeGcCommand, makeUnlockCommand, makeStatsCommand, makeDiffCommand, makeDumpCommand, makeFindCommand, makeExportCommand, makeImportCommand, makeDaemonCommand, makeStatusCommand];

/** Builds the CLI for one run. */
export function createProgram(io: CliIo): Command {
  const program = new Command('clawback')
    .description('content-addressed, deduplicating, encrypted snapshots of agent workspaces and any directory')
    .version(VERSION)
    .addOption(new Option('-r, --repo <location>', 'repository: a directory or s3:https://host/bucket/prefix (env CLAWBACK_REPO; default ~/.clawback/repo)'))
    .option('--json', 'print JSON on stdout (messages on stderr)')
    .option('-q, --quiet', 'print only results and errors')
    .option('--cache-dir <dir>', 'local cache directory (env CLAWBACK_CACHE_DIR)')
    .option('--password-file <file>', 'read the password from a file (env CLAWBACK_PASSWORD_FILE)')
    .option('--password-command <cmd>', 'run a command that prints the password (env CLAWBACK_PASSWORD_COMMAND)')
    .option('--retry-lock <duration>', 'wait this long for a locked repository (e.g. 30s, 5m, 1h) instead of failing with exit 11')
    .option('--config <file>', 'config file: JSON5, or an openclaw.json with a backup section (env CLAWBACK_CONFIG; default ~/.config/clawback/config.json5)')
    .option('--no-config', 'ignore the config file')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  for (const make of COMMANDS) {
    const sub = make(io);
    program.addCommand(sub);
  }
  const applyAll = (c: Command): void => {
    c.exitOverride();
    c.showHelpAfterError();
    c.configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
    c.commands.forEach(applyAll);
  };
  program.commands.forEach(applyAll);
  return program;
}
