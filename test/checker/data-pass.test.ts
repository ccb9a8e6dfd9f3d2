/**
 * The data pass reads packs in pieces and opens blobs on worker threads: whatever the
 * piece size and thread count, it must find and name exactly what the one-thread,
 * whole-pack pass finds.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultBackend } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { verifyRepository, type VerifyOptions, type VerifyReport } from '../../src/checker/checker.js';
import type { Repository } from '../../src/repository/repository.js';
import { cleanup, damage, flipBit, locateFile, makeRepo, noise, reopen, snap, tmp, writeFiles } from '../fixtures/maint.js';

afterAll(cleanup);

/** Ways to run the data pass: pieces of 1 byte up (one blob each), 5 KiB, or whole packs. */
const MODES: VerifyOptions[] = [
  { readData: true, threads: 0, chunkBytes: 1 << 30 },
  { readData: true, threads: 2, chunkBytes: 1 },
  { readData: true, threads: 1, chunkBytes: 5000, concurrency: 1 },
  { readData: true, threads: 2, chunkBytes: 5000 },
];

function summary(r: VerifyReport) {
  return { clean: r.clean, findings: r.findings, blobsChecked: r.stats.blobsChecked, bytesRead: r.stats.bytesRead, packsRead: r.stats.packsRead };
}

interface Fixture {
  backend: MemoryBackend;
  password: string | undefined;
  cacheDir: string;
  tree: string;
}

/** One snapshot of a few files in 64 KiB packs (many blobs per pack). */
async function fixture(encrypted: boolean): Promise<Fixture> {
  const { repo, backend, password, cacheDir } = await makeRepo({ encrypted, packSize: 64 * 1024 });
  const src = join(await tmp(), 'src');
  await writeFiles(src, { 'a.bin': noise(90_000), 'b.txt': 'text '.repeat(20_000), 'c/d.bin': noise(40_000), 'c/e.txt': 'e'.repeat(5000) });
  const s = await snap(repo, src);
  await repo.close();
  return { backend: backend as MemoryBackend, password, cacheDir, tree: s.manifest.tree };
}

async function runAll(f: Fixture, backend = f.backend as MemoryBackend | FaultBackend): Promise<ReturnType<typeof summary>[]> {
  const out = [];
  for (const m of MODES) {
    const repo = await reopen(backend, f.cacheDir, f.password);
    out.push(summary(await verifyRepository(repo, m)));
    await repo.close();
  }
  return out;
}

describe.each([false, true])('data pass in pieces and threads (encrypted: %s)', (encrypted) => {
  it('agrees with the whole-pack pass on a sound repository and on every kind of damage', async () => {
    const f = await fixture(encrypted);
    const probe = await reopen(f.backend, f.cacheDir, f.password);
    const a = await locateFile(probe, f.tree, 'a.bin');
    const e = await locateFile(probe, f.tree, 'c/e.txt');
    await probe.close();

    const sound = await runAll(f);
    expect(sound[0]!.clean).toBe(true);
    expect(sound[0]!.blobsChecked).toBeGreaterThan(5);
    for (const r of sound) expect(r).toEqual(sound[0]);

    // A flipped bit in a blob, in the pack header, and a truncated pack.
    await damage(f.backend, { type: 'data', name: a.pack }, (b) => flipBit(b, (a.offset + 7) * 8));
    await damage(f.backend, { type: 'data', name: e.pack }, (b) => (e.pack === a.pack ? b : flipBit(b, (b.length - 10) * 8)));
    const damaged = await runAll(f);
    expect(damaged[0]!.clean).toBe(false);
    expect(damaged[0]!.findings.some((x) => x.kind === 'blob-damaged' && x.object.id === a.blob)).toBe(true);
    for (const r of damaged) expect(r).toEqual(damaged[0]);

    await damage(f.backend, { type: 'data', name: a.pack }, (b) => b.subarray(0, a.offset + a.length - 3));
    const cut = await runAll(f);
    expect(cut[0]!.findings.map((x) => x.kind)).toContain('pack-size');
    for (const r of cut) expect(r).toEqual(cut[0]);
  });

  it('finds bits flipped in transfer in any piece', async () => {
    const f = await fixture(encrypted);
    const probe = await reopen(f.backend, f.cacheDir, f.password);
    const a = await locateFile(probe, f.tree, 'c/d.bin');
    await probe.close();
    const fb = new FaultBackend(f.backend);
    // Every load of the pack holding the blob (whole or ranged) has a bit flipped at the blob's
    // third byte.
    fb.flipBitOnLoad(
      (h, range) => h.type === 'data' && h.name === a.pack && (range?.offset ?? 0) <= a.offset + 3 && a.offset + 3 < (range?.offset ?? 0) + (range?.length ?? Infinity),
      0,
    );
    for (const m of MODES) {
      // Bit 0 of the returned bytes: the blob's first byte when the piece starts with it.
      const repo = await reopen(fb, f.cacheDir, f.password);
      const r = await verifyRepository(repo, m);
      expect(r.clean, JSON.stringify(m)).toBe(false);
      expect(r.findings.some((x) => x.kind === 'pack-damaged' && x.object.id === a.pack)).toBe(true);
      await repo.close();
    }
  });
});
