/**
 * An in-memory {@link Backend} for unit tests. Same contract as the real backends
 * (write-once, ranges, `BLOB_NOT_FOUND`, idempotent remove); bytes are copied on `save`
 * and on `load`, so callers can neither change stored files nor see later changes.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';
import { checkTempPath, handleFromPath, pathFor, resolveRange } from './layout.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Shown as {@link Backend.location}. Default `mem:`. */
  location?: string;
}

/**
 * A {@link Backend} held in a `Map` keyed by the layout path ({@link pathFor}).
 *
 * Unlike {@link LocalBackend}, `save` works before `create()` (tests rarely care);
 * `isRepository()` is true once `config` is saved.
 */
export class MemoryBackend implements Backend {
  readonly location: string;
  readonly #files = new Map<string, Uint8Array>();

  constructor(options: MemoryBackendOptions = {}) {
    this.location = options.location ?? 'mem:';
  }

  /** Does nothing (the map always exists). */
  async create(): Promise<void> {}

  /** True once `config` has been saved. */
  async isRepository(): Promise<boolean> {
    return this.#files.has(pathFor({ type: 'config', name: 'config' }));
  }

  /**
   * Stores a copy of `data`.
   *
   * @throws ClawbackError `ALREADY_EXISTS` if `h` exists (stored bytes unchanged);
   *   `INTERNAL` for an invalid name.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const p = pathFor(h);
    if (this.#files.has(p)) throw exists(this.location, p);
    this.#files.set(p, new Uint8Array(data));
  }

  /**
   * A copy of the bytes of `h` (or of `range`, cut at the end).
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing; `INTERNAL` for a bad name or range.
   */
  async load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    const p = pathFor(h);
    const data = this.#files.get(p);
    if (data === undefined) throw notFound(this.location, p);
    const { start, end } = resolveRange(range, data.length);
    return data.slice(start, end);
  }

  /**
   * The size of `h` in bytes.
   *
   * @throws ClawbackError `BLOB_NOT_FOUND` if missing.
   */
  async stat(h: Handle): Promise<FileInfo> {
    const p = pathFor(h);
    const data = this.#files.get(p);
    if (data === undefined) throw notFound(this.location, p);
    return { name: h.type === 'config' ? 'config' : h.name, size: data.length };
  }

  /** The files of `type` present when iteration starts (a snapshot; later changes unseen). */
  async *list(type: FileType): AsyncIterable<FileInfo> {
    const out: FileInfo[] = [];
    for (const [p, data] of this.#files) {
      const h = handleFromPath(p);
      if (h?.type === type) out.push({ name: h.name, size: data.length });
    }
    yield* out;
  }

  /** Deletes `h`; no-op if missing. */
  async remove(h: Handle): Promise<void> {
    this.#files.delete(pathFor(h));
  }

  /** Nothing: saves here use no temp file. */
  async *listTempFiles(): AsyncIterable<TempFileInfo> {}

  /**
   * Nothing to remove (there are no temp files).
   *
   * @throws ClawbackError `INTERNAL` when `path` is not a temp file's.
   */
  async removeTempFile(path: string): Promise<void> {
    checkTempPath(path);
  }

  /** Does nothing; the files stay readable. */
  async close(): Promise<void> {}
}

function exists(location: string, path: string): ClawbackError {
  return new ClawbackError('ALREADY_EXISTS', `${path} already exists in ${location}`, { details: { location, path } });
}

function notFound(location: string, path: string): ClawbackError {
  return new ClawbackError('BLOB_NOT_FOUND', `${path} not found in ${location}`, { details: { location, path } });
}
