/**
 * The WebAssembly Gear scan (chunker/gear-scan.ts): the embedded module is what
 * gear-scan.wat compiles to, and it finds exactly what the JavaScript loop of FastCDC finds,
 * across block boundaries, both masks and every position of the switch between them.
 */
import { expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { randomBytes } from 'node:crypto';
import { BLOCK, GearScanner } from '../../src/chunker/gear-scan.js';
import { GEAR_SCAN_WASM } from '../../src/chunker/gear-scan-module.js';
import { deriveGearTable } from '../../src/chunker/gear.js';
// @ts-expect-error: a plain ES module script, no types
import { compileGearScan } from '../../scripts/build-wasm.mjs';

/** The reference: FastCDC's loop as chunker/fastcdc.ts documents it. */
function findJs(gear: Int32Array, buf: Uint8Array, from: number, stop1: number, stop2: number, maskS: number, maskL: number): number {
  let fp = 0;
  for (let i = from; i < stop2; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & (i < stop1 ? maskS : maskL)) === 0) return i + 1;
  }
  return -1;
}

const gearOf = (seed: Uint8Array): Int32Array => {
  const g = deriveGearTable(seed);
  return new Int32Array(g.buffer, g.byteOffset, g.length);
};

it('embeds what gear-scan.wat compiles to (node scripts/build-wasm.mjs rebuilds it)', async () => {
  const bytes = (await compileGearScan()) as Buffer;
  expect(bytes.toString('base64')).toBe(GEAR_SCAN_WASM);
});

fcTest.prop(
  [
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.integer({ min: 1, max: 3 * BLOCK + 100 }),
    fc.nat(),
    fc.nat(),
    fc.nat(),
    // Masks of 0 to 20 bits: from "every byte cuts" to "hardly any".
    fc.integer({ min: 0, max: 20 }),
    fc.integer({ min: 0, max: 20 }),
  ],
  { numRuns: 150 },
)('finds what the JavaScript loop finds', (seed, size, a, b, c, bitsS, bitsL) => {
  const gear = gearOf(seed);
  const buf = new Uint8Array(randomBytes(size));
  const [from, stop1, stop2] = [a % (size + 1), b % (size + 1), c % (size + 1)].sort((x, y) => x - y) as [number, number, number];
  // High bits, as FastCDC's masks favour them; as signed 32-bit integers.
  const mask = (bits: number): number => (bits === 0 ? 0 : (((2 ** bits - 1) * 2 ** (32 - bits)) | 0));
  const scanner = new GearScanner(gear);
  expect(scanner.find(buf, from, stop1, stop2, mask(bitsS), mask(bitsL))).toBe(findJs(gear, buf, from, stop1, stop2, mask(bitsS), mask(bitsL)));
});

it('starts every find afresh (the hash does not carry over from the last call)', () => {
  const gear = gearOf(new Uint8Array(32).fill(5));
  const buf = new Uint8Array(randomBytes(4 * BLOCK));
  const scanner = new GearScanner(gear);
  const hard = (0xffff << 16) | 0;
  for (const [from, to] of [[0, 4 * BLOCK], [BLOCK - 7, 3 * BLOCK + 11], [5, 77]] as const) {
    scanner.find(buf, 0, 2 * BLOCK, 4 * BLOCK, hard, hard);
    expect(scanner.find(buf, from, (from + to) >> 1, to, hard, (0xf000 << 16) | 0)).toBe(findJs(gear, buf, from, (from + to) >> 1, to, hard, (0xf000 << 16) | 0));
  }
});
