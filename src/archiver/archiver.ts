/**
 * The archiver: walks source paths, chunks and saves file contents, builds canonical trees
 * bottom-up, and returns the root tree id. It writes blobs only; the caller flushes and
 * writes the snapshot manifest (pack → index → snapshot ordering).
 *
 * All-or-nothing: every problem (unreadable, vanished, rejected item) is collected, the walk
 * goes on so that all of them are reported, and the run fails with a `CAPTURE` error
 * listing each path and reason. Unchanged files (same size, mtime, ctime and inode as in
 * the parent snapshot) are not read again (restic's change detection).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ClawbackError, isClawbackError, throwIfAborted } from '../errors.js';
import { sameIds, type BlobId } from '../ids.js';
import { chunkBuffer, chunkStream, singleChunkLimit, type Chunker } from '../chunker/index.js';
import { encodeTree, decodeTree } from '../tree/codec.js';
import { makeNode, nameProblem, sameNode, type Tree, type TreeNode } from '../tree/node.js';
import { PackCache } from '../repository/pack-cache.js';
import { SmallFileReader, streamFile } from './file-reader.js';
import { Countdown, ReadQueue, Slots } from './read-queue.js';
import { LargeFileSaver } from './large-file.js';
import { Lister, type EntryStats, type ListedEntry } from './lister.js';
import { saveDatabase } from './database-saver.js';
import { captureImage } from './sqlite-capture.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import type { HashedFile } from '../repository/seal-pool.js';

/** One filesystem entry as the hooks see it. */
export interface EntryInfo {
  /** Absolute path on disk. */
  absPath: string;
  /** Path inside the snapshot, '/'-separated, no leading slash ('' for the root). */
  relPath: string;
  /** Its `lstat` (an `fs.BigIntStats` satisfies this type). */
  stats: EntryStats;
}

/** How a hook captures a regular file instead of reading it as is. */
export type CaptureResult =
  /**
   * The SQLite database at `database` (`size` bytes as `lstat` saw it), to be imaged by the
   * archiver itself: on a blob worker, in one read transaction that also checks it
   * (database-saver.ts); without blob workers, as {@link captureImage} does.
   */
  | { type: 'sqlite'; database: string; size: number }
  | (({ type: 'file' | 'sqlite'; bytes: Uint8Array } | { type: 'file' | 'sqlite'; path: string }) & {
  /** Called when the archiver is done with the capture (after `verify`), failed or not. */
  cleanup?: () => Promise<void>;
  /**
   * Checks the captured content (a SQLite copy's `quick_check`); called once it is saved
   * (before `cleanup`), and not at all when it cut into exactly the parent snapshot's
   * content for this path, which passed the same check when it was captured. May take
   * `bytes` over. Throws ClawbackError 'CAPTURE' when the check fails (the snapshot then
   * fails).
   */
  verify?: () => Promise<void>;
});

/** Extension points used by agent profiles (excludes, safety checks, SQLite capture). */
export interface ArchiveHooks {
  /** Return false to leave the entry (and, for a dir, everything under it) out. */
  include?(entry: EntryInfo): boolean;
  /** Return a reason to reject the entry (this fails the snapshot), or undefined. */
  check?(entry: EntryInfo): Promise<string | undefined> | string | undefined;
  /** Capture a regular file differently (SQLite backup, secret stripping), or undefined. */
  capture?(entry: EntryInfo): Promise<CaptureResult | undefined>;
  /**
   * A cheap synchronous pre-check for regular files: false promises that {@link capture}
   * and {@link captureStamp} would return undefined for this entry, so they are not called
   * (the file is read as is). Undefined: always call them.
   */
  mayCapture?(entry: EntryInfo): boolean;
  /**
   * For files captured by {@link capture}: a stamp that changes whenever the captured
   * content may change (for a database: its inode and the newest ctime of it and its
   * `-wal`/`-journal`). When the stamp and mtime equal the parent snapshot's node, the
   * parent's content is reused without capturing again. Undefined: always capture.
   */
  captureStamp?(entry: EntryInfo): Promise<CaptureStamp | undefined>;
}

/** See {@link ArchiveHooks.captureStamp}. */
export interface CaptureStamp {
  ctimeNs: bigint;
  inode: bigint;
}

/** Options of {@link archive}. */
export interface ArchiveOptions {
  /** Absolute source paths. One directory → the root tree is its content. */
  paths: string[];
  /** Root tree of the parent snapshot, for change detection. */
  parentTree?: BlobId | undefined;
  hooks?: ArchiveHooks;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

/** What {@link archive} returns. */
export interface ArchiveResult {
  tree: BlobId;
  files: number;
  dirs: number;
  symlinks: number;
  /** Logical bytes of all files. */
  bytes: number;
  /** Files whose content was read (not reused from the parent). */
  filesRead: number;
}

/** One capture problem. */
export interface CaptureProblem {
  path: string;
  reason: string;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'vanished during the snapshot';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied';
  if (e?.code === 'ELOOP') return 'too many symbolic links';
  return e?.message ?? String(err);
}

function kindOf(st: EntryStats): string {
  if (st.isFIFO()) return 'a fifo';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return 'an unsupported file type';
}

/**
 * File times have the kernel's coarse clock granularity (a few ms): a file changed again
 * within the same tick after we read it keeps the same ctime. So, like git's "racy" rule,
 * a ctime less than {@link RACY_NS} before we started reading the file is not trusted: the
 * node is stored without its change detection fields and the next snapshot reads the file
 * again. (Any later write gets a time at least a tick after an older ctime, so it shows.)
 */
const RACY_NS = 1_000_000_000n;

function isRacy(ctimeNs: bigint, readStartMs: number): boolean {
  return ctimeNs >= BigInt(readStartMs) * 1_000_000n - RACY_NS;
}

/** A parent snapshot's directory: its tree id and nodes by name. */
interface ParentDir {
  id: BlobId;
  nodes: TreeNode[];
  byName: Map<string, TreeNode>;
}

/**
 * restic's change detection: `prev` is a file node with content whose size, mtime, ctime
 * and inode equal `st`'s, so the file's content can be taken from it (if its blobs exist).
 */
function sameFileStat(prev: TreeNode, st: EntryStats): boolean {
  return (
    prev.type === 'file' && prev.content !== undefined && BigInt(prev.size) === st.size && prev.mtimeNs === st.mtimeNs &&
    prev.ctimeNs === st.ctimeNs && prev.inode === st.ino
  );
}

/** A file's saved content: its chunks' blob ids, in order, and its size in bytes. */
type Saved = { content: BlobId[]; size: number };

/** A file found unchanged while listing, settled by `settleUnchanged`. */
interface UnchangedFile {
  idx: number;
  prev: TreeNode;
  entry: EntryInfo;
}

/** Files up to this size (bytes) are read, cut and hashed whole on the blob workers (FastCDC). */
const WORKER_FILE_LIMIT = 32 << 20;

/** Memory for parent tree packs (whole-pack reads, least recently used evicted), bytes. */
const PARENT_PACK_CACHE = 32 << 20;
/** Directories being listed at once. */
const LISTING_SLOTS = 16;
/** Non-directory entries being saved at once (waiting for reads, lookups or backpressure). */
const ENTRY_SLOTS = 512;

function fsError(r: { code: string | undefined; message: string }): NodeJS.ErrnoException {
  return Object.assign(new Error(r.message), { code: r.code });
}

/**
 * Walks, reads and stores; see the module comment.
 *
 * The walk is concurrent: directories are listed (`readdir`, `lstat` of each entry) on the
 * lister thread (lister.ts) while a bounded number of other directories and entries are in
 * progress here. Unchanged files (see `unchangedFile`) are settled per directory with one
 * batched index lookup, without a promise each; small files (up to the chunker's single-chunk size) are read
 * and hashed on the repository's blob workers in batches (a file that no hook captures with
 * no promise of its own, see `quickFile`), larger ones are read, chunked and hashed on this
 * thread one at a time. Nodes keep their directory order whatever order
 * they complete in.
 */
export class Archiver {
  private readonly repo: Repository;
  private readonly opts: ArchiveOptions;
  private readonly problems: CaptureProblem[] = [];
  private readonly fileChunker: Chunker;
  private readonly sqliteChunker: Chunker;
  /** Files up to this size (bytes) are read, cut and hashed on the blob workers. */
  private readonly smallLimit: number;
  private readonly reads: ReadQueue;
  /** Larger files are read on this thread, one at a time (they share the reader's buffer). */
  private readonly reader = new SmallFileReader();
  private readonly mainReads = new Slots(1);
  /** Large files read here and hashed on the blob workers (made on first use). */
  private largeFiles: LargeFileSaver | undefined;
  private readonly listing = new Slots(LISTING_SLOTS);
  private readonly entries = new Slots(ENTRY_SLOTS);
  private readonly lister = new Lister();
  /** Parent trees are read whole-pack: the trees of a snapshot sit together in few packs. */
  private readonly parentPacks: PackCache;
  private readonly stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, filesRead: 0 };
  /** Work started and not settled; after a failure, run() waits for it before rejecting. */
  private readonly outstanding = new Set<Promise<unknown>>();
  /** The first fatal error: work not yet started stops with it. */
  private fatal: unknown;

  constructor(repo: Repository, opts: ArchiveOptions) {
    this.repo = repo;
    this.opts = opts;
    this.fileChunker = repo.chunker('file');
    this.sqliteChunker = repo.chunker('sqlite');
    // FastCDC files are cut on the workers too, so they take files up to WORKER_FILE_LIMIT;
    // with another chunker, only files that are always one chunk.
    const cdc = this.fileChunker.params.algorithm === 'fastcdc-2020';
    this.smallLimit = cdc ? Math.max(WORKER_FILE_LIMIT, singleChunkLimit(this.fileChunker)) : singleChunkLimit(this.fileChunker);
    this.reads = new ReadQueue(repo, cdc ? this.fileChunker : undefined);
    this.parentPacks = new PackCache(repo.backend, PARENT_PACK_CACHE);
  }

  /** Runs the walk. @throws ClawbackError 'CAPTURE' listing every problem, 'ABORTED'. */
  async run(): Promise<ArchiveResult> {
    let tree: BlobId;
    try {
      tree = await this.walkRoots();
    } catch (err) {
      this.fatal ??= err;
      while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
      throw err;
    } finally {
      await this.lister.close();
    }
    if (this.problems.length > 0) {
      const shown = this.problems.slice(0, 20).map((p) => `  ${p.path}: ${p.reason}`).join('\n');
      const more = this.problems.length > 20 ? `\n  … and ${this.problems.length - 20} more` : '';
      throw new ClawbackError('CAPTURE', `snapshot failed, ${this.problems.length} item(s) could not be captured (nothing was saved):\n${shown}${more}`, {
        details: { problems: this.problems },
      });
    }
    return { tree, ...this.stats };
  }

  private async walkRoots(): Promise<BlobId> {
    const paths = this.opts.paths.map((p) => resolve(p));
    if (paths.length === 0) throw new ClawbackError('USAGE', 'nothing to snapshot: give at least one path');
    const first = paths[0]!;
    const rootStat = paths.length === 1 ? this.lstatSource(first) : undefined;
    if (rootStat?.isDirectory()) return this.saveDir(first, '', this.opts.parentTree);
    const names = new Set<string>();
    for (const p of paths) {
      const n = basename(p);
      if (names.has(n)) throw new ClawbackError('USAGE', `two source paths end in the same name "${n}": snapshot them separately`);
      names.add(n);
    }
    const parent = await this.loadParentTree(this.opts.parentTree);
    const nodes: TreeNode[] = [];
    for (const p of paths) {
      const st = this.lstatSource(p);
      const node = await this.track(this.saveEntry(p, basename(p), st, parent?.byName.get(basename(p))));
      if (node) nodes.push(node);
    }
    this.stats.dirs++;
    return this.saveTree({ nodes });
  }

  /** Registers started work (see {@link outstanding}); returns it. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.outstanding.add(p);
    const untrack = (): void => void this.outstanding.delete(p);
    p.then(untrack, untrack);
    return p;
  }

  private checkRunning(): void {
    throwIfAborted(this.opts.signal);
    if (this.fatal !== undefined) throw this.fatal;
  }

  private lstatSource(p: string): EntryStats {
    try {
      return lstatSync(p, { bigint: true });
    } catch (err) {
      throw new ClawbackError('CAPTURE', `cannot snapshot ${p}: ${describe(err)}`, { cause: err, details: { problems: [{ path: p, reason: describe(err) }] } });
    }
  }

  private problem(path: string, reason: string): void {
    this.problems.push({ path, reason });
    this.opts.progress?.warn?.(`${path}: ${reason}`);
  }

  private async loadParentTree(id: BlobId | undefined): Promise<ParentDir | undefined> {
    if (!id) return undefined;
    try {
      const { nodes } = decodeTree(await this.repo.loadBlob(id, this.parentPacks));
      return { id, nodes, byName: new Map(nodes.map((n) => [n.name, n])) };
    } catch (err) {
      // A damaged parent only costs re-reading; the new snapshot stays correct.
      if (isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /**
   * Encodes and saves a tree blob. Does not wait for it to be sealed: a sealing failure
   * surfaces at the next save or at the repository's flush, which the snapshot waits for.
   */
  private async saveTree(tree: Tree): Promise<BlobId> {
    const bytes = encodeTree(tree);
    const ticket = await this.repo.saveBlob('tree', bytes);
    return ticket.id;
  }

  /**
   * Saves directory `abs` (snapshot path `rel`) and returns its tree id. Lists it while
   * holding a listing slot, starts a save per entry, then waits for them without the slot.
   * When every node equals the parent snapshot's, the parent's tree is reused as it is.
   */
  private async saveDir(abs: string, rel: string, parentId: BlobId | undefined): Promise<BlobId> {
    await this.listing.acquire();
    let nodes: (TreeNode | undefined)[];
    let parent: ParentDir | undefined;
    let quick: UnchangedFile[] | undefined;
    const started: Promise<void>[] = [];
    // Plain small files in flight (see quickFile): one promise for all of them.
    const files = new Countdown();
    try {
      this.checkRunning();
      // Listed on the lister thread while the parent tree loads. Loaded only now, with the
      // slot: directories waiting for one hold no parent tree.
      const listing = this.lister.list(abs);
      listing.catch(() => undefined);
      parent = await this.loadParentTree(parentId);
      this.stats.dirs++;
      let listed: ListedEntry[];
      try {
        listed = await listing;
      } catch (err) {
        if (isClawbackError(err)) throw err;
        this.problem(abs, describe(err));
        listed = [];
      }
      nodes = new Array<TreeNode | undefined>(listed.length);
      // `abs` is absolute and normalized (a root, or a parent's path plus a listed name).
      const absPrefix = abs.endsWith('/') ? abs : `${abs}/`;
      const relPrefix = rel === '' ? '' : `${rel}/`;
      for (let i = 0; i < listed.length; i++) {
        const item = listed[i]!;
        const name = item.name;
        const childAbs = absPrefix + name;
        const childRel = relPrefix + name;
        const bad = nameProblem(name);
        if (bad) {
          this.problem(childAbs, `name cannot be stored: ${bad}`);
          continue;
        }
        if (item.error) {
          this.problem(childAbs, describe(item.error));
          continue;
        }
        const st = item.stats;
        const entry: EntryInfo = { absPath: childAbs, relPath: childRel, stats: st };
        if (this.opts.hooks?.include && !this.opts.hooks.include(entry)) continue;
        const prev = parent?.byName.get(name);
        if (prev && this.unchangedFile(prev, entry)) {
          // Settled below with one batched existence check for the whole directory.
          (quick ??= []).push({ idx: i, prev, entry });
          continue;
        }
        // Files take an entry slot; directories do not (they hold nothing while they wait
        // for their own entries, so a slot held by one could deadlock the walk).
        const isDir = st.isDirectory();
        if (!isDir && !this.entries.tryAcquire()) await this.entries.acquire();
        if (!isDir && st.isFile() && st.size <= this.smallLimit && this.readsAsIs(entry)) this.quickFile(nodes, i, name, entry, prev, files);
        else started.push(this.startEntry(nodes, i, entry, prev, isDir));
      }
    } finally {
      this.listing.release();
      const filesDone = this.track(files.close());
      filesDone.catch(() => undefined);
      started.push(filesDone);
    }
    if (quick) await this.settleUnchanged(nodes, quick, started);
    await Promise.all(started);
    const kept = nodes.filter((n): n is TreeNode => n !== undefined);
    const p = parent;
    if (p && kept.length === p.nodes.length && kept.every((n, i) => n === p.nodes[i] || sameNode(n, p.nodes[i]!))) return p.id;
    return this.saveTree({ nodes: kept });
  }

  /**
   * Starts {@link saveEntry} for entry `idx` of a directory, storing its node in
   * `nodes[idx]`. The caller has taken an entry slot for a non-directory; it is released
   * when the save settles.
   */
  private startEntry(nodes: (TreeNode | undefined)[], idx: number, entry: EntryInfo, prev: TreeNode | undefined, isDir: boolean): Promise<void> {
    const saving = this.track(
      this.saveEntry(entry.absPath, entry.relPath, entry.stats, prev, entry)
        .then((n) => void (nodes[idx] = n))
        .finally(() => {
          if (!isDir) this.entries.release();
        }),
    );
    // Observed by Promise.all in saveDir or by run(); never an unhandled rejection.
    saving.catch(() => undefined);
    return saving;
  }

  /**
   * True when `entry` is a regular file that {@link saveEntry} would take unchanged from
   * its parent node `prev` (same size, mtime, ctime and inode; no hook wants to check or
   * capture it), leaving only the existence of its blobs to check.
   */
  private unchangedFile(prev: TreeNode, entry: EntryInfo): boolean {
    return entry.stats.isFile() && sameFileStat(prev, entry.stats) && this.readsAsIs(entry);
  }

  /** True when no hook wants to check or capture regular file `entry`: it is stored as it is read. */
  private readsAsIs(entry: EntryInfo): boolean {
    const hooks = this.opts.hooks;
    if (!hooks) return true;
    if (hooks.check) return false;
    return !(hooks.capture || hooks.captureStamp) || hooks.mayCapture?.(entry) === false;
  }

  /**
   * Saves a regular file that {@link readsAsIs} and that the blob workers read whole (up to
   * {@link smallLimit}), with no promise of its own while all goes as expected: it joins
   * the read queue with a callback, which makes its node at once when {@link settleRead}
   * can answer at once (the file cut into its parent node's chunks, the common case of a
   * file whose times changed and content not; or its sealed chunks fit the open pack).
   * Anything else continues as {@link saveEntry} would.
   * `files` counts it until its node is in `nodes[idx]`; the caller holds an entry slot for
   * it, released then.
   */
  private quickFile(nodes: (TreeNode | undefined)[], idx: number, name: string, entry: EntryInfo, prev: TreeNode | undefined, files: Countdown): void {
    try {
      this.checkRunning();
    } catch (err) {
      this.entries.release();
      throw err;
    }
    const st = entry.stats;
    const size = Number(st.size);
    const expect = prev?.type === 'file' ? prev.content : undefined;
    const readStart = Date.now();
    files.add();
    const finish = (node: TreeNode | undefined): void => {
      nodes[idx] = node;
      this.entries.release();
      files.done();
    };
    const failed = (err: unknown): void => {
      this.entries.release();
      files.fail(err);
    };
    const later = (saving: Promise<Saved>): void => {
      saving.then((c) => this.readNode(name, entry, readStart, c), (err: unknown) => this.entryError(entry.absPath, err)).then(finish, failed);
    };
    const settle = (r: HashedFile): void => {
      try {
        const saved = this.settleRead(entry.absPath, size, expect, r);
        if (saved instanceof Promise) later(saved);
        else finish(this.readNode(name, entry, readStart, saved));
      } catch (err) {
        try {
          finish(this.entryError(entry.absPath, err));
        } catch (fatal) {
          failed(fatal);
        }
      }
    };
    const queued = this.reads.submit(entry.absPath, size, expect ?? null, settle, (err: unknown) => {
      this.reads.done(size);
      failed(err);
    });
    if (!queued) later(this.saveFile(entry.absPath, size, expect));
  }

  /**
   * The node of regular file `entry` (named `name`) whose content was read from
   * `readStart` (ms since the epoch) on; counts it.
   */
  private readNode(name: string, entry: EntryInfo, readStart: number, c: Saved): TreeNode {
    const st = entry.stats;
    this.stats.filesRead++;
    this.count(c.size, entry.relPath);
    const racy = isRacy(st.ctimeNs, readStart);
    return makeNode(name, 'file', Number(st.mode & 0o7777n), st.mtimeNs, racy ? undefined : st.ctimeNs, racy ? undefined : st.ino, c.size, c.content, undefined, undefined);
  }

  /**
   * What an error saving entry `abs` means: a problem recorded for it (an fs error, or a
   * ClawbackError 'CAPTURE'), so its node is undefined; any other ClawbackError is thrown.
   */
  private entryError(abs: string, err: unknown): undefined {
    if (isClawbackError(err) && err.code !== 'CAPTURE') throw err;
    this.problem(abs, isClawbackError(err) ? err.message : describe(err));
    return undefined;
  }

  /**
   * Settles the unchanged files of one directory: one batched lookup of all their blobs;
   * each file whose blobs all exist keeps its parent node (the same object when the mode
   * is unchanged too), any other is saved normally (a new promise in `started`).
   */
  private async settleUnchanged(nodes: (TreeNode | undefined)[], quick: UnchangedFile[], started: Promise<void>[]): Promise<void> {
    this.checkRunning();
    const ids: BlobId[] = [];
    for (const q of quick) for (const id of q.prev.content!) ids.push(id);
    const exists = await this.repo.hasBlobs(ids);
    let at = 0;
    for (const q of quick) {
      const n = q.prev.content!.length;
      let all = true;
      for (let k = at; k < at + n; k++) if (!exists[k]) all = false;
      at += n;
      if (!all) {
        await this.entries.acquire();
        started.push(this.startEntry(nodes, q.idx, q.entry, q.prev, false));
        continue;
      }
      const mode = Number(q.entry.stats.mode & 0o7777n);
      const p = q.prev;
      nodes[q.idx] = mode === p.mode ? p : makeNode(p.name, p.type, mode, p.mtimeNs, p.ctimeNs, p.inode, p.size, p.content, undefined, undefined);
      this.count(q.prev.size, q.entry.relPath);
    }
  }

  /** Saves one entry; returns its node, or undefined after recording a problem. */
  private async saveEntry(abs: string, rel: string, st: EntryStats, prev: TreeNode | undefined, entry?: EntryInfo): Promise<TreeNode | undefined> {
    this.checkRunning();
    const info = entry ?? { absPath: abs, relPath: rel, stats: st };
    const name = basename(abs);
    const hooks = this.opts.hooks;
    const reason = hooks?.check ? await hooks.check(info) : undefined;
    if (reason) {
      this.problem(abs, reason);
      return undefined;
    }
    const mode = Number(st.mode & 0o7777n);
    const mtimeNs = st.mtimeNs;
    if (st.isDirectory()) {
      const subtree = await this.saveDir(abs, rel, prev?.type === 'dir' ? prev.subtree : undefined);
      return makeNode(name, 'dir', mode, mtimeNs, st.ctimeNs, st.ino, 0, undefined, subtree, undefined);
    }
    if (st.isSymbolicLink()) {
      try {
        const target = readlinkSync(abs);
        this.stats.symlinks++;
        return makeNode(name, 'symlink', mode, mtimeNs, st.ctimeNs, st.ino, 0, undefined, undefined, target);
      } catch (err) {
        this.problem(abs, describe(err));
        return undefined;
      }
    }
    if (!st.isFile()) {
      this.problem(abs, `is ${kindOf(st)}; only files, directories and symbolic links can be captured`);
      return undefined;
    }
    try {
      if ((hooks?.capture || hooks?.captureStamp) && (hooks.mayCapture?.(info) ?? true)) {
        const stamp = await hooks.captureStamp?.(info);
        if (
          stamp && prev && prev.type === 'sqlite' && prev.content && prev.mtimeNs === st.mtimeNs &&
          prev.ctimeNs === stamp.ctimeNs && prev.inode === stamp.inode && (await this.allExist(prev.content))
        ) {
          this.count(prev.size, rel);
          return makeNode(name, 'sqlite', mode, mtimeNs, stamp.ctimeNs, stamp.inode, prev.size, prev.content, undefined, undefined);
        }
        const readStart = Date.now();
        const captured = await hooks.capture?.(info);
        if (captured) {
          const parent = prev?.type === captured.type ? prev.content : undefined;
          return await this.saveCaptured(name, mode, mtimeNs, captured, rel, captured.type === 'sqlite' ? stamp : undefined, readStart, parent);
        }
      }
      if (
        prev && sameFileStat(prev, st) && (await this.allExist(prev.content!))
      ) {
        this.count(prev.size, rel);
        return makeNode(name, 'file', mode, mtimeNs, st.ctimeNs, st.ino, prev.size, prev.content, undefined, undefined);
      }
      const readStart = Date.now();
      const saved = await this.saveFile(abs, Number(st.size), prev?.type === 'file' ? prev.content : undefined);
      return this.readNode(name, info, readStart, saved);
    } catch (err) {
      return this.entryError(abs, err);
    }
  }

  private count(bytes: number, rel: string): void {
    this.stats.files++;
    this.stats.bytes += bytes;
    this.opts.progress?.update?.({ phase: 'snapshot', filesDone: this.stats.files, bytesDone: this.stats.bytes, current: rel });
  }

  /** Whether every blob of `ids` exists: at once when the repository can tell (see `hasBlobsNow`). */
  private allExist(ids: BlobId[]): boolean | Promise<boolean> {
    const now = this.repo.hasBlobsNow(ids);
    return now ? now.every(Boolean) : this.repo.hasBlobs(ids).then((r) => r.every(Boolean));
  }

  /**
   * Saves a regular file's content: one up to {@link smallLimit} read, cut and hashed on
   * the blob workers, a larger one (or one that grew since `lstat`) on this thread.
   * @param size the size `lstat` saw, bytes.
   * @param prev the parent snapshot's content of this file: when the file still cuts into
   *   exactly these chunks, its content does not come back from the workers at all.
   * @throws the fs error of a file that cannot be read.
   */
  private async saveFile(abs: string, size: number, prev: BlobId[] | undefined): Promise<Saved> {
    if (size > this.smallLimit) return this.saveFileContent(abs, this.fileChunker, size, prev !== undefined);
    return this.settleRead(abs, size, prev, await this.reads.read(abs, size, prev ?? null));
  }

  /**
   * Saves what the blob workers made of file `abs` (`size` bytes by `lstat`, read through
   * the read queue, whose budget for it this gives back), as {@link saveFile} describes.
   * At once, without a promise, when the file cut into exactly `prev`'s chunks and those
   * are indexed (`Repository.hasBlobsNow`), or the workers read it (no `prev`, or not
   * sealed) and all its chunks are indexed, or the workers sealed it and the open pack
   * takes all its envelopes (`Repository.saveSealedBlobsNow`); otherwise through
   * {@link settleReadLater}.
   * @throws (synchronously, the budget given back) what the repository's checks throw.
   */
  private settleRead(abs: string, size: number, prev: BlobId[] | undefined, r: HashedFile): Saved | Promise<Saved> {
    let saved: Saved | undefined;
    try {
      if (r.kind === 'same') {
        if (this.repo.hasBlobsNow(prev!)?.every(Boolean)) saved = { content: prev!, size: r.length };
      } else if (r.kind === 'sealed') {
        const added = this.repo.saveSealedBlobsNow('data', r.ids, r.envelopes, r.lengths);
        if (added !== undefined) {
          this.reads.sealedOutcome(added, r.ids.length - added);
          saved = { content: r.ids, size: r.size };
        }
      } else if (r.kind === 'read') {
        // Without a parent node (a tree copied, moved or unpacked again) the content is
        // usually stored already: then there is nothing to save.
        if (this.repo.hasBlobsNow(r.ids)?.every(Boolean)) saved = { content: r.ids, size: r.data.byteLength };
      }
    } catch (err) {
      this.reads.done(size);
      throw err;
    }
    if (!saved) return this.settleReadLater(abs, size, prev, r);
    this.reads.done(size);
    return saved;
  }

  /** {@link settleRead}'s path with waits: lookups and saves that may wait, or a read here. */
  private async settleReadLater(abs: string, size: number, prev: BlobId[] | undefined, r: HashedFile): Promise<Saved> {
    try {
      if (r.kind === 'error') throw fsError(r);
      if (r.kind === 'same' && (await this.allExist(prev!))) return { content: prev!, size: r.length };
      if (r.kind === 'sealed') {
        let added = 0;
        for (let k = 0; k < r.ids.length; k++) if ((await this.repo.saveSealedBlob('data', r.ids[k]!, r.envelopes[k]!, r.lengths[k]!)).added) added++;
        this.reads.sealedOutcome(added, r.ids.length - added);
        return { content: r.ids, size: r.size };
      }
      // Grew, or (in a damaged repository) the parent's blobs are gone: read it here.
      if (r.kind !== 'read') return await this.saveFileContent(abs, this.fileChunker, undefined);
      let pos = 0;
      for (let k = 0; k < r.ids.length; k++) {
        const len = r.lengths[k]!;
        await this.repo.saveBlob('data', r.data.subarray(pos, pos + len), r.ids[k]);
        pos += len;
      }
      return { content: r.ids, size: r.data.byteLength };
    } finally {
      this.reads.done(size);
    }
  }

  private async saveCaptured(
    name: string, mode: number, mtimeNs: bigint, c: CaptureResult, rel: string, stamp: CaptureStamp | undefined, readStart: number,
    parent: BlobId[] | undefined,
  ): Promise<TreeNode> {
    const chunker = c.type === 'sqlite' ? this.sqliteChunker : this.fileChunker;
    let result: { content: BlobId[]; size: number };
    if ('database' in c) {
      if (!this.repo.hasBlobWorkers) return this.saveCaptured(name, mode, mtimeNs, await captureImage(c.database, c.size), rel, stamp, readStart, parent);
      const expect = parent && (await this.allExist(parent)) ? parent : null;
      result = await saveDatabase(this.repo, chunker, c.database, c.size, expect);
    } else {
      try {
        result = 'bytes' in c ? await this.saveBuffer(c.bytes, chunker) : await this.saveFileContent(c.path, chunker, undefined);
        if (c.verify && !(parent && sameIds(parent, result.content))) await c.verify();
      } finally {
        await c.cleanup?.();
      }
    }
    this.stats.filesRead++;
    this.count(result.size, rel);
    // Captured content may differ from the file on disk: change detection fields only
    // from the hook's stamp (taken before the capture, so a later change always shows).
    const keep = stamp !== undefined && !isRacy(stamp.ctimeNs, readStart);
    return makeNode(name, c.type, mode, mtimeNs, keep ? stamp.ctimeNs : undefined, keep ? stamp.inode : undefined, result.size, result.content, undefined, undefined);
  }

  /**
   * Chunks, hashes and saves `data`. The repository copies each chunk before `saveBlob`
   * resolves, so `data` may be a reused buffer. Does not wait for sealing (see saveTree).
   */
  private async saveBuffer(data: Uint8Array, chunker: Chunker): Promise<{ content: BlobId[]; size: number }> {
    const content: BlobId[] = [];
    let pos = 0;
    for (const len of chunkBuffer(chunker, data)) {
      const chunk = data.subarray(pos, pos + len);
      pos += len;
      const t = await this.repo.saveBlob('data', chunk);
      content.push(t.id);
    }
    return { content, size: data.byteLength };
  }

  /**
   * Saves the content of the file at `path` on this thread, one file at a time: read whole
   * when it fits the reader's buffer (see file-reader.ts), streamed otherwise. `sizeHint`
   * is the size `lstat` saw (undefined: unknown).
   */
  private async saveFileContent(path: string, chunker: Chunker, sizeHint: number | undefined, hasParent = false): Promise<{ content: BlobId[]; size: number }> {
    await this.mainReads.acquire();
    try {
      this.checkRunning();
      const whole = this.reader.read(path, sizeHint ?? 0);
      if (whole) return await this.saveBuffer(whole, chunker);
      if (this.repo.hasBlobWorkers) {
        this.largeFiles ??= new LargeFileSaver(this.repo, chunker);
        if (this.largeFiles.chunker === chunker) {
          let done = 0;
          return await this.largeFiles.save(path, hasParent, () => this.checkRunning(), (n) => {
            done += n;
            this.opts.progress?.update?.({ phase: 'snapshot', filesDone: this.stats.files, bytesDone: this.stats.bytes + done, current: path });
          });
        }
      }
      const signal = this.opts.signal;
      const content: BlobId[] = [];
      let size = 0;
      for await (const chunk of chunkStream(chunker, streamFile(path, () => throwIfAborted(signal)))) {
        size += chunk.byteLength;
        const t = await this.repo.saveBlob('data', chunk);
        content.push(t.id);
        this.opts.progress?.update?.({ phase: 'snapshot', filesDone: this.stats.files, bytesDone: this.stats.bytes + size, current: path });
      }
      return { content, size };
    } finally {
      this.mainReads.release();
    }
  }
}

/** Archives `opts.paths` into `repo` and returns the root tree (blobs not yet flushed). */
export function archive(repo: Repository, opts: ArchiveOptions): Promise<ArchiveResult> {
  return new Archiver(repo, opts).run();
}
