/**
 * The concurrent walk: files that change between `lstat` and read, wide and deep trees,
 * node order, and the flow-control helpers (LIFO slots, the read queue's byte budget).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, unlinkSync, utimesSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { archive } from '../../src/archiver/archiver.js';
import { Countdown, ReadQueue, Slots } from '../../src/archiver/read-queue.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { decodeTree } from '../../src/tree/codec.js';
import { chunkBuffer } from '../../src/chunker/index.js';
import { snapshotFs } from '../helpers/compare.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;

beforeEach(async () => {
  tmp = await makeTmp('clawback-walk-');
  repo = await initRepository(new MemoryBackend(), { ...FAST_INIT, password: undefined }, { cacheDir: join(tmp.dir, 'cache') });
});
afterEach(async () => {
  await repo.close();
  await tmp.cleanup();
});

describe('archiver walk', () => {
  it('content already stored under another path (sealed on the workers, then found stored) adds no data blob', async () => {
    const writeTree = async (root: string): Promise<void> => {
      await mkdir(join(root, 'sub'), { recursive: true });
      for (let i = 0; i < 200; i++) await writeFile(join(root, i % 2 ? 'sub' : '', `f${i}`), `file ${i} `.repeat(10 + i));
      await writeFile(join(root, 'twin-1'), 'twin'.repeat(500));
      await writeFile(join(root, 'twin-2'), 'twin'.repeat(500));
    };
    const a = join(tmp.dir, 'a');
    await writeTree(a);
    const first = await archive(repo, { paths: [a] });
    await repo.flush();
    const afterFirst = { ...repo.saveStats };
    // The same files under another directory: no parent, so every file is read again.
    const b = join(tmp.dir, 'b');
    await writeTree(b);
    const second = await archive(repo, { paths: [b] });
    await repo.flush();
    // The second walk adds its two trees (the files' times differ) and no data blob (how
    // many chunks the first added depends on the repository's random gear seed).
    expect(afterFirst.blobsAdded).toBeGreaterThanOrEqual(201 + 2);
    expect(repo.saveStats.blobsAdded).toBe(afterFirst.blobsAdded + 2);
    expect(second.tree).not.toBe(first.tree);
    const out = join(tmp.dir, 'out');
    await restoreTree(repo, second.tree, out);
    expect(await snapshotFs(out)).toEqual(await snapshotFs(b));
  });

  it('a copy with some files changed stores exactly the changed content and restores identically', async () => {
    const writeTree = async (root: string, changed: (i: number) => boolean): Promise<void> => {
      await mkdir(join(root, 'sub'), { recursive: true });
      // 36 MiB of unchanged files first: more than the read queue lets be in flight (32 MiB),
      // so the files in sub wait for their answers, which turn sealing on the workers off
      // (nearly every chunk was stored already): sub's files come back read, not sealed.
      for (let k = 0; k < 36; k++) await writeFile(join(root, `big${k}`), Buffer.alloc(1 << 20, `big ${k} `));
      for (let i = 0; i < 300; i++) await writeFile(join(root, 'sub', `f${i}`), `${changed(i) ? 'changed' : 'file'} ${i} `.repeat(20 + i));
    };
    const a = join(tmp.dir, 'a');
    await writeTree(a, () => false);
    const first = await archive(repo, { paths: [a] });
    await repo.flush();
    const afterFirst = repo.saveStats.blobsAdded;
    // No parent: every file is read again, and most are found stored, chunk by chunk.
    const b = join(tmp.dir, 'b');
    await writeTree(b, (i) => i % 37 === 0);
    const second = await archive(repo, { paths: [b] });
    await repo.flush();
    // New: the chunks of the second tree's files that the first did not have, and two trees.
    const chunks = async (tree: string): Promise<Set<string>> => {
      const top = decodeTree(await repo.loadBlob(tree)).nodes;
      const sub = decodeTree(await repo.loadBlob(top.find((n) => n.name === 'sub')!.subtree!)).nodes;
      return new Set([...top, ...sub].flatMap((n) => n.content ?? []));
    };
    const before = await chunks(first.tree);
    const fresh = [...(await chunks(second.tree))].filter((id) => !before.has(id));
    expect(fresh.length).toBeGreaterThanOrEqual(9); // files 0, 37, …, 296 changed
    expect(repo.saveStats.blobsAdded).toBe(afterFirst + fresh.length + 2);
    expect(second).toMatchObject({ files: 336, filesRead: 336 });
    const out = join(tmp.dir, 'out');
    await restoreTree(repo, second.tree, out);
    expect(await snapshotFs(out)).toEqual(await snapshotFs(b));
  });

  it('files whose times changed but content did not keep their chunks and are counted as read', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    for (let i = 0; i < 60; i++) await writeFile(join(src, i % 3 ? 'sub' : '', `f${i}`), `content ${i} `.repeat(50 + i));
    const first = await archive(repo, { paths: [src] });
    await repo.flush();
    const before = repo.saveStats.blobsAdded;
    const later = new Date(Date.UTC(2030, 0, 1));
    for (let i = 0; i < 60; i++) utimesSync(join(src, i % 3 ? 'sub' : '', `f${i}`), later, later);
    const second = await archive(repo, { paths: [src], parentTree: first.tree });
    await repo.flush();
    expect(second).toMatchObject({ files: 60, filesRead: 60, bytes: first.bytes });
    // Only the two trees are new: every file cut into its parent node's chunks.
    expect(repo.saveStats.blobsAdded).toBe(before + 2);
    const nodes = async (tree: string): Promise<Map<string, { content?: string[]; mtimeNs: bigint }>> => {
      const top = decodeTree(await repo.loadBlob(tree)).nodes;
      const sub = decodeTree(await repo.loadBlob(top.find((n) => n.name === 'sub')!.subtree!)).nodes;
      return new Map([...top, ...sub].filter((n) => n.type === 'file').map((n) => [n.name, n]));
    };
    const a = await nodes(first.tree);
    const b = await nodes(second.tree);
    expect(b.size).toBe(60);
    for (const [name, n] of b) {
      expect(n.content).toEqual(a.get(name)!.content);
      expect(n.mtimeNs).toBe(BigInt(later.getTime()) * 1_000_000n);
    }
  });

  it('a file that grows after lstat is stored as read, in full', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'grows'), 'short');
    await writeFile(join(src, 'other'), 'x'.repeat(1000));
    const result = await archive(repo, {
      paths: [src],
      hooks: {
        include: (e) => {
          // Between the walk's lstat and the worker's read.
          if (e.relPath === 'grows') appendFileSync(e.absPath, ' and then much longer');
          return true;
        },
      },
    });
    await repo.flush();
    const out = join(tmp.dir, 'out');
    await restoreTree(repo, result.tree, out);
    // Content as read; the node's times are those lstat saw before the append.
    expect(await readFile(join(out, 'grows'), 'utf8')).toBe('short and then much longer');
    expect(await readFile(join(out, 'other'), 'utf8')).toBe('x'.repeat(1000));
  });

  it('a file that vanishes after lstat fails the snapshot naming it', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'gone'), 'soon gone');
    await writeFile(join(src, 'kept'), 'stays');
    const run = archive(repo, {
      paths: [src],
      hooks: {
        include: (e) => {
          if (e.relPath === 'gone') unlinkSync(e.absPath);
          return true;
        },
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'CAPTURE', details: { problems: [{ path: join(src, 'gone'), reason: 'vanished during the snapshot' }] } });
  });

  it('wide and deep trees keep every node in name order', async () => {
    const src = join(tmp.dir, 'src');
    // 40 directories of 60 files, and a chain 30 deep: more than the walk's slots.
    for (let d = 0; d < 40; d++) {
      const dir = join(src, `d${String(d).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < 60; f++) await writeFile(join(dir, `f${f}`), `${d}/${f}`.repeat(f));
    }
    let deep = src;
    for (let i = 0; i < 30; i++) deep = join(deep, `level${i}`);
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, 'bottom'), 'bottom');
    const result = await archive(repo, { paths: [src] });
    expect(result.files).toBe(40 * 60 + 1);
    await repo.flush();
    const root = decodeTree(await repo.loadBlob(result.tree));
    const names = root.nodes.map((n) => n.name);
    expect(names).toEqual([...names].sort());
    const out = join(tmp.dir, 'out');
    await restoreTree(repo, result.tree, out);
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
  });

  it('files cut on the workers, on this thread and streamed get the same chunks as chunkBuffer', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    // With FAST_INIT's chunker (min 1 KiB, max 16 KiB), all of these are cut on the workers,
    // except the one above the workers' 8 MiB limit, which is read on this thread.
    const rand = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 255));
    const files: Record<string, Buffer> = { one: rand(900, 1), few: rand(40_000, 2), many: rand(300_000, 3), big: rand((8 << 20) + 5000, 4) };
    for (const [name, data] of Object.entries(files)) await writeFile(join(src, name), data);
    const result = await archive(repo, { paths: [src] });
    await repo.flush();
    const root = decodeTree(await repo.loadBlob(result.tree));
    const chunker = repo.chunker('file');
    for (const node of root.nodes) {
      const data = files[node.name]!;
      let pos = 0;
      const ids = chunkBuffer(chunker, data).map((len) => repo.blobId(data.subarray(pos, (pos += len))));
      expect(node.content, node.name).toEqual(ids);
    }
  });
});

describe('walk flow control', () => {
  it('Slots serve waiters last in, first out', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => slots.acquire().then(() => order.push(n)));
    slots.release();
    await new Promise((r) => setImmediate(r));
    slots.release();
    await new Promise((r) => setImmediate(r));
    slots.release();
    await Promise.all(waits);
    expect(order).toEqual([3, 2, 1]);
  });

  it('Countdown settles once every piece has ended, with the first failure', async () => {
    await expect(new Countdown().close()).resolves.toBeUndefined();
    const c = new Countdown();
    c.add();
    c.add();
    let settled = false;
    const closing = c.close().then(
      () => (settled = true),
      (err: unknown) => {
        settled = true;
        throw err;
      },
    );
    c.fail(new Error('first'));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // one piece still runs
    c.fail(new Error('second'));
    await expect(closing).rejects.toThrow('first');
    const ok = new Countdown();
    ok.add();
    const closed = ok.close();
    ok.done();
    await expect(closed).resolves.toBeUndefined();
  });

  it('ReadQueue.submit queues only what fits the budget now', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a'), Buffer.alloc(600, 1));
    const q = new ReadQueue(repo, undefined, { batchFiles: 8, batchBytes: 4096, inFlightBytes: 1000 });
    const got = new Promise((resolve, reject) => expect(q.submit(join(src, 'a'), 600, null, resolve, reject)).toBe(true));
    expect(q.submit(join(src, 'a'), 600, null, () => expect.fail('not queued'), () => expect.fail('not queued'))).toBe(false);
    expect(await got).toMatchObject({ ids: [repo.blobId(Buffer.alloc(600, 1))], lengths: [600] });
    q.done(600);
    const again = new Promise((resolve, reject) => expect(q.submit(join(src, 'a'), 600, null, resolve, reject)).toBe(true));
    expect(await again).toMatchObject({ lengths: [600] });
  });

  it('ReadQueue keeps the bytes in flight within its budget, and never starves a file', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    const sizes = Array.from({ length: 40 }, (_, i) => 100 + ((i * 37) % 9) * 100);
    for (let i = 0; i < sizes.length; i++) await writeFile(join(src, `f${i}`), Buffer.alloc(sizes[i]!, i));
    const q = new ReadQueue(repo, undefined, { batchFiles: 3, batchBytes: 1000, inFlightBytes: 2500 });
    let held = 0;
    let most = 0;
    await Promise.all(
      sizes.map(async (size, i) => {
        const r = await q.read(join(src, `f${i}`), size);
        held += size;
        most = Math.max(most, held);
        // Sealed on the workers (new content) or returned as is: the same chunk either way.
        expect(['read', 'sealed']).toContain(r.kind);
        expect(r).toMatchObject({ ids: [repo.blobId(Buffer.alloc(size, i))], lengths: [size] });
        await new Promise((res) => setTimeout(res, 1));
        held -= size;
        q.done(size);
      }),
    );
    expect(most).toBeLessThanOrEqual(2500);
  });
});
