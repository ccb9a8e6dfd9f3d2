/**
 * The LMDB index cache names a blob's pack by a pack number local to the cache. Two users
 * of one cache (two processes, or two handles here) must agree on the numbers: each is
 * given out inside the write transaction that records it, and a number read earlier is
 * never trusted after another user cleared and renumbered the cache.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexCache, MERGE_PART_BLOBS } from '../../src/index/cache.js';
import { encodeIndex, scanIndex, type IndexFile } from '../../src/index/format.js';
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
