/**
 * {@link FaultBackend}: a decorator FOR TESTS that injects failures into another backend:
 * failing the n-th call of an operation (before or after it took effect), corrupting or
 * truncating loaded bytes, hanging calls until released, and counting calls. It lives in
 * `src/` so crash and recovery tests of every module can use it; production code never
 * constructs it.
 *
 * ```ts
 * const fb = new FaultBackend(new MemoryBackend());
 * fb.failNth('save', 2, transientError());              // the 2nd save from now fails
 * fb.failNth('save', 1, transientError(), { after: true }); // stored, but the reply is lost
 * fb.flipBitOnLoad((h) => h.type === 'index');
 * ```
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from './backend.js';

/** The operations faults can target. */
export type FaultOp = 'save' | 'load' | 'remove' | 'list' | 'stat';

/** All {@link FaultOp}s. */
export const FAULT_OPS: readonly FaultOp[] = ['save', 'load', 'remove', 'list', 'stat'];

/** Options of {@link FaultBackend.failNth}. */
export interface FailOptions {
  /**
   * Run the inner operation first and throw only afterwards, as when a request reaches
   * the server but the reply is lost (an "ambiguous" failure). Default false: the inner
   * backend is not called. For `list`, the whole listing is consumed first.
   */
  after?: boolean;
  /** Fail this many consecutive calls, starting at the n-th. Default 1. */
  times?: number;
  /** `list` only: yield this many files before throwing. Default 0. */
  afterItems?: number;
}

/** Options of {@link FaultBackend.hang}. */
export interface HangOptions {
  /** When aborted, the hung call rejects with `ABORTED` (without calling the inner backend). */
  signal?: AbortSignal;
}

/** Which files a load fault applies to; `range` is the range asked for. */
export type LoadPredicate = (h: Handle, range: LoadRange | undefined) => boolean;

interface FailRule {
  op: FaultOp;
  /** Absolute 1-based call numbers [from, to] that fail. */
  from: number;
  to: number;
  error: Error;
  after: boolean;
  afterItems: number;
}

interface HangRule {
  op: FaultOp;
  at: number;
  signal: AbortSignal | undefined;
}

interface LoadRule {
  predicate: LoadPredicate;
  kind: 'flip' | 'truncate';
  /** flip: bit index (undefined = middle bit); truncate: bytes kept. */
  arg: number | undefined;
}

/** A `BACKEND_TRANSIENT` error for {@link FaultBackend.failNth} (what a 503 or reset maps to). */
export function transientError(message = 'injected transient failure'): ClawbackError {
  return new ClawbackError('BACKEND_TRANSIENT', message, { details: { injected: true } });
}

/** A permanent `BACKEND` error shaped like a full disk (errno `ENOSPC`). */
export function noSpaceError(path = '<injected>'): ClawbackError {
  return new ClawbackError('BACKEND', `cannot save ${path}: no space left on device (ENOSPC)`, {
    details: { path, errno: 'ENOSPC', injected: true },
  });
}

/** A fault-injecting {@link Backend} decorator; see the module comment. */
export class FaultBackend implements Backend {
  readonly location: string;
  readonly #inner: Backend;
  readonly #calls: Record<FaultOp, number> = { save: 0, load: 0, remove: 0, list: 0, stat: 0 };
  #fails: FailRule[] = [];
  #hangs: HangRule[] = [];
  #loads: LoadRule[] = [];
  #released: (() => void)[] = [];
  #hangWaiters: (() => void)[] = [];

  constructor(inner: Backend) {
    this.#inner = inner;
    this.location = inner.location;
  }

  /** The decorated backend (to inspect or prepare state behind the faults). */
  get inner(): Backend {
    return this.#inner;
  }

  /** Calls made so far per operation, including failed and hung ones (a copy). */
  get calls(): Readonly<Record<FaultOp, number>> {
    return { ...this.#calls };
  }

  /** Calls hanging right now. */
  get hanging(): number {
    return this.#released.length;
  }

  /**
   * Makes the `n`-th call of `op` counted from now (1 = the next call) throw `error`;
   * see {@link FailOptions} for "after the fact" failures and repeats.
   *
   * @throws ClawbackError `INTERNAL` when `n` or `times` is not an integer ≥ 1.
   */
  failNth(op: FaultOp, n: number, error: Error, options: FailOptions = {}): this {
    const times = options.times ?? 1;
    if (!Number.isInteger(n) || n < 1 || !Number.isInteger(times) || times < 1) {
      throw new ClawbackError('INTERNAL', `failNth: n (${n}) and times (${times}) must be integers >= 1`);
    }
    const from = this.#calls[op] + n;
    this.#fails.push({ op, from, to: from + times - 1, error, after: options.after ?? false, afterItems: options.afterItems ?? 0 });
    return this;
  }

  /**
   * Flips one bit of the bytes returned by every `load` that `predicate` accepts: bit
   * `bit` (0 = lowest bit of the first byte; default the middle bit) of the returned
   * range, if the range has that bit. The stored file is not changed.
   */
  flipBitOnLoad(predicate: LoadPredicate, bit?: number): this {
    this.#loads.push({ predicate, kind: 'flip', arg: bit });
    return this;
  }

  /**
   * Returns only the first `bytes` bytes of every `load` that `predicate` accepts (as if
   * the file or the transfer had been cut short). The stored file is not changed.
   */
  truncateOnLoad(predicate: LoadPredicate, bytes: number): this {
    this.#loads.push({ predicate, kind: 'truncate', arg: bytes });
    return this;
  }

  /**
   * Makes the `n`-th call of `op` from now hang: it neither resolves nor calls the inner
   * backend until {@link release} (then it proceeds normally) or until `options.signal`
   * aborts (then it rejects with `ABORTED`).
   *
   * @throws ClawbackError `INTERNAL` when `n` is not an integer ≥ 1.
   */
  hang(op: FaultOp, n: number, options: HangOptions = {}): this {
    if (!Number.isInteger(n) || n < 1) throw new ClawbackError('INTERNAL', `hang: n (${n}) must be an integer >= 1`);
    this.#hangs.push({ op, at: this.#calls[op] + n, signal: options.signal });
    return this;
  }

  /** Lets every call hanging now proceed to the inner backend. */
  release(): void {
    const rs = this.#released;
    this.#released = [];
    for (const r of rs) r();
  }

  /** Resolves once at least one call is hanging (at once if one is). */
  waitForHang(): Promise<void> {
    if (this.#released.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#hangWaiters.push(resolve));
  }

  /** Removes all pending faults (counters and hanging calls stay). */
  clearFaults(): this {
    this.#fails = [];
    this.#hangs = [];
    this.#loads = [];
    return this;
  }

  /** Counts the call and applies hang and fail rules; returns the failure to throw, if any. */
  async #enter(op: FaultOp): Promise<FailRule | undefined> {
    const k = ++this.#calls[op];
    const hang = this.#hangs.find((r) => r.op === op && r.at === k);
    if (hang !== undefined) await this.#waitRelease(hang.signal);
    return this.#fails.find((r) => r.op === op && r.from <= k && k <= r.to);
  }

  #waitRelease(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const aborted = (): ClawbackError => new ClawbackError('ABORTED', 'operation interrupted');
      if (signal?.aborted) {
        reject(aborted());
        return;
      }
      const onAbort = (): void => {
        this.#released = this.#released.filter((r) => r !== done);
        reject(aborted());
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#released.push(done);
      const ws = this.#hangWaiters;
      this.#hangWaiters = [];
      for (const w of ws) w();
    });
  }

  async #wrap<T>(op: FaultOp, fn: () => Promise<T>): Promise<T> {
    const rule = await this.#enter(op);
    if (rule === undefined) return fn();
    if (rule.after) await fn();
    throw rule.error;
  }

  /** Inner `create` (never faulted). */
  create(): Promise<void> {
    return this.#inner.create();
  }

  /** Inner `isRepository` (never faulted). */
  isRepository(): Promise<boolean> {
    return this.#inner.isRepository();
  }

  /** Inner `save`, subject to `save` faults. */
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.#wrap('save', () => this.#inner.save(h, data));
  }

  /** Inner `load`, subject to `load` faults and the load rules. */
  async load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    let out = await this.#wrap('load', () => this.#inner.load(h, range));
    for (const rule of this.#loads) {
      if (!rule.predicate(h, range)) continue;
      if (rule.kind === 'truncate') {
        out = out.slice(0, Math.max(0, rule.arg ?? 0));
      } else {
        const bit = rule.arg ?? Math.floor((out.length * 8) / 2);
        const byte = bit >> 3;
        if (byte < out.length) {
          out = out.slice();
          out[byte] = (out[byte] ?? 0) ^ (1 << (bit & 7));
        }
      }
    }
    return out;
  }

  /** Inner `stat`, subject to `stat` faults. */
  stat(h: Handle): Promise<FileInfo> {
    return this.#wrap('stat', () => this.#inner.stat(h));
  }

  /** Inner `list`, subject to `list` faults (thrown from the first `next()`, or later with `afterItems`). */
  async *list(type: FileType): AsyncIterable<FileInfo> {
    const rule = await this.#enter('list');
    if (rule === undefined) {
      yield* this.#inner.list(type);
      return;
    }
    const items: FileInfo[] = [];
    if (rule.after || rule.afterItems > 0) {
      for await (const f of this.#inner.list(type)) items.push(f);
    }
    yield* items.slice(0, rule.afterItems);
    throw rule.error;
  }

  /** Inner `remove`, subject to `remove` faults. */
  remove(h: Handle): Promise<void> {
    return this.#wrap('remove', () => this.#inner.remove(h));
  }

  /** Inner `listTempFiles` (never faulted). */
  listTempFiles(): AsyncIterable<TempFileInfo> {
    return this.#inner.listTempFiles();
  }

  /** Inner `removeTempFile` (never faulted). */
  removeTempFile(path: string): Promise<void> {
    return this.#inner.removeTempFile(path);
  }

  /** Closes the inner backend. */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
