/**
 * borg 1.2 (from apt): `init -e repokey-blake2`, `create --compression zstd,3`, with
 * `BORG_PASSPHRASE` and every borg directory (cache, config, security, keys) under a
 * private `BORG_BASE_DIR`. Archives are created from inside the source directory (`.`) and
 * extracted inside the target, so the content sits at the target's root.
 */
import { join } from 'node:path';
import { run } from '../measure.js';
import { BENCH_PASSWORD, type Tool, type ToolInstance } from './tool.js';

/** borg as a benchmark {@link Tool}. */
export const borg: Tool = {
  name: 'borg',
  async version() {
    return (await run({ cmd: 'borg', args: ['--version'] })).stdout.trim();
  },
  instance(dir: string): ToolInstance {
    const repo = join(dir, 'repo');
    const env = {
      BORG_PASSPHRASE: BENCH_PASSWORD,
      BORG_BASE_DIR: join(dir, 'base'),
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    };
    let last = '';
    return {
      tool: 'borg',
      repo,
      init: () => [{ cmd: 'borg', args: ['init', '-e', 'repokey-blake2', repo], env }],
      snapshot: (src, label) => {
        last = label;
        return { cmd: 'borg', args: ['create', '--compression', 'zstd,3', `${repo}::${label}`, '.'], cwd: src, env };
      },
      restore: (target) => ({ cmd: 'borg', args: ['extract', `${repo}::${last}`], cwd: target, env }),
      verify: () => [{ cmd: 'borg', args: ['check', '--verify-data', repo], env }],
      forgetGc: (keepLast) => [
        { cmd: 'borg', args: ['prune', '--keep-last', String(keepLast), repo], env },
        { cmd: 'borg', args: ['compact', repo], env },
      ],
    };
  },
};
