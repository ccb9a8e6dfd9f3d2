import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, openRepository } from '../../src/repository/repository.js';
import { repairIndex } from '../../src/repository/repair.js';
import { SealPool } from '../../src/repository/seal-pool.js';
import { aesCipher, noneCipher, openEnvelope } from '../../src/crypto/envelope.js';
import { ClawbackError } from '../../src/errors.js';
import { blobId, fileId, hashNativePath } from '../../src/crypto/hash.js';
import { existsSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { chunkBuffer, createChunker, fastCdcSpec, type FastCdcSpec } from '../../src/chunker/index.js';
import { BLOCK as GEAR_BLOCK } from '../../src/chunker/gear-scan.js';
import { FAST_INIT, useTmp } from '../helpers/tmp.js';

const tmp = useTmp();

describe('repository', () => {
  it('init then open with the right password; wrong password fails with WRONG_PASSWORD and writes nothing', async () => {
    const be = new LocalBackend(join(tmp.dir, 'repo'));
    const repo = await initRepository(be, { password: 'pw', ...FAST_INIT }, { cacheDir: join(tmp.dir, 'c') });
    expect(repo.encrypted).toBe(true);
    await repo.close();
    const listing = async () => (await readdir(join(tmp.dir, 'repo'), { recursive: true })).sort();
    const before = await listing();
    await expect(openRepository(be, { password: 'nope', cacheDir: join(tmp.dir, 'c') })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    await expect(openRepository(be, { cacheDir: join(tmp.dir, 'c') })).rejects.toMatchObject({ code: 'WRONG_PASSWORD', message: /encrypted/ });
    expect(await listing()).toEqual(before);
    const again = await openRepository(be, { password: 'pw', cacheDir: join(tmp.dir, 'c') });
    expect(again.config.id).toBe(repo.config.id);
    await again.close();
  });

  it('refuses init over an existing repository and open of a missing one', async () => {
    const be = new MemoryBackend();
    await expect(openRepository(be)).rejects.toMatchObject({ code: 'REPO_NOT_FOUND' });
    const r = await initRepository(be, { password: undefined, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'c') });
    await r.close();
    await expect(initRepository(be, { password: undefined, ...FAST_INIT })).rejects.toMatchObject({ code: 'REPO_EXISTS' });
  });

  it('new repositories compress database images at level 1 unless a level is given', async () => {
    const levels = async (init: { compressionLevel?: number; sqliteCompressionLevel?: number }) => {
      const be = new MemoryBackend();
      const r = await initRepository(be, { password: undefined, ...FAST_INIT, ...init }, { cacheDir: join(tmp.dir, `c-${randomBytes(4).toString('hex')}`) });
      await r.close();
      const again = await openRepository(be, { cacheDir: join(tmp.dir, `c-${randomBytes(4).toString('hex')}`) });
      await again.close();
      return again.config.compression;
    };
    expect(await levels({})).toEqual({ algorithm: 'zstd', level: 3, sqliteLevel: 1 });
    expect(await levels({ compressionLevel: 7 })).toEqual({ algorithm: 'zstd', level: 7, sqliteLevel: 7 });
    expect(await levels({ compressionLevel: 0 })).toEqual({ algorithm: 'zstd', level: 0, sqliteLevel: 0 });
    expect(await levels({ sqliteCompressionLevel: 4 })).toEqual({ algorithm: 'zstd', level: 3, sqliteLevel: 4 });
    await expect(levels({ sqliteCompressionLevel: 20 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('saves, dedups and loads blobs; survives deleting the LMDB cache', async () => {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'c');
    const repo = await initRepository(be, { password: 'pw', ...FAST_INIT }, { cacheDir, sealThreads: 2 });
    const blobs = Array.from({ length: 200 }, (_, i) => randomBytes(1000 + i * 100));
    const ids: string[] = [];
    for (const b of blobs) {
      const t = await repo.saveBlob('data', b);
      ids.push(t.id);
      expect(t.added).toBe(true);
    }
    expect((await repo.saveBlob('data', blobs[0]!)).added).toBe(false);
    await repo.flush();
    expect(repo.saveStats.blobsAdded).toBe(200);
    expect((await repo.listFiles('data')).length).toBeGreaterThan(1);
    for (let i = 0; i < blobs.length; i++) expect(await repo.loadBlob(ids[i]!)).toEqual(blobs[i]);
    await repo.close();

    await rm(cacheDir, { recursive: true, force: true });
    const r2 = await openRepository(be, { password: 'pw', cacheDir });
    for (let i = 0; i < blobs.length; i += 17) expect(await r2.loadBlob(ids[i]!)).toEqual(blobs[i]);
    expect((await r2.saveBlob('data', blobs[5]!)).added).toBe(false);
    await r2.close();
  });

  it('hasBlobsNow answers as hasBlobs once the index cache is open (uploads of this session included), and not before', async () => {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'now');
    const repo = await initRepository(be, { password: 'pw', ...FAST_INIT }, { cacheDir, sealThreads: 0 });
    const stored = randomBytes(500);
    const storedId = (await repo.saveBlob('data', stored)).id;
    await repo.flush();
    await repo.close();
    const r2 = await openRepository(be, { password: 'pw', cacheDir });
    const missing = blobId(Buffer.alloc(32, 1), Buffer.from('not stored'));
    expect(r2.hasBlobsNow([storedId])).toBeUndefined();
    expect(await r2.hasBlobs([storedId, missing])).toEqual([true, false]);
    expect(r2.hasBlobsNow([storedId, missing])).toEqual([true, false]);
    // A blob saved in this session counts as soon as it is accepted, as for hasBlobs.
    const fresh = (await r2.saveBlob('data', randomBytes(700))).id;
    expect(r2.hasBlobsNow([fresh, storedId, missing])).toEqual(await r2.hasBlobs([fresh, storedId, missing]));
    expect(r2.hasBlobsNow([fresh])).toEqual([true]);
    await r2.flush();
    await r2.close();
  });

  it('repair index rebuilds the index from the packs alone', async () => {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'c');
    const repo = await initRepository(be, { password: undefined, ...FAST_INIT }, { cacheDir });
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await repo.saveBlob(i % 5 ? 'data' : 'tree', Buffer.alloc(5000, i))).id);
    await repo.flush();
    await repo.close();
    for (const id of await (async () => { const out = []; for await (const f of be.list('index')) out.push(f.name); return out; })()) {
      await be.remove({ type: 'index', name: id });
    }
    await rm(cacheDir, { recursive: true, force: true });
    const r2 = await openRepository(be, { cacheDir });
    await expect(r2.loadBlob(ids[0]!)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    const res = await repairIndex(r2);
    expect(res.blobs).toBe(50);
    expect(res.damagedPacks).toEqual([]);
    for (let i = 0; i < 50; i++) expect(await r2.loadBlob(ids[i]!)).toEqual(Buffer.alloc(5000, i));
    await r2.close();
  });

  it('a damaged LMDB cache is rebuilt without data loss', async () => {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'c');
    const repo = await initRepository(be, { password: 'pw', ...FAST_INIT }, { cacheDir });
    const id = (await repo.saveBlob('data', Buffer.from('hello world'))).id;
    await repo.flush();
    const path = repo.cachePath;
    await repo.close();
    const files = await readdir(join(path, 'index'));
    for (const f of files) await writeFile(join(path, 'index', f), Buffer.alloc(4096, 0xab));
    const r2 = await openRepository(be, { password: 'pw', cacheDir });
    expect((await r2.loadBlob(id)).toString()).toBe('hello world');
    await r2.close();
  });

  /**
   * Saves one blob, closes the repository, lets `damage` change the cache's LMDB table `table`
   * (given the blob's key), and checks that a reopened repository still loads the blob: the
   * damage is detected by the entry's check and the cache rebuilt from the repository's index.
   */
  async function expectCacheDamageRepaired(table: string, damage: (db: import('lmdb').Database<Buffer, Buffer>, blobKey: Buffer) => Promise<void>): Promise<void> {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'c');
    const repo = await initRepository(be, { password: undefined, ...FAST_INIT }, { cacheDir });
    const id = (await repo.saveBlob('data', Buffer.from('some content'))).id;
    await repo.flush();
    const path = join(repo.cachePath, 'index');
    await repo.close();
    const { open } = await import('lmdb');
    const env = open({ path, maxDbs: 8 });
    await damage(env.openDB<Buffer, Buffer>({ name: table, keyEncoding: 'binary', encoding: 'binary' }), Buffer.from(id, 'hex'));
    await env.close();
    const r2 = await openRepository(be, { cacheDir });
    expect((await r2.loadBlob(id)).toString()).toBe('some content');
    await r2.close();
  }

  it('a damaged cache entry (bit rot in a value) is detected and the cache rebuilt', async () => {
    await expectCacheDamageRepaired('blobs', async (db, key) => {
      const v = Buffer.from(db.getBinary(key)!);
      v[5] = v[5]! ^ 1; // flip a bit of the offset
      await db.put(key, v);
    });
  });

  it('a damaged pack number entry is detected and the cache rebuilt', async () => {
    await expectCacheDamageRepaired('packNumbers', async (db) => {
      const keys = [...db.getKeys()] as Buffer[];
      expect(keys.length).toBe(1);
      const v = Buffer.from(db.getBinary(keys[0]!)!);
      v[3] = v[3]! ^ 0x10; // flip a bit of the pack id
      await db.put(keys[0]!, v);
    });
  });

  it('key add/remove/list: a second password opens; the last key cannot be removed', async () => {
    const be = new MemoryBackend();
    const cacheDir = join(tmp.dir, 'c');
    const repo = await initRepository(be, { password: 'one', ...FAST_INIT }, { cacheDir });
    const second = await repo.addKey('two', {}, FAST_INIT.scrypt);
    expect((await repo.listKeys()).length).toBe(2);
    await expect(repo.removeKey(repo.keyId)).rejects.toMatchObject({ code: 'USAGE' });
    await repo.close();
    const r2 = await openRepository(be, { password: 'two', cacheDir });
    expect(r2.keyId).toBe(second);
    await r2.removeKey((await r2.listKeys()).find((k) => !k.current)!.id);
    await expect(r2.removeKey(second)).rejects.toMatchObject({ code: 'USAGE', message: /last key/ });
    await r2.close();
    await expect(openRepository(be, { password: 'one', cacheDir })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
  });
});

describe('seal pool', () => {
  it('worker output is exactly the envelope format, encrypted and not', async () => {
    for (const key of [Buffer.alloc(32, 7), undefined]) {
      const cipher = key ? aesCipher(key) : noneCipher;
      const pool = new SealPool(cipher, key, Buffer.alloc(32, 9), { level: 3, sqliteLevel: 3 }, 2);
      const inputs = [Buffer.alloc(100_000, 1), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 255)), Buffer.alloc(10, 2)];
      const sealed = await Promise.all(inputs.map((d) => pool.seal(d)));
      sealed.forEach((s, i) => expect(openEnvelope(cipher, s, 'b', inputs[i]!.length, true)).toEqual(inputs[i]));
      expect(sealed[0]!.length).toBeLessThan(1000);
      await pool.close();
    }
  });

  it('gives every blob its own nonce across the worker\'s blocks of random bytes', async () => {
    // One worker seals 10,000 blobs, more than one block of 4096 nonces, in batches that
    // cross a block's end: every envelope opens, and no nonce repeats.
    const key = Buffer.alloc(32, 7);
    const cipher = aesCipher(key);
    const pool = new SealPool(cipher, key, Buffer.alloc(32, 9), { level: 3, sqliteLevel: 3 }, 1);
    try {
      const inputs = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`blob ${i}`));
      // The first blob alone, so the later batches of 1024 do not line up with the blocks.
      const sealed = [await pool.seal(inputs[0]!), ...(await Promise.all(inputs.slice(1).map((d) => pool.seal(d))))];
      sealed.forEach((s, i) => expect(openEnvelope(cipher, s, 'b', inputs[i]!.length, true)).toEqual(inputs[i]));
      expect(new Set(sealed.map((s) => s.subarray(0, 12).toString('hex'))).size).toBe(sealed.length);
    } finally {
      await pool.close();
    }
  });

  it('reads and hashes files like blobId, on workers and on the calling thread', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clawback-pool-'));
    try {
      const hashKey = Buffer.alloc(32, 5);
      const a = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 255));
      await writeFile(join(dir, 'a'), a);
      await writeFile(join(dir, 'empty'), '');
      await writeFile(join(dir, 'grown'), 'more than the hint');
      await symlink(join(dir, 'a'), join(dir, 'link'));
      const paths = ['a', 'empty', 'grown', 'missing', 'link'].map((n) => join(dir, n));
      const hints = [a.length, 0, 4, 10, 10];
      for (const threads of [2, 0]) {
        const pool = new SealPool(noneCipher, undefined, hashKey, { level: 3, sqliteLevel: 3 }, threads);
        const got = await pool.hashFiles(paths, hints);
        expect(got[0]).toEqual({ kind: 'read', data: a, lengths: [a.length], ids: [blobId(hashKey, a)] });
        expect(got[1]).toEqual({ kind: 'read', data: Buffer.alloc(0), lengths: [], ids: [] });
        expect(got[2]).toEqual({ kind: 'grew' });
        expect(got[3]).toMatchObject({ kind: 'error', code: 'ENOENT' });
        // O_NOFOLLOW: a symlink where a file was is never followed.
        expect(got[4]).toMatchObject({ kind: 'error', code: 'ELOOP' });
        await pool.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('seal pool cuts files like the chunker', () => {
  // The workers carry their own copy of FastCDC's cut (worker-source.ts): it must agree
  // with FastCdcChunker on every input, at every size around min/avg/max.
  const chunker = createChunker({ algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 }, Buffer.alloc(32, 3));
  const hashKey = Buffer.alloc(32, 5);
  let dir: string;
  const pools = [new SealPool(noneCipher, undefined, hashKey, { level: 3, sqliteLevel: 3 }, 2), new SealPool(noneCipher, undefined, hashKey, { level: 3, sqliteLevel: 3 }, 0)];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clawback-pool-cdc-'));
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await rm(dir, { recursive: true, force: true });
  });

  fcTest.prop([fc.array(fc.uint8Array({ minLength: 0, maxLength: 70_000 }), { minLength: 1, maxLength: 4 }), fc.boolean()], { numRuns: 30 })(
    'same boundaries and ids as chunkBuffer + blobId, on workers and on the calling thread',
    async (contents, lowEntropy) => {
      // Low-entropy data (few distinct bytes) makes cuts at max size and at min size likely.
      const datas = contents.map((c) => (lowEntropy ? c.map((b) => b & 1) : c));
      const paths = await Promise.all(
        datas.map(async (d, i) => {
          const p = join(dir, `f${i}-${Math.random().toString(36).slice(2)}`);
          await writeFile(p, d);
          return p;
        }),
      );
      for (const pool of pools) {
        const got = await pool.hashFiles(paths, datas.map((d) => d.length), chunker);
        got.forEach((g, i) => {
          const d = Buffer.from(datas[i]!);
          const lengths = d.length === 0 ? [] : chunkBuffer(chunker, d);
          let pos = 0;
          const ids = lengths.map((len) => blobId(hashKey, d.subarray(pos, (pos += len))));
          expect(g).toEqual({ kind: 'read', data: d, lengths, ids });
        });
        // With `seal`, the workers return each chunk's envelope instead of the content: it
        // opens to exactly that chunk (a pool without workers returns the content).
        for (const key of [Buffer.alloc(32, 8), undefined]) {
          const cipher = key ? aesCipher(key) : noneCipher;
          const sealer = new SealPool(cipher, key, hashKey, { level: 3, sqliteLevel: 3 }, pool === pools[0] ? 2 : 0);
          const sealed = await sealer.hashFiles(paths, datas.map((d) => d.length), chunker, undefined, true);
          await sealer.close();
          sealed.forEach((g, i) => {
            const first = got[i]!;
            if (first.kind !== 'read') throw new Error('unexpected');
            if (g.kind === 'read' || first.ids.length === 0) return expect(g).toEqual(first);
            expect(g.kind).toBe('sealed');
            if (g.kind !== 'sealed') return;
            expect({ size: g.size, lengths: g.lengths, ids: g.ids }).toEqual({ size: first.data.length, lengths: first.lengths, ids: first.ids });
            let pos = 0;
            g.envelopes.forEach((env, k) => {
              const len = first.lengths[k]!;
              expect(openEnvelope(cipher, env, 'b', len, true)).toEqual(first.data.subarray(pos, pos + len));
              pos += len;
            });
          });
        }
        // With the expected ids given, a file with exactly those comes back without content.
        const prev = got.map((g, i) => (g.kind === 'read' && g.ids.length > 0 ? (i % 2 === 0 ? g.ids : [...g.ids.slice(1), g.ids[0]!].reverse()) : null));
        const again = await pool.hashFiles(paths, datas.map((d) => d.length), chunker, prev);
        again.forEach((g, i) => {
          const p = prev[i];
          const first = got[i]!;
          if (p && first.kind === 'read' && p.every((id, k) => id === first.ids[k])) expect(g).toEqual({ kind: 'same', length: datas[i]!.length });
          else expect(g).toEqual(first);
        });
      }
    },
  );

  // Chunks up to 256 KiB: the workers' Gear scan crosses its 63 KiB blocks (and another gear table).
  const wide = createChunker({ algorithm: 'fastcdc-2020', minSize: 4096, avgSize: 65536, maxSize: 262144 }, Buffer.alloc(32, 9));
  fcTest.prop([fc.array(fc.integer({ min: 0, max: 700_000 }), { minLength: 1, maxLength: 3 }), fc.boolean()], { numRuns: 8 })(
    'same boundaries as chunkBuffer across the Gear scan blocks of the workers',
    async (sizes, lowEntropy) => {
      const datas = sizes.map((n) => {
        const d = randomBytes(n);
        return lowEntropy ? d.map((b) => b & 3) : d;
      });
      const paths = await Promise.all(
        datas.map(async (d, i) => {
          const p = join(dir, `w${i}-${Math.random().toString(36).slice(2)}`);
          await writeFile(p, d);
          return p;
        }),
      );
      const got = await pools[0]!.hashFiles(paths, datas.map((d) => d.length), wide);
      got.forEach((g, i) => {
        if (g.kind !== 'read') throw new Error(`unexpected ${g.kind}`);
        expect(g.lengths).toEqual(datas[i]!.length === 0 ? [] : chunkBuffer(wide, datas[i]!));
      });
    },
  );

  // A cut in the first 31 bytes of one of the workers' scan blocks (BLOCK bytes each, as
  // GearScanner's): the Gear hash there still holds bytes of the block before, so a scan
  // that restarted its hash at each block would cut elsewhere. Random data puts a cut there
  // about once in 10^4 files, so these files are made to: the two bytes before the cut are
  // chosen so that the hash meets the mask exactly there.
  it('cuts as chunkBuffer does right after a scan block starts', async () => {
    const spec = fastCdcSpec(wide)!;
    for (const after of [1, 12, 30]) {
      const cutAt = spec.minSize + GEAR_BLOCK + after;
      const data = withCutAt(spec, cutAt);
      expect(chunkBuffer(wide, data)[0]).toBe(cutAt + 1);
      const p = join(dir, `block-${after}`);
      await writeFile(p, data);
      const [got] = await pools[0]!.hashFiles([p], [data.length], wide);
      if (got!.kind !== 'read') throw new Error(`unexpected ${got!.kind}`);
      expect(got!.lengths).toEqual(chunkBuffer(wide, data));
    }
  });
});

it('errors carry codes', () => {
  expect(new ClawbackError('USAGE', 'x').toJSON()).toMatchObject({ code: 'USAGE', message: 'x' });
});

describe('BLAKE3 binding', () => {
  it('loads the glibc binding directly where it is installed, and hashes the BLAKE3 test vector', () => {
    const path = hashNativePath();
    expect(existsSync(path)).toBe(true);
    if (platform() === 'linux' && arch() === 'x64' && existsSync('node_modules/@napi-rs/blake-hash-linux-x64-gnu')) {
      expect(path).toMatch(/blake-hash-linux-x64-gnu/);
    }
    // BLAKE3 of the empty input (the BLAKE3 reference's test vectors).
    expect(fileId(Buffer.alloc(0))).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  });
});

/**
 * Random bytes whose first FastCDC chunk (by `spec`) ends right after byte `cutAt` (past the
 * average size, so under maskL): its two bytes before are tried until the Gear hash, taken
 * from `spec.minSize` on, meets the mask at `cutAt` and nowhere before.
 */
function withCutAt(spec: FastCdcSpec, cutAt: number): Buffer {
  const step = (fp: number, b: number): number => ((fp << 1) + spec.gear[b]!) | 0;
  const cuts = (fp: number, i: number): boolean => (fp & (i < spec.avgSize ? spec.maskS : spec.maskL)) === 0;
  for (;;) {
    const data = randomBytes(cutAt + 1 + 4096);
    let fp = 0;
    let early = false;
    for (let i = spec.minSize; i < cutAt - 1 && !early; i++) early = cuts((fp = step(fp, data[i]!)), i);
    if (early) continue;
    for (let b1 = 0; b1 < 256; b1++) {
      const fp1 = step(fp, b1);
      if (cuts(fp1, cutAt - 1)) continue;
      for (let b2 = 0; b2 < 256; b2++) {
        if (!cuts(step(fp1, b2), cutAt)) continue;
        data[cutAt - 1] = b1;
        data[cutAt] = b2;
        return data;
      }
    }
  }
}
