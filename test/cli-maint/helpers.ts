/**
 * Running the CLI in-process against a local repository, for the maintenance command tests.
 */
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import type { Repository } from '../../src/repository/repository.js';
import { saveSnapshot } from '../../src/snapshot/store.js';
import type { SnapshotManifest } from '../../src/snapshot/manifest.js';
import { makeRepo, tmp } from '../fixtures/maint.js';

/** What one CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

/** A local repository and a function running the CLI against it. */
export interface CliRepo {
  dir: string;
  cacheDir: string;
  repo: Repository;
  cli(args: string[], env?: Record<string, string>, signal?: AbortSignal): Promise<CliResult>;
  /** The parsed JSON of a `--json` run that must succeed. */
  json<T = unknown>(args: string[]): Promise<T>;
}

/** Creates an unencrypted local repository (library open: keep `repo` for setup, close before CLI runs that lock). */
export async function cliRepo(): Promise<CliRepo> {
  const dir = join(await tmp('cb-cli-'), 'repo');
  const { repo, cacheDir } = await makeRepo({ backend: new LocalBackend(dir, { fsync: false }) });
  const cli = async (args: string[], env: Record<string, string> = {}, signal = new AbortController().signal): Promise<CliResult> => {
    const out: string[] = [];
    const err: string[] = [];
    const bytes: Buffer[] = [];
    const io: CliIo = {
      stdout: (s) => void out.push(s),
      stderr: (s) => void err.push(s),
      stdoutBytes: (b) => void bytes.push(Buffer.from(b)),
      env: { HOME: dir, ...env },
      cwd: dir,
      stderrIsTTY: false,
      signal,
    };
    const code = await runCli(['--repo', dir, '--cache-dir', cacheDir, ...args], io);
    return { code, stdout: out.join(''), stderr: err.join(''), bytes: Buffer.concat(bytes) };
  };
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli(['--json', ...args]);
    if (r.code !== 0) throw new Error(`clawback ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  return { dir, cacheDir, repo, cli, json };
}

/** Saves a copy of `base` at each of `times` (ISO strings), with optional per-time overrides. */
export async function cloneSnapshots(repo: Repository, base: SnapshotManifest, times: string[], over: (i: number) => Partial<SnapshotManifest> = () => ({})): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, t] of times.entries()) {
    const { label: _l, parent: _p, ...rest } = base;
    ids.push(await saveSnapshot(repo, { ...rest, time: new Date(t).toISOString(), ...over(i) }));
  }
  return ids;
}
