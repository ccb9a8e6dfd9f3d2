/**
 * `clawback import FILE.tar.gz [--name LABEL]`: a snapshot from a portable single-file
 * archive (`portable/`).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { checkImportTarget, importArchive, importedManifest, inspectArchive } from '../../portable/import.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { pathExists as exists } from '../../util/fs.js';
import { preloadIndexCache } from '../../repository/repository.js';

/** Runs `clawback import`. */
export async function runImport(io: CliIo, file: string, o: { name?: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const path = resolve(io.cwd, file);
  if (!(await exists(path))) throw new ClawbackError('USAGE', `${path} does not exist`);
  const checking = makeProgress(ctx, 'checking');
  const inspected = await inspectArchive(path, { signal: io.signal, progress: checking });
  checking.done?.({ phase: 'checking', filesDone: inspected.files, bytesDone: inspected.bytes });
  const planned = importedManifest(inspected, o.name, new Date());
  ctx.info(`${path}: ${inspected.files} files, ${inspected.dirs} dirs, ${inspected.symlinks} symlinks, ${formatBytes(inspected.bytes)}; every checksum matches`);
  await ctx.withRepo(async (repo) => {
    await checkImportTarget(repo, planned);
    const progress = makeProgress(ctx, 'import', { filesTotal: inspected.files, bytesTotal: inspected.bytes });
    const r = await importArchive(repo, inspected, planned, { signal: io.signal, progress });
    progress.done?.({ phase: 'import', filesDone: r.manifest.summary.files, bytesDone: r.manifest.summary.bytes });
    ctx.emit({ message_type: 'summary', id: r.id, name: r.manifest.label ?? null, time: r.manifest.time, source: r.manifest.source, originalId: inspected.manifest.snapshot.id, summary: r.manifest.summary });
    ctx.out(`imported ${path} as snapshot ${shortId(r.id)}${r.manifest.label ? ` (${r.manifest.label})` : ''}: ${r.manifest.summary.files} files, ${formatBytes(r.manifest.summary.bytes)}; added ${formatBytes(r.manifest.summary.bytesAdded)}`);
  }, { autoInit: true, preload: [preloadIndexCache] });
}
