import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { copySnapshots } from '../../src/copier/copy.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { snapshotFs } from '../helpers/compare.js';
import { FAST_INIT, useTmp } from '../helpers/tmp.js';

const open: Repository[] = [];
const tmp = useTmp('clawback-test-', { close: open });

async function repo(extra: Record<string, unknown> = {}, password: string | undefined = 'pw'): Promise<Repository> {
  const r = await initRepository(new MemoryBackend(), { password, ...FAST_INIT, ...extra }, { cacheDir: join(tmp.dir, `cache${open.length}`) });
  open.push(r);
  return r;
}

async function source(): Promise<string> {
  const src = join(tmp.dir, 'src');
  await mkdir(join(src, 'd/e'), { recursive: true });
  await writeFile(join(src, 'big.bin'), randomBytes(200_000));
  await writeFile(join(src, 'd/small.txt'), 'hello');
  await writeFile(join(src, 'd/e/dup.bin'), Buffer.alloc(50_000, 7));
  return src;
}

describe('copy', () => {
  it('re-chunks between differently chunked repositories; copying twice adds nothing', async () => {
    const src = await source();
    const a = await repo();
    const b = await repo({ chunker: { algorithm: 'fastcdc-2020', minSize: 2048, avgSize: 8192, maxSize: 32768 } }, undefined);
    const s1 = await createSnapshot(a, { paths: [src], label: 'one' });
    await writeFile(join(src, 'd/small.txt'), 'changed');
    await createSnapshot(a, { paths: [src] });
    const entries = (await listSnapshots(a)).entries;

    const first = await copySnapshots(a, b, entries);
    expect(first.rechunked).toBe(true);
    expect(first.copied).toHaveLength(2);
    expect(first.bytesAdded).toBeGreaterThan(250_000);
    const second = await copySnapshots(a, b, entries);
    expect(second.copied).toHaveLength(0);
    expect(second.skipped).toHaveLength(2);
    expect(second.blobsAdded).toBe(0);

    const copied = (await listSnapshots(b)).entries;
    expect(copied.map((e) => e.manifest.label)).toEqual(['one', undefined]);
    const out = join(tmp.dir, 'out');
    await restoreTree(b, copied[1]!.manifest.tree, out);
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    expect(copied[0]!.manifest.time).toBe(s1.manifest.time);
  });

  it('copies blobs as they are when the destination shares chunking; and back again adds nothing', async () => {
    const src = await source();
    const a = await repo();
    const s = await createSnapshot(a, { paths: [src] });
    const b = await repo({ chunkingFrom: a }, 'other password');
    expect(b.sharesChunkingWith(a)).toBe(true);
    const res = await copySnapshots(a, b, (await listSnapshots(a)).entries);
    expect(res.rechunked).toBe(false);
    expect(res.blobsAdded).toBe(a.saveStats.blobsAdded);
    const copied = (await listSnapshots(b)).entries[0]!;
    expect(copied.manifest.tree).toBe(s.manifest.tree);
    const back = await copySnapshots(b, a, (await listSnapshots(b)).entries);
    expect(back.copied).toHaveLength(0);
    expect(back.skipped).toHaveLength(1);
  });
});
