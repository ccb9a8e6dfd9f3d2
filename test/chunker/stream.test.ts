import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { chunkBuffer, chunkStream, createChunker } from '../../src/chunker/index.js';
import type { Chunker, ChunkerParams } from '../../src/chunker/index.js';
import { inPieces, xorshiftBytes } from './helpers.js';

const SEED = new Uint8Array(32).fill(0x5a);

const paramsArb = fc.constantFrom<ChunkerParams>(
  { algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 },
  { algorithm: 'fastcdc-2020', minSize: 64, avgSize: 128, maxSize: 256 },
  { algorithm: 'fastcdc-2020', minSize: 8192, avgSize: 16384, maxSize: 65536 },
  { algorithm: 'fixed', size: 512 },
  { algorithm: 'fixed', size: 4096 },
  { algorithm: 'fixed', size: 3 * 4096 },
);

const dataArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 150_000 }), fc.integer({ min: 1, max: 2 ** 31 })).map(([n, s]) => xorshiftBytes(n, s)),
  fc.tuple(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 255 })).map(([n, v]) => new Uint8Array(n).fill(v)),
);

/** Read-buffer split points: few or many, small or large pieces. */
const cutsArb = fc.oneof(
  fc.array(fc.nat({ max: 150_000 }), { maxLength: 20 }),
  fc.array(fc.nat({ max: 150_000 }), { minLength: 100, maxLength: 600 }),
  fc.integer({ min: 1, max: 70_000 }).map((step) => Array.from({ length: Math.ceil(150_000 / step) }, (_, i) => i * step)),
);

async function collect(chunker: Chunker, source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunkStream(chunker, source)) out.push(c);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

describe('chunkStream', () => {
  fcTest.prop([paramsArb, dataArb, cutsArb])(
    'boundaries do not depend on the read-buffer split, and chunks are never overwritten',
    async (params, data, cuts) => {
      const chunker = createChunker(params, SEED);
      // Keep every yielded chunk and check them only at the end: a chunk that aliased the
      // internal buffer would have been overwritten by then.
      const chunks = await collect(chunker, inPieces(data, cuts));
      expect(chunks.map((c) => c.length)).toEqual(chunkBuffer(chunker, data));
      expect(Buffer.compare(concat(chunks), data)).toBe(0);
    },
  );

  it('yields nothing for an empty stream', async () => {
    const chunker = createChunker({ algorithm: 'fixed', size: 4096 }, SEED);
    expect(await collect(chunker, inPieces(new Uint8Array(0), []))).toEqual([]);
    expect(await collect(chunker, inPieces(new Uint8Array(0), [0, 0, 0]))).toEqual([]);
    expect(chunkBuffer(chunker, new Uint8Array(0))).toEqual([]);
  });

  it('handles one huge piece and byte-by-byte pieces alike', async () => {
    const chunker = createChunker({ algorithm: 'fastcdc-2020', minSize: 256, avgSize: 1024, maxSize: 4096 }, SEED);
    const data = xorshiftBytes(300_000, 99);
    const expected = chunkBuffer(chunker, data);
    const whole = await collect(chunker, inPieces(data, []));
    expect(whole.map((c) => c.length)).toEqual(expected);
    const small = data.subarray(0, 20_000);
    const bytes = await collect(chunker, inPieces(small, Array.from({ length: small.length }, (_, i) => i)));
    expect(bytes.map((c) => c.length)).toEqual(chunkBuffer(chunker, small));
  });

  it('does not keep references to the source pieces (the source may reuse its buffer)', async () => {
    const chunker = createChunker({ algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 }, SEED);
    const data = xorshiftBytes(200_000, 3);
    const shared = new Uint8Array(777);
    async function* reusing(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < data.length; off += shared.length) {
        const piece = data.subarray(off, off + shared.length);
        shared.set(piece);
        yield shared.subarray(0, piece.length);
        shared.fill(0xee);
      }
    }
    const chunks = await collect(chunker, reusing());
    expect(Buffer.compare(concat(chunks), data)).toBe(0);
    expect(chunks.map((c) => c.length)).toEqual(chunkBuffer(chunker, data));
  });

  it('propagates source errors', async () => {
    const chunker = createChunker({ algorithm: 'fixed', size: 512 }, SEED);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      throw new Error('disk on fire');
    }
    await expect(collect(chunker, failing())).rejects.toThrow('disk on fire');
  });
});

describe('fixed chunker', () => {
  fcTest.prop([fc.integer({ min: 512, max: 20_000 }), fc.integer({ min: 0, max: 100_000 })])(
    'all chunks are `size` bytes except the last',
    (size, n) => {
      const chunker = createChunker({ algorithm: 'fixed', size }, SEED);
      const lengths = chunkBuffer(chunker, xorshiftBytes(n, 1));
      expect(lengths.length).toBe(Math.ceil(n / size));
      lengths.slice(0, -1).forEach((len) => expect(len).toBe(size));
      if (n > 0) expect(lengths.at(-1)).toBe(n - size * (lengths.length - 1));
      expect(chunker.maxSize).toBe(size);
    },
  );

  it('cut: 0 when more bytes are needed, the tail at eof', () => {
    const chunker = createChunker({ algorithm: 'fixed', size: 4096 }, SEED);
    const buf = new Uint8Array(10_000);
    expect(chunker.cut(buf, 0, 4095, false)).toBe(0);
    expect(chunker.cut(buf, 0, 4095, true)).toBe(4095);
    expect(chunker.cut(buf, 100, 4196, false)).toBe(4096);
    expect(chunker.cut(buf, 0, 10_000, false)).toBe(4096);
    expect(chunker.cut(buf, 10_000, 10_000, true)).toBe(0);
    expect(() => chunker.cut(buf, 0, 10_001, true)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
