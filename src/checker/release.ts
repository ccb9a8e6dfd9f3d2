/**
 * Freeing large byte buffers as soon as they are done with, instead of at some later
 * garbage collection. V8 lets about 64 MiB of unreachable `ArrayBuffer` memory pile up per
 * thread before it collects; for `verify` and gc, which stream hundreds of 16 MiB packs,
 * that slack was most of their peak memory. Moving a buffer into a message on a closed
 * `MessagePort` detaches it, and the dropped message frees the memory at once.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** Buffers smaller than this are left to the garbage collector, bytes. */
export const RELEASE_MIN_BYTES = 4096;

let sink: MessagePort | undefined;

/**
 * Frees the memory of `bytes` now. Only a view of a whole, unshared `ArrayBuffer` of at
 * least {@link RELEASE_MIN_BYTES} is freed (never a slice of Node's small-Buffer pool);
 * anything else is left alone.
 *
 * The caller must own the memory: afterwards `bytes` and every other view of its
 * `ArrayBuffer` are empty (length 0).
 * @returns true when the memory was freed.
 */
export function releaseBytes(bytes: Uint8Array): boolean {
  const ab = bytes.buffer;
  if (!(ab instanceof ArrayBuffer) || bytes.byteOffset !== 0 || bytes.byteLength !== ab.byteLength || ab.byteLength < RELEASE_MIN_BYTES) return false;
  if (!sink) {
    const ch = new MessageChannel();
    ch.port2.close();
    ch.port1.close();
    sink = ch.port1;
  }
  sink.postMessage(null, [ab]);
  return true;
}
