/**
 * {@link RetryBackend}: retries transient backend failures with exponential backoff and
 * full jitter (delay before retry k, k = 1, 2, … is uniform in
 * `[0, min(capMs, baseMs · 2^(k-1)))`), after the AWS architecture blog's "Exponential
 * Backoff And Jitter".
 *
 * Only errors with `retryable === true` (normally `BACKEND_TRANSIENT`) are retried; 4xx,
 * `BLOB_NOT_FOUND`, `ALREADY_EXISTS`, `BACKEND`, `INTERNAL`… are thrown at once.
 *
 * An ambiguous `save` (an attempt failed transiently, so it may or may not have stored the
 * file) that then meets `ALREADY_EXISTS` loads the stored file: equal bytes mean our
 * earlier attempt landed, and the save succeeds; different bytes rethrow `ALREADY_EXISTS`.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';

/** What {@link RetryOptions.onRetry} is told before each wait. */
export interface RetryEvent {
  /** The operation: `save`, `load`, `stat`, `list`, `remove`, `create`, `isRepository`, `listTempFiles`, `removeTempFile`. */
  op: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** The wait before the next attempt, in milliseconds. */
  delayMs: number;
  /** The error of the failed attempt. */
  error: unknown;
}

/** Options of {@link RetryBackend}; all optional. */
export interface RetryOptions {
  /** Total attempts per call, including the first. Default 6. Must be ≥ 1. */
  attempts?: number;
  /** Base delay in milliseconds. Default 100. */
  baseMs?: number;
  /** Maximum delay in milliseconds. Default 5000. */
  capMs?: number;
  /**
   * Waits `ms` milliseconds; rejects (with any error) when `signal` aborts. Default: a
   * `setTimeout` that rejects with `ABORTED`. Tests inject an instant one.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform random number in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Stops retrying (throws `ABORTED`) once aborted; also cuts a running wait short. */
  signal?: AbortSignal;
  /** Called before each wait (logging, progress). */
  onRetry?: (event: RetryEvent) => void;
}

/** Default total attempts per call. */
export const DEFAULT_ATTEMPTS = 6;
/** Default base delay, milliseconds. */
export const DEFAULT_BASE_MS = 100;
/** Default maximum delay, milliseconds. */
export const DEFAULT_CAP_MS = 5000;

/**
 * Waits `ms` milliseconds.
 *
 * @throws ClawbackError `ABORTED` when `signal` is or becomes aborted.
 */
export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = (): ClawbackError => new ClawbackError('ABORTED', 'operation interrupted');
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(aborted());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True when `err` may go away if the same call is made again. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ClawbackError && err.retryable;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** A {@link Backend} decorator that retries transient failures (see the module comment). */
export class RetryBackend implements Backend {
  readonly location: string;
  readonly #inner: Backend;
  readonly #attempts: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #signal: AbortSignal | undefined;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;

  /**
   * @throws ClawbackError `INTERNAL` when `attempts` is not an integer ≥ 1 or a delay is negative.
   */
  constructor(inner: Backend, options: RetryOptions = {}) {
    this.#inner = inner;
    this.location = inner.location;
    this.#attempts = options.attempts ?? DEFAULT_ATTEMPTS;
    this.#baseMs = options.baseMs ?? DEFAULT_BASE_MS;
    this.#capMs = options.capMs ?? DEFAULT_CAP_MS;
    if (!Number.isInteger(this.#attempts) || this.#attempts < 1 || !(this.#baseMs >= 0) || !(this.#capMs >= 0)) {
      throw new ClawbackError('INTERNAL', `invalid retry options: attempts ${this.#attempts}, baseMs ${this.#baseMs}, capMs ${this.#capMs}`);
    }
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#signal = options.signal;
    this.#onRetry = options.onRetry;
  }

  /** The wait before the retry that follows failed attempt `attempt` (from 1), in ms. */
  delayFor(attempt: number): number {
    const ceiling = Math.min(this.#capMs, this.#baseMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * ceiling);
  }

  #checkAbort(): void {
    if (this.#signal?.aborted) throw new ClawbackError('ABORTED', 'operation interrupted');
  }

  /**
   * Runs `fn` until it succeeds, throws a non-retryable error, or attempts run out (then
   * the last error is thrown). `onRetry` sees each retried failure.
   */
  async #run<T>(op: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#checkAbort();
      try {
        return await fn(attempt);
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.#attempts) throw err;
        const delayMs = this.delayFor(attempt);
        this.#onRetry?.({ op, attempt, delayMs, error: err });
        await this.#sleep(delayMs, this.#signal);
      }
    }
  }

  /** Retries the inner `create`. */
  create(): Promise<void> {
    return this.#run('create', () => this.#inner.create());
  }

  /** Retries the inner `isRepository`. */
  isRepository(): Promise<boolean> {
    return this.#run('isRepository', () => this.#inner.isRepository());
  }

  /**
   * Retries the inner `save`. After a transient failure, an `ALREADY_EXISTS` is checked
   * against the stored bytes (see the module comment).
   *
   * @throws ClawbackError `ALREADY_EXISTS` when the file exists with other bytes (or existed
   *   before the first attempt); the last transient error when attempts run out; any
   *   permanent error at once.
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    let ambiguous = false;
    await this.#run('save', async () => {
      try {
        await this.#inner.save(h, data);
      } catch (err) {
        if (isRetryable(err)) {
          ambiguous = true;
          throw err;
        }
        if (!ambiguous || !(err instanceof ClawbackError) || err.code !== 'ALREADY_EXISTS') throw err;
        let stored: Uint8Array;
        try {
          stored = await this.load(h);
        } catch {
          throw err;
        }
        if (!sameBytes(stored, data)) throw err;
      }
    });
  }

  /** Retries the inner `load`. */
  load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    return this.#run('load', () => this.#inner.load(h, range));
  }

  /** Retries the inner `stat`. */
  stat(h: Handle): Promise<FileInfo> {
    return this.#run('stat', () => this.#inner.stat(h));
  }

  /**
   * Lists through the inner backend. When a page fails transiently the listing is
   * restarted, skipping names already yielded (so each name is yielded once); the attempt
   * budget counts failures since the last newly yielded name, so a listing that keeps
   * failing at the same place gives up after `attempts` tries.
   */
  list(type: FileType): AsyncIterable<FileInfo> {
    return this.#listing('list', () => this.#inner.list(type), (f) => f.name);
  }

  /** Lists the inner backend's temp files, restarting on transient failures like {@link list}. */
  listTempFiles(): AsyncIterable<TempFileInfo> {
    return this.#listing('listTempFiles', () => this.#inner.listTempFiles(), (f) => f.path);
  }

  /** The restarting listing behind {@link list}; `key` tells items already yielded. */
  async *#listing<T>(op: string, start: () => AsyncIterable<T>, key: (item: T) => string): AsyncIterable<T> {
    const seen = new Set<string>();
    let failures = 0;
    for (;;) {
      this.#checkAbort();
      const it = start()[Symbol.asyncIterator]();
      try {
        for (;;) {
          const r = await it.next();
          if (r.done === true) return;
          const k = key(r.value);
          if (seen.has(k)) continue;
          seen.add(k);
          failures = 0;
          yield r.value;
        }
      } catch (err) {
        failures++;
        if (!isRetryable(err) || failures >= this.#attempts) throw err;
        const delayMs = this.delayFor(failures);
        this.#onRetry?.({ op, attempt: failures, delayMs, error: err });
        await this.#sleep(delayMs, this.#signal);
      } finally {
        // Ends the inner iteration when the consumer stops early (break/return).
        await it.return?.().catch(() => undefined);
      }
    }
  }

  /** Retries the inner `remove` (idempotent, so always safe to repeat). */
  remove(h: Handle): Promise<void> {
    return this.#run('remove', () => this.#inner.remove(h));
  }

  /** Retries the inner `removeTempFile` (idempotent too). */
  removeTempFile(path: string): Promise<void> {
    return this.#run('removeTempFile', () => this.#inner.removeTempFile(path));
  }

  /** Closes the inner backend (not retried). */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
