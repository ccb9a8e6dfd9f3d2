/**
 * Large files (over the workers' whole-file limit) are read and cut on the archiver's
 * thread and hashed (and sealed) on the blob workers (archiver/large-file.ts): the chunks
 * are exactly chunkBuffer's over the whole file, the next version stores only its changed
 * chunks, and the file restores byte for byte.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { LargeFileSaver, WINDOWS } from '../../src/archiver/large-file.js';
import { chunkBuffer } from '../../src/chunker/index.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { walkTree } from '../../src/tree/walk.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTmp();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** 40 MiB: runs of random bytes and of text-like repeats (compressible), so chunks vary. */
function mixed(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += 1 << 20) {
    const n = Math.min(1 << 20, bytes - at);
    if ((at >> 20) % 3 === 0) {
      // Compressible, but no two lines alike (no chunk repeats).
      let text = '';
      for (let i = 0; text.length < n; i++) text += `line ${at + i} of a log, with the number ${(at + i) * 7919} in it\n`;
      out.write(text.slice(0, n), at, 'latin1');
    }
    else randomBytes(n).copy(out, at);
  }
  return out;
}

async function contentOf(repo: Repository, tree: string, path: string): Promise<string[]> {
  for await (const e of walkTree(repo, tree)) if (e.path === path) return e.node.content ?? [];
  throw new Error(`no ${path}`);
}

it('cuts a large file as chunkBuffer does, stores only the changed chunks of its next version, and restores it', async () => {
  // Chunks of 256 KiB to 4 MiB: windows of 8 MiB, a few chunks each (as at full size).
  const chunker = { algorithm: 'fastcdc-2020' as const, minSize: 256 << 10, avgSize: 1 << 20, maxSize: 4 << 20 };
  const repo = await initRepository(new LocalBackend(join(tmp.dir, 'repo'), { fsync: false }), { password: 'pw', ...FAST_INIT, chunker }, { cacheDir: join(tmp.dir, 'cache'), sealThreads: 2 });
  const src = join(tmp.dir, 'src');
  await mkdir(src);
  const v1 = mixed(40 << 20);
  await writeFile(join(src, 'big.bin'), v1);
  const hashCut = vi.spyOn(repo, 'hashCut');
  const first = await createSnapshot(repo, { paths: [src] });
  // No parent: every window sealed on the workers (all its chunks are new).
  expect(hashCut.mock.calls.length).toBeGreaterThan(2);
  expect(hashCut.mock.calls.every((c) => c[2] === true)).toBe(true);
  hashCut.mockClear();
  const fileChunker = repo.chunker('file');
  const expectIds = (data: Buffer): string[] => {
    const ids: string[] = [];
    let pos = 0;
    for (const len of chunkBuffer(fileChunker, data)) {
      ids.push(repo.blobId(data.subarray(pos, pos + len)));
      pos += len;
    }
    return ids;
  };
  const ids1 = expectIds(v1);
  expect(ids1.length).toBeGreaterThan(4);
  expect(await contentOf(repo, first.manifest.tree, 'big.bin')).toEqual(ids1);
  // v2: 16 KiB inserted in the middle (a parent node exists: the windows are only hashed).
  const v2 = Buffer.concat([v1.subarray(0, 20 << 20), randomBytes(16 << 10), v1.subarray(20 << 20)]);
  await writeFile(join(src, 'big.bin'), v2);
  const before = repo.saveStats.blobsAdded;
  const second = await createSnapshot(repo, { paths: [src] });
  // A parent node: windows only hashed (the few new chunks are saved from the window).
  expect(hashCut.mock.calls.length).toBeGreaterThan(2);
  expect(hashCut.mock.calls.every((c) => c[2] === false)).toBe(true);
  const ids2 = expectIds(v2);
  expect(await contentOf(repo, second.manifest.tree, 'big.bin')).toEqual(ids2);
  const fresh = new Set(ids2.filter((id) => !ids1.includes(id))).size;
  expect(fresh).toBeLessThan(ids2.length / 2);
  // Only the new chunks and the directory's tree were stored.
  expect(repo.saveStats.blobsAdded - before).toBe(fresh + 1);
  const out = join(tmp.dir, 'out');
  await restoreTree(repo, second.manifest.tree, out);
  expect((await readFile(join(out, 'big.bin'))).equals(v2)).toBe(true);
  await repo.close();
});

it('gives its windows back when a file fails mid-way, so the next large file still goes through', async () => {
  const chunker = { algorithm: 'fastcdc-2020' as const, minSize: 256 << 10, avgSize: 1 << 20, maxSize: 4 << 20 };
  const repo = await initRepository(new LocalBackend(join(tmp.dir, 'repo'), { fsync: false }), { password: 'pw', ...FAST_INIT, chunker }, { cacheDir: join(tmp.dir, 'cache'), sealThreads: 2 });
  const saver = new LargeFileSaver(repo, repo.chunker('file'));
  // A directory opens (O_RDONLY) and fails at the first read (EISDIR), after a window was taken.
  const dir = join(tmp.dir, 'a-dir');
  await mkdir(dir);
  for (let k = 0; k < 2 * (WINDOWS + 1); k++) await expect(saver.save(dir, false, () => undefined)).rejects.toMatchObject({ code: 'EISDIR' });
  // Stopped between windows (an abort): the windows come back too.
  const data = mixed(24 << 20);
  const path = join(tmp.dir, 'big.bin');
  await writeFile(path, data);
  for (let k = 0; k < 2 * (WINDOWS + 1); k++) {
    let calls = 0;
    await expect(saver.save(path, false, () => { if (++calls === 3) throw new Error('stop'); })).rejects.toThrow('stop');
  }
  const saved = await saver.save(path, false, () => undefined);
  let pos = 0;
  expect(saved).toEqual({ size: data.length, content: chunkBuffer(repo.chunker('file'), data).map((len) => repo.blobId(data.subarray(pos, (pos += len)))) });
  await repo.flush();
  await repo.close();
});
