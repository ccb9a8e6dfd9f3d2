import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createPackOpener } from '../../src/checker/open-pool.js';
import { releaseBytes, RELEASE_MIN_BYTES } from '../../src/checker/release.js';
import { sealEnvelope } from '../../src/crypto/envelope.js';
import { INDEX_RECORD_BYTES } from '../../src/index/format.js';
import type { Repository } from '../../src/repository/repository.js';
import { cleanup, makeRepo } from '../fixtures/maint.js';

afterAll(cleanup);

interface Blob {
  stored: Buffer;
  /** Index record fields (may lie, to make damage). */
  type: 0 | 1;
  length: number;
  rawLength: number;
  id: Buffer;
}

function sound(repo: Repository, plain: Buffer, level = 3): Blob {
  const stored = sealEnvelope(repo.cipher, plain, level);
  return { stored, type: 0, length: stored.length, rawLength: plain.length, id: Buffer.from(repo.blobId(plain), 'hex') };
}

function flip(b: Buffer, byte: number): Buffer {
  const c = Buffer.from(b);
  c[byte] = c[byte]! ^ 0x10;
  return c;
}

/** A pack of the blobs (no header: the opener only opens blobs) and their records. */
function packOf(blobs: Blob[], cut = 0): { pack: Uint8Array; records: Buffer } {
  const pack = Buffer.concat(blobs.map((b) => b.stored));
  const records = Buffer.alloc(blobs.length * INDEX_RECORD_BYTES);
  let offset = 0;
  blobs.forEach((b, i) => {
    const r = i * INDEX_RECORD_BYTES;
    records[r] = b.type;
    records.writeUInt32LE(offset, r + 1);
    records.writeUInt32LE(b.length, r + 5);
    records.writeUInt32LE(b.rawLength, r + 9);
    b.id.copy(records, r + 13);
    offset += b.stored.length;
  });
  return { pack: new Uint8Array(pack.subarray(0, pack.length - cut)), records };
}

/** Every kind of damage `Repository.openBlob` must catch; `true` = must fail. */
function cases(repo: Repository): { name: string; blob: Blob; bad: boolean }[] {
  const text = Buffer.from('the quick brown fox '.repeat(400));
  const noise = randomBytes(3000);
  const big = Buffer.from('0123456789abcdef'.repeat(20_000)); // 320 KB: large decrypted copies
  const z = sound(repo, text);
  const raw = sound(repo, noise);
  const out = [
    { name: 'compressed', blob: z, bad: false },
    { name: 'stored raw', blob: raw, bad: false },
    { name: 'large', blob: sound(repo, big), bad: false },
    { name: 'empty plaintext', blob: sound(repo, Buffer.alloc(0)), bad: false },
    { name: 'flipped bit in the middle', blob: { ...z, stored: flip(z.stored, z.stored.length >> 1) }, bad: true },
    { name: 'flipped bit at the start', blob: { ...raw, stored: flip(raw.stored, 0) }, bad: true },
    { name: 'flipped bit at the end', blob: { ...raw, stored: flip(raw.stored, raw.stored.length - 1) }, bad: true },
    { name: 'raw length too small', blob: { ...z, rawLength: z.rawLength - 1 }, bad: true },
    { name: 'raw length too large', blob: { ...z, rawLength: z.rawLength + 1 }, bad: true },
    { name: 'raw length wrong, stored raw', blob: { ...raw, rawLength: raw.rawLength + 1 }, bad: true },
    { name: 'wrong id', blob: { ...z, id: randomBytes(32) }, bad: true },
    { name: 'listed longer than stored', blob: { ...raw, length: raw.length + 1 }, bad: true },
    { name: 'empty envelope', blob: { stored: Buffer.alloc(0), type: 0, length: 0, rawLength: 0, id: randomBytes(32) }, bad: true },
  ] satisfies { name: string; blob: Blob; bad: boolean }[];
  if (!repo.encrypted) {
    const codec = (b: Blob, c: number): Blob => ({ ...b, stored: Buffer.concat([Buffer.of(c), b.stored.subarray(1)]) });
    out.push(
      { name: 'unknown codec', blob: codec(raw, 2), bad: true },
      { name: 'zstd codec on raw data', blob: codec(raw, 1), bad: true },
      { name: 'raw codec on zstd data', blob: codec(z, 0), bad: true },
      { name: 'damaged zstd frame', blob: { ...z, stored: flip(z.stored, 8) }, bad: true },
    );
  } else {
    out.push({ name: 'shorter than nonce and tag', blob: { stored: randomBytes(20), type: 0, length: 20, rawLength: 0, id: randomBytes(32) }, bad: true });
  }
  return out;
}

describe.each([false, true])('pack opener (encrypted: %s)', (encrypted) => {
  it('worker threads and Repository.openBlob agree on every kind of damage', async () => {
    const { repo } = await makeRepo({ encrypted });
    const all = cases(repo);
    const inline = createPackOpener(repo, 0);
    const workers = createPackOpener(repo, 2);
    try {
      for (const c of all) {
        const a = await inline.check('ab'.repeat(32), packOf([c.blob]).pack, packOf([c.blob]).records);
        const b = await workers.check('ab'.repeat(32), packOf([c.blob]).pack, packOf([c.blob]).records);
        expect(a.failed, `inline: ${c.name}`).toEqual(c.bad ? [0] : []);
        expect(b.failed, `workers: ${c.name}`).toEqual(c.bad ? [0] : []);
      }
      // All in one pack, several packs at once, and the last blob cut short.
      const { pack, records } = packOf(all.map((c) => c.blob), 1);
      const want = all.map((c, i) => (c.bad || i === all.length - 1 ? i : -1)).filter((i) => i >= 0);
      const runs = await Promise.all([0, 1, 2, 3].map(() => workers.check('cd'.repeat(32), new Uint8Array(pack), records)));
      for (const r of runs) expect(r.failed).toEqual(want);
      expect((await inline.check('cd'.repeat(32), new Uint8Array(pack), records)).failed).toEqual(want);
      // The pack's bytes come back unchanged.
      expect(Buffer.from(runs[0]!.bytes)).toEqual(Buffer.from(pack));
    } finally {
      await inline.close();
      await workers.close();
      await repo.close();
    }
  });
});

describe('releaseBytes', () => {
  it('frees whole buffers at once and leaves slices and small buffers alone', () => {
    const big = new Uint8Array(RELEASE_MIN_BYTES);
    const view = new Uint8Array(big.buffer, 0, 10);
    expect(releaseBytes(big)).toBe(true);
    expect(big.byteLength).toBe(0);
    expect(view.byteLength).toBe(0);
    const other = new Uint8Array(2 * RELEASE_MIN_BYTES);
    expect(releaseBytes(other.subarray(1))).toBe(false);
    expect(other.byteLength).toBe(2 * RELEASE_MIN_BYTES);
    const small = Buffer.from('pooled');
    expect(releaseBytes(small)).toBe(false);
    expect(small.toString()).toBe('pooled');
  });
});
