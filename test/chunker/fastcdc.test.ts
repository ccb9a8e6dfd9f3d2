import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { FastCdcChunker, fastcdcMasks, spreadMask } from '../../src/chunker/fastcdc.js';
import { chunkBuffer, createChunker } from '../../src/chunker/index.js';
import type { ChunkerParams } from '../../src/chunker/index.js';
import { sha256, xorshiftBytes } from './helpers.js';

const ZERO_SEED = new Uint8Array(32);
const SMALL: ChunkerParams = { algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 };
const TINY: ChunkerParams = { algorithm: 'fastcdc-2020', minSize: 64, avgSize: 128, maxSize: 256 };

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v >>>= 1) n += v & 1;
  return n;
}

describe('masks', () => {
  it('are pinned (on-disk format)', () => {
    expect(spreadMask(14)).toBe(0xaaaaaaa0);
    expect(spreadMask(16)).toBe(0xaaaaaaaa);
    expect(spreadMask(18)).toBe(0xd5aad5aa);
    expect(spreadMask(22)).toBe(0xedb6edb6);
    expect(spreadMask(10)).toBe(0xaaaaa000);
    expect(spreadMask(1)).toBe(0x80000000);
    expect(spreadMask(32)).toBe(0xffffffff);
    expect(fastcdcMasks(1 << 20)).toEqual({ maskS: 0xedb6edb6, maskL: 0xd5aad5aa });
    expect(fastcdcMasks(2 << 20)).toEqual({ maskS: 0xeeddbb76, maskL: 0xd6b5ad6a });
    expect(fastcdcMasks(4096)).toEqual({ maskS: 0xaaaaaaa0, maskL: 0xaaaaa000 });
  });

  fcTest.prop([fc.integer({ min: 1, max: 32 })])('have the requested number of bits, top bit set', (bits) => {
    const m = spreadMask(bits);
    expect(popcount(m)).toBe(bits);
    expect(m >>> 31).toBe(1);
    expect(m).toBeGreaterThanOrEqual(0);
  });

  fcTest.prop([fc.integer({ min: 3, max: 30 })])('normalization level 2: log2(avg) +- 2 bits', (b) => {
    const { maskS, maskL } = fastcdcMasks(2 ** b);
    expect(popcount(maskS)).toBe(b + 2);
    expect(popcount(maskL)).toBe(b - 2);
  });

  it('reject bad inputs', () => {
    expect(() => spreadMask(0)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => spreadMask(33)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => fastcdcMasks(3000)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});

describe('FastCDC known answer', () => {
  it('pins the chunk lengths of 1 MiB of xorshift32 data (seed = 32 zero bytes, 1/4/16 KiB)', () => {
    // Input: xorshiftBytes(1 MiB, 0x2545f491) (test/chunker/helpers.ts). Expected lengths were
    // computed with an independent Python 3 implementation of the rule documented in
    // src/chunker/fastcdc.ts (gear table via hmac/hashlib HKDF) and agree with this code.
    const data = xorshiftBytes(1 << 20);
    expect(sha256(data)).toBe('ee5a69453c330fe66cefaff93ac63b77bd18266e6ce9e60ad1272ee0257f716b');
    const lengths = chunkBuffer(createChunker(SMALL, ZERO_SEED), data);
    expect(lengths.slice(0, 10)).toEqual([3762, 7098, 5011, 7566, 5863, 5958, 4257, 4933, 4721, 3327]);
    expect(lengths.length).toBe(222);
  });

  it('depends on the seed', () => {
    const data = xorshiftBytes(1 << 18);
    const a = chunkBuffer(createChunker(SMALL, ZERO_SEED), data);
    const b = chunkBuffer(createChunker(SMALL, new Uint8Array(32).fill(1)), data);
    expect(a).not.toEqual(b);
  });
});

const paramsArb = fc.constantFrom(SMALL, TINY, {
  algorithm: 'fastcdc-2020',
  minSize: 256,
  avgSize: 1024,
  maxSize: 1500,
} as ChunkerParams);

/** Data generators: random, low-entropy runs (forces max-size cuts) and text-like. */
const dataArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 2 ** 31 })).map(([n, s]) => xorshiftBytes(n, s)),
  fc.tuple(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 255 })).map(([n, v]) => new Uint8Array(n).fill(v)),
  fc.array(fc.constantFrom('the ', 'quick ', 'brown ', 'fox ', 'jumps\n', 'over ', 'a ', 'lazy ', 'dog. '), {
    maxLength: 8000,
  }).map((words) => new TextEncoder().encode(words.join(''))),
);

describe('FastCDC properties', () => {
  fcTest.prop([paramsArb, dataArb])('chunks concatenate to the input; sizes in [min+1, max] but the last', (params, data) => {
    const chunker = createChunker(params, ZERO_SEED);
    if (params.algorithm !== 'fastcdc-2020') throw new Error('unreachable');
    const lengths = chunkBuffer(chunker, data);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
    lengths.forEach((len, i) => {
      expect(len).toBeLessThanOrEqual(params.maxSize);
      if (i < lengths.length - 1) expect(len).toBeGreaterThan(params.minSize);
      else expect(len).toBeGreaterThan(0);
    });
    if (data.length === 0) expect(lengths).toEqual([]);
  });

  fcTest.prop([paramsArb, dataArb, fc.nat(), fc.nat(), fc.boolean()])(
    'cut honours its contract and is stable when the end moves',
    (params, data, a, b, eof) => {
      const chunker = createChunker(params, ZERO_SEED);
      const start = data.length === 0 ? 0 : a % (data.length + 1);
      const end = start + (data.length === start ? 0 : b % (data.length - start + 1));
      const n = end - start;
      const r = chunker.cut(data, start, end, eof);
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThanOrEqual(Math.min(n, chunker.maxSize));
      if (n >= chunker.maxSize || (eof && n > 0)) expect(r).toBeGreaterThan(0);
      if (n === 0) expect(r).toBe(0);
      if (r > 0 && !(eof && r === n && r < chunker.maxSize)) {
        // A cut found inside the data is the same with more or fewer bytes after it.
        expect(chunker.cut(data, start, data.length, false)).toBe(r);
        expect(chunker.cut(data, start, start + r, false)).toBe(r);
        expect(chunker.cut(data, start, start + r, true)).toBe(r);
      }
      if (r === 0 && n > 0) {
        expect(eof).toBe(false);
        expect(n).toBeLessThan(chunker.maxSize);
        // No boundary in [start, end): with eof, the whole range is one chunk.
        expect(chunker.cut(data, start, end, true)).toBe(n);
      }
    },
  );

  it('cuts low-entropy data at maxSize (or at the first allowed byte)', () => {
    const chunker = createChunker(SMALL, ZERO_SEED);
    for (const v of [0, 1, 0x20, 0xff]) {
      const data = new Uint8Array(100_000).fill(v);
      const lengths = chunkBuffer(chunker, data);
      const body = lengths.slice(0, -1);
      // After 32 bytes of a run the hash is constant, so all cuts are alike.
      expect(new Set(body).size).toBeLessThanOrEqual(2);
    }
  });

  it('rejects an out-of-range cut', () => {
    const chunker = new FastCdcChunker(SMALL as Extract<ChunkerParams, { algorithm: 'fastcdc-2020' }>, ZERO_SEED);
    const buf = new Uint8Array(10);
    expect(() => chunker.cut(buf, 5, 4, true)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => chunker.cut(buf, 0, 11, true)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => chunker.cut(buf, -1, 5, true)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('accepts a Buffer and a subarray view alike', () => {
    const chunker = createChunker(SMALL, ZERO_SEED);
    const data = xorshiftBytes(200_000, 7);
    const padded = new Uint8Array(data.length + 100);
    padded.set(data, 37);
    expect(chunkBuffer(chunker, Buffer.from(data))).toEqual(chunkBuffer(chunker, data));
    expect(chunkBuffer(chunker, padded.subarray(37, 37 + data.length))).toEqual(chunkBuffer(chunker, data));
  });
});
