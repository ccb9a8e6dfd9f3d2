/**
 * `clawback export SELECTOR OUT.tar.gz [--force]` and `clawback import FILE.tar.gz
 * [--name LABEL]`: portable single-file archives of one snapshot (`portable/`).
 *
 * Definitions only (names, options, help); the implementations are imported when a
 * command runs: `../actions/export.ts`, `../actions/import.ts`.
 */
import { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Builds `export`. */
export function makeExportCommand(io: CliIo): Command {
  return new Command('export')
    .description('write one snapshot as a portable .tar.gz (tree + clawback-manifest.json with the SHA-256 of every file)')
    .argument('<selector>', 'latest | vN | label | timestamp prefix | id prefix')
    .argument('<out>', 'archive to write, e.g. backup.tar.gz')
    .option('--force', 'replace an existing archive')
    .action(async (selector: string, out: string, o: { force?: boolean }, c: Command) => (await import('../actions/export.js')).runExport(io, selector, out, o, c));
}

/** Builds `import`. */
export function makeImportCommand(io: CliIo): Command {
  return new Command('import')
    .description('add a snapshot from a portable archive (checks every SHA-256 and rejects unsafe members before writing anything)')
    .argument('<file>', 'archive written by `clawback export`')
    .option('--name <label>', 'label for the imported snapshot (default: its original label)')
    .action(async (file: string, o: { name?: string }, c: Command) => (await import('../actions/import.js')).runImport(io, file, o, c));
}
