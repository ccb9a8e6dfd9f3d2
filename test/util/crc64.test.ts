/**
 * CRC-64/XZ (src/util/crc64.ts) against the catalogued check value, values cross-checked with
 * xz, and a bit-at-a-time BigInt reference written here from the algorithm's parameters (on
 * fixed vectors and on random inputs).
 */
import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { crc64, crc64Matches, writeCrc64 } from '../../src/util/crc64.js';

const MASK = (1n << 64n) - 1n;
/** ECMA-182, reflected. */
const POLY_REFLECTED = 0xc96c5795d7870f42n;

/** CRC-64/XZ one bit at a time: init all ones, reflected shift-right, final XOR all ones. */
function reference(data: Uint8Array): bigint {
  let crc = MASK;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ POLY_REFLECTED : crc >> 1n;
  }
  return crc ^ MASK;
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

/** `x` as 8 bytes little-endian. */
function le64(x: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(x);
  return b;
}

describe('crc64 (CRC-64/XZ)', () => {
  it('has the catalogued check value and 0 for no bytes', () => {
    expect(crc64(ascii('123456789'))).toBe(0x995dc9bbdf1939fan);
    expect(reference(ascii('123456789'))).toBe(0x995dc9bbdf1939fan); // the reference is the same CRC
    expect(crc64()).toBe(0n);
    expect(crc64(new Uint8Array(0))).toBe(0n);
  });

  it('matches the bit-at-a-time reference on fixed vectors', () => {
    const vectors = [
      Buffer.from([0]),
      Buffer.from([0xff]),
      Buffer.alloc(8, 0),
      Buffer.alloc(8, 0xff),
      ascii('a'),
      ascii('The quick brown fox jumps over the lazy dog'),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.alloc(49, 0x5a), // the length of a cache `blobs` check input
    ];
    for (const v of vectors) expect(crc64(v), v.toString('hex')).toBe(reference(v));
    // Pinned values, cross-checked with xz (the check field `xz --check=crc64` wrote for these inputs).
    expect(crc64(Buffer.from([0]))).toBe(0x1fada17364673f59n);
    expect(crc64(ascii('a'))).toBe(0x330284772e652b05n);
  });

  fcTest.prop([fc.uint8Array({ maxLength: 300 })], { numRuns: 300 })('matches the reference on random bytes', (data) => {
    expect(crc64(data)).toBe(reference(data));
  });

  fcTest.prop([fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.nat(64), fc.nat(8)])(
    'writeCrc64 stores the CRC of a || b[0, bLength) little-endian, and crc64Matches accepts exactly that',
    (a, b, n, at) => {
      const bLength = Math.min(n, b.length);
      const want = reference(Buffer.concat([a, b.subarray(0, bLength)]));
      expect(crc64(a, b.subarray(0, bLength))).toBe(want);
      const dest = new Uint8Array(at + 8 + 3).fill(0xee);
      writeCrc64(a, b, bLength, dest, at);
      expect(Buffer.from(dest.subarray(at, at + 8))).toEqual(le64(want));
      expect(dest.subarray(0, at).every((x) => x === 0xee) && dest.subarray(at + 8).every((x) => x === 0xee)).toBe(true);
      expect(crc64Matches(a, b, bLength, dest, at)).toBe(true);
      for (let i = 0; i < 64; i++) {
        const bad = Uint8Array.from(dest);
        bad[at + (i >> 3)]! ^= 1 << (i & 7);
        expect(crc64Matches(a, b, bLength, bad, at)).toBe(false);
      }
    },
  );

  it('writes into the buffer it reads, after the bytes it covers', () => {
    const v = Buffer.concat([ascii('123456789'), Buffer.alloc(8)]);
    writeCrc64(new Uint8Array(0), v, 9, v, 9);
    expect(v.readBigUInt64LE(9)).toBe(0x995dc9bbdf1939fan);
    expect(crc64Matches(new Uint8Array(0), v, 9, v, 9)).toBe(true);
    v[4]! ^= 0x80;
    expect(crc64Matches(new Uint8Array(0), v, 9, v, 9)).toBe(false);
  });

  it('rejects lengths and offsets outside the buffers', () => {
    const b = new Uint8Array(4);
    expect(() => writeCrc64(b, b, 5, new Uint8Array(8), 0)).toThrow(RangeError);
    expect(() => writeCrc64(b, b, 4, new Uint8Array(8), 1)).toThrow(RangeError);
    expect(() => writeCrc64(b, b, 1.5, new Uint8Array(8), 0)).toThrow(RangeError);
    expect(crc64Matches(b, b, 4, new Uint8Array(8), 1)).toBe(false);
    expect(() => crc64Matches(b, b, -1, new Uint8Array(8), 0)).toThrow(RangeError);
  });
});
