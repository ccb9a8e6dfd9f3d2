/**
 * Packs of many small blobs: a pack closes when its blobs *and header entries* reach the
 * pack size (a pack of 70-byte blobs would otherwise carry a header as large as half its
 * blobs), and blobs in packs that are uploaded but not yet in an index file are found
 * (deduplicated and located) through their pack.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/mem.js';
import { ENTRY_BYTES } from '../../src/pack/format.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { useTmp } from '../helpers/tmp.js';

const open: Repository[] = [];
const tmp = useTmp('clawback-test-', { close: open });

const PACK_SIZE = 32 * 1024;

async function packNames(backend: MemoryBackend): Promise<string[]> {
  const names: string[] = [];
  for await (const f of backend.list('data')) names.push(f.name);
  return names;
}

async function smallRepo(backend: MemoryBackend, indexEvery: number): Promise<Repository> {
  const repo = await initRepository(
    backend,
    { password: 'pw', scrypt: { N: 1024, r: 8, p: 1 }, packSize: PACK_SIZE, compressionLevel: 0 },
    { cacheDir: join(tmp.dir, 'cache'), sealThreads: 0, limits: { indexEvery } },
  );
  open.push(repo);
  return repo;
}

describe('packs of small blobs', () => {
  it('take a file\'s sealed chunks at once only when the open pack has room for all of them', async () => {
    const repo = await initRepository(
      new MemoryBackend(),
      { password: 'pw', scrypt: { N: 1024, r: 8, p: 1 }, packSize: PACK_SIZE, compressionLevel: 0 },
      { cacheDir: join(tmp.dir, 'cache'), sealThreads: 1 }, // files are sealed on a blob worker
    );
    open.push(repo);
    const small = randomBytes(1000);
    const big = randomBytes(PACK_SIZE + 100); // one chunk (no chunker) larger than a pack
    await writeFile(join(tmp.dir, 'small'), small);
    await writeFile(join(tmp.dir, 'big'), big);
    const [s, b] = await repo.hashFiles([join(tmp.dir, 'small'), join(tmp.dir, 'big')], [1000, big.length], undefined, undefined, true);
    if (s?.kind !== 'sealed' || b?.kind !== 'sealed') throw new Error('expected sealed results');
    const before = repo.saveStats.blobsAdded;
    expect(repo.saveSealedBlobsNow('data', s.ids, s.envelopes, s.lengths)).toBe(1);
    expect(repo.saveSealedBlobsNow('data', s.ids, s.envelopes, s.lengths)).toBe(0); // stored already
    expect(repo.saveSealedBlobsNow('data', b.ids, b.envelopes, b.lengths)).toBeUndefined(); // no room
    expect(repo.saveStats.blobsAdded).toBe(before + 1);
    expect((await repo.saveSealedBlob('data', b.ids[0]!, b.envelopes[0]!, b.lengths[0]!)).added).toBe(true);
    await repo.flush();
    expect((await repo.loadBlob(s.ids[0]!)).equals(small)).toBe(true);
    expect((await repo.loadBlob(b.ids[0]!)).equals(big)).toBe(true);
  });

  it('stay within the pack size plus one blob, header included', async () => {
    const backend = new MemoryBackend();
    const repo = await smallRepo(backend, 50_000);
    const blobs = Array.from({ length: 3000 }, () => randomBytes(40));
    for (const b of blobs) await repo.saveBlob('data', b);
    await repo.flush();
    const sizes: number[] = [];
    for await (const f of backend.list('data')) sizes.push(f.size);
    const stored = Math.max(...blobs.map((b) => b.length)) + 64; // one blob's envelope, generously
    expect(sizes.length).toBeGreaterThan(3);
    // All but the last pack were closed by the rule; every pack fits.
    for (const s of sizes) expect(s).toBeLessThanOrEqual(PACK_SIZE + stored + 64);
    // Counting only blob bytes would have made packs of ~32 KiB of blobs plus 41 bytes per blob.
    expect(Math.max(...sizes)).toBeLessThan(PACK_SIZE + (PACK_SIZE / (40 + 28)) * ENTRY_BYTES * 0.5);
    for (const b of blobs.slice(0, 50)) expect((await repo.loadBlob(repo.blobId(b))).equals(b)).toBe(true);
  });

  it('are located and deduplicated from uploaded packs before any index file lists them', async () => {
    const backend = new MemoryBackend();
    const repo = await smallRepo(backend, 1e9); // no index file before flush
    const blobs = Array.from({ length: 2000 }, () => randomBytes(40));
    for (const b of blobs) await repo.saveBlob('data', b);
    // Wait until the first packs are uploaded (the saver uploads in the background).
    for (let i = 0; i < 200 && (await packNames(backend)).length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await packNames(backend)).length).toBeGreaterThanOrEqual(2);
    expect(await repo.listIndexFiles()).toEqual(new Set());
    const first = repo.blobId(blobs[0]!);
    const loc = await repo.lookup(first);
    expect(loc).toBeDefined();
    expect(loc!.id).toBe(first);
    expect(loc!.type).toBe('data');
    expect(loc!.rawLength).toBe(40);
    expect((await repo.readBlob(loc!)).equals(blobs[0]!)).toBe(true);
    const again = await repo.saveBlob('data', blobs[0]!);
    expect(again.added).toBe(false);
    await repo.flush();
    expect((await repo.lookup(first))!.packId).toBe(loc!.packId);
  });
});
