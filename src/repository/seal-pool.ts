/**
 * A pool of worker threads for the blob pipeline, so both cores work during a snapshot:
 * they compress (zstd) and encrypt (AES-256-GCM) blobs, and they read and hash small source
 * files. Small blobs are batched (many per message, back to back in one transferred buffer)
 * so trees of small files keep the workers busy too.
 *
 * The workers run worker-source.ts. They produce exactly the envelope of crypto/envelope.ts
 * (`sealEnvelope`) and the ids of crypto/hash.ts (`blobId`); test/repository checks that
 * both agree.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { openSync, readSync, closeSync, constants } from 'node:fs';
import { ClawbackError } from '../errors.js';
import { sealEnvelope, type Cipher } from '../crypto/envelope.js';
import { hashNativePath, blobId } from '../crypto/hash.js';
import { chunkBuffer, fastCdcSpec, type Chunker, type FastCdcSpec } from '../chunker/index.js';
import { sameIds, type BlobId } from '../ids.js';
import { WORKER_SOURCE } from './worker-source.js';
import { GEAR_SCAN_WASM } from '../chunker/gear-scan-module.js';

/** One file read and hashed by {@link SealPool.hashFiles}. */
export type HashedFile =
  /**
   * The whole content (a view into a buffer shared with the batch), cut into chunks: their
   * lengths in bytes and blob ids, in order (none for an empty file).
   */
  | { kind: 'read'; data: Buffer; lengths: number[]; ids: BlobId[] }
  /**
   * Read with `seal`: each chunk already sealed into its envelope (as {@link SealPool.seal}
   * makes it; views into a buffer shared with the batch), with the chunks' plaintext
   * lengths and ids, and the file's size in bytes. The content itself is not returned.
   */
  | { kind: 'sealed'; size: number; envelopes: Buffer[]; lengths: number[]; ids: BlobId[] }
  /** The chunks' ids equal the ones the caller expected (`prev`); the content is not returned. */
  | { kind: 'same'; length: number }
  /** The file had more bytes than its size hint: it changed since it was stat'ed. */
  | { kind: 'grew' }
  /** Opening or reading failed: the fs error's code (ENOENT, EACCES, ELOOP, …) and message. */
  | { kind: 'error'; code: string | undefined; message: string };

/**
 * A SQLite database imaged on a blob worker ({@link SealPool.imageDatabase}), its read
 * transaction still open there.
 */
export type DatabaseImage =
  /** The image cut into exactly the chunks the caller expected; the transaction is ended. */
  | { kind: 'same'; size: number }
  | {
      kind: 'hashed';
      /** The image's size, bytes. */
      size: number;
      /** Its chunks' plaintext lengths (bytes) and blob ids, in order. */
      lengths: number[];
      ids: BlobId[];
      /**
       * The database's quiet stamp (inode, size, mtime and ctime; see
       * fs/sqlite-read-source.ts) when it was imaged through an immutable connection, the
       * same before and after: any other read that sees this stamp before and after it
       * saw the same bytes. Undefined when it was imaged through an ordinary connection.
       */
      quiet: string | undefined;
      /**
       * Seals the chunks at indexes `only` (ascending) into envelopes (as {@link SealPool.seal}
       * does; views into one buffer) and drops the image. Call at most once.
       */
      seal(only: number[]): Promise<Buffer[]>;
      /**
       * Ends the read transaction, with `check` after running `PRAGMA quick_check` in it:
       * 'ok', SQLite's answers, or 'changed' (read through an immutable connection, and
       * the database was written meanwhile: capture it again); null without `check`.
       * Rejects with SQLite's error (`message`, `code`). Call exactly once.
       */
      end(check: boolean): Promise<string | null>;
    };

/** What a worker answers; see worker-source.ts. */
interface Answer {
  seq: number;
  buf?: ArrayBuffer;
  lengths?: number[];
  handle?: number;
  ids?: string[];
  lens?: number[];
  /** A hashCut's buffer, handed back. */
  window?: ArrayBuffer;
  same?: boolean;
  length?: number;
  quiet?: string | null;
  answer?: string | null;
  sqliteError?: { message: string; code?: string };
  files?: ({ offset: number; length: number; ids: string[]; lens: number[]; sealed?: number[] } | { same: true; length: number } | { grew: true } | { code?: string; message: string })[];
  error?: string;
}

/** A message in flight: how to settle its callers. */
interface InFlight {
  answer(m: Answer): void;
  fail(err: Error): void;
}

interface Job {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/**
 * A batch of blobs sent to a worker in one message: their plaintexts back to back in one
 * buffer (one transfer instead of one per blob), and the resolvers in the same order.
 */
interface Batch {
  buf: Uint8Array;
  lengths: number[];
  jobs: Job[];
  bytes: number;
}

/** Blobs smaller than this go in batches (one message for many small files). */
const BATCH_BELOW = 256 * 1024;
/** A batch is sent when it holds this many bytes or items, or at the next turn of the event loop. */
const BATCH_BYTES = 1 << 20;
const BATCH_ITEMS = 1024;

function newBatch(capacity: number, spare?: Uint8Array): Batch {
  return { buf: spare ?? new Uint8Array(Buffer.allocUnsafeSlow(capacity).buffer), lengths: [], jobs: [], bytes: 0 };
}

/** Seals blobs and reads small files on worker threads; see the module comment. */
export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private batch: Batch | undefined;
  /** A batch buffer whose content was copied out, reused for the next batch. */
  private spare: Uint8Array | undefined;
  private readonly load: number[] = [];
  /** Database images each worker holds (imaged, neither sealed nor ended yet). */
  private readonly imagesHeld: number[] = [];
  private seq = 0;
  private readonly cipher: Cipher;
  private readonly hashKey: Buffer;
  private readonly level: number;
  private failed: Error | undefined;

  /**
   * @param encryptKey the AES key, or undefined for an unencrypted repository.
   * @param hashKey the repository's BLAKE3 key for blob ids (32 bytes).
   * @param levels zstd levels (0: never compress): `level` for every blob, `sqliteLevel` for
   *   the chunks of database images sealed on the workers ({@link imageDatabase}).
   * @param threads number of workers; 0 does everything on the calling thread.
   */
  constructor(cipher: Cipher, encryptKey: Uint8Array | undefined, hashKey: Uint8Array, levels: { level: number; sqliteLevel: number }, threads = Math.max(1, availableParallelism())) {
    const { level, sqliteLevel } = levels;
    this.cipher = cipher;
    this.hashKey = Buffer.from(hashKey);
    this.level = level;
    const require = createRequire(import.meta.url);
    const workerData = {
      zstdPath: require.resolve('zstd-napi/binding.js'),
      betterSqlite3: require.resolve('better-sqlite3'),
      blakePath: hashNativePath(),
      gearScanWasm: GEAR_SCAN_WASM,
      key: encryptKey ? Buffer.from(encryptKey) : null,
      hashKey: Buffer.from(hashKey),
      level,
      sqliteLevel,
    };
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (m: Answer) => {
        this.load[i]!--;
        const f = this.inFlight.get(m.seq);
        if (!f) return;
        this.inFlight.delete(m.seq);
        if (m.error !== undefined) f.fail(new ClawbackError('INTERNAL', `blob worker failed: ${m.error}`));
        else if (m.sqliteError) f.fail(Object.assign(new Error(m.sqliteError.message), { code: m.sqliteError.code }));
        else f.answer(m);
      });
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
      this.load.push(0);
      this.imagesHeld.push(0);
    }
  }

  private fail(err: Error): void {
    this.failed = err;
    for (const f of this.inFlight.values()) f.fail(new ClawbackError('INTERNAL', `blob worker crashed: ${err.message}`, { cause: err }));
    this.inFlight.clear();
  }

  /**
   * Posts `msg` to worker `to` (default: the least loaded one); `f` settles its callers.
   * @returns the worker's index.
   */
  private post(msg: Record<string, unknown>, transfer: ArrayBuffer[], f: InFlight, to?: number): number {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    if (to !== undefined) best = to;
    const seq = this.seq++;
    this.inFlight.set(seq, f);
    this.load[best]!++;
    this.workers[best]!.postMessage({ ...msg, seq }, transfer);
    return best;
  }

  /** Posts `msg` (to worker `to`, or the least loaded one) and resolves with the answer. */
  private ask(msg: Record<string, unknown>, to?: number): { worker: number; answer: Promise<Answer> } {
    if (this.failed) return { worker: -1, answer: Promise.reject(this.failed) };
    let worker = -1;
    const answer = new Promise<Answer>((resolve, reject) => {
      worker = this.post(msg, [], { answer: resolve, fail: reject }, to);
    });
    return { worker, answer };
  }

  /**
   * Images the SQLite database at `path` on a worker, within a read transaction it keeps
   * open there (a quiet database through an immutable connection; see
   * fs/sqlite-read-source.ts), and cuts the image with `chunker` (FastCDC or fixed-size)
   * and hashes its chunks there: the image itself never comes to this thread. When its ids
   * equal `prev`, the transaction is ended and the answer is `same`. Otherwise the caller
   * seals the chunks it lacks ({@link DatabaseImage} `seal`) and ends the transaction,
   * checked or not (`end`). Requires workers (a pool of 0 threads throws INTERNAL).
   * @param busyMs give up after this long of SQLITE_BUSY, ms.
   * @throws SQLite's error (`message`, `code`: e.g. SQLITE_CANTOPEN, SQLITE_NOTADB, or
   *   NOIMAGE when what was read is not a database); ClawbackError 'INTERNAL' if the worker
   *   failed.
   */
  async imageDatabase(path: string, chunker: Chunker, prev: readonly BlobId[] | null, busyMs: number): Promise<DatabaseImage> {
    if (this.workers.length === 0) throw new ClawbackError('INTERNAL', 'imageDatabase needs blob workers');
    const fixed = chunker.params.algorithm === 'fixed' ? chunker.params.size : undefined;
    // The first worker holding no image takes it: the archiver's image room lets large
    // databases through one after another, so they all use that worker's reused image
    // buffer (fs/sqlite-read-source.ts) instead of one such buffer resident per worker.
    const free = this.imagesHeld.indexOf(0);
    const { worker, answer } = this.ask({ kind: 'image', path, busyMs, cdc: this.cdcSpec(chunker), fixed, prev }, free === -1 ? undefined : free);
    let holding = worker >= 0;
    if (holding) this.imagesHeld[worker]!++;
    // The worker lets go of the image when it answers `same` or fails, or at 'imageSeal' or 'imageEnd'.
    const dropped = (): void => {
      if (holding) this.imagesHeld[worker]!--;
      holding = false;
    };
    let m: Answer;
    try {
      m = await answer;
    } catch (err) {
      dropped();
      throw err;
    }
    if (m.same || m.handle === undefined) dropped();
    if (m.same) return { kind: 'same', size: m.length! };
    if (m.handle === undefined || !m.ids || !m.lens) throw new ClawbackError('INTERNAL', 'blob worker answered an image without its chunks');
    const handle = m.handle;
    return {
      kind: 'hashed',
      size: m.length!,
      lengths: m.lens,
      ids: m.ids,
      quiet: m.quiet ?? undefined,
      seal: async (only) => {
        const r = await this.ask({ kind: 'imageSeal', handle, only }, worker).answer.finally(dropped);
        if (!r.buf || !r.lengths || r.lengths.length !== only.length) throw new ClawbackError('INTERNAL', 'blob worker answered an image seal with the wrong number of blobs');
        const out = Buffer.from(r.buf);
        let at = 0;
        return r.lengths.map((n) => out.subarray(at, (at += n)));
      },
      end: async (check) => (await this.ask({ kind: 'imageEnd', handle, check }, worker).answer.finally(dropped)).answer ?? null,
    };
  }

  /**
   * Reads the files at `paths` whole, cuts each into chunks with `chunker` (a FastCDC
   * chunker; without one, or with another algorithm, each file is one chunk) and computes
   * the chunks' blob ids, on a worker. Each file is expected to hold at most `hints[i]`
   * bytes (its size from `lstat`, bytes); one holding more is reported as `grew`. A file
   * whose chunk ids equal `prev[i]` (the ids the caller already has, e.g. from the parent
   * snapshot) is reported as `same`, without its content. With `seal`, the workers also seal
   * each chunk of a file they return (`sealed`: its envelopes instead of its content), while
   * the bytes are at hand — for callers that expect most chunks to be new; a pool without
   * workers returns content (`read`) as usual. Files are opened with O_NOFOLLOW. Never
   * rejects for a single file: fs errors come back per file.
   * @throws ClawbackError 'INTERNAL' if the worker failed.
   */
  hashFiles(paths: string[], hints: number[], chunker?: Chunker, prev?: (readonly BlobId[] | null)[], seal = false): Promise<HashedFile[]> {
    if (this.failed) return Promise.reject(this.failed);
    const cdc = chunker && this.cdcSpec(chunker);
    if (this.workers.length === 0) return Promise.resolve(paths.map((p, i) => this.hashFileHere(p, hints[i]!, cdc ? chunker : undefined, prev?.[i] ?? null)));
    return new Promise<HashedFile[]>((resolve, reject) => {
      this.post({ kind: 'read', paths, hints, cdc, prev, seal }, [], {
        fail: reject,
        answer: (m) => {
          if (!m.buf || !m.files || m.files.length !== paths.length) return reject(new ClawbackError('INTERNAL', 'blob worker answered a read with the wrong number of files'));
          const out = Buffer.from(m.buf);
          resolve(
            m.files.map((f): HashedFile => {
              if ('grew' in f) return { kind: 'grew' };
              if ('same' in f) return { kind: 'same', length: f.length };
              if ('ids' in f && f.sealed) {
                const envelopes: Buffer[] = [];
                let at = f.offset;
                for (const n of f.sealed) {
                  envelopes.push(out.subarray(at, at + n));
                  at += n;
                }
                return { kind: 'sealed', size: f.length, envelopes, lengths: f.lens, ids: f.ids };
              }
              if ('ids' in f) return { kind: 'read', data: out.subarray(f.offset, f.offset + f.length), lengths: f.lens, ids: f.ids };
              return { kind: 'error', code: f.code, message: f.message };
            }),
          );
        },
      });
    });
  }

  /** FastCDC constants per chunker, computed once (sent with every read message). */
  private readonly specs = new WeakMap<Chunker, FastCdcSpec | null>();

  private cdcSpec(chunker: Chunker): FastCdcSpec | undefined {
    let spec = this.specs.get(chunker);
    if (spec === undefined) {
      spec = fastCdcSpec(chunker) ?? null;
      this.specs.set(chunker, spec);
    }
    return spec ?? undefined;
  }

  /** {@link hashFiles} of one file on the calling thread (a pool without workers). */
  private hashFileHere(path: string, hint: number, chunker: Chunker | undefined, prev: readonly BlobId[] | null): HashedFile {
    let fd: number | undefined;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      const buf = Buffer.allocUnsafe(hint + 1);
      let n = 0;
      for (;;) {
        const got = readSync(fd, buf, n, buf.length - n, null);
        if (got === 0) break;
        n += got;
        if (n === buf.length) return { kind: 'grew' };
      }
      const data = buf.subarray(0, n);
      const lengths = n === 0 ? [] : chunker ? [...chunkBuffer(chunker, data)] : [n];
      const ids: BlobId[] = [];
      let pos = 0;
      for (const len of lengths) {
        ids.push(blobId(this.hashKey, data.subarray(pos, pos + len)));
        pos += len;
      }
      if (n > 0 && prev && sameIds(ids, prev)) return { kind: 'same', length: n };
      return { kind: 'read', data, lengths, ids };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { kind: 'error', code: e.code, message: e.message };
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Computes the blob ids of chunks the caller cut, lying back to back at the start of
   * `window` (`lengths` bytes each), on a worker; with `seal`, seals them there too (as
   * {@link seal} does: the envelopes come back in order). `window` is transferred to the
   * worker and comes back in the answer, for the caller to reuse; the caller must not touch
   * it meanwhile. Requires workers (the archiver streams large files itself without them).
   * @throws ClawbackError 'INTERNAL' if the worker failed, or for a pool of 0 threads.
   */
  hashCut(window: ArrayBuffer, lengths: readonly number[], seal: boolean): Promise<{ ids: BlobId[]; window: ArrayBuffer; envelopes?: Buffer[] }> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length === 0) return Promise.reject(new ClawbackError('INTERNAL', 'hashCut needs blob workers'));
    return new Promise((resolve, reject) => {
      this.post({ kind: 'hashCut', buf: window, lengths, seal }, [window], {
        fail: reject,
        answer: (m) => {
          if (!m.ids || m.ids.length !== lengths.length || !m.window) return reject(new ClawbackError('INTERNAL', 'blob worker answered a hashCut with the wrong number of chunks'));
          if (!seal) return resolve({ ids: m.ids, window: m.window });
          if (!m.buf || !m.lengths || m.lengths.length !== lengths.length) return reject(new ClawbackError('INTERNAL', 'blob worker answered a sealed hashCut with the wrong number of blobs'));
          const out = Buffer.from(m.buf);
          let at = 0;
          resolve({ ids: m.ids, window: m.window, envelopes: m.lengths.map((n) => out.subarray(at, (at += n))) });
        },
      });
    });
  }

  /**
   * Compresses and encrypts `plaintext` into an envelope. Copies `plaintext` before it
   * returns, so the caller may reuse its buffer at once; does not modify it.
   */
  seal(plaintext: Uint8Array): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length === 0) return Promise.resolve(sealEnvelope(this.cipher, plaintext, this.level));
    const size = plaintext.byteLength;
    return new Promise<Buffer>((resolve, reject) => {
      if (size >= BATCH_BELOW) {
        const b = newBatch(size);
        b.buf.set(plaintext);
        b.lengths.push(size);
        b.jobs.push({ resolve, reject });
        b.bytes = size;
        this.send(b);
        return;
      }
      if (this.batch && this.batch.bytes + size > this.batch.buf.byteLength) {
        this.send(this.batch);
        this.batch = undefined;
      }
      if (!this.batch) {
        const b = newBatch(BATCH_BYTES, this.spare);
        this.spare = undefined;
        this.batch = b;
        setImmediate(() => {
          if (this.batch === b) {
            this.batch = undefined;
            this.send(b);
          }
        });
      }
      const b = this.batch;
      b.buf.set(plaintext, b.bytes);
      b.lengths.push(size);
      b.jobs.push({ resolve, reject });
      b.bytes += size;
      if (b.bytes >= BATCH_BYTES || b.jobs.length >= BATCH_ITEMS) {
        this.batch = undefined;
        this.send(b);
      }
    });
  }

  private send(b: Batch): void {
    // A well-filled batch buffer is transferred as is (the worker reads the first `bytes`).
    // A batch sent early (at the end of an event-loop turn) is copied out at its exact size
    // and its buffer kept for the next batch: otherwise every small batch would pin a whole
    // BATCH_BYTES buffer in the workers until their next garbage collection.
    let buf: ArrayBuffer;
    if (b.bytes * 2 >= b.buf.byteLength) {
      buf = b.buf.buffer as ArrayBuffer;
    } else {
      buf = (b.buf.buffer as ArrayBuffer).slice(0, b.bytes);
      if (b.buf.byteLength === BATCH_BYTES) this.spare = b.buf;
    }
    const jobs = b.jobs;
    this.post({ kind: 'seal', buf, lengths: b.lengths }, [buf], {
      fail: (err) => jobs.forEach((j) => j.reject(err)),
      answer: (m) => {
        if (!m.buf || !m.lengths || m.lengths.length !== jobs.length) {
          jobs.forEach((j) => j.reject(new ClawbackError('INTERNAL', 'blob worker answered a seal with the wrong number of blobs')));
          return;
        }
        const out = Buffer.from(m.buf);
        let pos = 0;
        jobs.forEach((job, k) => {
          const len = m.lengths![k]!;
          job.resolve(out.subarray(pos, pos + len));
          pos += len;
        });
      },
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
