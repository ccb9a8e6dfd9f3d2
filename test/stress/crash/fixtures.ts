/**
 * Template repositories for the crash campaign, made once per test file in-process (fast
 * scrypt, small chunks and packs) and copied for every trial.
 *
 * @module
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackend } from '../../../src/backend/local.js';
import { createSnapshot } from '../../../src/archiver/create-snapshot.js';
import { initRepository, type Repository } from '../../../src/repository/repository.js';
import { cli } from '../../helpers/cli.js';
import { PASSWORD, tmp, writeSourceTree, type Norm } from '../harness.js';

/** Repository parameters of every template: cheap scrypt, small chunks, 48 KiB packs. */
export const TEMPLATE_INIT = {
  scrypt: { N: 1024, r: 8, p: 1 },
  chunker: { algorithm: 'fastcdc-2020' as const, minSize: 1024, avgSize: 4096, maxSize: 16384 },
  sqliteChunker: { algorithm: 'fixed' as const, size: 4096 },
  packSize: 48 * 1024,
};

/** A template: a repository with snapshots of one source directory. */
export interface Template {
  repo: string;
  src: string;
  /** Snapshot ids, oldest first. */
  ids: string[];
  /** Content of every snapshot. */
  expected: Map<string, Norm>;
}

/** Makes an encrypted (or, with `password` null, unencrypted) local repository at `dir`. */
export async function initLocal(dir: string, password: string | null = PASSWORD, o: { chunkingFrom?: Repository; cacheDir?: string } = {}): Promise<Repository> {
  return initRepository(new LocalBackend(dir, { fsync: false }), { password: password ?? undefined, ...TEMPLATE_INIT, ...(o.chunkingFrom ? { chunkingFrom: o.chunkingFrom } : {}) }, { cacheDir: o.cacheDir ?? (await tmp('cb-cache-')), sealThreads: 0 });
}

/**
 * A repository with one snapshot per variant of a source tree (variants 0..n-1, one hour
 * apart in 2026-01-01), taken in-process.
 */
export async function buildTemplate(n: number, o: { password?: string | null; size?: number } = {}): Promise<Template> {
  const base = await tmp('cb-template-');
  const repoDir = join(base, 'repo');
  const src = join(base, 'src');
  const repo = await initLocal(repoDir, o.password === undefined ? PASSWORD : o.password);
  const ids: string[] = [];
  const expected = new Map<string, Norm>();
  try {
    for (let v = 0; v < n; v++) {
      const want = await writeSourceTree(src, v, o.size ?? 1);
      const s = await createSnapshot(repo, { paths: [src], time: new Date(Date.UTC(2026, 0, 1, v)) });
      ids.push(s.id);
      expected.set(s.id, want);
    }
  } finally {
    await repo.close();
  }
  return { repo: repoDir, src, ids, expected };
}

/** A fresh copy of directory `from` in a new temp dir; returns its path. */
export async function copyOf(from: string, name = 'repo'): Promise<string> {
  const to = join(await tmp('cb-trial-'), name);
  await cp(from, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

/** Removes a trial directory made by {@link copyOf} (its parent temp dir). */
export async function removeTrial(path: string): Promise<void> {
  await rm(join(path, '..'), { recursive: true, force: true });
}

/** Runs the CLI in-process (the "next run of the same command") and expects exit 0. */
export async function rerun(args: string[], env: Record<string, string>, cwd?: string): Promise<{ stdout: string; stderr: string }> {
  const r = await cli(args, env, cwd);
  if (r.code !== 0) throw new Error(`the next run of \`clawback ${args.join(' ')}\` failed with exit ${r.code}: ${r.stderr.trim()}`);
  return r;
}
