/**
 * {@link LocalBackend}: a repository in a local directory (or any mounted file system).
 *
 * Durability: `save` writes a temp file `.tmp-<random>` in the destination directory,
 * fsyncs it, hard-links it to the final name (`link(2)` fails with `EEXIST` atomically, so
 * an existing file is never overwritten), unlinks the temp name and fsyncs the directory.
 * A crash leaves at most a stray `.tmp-*` file, which `list` skips (and `listTempFiles`
 * reports, for gc to remove); never a partial file under a final name. On file systems
 * without hard links it falls back to check-then-`rename(2)` (atomic, but two concurrent
 * writers of one name could both succeed; with content-addressed names they write the
 * same bytes).
 *
 * Directories: `create()` makes the root and `keys/ data/ index/ snapshots/ locks/`
 * (mode 0o700). The 256 fan-out directories `data/xx/` are made lazily by the first
 * `save` into them. Files are mode 0o600.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';
import { CONFIG_PATH, DIR_TYPES, TEMP_PREFIX, checkRange, checkTempPath, handleFromPath, isFanoutDir, isTempPath, pathFor, resolveRange } from './layout.js';

/** Mode of repository directories. */
export const DIR_MODE = 0o700;
/** Mode of repository files. */
export const FILE_MODE = 0o600;

/** Options of {@link LocalBackend}. */
export interface LocalBackendOptions {
  /**
   * fsync files and directories on `save` and `create`. Default true. Turn off only for
   * throwaway repositories (tests, benchmarks): a crash may then lose saved files.
   */
  fsync?: boolean;
}

/** errno codes that mean "try again" rather than "this will keep failing". */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'EMFILE', 'ENFILE', 'ETIMEDOUT', 'ESTALE']);
/** errno codes of `link(2)` on file systems without hard links. */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

const DESCRIPTIONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOENT: 'no such file or directory',
};

/** The errno code (`ENOENT`, …) of a Node fs error, or undefined. */
function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps a Node fs error to a {@link ClawbackError}: `ENOENT` → `BLOB_NOT_FOUND`; busy /
 * too-many-open-files / interrupted → `BACKEND_TRANSIENT`; everything else (ENOSPC, EIO,
 * EACCES, EROFS, …) → `BACKEND`. The message names the operation, the absolute path and
 * the errno. A {@link ClawbackError} passes through unchanged.
 *
 * @param op - what was attempted, e.g. `save`, `load`, `create directory`.
 * @param path - the absolute path concerned.
 */
export function mapFsError(err: unknown, op: string, path: string): ClawbackError {
  if (err instanceof ClawbackError) return err;
  const errno = errnoOf(err);
  const details = { path, errno, op };
  if (errno === 'ENOENT') {
    return new ClawbackError('BLOB_NOT_FOUND', `cannot ${op} ${path}: file not found`, { cause: err, details });
  }
  const what = errno === undefined ? String((err as Error | null)?.message ?? err) : `${DESCRIPTIONS[errno] ?? 'error'} (${errno})`;
  const code = errno !== undefined && TRANSIENT_CODES.has(errno) ? 'BACKEND_TRANSIENT' : 'BACKEND';
  return new ClawbackError(code, `cannot ${op} ${path}: ${what}`, { cause: err, details });
}

/**
 * A repository in the directory `root`. See the module comment for the durability scheme.
 * Thread-safe for concurrent calls within one process and across processes.
 */
export class LocalBackend implements Backend {
  /** The absolute path of the repository directory. */
  readonly location: string;
  readonly #root: string;
  readonly #fsync: boolean;

  /**
   * @param root - the repository directory; resolved against the working directory.
   */
  constructor(root: string, options: LocalBackendOptions = {}) {
    this.#root = nodePath.resolve(root);
    this.location = this.#root;
    this.#fsync = options.fsync ?? true;
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : nodePath.join(this.#root, ...rel.split('/'));
  }

  /**
   * Creates the root directory (with missing parents) and the five type directories,
   * mode 0o700. Idempotent; existing directories are left as they are.
   *
   * @throws ClawbackError `BACKEND` when a directory cannot be made (EACCES, ENOTDIR, …).
   */
  async create(): Promise<void> {
    try {
      await fsp.mkdir(this.#root, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      throw mapFsError(err, 'create directory', this.#root);
    }
    for (const t of DIR_TYPES) {
      const dir = this.#abs(t);
      try {
        await fsp.mkdir(dir, { mode: DIR_MODE });
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw permanent(mapFsError(err, 'create directory', dir));
      }
    }
    await this.#syncDir(this.#root);
  }

  /**
   * True when `<root>/config` is a file.
   *
   * @throws ClawbackError `BACKEND` for errors other than "missing" (e.g. EACCES).
   */
  async isRepository(): Promise<boolean> {
    const p = this.#abs(CONFIG_PATH);
    try {
      return (await fsp.stat(p)).isFile();
    } catch (err) {
      const e = errnoOf(err);
      if (e === 'ENOENT' || e === 'ENOTDIR') return false;
      throw mapFsError(err, 'stat', p);
    }
  }

  /**
   * Writes `data` to a temp file, fsyncs it, links it to its final name without
   * overwriting, then fsyncs the directory. The temp file is removed on every path.
   *
   * @throws ClawbackError `ALREADY_EXISTS` if the file exists (it is left unchanged);
   *   `BACKEND` when the directory is missing (repository not created) or on ENOSPC, EIO,
   *   EACCES, …; `BACKEND_TRANSIENT` on EMFILE/EAGAIN-like errors; `INTERNAL` for a bad name.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const rel = pathFor(h);
    const final = this.#abs(rel);
    const dir = nodePath.dirname(final);
    const tmp = nodePath.join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
    let fh: FileHandle | undefined;
    let tmpExists = false;
    try {
      fh = await this.#openTemp(tmp, h, dir);
      tmpExists = true;
      await fh.writeFile(data);
      if (this.#fsync) await fh.sync();
      await fh.close();
      fh = undefined;
      await this.#linkNoReplace(tmp, final, rel);
      // The file is in place; a failure to remove the temp name only leaves a stray
      // `.tmp-*` file, which list skips.
      await fsp.unlink(tmp).catch(() => undefined);
      tmpExists = false;
      await this.#syncDir(dir);
    } catch (err) {
      if (fh !== undefined) await fh.close().catch(() => undefined);
      if (tmpExists) await fsp.unlink(tmp).catch(() => undefined);
      if (err instanceof ClawbackError) throw err;
      throw permanent(mapFsError(err, 'save', final));
    }
  }

  /** Opens a new temp file, making the `data/xx` fan-out directory on first use. */
  async #openTemp(tmp: string, h: Handle, dir: string): Promise<FileHandle> {
    try {
      return await fsp.open(tmp, 'wx', FILE_MODE);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    if (h.type === 'data') {
      try {
        await fsp.mkdir(dir, { mode: DIR_MODE });
        await this.#syncDir(nodePath.dirname(dir));
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw this.#missingDir(err, dir);
      }
      try {
        return await fsp.open(tmp, 'wx', FILE_MODE);
      } catch (err) {
        throw errnoOf(err) === 'ENOENT' ? this.#missingDir(err, dir) : err;
      }
    }
    throw this.#missingDir(undefined, dir);
  }

  #missingDir(cause: unknown, dir: string): ClawbackError {
    if (errnoOf(cause) !== undefined && errnoOf(cause) !== 'ENOENT') return permanent(mapFsError(cause, 'create directory', dir));
    return new ClawbackError(
      'BACKEND',
      `directory ${dir} does not exist: is ${this.#root} a repository? (create it first)`,
      { cause, details: { path: dir, errno: 'ENOENT', location: this.#root } },
    );
  }

  /** link(tmp, final) or, where hard links are unsupported, check + rename. */
  async #linkNoReplace(tmp: string, final: string, rel: string): Promise<void> {
    try {
      await fsp.link(tmp, final);
      return;
    } catch (err) {
      const e = errnoOf(err);
      if (e === 'EEXIST') throw this.#exists(rel, final, err);
      if (e === undefined || !NO_LINK_CODES.has(e)) throw err;
    }
    // Fallback for file systems without hard links (some FUSE/SMB mounts). Racy against a
    // concurrent writer of the same name; see the module comment.
    try {
      await fsp.lstat(final);
      throw this.#exists(rel, final, undefined);
    } catch (err) {
      if (err instanceof ClawbackError || errnoOf(err) !== 'ENOENT') throw err;
    }
    await fsp.rename(tmp, final);
  }

  #exists(rel: string, final: string, cause: unknown): ClawbackError {
    return new ClawbackError('ALREADY_EXISTS', `${rel} already exists in ${this.#root}`, {
      cause,
      details: { path: final, location: this.#root },
    });
  }

  async #syncDir(dir: string): Promise<void> {
    if (!this.#fsync || process.platform === 'win32') return;
    let fh: FileHandle | undefined;
    try {
      fh = await fsp.open(dir, 'r');
      await fh.sync();
    } catch (err) {
      throw permanent(mapFsError(err, 'fsync directory', dir));
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /**
   * Reads `h`, or `range` of it (cut at the end of the file).
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing; `BACKEND` on EIO/EACCES or when the
   *   file shrinks while being read; `INTERNAL` for a bad name or range.
   */
  async load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    checkRange(range);
    const p = this.#abs(pathFor(h));
    let fh: FileHandle | undefined;
    try {
      fh = await fsp.open(p, 'r');
      const { size } = await fh.stat();
      const { start, end } = resolveRange(range, size);
      const into = range?.into;
      const out = into !== undefined && into.length >= end - start ? into.subarray(0, end - start) : new Uint8Array(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) {
          throw new ClawbackError('BACKEND', `cannot load ${p}: file shrank while reading (expected ${size} bytes)`, {
            details: { path: p },
          });
        }
        done += bytesRead;
      }
      return out;
    } catch (err) {
      throw mapFsError(err, 'load', p);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /**
   * Size of `h`.
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing; `BACKEND` on other errors.
   */
  async stat(h: Handle): Promise<FileInfo> {
    const p = this.#abs(pathFor(h));
    try {
      const st = await fsp.stat(p);
      return { name: h.type === 'config' ? 'config' : h.name, size: st.size };
    } catch (err) {
      throw mapFsError(err, 'stat', p);
    }
  }

  /**
   * The files of `type`. Skips temp files and anything that is not a repository file
   * (see {@link handleFromPath}); a missing type directory lists as empty; files removed
   * during the listing are skipped.
   *
   * @throws ClawbackError `BACKEND` when a directory cannot be read (EACCES, EIO).
   */
  async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'config') {
      const p = this.#abs(CONFIG_PATH);
      const size = await this.#sizeOrUndefined(p);
      if (size !== undefined) yield { name: 'config', size };
      return;
    }
    if (type !== 'data') {
      yield* this.#listDir(type);
      return;
    }
    for (const fan of await this.#readdir(this.#abs('data'))) {
      if (isFanoutDir(fan)) yield* this.#listDir(`data/${fan}`);
    }
  }

  /** The files in repository-relative directory `rel`, stat'ed 64 at a time. */
  async *#listDir(rel: string): AsyncIterable<FileInfo> {
    const names = await this.#readdir(this.#abs(rel));
    const BATCH = 64;
    for (let i = 0; i < names.length; i += BATCH) {
      const batch: { name: string; p: string }[] = [];
      for (const n of names.slice(i, i + BATCH)) {
        const h = handleFromPath(`${rel}/${n}`);
        if (h !== undefined) batch.push({ name: h.name, p: nodePath.join(this.#abs(rel), n) });
      }
      const sizes = await Promise.all(batch.map((b) => this.#sizeOrUndefined(b.p)));
      for (let j = 0; j < batch.length; j++) {
        const size = sizes[j];
        const b = batch[j];
        if (size !== undefined && b !== undefined) yield { name: b.name, size };
      }
    }
  }

  async #readdir(dir: string): Promise<string[]> {
    try {
      return await fsp.readdir(dir);
    } catch (err) {
      const e = errnoOf(err);
      // Missing (not created, or removed meanwhile) or a stray file where a directory belongs.
      if (e === 'ENOENT' || e === 'ENOTDIR') return [];
      throw permanent(mapFsError(err, 'list', dir));
    }
  }

  /** Size of a regular file at `p`, or undefined if missing or not a file. */
  async #sizeOrUndefined(p: string): Promise<number | undefined> {
    try {
      const st = await fsp.stat(p);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw permanent(mapFsError(err, 'stat', p));
    }
  }

  /**
   * Deletes `h`; succeeds if it is already gone.
   *
   * @throws ClawbackError `BACKEND` on EACCES, EROFS, EIO, …
   */
  async remove(h: Handle): Promise<void> {
    const p = this.#abs(pathFor(h));
    try {
      await fsp.unlink(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw mapFsError(err, 'remove', p);
    }
  }

  /**
   * The `.tmp-*` files in the root, the type directories and the `data/xx` directories,
   * with their sizes; files removed during the listing are skipped.
   *
   * @throws ClawbackError `BACKEND` when a directory cannot be read (EACCES, EIO).
   */
  async *listTempFiles(): AsyncIterable<TempFileInfo> {
    const dirs = ['', ...DIR_TYPES.filter((t) => t !== 'data')];
    for (const fan of await this.#readdir(this.#abs('data'))) {
      if (isFanoutDir(fan)) dirs.push(`data/${fan}`);
    }
    for (const dir of dirs) {
      for (const n of await this.#readdir(this.#abs(dir))) {
        const rel = dir === '' ? n : `${dir}/${n}`;
        if (!n.startsWith(TEMP_PREFIX) || !isTempPath(rel)) continue;
        const size = await this.#sizeOrUndefined(this.#abs(rel));
        if (size !== undefined) yield { path: rel, size };
      }
    }
  }

  /**
   * Deletes the temp file at repository-relative `path`; succeeds if it is already gone.
   *
   * @throws ClawbackError `INTERNAL` when `path` is not a temp file's (see `isTempPath`);
   *   `BACKEND` on EACCES, EROFS, EIO, …
   */
  async removeTempFile(path: string): Promise<void> {
    checkTempPath(path);
    const p = this.#abs(path);
    try {
      await fsp.unlink(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw mapFsError(err, 'remove', p);
    }
  }

  /** Nothing to release. */
  async close(): Promise<void> {}
}

/**
 * `ENOENT` in a place where it does not mean "blob not found" (missing directory on
 * save, a vanished directory during list) is a permanent `BACKEND` error.
 */
function permanent(e: ClawbackError): ClawbackError {
  if (e.code !== 'BLOB_NOT_FOUND') return e;
  return new ClawbackError('BACKEND', e.message, { cause: e.cause, details: e.details });
}
