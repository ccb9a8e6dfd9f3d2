/**
 * Reads source files for the archiver.
 *
 * Small files (most of a source tree or an agent workspace) are read with synchronous
 * `open`/`read`/`close` into one reused buffer: on a warm page cache that costs a few µs per
 * file, against ~50 µs of thread-pool round trips per asynchronous call (measured on the
 * kernel tree, docs/PERFORMANCE.md). The calling thread only reads, chunks and hashes; the
 * seal pool's workers compress and encrypt, so blocking it for a read does not stall them.
 * Files larger than the limit are streamed asynchronously in {@link READ_BUFFER} pieces.
 *
 * Files are opened with `O_NOFOLLOW`: an entry that was a regular file when the walk
 * `lstat`ed it and was replaced by a symbolic link since is never followed (ELOOP).
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Read buffer for streamed files, bytes. */
export const READ_BUFFER = 4 << 20;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** Reads whole small files into a buffer it reuses; see the module comment. */
export class SmallFileReader {
  private buf: Buffer = Buffer.allocUnsafe(1 << 20);
  /** Largest file read whole, bytes. */
  readonly limit: number;

  /** @param limit largest file read whole, in bytes (default 8 MiB). */
  constructor(limit = 8 << 20) {
    this.limit = limit;
  }

  /**
   * Reads the file at `path` if it has at most {@link limit} bytes.
   * @param sizeHint the size `lstat` reported, bytes (the file may have changed since).
   * @returns the content as a view into the reader's buffer, valid only until the next
   *   call; or undefined when the file is larger than the limit (stream it instead).
   * @throws the `fs` error (ENOENT, EACCES, ELOOP for a symlink, …).
   */
  read(path: string, sizeHint: number): Buffer | undefined {
    if (sizeHint > this.limit) return undefined;
    // One byte more than expected, so a file that grew shows in the first read.
    this.ensure(sizeHint + 1);
    const fd = openSync(path, OPEN_FLAGS);
    try {
      let n = 0;
      for (;;) {
        if (n === this.buf.length) {
          if (n > this.limit) return undefined;
          this.ensure(Math.min(2 * n, this.limit + 1));
        }
        const got = readSync(fd, this.buf, n, this.buf.length - n, null);
        if (got === 0) break;
        n += got;
      }
      return n > this.limit ? undefined : this.buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }

  private ensure(bytes: number): void {
    if (this.buf.length >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, 2 * this.buf.length));
    this.buf.copy(grown);
    this.buf = grown;
  }
}

/**
 * Streams the file at `path` in pieces of up to {@link READ_BUFFER} bytes (each a fresh
 * buffer the consumer may keep). Checks `signal` before each read.
 * @throws the `fs` error, or ClawbackError 'ABORTED' via `abortCheck`.
 */
export async function* streamFile(path: string, abortCheck: () => void): AsyncGenerator<Uint8Array> {
  const fh = await open(path, OPEN_FLAGS);
  try {
    for (;;) {
      abortCheck();
      const buf = Buffer.allocUnsafe(READ_BUFFER);
      const { bytesRead } = await fh.read(buf, 0, READ_BUFFER, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
