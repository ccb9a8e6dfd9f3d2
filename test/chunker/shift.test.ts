import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { chunkBuffer, createChunker } from '../../src/chunker/index.js';
import { chunkHashes, xorshiftBytes } from './helpers.js';

const chunker = createChunker({ algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 }, new Uint8Array(32));

/** `data` with `k` bytes (from `insSeed`) inserted at offset `o` (k < 0: -k bytes deleted). */
function edit(data: Uint8Array, o: number, k: number, insSeed: number): Uint8Array {
  if (k >= 0) {
    const out = new Uint8Array(data.length + k);
    out.set(data.subarray(0, o));
    out.set(xorshiftBytes(k, insSeed), o);
    out.set(data.subarray(o), o + k);
    return out;
  }
  const d = Math.min(-k, data.length - o);
  const out = new Uint8Array(data.length - d);
  out.set(data.subarray(0, o));
  out.set(data.subarray(o + d), o);
  return out;
}

interface Outcome {
  /** Chunks of the edited data whose content did not exist before. */
  fresh: number;
  /** Number of chunks of the edited data. */
  total: number;
  /** Chunks ending at or before the edit are unchanged (except the old tail chunk, which
   *  ended at end of data rather than at a content boundary). */
  prefixKept: boolean;
}

function compare(data: Uint8Array, o: number, k: number, insSeed: number): Outcome {
  const edited = edit(data, o, k, insSeed);
  const before = chunkBuffer(chunker, data);
  const after = chunkBuffer(chunker, edited);
  const old = new Set(chunkHashes(data, before));
  const fresh = chunkHashes(edited, after).filter((h) => !old.has(h)).length;
  let prefixKept = true;
  for (let i = 0, end = 0; i < before.length - 1; i++) {
    end += before[i]!;
    if (end > o) break;
    if (after[i] !== before[i]) prefixKept = false;
  }
  return { fresh, total: after.length, prefixKept };
}

describe('edit locality', () => {
  fcTest.prop([
    fc.integer({ min: 1, max: 2 ** 31 }),
    fc.integer({ min: 20_000, max: 200_000 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.integer({ min: 1, max: 200 }),
  ])('inserting k bytes at offset o keeps all earlier chunks and changes O(1) chunks', (seed, n, at, k) => {
    const data = xorshiftBytes(n, seed);
    const o = Math.min(n, Math.floor(at * n));
    const r = compare(data, o, k, seed ^ 0x55555555);
    expect(r.prefixKept).toBe(true);
    expect(r.fresh).toBeGreaterThanOrEqual(1);
    // Typically 1 (the chunk holding the insertion); resynchronization after a new boundary
    // occasionally takes a few more (tail measured ~0.6^j). 24 is far beyond what happens.
    expect(r.fresh).toBeLessThanOrEqual(24);
  });

  it('over 300 fixed edits (insertions and deletions), nearly all chunks survive', () => {
    let s = 12345;
    const rnd = (): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
    const freshCounts: number[] = [];
    let totalChunks = 0;
    for (let t = 0; t < 300; t++) {
      const data = xorshiftBytes(256 * 1024, t + 1);
      const o = Math.floor(rnd() * data.length);
      const k = (1 + Math.floor(rnd() * 100)) * (t % 3 === 0 ? -1 : 1);
      const r = compare(data, o, k, t + 1000);
      expect(r.prefixKept).toBe(true);
      freshCounts.push(r.fresh);
      totalChunks += r.total;
    }
    const totalFresh = freshCounts.reduce((a, b) => a + b, 0);
    // ~55 chunks per 256 KiB; an edit should cost ~1 chunk, not a shifted tail of chunks.
    expect(totalFresh / freshCounts.length).toBeLessThan(1.6);
    expect(freshCounts.filter((f) => f <= 2).length / freshCounts.length).toBeGreaterThan(0.9);
    expect(Math.max(...freshCounts)).toBeLessThanOrEqual(16);
    expect(1 - totalFresh / totalChunks).toBeGreaterThan(0.97);
  });
});
