/**
 * `clawback key add|list|remove|passwd`: manage the passwords (key files) of a repository.
 *
 * Definitions only (names, options, help): the implementation, `../actions/key.ts`,
 * is imported when the command runs.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `key`. */
export function makeKeyCommand(io: CliIo): Command {
  const cmd = new Command('key').description('manage repository passwords (key files)');

  cmd
    .command('list')
    .description('list key files')
    .action(async (_o: unknown, c: Command) => (await import('../actions/key.js')).runKeyList(io, c));

  cmd
    .command('add')
    .description('add a password (new key file); the new password comes from CLAWBACK_NEW_PASSWORD, _FILE or a prompt')
    .action(async (_o: unknown, c: Command) => (await import('../actions/key.js')).runKeyAdd(io, c));

  cmd
    .command('remove')
    .description('remove a key file (never the last one, nor the one in use)')
    .argument('<id>', 'key id or unique prefix (see key list)')
    .action(async (idArg: string, _o: unknown, c: Command) => (await import('../actions/key.js')).runKeyRemove(io, idArg, c));

  cmd
    .command('passwd')
    .description('change the password of the key in use (adds a new key file, then removes the old one)')
    .action(async (_o: unknown, c: Command) => (await import('../actions/key.js')).runKeyPasswd(io, c));

  return cmd;
}
