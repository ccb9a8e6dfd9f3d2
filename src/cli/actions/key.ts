/**
 * `clawback key add|list|remove|passwd`: manage the passwords (key files) of a repository.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatTable } from '../format.js';
import { testScryptParams } from '../test-kdf.js';

async function newPassword(ctx: Context, io: CliIo): Promise<string> {
  const env = io.env['CLAWBACK_NEW_PASSWORD'];
  if (env !== undefined && env !== '') return env;
  const file = io.env['CLAWBACK_NEW_PASSWORD_FILE'];
  if (file !== undefined) {
    const { readFile } = await import('node:fs/promises');
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  }
  if (!io.readPassword) throw new ClawbackError('USAGE', 'no new password: set CLAWBACK_NEW_PASSWORD or CLAWBACK_NEW_PASSWORD_FILE, or run on a terminal');
  const a = await io.readPassword('new password: ');
  const b = await io.readPassword('repeat the new password: ');
  if (a !== b) throw new ClawbackError('USAGE', 'the passwords do not match: nothing was changed');
  if (a === '') throw new ClawbackError('USAGE', 'the new password is empty');
  void ctx;
  return a;
}

/** Runs `clawback key list`. */
export async function runKeyList(io: CliIo, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const keys = await repo.listKeys();
    ctx.emit(keys);
    ctx.out(formatTable(['', 'id', 'user', 'host', 'created', 'kdf'], keys.map((k) => [k.current ? '*' : '', shortId(k.id), k.username, k.host, k.created, k.kdf])));
  });
}

/** Runs `clawback key add`. */
export async function runKeyAdd(io: CliIo, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const id = await repo.addKey(await newPassword(ctx, io), {}, testScryptParams(io.env));
    ctx.emit({ message_type: 'key_added', id });
    ctx.out(`added key ${shortId(id)}`);
  }, { lock: 'exclusive' });
}

/** Runs `clawback key remove ID`. */
export async function runKeyRemove(io: CliIo, idArg: string, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const ids = (await repo.listKeys()).map((k) => k.id).filter((k) => k.startsWith(idArg.toLowerCase()));
    if (ids.length !== 1) throw new ClawbackError(ids.length === 0 ? 'NOT_FOUND' : 'USAGE', ids.length === 0 ? `no key matches ${idArg}: see \`clawback key list\`` : `key prefix ${idArg} is ambiguous: give more characters`);
    await repo.removeKey(ids[0]!);
    ctx.emit({ message_type: 'key_removed', id: ids[0] });
    ctx.out(`removed key ${shortId(ids[0]!)}`);
  }, { lock: 'exclusive' });
}

/** Runs `clawback key passwd`. */
export async function runKeyPasswd(io: CliIo, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const pw = await newPassword(ctx, io);
    const id = await repo.addKey(pw, {}, testScryptParams(io.env));
    await repo.removeKey(repo.keyId, true);
    ctx.emit({ message_type: 'key_changed', id, removed: repo.keyId });
    ctx.out(`password changed: key ${shortId(repo.keyId)} replaced by ${shortId(id)}`);
  }, { lock: 'exclusive' });
}
