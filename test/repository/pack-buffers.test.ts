/**
 * Pack buffers are reused: a buffer handed back to the pool is handed out again, and the
 * blob saver hands a pack's buffer back only once its upload has settled (a backend that
 * reads the bytes late, like a streaming upload, still stores the pack it was given).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Handle } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { PackBufferPool } from '../../src/pack/buffer-pool.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { useTmp } from '../helpers/tmp.js';

const open: Repository[] = [];
const tmp = useTmp('clawback-test-', { close: open });

/** Stores what `save` was given only after a delay, as a streaming upload reads its body. */
class LateReadingBackend extends MemoryBackend {
  override async save(h: Handle, data: Uint8Array): Promise<void> {
    if (h.type === 'data') await new Promise((r) => setTimeout(r, 5));
    await super.save(h, data);
  }
}

describe('pack buffer pool', () => {
  it('hands a returned buffer out again, keeps at most `keep`, and drops buffers of another size', () => {
    const pool = new PackBufferPool(4096, 1);
    const a = pool.take();
    const b = pool.take();
    expect(a.length).toBe(4096);
    expect(b).not.toBe(a);
    pool.give(a);
    pool.give(b); // over `keep`: dropped
    pool.give(Buffer.allocUnsafeSlow(8192)); // another size: dropped
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(b);
    pool.give(a);
    pool.drain(); // the end of a session: nothing kept
    expect(pool.take()).not.toBe(a);
  });

  it('a pack buffer is reused only after its upload settles: every pack reads back intact', async () => {
    const backend = new LateReadingBackend();
    const repo = await initRepository(
      backend,
      { password: 'pw', scrypt: { N: 1024, r: 8, p: 1 }, packSize: 16 * 1024, compressionLevel: 0 },
      { cacheDir: join(tmp.dir, 'cache'), sealThreads: 0 },
    );
    open.push(repo);
    const blobs = Array.from({ length: 200 }, () => randomBytes(1500));
    const ids: string[] = [];
    for (const b of blobs) ids.push((await repo.saveBlob('data', b)).id);
    await repo.flush();
    let packs = 0;
    for await (const _ of backend.list('data')) packs++;
    expect(packs).toBeGreaterThan(10); // many packs through a pool of a few buffers
    for (const [i, id] of ids.entries()) expect((await repo.loadBlob(id)).equals(blobs[i]!)).toBe(true);
  });
});
