/**
 * Opening every blob of whole packs — decrypt (AES-256-GCM), decompress (zstd) and re-hash
 * (keyed BLAKE3) — to find the damaged ones: the CPU-heavy part of `verify --read-data`
 * and of gc's repacking. {@link createPackOpener} does it on worker threads (one pack per
 * message, the pack's memory moved to the worker and back, never copied), or on the
 * calling thread through `Repository.openBlob` when asked for no threads.
 *
 * The worker is inline JavaScript (run with `eval`, as in src/repository/seal-pool.ts) so
 * the same code runs from the TypeScript sources and the compiled package. It accepts a
 * blob exactly when `Repository.openBlob` does (docs/FORMAT.md §5–6): stored length equal
 * to the indexed length; the envelope authenticates (encrypted repositories); codec 0 with
 * a payload of exactly the raw length, or codec 1 with zstd data that expands to exactly
 * the raw length; and the keyed BLAKE3 of the plaintext equals the id. It reports only
 * *which* blobs fail; callers re-open those through `Repository.openBlob` for the message.
 * test/checker/open-pool.test.ts checks that both paths agree on every kind of damage.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { hashNativePath } from '../crypto/hash.js';
import { ClawbackError, isClawbackError } from '../errors.js';
import type { FileId } from '../ids.js';
import { INDEX_RECORD_BYTES as R, RECORD_ID_OFFSET as ID } from '../index/format.js';
import type { Repository } from '../repository/repository.js';

const WORKER_SOURCE = `
const { parentPort, workerData, MessageChannel } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const { DCtx } = require(workerData.zstdPath);
const { Blake3Hasher } = require(workerData.blakePath);
const key = workerData.key ? Buffer.from(workerData.key) : null;
const hasher = Blake3Hasher.newKeyed(Buffer.from(workerData.hashKey));
let dctx = new DCtx();
// One output buffer for plaintexts up to 1 MiB: no garbage per blob. Larger ones get
// their own buffer, freed right after use, as is every decrypted copy (release.ts): the
// garbage collector would let tens of MiB of them pile up per thread.
const scratch = Buffer.allocUnsafe(1 << 20);
const channel = new MessageChannel();
channel.port2.close();
channel.port1.close();
function release(b) {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 0) channel.port1.postMessage(null, [b.buffer]);
}
function sound(stored, length, rawLength, id) {
  const body = opened(stored, length);
  if (!body) return false;
  const ok = plainMatches(body, rawLength, id);
  if (body !== stored) release(body);
  return ok;
}
function opened(stored, length) {
  if (stored.length !== length) return null;
  if (!key) return stored;
  if (stored.length < 28) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', key, stored.subarray(0, 12));
    d.setAuthTag(stored.subarray(stored.length - 16));
    const body = d.update(stored.subarray(12, stored.length - 16));
    d.final();
    return body;
  } catch { return null; }
}
function plainMatches(body, rawLength, id) {
  if (body.length < 1) return false;
  const payload = body.subarray(1);
  let plain;
  if (body[0] === 0) {
    if (payload.length !== rawLength) return false;
    plain = payload;
  } else if (body[0] === 1) {
    const dst = rawLength < scratch.length ? scratch.subarray(0, rawLength + 1) : Buffer.allocUnsafeSlow(rawLength + 1);
    try {
      let n;
      try { n = dctx.decompress(dst, payload); } catch { dctx = new DCtx(); return false; }
      if (n !== rawLength) return false;
      return hashMatches(dst.subarray(0, n), id);
    } finally {
      if (dst.buffer !== scratch.buffer) release(dst);
    }
  } else return false;
  return hashMatches(plain, id);
}
function hashMatches(plain, id) {
  hasher.reset();
  hasher.update(plain);
  return hasher.digestBuffer().equals(id);
}
parentPort.on('message', (msg) => {
  try {
    const pack = Buffer.from(msg.pack);
    const rec = Buffer.from(msg.records);
    const failed = [];
    for (let i = 0, r = 0; r < rec.length; i++, r += ${R}) {
      const off = rec.readUInt32LE(r + 1), len = rec.readUInt32LE(r + 5), raw = rec.readUInt32LE(r + 9);
      const stored = pack.subarray(Math.min(off, pack.length), Math.min(pack.length, off + len));
      if (!sound(stored, len, raw, rec.subarray(r + ${ID}, r + ${R}))) failed.push(i);
    }
    parentPort.postMessage({ seq: msg.seq, pack: msg.pack, failed }, [msg.pack]);
  } catch (err) {
    parentPort.postMessage({ seq: msg.seq, error: String((err && err.stack) || err) });
  }
});
`;

/** What {@link PackOpener.check} found. */
export interface OpenedPack {
  /** The pack's bytes, handed back (the same memory). */
  bytes: Uint8Array;
  /** Numbers of the records (0-based, in record order) whose blob is damaged. */
  failed: number[];
}

/** Opens every listed blob of whole packs; see the module comment. */
export interface PackOpener {
  /**
   * Opens each blob that `records` lists ({@link INDEX_RECORD_BYTES}-byte index records:
   * type, offset, length, raw length, id) within `pack`, the whole pack file, and re-checks
   * its id. Takes `pack` over: do not use it after the call, use the returned `bytes`.
   * @throws ClawbackError 'INTERNAL' when a worker thread fails (not for damage).
   */
  check(packId: FileId, pack: Uint8Array, records: Buffer): Promise<OpenedPack>;
  /** Stops the worker threads. */
  close(): Promise<void>;
}

/** The memory of `b` as an ArrayBuffer that may be moved to another thread. */
function ownBuffer(b: Uint8Array): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy.buffer;
}

interface Job {
  resolve: (r: OpenedPack) => void;
  reject: (e: Error) => void;
}

class WorkerOpener implements PackOpener {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly jobs = new Map<number, { job: Job; worker: number }>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(keys: { encrypt?: Uint8Array | undefined; hash: Uint8Array }, threads: number) {
    const req = createRequire(import.meta.url);
    const workerData = {
      zstdPath: req.resolve('zstd-napi/binding.js'),
      blakePath: hashNativePath(),
      key: keys.encrypt ? Buffer.from(keys.encrypt) : null,
      hashKey: Buffer.from(keys.hash),
    };
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (m: { seq: number; pack?: ArrayBuffer; failed?: number[]; error?: string }) => {
        const entry = this.jobs.get(m.seq);
        if (!entry) return;
        this.jobs.delete(m.seq);
        this.load[i]!--;
        if (m.pack && m.failed) entry.job.resolve({ bytes: new Uint8Array(m.pack), failed: m.failed });
        else entry.job.reject(new ClawbackError('INTERNAL', `blob check worker failed: ${m.error ?? 'unknown'}`));
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (this.workers.length > 0) this.fail(new Error(`worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const { job } of this.jobs.values()) job.reject(new ClawbackError('INTERNAL', `blob check worker crashed: ${err.message}`, { cause: err }));
    this.jobs.clear();
  }

  check(_packId: FileId, pack: Uint8Array, records: Buffer): Promise<OpenedPack> {
    if (this.failure) return Promise.reject(new ClawbackError('INTERNAL', `blob check worker crashed: ${this.failure.message}`, { cause: this.failure }));
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    const seq = this.seq++;
    const packBuf = ownBuffer(pack);
    const recBuf = ownBuffer(new Uint8Array(records)); // a copy: records is a view into the index
    return new Promise<OpenedPack>((resolve, reject) => {
      this.jobs.set(seq, { job: { resolve, reject }, worker: best });
      this.load[best]!++;
      this.workers[best]!.postMessage({ seq, pack: packBuf, records: recBuf }, [packBuf, recBuf]);
    });
  }

  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** Opens blobs on the calling thread through {@link Repository.openBlob}. */
class InlineOpener implements PackOpener {
  private readonly repo: Repository;

  constructor(repo: Repository) {
    this.repo = repo;
  }

  check(packId: FileId, pack: Uint8Array, records: Buffer): Promise<OpenedPack> {
    const failed: number[] = [];
    for (let i = 0, r = 0; r < records.length; i++, r += R) {
      const offset = records.readUInt32LE(r + 1);
      const length = records.readUInt32LE(r + 5);
      const loc = {
        id: records.toString('hex', r + ID, r + R),
        type: records[r] === 0 ? ('data' as const) : ('tree' as const),
        packId,
        offset,
        length,
        rawLength: records.readUInt32LE(r + 9),
      };
      try {
        this.repo.openBlob(loc, pack.subarray(Math.min(offset, pack.byteLength), Math.min(pack.byteLength, offset + length)));
      } catch (err) {
        if (!isClawbackError(err, 'INTEGRITY')) return Promise.reject(err);
        failed.push(i);
      }
    }
    return Promise.resolve({ bytes: pack, failed });
  }

  async close(): Promise<void> {}
}

/** Default number of worker threads: one per core, at most 4. */
export function defaultOpenThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism()));
}

/**
 * A {@link PackOpener} for `repo`: `threads` worker threads (default
 * {@link defaultOpenThreads}), or the calling thread when `threads` is 0. Close it when done.
 */
export function createPackOpener(repo: Repository, threads = defaultOpenThreads()): PackOpener {
  return threads > 0 ? new WorkerOpener(repo.masterKeys, threads) : new InlineOpener(repo);
}
