/**
 * The LMDB index cache names a blob's pack by a pack number local to the cache. Two users
 * of one cache (two processes, or two handles here) must agree on the numbers: each is
 * given out inside the write transaction that records it, and a number read earlier is
 * never trusted after another user cleared and renumbered the cache.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IndexCache } from '../../src/index/cache.js';
import type { IndexFile } from '../../src/index/format.js';
import { makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTmp();
});
afterEach(async () => {
  await tmp.cleanup();
});

const hex = (): string => randomBytes(32).toString('hex');

/** An index file of one pack of `n` blobs. */
function indexOfOnePack(n: number): { file: string; idx: IndexFile; pack: string; blobs: string[] } {
  const pack = hex();
  const blobs = Array.from({ length: n }, hex);
  const idx: IndexFile = {
    packs: [{ id: pack, size: 1000 + n, blobs: blobs.map((id, i) => ({ type: 'data' as const, id, offset: i * 10, length: 10, rawLength: 7 })) }],
    superseded: [],
  };
  return { file: hex(), idx, pack, blobs };
}

describe('index cache pack numbers', () => {
  it('two users merging in turn never give two packs one number', async () => {
    const path = join(tmp.dir, 'cache');
    const a = IndexCache.open(path);
    const b = IndexCache.open(path);
    try {
      const files = [indexOfOnePack(3), indexOfOnePack(2), indexOfOnePack(4), indexOfOnePack(1)];
      a.addIndexFile(files[0]!.file, files[0]!.idx);
      b.addIndexFile(files[1]!.file, files[1]!.idx);
      a.addIndexFile(files[2]!.file, files[2]!.idx); // a must not reuse the number b gave out
      b.addIndexFile(files[3]!.file, files[3]!.idx);
      for (const c of [a, b]) {
        for (const f of files) {
          for (const [i, id] of f.blobs.entries()) expect(c.get(id)).toEqual({ id, type: 'data', packId: f.pack, offset: i * 10, length: 10, rawLength: 7 });
        }
        expect(new Set([...c.allPacks()].map((p) => p.id))).toEqual(new Set(files.map((f) => f.pack)));
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  // In one process lmdb-js may keep serving a handle's reads from its older read snapshot,
  // so this checks the outcome (right packs after a renumbering), not the staleness itself.
  it('locations stay right after another user clears and renumbers the cache', async () => {
    const path = join(tmp.dir, 'cache');
    const a = IndexCache.open(path);
    const b = IndexCache.open(path);
    try {
      const x = indexOfOnePack(2);
      const y = indexOfOnePack(2);
      a.addIndexFile(x.file, x.idx);
      a.addIndexFile(y.file, y.idx);
      expect(a.get(x.blobs[0]!)!.packId).toBe(x.pack); // a has read pack numbers 0 and 1
      expect(a.get(y.blobs[0]!)!.packId).toBe(y.pack);
      b.clear();
      b.addIndexFile(y.file, y.idx); // y now has number 0
      b.addIndexFile(x.file, x.idx);
      expect(a.get(x.blobs[0]!)!.packId).toBe(x.pack);
      expect(a.get(y.blobs[1]!)!.packId).toBe(y.pack);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
