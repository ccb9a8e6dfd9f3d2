import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { GEAR_HKDF_INFO, deriveGearTable } from '../../src/chunker/gear.js';
import { createChunker } from '../../src/chunker/index.js';

/** RFC 5869 HKDF-SHA256 written out with HMAC, independent of node's hkdfSync. */
function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', salt.length === 0 ? new Uint8Array(32) : salt).update(ikm).digest();
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, pos = 0; pos < length; i++) {
    t = createHmac('sha256', prk).update(t).update(info).update(new Uint8Array([i])).digest();
    out.set(t.subarray(0, Math.min(t.length, length - pos)), pos);
    pos += t.length;
  }
  return out;
}

describe('deriveGearTable', () => {
  it('matches the pinned known answer for the all-zero seed', () => {
    // Computed once with Python 3 (hmac + hashlib, RFC 5869 HKDF-SHA256 written out:
    // salt = empty -> 32 zero bytes, info = b"clawback/fastcdc/gear/v1", L = 1024) and
    // struct.unpack('<256I', okm).
    const t = deriveGearTable(new Uint8Array(32));
    expect(t).toBeInstanceOf(Uint32Array);
    expect(t.length).toBe(256);
    expect([t[0], t[1], t[2], t[3]]).toEqual([0xcd360aa6, 0x37d50056, 0xedb69bf1, 0x97a5793b]);
    expect(t[255]).toBe(0x6bd11867);
  });

  fcTest.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })], { numRuns: 20 })(
    'equals HKDF-SHA256 read as little-endian uint32 (independent HMAC implementation)',
    (seed) => {
      const okm = hkdfSha256(seed, new Uint8Array(0), new TextEncoder().encode(GEAR_HKDF_INFO), 1024);
      const view = new DataView(okm.buffer, okm.byteOffset, okm.byteLength);
      const expected = Array.from({ length: 256 }, (_, i) => view.getUint32(4 * i, true));
      expect(Array.from(deriveGearTable(seed))).toEqual(expected);
    },
  );

  fcTest.prop([fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 })], {
    numRuns: 20,
  })('is deterministic per seed and differs between seeds', (a, b) => {
    expect(deriveGearTable(a)).toEqual(deriveGearTable(Uint8Array.from(a)));
    if (Buffer.compare(a, b) !== 0) expect(deriveGearTable(a)).not.toEqual(deriveGearTable(b));
  });

  it('rejects seeds that are not 32 bytes', () => {
    for (const n of [0, 16, 31, 33, 64]) {
      expect(() => deriveGearTable(new Uint8Array(n))).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    }
    expect(() =>
      createChunker({ algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 }, new Uint8Array(31)),
    ).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('the fixed chunker ignores the seed', () => {
    expect(createChunker({ algorithm: 'fixed', size: 4096 }, new Uint8Array(0)).maxSize).toBe(4096);
  });
});
