/**
 * zstd compression (RFC 8878) through zstd-napi's one-shot contexts.
 *
 * Decompression always writes into a buffer of the size recorded next to the blob (its raw
 * length), so a damaged or hostile frame can never make us allocate more than that.
 */
import { createRequire } from 'node:module';
import { ClawbackError } from '../errors.js';

type Binding = typeof import('zstd-napi/binding.js');
type CCtx = InstanceType<Binding['CCtx']>;
type DCtx = InstanceType<Binding['DCtx']>;

let binding: Binding | undefined;

/**
 * zstd-napi's native binding (CommonJS without named ESM exports), loaded on first use or
 * by {@link loadZstdNative} (opening a repository loads it while scrypt runs).
 */
export function loadZstdNative(): Binding {
  return (binding ??= createRequire(import.meta.url)('zstd-napi/binding.js') as Binding);
}

let cctx: CCtx | undefined;
let dctx: DCtx | undefined;

/**
 * Compresses `data` at `level` (1..19).
 * @returns the zstd frame, or `undefined` when it would not be smaller than `data`
 *   (the caller then stores the bytes raw).
 */
export function zstdCompress(data: Uint8Array, level: number): Buffer | undefined {
  if (data.byteLength < 64) return undefined;
  const { CCtx, compressBound } = loadZstdNative();
  cctx ??= new CCtx();
  const dst = Buffer.allocUnsafe(compressBound(data.byteLength));
  const n = cctx.compress(dst, data, level);
  if (n >= data.byteLength) return undefined;
  return dst.subarray(0, n);
}

/**
 * Decompresses one zstd frame that must expand to exactly `rawLength` bytes.
 * @param what names the object in error messages.
 * @throws ClawbackError 'INTEGRITY' if the frame is invalid or its size differs.
 */
export function zstdDecompress(frame: Uint8Array, rawLength: number, what: string): Buffer {
  const { DCtx } = loadZstdNative();
  dctx ??= new DCtx();
  // One spare byte detects frames that would expand past rawLength.
  const dst = Buffer.allocUnsafe(rawLength + 1);
  let n: number;
  try {
    n = dctx.decompress(dst, frame);
  } catch (cause) {
    dctx = new DCtx();
    throw new ClawbackError('INTEGRITY', `${what}: zstd data is damaged`, { cause });
  }
  if (n !== rawLength) {
    throw new ClawbackError('INTEGRITY', `${what}: decompressed to ${n} bytes, expected ${rawLength}`);
  }
  return dst.subarray(0, n);
}
