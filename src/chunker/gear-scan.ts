/**
 * FastCDC's inner loops in WebAssembly (gear-scan.wat, embedded by scripts/build-wasm.mjs
 * as gear-scan-module.ts): about 2.3× the JavaScript loop's speed on this project's
 * machine (docs/PERFORMANCE.md), because the Gear table lookup and the byte load need no
 * bounds checks there. The bytes to scan are copied into the module's memory in blocks of
 * {@link BLOCK} bytes (a copy costs a fraction of the scan), so callers keep their own
 * buffers. Same result as the JavaScript loop by construction, and checked against it by
 * test/chunker/gear-scan.test.ts.
 */
import { GEAR_SCAN_WASM } from './gear-scan-module.js';

/** Bytes scanned per call: what fits in the module's one 64 KiB page after the gear table. */
export const BLOCK = 65536 - 1024;

/** The parts of the WebAssembly API used here (this project's TypeScript libs lack its types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The compiled module, shared by every scanner of this thread. */
let compiled: object | undefined;

/** The module's exports (see gear-scan.wat). */
interface Exports {
  memory: { buffer: ArrayBuffer };
  fp: { value: number };
  scan: (i: number, stop1: number, stop2: number, maskS: number, maskL: number) => number;
}

/** One gear table's scanner (an instance of the module with the table in its memory). */
export class GearScanner {
  readonly #x: Exports;
  readonly #block: Uint8Array;

  /** @param gear the 256-entry Gear table (as chunker/gear.ts derives it). */
  constructor(gear: Int32Array) {
    compiled ??= new wasm.Module(Buffer.from(GEAR_SCAN_WASM, 'base64'));
    this.#x = new wasm.Instance(compiled).exports as Exports;
    const mem = this.#x.memory.buffer;
    new Int32Array(mem, 0, 256).set(gear);
    this.#block = new Uint8Array(mem, 1024, BLOCK);
  }

  /**
   * The Gear hash from 0 over `buf[from..stop2)`: the index after the first byte whose
   * hash has no bit of `maskS` (bytes before `stop1`) or of `maskL` (from `stop1`), or -1
   * when no byte does. Masks are signed 32-bit integers.
   */
  find(buf: Uint8Array, from: number, stop1: number, stop2: number, maskS: number, maskL: number): number {
    const x = this.#x;
    x.fp.value = 0;
    for (let pos = from; pos < stop2; pos += BLOCK) {
      const n = Math.min(BLOCK, stop2 - pos);
      this.#block.set(buf.subarray(pos, pos + n));
      const s1 = Math.max(0, Math.min(stop1 - pos, n));
      const r = x.scan(0, s1, n, maskS, maskL);
      if (r !== 0) return pos + r;
    }
    return -1;
  }
}
