/**
 * clawback through its CLI (`node bin/clawback.js`, see ../build.ts), with
 * `CLAWBACK_REPO`, `CLAWBACK_PASSWORD` and a private `--cache-dir`.
 *
 * `verify` and `forget`/`gc` are used only when `clawback --help` lists them (they are
 * built by other sessions); otherwise those steps are reported as not available. "Forget
 * half + gc" is one command, `forget --keep-last N --prune`, as restic's `forget --prune`
 * (one start-up and key derivation, not two).
 */
import { join } from 'node:path';
import { run, type RunSpec } from '../measure.js';
import type { ClawbackBuild } from '../build.js';
import { BENCH_PASSWORD, type Tool, type ToolInstance } from './tool.js';

/** Options of {@link clawbackTool}. */
export interface ClawbackToolOptions {
  /** Extra `clawback init` arguments (chunker, compression level, pack size). */
  initArgs?: string[];
  /** Extra node arguments (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Table name (default `clawback`). */
  name?: string;
  /**
   * Snapshot and restore through this JSON agent manifest (`--manifest M --root SRC`), so
   * SQLite databases are captured through the backup API as 'sqlite' nodes (fixed chunker).
   */
  agentManifest?: string;
}

/** The subcommands `clawback --help` lists. */
export async function clawbackCommands(build: ClawbackBuild): Promise<Set<string>> {
  const { stdout } = await run({ cmd: process.execPath, args: [build.bin, '--help'] });
  const after = stdout.split(/^Commands:$/m)[1] ?? '';
  // Lines like `  gc|prune [options]  …`: every alias counts.
  return new Set([...after.matchAll(/^ {2}(\S+)/gm)].flatMap((m) => m[1]!.split('|')));
}

/** True when `clawback snapshot create` takes `--manifest` (agent profiles). */
export async function clawbackHasProfiles(build: ClawbackBuild): Promise<boolean> {
  const { stdout } = await run({ cmd: process.execPath, args: [build.bin, 'snapshot', 'create', '--help'] });
  return stdout.includes('--manifest');
}

/** clawback as a benchmark {@link Tool}; `commands` from {@link clawbackCommands}. */
export function clawbackTool(build: ClawbackBuild, commands: Set<string>, o: ClawbackToolOptions = {}): Tool {
  const name = o.name ?? 'clawback';
  return {
    name,
    async version() {
      const v = (await run({ cmd: process.execPath, args: [build.bin, '--version'] })).stdout.trim();
      return `clawback ${v} (${build.mode}, node ${process.version})`;
    },
    instance(dir: string): ToolInstance {
      const repo = join(dir, 'repo');
      let lastSrc = '';
      const env = { CLAWBACK_REPO: repo, CLAWBACK_PASSWORD: BENCH_PASSWORD };
      const cli = (args: string[], cwd?: string): RunSpec => ({
        cmd: process.execPath,
        args: [...(o.nodeArgs ?? []), build.bin, '--cache-dir', join(dir, 'cache'), ...args],
        env,
        ...(cwd ? { cwd } : {}),
      });
      return {
        tool: name,
        repo,
        // clawback captures SQLite databases through the backup API, in plain snapshots too.
        sqliteViaBackup: true,
        init: () => [cli(['init', ...(o.initArgs ?? [])])],
        snapshot: (src) =>
          (lastSrc = src) && o.agentManifest ? cli(['--json', 'snapshot', 'create', '--manifest', o.agentManifest, '--root', src]) : cli(['--json', 'snapshot', 'create', src]),
        restore: (target) =>
          o.agentManifest
            ? cli(['snapshot', 'restore', 'latest', '--manifest', o.agentManifest, '--root', lastSrc, '--target', target])
            : cli(['snapshot', 'restore', 'latest', '--target', target]),
        verify: () => (commands.has('verify') ? [cli(['verify', '--read-data'])] : undefined),
        forgetGc: (keepLast) => (commands.has('forget') && commands.has('gc') ? [cli(['forget', '--keep-last', String(keepLast), '--prune'])] : undefined),
      };
    },
  };
}
