/**
 * Reuses the large buffers packs are assembled in (and the restorer's pack-range reads).
 *
 * A pack writer reserves the whole pack (16 MiB + headroom by default). Allocating and freeing
 * one per pack made glibc's malloc raise its mmap threshold past that size after the first
 * free (its dynamic threshold, up to 32 MiB), so every later pack buffer came from the main
 * heap, where freed ones left holes that were never returned: a snapshot of 1,000,000 small
 * files (20 packs) ended with ~100 MB of such garbage in the heap. Buffers handed back here are
 * kept (up to `keep`) and handed out again, so a session allocates only as many as are in use
 * at once, and they stay mmapped.
 */
export class PackBufferPool {
  /** Size of every pooled buffer, bytes. */
  readonly size: number;
  private readonly keep: number;
  private readonly free: Buffer[] = [];

  /**
   * @param size bytes per buffer.
   * @param keep most free buffers kept for reuse (the rest are left to the garbage collector).
   */
  constructor(size: number, keep: number) {
    this.size = size;
    this.keep = keep;
  }

  /** A buffer of {@link size} bytes (contents undefined), reused when one is free. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Lets go of the free buffers (at the end of a session: an idle process keeps none). */
  drain(): void {
    this.free.length = 0;
  }

  /**
   * Hands `buf` back for reuse. The caller must not touch it (or any view of it) afterwards.
   * A buffer of another size (a writer that outgrew its buffer) is dropped.
   */
  give(buf: Buffer): void {
    if (buf.length === this.size && buf.byteOffset === 0 && this.free.length < this.keep && !this.free.includes(buf)) this.free.push(buf);
  }
}
