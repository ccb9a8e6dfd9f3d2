/**
 * The restorer: writes a snapshot's tree (or part of it) into a target directory.
 *
 * - Exact: content, mode, mtime (ns), symlinks (created as links, never followed), empty dirs.
 * - Atomic per file: content goes to a temp file in the same directory (O_EXCL, never
 *   through a symlink) and is renamed over the final name; a rename replaces a symlink
 *   instead of writing through it.
 * - Safe: names come from decoded trees (no '/', '.', '..', NUL); an existing directory on
 *   the way that is a symlink is replaced, never entered; a target that is a symlink is
 *   refused.
 * - With `overwrite`, entries in restored directories that the snapshot does not have are
 *   removed, so the directory equals the snapshot.
 * - Damaged blobs fail only the files that use them (a damaged tree blob: the directory
 *   it describes, left empty); the rest is restored and the run ends with an `INTEGRITY`
 *   error naming every failed file or directory with its pack and blob.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, open, readdir, rename, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { ClawbackError, isClawbackError, throwIfAborted } from '../errors.js';
import type { BlobId } from '../ids.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { PackCache } from '../repository/pack-cache.js';
import { decodeTree } from '../tree/codec.js';
import type { TreeNode } from '../tree/node.js';

/** Extension points (SQLite restore through the backup API). */
export interface RestoreHooks {
  /**
   * Called after a `sqlite` node's bytes were written to `tempPath`; must leave the final
   * database at `finalPath` (default: rename).
   */
  placeSqlite?(tempPath: string, finalPath: string, node: TreeNode): Promise<void>;
}

/** Options of {@link restoreTree}. */
export interface RestoreOptions {
  /** Snapshot-relative paths ('/'-separated) to restore; default everything. */
  paths?: string[] | undefined;
  /** Allow a non-empty target; remove entries the snapshot does not have. */
  overwrite?: boolean | undefined;
  hooks?: RestoreHooks | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Files written at once (default 8). */
  concurrency?: number;
}

/** Counters of a restore. */
export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** One file that could not be restored. */
export interface RestoreFailure {
  path: string;
  reason: string;
  pack?: string;
  blob?: string;
}

function tempName(name: string): string {
  return `.clawback-tmp-${randomBytes(6).toString('hex')}-${name.slice(0, 100)}`;
}

async function lstatOrUndefined(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Seconds for fs.utimes from ns. Node and libuv pass times as a double and truncate to
 * ns, so exactness below ~0.1 µs is impossible; rounding to the µs and adding 50 ns makes
 * the truncation land on the right microsecond (mtimes restore exactly to the µs).
 */
export function timeOf(ns: bigint): number {
  const sec = ns / 1_000_000_000n;
  const rem = ns % 1_000_000_000n;
  const us = Math.round(Number(rem) / 1000);
  return Number(sec) + us / 1e6 + 5e-8;
}

/**
 * Checks a restore target before anything is written.
 * @throws ClawbackError 'UNSAFE' if it is a symlink or not a directory, 'USAGE' if it is
 *   not empty and `overwrite` is off.
 */
export async function checkTarget(target: string, overwrite: boolean): Promise<void> {
  const st = await lstatOrUndefined(target);
  if (!st) return;
  if (st.isSymbolicLink()) throw new ClawbackError('UNSAFE', `restore target ${target} is a symbolic link: give the real directory instead`);
  if (!st.isDirectory()) throw new ClawbackError('UNSAFE', `restore target ${target} exists and is not a directory`);
  if (!overwrite && (await readdir(target)).length > 0) {
    throw new ClawbackError('USAGE', `restore target ${target} is not empty: choose an empty or new directory, or pass --overwrite`);
  }
}

/** Restores trees; see the module comment. */
export class Restorer {
  private readonly repo: Repository;
  private readonly opts: RestoreOptions;
  private readonly failures: RestoreFailure[] = [];
  private readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  private running = 0;
  /** Whole-pack reads: blobs are restored in the order they were written. */
  private readonly packs: PackCache;
  private readonly waiters: (() => void)[] = [];

  constructor(repo: Repository, opts: RestoreOptions) {
    this.repo = repo;
    this.opts = opts;
    this.packs = new PackCache(repo.backend);
  }

  private async slot(): Promise<void> {
    if (this.running < (this.opts.concurrency ?? 8)) {
      this.running++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }

  private release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.running--;
  }

  /** Restores tree `root` into `target`. */
  async run(root: BlobId, target: string): Promise<RestoreResult> {
    await checkTarget(target, this.opts.overwrite ?? false);
    const include = this.opts.paths?.map((p) => p.split('/').filter((s) => s !== '' && s !== '.'));
    if (include?.some((parts) => parts.includes('..'))) throw new ClawbackError('USAGE', '--path must not contain ".."');
    if (include) await this.checkPathsExist(root, include);
    await mkdir(target, { recursive: true, mode: 0o700 });
    await this.restoreDir(root, target, include, true);
    if (this.failures.length > 0) {
      const list = this.failures.slice(0, 20).map((f) => `  ${f.path}: ${f.reason}`).join('\n');
      throw new ClawbackError('INTEGRITY', `${this.failures.length} file(s) could not be restored; the others were:\n${list}`, { details: { failures: this.failures } });
    }
    return this.result;
  }

  private async checkPathsExist(root: BlobId, include: string[][]): Promise<void> {
    for (const parts of include) {
      let tree = root;
      for (let i = 0; i < parts.length; i++) {
        const node = decodeTree(await this.repo.loadBlob(tree)).nodes.find((n) => n.name === parts[i]);
        if (!node) throw new ClawbackError('NOT_FOUND', `path ${parts.join('/')} is not in the snapshot: see \`clawback ls\``);
        if (i < parts.length - 1) {
          if (node.type !== 'dir' || !node.subtree) throw new ClawbackError('NOT_FOUND', `path ${parts.slice(0, i + 1).join('/')} is not a directory in the snapshot`);
          tree = node.subtree;
        }
      }
    }
  }

  /**
   * Restores the tree `id` into the existing directory `dir`.
   * @param include remaining path filters (undefined = everything below).
   */
  private async restoreDir(id: BlobId, dir: string, include: string[][] | undefined, isRoot: boolean): Promise<void> {
    throwIfAborted(this.opts.signal);
    let tree: ReturnType<typeof decodeTree>;
    try {
      tree = decodeTree(await this.repo.loadBlob(id));
    } catch (err) {
      // A damaged or missing tree fails its directory (named, left empty), not the whole
      // restore: its siblings are restored. Without the root tree there is nothing to do.
      if (isRoot || !isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
      const d = err.details as { pack?: string; blob?: string };
      this.failures.push({ path: dir, reason: `directory contents: ${err.message}`, ...(d.pack ? { pack: d.pack } : {}), blob: d.blob ?? id });
      return;
    }
    const wanted = new Set<string>();
    const jobs: Promise<void>[] = [];
    for (const node of tree.nodes) {
      let sub: string[][] | undefined;
      if (include) {
        const matches = include.filter((p) => p[0] === node.name);
        if (matches.length === 0) continue;
        sub = matches.some((p) => p.length === 1) ? undefined : matches.map((p) => p.slice(1));
      }
      wanted.add(node.name);
      const path = join(dir, node.name);
      if (node.type === 'dir') {
        await this.restoreSubdir(node, path, sub);
      } else {
        await this.slot();
        jobs.push(this.restoreLeaf(node, dir, path).finally(() => this.release()));
      }
    }
    await Promise.all(jobs);
    if (this.opts.overwrite && !include) {
      for (const name of await readdir(dir)) {
        if (!wanted.has(name)) await rm(join(dir, name), { recursive: true, force: true });
      }
    }
  }

  private async restoreSubdir(node: TreeNode, path: string, include: string[][] | undefined): Promise<void> {
    const st = await lstatOrUndefined(path);
    if (st && !st.isDirectory()) {
      // A file or symlink in the way: replace it (never descend through a symlink).
      await rm(path, { recursive: true, force: true });
    }
    if (!st || !st.isDirectory()) await mkdir(path, { mode: 0o700 });
    await this.restoreDir(node.subtree!, path, include, false);
    this.result.dirs++;
    await chmod(path, node.mode);
    await utimes(path, timeOf(node.mtimeNs), timeOf(node.mtimeNs));
  }

  private async restoreLeaf(node: TreeNode, dir: string, path: string): Promise<void> {
    throwIfAborted(this.opts.signal);
    const tmp = join(dir, tempName(node.name));
    try {
      if (node.type === 'symlink') {
        await symlink(node.target ?? '', tmp);
        await lutimes(tmp, timeOf(node.mtimeNs), timeOf(node.mtimeNs)).catch(() => undefined);
        await this.replace(tmp, path);
        this.result.symlinks++;
        return;
      }
      await this.writeFile(node, tmp);
      if (node.type === 'sqlite' && this.opts.hooks?.placeSqlite) {
        await this.opts.hooks.placeSqlite(tmp, path, node);
      } else {
        await this.replace(tmp, path);
      }
      this.result.files++;
      this.result.bytes += node.size;
      this.opts.progress?.update?.({ phase: 'restore', filesDone: this.result.files, bytesDone: this.result.bytes, current: path });
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) {
        const d = err.details as { pack?: string; blob?: string };
        this.failures.push({ path, reason: err.message, ...(d.pack ? { pack: d.pack } : {}), ...(d.blob ? { blob: d.blob } : {}) });
        return;
      }
      throw err;
    }
  }

  /** Renames `tmp` over `path`; a directory in the way is removed first. */
  private async replace(tmp: string, path: string): Promise<void> {
    const st = await lstatOrUndefined(path);
    if (st?.isDirectory()) await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  }

  private async writeFile(node: TreeNode, tmp: string): Promise<void> {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      let written = 0;
      for (const id of node.content ?? []) {
        throwIfAborted(this.opts.signal);
        const data = await this.repo.loadBlob(id, this.packs);
        await fh.write(data, 0, data.length, written);
        written += data.length;
      }
      if (written !== node.size) {
        throw new ClawbackError('INTEGRITY', `file ${node.name}: content is ${written} bytes, the tree says ${node.size}`);
      }
      await fh.chmod(node.mode);
      await fh.utimes(timeOf(node.mtimeNs), timeOf(node.mtimeNs));
    } finally {
      await fh.close();
    }
  }
}

/** Restores tree `root` into `target`. See {@link Restorer}. */
export function restoreTree(repo: Repository, root: BlobId, target: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  return new Restorer(repo, opts).run(root, target);
}
