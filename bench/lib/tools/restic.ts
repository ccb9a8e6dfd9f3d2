/**
 * restic (from apt), with `RESTIC_PASSWORD`, its default compression (auto = zstd) and a
 * private cache directory. Snapshots are taken from inside the source directory (`backup .`)
 * so restores put the content at the target's root, as for the other tools.
 */
import { join } from 'node:path';
import { run } from '../measure.js';
import { BENCH_PASSWORD, type Tool, type ToolInstance } from './tool.js';

/** restic as a benchmark {@link Tool}. */
export const restic: Tool = {
  name: 'restic',
  async version() {
    return (await run({ cmd: 'restic', args: ['version'] })).stdout.trim();
  },
  instance(dir: string): ToolInstance {
    const repo = join(dir, 'repo');
    const env = { RESTIC_PASSWORD: BENCH_PASSWORD, RESTIC_COMPRESSION: 'auto' };
    const base = ['-r', repo, '--cache-dir', join(dir, 'cache'), '--quiet'];
    return {
      tool: 'restic',
      repo,
      init: () => [{ cmd: 'restic', args: [...base, 'init'], env }],
      snapshot: (src, label) => ({ cmd: 'restic', args: [...base, 'backup', '--tag', label, '.'], cwd: src, env }),
      restore: (target) => ({ cmd: 'restic', args: [...base, 'restore', 'latest', '--target', target], env }),
      verify: () => [{ cmd: 'restic', args: [...base, 'check', '--read-data'], env }],
      forgetGc: (keepLast) => [{ cmd: 'restic', args: [...base, 'forget', '--keep-last', String(keepLast), '--prune'], env }],
    };
  },
};
