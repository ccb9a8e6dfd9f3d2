/**
 * A pool of worker threads that open stored blobs — decrypt (AES-256-GCM), decompress
 * (zstd) and re-check the keyed BLAKE3 id, exactly as {@link Repository.openBlob} does — and
 * hand each verified plaintext to a caller-supplied *task handler* running in the same
 * worker (the restorer's handler writes it straight into a file). Plaintext never has to
 * come back to the main thread, and the handler can use synchronous system calls, which in
 * a worker cost a fraction of the main thread's asynchronous ones.
 *
 * The handler never sees stored bytes: it gets `blobs.open(i)`, which returns the i-th
 * blob's plaintext only after its id was verified, or throws an `INTEGRITY` error naming
 * the pack and the blob (`details: {pack, blob}`). The plaintext may live in a buffer the
 * worker reuses: it is valid until the next `open` call (copy it to keep it).
 *
 * Handler contract (`handlerSource`): a JavaScript expression (not TypeScript) evaluated
 * once per worker, with `require` in scope, whose value has a method
 * `handle(data, blobs)`; `blobs` is `{count, open(i)}`. `handle` runs synchronously; its
 * return value (structured-cloneable) resolves the task, and what it throws rejects it:
 * errors created with `integrityError(message, details)` (in scope) become
 * {@link ClawbackError} `INTEGRITY`, others an `Error` carrying the original `code`,
 * `syscall`, `path` and `errno` (like Node's own system errors).
 *
 * Like the seal pool, the worker is inline JavaScript (run with `eval`), so the same code
 * runs from the TypeScript sources (tsx, vitest) and from the compiled package;
 * test/repository/open-pool.test.ts checks it against {@link Repository.openBlob}.
 * Tasks are batched (many small ones per message), and the stored bytes of a batch are
 * copied into one transferred buffer.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { hashNativePath } from '../crypto/hash.js';
import { ClawbackError, type ErrorCode } from '../errors.js';
import type { BlobLocation } from '../index/cache.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const { DCtx } = require(workerData.zstdPath);
const { Blake3Hasher } = require(workerData.blake3Path);
const key = workerData.key ? Buffer.from(workerData.key) : null;
const hasher = Blake3Hasher.newKeyed(Buffer.from(workerData.hashKey));
let dctx = new DCtx();
// Decompression target, reused: a plaintext is valid until the next open (see the module comment).
let scratch = Buffer.allocUnsafe(1 << 20);
function integrityError(message, details) {
  const err = new Error(message);
  err.clawbackCode = 'INTEGRITY';
  err.details = details || {};
  return err;
}
function openBlob(stored, b) {
  const what = 'pack ' + b.packId.slice(0, 8) + ', blob ' + b.id.slice(0, 8);
  const details = { pack: b.packId, blob: b.id };
  const fail = (m) => integrityError(what + ': ' + m, details);
  if (stored.length !== b.expected) throw fail('truncated (' + stored.length + ' of ' + b.expected + ' bytes)');
  let body = stored;
  if (key) {
    if (stored.length < 28) throw fail('encrypted data is truncated (' + stored.length + ' bytes)');
    try {
      const d = createDecipheriv('aes-256-gcm', key, stored.subarray(0, 12));
      d.setAuthTag(stored.subarray(stored.length - 16));
      const head = d.update(stored.subarray(12, stored.length - 16));
      const tail = d.final();
      body = tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (cause) {
      throw fail('authentication failed (data damaged or wrong key)');
    }
  }
  if (body.length < 1) throw fail('empty envelope');
  const codec = body[0];
  const payload = body.subarray(1);
  let plain;
  if (codec === 0) {
    if (payload.length !== b.rawLength) throw fail('length ' + payload.length + ' does not match the expected ' + b.rawLength);
    plain = payload;
  } else if (codec === 1) {
    if (scratch.length < b.rawLength + 1) scratch = Buffer.allocUnsafe(Math.max(b.rawLength + 1, 2 * scratch.length));
    const dst = scratch.subarray(0, b.rawLength + 1);
    let n;
    try {
      n = dctx.decompress(dst, payload);
    } catch (cause) {
      dctx = new DCtx();
      throw fail('zstd data is damaged');
    }
    if (n !== b.rawLength) throw fail('decompressed to ' + n + ' bytes, expected ' + b.rawLength);
    plain = dst.subarray(0, n);
  } else {
    throw fail('unknown codec ' + codec);
  }
  hasher.reset();
  const id = hasher.update(plain).digest('hex');
  if (id !== b.id) throw fail('content does not match its id');
  return plain;
}
function serialize(err) {
  if (!err || typeof err !== 'object') return { message: String(err) };
  return { message: String(err.message), clawbackCode: err.clawbackCode, details: err.details, code: err.code, syscall: err.syscall, path: err.path, errno: err.errno };
}
const handler = (HANDLER_SOURCE);
parentPort.on('message', (msg) => {
  const buf = msg.buffer ? Buffer.from(msg.buffer) : Buffer.alloc(0);
  const results = new Array(msg.tasks.length);
  for (let k = 0; k < msg.tasks.length; k++) {
    const t = msg.tasks[k];
    const blobs = { count: t.blobs.length, open: (i) => { const b = t.blobs[i]; return openBlob(buf.subarray(b.at, b.at + b.length), b); } };
    try {
      results[k] = { value: handler.handle(t.data, blobs) };
    } catch (err) {
      results[k] = { error: serialize(err) };
    }
  }
  // The buffer goes back to be reused: freeing it here would wait for this thread's GC.
  parentPort.postMessage({ seq: msg.seq, results, buffer: msg.buffer }, msg.buffer ? [msg.buffer] : []);
});
`;

/** One unit of work: handler input plus the stored blobs it may open, in order. */
export interface OpenTask {
  /** Passed to the handler as `data` (structured-cloneable). */
  data: unknown;
  /** Stored blobs (views are copied at send time) with their locations. */
  blobs: { loc: BlobLocation; stored: Uint8Array }[];
  /** Relative cost for load balancing (default: 1 + stored bytes / 32 KiB). */
  cost?: number;
}

/** Receives a task's outcome: the error it failed with, or its value. */
export type TaskCallback = (err: Error | undefined, value?: unknown) => void;

interface Pending {
  done: TaskCallback;
  cost: number;
}

interface Batch {
  tasks: OpenTask[];
  pending: Pending[];
  bytes: number;
}

interface SerializedError {
  message: string;
  clawbackCode?: ErrorCode;
  details?: Record<string, unknown>;
  code?: string;
  syscall?: string;
  path?: string;
  errno?: number;
}

/** Tasks whose stored bytes are below this many bytes go in shared batches. */
const BATCH_BELOW = 256 * 1024;
/** A batch is sent when it holds this many bytes or tasks, or at the next turn of the event loop. */
const BATCH_BYTES = 1 << 20;
const BATCH_TASKS = 128;

function revive(e: SerializedError): Error {
  if (e.clawbackCode) return new ClawbackError(e.clawbackCode, e.message, { details: e.details ?? {} });
  const err = new Error(e.message) as NodeJS.ErrnoException;
  if (e.code !== undefined) err.code = e.code;
  if (e.syscall !== undefined) err.syscall = e.syscall;
  if (e.path !== undefined) err.path = e.path;
  if (e.errno !== undefined) err.errno = e.errno;
  return err;
}

/**
 * Transfer buffers, reused: a buffer comes back with the worker's answer. Allocating a new
 * one per message would leave the freeing to the workers' garbage collectors, which run
 * late, and the process would hold far more memory than is in flight.
 */
class BufferPool {
  /** Free buffers by capacity. */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;

  /** A buffer of at least `bytes` bytes. */
  take(bytes: number): ArrayBuffer {
    const cap = capacityFor(bytes);
    const b = this.free.get(cap)?.pop();
    if (!b) return new ArrayBuffer(cap);
    this.freeBytes -= cap;
    return b;
  }

  /** Keeps `b` for reuse (up to {@link MAX_FREE_BYTES} bytes of free buffers). */
  give(b: ArrayBuffer | undefined): void {
    if (!b || b.byteLength !== capacityFor(b.byteLength) || this.freeBytes + b.byteLength > MAX_FREE_BYTES) return;
    let list = this.free.get(b.byteLength);
    if (!list) this.free.set(b.byteLength, (list = []));
    list.push(b);
    this.freeBytes += b.byteLength;
  }
}

/** V8 young generation of a worker, MiB. */
const WORKER_YOUNG_GENERATION_MB = 4;

/** Free transfer buffers kept at most, bytes. */
const MAX_FREE_BYTES = 8 << 20;
/** Smallest transfer buffer, bytes. */
const MIN_CAPACITY = 64 * 1024;

/** Buffer capacities: powers of two from MIN_CAPACITY (at most twice what is needed). */
function capacityFor(bytes: number): number {
  let cap = MIN_CAPACITY;
  while (cap < bytes) cap *= 2;
  return cap;
}

/** Options of {@link OpenPool}. */
export interface OpenPoolOptions {
  /** The AES-256-GCM key, or undefined for an unencrypted repository. */
  encryptKey: Uint8Array | undefined;
  /** The 32-byte BLAKE3 key of blob ids. */
  hashKey: Uint8Array;
  /** The task handler (see the module comment). */
  handlerSource: string;
  /** Worker threads (default: one per core; at least 1). */
  threads?: number | undefined;
}

/** Opens blobs and runs a task handler on worker threads. Call {@link close} when done. */
export class OpenPool {
  private readonly workers: Worker[] = [];
  private readonly batches: (Batch | undefined)[] = [];
  private readonly inFlight = new Map<number, { worker: number; pending: Pending[] }>();
  private readonly load: number[] = [];
  private seq = 0;
  private readonly buffers = new BufferPool();
  private failed: Error | undefined;
  private closing = false;

  constructor(o: OpenPoolOptions) {
    const threads = Math.max(1, o.threads ?? availableParallelism());
    const req = createRequire(import.meta.url);
    const workerData = {
      zstdPath: req.resolve('zstd-napi/binding.js'),
      blake3Path: hashNativePath(),
      key: o.encryptKey ? Buffer.from(o.encryptKey) : null,
      hashKey: Buffer.from(o.hashKey),
    };
    const source = WORKER_SOURCE.replace('HANDLER_SOURCE', () => o.handlerSource);
    for (let i = 0; i < threads; i++) {
      // A small young generation: nearly everything a worker allocates dies at once, and
      // frequent cheap scavenges keep its memory (and the decrypted buffers) small.
      const w = new Worker(source, { eval: true, workerData, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
      w.on('message', (m: { seq: number; results: { value?: unknown; error?: SerializedError }[]; buffer?: ArrayBuffer }) => this.settle(m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`exited with code ${code}`));
      });
      this.workers.push(w);
      this.batches.push(undefined);
      this.load.push(0);
    }
  }

  /** Number of worker threads. */
  get size(): number {
    return this.workers.length;
  }

  /** Outstanding work of worker `i` (sum of the costs of its unfinished tasks). */
  loadOf(i: number): number {
    return this.load[i] ?? 0;
  }

  /** The worker with the least outstanding work. */
  leastLoaded(): number {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    return best;
  }

  /**
   * Sends every open batch now. Until its batch is sent, a submitted task's blobs are
   * views of the caller's buffer; after `flush` (or once `submit` of a task of at least
   * {@link BATCH_BELOW} bytes returns) they are copied, and the caller may reuse it.
   */
  flush(): void {
    for (let i = 0; i < this.batches.length; i++) {
      const open = this.batches[i];
      if (!open) continue;
      this.batches[i] = undefined;
      this.send(i, open);
    }
  }

  /**
   * Runs `task` on worker `worker` (tasks sent to one worker run in submission order).
   * @returns the handler's return value.
   * @throws what the handler threw (see the module comment); ClawbackError 'INTERNAL' if
   *   a worker crashed.
   */
  run(worker: number, task: OpenTask): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => this.submit(worker, task, (err, value) => (err ? reject(err) : resolve(value))));
  }

  /**
   * {@link run} with a callback (no promise per task): `done` is called once, later, with
   * what the handler threw or returned.
   */
  submit(worker: number, task: OpenTask, done: TaskCallback): void {
    if (this.failed) {
      const err = this.failed;
      queueMicrotask(() => done(err));
      return;
    }
    let bytes = 0;
    for (const b of task.blobs) bytes += b.stored.byteLength;
    const cost = task.cost ?? 1 + bytes / 32768;
    const pending: Pending = { done, cost };
    this.load[worker]! += cost;
    if (bytes >= BATCH_BELOW) {
      // Tasks reach a worker in submission order: the open batch goes first.
      const open = this.batches[worker];
      if (open) {
        this.batches[worker] = undefined;
        this.send(worker, open);
      }
      this.send(worker, { tasks: [task], pending: [pending], bytes });
      return;
    }
    let b = this.batches[worker];
    if (!b) {
      const nb: Batch = { tasks: [], pending: [], bytes: 0 };
      b = nb;
      this.batches[worker] = nb;
      setImmediate(() => {
        if (this.batches[worker] === nb) {
          this.batches[worker] = undefined;
          this.send(worker, nb);
        }
      });
    }
    b.tasks.push(task);
    b.pending.push(pending);
    b.bytes += bytes;
    if (b.bytes >= BATCH_BYTES || b.tasks.length >= BATCH_TASKS) {
      this.batches[worker] = undefined;
      this.send(worker, b);
    }
  }

  private send(worker: number, b: Batch): void {
    // Tasks without blobs (directories, symlinks, cancels) need no buffer.
    const buffer = b.bytes > 0 ? this.buffers.take(b.bytes) : undefined;
    const view = new Uint8Array(buffer ?? new ArrayBuffer(0));
    let at = 0;
    const tasks = b.tasks.map((t) => ({
      data: t.data,
      blobs: t.blobs.map(({ loc, stored }) => {
        view.set(stored, at);
        // `length` is what was read: a short read is reported by the worker as truncated.
        const ref = { at, length: stored.byteLength, expected: loc.length, id: loc.id, packId: loc.packId, rawLength: loc.rawLength };
        at += stored.byteLength;
        return ref;
      }),
    }));
    const seq = this.seq++;
    this.inFlight.set(seq, { worker, pending: b.pending });
    this.workers[worker]!.postMessage({ seq, tasks, buffer }, buffer ? [buffer] : []);
  }

  private settle(m: { seq: number; results: { value?: unknown; error?: SerializedError }[]; buffer?: ArrayBuffer }): void {
    this.buffers.give(m.buffer);
    const sent = this.inFlight.get(m.seq);
    if (!sent) return;
    this.inFlight.delete(m.seq);
    sent.pending.forEach((p, k) => {
      this.load[sent.worker]! -= p.cost;
      const r = m.results[k];
      if (r?.error) p.done(revive(r.error));
      else p.done(undefined, r?.value);
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = new ClawbackError('INTERNAL', `blob worker crashed: ${err.message}`, { cause: err });
    const failed = this.failed;
    for (const sent of this.inFlight.values()) for (const p of sent.pending) p.done(failed);
    this.inFlight.clear();
    for (let i = 0; i < this.batches.length; i++) {
      for (const p of this.batches[i]?.pending ?? []) p.done(failed);
      this.batches[i] = undefined;
    }
  }

  /** Stops the workers; tasks still running are abandoned. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
