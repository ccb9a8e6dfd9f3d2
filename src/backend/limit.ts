/**
 * {@link LimitBackend}: at most N backend calls in flight, the rest wait in FIFO order.
 *
 * `list` takes a slot per step of the inner iteration (one `next()` of the inner
 * iterator, i.e. at most one page request for S3), not for the whole listing, so a
 * consumer that loads files while iterating cannot deadlock itself.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';

/** Default concurrency (suits S3: four connections keep RGW/S3 busy without 503s). */
export const DEFAULT_CONCURRENCY = 4;

/** A counting semaphore whose waiters are served first come, first served. */
export class Semaphore {
  readonly #max: number;
  #active = 0;
  readonly #waiters: (() => void)[] = [];

  /**
   * @param max - number of holders at once, an integer ≥ 1.
   * @throws ClawbackError `INTERNAL` for a bad `max`.
   */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new ClawbackError('INTERNAL', `invalid concurrency ${max}: must be an integer >= 1`);
    }
    this.#max = max;
  }

  /** Holders right now. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves when a slot is held; pair with exactly one {@link release}. */
  acquire(): Promise<void> {
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Gives a slot back, handing it straight to the oldest waiter if any. */
  release(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) next();
    else this.#active--;
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Options of {@link LimitBackend}. */
export interface LimitOptions {
  /** Calls in flight at once. Default {@link DEFAULT_CONCURRENCY}. */
  concurrency?: number;
}

/** A {@link Backend} decorator that bounds concurrent calls (see the module comment). */
export class LimitBackend implements Backend {
  readonly location: string;
  readonly #inner: Backend;
  readonly #sem: Semaphore;

  /** @throws ClawbackError `INTERNAL` for a concurrency that is not an integer ≥ 1. */
  constructor(inner: Backend, options: LimitOptions = {}) {
    this.#inner = inner;
    this.location = inner.location;
    this.#sem = new Semaphore(options.concurrency ?? DEFAULT_CONCURRENCY);
  }

  /** Calls in flight right now. */
  get active(): number {
    return this.#sem.active;
  }

  /** Calls waiting for a slot right now. */
  get waiting(): number {
    return this.#sem.waiting;
  }

  /** Inner `create`, holding a slot. */
  create(): Promise<void> {
    return this.#sem.run(() => this.#inner.create());
  }

  /** Inner `isRepository`, holding a slot. */
  isRepository(): Promise<boolean> {
    return this.#sem.run(() => this.#inner.isRepository());
  }

  /** Inner `save`, holding a slot. */
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.#sem.run(() => this.#inner.save(h, data));
  }

  /** Inner `load`, holding a slot. */
  load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    return this.#sem.run(() => this.#inner.load(h, range));
  }

  /** Inner `stat`, holding a slot. */
  stat(h: Handle): Promise<FileInfo> {
    return this.#sem.run(() => this.#inner.stat(h));
  }

  /** Inner `list`; each inner `next()` holds a slot. */
  list(type: FileType): AsyncIterable<FileInfo> {
    return this.#limited(() => this.#inner.list(type));
  }

  /** Inner `listTempFiles`; each inner `next()` holds a slot. */
  listTempFiles(): AsyncIterable<TempFileInfo> {
    return this.#limited(() => this.#inner.listTempFiles());
  }

  /** Yields what `start()` yields (called on the first `next()`), each inner `next()` holding a slot. */
  async *#limited<T>(start: () => AsyncIterable<T>): AsyncIterable<T> {
    const it = start()[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await this.#sem.run(() => it.next());
        if (r.done === true) return;
        yield r.value;
      }
    } finally {
      await it.return?.().catch(() => undefined);
    }
  }

  /** Inner `remove`, holding a slot. */
  remove(h: Handle): Promise<void> {
    return this.#sem.run(() => this.#inner.remove(h));
  }

  /** Inner `removeTempFile`, holding a slot. */
  removeTempFile(path: string): Promise<void> {
    return this.#sem.run(() => this.#inner.removeTempFile(path));
  }

  /** Closes the inner backend (no slot: it must not wait behind hung calls). */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
