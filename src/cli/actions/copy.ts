/**
 * `clawback copy --from SRC --to DST [SELECTOR…]`: copy snapshots between repositories.
 * Holds a shared lock on both while it runs (as restic's `copy`): a concurrent gc of
 * either one waits, so the source's blobs cannot vanish mid-copy and the destination's new
 * packs are not swept before the copied snapshots reference them.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { openBackend, parseLocation } from '../../backend/location.js';
import { openRepository, preloadIndexCache, type Repository } from '../../repository/repository.js';
import type { Lock } from '../../repository/lock.js';
import { copySnapshots } from '../../copier/copy.js';
import { listSnapshots } from '../../snapshot/store.js';
import { resolveSelector } from '../../snapshot/selector.js';
import type { CliIo } from '../io.js';
import { closingOnFailure, Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';

/** Opens the repository at `location` with the password from env `PREFIX` / `PREFIX_FILE`, else the usual chain. */
async function openAt(ctx: Context, location: string, prefix: string): Promise<Repository> {
  const e = ctx.io.env;
  let password: string | undefined = e[prefix];
  if (password === undefined && e[`${prefix}_FILE`] !== undefined) password = (await readFile(resolve(ctx.io.cwd, e[`${prefix}_FILE`]!), 'utf8')).replace(/\r?\n$/, '');
  password ??= await ctx.configuredPassword();
  const backend = await openBackend(parseLocation(location, ctx.io.cwd), { env: e });
  return closingOnFailure(backend, () => openRepository(backend, { ...ctx.repoOptions(location), password, onKeyDerivation: preloadIndexCache }));
}

/** Runs `clawback copy`. */
export async function runCopy(io: CliIo, selectors: string[], o: { from?: string; to: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const src = await openAt(ctx, o.from ?? ctx.location, 'CLAWBACK_FROM_PASSWORD');
  let srcLock: Lock | undefined;
  try {
    srcLock = await ctx.lock(src, 'shared');
    const dst = await openAt(ctx, o.to, 'CLAWBACK_TO_PASSWORD').catch((err: unknown) => {
      if (err instanceof ClawbackError && err.code === 'REPO_NOT_FOUND') {
        throw new ClawbackError('REPO_NOT_FOUND', `${err.message}; to copy blobs as they are, create it with \`clawback init --repo ${o.to} --copy-chunker-params-from ${o.from ?? ctx.location}\``, { details: err.details });
      }
      throw err;
    });
    let dstLock: Lock | undefined;
    try {
      dstLock = await ctx.lock(dst, 'shared');
      const { entries } = await listSnapshots(src);
      const chosen = selectors.length === 0 ? entries : [...new Map(selectors.map((s) => { const r = resolveSelector(s, entries).snapshot; return [r.id, r] as const; })).values()];
      const res = await copySnapshots(src, dst, chosen, { signal: io.signal, progress: makeProgress(ctx, 'copy') });
      ctx.emit({ message_type: 'summary', ...res });
      for (const s of res.copied) ctx.out(`copied ${shortId(s.source)} → ${shortId(s.destination)}`);
      for (const s of res.skipped) ctx.out(`skipped ${shortId(s.source)}: already at the destination as ${shortId(s.destination)}`);
      ctx.out(`${res.copied.length} copied, ${res.skipped.length} already there; ${formatBytes(res.bytesAdded)} of new data${res.rechunked ? ' (re-chunked: the repositories chunk differently)' : ''}`);
    } finally {
      await ctx.releaseLock(dstLock);
      await dst.close();
      await dst.backend.close();
    }
  } finally {
    await ctx.releaseLock(srcLock);
    await src.close();
    await src.backend.close();
  }
}
