/**
 * CRC-64/XZ (also catalogued as CRC-64/GO-ECMA), in plain JavaScript.
 *
 * The algorithm is the one of the xz file format (https://tukaani.org/xz/xz-file-format.txt,
 * §6 "CRC64"; parameters as in Greg Cook's CRC RevEng catalogue): the ECMA-182 polynomial
 * 0x42F0E1EBA9EA3693, processed reflected (0xC96C5795D7870F42), initial value
 * 0xFFFFFFFFFFFFFFFF, input and output reflected, final XOR 0xFFFFFFFFFFFFFFFF. Check value:
 * the CRC of the 9 ASCII bytes `123456789` is 0x995DC9BBDF1939FA; of no bytes, 0.
 *
 * What it is for: detecting accidental damage of local, rebuildable data (torn pages, bit
 * flips), such as the entries of the index cache (src/index/cache.ts). A CRC detects every
 * burst error of up to 64 bits and every odd number of flipped bits (the polynomial has the
 * factor x + 1), and misses random damage with probability 2^-64.
 *
 * What it is not for: anything an adversary may choose. A CRC is linear and keyless:
 * anyone can compute it, and can change data while keeping its CRC. Never use it where
 * BLAKE3 (src/crypto/hash.ts) or an AEAD tag is needed.
 *
 * The tables split each 64-bit entry into two 32-bit halves, so the inner loop is 32-bit
 * integer arithmetic (no BigInt), one byte at a time; nothing is allocated per call. The
 * running CRC lives in two module variables between the steps of one call (JavaScript runs
 * one call at a time per thread, and each worker thread has its own module instance).
 * Lengths and offsets are in bytes; the 64-bit value is stored little-endian.
 */

/** Bytes of a stored CRC-64. */
export const CRC64_BYTES = 8;

/** The reflected polynomial 0xC96C5795D7870F42, high and low 32 bits. */
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;

/** Low and high halves of the table entry of each byte value (the CRC of that one byte, without init or final XOR). */
const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = (lo >>> 1) | (hi << 31);
    hi = hi >>> 1;
    if (carry !== 0) {
      lo ^= POLY_LO;
      hi ^= POLY_HI;
    }
  }
  TABLE_LO[i] = lo;
  TABLE_HI[i] = hi;
}

/** The running CRC (int32 bit patterns), between {@link start} and the final XOR. */
let crcLo = 0;
let crcHi = 0;

function start(): void {
  crcLo = -1;
  crcHi = -1;
}

/** Feeds bytes [0, length) of `data` into the running CRC. */
function feed(data: Uint8Array, length: number): void {
  let lo = crcLo;
  let hi = crcHi;
  for (let i = 0; i < length; i++) {
    const t = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[t]!;
    hi = (hi >>> 8) ^ TABLE_HI[t]!;
  }
  crcLo = lo;
  crcHi = hi;
}

/** Computes the CRC of `a` || `b`[0, bLength) into crcLo/crcHi, final XOR applied (int32 bit patterns). */
function compute(a: Uint8Array, b: Uint8Array, bLength: number): void {
  if (!(Number.isInteger(bLength) && bLength >= 0 && bLength <= b.length)) throw new RangeError(`crc64: bLength ${bLength} outside 0..${b.length}`);
  start();
  feed(a, a.length);
  feed(b, bLength);
  crcLo = ~crcLo;
  crcHi = ~crcHi;
}

/** Reads 4 bytes of `buf` at `at` little-endian as an int32 bit pattern. */
function readLE32(buf: Uint8Array, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
}

function checkDest(dest: Uint8Array, at: number): void {
  if (!(Number.isInteger(at) && at >= 0 && at + CRC64_BYTES <= dest.length)) throw new RangeError(`crc64: no ${CRC64_BYTES} bytes at ${at} of ${dest.length}`);
}

/**
 * Writes the CRC-64/XZ of `a` || the first `bLength` bytes of `b` into `dest`[at, at + 8),
 * little-endian. `dest` may be `b` itself (the CRC is computed before it is written).
 * @throws RangeError if `bLength` exceeds `b` or `dest` has no 8 bytes at `at`.
 */
export function writeCrc64(a: Uint8Array, b: Uint8Array, bLength: number, dest: Uint8Array, at: number): void {
  checkDest(dest, at);
  compute(a, b, bLength);
  dest[at] = crcLo;
  dest[at + 1] = crcLo >>> 8;
  dest[at + 2] = crcLo >>> 16;
  dest[at + 3] = crcLo >>> 24;
  dest[at + 4] = crcHi;
  dest[at + 5] = crcHi >>> 8;
  dest[at + 6] = crcHi >>> 16;
  dest[at + 7] = crcHi >>> 24;
}

/**
 * True when `stored`[at, at + 8) holds, little-endian, the CRC-64/XZ of `a` || the first
 * `bLength` bytes of `b` (as {@link writeCrc64} wrote it). False, not an exception, when
 * `stored` has no 8 bytes at `at`. Allocates nothing.
 * @throws RangeError if `bLength` exceeds `b`.
 */
export function crc64Matches(a: Uint8Array, b: Uint8Array, bLength: number, stored: Uint8Array, at: number): boolean {
  if (!(Number.isInteger(at) && at >= 0 && at + CRC64_BYTES <= stored.length)) return false;
  compute(a, b, bLength);
  return readLE32(stored, at) === crcLo && readLE32(stored, at + 4) === crcHi;
}

/**
 * The CRC-64/XZ of the concatenation of `parts`, as an unsigned 64-bit bigint. Allocates
 * the result: for tests and tools; hot paths use {@link writeCrc64} / {@link crc64Matches}.
 */
export function crc64(...parts: Uint8Array[]): bigint {
  start();
  for (const p of parts) feed(p, p.length);
  return (BigInt(~crcHi >>> 0) << 32n) | BigInt(~crcLo >>> 0);
}
