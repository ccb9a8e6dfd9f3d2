/**
 * A pool of worker threads that compress (zstd) and encrypt (AES-256-GCM) blobs, so both
 * cores work during a snapshot while the main thread reads, chunks and hashes. Small blobs
 * are batched (many per message) so trees of small files keep the workers busy too.
 *
 * The worker is inline JavaScript (run with `eval`) so the same code works from the
 * TypeScript sources (tsx, vitest) and from the compiled package. It produces exactly the
 * envelope of crypto/envelope.ts (`sealEnvelope`); test/repository/repository.test.ts checks
 * that both agree.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { ClawbackError } from '../errors.js';
import { sealEnvelope, type Cipher } from '../crypto/envelope.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, randomBytes } = require('node:crypto');
const { CCtx, compressBound } = require(workerData.zstdPath);
const key = workerData.key ? Buffer.from(workerData.key) : null;
const level = workerData.level;
const cctx = new CCtx();
// One compression buffer per worker, grown to the largest blob seen and reused: the
// compressed bytes are copied into the batch's output, so nothing per blob stays allocated.
let scratch = Buffer.allocUnsafe(0);
function sealOne(input, nonce) {
  let codec = 0, payload = input;
  if (level > 0 && input.length >= 64) {
    const bound = compressBound(input.length);
    if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 2 * scratch.length));
    const n = cctx.compress(scratch, input, level);
    if (n < input.length) { codec = 1; payload = scratch.subarray(0, n); }
  }
  if (key) {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    return [nonce, c.update(Buffer.of(codec)), c.update(payload), c.final(), c.getAuthTag()];
  }
  return [Buffer.of(codec), Buffer.from(payload)];
}
parentPort.on('message', (msg) => {
  try {
    const input = Buffer.from(msg.buf);
    const nonces = key ? randomBytes(12 * msg.lengths.length) : null;
    const parts = [];
    const lengths = [];
    let total = 0, pos = 0;
    msg.lengths.forEach((len, i) => {
      const p = sealOne(input.subarray(pos, pos + len), nonces && nonces.subarray(12 * i, 12 * i + 12));
      pos += len;
      let n = 0;
      for (const b of p) n += b.length;
      parts.push(p);
      lengths.push(n);
      total += n;
    });
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) for (const b of p) { out.set(b, at); at += b.length; }
    parentPort.postMessage({ seq: msg.seq, buf: out.buffer, lengths }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ seq: msg.seq, error: String(err && err.stack || err) });
  }
});
`;

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
  return { buf: spare ?? new Uint8Array(capacity), lengths: [], jobs: [], bytes: 0 };
}

/** Seals blob envelopes on worker threads. */
export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job[]>();
  private batch: Batch | undefined;
  /** A batch buffer whose content was copied out, reused for the next batch. */
  private spare: Uint8Array | undefined;
  private readonly load: number[] = [];
  private seq = 0;
  private readonly cipher: Cipher;
  private readonly level: number;
  private failed: Error | undefined;

  /**
   * @param encryptKey the AES key, or undefined for an unencrypted repository.
   * @param threads number of workers; 0 seals everything on the calling thread.
   */
  constructor(cipher: Cipher, encryptKey: Uint8Array | undefined, level: number, threads = Math.max(1, availableParallelism())) {
    this.cipher = cipher;
    this.level = level;
    const zstdPath = createRequire(import.meta.url).resolve('zstd-napi/binding.js');
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdPath, key: encryptKey ? Buffer.from(encryptKey) : null, level } });
      w.on('message', (m: { seq: number; buf?: ArrayBuffer; lengths?: number[]; error?: string }) => {
        this.load[i]!--;
        const jobs = this.jobs.get(m.seq);
        if (!jobs) return;
        this.jobs.delete(m.seq);
        if (!m.buf || !m.lengths || m.lengths.length !== jobs.length) {
          for (const job of jobs) job.reject(new ClawbackError('INTERNAL', `seal worker failed: ${m.error ?? 'unknown'}`));
          return;
        }
        const out = Buffer.from(m.buf);
        let pos = 0;
        jobs.forEach((job, k) => {
          const len = m.lengths![k]!;
          job.resolve(out.subarray(pos, pos + len));
          pos += len;
        });
      });
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private fail(err: Error): void {
    this.failed = err;
    for (const jobs of this.jobs.values()) for (const job of jobs) job.reject(new ClawbackError('INTERNAL', `seal worker crashed: ${err.message}`, { cause: err }));
    this.jobs.clear();
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
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    const seq = this.seq++;
    this.jobs.set(seq, b.jobs);
    this.load[best]!++;
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
    this.workers[best]!.postMessage({ seq, buf, lengths: b.lengths }, [buf]);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
