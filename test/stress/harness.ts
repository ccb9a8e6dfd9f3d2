/**
 * Shared machinery of the stress tests (test/stress/): temp dirs, source trees, template
 * repositories, running the real CLI as a child process (and killing it), and the
 * soundness check every crash and fault test ends with.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/location.js';
import { verifyRepository, type VerifyReport } from '../../src/checker/checker.js';
import { openRepository, type Repository } from '../../src/repository/repository.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import type { SnapshotEntry } from '../../src/snapshot/selector.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { normalize, readFiles } from '../fixtures/maint.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
export const PRELOAD = join(ROOT, 'test', 'stress', 'fixtures', 'crash-preload.ts');

/** Test repository password. */
export const PASSWORD = 'stress-pw';
/** Fast scrypt for CLI children (src/cli/test-kdf.ts). */
export const TEST_SCRYPT_N = '1024';

/** A normalized file tree: path → `<length>:<sha256>` or a symlink (test/fixtures/maint.ts). */
export type Norm = Record<string, string | { symlink: string }>;

// ---------------------------------------------------------------- temp dirs

const made: string[] = [];

/** A new temp directory, removed by {@link cleanupTmp}. */
export async function tmp(prefix = 'cb-stress-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Removes every directory made by {@link tmp}. */
export async function cleanupTmp(): Promise<void> {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------- source trees

/**
 * Writes a small source tree (about 200 KiB) into `dir`, replacing its content: text notes,
 * incompressible binaries, a deep path, an empty dir, a symlink and an executable.
 * `variant` changes some files and keeps the others (so snapshots deduplicate);
 * `size` scales the binaries.
 */
export async function writeSourceTree(dir: string, variant: number, size = 1): Promise<Norm> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'empty'), { recursive: true });
  const put = async (rel: string, data: string | Buffer, mode?: number) => {
    const p = join(dir, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
    if (mode !== undefined) await chmod(p, mode);
  };
  for (let i = 0; i < 6; i++) {
    const v = i < 3 ? 0 : variant;
    await put(`notes/n${i}.md`, `# note ${i} (v${v})\n` + `line ${i} of a note kept by the agent, version ${v}\n`.repeat(60 + i * 20));
  }
  for (let i = 0; i < 6; i++) {
    // Deterministic per (i, variant class) so unchanged binaries deduplicate across variants.
    const v = i < 2 ? 0 : i < 4 ? variant : variant * 7 + 1;
    await put(`data/b${i}.bin`, pseudoRandom(`b${i}:${v}`, Math.round((8_000 + i * 5_000) * size)));
  }
  await put('deep/a/b/c/leaf.txt', `leaf ${variant}\n`);
  await put('bin/run.sh', '#!/bin/sh\necho hi\n', 0o755);
  await put('private.txt', `private ${variant}\n`, 0o600);
  await symlink('notes/n0.md', join(dir, 'link'));
  return normalize(await readFiles(dir));
}

/** Deterministic incompressible bytes for `seed`. */
export function pseudoRandom(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let pos = 0; pos < n; pos += 32) {
    block.copy(out, pos, 0, Math.min(32, n - pos));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** The normalized content of directory `dir`. */
export async function treeOf(dir: string): Promise<Norm> {
  return normalize(await readFiles(dir));
}

// ---------------------------------------------------------------- repositories

/** Opens the repository at `location` (a directory or s3: URL) with a fresh cache unless one is given. */
export async function openAt(location: string, password: string | undefined, o: { cacheDir?: string; env?: Record<string, string | undefined> } = {}): Promise<Repository> {
  const backend = await openBackend(location, { env: o.env ?? {}, local: { fsync: false } });
  return openRepository(backend, { password, cacheDir: o.cacheDir ?? (await tmp('cb-cache-')), sealThreads: 0 });
}

/** Opens `backend`'s repository with a fresh cache. */
export async function openBackendRepo(backend: Backend, password: string | undefined, cacheDir?: string): Promise<Repository> {
  return openRepository(backend, { password, cacheDir: cacheDir ?? (await tmp('cb-cache-')), sealThreads: 0 });
}

/** Restores snapshot tree `tree` into a new temp dir and returns its normalized content. */
export async function restoredTree(repo: Repository, tree: string): Promise<Norm> {
  const target = join(await tmp('cb-restore-'), 'out');
  try {
    await restoreTree(repo, tree, target);
    return normalize(await readFiles(target));
  } finally {
    await rm(dirname(target), { recursive: true, force: true });
  }
}

/** Error findings of a verify report, as messages. */
export function errorsOf(v: VerifyReport): string[] {
  return v.findings.filter((f) => f.severity === 'error').map((f) => `${f.kind}: ${f.message}`);
}

/** Options of {@link checkSound}. */
export interface CheckOptions {
  /** Snapshots that may be gone (e.g. being forgotten); when listed they must restore exactly. */
  optional?: ReadonlyMap<string, Norm>;
  /**
   * Restore only this many of `expected`, picked at random (default all). verify
   * --read-data still reads every pack, so an unsampled snapshot is still proven intact.
   */
  sample?: number;
}

/** What {@link checkSound} saw. */
export interface Soundness {
  listed: SnapshotEntry[];
  /** Info findings (unreferenced packs, superseded index files). */
  infos: number;
}

/**
 * The promise after any crash or fault: no snapshot file is damaged, every snapshot of
 * `expected` is listed and restores byte for byte (those of `optional` too, when listed;
 * see {@link CheckOptions.sample}), and `verify --read-data` finds nothing but unreferenced
 * data.
 */
export async function checkSound(repo: Repository, expected: ReadonlyMap<string, Norm>, what: string, o: CheckOptions = {}): Promise<Soundness> {
  const { entries, damaged } = await listSnapshots(repo);
  expect(damaged, `${what}: damaged snapshot files`).toEqual([]);
  const ids = new Set(entries.map((e) => e.id));
  for (const id of expected.keys()) expect(ids.has(id), `${what}: snapshot ${id.slice(0, 8)} listed before is gone`).toBe(true);
  const sampled = new Set([...expected.keys()].sort(() => Math.random() - 0.5).slice(0, o.sample ?? expected.size));
  for (const e of entries) {
    const want = sampled.has(e.id) ? expected.get(e.id) : o.optional?.get(e.id);
    if (want) expect(await restoredTree(repo, e.manifest.tree), `${what}: snapshot ${e.id.slice(0, 8)} restores differently`).toEqual(want);
  }
  const v = await verifyRepository(repo, { readData: true });
  expect(errorsOf(v), `${what}: verify --read-data`).toEqual([]);
  return { listed: entries, infos: v.infos };
}

/** Names of `.tmp-*` files the local backend left below `dir`. */
export async function backendTempFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.name.startsWith('.tmp-')) out.push(join(e.parentPath, e.name));
  return out;
}

// ---------------------------------------------------------------- CLI

/** Environment for a CLI run: a private HOME and config, the cache dir, fast scrypt, no colors. */
export function cliEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env['PATH'],
    TMPDIR: process.env['TMPDIR'],
    LANG: 'C.UTF-8',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    CLAWBACK_CACHE_DIR: join(home, 'cache'),
    CLAWBACK_TEST_SCRYPT_N: TEST_SCRYPT_N,
    NO_COLOR: '1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** What a CLI child did. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Filesystem mutations counted (with `countOps`). */
  ops?: number;
  /** ms from the spawn to the first watched mutation, when there was one. */
  firstOpMs?: number;
  /** The mutations, with `logOps`. */
  opLog?: string[];
}

/** How to crash a child. */
export interface ChildOptions {
  /** SIGKILL from the parent this many ms after the spawn (or after `first-op`, see `fromFirstOp`). */
  killAfterMs?: number;
  /** Start the `killAfterMs` clock at the child's first watched mutation (no mutation: no kill). */
  fromFirstOp?: boolean;
  /**
   * The child kills itself at its `at`-th mutation below `watch`, or at the `match.nth`
   * mutation by `match.call` on a path starting with `match.prefix` (before or after it).
   */
  crash?: { at: number; after: boolean } | { match: { call: string; prefix: string; nth: number }; after: boolean };
  /** Directories whose mutations count (crash-preload.ts). */
  watch?: string[];
  /** Count mutations below `watch` (calibration). */
  countOps?: boolean;
  /** Log every counted mutation (`k<TAB>call<TAB>path`), returned as `opLog`. */
  logOps?: boolean;
  /** Extra environment for fs-level faults (crash-preload.ts). */
  faultEnv?: Record<string, string>;
  /** Safety net: kill and fail after this long (ms). Default 120 s. */
  timeoutMs?: number;
}

/** Runs `clawback <args>` as a child process (`node --import tsx --import crash-preload.ts src/cli/main.ts`). */
export async function runChild(args: string[], env: Record<string, string>, o: ChildOptions = {}): Promise<ChildResult> {
  const countFile = o.countOps ? join(await tmp('cb-count-'), 'count') : undefined;
  const logFile = o.logOps ? join(await tmp('cb-oplog-'), 'log') : undefined;
  const childEnv: Record<string, string> = { ...env, ...(o.faultEnv ?? {}) };
  if (o.watch) childEnv['CLAWBACK_CRASH_WATCH'] = JSON.stringify(o.watch.map((d) => resolve(d)));
  if (o.crash) {
    if ('at' in o.crash) childEnv['CLAWBACK_CRASH_AT'] = String(o.crash.at);
    else childEnv['CLAWBACK_CRASH_MATCH'] = JSON.stringify(o.crash.match);
    childEnv['CLAWBACK_CRASH_MODE'] = o.crash.after ? 'after' : 'before';
  }
  if (countFile) childEnv['CLAWBACK_CRASH_COUNT_FILE'] = countFile;
  if (logFile) childEnv['CLAWBACK_CRASH_LOG'] = logFile;
  childEnv['CLAWBACK_CRASH_SIGNAL_FD'] = '3';
  const t0 = performance.now();
  const r = await new Promise<ChildResult>((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', PRELOAD, MAIN, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let firstOpMs: number | undefined;
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timers: NodeJS.Timeout[] = [];
    const signal = child.stdio[3] as NodeJS.ReadableStream | null;
    signal?.on('data', () => {
      if (firstOpMs !== undefined) return;
      firstOpMs = performance.now() - t0;
      if (o.killAfterMs !== undefined && o.fromFirstOp) timers.push(setTimeout(() => child.kill('SIGKILL'), o.killAfterMs));
    });
    signal?.on('error', () => undefined);
    if (o.killAfterMs !== undefined && !o.fromFirstOp) timers.push(setTimeout(() => child.kill('SIGKILL'), o.killAfterMs));
    let timedOut = false;
    timers.push(
      setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, o.timeoutMs ?? 120_000),
    );
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      if (timedOut) reject(new Error(`clawback ${args.join(' ')} hung (killed after ${o.timeoutMs ?? 120_000} ms); stderr: ${stderr}`));
      else resolveRun({ code, signal, stdout, stderr, ms: performance.now() - t0, ...(firstOpMs !== undefined ? { firstOpMs } : {}) });
    });
  });
  if (countFile) r.ops = Number(await readFile(countFile, 'utf8').catch(() => 'NaN'));
  if (logFile) r.opLog = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  return r;
}

let startupMs: number | undefined;

/** Wall time of a child that starts and exits at once (`--version`), ms (measured once). */
export async function childStartupMs(env: Record<string, string>): Promise<number> {
  if (startupMs === undefined) {
    const runs: number[] = [];
    for (let i = 0; i < 2; i++) runs.push((await runChild(['--version'], env)).ms);
    startupMs = Math.min(...runs);
  }
  return startupMs;
}

/** A random key for S3 prefixes and names. */
export function randomName(prefix = 'r'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
