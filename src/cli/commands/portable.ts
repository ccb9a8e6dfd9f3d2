/**
 * `clawback export SELECTOR OUT.tar.gz [--force]` and `clawback import FILE.tar.gz
 * [--name LABEL]`: portable single-file archives of one snapshot (`portable/`).
 */
import { Command } from 'commander';
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ClawbackError } from '../../errors.js';
import { shortId } from '../../ids.js';
import { exportSnapshot } from '../../portable/export.js';
import { checkImportTarget, importArchive, importedManifest, inspectArchive } from '../../portable/import.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { selectSnapshot } from './snapshot.js';
import { pathExists as exists } from '../../util/fs.js';


/** Builds `export`. */
export function makeExportCommand(io: CliIo): Command {
  return new Command('export')
    .description('write one snapshot as a portable .tar.gz (tree + clawback-manifest.json with the SHA-256 of every file)')
    .argument('<selector>', 'latest | vN | label | timestamp prefix | id prefix')
    .argument('<out>', 'archive to write, e.g. backup.tar.gz')
    .option('--force', 'replace an existing archive')
    .action(async (selector: string, out: string, o: { force?: boolean }, c: Command) => {
      const ctx = Context.of(io, c);
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
      });
    });
}

/** Builds `import`. */
export function makeImportCommand(io: CliIo): Command {
  return new Command('import')
    .description('add a snapshot from a portable archive (checks every SHA-256 and rejects unsafe members before writing anything)')
    .argument('<file>', 'archive written by `clawback export`')
    .option('--name <label>', 'label for the imported snapshot (default: its original label)')
    .action(async (file: string, o: { name?: string }, c: Command) => {
      const ctx = Context.of(io, c);
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
      }, { autoInit: true });
    });
}
