/**
 * `clawback init`: create a repository.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import { initRepository, openRepository, type Repository } from '../../repository/repository.js';
import type { CliIo } from '../io.js';
import { closingOnFailure, Context } from '../context.js';
import { testScryptParams } from '../test-kdf.js';

/** Runs `clawback init`. */
export async function runInit(io: CliIo, o: { password: boolean; compressionLevel?: number; packSize?: number; copyChunkerParamsFrom?: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  if (!o.password && ctx.isS3()) {
    throw new ClawbackError('USAGE', `S3 repositories are always encrypted: drop --no-password and set CLAWBACK_PASSWORD (or _FILE/_COMMAND) for ${ctx.location}`);
  }
  let password: string | undefined;
  if (o.password) {
    password = await ctx.configuredPassword();
    if (password === undefined && io.readPassword) {
      password = await io.readPassword('new repository password: ');
      const again = await io.readPassword('repeat the password: ');
      if (again !== password) throw new ClawbackError('USAGE', 'the passwords do not match: nothing was created');
    }
    if (password === undefined) {
      throw new ClawbackError('USAGE', 'no password given: set CLAWBACK_PASSWORD, CLAWBACK_PASSWORD_FILE or CLAWBACK_PASSWORD_COMMAND, or pass --no-password for an unencrypted repository');
    }
    if (password === '') throw new ClawbackError('USAGE', 'the password is empty: choose a non-empty one, or pass --no-password');
  }
  const scrypt = testScryptParams(io.env);
  const backend = await ctx.backend();
  try {
    let repo: Repository;
    const from = o.copyChunkerParamsFrom === undefined ? undefined : await openOther(ctx, io, o.copyChunkerParamsFrom);
    try {
      repo = await initRepository(
        backend,
        {
          password,
          ...(scrypt ? { scrypt } : {}),
          ...(o.compressionLevel !== undefined ? { compressionLevel: o.compressionLevel } : {}),
          ...(o.packSize !== undefined ? { packSize: Math.round(o.packSize * 1024 * 1024) } : {}),
          ...(from ? { chunkingFrom: from } : {}),
        },
        ctx.repoOptions(),
      );
    } finally {
      // Closed on every path (also when init fails, e.g. the target already exists).
      await from?.close();
      await from?.backend.close();
    }
    try {
      ctx.emit({ message_type: 'initialized', id: repo.config.id, repository: backend.location, encrypted: repo.encrypted });
      ctx.out(`created ${repo.encrypted ? 'encrypted' : 'UNENCRYPTED'} repository ${repo.config.id.slice(0, 10)} at ${backend.location}`);
    } finally {
      await repo.close();
    }
  } finally {
    await backend.close();
  }
}

/**
 * Opens the repository at `location` whose chunking `--copy-chunker-params-from` copies
 * (password from `CLAWBACK_FROM_PASSWORD`, else the usual ones); its backend is closed
 * again when it does not open.
 */
async function openOther(ctx: Context, io: CliIo, location: string): Promise<Repository> {
  const backend = await ctx.backend(location);
  return closingOnFailure(backend, async () => openRepository(backend, { ...ctx.repoOptions(location), password: io.env['CLAWBACK_FROM_PASSWORD'] ?? (await ctx.configuredPassword()) }));
}
