/**
 * `clawback export SELECTOR OUT.tar.gz [--force]`: one snapshot as a portable single-file
 * archive (`portable/`).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { exportSnapshot } from '../../portable/export.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { selectSnapshot } from '../select.js';
import { pathExists as exists } from '../../util/fs.js';
import { preloadIndexCache } from '../../repository/repository.js';

/** Runs `clawback export`. */
export async function runExport(io: CliIo, selector: string, out: string, o: { force?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const target = resolve(io.cwd, out);
  if (!o.force && (await exists(target))) throw new ClawbackError('USAGE', `${target} exists: choose another name, or pass --force to replace it`);
  await ctx.withRepo(async (repo) => {
    const r = await selectSnapshot(ctx, repo, selector);
    const s = r.snapshot.manifest.summary;
    const progress = makeProgress(ctx, 'export', { filesTotal: s.files, bytesTotal: s.bytes });
    const res = await exportSnapshot(repo, r.snapshot, target, { signal: io.signal, progress });
    progress.done?.({ phase: 'export', filesDone: res.files, bytesDone: res.bytes });
    ctx.emit({ message_type: 'summary', snapshot: r.snapshot.id, version: r.snapshot.version, ...res });
    ctx.out(`exported v${r.snapshot.version} (${shortId(r.snapshot.id)}) to ${target}: ${res.files} files, ${res.dirs} dirs, ${res.symlinks} symlinks, ${formatBytes(res.bytes)} → ${formatBytes(res.archiveBytes)}`);
  }, { preload: [preloadIndexCache] });
}
