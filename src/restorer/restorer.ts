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
 *   error naming every failed file or directory with its pack and blob. Every blob's id is
 *   verified before any of its bytes are written.
 *
 * Files are written by worker threads (repository/open-pool.ts running file-writer.ts),
 * fed in pack order by dispatch.ts; memory stays bounded by fixed budgets, whatever the
 * size of the snapshot.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { lstat, mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ClawbackError, isClawbackError } from '../errors.js';
import type { BlobId } from '../ids.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import type { OpenPool } from '../repository/open-pool.js';
import { PackCache } from '../repository/pack-cache.js';
import { decodeTree } from '../tree/codec.js';
import type { Tree, TreeNode } from '../tree/node.js';
import { Dispatcher, STOPPED, type Leaf } from './dispatch.js';
import type { LeafOutcome } from './file-jobs.js';
import { FILE_WRITER_SOURCE, type WriteTask } from './file-writer.js';

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
  /** Files, SQLite databases and symlinks in flight at most (default 4096). */
  concurrency?: number;
  /**
   * Worker threads that open blobs and write files (default: one per core, at most
   * {@link MAX_DEFAULT_THREADS}: the main thread, which walks the trees and reads the packs,
   * cannot feed more).
   */
  threads?: number;
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

/** A directory being restored: finalized (mode, mtime) once everything in it is done. */
interface DirState {
  path: string;
  /** The directory's node; undefined for the target itself (left as it is). */
  node?: TreeNode;
  parent?: DirState;
  /** Entries not yet done, plus one while the walk is inside the directory. */
  pending: number;
  /** Called when the target's own count reaches zero. */
  onDone?: () => void;
  /** The worker that writes this directory's entries. */
  worker?: number;
}

/** Default worker threads at most (see {@link RestoreOptions.threads}). */
export const MAX_DEFAULT_THREADS = 4;

/** Leaves (and their blobs) handed to the dispatcher at once. */
const RUN_LEAVES = 256;
const RUN_BLOBS = 4096;

/**
 * `dir/name` for a name from a decoded tree (never empty, `.`, `..` or with a `/`), without
 * path.join's normalizing.
 */
function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Stored blob bytes sent to the workers and not yet written, at most. */
const MAX_BYTES_IN_FLIGHT = 8 << 20;
/** Budget of the whole-pack cache for tree packs, bytes. */
const TREE_PACK_CACHE_BYTES = 32 << 20;

/**
 * Restores trees; see the module comment.
 *
 * How: one walk of the tree, depth first (the order the archiver wrote the blobs), creates
 * directories on the main thread and hands every leaf to a {@link Dispatcher}, which reads
 * the packs in windows of leaves, pack by pack, and sends the stored blobs to worker
 * threads; there each blob is opened and verified, then written with synchronous system
 * calls (see file-writer.ts). A directory gets its mode and mtime when everything inside
 * it is done, by a worker too.
 */
export class Restorer {
  private readonly repo: Repository;
  private readonly opts: RestoreOptions;
  private readonly failures: RestoreFailure[] = [];
  private readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  private readonly treePacks: PackCache;
  private pool: OpenPool | undefined;
  private dispatcher: Dispatcher | undefined;
  /** The first error that stops the restore (anything but a damaged blob, or an abort). */
  private fatal: unknown;

  constructor(repo: Repository, opts: RestoreOptions) {
    this.repo = repo;
    this.opts = opts;
    this.treePacks = new PackCache(repo.backend, TREE_PACK_CACHE_BYTES);
  }

  /** Restores tree `root` into `target`. */
  async run(root: BlobId, target: string): Promise<RestoreResult> {
    const overwrite = this.opts.overwrite ?? false;
    await checkTarget(target, overwrite);
    const include = this.opts.paths?.map((p) => p.split('/').filter((s) => s !== '' && s !== '.'));
    if (include?.some((parts) => parts.includes('..'))) throw new ClawbackError('USAGE', '--path must not contain ".."');
    if (include) await this.checkPathsExist(root, include);
    // The root tree first: without it there is nothing to do, and no worker is started.
    const tree = decodeTree(await this.repo.loadBlob(root, this.treePacks));
    await mkdir(target, { recursive: true, mode: 0o700 });
    const pool = this.repo.openPool(FILE_WRITER_SOURCE, this.opts.threads ?? Math.min(MAX_DEFAULT_THREADS, availableParallelism()));
    this.pool = pool;
    const placing = this.opts.hooks?.placeSqlite;
    const dispatcher = new Dispatcher(this.repo, pool, {
      maxBytes: MAX_BYTES_IN_FLIGHT,
      maxLeaves: this.opts.concurrency ?? 4096,
      keep: (node) => node.type === 'sqlite' && placing !== undefined,
      stopped: () => this.stopping(),
      fatal: (err) => this.stop(err),
      timeOf,
    });
    this.dispatcher = dispatcher;
    try {
      const top: DirState = { path: target, pending: 1 };
      const finished = new Promise<void>((resolve) => (top.onDone = resolve));
      // Not overwriting: the target is new or empty (checked), so nothing needs removing.
      await this.walk(tree, top, include, !overwrite);
      await dispatcher.finish();
      this.release(top);
      await finished;
    } finally {
      await pool.close();
    }
    if (this.fatal !== undefined) throw this.fatal;
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

  private stop(err: unknown): void {
    this.fatal ??= err;
  }

  /** True once the restore must stop: after a fatal error, or when the signal is aborted. */
  private stopping(): boolean {
    if (this.opts.signal?.aborted) this.stop(new ClawbackError('ABORTED', 'operation interrupted'));
    return this.fatal !== undefined;
  }

  /** One entry of `d` is done (or the walk left it): finalize `d` when it was the last. */
  private release(d: DirState): void {
    if (--d.pending > 0) return;
    if (!d.node) {
      d.onDone?.();
      return;
    }
    const parent = d.parent!;
    this.result.dirs++;
    if (this.fatal !== undefined) {
      this.release(parent);
      return;
    }
    const data: WriteTask = { op: 'dir', path: d.path, mode: d.node.mode, mtime: timeOf(d.node.mtimeNs) };
    this.pool!.submit(this.pool!.leastLoaded(), { data, blobs: [], cost: 1 }, (err) => {
      if (err) this.stop(err);
      this.release(parent);
    });
  }

  /**
   * Restores the entries of `tree` into the existing directory `d`. Never throws: an error
   * stops the restore (see {@link fatal}).
   * @param include remaining path filters (undefined = everything below).
   * @param fresh true when `d` is known to have been empty (nothing to remove).
   */
  private async walk(tree: Tree, d: DirState, include: string[][] | undefined, fresh: boolean): Promise<void> {
    // Leaves go to the dispatcher in runs (their blobs located in one batch), in walk order.
    let run: Leaf[] = [];
    let runBlobs = 0;
    const flushRun = async (): Promise<void> => {
      const leaves = run;
      run = [];
      runBlobs = 0;
      if (leaves.length > 0) await this.dispatcher!.add(leaves);
    };
    try {
      if (this.opts.overwrite && !include && !fresh) await this.removeExtras(d.path, tree);
      for (const node of tree.nodes) {
        if (this.stopping()) break;
        let sub: string[][] | undefined;
        if (include) {
          const matches = include.filter((p) => p[0] === node.name);
          if (matches.length === 0) continue;
          sub = matches.some((p) => p.length === 1) ? undefined : matches.map((p) => p.slice(1));
        }
        d.pending++;
        if (node.type !== 'dir') {
          run.push({ node, dir: d.path, affinity: d, done: (o) => this.leafDone(node, d, o) });
          runBlobs += node.content?.length ?? 0;
          if (run.length >= RUN_LEAVES || runBlobs >= RUN_BLOBS) await flushRun();
          continue;
        }
        await flushRun();
        const path = childPath(d.path, node.name);
        const child: DirState = { path, node, parent: d, pending: 1 };
        try {
          const childFresh = await this.makeDir(path);
          const childTree = await this.loadSubtree(node.subtree!, path);
          if (childTree) await this.walk(childTree, child, sub, childFresh);
        } catch (err) {
          this.stop(err);
        } finally {
          this.release(child);
        }
      }
      await flushRun();
    } catch (err) {
      this.stop(err);
      // Leaves counted in `d` but never added still have to be released.
      for (const leaf of run) leaf.done({ ok: false, error: STOPPED });
    }
  }

  /** A subtree, or undefined when it is damaged or missing (recorded as a failure). */
  private async loadSubtree(id: BlobId, path: string): Promise<Tree | undefined> {
    try {
      return decodeTree(await this.repo.loadBlob(id, this.treePacks));
    } catch (err) {
      // A damaged or missing tree fails its directory (named, left empty), not the whole
      // restore: its siblings are restored.
      if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
      const det = err.details as { pack?: string; blob?: string };
      this.failures.push({ path, reason: `directory contents: ${err.message}`, ...(det.pack ? { pack: det.pack } : {}), blob: det.blob ?? id });
      return undefined;
    }
  }

  /**
   * Creates directory `path` (mode 0700 until finalized); returns true when it was created
   * (so it is empty). An existing directory is used as it is; anything else in the way
   * (a file, a symlink: never followed) is replaced.
   */
  private async makeDir(path: string): Promise<boolean> {
    try {
      // Synchronous: one quick system call. Through libuv's thread pool it would cost the
      // walk a thread hand-off per directory while the workers keep both cores busy.
      mkdirSync(path, { mode: 0o700 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await lstatOrUndefined(path);
    if (st?.isDirectory()) return false;
    await rm(path, { recursive: true, force: true });
    await mkdir(path, { mode: 0o700 });
    return true;
  }

  /** With overwrite: removes the entries of `dir` that `tree` does not have. */
  private async removeExtras(dir: string, tree: Tree): Promise<void> {
    const wanted = new Set(tree.nodes.map((n) => n.name));
    for (const name of await readdir(dir)) {
      if (!wanted.has(name)) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /** A leaf's outcome: counted, recorded as a failure, or (a kept SQLite temp file) placed first. */
  private leafDone(node: TreeNode, d: DirState, o: LeafOutcome): void {
    const path = childPath(d.path, node.name);
    if (o.ok && o.tmp !== undefined) {
      const tmp = o.tmp;
      this.opts.hooks!.placeSqlite!(tmp, path, node).then(
        () => this.leafSettled(node, path, d, undefined),
        async (err: unknown) => {
          await unlink(tmp).catch(() => undefined);
          this.leafSettled(node, path, d, err);
        },
      );
      return;
    }
    this.leafSettled(node, path, d, o.ok ? undefined : o.error);
  }

  private leafSettled(node: TreeNode, path: string, d: DirState, err: unknown): void {
    if (err === undefined) {
      if (node.type === 'symlink') {
        this.result.symlinks++;
      } else {
        this.result.files++;
        this.result.bytes += node.size;
        this.opts.progress?.update?.({ phase: 'restore', filesDone: this.result.files, bytesDone: this.result.bytes, current: path });
      }
    } else if (err === STOPPED) {
      // Not attempted: the restore is stopping for another reason.
    } else if (isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) {
      const det = err.details as { pack?: string; blob?: string };
      this.failures.push({ path, reason: err.message, ...(det.pack ? { pack: det.pack } : {}), ...(det.blob ? { blob: det.blob } : {}) });
    } else {
      this.stop(err);
    }
    this.release(d);
  }
}

/** Restores tree `root` into `target`. See {@link Restorer}. */
export function restoreTree(repo: Repository, root: BlobId, target: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  return new Restorer(repo, opts).run(root, target);
}
