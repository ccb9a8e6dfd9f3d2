/**
 * The LMDB index cache names a blob's pack by a pack number local to the cache. Two users
 * of one cache (two processes, or two handles here) must agree on the numbers: each is
 * given out inside the write transaction that records it, and a number read earlier is
 * never trusted after another user cleared and renumbered the cache. Each entry carries a
 * CRC-64/XZ check, and a cache of another format is rebuilt.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { CACHE_FORMAT, CacheDamagedError, IndexCache, MERGE_PART_BLOBS } from '../../src/index/cache.js';
import { encodeIndex, scanIndex, type IndexFile } from '../../src/index/format.js';
import { crc64 } from '../../src/util/crc64.js';
import { useTmp } from '../helpers/tmp.js';

const tmp = useTmp();
const ROOT = resolve(import.meta.dirname, '../..');
const CHILD = resolve(import.meta.dirname, '../fixtures/cache-renumber-child.ts');

/** Runs the renumbering child on the cache at `path`: clears it and merges `files` in order. */
function renumberInAnotherProcess(path: string, files: { file: string; idx: IndexFile }[]): Promise<void> {
  return new Promise((done, fail) => {
    const child = execFile(process.execPath, ['--import', 'tsx', CHILD, path], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err) fail(new Error(`renumbering child failed: ${err.message}\n${stderr}`));
      else if (stdout.trim() !== 'done') fail(new Error(`renumbering child said ${JSON.stringify(stdout)}`));
      else done();
    });
    child.stdin!.end(JSON.stringify(files));
  });
}

const hex = (): string => randomBytes(32).toString('hex');

/** An index file of one pack of `n` blobs. */
function indexOfOnePack(n: number): { file: string; idx: IndexFile; pack: string; blobs: string[] } {
  const pack = hex();
  const blobs = Array.from({ length: n }, hex);
  const idx: IndexFile = {
    packs: [{ id: pack, size: 1000 + 10 * n, blobs: blobs.map((id, i) => ({ type: 'data' as const, id, offset: i * 10, length: 10, rawLength: 7 })) }],
    superseded: [],
  };
  return { file: hex(), idx, pack, blobs };
}

/** An index file of `packs` packs of `n` blobs each, blob `i` of a pack at offset i × 10. */
function indexOfPacks(packs: number, n: number): { file: string; idx: IndexFile } {
  return { file: hex(), idx: { packs: Array.from({ length: packs }, () => indexOfOnePack(n).idx.packs[0]!), superseded: [] } };
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

  it('a pack number read earlier is not trusted after another process clears and renumbers the cache', async () => {
    const path = join(tmp.dir, 'cache');
    const a = IndexCache.open(path);
    try {
      const x = indexOfOnePack(2);
      const y = indexOfOnePack(2);
      a.addIndexFile(x.file, x.idx);
      a.addIndexFile(y.file, y.idx);
      expect(a.get(x.blobs[0]!)!.packId).toBe(x.pack); // a has read pack numbers 0 (x) and 1 (y)
      expect(a.get(y.blobs[0]!)!.packId).toBe(y.pack);
      await renumberInAnotherProcess(path, [y, x]); // now y is 0 and x is 1
      for (const f of [x, y]) {
        for (const id of f.blobs) expect(a.get(id)!.packId).toBe(f.pack);
      }
    } finally {
      await a.close();
    }
  });

  it('a big index file merged in key-range parts (decoded or scanned) is complete and listed once merged', async () => {
    const path = join(tmp.dir, 'cache');
    const c = IndexCache.open(path);
    try {
      const decoded = indexOfPacks(3, Math.ceil((MERGE_PART_BLOBS * 2.5) / 3)); // 3 parts
      const scanned = indexOfPacks(2, MERGE_PART_BLOBS); // 2 parts
      const small = indexOfPacks(2, 5); // 1 part
      c.addIndexFile(decoded.file, decoded.idx);
      c.addIndexFile(scanned.file, scanIndex(encodeIndex(scanned.idx), 'test index'));
      c.addIndexFile(small.file, small.idx);
      expect(c.indexFiles()).toEqual(new Set([decoded.file, scanned.file, small.file]));
      let n = 0;
      for (const f of [decoded, scanned, small]) {
        for (const p of f.idx.packs) {
          for (const b of p.blobs) {
            expect(c.get(b.id)).toEqual({ id: b.id, type: 'data', packId: p.id, offset: b.offset, length: 10, rawLength: 7 });
            n++;
          }
        }
      }
      expect([...c.allBlobs()].length).toBe(n);
      expect([...c.allPacks()].length).toBe(7);
    } finally {
      await c.close();
    }
  });
});

/** Opens the raw LMDB environment of the (closed) cache at `path` and hands `f` its root. */
async function withRawCache<T>(path: string, f: (root: RootDatabase, db: (name: string) => Database<Buffer, Buffer>) => T | Promise<T>): Promise<T> {
  const env = open({ path, maxDbs: 8 });
  try {
    return await f(env, (name) => env.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' }));
  } finally {
    await env.close();
  }
}

/** A cache at a new path holding one index file of one pack of 3 blobs; closed. */
async function cacheOfOnePack(): Promise<{ path: string; f: ReturnType<typeof indexOfOnePack> }> {
  const path = join(tmp.dir, `cache-${hex().slice(0, 8)}`);
  const f = indexOfOnePack(3);
  const c = IndexCache.open(path);
  c.addIndexFile(f.file, f.idx);
  await c.close();
  return { path, f };
}

describe('index cache entry checks', () => {
  it('stores, after each blobs and packNumbers value, the CRC-64/XZ of key || the value before it, little-endian', async () => {
    const { path, f } = await cacheOfOnePack();
    await withRawCache(path, (root, db) => {
      expect(root.get('format')).toBe(CACHE_FORMAT);
      expect(CACHE_FORMAT).toBe(4);
      const blobs = db('blobs');
      for (const [i, id] of f.blobs.entries()) {
        const key = Buffer.from(id, 'hex');
        const v = blobs.getBinary(key)!;
        expect(v.length).toBe(25);
        expect([v.readUInt32LE(0), v.readUInt32LE(4), v.readUInt32LE(8), v.readUInt32LE(12), v[16]]).toEqual([0, i * 10, 10, 7, 0]);
        expect(v.readBigUInt64LE(17)).toBe(crc64(key, v.subarray(0, 17)));
      }
      const numbers = db('packNumbers');
      const key = Buffer.from([0, 0, 0, 0]);
      const v = numbers.getBinary(key)!;
      expect(v.subarray(0, 32).toString('hex')).toBe(f.pack);
      expect(v.readBigUInt64LE(32)).toBe(crc64(key, v.subarray(0, 32)));
    });
  });

  it('a flipped bit in a blobs value (location or check) makes get and allBlobs throw CacheDamagedError', async () => {
    for (const byte of [5, 16, 17, 24]) {
      const { path, f } = await cacheOfOnePack();
      const key = Buffer.from(f.blobs[1]!, 'hex');
      await withRawCache(path, async (_, db) => {
        const v = Buffer.from(db('blobs').getBinary(key)!);
        v[byte]! ^= 0x04;
        await db('blobs').put(key, v);
      });
      const c = IndexCache.open(path);
      try {
        expect(c.get(f.blobs[0]!)!.packId).toBe(f.pack); // the other entries are fine
        expect(() => c.get(f.blobs[1]!), `byte ${byte}`).toThrow(CacheDamagedError);
        expect(() => [...c.allBlobs()]).toThrow(CacheDamagedError);
        expect(c.has(f.blobs[1]!)).toBe(true); // has() does not check (see its comment)
      } finally {
        await c.close();
      }
    }
  });

  it('a blobs value of the wrong length makes get throw CacheDamagedError', async () => {
    const { path, f } = await cacheOfOnePack();
    const key = Buffer.from(f.blobs[0]!, 'hex');
    await withRawCache(path, async (_, db) => {
      await db('blobs').put(key, db('blobs').getBinary(key)!.subarray(0, 24));
    });
    const c = IndexCache.open(path);
    try {
      expect(() => c.get(f.blobs[0]!)).toThrow(CacheDamagedError);
    } finally {
      await c.close();
    }
  });

  it('a flipped bit in a packNumbers value (pack id or check) makes get throw CacheDamagedError', async () => {
    for (const byte of [3, 31, 32, 39]) {
      const { path, f } = await cacheOfOnePack();
      await withRawCache(path, async (_, db) => {
        const key = Buffer.from([0, 0, 0, 0]);
        const v = Buffer.from(db('packNumbers').getBinary(key)!);
        v[byte]! ^= 0x10;
        await db('packNumbers').put(key, v);
      });
      const c = IndexCache.open(path);
      try {
        expect(() => c.get(f.blobs[0]!), `byte ${byte}`).toThrow(CacheDamagedError);
      } finally {
        await c.close();
      }
    }
  });

  it('a cache of another format (3: BLAKE3 checks) is deleted and rebuilt empty at the current format', async () => {
    const { path, f } = await cacheOfOnePack();
    await withRawCache(path, (root) => root.putSync('format', 3));
    const c = IndexCache.open(path);
    try {
      expect(c.blobCount()).toBe(0);
      expect(c.indexFiles()).toEqual(new Set());
      expect(c.get(f.blobs[0]!)).toBeUndefined();
      c.addIndexFile(f.file, f.idx); // and it is usable
      expect(c.get(f.blobs[2]!)).toEqual({ id: f.blobs[2], type: 'data', packId: f.pack, offset: 20, length: 10, rawLength: 7 });
    } finally {
      await c.close();
    }
    await withRawCache(path, (root) => expect(root.get('format')).toBe(CACHE_FORMAT));
  });
});
