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
function sealOne(ab) {
  const input = Buffer.from(ab);
  let codec = 0, payload = input;
  if (level > 0 && input.length >= 64) {
    const dst = Buffer.allocUnsafe(compressBound(input.length));
    const n = cctx.compress(dst, input, level);
    if (n < input.length) { codec = 1; payload = dst.subarray(0, n); }
  }
  let out;
  if (key) {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    out = Buffer.concat([nonce, c.update(Buffer.of(codec)), c.update(payload), c.final(), c.getAuthTag()]);
  } else {
    out = Buffer.concat([Buffer.of(codec), payload]);
  }
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
}
parentPort.on('message', (msg) => {
  try {
    const items = msg.items.map(sealOne);
    parentPort.postMessage({ seq: msg.seq, items }, items);
  } catch (err) {
    parentPort.postMessage({ seq: msg.seq, error: String(err && err.stack || err) });
  }
});
`;

interface Job {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** A batch of blobs sent to a worker in one message. */
interface Batch {
  data: ArrayBuffer[];
  jobs: Job[];
  bytes: number;
}

/** Blobs smaller than this go in batches (one message for many small files). */
const BATCH_BELOW = 256 * 1024;
/** A batch is sent when it holds this many bytes or items, or at the next turn of the event loop. */
const BATCH_BYTES = 1 << 20;
const BATCH_ITEMS = 256;

/** Seals blob envelopes on worker threads. */
export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job[]>();
  private batch: Batch | undefined;
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
      w.on('message', (m: { seq: number; items?: ArrayBuffer[]; error?: string }) => {
        this.load[i]!--;
        const jobs = this.jobs.get(m.seq);
        if (!jobs) return;
        this.jobs.delete(m.seq);
        jobs.forEach((job, k) => {
          const item = m.items?.[k];
          if (item) job.resolve(Buffer.from(item));
          else job.reject(new ClawbackError('INTERNAL', `seal worker failed: ${m.error ?? 'unknown'}`));
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

  /** Compresses and encrypts `plaintext` into an envelope. Does not modify `plaintext`. */
  seal(plaintext: Uint8Array): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length === 0) return Promise.resolve(sealEnvelope(this.cipher, plaintext, this.level));
    const copy = new Uint8Array(plaintext.byteLength);
    copy.set(plaintext);
    return new Promise<Buffer>((resolve, reject) => {
      if (plaintext.byteLength >= BATCH_BELOW) {
        this.send({ data: [copy.buffer], jobs: [{ resolve, reject }], bytes: copy.byteLength });
        return;
      }
      if (!this.batch) {
        const b: Batch = { data: [], jobs: [], bytes: 0 };
        this.batch = b;
        setImmediate(() => {
          if (this.batch === b) {
            this.batch = undefined;
            this.send(b);
          }
        });
      }
      const b = this.batch;
      b.data.push(copy.buffer);
      b.jobs.push({ resolve, reject });
      b.bytes += copy.byteLength;
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
    this.workers[best]!.postMessage({ seq, items: b.data }, b.data);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
