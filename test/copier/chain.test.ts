/**
 * `copy` through chains of repositories: a snapshot that reached the destination through
 * another repository (A → L → B) is recognised when copied again directly (A → B) or back
 * (B → A), whether the repositories share chunking or not.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/mem.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { copySnapshots } from '../../src/copier/copy.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { listSnapshots, saveSnapshot } from '../../src/snapshot/store.js';
import { FAST_INIT, useTmp } from '../helpers/tmp.js';

const open: Repository[] = [];
const tmp = useTmp('clawback-test-', { close: open });

async function repo(extra: Record<string, unknown> = {}): Promise<Repository> {
  const r = await initRepository(new MemoryBackend(), { password: 'pw', ...FAST_INIT, ...extra }, { cacheDir: join(tmp.dir, `cache${open.length}`) });
  open.push(r);
  return r;
}

const OTHER_CHUNKER = { chunker: { algorithm: 'fastcdc-2020', minSize: 2048, avgSize: 8192, maxSize: 32768 } };

async function withSnapshots(r: Repository): Promise<void> {
  const src = join(tmp.dir, 'src');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'a.bin'), randomBytes(100_000));
  await createSnapshot(r, { paths: [src], label: 'one' });
  await writeFile(join(src, 'b.bin'), randomBytes(50_000));
  await createSnapshot(r, { paths: [src] });
}

const all = async (r: Repository) => (await listSnapshots(r)).entries;

describe('copy through a chain of repositories', () => {
  for (const [name, lShares, bShares] of [
    ['shared chunking all along', true, true],
    ['re-chunked into the middle', false, true],
    ['re-chunked at the end', true, false],
  ] as const) {
    it(`A → L → B, then A → B and B → A add nothing (${name})`, async () => {
      const a = await repo();
      await withSnapshots(a);
      const l = await repo(lShares ? { chunkingFrom: a } : OTHER_CHUNKER);
      const b = await repo(bShares ? { chunkingFrom: l } : { chunker: { algorithm: 'fastcdc-2020', minSize: 4096, avgSize: 16384, maxSize: 65536 } });
      expect((await copySnapshots(a, l, await all(a))).copied).toHaveLength(2);
      const lb = await copySnapshots(l, b, await all(l));
      expect(lb.copied).toHaveLength(2);
      expect(lb.rechunked).toBe(!bShares);

      const ab = await copySnapshots(a, b, await all(a));
      expect(ab.copied).toEqual([]);
      expect(ab.blobsAdded).toBe(0);
      const bIds = new Set((await all(b)).map((e) => e.id));
      expect(ab.skipped.map((s) => bIds.has(s.destination))).toEqual([true, true]);

      const ba = await copySnapshots(b, a, await all(b));
      expect(ba.copied).toEqual([]);
      expect(ba.skipped.map((s) => s.destination).sort()).toEqual((await all(a)).map((e) => e.id).sort());
      expect(await all(a)).toHaveLength(2);
      expect(await all(b)).toHaveLength(2);
      // The mark names the direct source and the original.
      const copied = (await all(b))[0]!.manifest.extra?.['copiedFrom'] as { repository: string; origin: { repository: string } };
      expect(copied.repository).toBe(l.config.id);
      expect(copied.origin.repository).toBe(a.config.id);
    });
  }

  it('a snapshot copied by an older version (copiedFrom without origin) is still skipped', async () => {
    const a = await repo();
    await withSnapshots(a);
    const [first] = await all(a);
    const b = await repo({ chunkingFrom: a });
    const { parent: _p, ...m } = first!.manifest;
    void _p;
    await saveSnapshot(b, { ...m, extra: { copiedFrom: { repository: a.config.id, snapshot: first!.id } } });
    const res = await copySnapshots(a, b, await all(a));
    expect(res.skipped).toHaveLength(1);
    expect(res.copied).toHaveLength(1);
  });
});
