/**
 * The storage boundary. A {@link Backend} stores opaque, write-once files addressed by a
 * {@link Handle} (type + name). Everything above it (packs, index, snapshots) is built on
 * these six calls, after restic's `internal/backend/backend.go`, plus two for the temp files
 * an interrupted `save` can leave behind ({@link Backend.listTempFiles}).
 *
 * Contract (checked for every implementation by test/backend/conformance.test.ts):
 * - write-once: `save` of an existing handle throws `ALREADY_EXISTS` and leaves the stored
 *   bytes unchanged; a file is visible whole or not at all (no partial files after a crash).
 * - read-after-write: once `save` resolves, `load`, `stat` and `list` see the file.
 * - idempotent reads: `load` of the same handle and range returns the same bytes.
 * - a missing file makes `load` and `stat` throw `BLOB_NOT_FOUND`; `remove` of a missing
 *   file succeeds (so an interrupted gc can be run again).
 * - transient failures throw `BACKEND_TRANSIENT` (retryable); all others `BACKEND`.
 * - no temp file outlives its `save` (resolved or rejected): `listTempFiles` yields only
 *   those of saves in flight and of saves a crash interrupted.
 */

/** The kinds of file in a repository; each lives under its own prefix (see docs/FORMAT.md). */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

/** All file types, in a stable order. */
export const FILE_TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks'];

/** Addresses one file. For `config` the name is ignored (there is one config file). */
export interface Handle {
  type: FileType;
  /** File name: lowercase hex for hashed names; `config` for the config file. */
  name: string;
}

/** A byte range for {@link Backend.load}. */
export interface LoadRange {
  /** First byte to return (bytes from the start). Default 0. */
  offset?: number;
  /** Number of bytes to return; default: to the end of the file. */
  length?: number;
  /**
   * A buffer the bytes may be read into when it is long enough, sparing an allocation per
   * load (the restorer reuses a few for its ranged reads): the result is then a view of
   * it. A backend may ignore it and return a new array. The caller must not reuse `into`
   * while it still needs the result.
   */
  into?: Uint8Array;
}

/** What {@link Backend.stat} and {@link Backend.list} report about a file. */
export interface FileInfo {
  name: string;
  /** Size in bytes. */
  size: number;
}

/** A temp file left by a `save` (see {@link Backend.listTempFiles}). */
export interface TempFileInfo {
  /** Repository-relative path with `/` separators, e.g. `data/ab/.tmp-0123456789abcdef`. */
  path: string;
  /** Size in bytes. */
  size: number;
}

/** A repository's storage. See the module comment for the contract. */
export interface Backend {
  /** Human-readable location (path or `s3:` URL), used in messages. */
  readonly location: string;
  /** Creates the container (directory tree, bucket) if missing. Idempotent. */
  create(): Promise<void>;
  /** True when the container exists and holds a `config` file. */
  isRepository(): Promise<boolean>;
  /**
   * Stores `data` under `h`. Throws `ALREADY_EXISTS` if present (write-once). Keeps no
   * reference to `data` once the returned promise settles: the caller may reuse the buffer
   * (pack buffers are pooled).
   */
  save(h: Handle, data: Uint8Array): Promise<void>;
  /**
   * Returns the bytes of `h`, or of `range` within it. A range past the end is cut at the
   * end. Throws `BLOB_NOT_FOUND` if the file is missing.
   */
  load(h: Handle, range?: LoadRange): Promise<Uint8Array>;
  /** Size of `h`. Throws `BLOB_NOT_FOUND` if missing. */
  stat(h: Handle): Promise<FileInfo>;
  /** Every file of `type`, in no particular order. */
  list(type: FileType): AsyncIterable<FileInfo>;
  /** Deletes `h`; succeeds if it is already gone. */
  remove(h: Handle): Promise<void>;
  /**
   * The temp files (`.tmp-*`, docs/BACKENDS.md) in the repository, which `list` skips:
   * those of saves in flight and those a crash left behind. Only the holder of the
   * exclusive lock may take them all for strays. S3 reports the multipart uploads a crash
   * left unfinished (their parts are stored and billed; s3-uploads.ts); the memory backend
   * yields none.
   */
  listTempFiles(): AsyncIterable<TempFileInfo>;
  /**
   * Deletes the temp file at `path` (as {@link listTempFiles} gave it); succeeds if it is
   * already gone. Throws `INTERNAL` for a path that is not a temp file's.
   */
  removeTempFile(path: string): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}
