import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import {
  DEFAULT_CHUNKER,
  DEFAULT_SQLITE_CHUNKER,
  chunkBuffer,
  createChunker,
  singleChunkLimit,
  validateChunkerParams,
} from '../../src/chunker/index.js';
import type { ChunkerParams } from '../../src/chunker/index.js';
import { ClawbackError } from '../../src/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function expectUsage(p: unknown, field: string): void {
  let caught: unknown;
  try {
    validateChunkerParams(p as ChunkerParams);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ClawbackError);
  const e = caught as ClawbackError;
  expect(e.code).toBe('USAGE');
  expect(e.message).toContain(field);
  expect(e.details['field']).toBe(field);
}

describe('validateChunkerParams', () => {
  it('accepts the defaults', () => {
    expect(validateChunkerParams(DEFAULT_CHUNKER)).toBe(DEFAULT_CHUNKER);
    expect(validateChunkerParams(DEFAULT_SQLITE_CHUNKER)).toBe(DEFAULT_SQLITE_CHUNKER);
    expect(DEFAULT_CHUNKER).toEqual({ algorithm: 'fastcdc-2020', minSize: 512 * KiB, avgSize: 2 * MiB, maxSize: 8 * MiB });
    expect(DEFAULT_SQLITE_CHUNKER).toEqual({ algorithm: 'fixed', size: 32 * KiB });
    expect(Object.isFrozen(DEFAULT_CHUNKER)).toBe(true);
  });

  it('accepts the extremes', () => {
    validateChunkerParams({ algorithm: 'fastcdc-2020', minSize: 64, avgSize: 128, maxSize: 129 });
    validateChunkerParams({ algorithm: 'fastcdc-2020', minSize: 64, avgSize: 32 * MiB, maxSize: 64 * MiB });
    validateChunkerParams({ algorithm: 'fixed', size: 512 });
    validateChunkerParams({ algorithm: 'fixed', size: 64 * MiB });
    validateChunkerParams({ algorithm: 'fixed', size: 3 * 4096 });
  });

  it('rejects a bad algorithm', () => {
    expectUsage({ algorithm: 'rabin', minSize: 1, avgSize: 2, maxSize: 3 }, 'algorithm');
    expectUsage({}, 'algorithm');
    expectUsage(null, 'algorithm');
    expectUsage('fixed', 'algorithm');
  });

  it('rejects bad FastCDC sizes, naming the field', () => {
    const ok = { algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 };
    expectUsage({ ...ok, minSize: 63 }, 'minSize');
    expectUsage({ ...ok, minSize: 32, avgSize: 64 }, 'minSize');
    expectUsage({ ...ok, minSize: 1.5 }, 'minSize');
    expectUsage({ ...ok, minSize: '1024' }, 'minSize');
    expectUsage({ ...ok, minSize: undefined }, 'minSize');
    expectUsage({ ...ok, avgSize: 5000 }, 'avgSize');
    expectUsage({ ...ok, avgSize: 0 }, 'avgSize');
    expectUsage({ ...ok, avgSize: -4096 }, 'avgSize');
    expectUsage({ ...ok, avgSize: Number.NaN }, 'avgSize');
    expectUsage({ ...ok, minSize: 4096 }, 'avgSize'); // min == avg
    expectUsage({ ...ok, minSize: 8192 }, 'avgSize'); // min > avg
    expectUsage({ ...ok, maxSize: 4096 }, 'maxSize'); // max == avg
    expectUsage({ ...ok, maxSize: 100 }, 'maxSize');
    expectUsage({ ...ok, maxSize: Number.POSITIVE_INFINITY }, 'maxSize');
    expectUsage({ ...ok, avgSize: 32 * MiB, maxSize: 64 * MiB + 1 }, 'maxSize');
    expectUsage({ ...ok, avgSize: 64 * MiB, maxSize: 128 * MiB }, 'maxSize');
  });

  it('rejects bad fixed sizes', () => {
    expectUsage({ algorithm: 'fixed', size: 511 }, 'size');
    expectUsage({ algorithm: 'fixed', size: 64 * MiB + 1 }, 'size');
    expectUsage({ algorithm: 'fixed', size: 4096.5 }, 'size');
    expectUsage({ algorithm: 'fixed' }, 'size');
  });

  fcTest.prop([fc.integer({ min: 6, max: 25 }), fc.nat(), fc.nat()])(
    'accepts every power-of-two average with min in [64, avg) and max in (avg, 64 MiB]',
    (log2avg, a, b) => {
      const avgSize = 2 ** log2avg;
      const minSize = avgSize === 64 ? 0 : 64 + (a % (avgSize - 64));
      const maxSize = avgSize + 1 + (b % (64 * MiB - avgSize));
      const p: ChunkerParams = { algorithm: 'fastcdc-2020', minSize, avgSize, maxSize };
      if (avgSize === 64) {
        expect(() => validateChunkerParams(p)).toThrow(ClawbackError);
      } else {
        expect(validateChunkerParams(p)).toBe(p);
      }
    },
  );

  it('createChunker validates too', () => {
    expect(() => createChunker({ algorithm: 'fixed', size: 1 }, new Uint8Array(32))).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    );
  });
});

describe('singleChunkLimit', () => {
  fcTest.prop([
    fc.oneof(
      fc.record({ algorithm: fc.constant('fastcdc-2020' as const), minSize: fc.constantFrom(64, 1000, 4096), avgSize: fc.constant(8192), maxSize: fc.constant(65536) }),
      fc.record({ algorithm: fc.constant('fixed' as const), size: fc.constantFrom(512, 4096, 32768) }),
    ),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.integer(),
  ])('inputs up to the limit are one chunk, and one byte more may not be', (params, seed, frac, salt) => {
    const chunker = createChunker(params as ChunkerParams, seed);
    const limit = singleChunkLimit(chunker);
    const len = Math.floor(frac * limit);
    const data = Buffer.alloc(len, salt & 255).map((b, i) => (b + i * 31 + (i >> 7)) & 255);
    expect(chunkBuffer(chunker, data).length).toBe(len === 0 ? 0 : 1);
    if (params.algorithm === 'fixed') expect(chunkBuffer(chunker, Buffer.alloc(limit + 1)).length).toBe(2);
  });
});
