import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultBackend } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { verifyRepository, type VerifyReport } from '../../src/checker/checker.js';
import type { Finding, FindingKind } from '../../src/checker/findings.js';
import { fileId } from '../../src/crypto/hash.js';
import { encodeIndex } from '../../src/index/format.js';
import type { Repository } from '../../src/repository/repository.js';
import { loadSnapshot } from '../../src/snapshot/store.js';
import { cleanup, damage, flipBit, locateFile, makeRepo, names, noise, snap, tmp, writeFiles } from '../fixtures/maint.js';

afterAll(cleanup);

interface Fixture {
  repo: Repository;
  backend: MemoryBackend | FaultBackend;
  s1: string;
  s2: string;
  tree1: string;
  tree2: string;
}

/** Two snapshots sharing data/big.bin; packs of 32 KiB. */
async function fixture(encrypted: boolean, backend: MemoryBackend | FaultBackend = new MemoryBackend()): Promise<Fixture> {
  const { repo } = await makeRepo({ encrypted, backend });
  const src = join(await tmp(), 'src');
  const files = { 'docs/a.txt': 'hello world\n'.repeat(50), 'data/big.bin': noise(60_000), 'data/other.bin': noise(20_000), link: { symlink: 'docs/a.txt' } };
  await writeFiles(src, files);
  const a = await snap(repo, src, { time: new Date('2026-01-01T00:00:00Z') });
  await writeFile(join(src, 'new.bin'), noise(10_000));
  const b = await snap(repo, src, { time: new Date('2026-01-02T00:00:00Z') });
  return { repo, backend, s1: a.id, s2: b.id, tree1: a.manifest.tree, tree2: b.manifest.tree };
}

function kinds(r: VerifyReport): FindingKind[] {
  return [...new Set(r.findings.map((f) => f.kind))].sort();
}

function one(r: VerifyReport, kind: FindingKind, id?: string): Finding {
  const f = r.findings.find((x) => x.kind === kind && (id === undefined || x.object.id === id));
  if (!f) throw new Error(`no ${kind} finding${id ? ` for ${id}` : ''} in ${JSON.stringify(r.findings.map((x) => [x.kind, x.object.id]))}`);
  return f;
}

describe.each([false, true])('verify (encrypted: %s)', (encrypted) => {
  it('reports a clean repository as clean, with and without the data pass', async () => {
    const f = await fixture(encrypted);
    const r = await verifyRepository(f.repo);
    expect(r.findings).toEqual([]);
    expect(r.clean).toBe(true);
    expect(r.stats.snapshots).toBe(2);
    expect(r.stats.trees).toBeGreaterThanOrEqual(4);
    const d = await verifyRepository(f.repo, { readData: true });
    expect(d.findings).toEqual([]);
    expect(d.stats.packsRead).toBe((await names(f.backend, 'data')).length);
    expect(d.stats.blobsChecked).toBeGreaterThan(5);
    await f.repo.close();
  });

  it('finds a flipped bit in a data blob only with --read-data, and names the file in both snapshots', async () => {
    const f = await fixture(encrypted);
    const loc = await locateFile(f.repo, f.tree1, 'data/big.bin');
    await damage(f.backend, { type: 'data', name: loc.pack }, (b) => flipBit(b, (loc.offset + (loc.length >> 1)) * 8));
    expect((await verifyRepository(f.repo)).clean).toBe(true);
    const r = await verifyRepository(f.repo, { readData: true });
    expect(r.clean).toBe(false);
    expect(kinds(r)).toEqual(['blob-damaged', 'pack-damaged']);
    expect(one(r, 'pack-damaged', loc.pack).message).toMatch(/does not match its name/);
    const blob = one(r, 'blob-damaged', loc.blob);
    expect(blob.snapshots).toEqual([f.s1, f.s2].sort());
    expect(blob.affected).toEqual(expect.arrayContaining([{ snapshot: f.s1, path: '/data/big.bin' }, { snapshot: f.s2, path: '/data/big.bin' }]));
    expect(blob.affectedCount).toBe(2);
    await f.repo.close();
  });

  it('finds bits flipped in transfer (FaultBackend) in the data pass', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const f = await fixture(encrypted, fb);
    const loc = await locateFile(f.repo, f.tree2, 'new.bin');
    fb.flipBitOnLoad((h, range) => h.type === 'data' && h.name === loc.pack && range === undefined, (loc.offset + 3) * 8);
    const r = await verifyRepository(f.repo, { readData: true });
    expect(one(r, 'blob-damaged', loc.blob).affected).toEqual([{ snapshot: f.s2, path: '/new.bin' }]);
    expect(one(r, 'pack-damaged', loc.pack).snapshots).toEqual([]);
    await f.repo.close();
  });

  it('finds a truncated pack by its size, and its damaged blobs by reading it', async () => {
    const f = await fixture(encrypted);
    const loc = await locateFile(f.repo, f.tree1, 'data/big.bin');
    await damage(f.backend, { type: 'data', name: loc.pack }, (b) => b.subarray(0, loc.offset + 10));
    const s = await verifyRepository(f.repo);
    expect(kinds(s)).toEqual(['pack-size']);
    expect(one(s, 'pack-size', loc.pack).message).toMatch(/the index says/);
    const r = await verifyRepository(f.repo, { readData: true });
    expect(kinds(r)).toEqual(['blob-damaged', 'pack-damaged', 'pack-size']);
    expect(one(r, 'blob-damaged', loc.blob).affected.map((a) => a.path)).toEqual(['/data/big.bin', '/data/big.bin']);
    await f.repo.close();
  });

  it('finds a missing pack and the files that lose data', async () => {
    const f = await fixture(encrypted);
    const loc = await locateFile(f.repo, f.tree1, 'data/big.bin');
    await f.backend.remove({ type: 'data', name: loc.pack });
    const r = await verifyRepository(f.repo);
    expect(kinds(r)).toEqual(['blob-missing', 'pack-missing']);
    one(r, 'pack-missing', loc.pack);
    const m = one(r, 'blob-missing', loc.blob);
    expect(m.message).toMatch(/only in missing pack/);
    expect(m.snapshots).toEqual([f.s1, f.s2].sort());
    expect(m.affected.every((a) => a.path === '/data/big.bin')).toBe(true);
    await f.repo.close();
  });

  it('finds a damaged tree blob in the structural pass and names the directory', async () => {
    const f = await fixture(encrypted);
    const { node } = await import('../../src/tree/walk.js').then((w) => w.findNode(f.repo, f.tree2, 'docs'));
    const loc = (await f.repo.lookup(node!.subtree!))!;
    await damage(f.backend, { type: 'data', name: loc.packId }, (b) => flipBit(b, (loc.offset + (loc.length >> 1)) * 8));
    const r = await verifyRepository(f.repo);
    const t = one(r, 'blob-damaged', loc.id);
    expect(t.message).toMatch(/tree blob/);
    expect(t.affected).toEqual(expect.arrayContaining([{ snapshot: f.s1, path: '/docs' }, { snapshot: f.s2, path: '/docs' }]));
    expect(r.clean).toBe(false);
    await f.repo.close();
  });

  it('finds damaged snapshot and index files', async () => {
    const f = await fixture(encrypted);
    await damage(f.backend, { type: 'snapshots', name: f.s1 }, (b) => flipBit(b));
    const idx = (await names(f.backend, 'index'))[0]!;
    await damage(f.backend, { type: 'index', name: idx }, (b) => flipBit(b));
    const r = await verifyRepository(f.repo);
    one(r, 'snapshot-damaged', f.s1);
    expect(one(r, 'index-damaged', idx).message).toMatch(/repair index/);
    // The packs that index listed are now unreferenced, and the snapshot's blobs missing.
    expect(r.findings.some((x) => x.kind === 'pack-unreferenced')).toBe(true);
    expect(one(r, 'blob-missing').snapshots).toEqual([f.s2]);
    await f.repo.close();
  });

  it('finds index files that disagree, list impossible places, or name packs not in data/', async () => {
    const f = await fixture(encrypted);
    const loc = await locateFile(f.repo, f.tree1, 'data/big.bin');
    const state = await import('../../src/repository/index-state.js').then((m) => m.loadIndexState(f.repo));
    const real = state.packs.get(loc.pack)!;
    await f.repo.writeIndex([{ id: real.id, size: real.size + 1, blobs: real.blobs }]);
    const ghost = randomBytes(32).toString('hex');
    await f.repo.writeIndex([{ id: ghost, size: 100, blobs: [{ type: 'data', id: randomBytes(32).toString('hex'), offset: 0, length: 50, rawLength: 40 }] }]);
    const junk = randomBytes(500);
    await f.backend.save({ type: 'data', name: fileId(junk) }, junk);
    const bid = randomBytes(32).toString('hex');
    await f.repo.writeIndex([
      {
        id: fileId(junk),
        size: 500,
        blobs: [
          { type: 'data', id: bid, offset: 0, length: 100, rawLength: 90 },
          { type: 'data', id: randomBytes(32).toString('hex'), offset: 50, length: 100, rawLength: 90 },
        ],
      },
    ]);
    const r = await verifyRepository(f.repo);
    expect(one(r, 'index-conflict', loc.pack).message).toMatch(/listed differently/);
    one(r, 'pack-missing', ghost);
    expect(one(r, 'index-invalid', fileId(junk)).message).toMatch(/overlaps/);
    expect(r.clean).toBe(false);
    await f.repo.close();
  });

  it('accepts blobs stored twice, superseded index files and unreferenced packs', async () => {
    const f = await fixture(encrypted);
    // Every blob again, in new packs, under a second index file (what an interrupted gc leaves).
    const cache = await f.repo.index();
    for (const loc of [...cache.allBlobs()]) await f.repo.saveBlob(loc.type, await f.repo.readBlob(loc), loc.id, { force: true });
    await f.repo.flush();
    const idx = await names(f.backend, 'index');
    const copy = await f.repo.loadIndexFile(idx[0]!);
    await f.repo.writeIndex(copy.packs, [idx[0]!]);
    const junk = randomBytes(300);
    await f.backend.save({ type: 'data', name: fileId(junk) }, junk);
    const r = await verifyRepository(f.repo, { readData: true });
    expect(r.errors).toBe(0);
    expect(r.clean).toBe(true);
    expect(kinds(r)).toEqual(['index-superseded', 'pack-unreferenced']);
    expect(r.findings.every((x) => x.severity === 'info')).toBe(true);
    await f.repo.close();
  });

  it('checks only the selected subset of packs', async () => {
    const f = await fixture(encrypted);
    const packs = await names(f.backend, 'data');
    let total = 0;
    for (let n = 1; n <= 3; n++) total += (await verifyRepository(f.repo, { subset: { kind: 'bucket', n, t: 3 } })).stats.packsRead;
    expect(total).toBe(packs.length);
    const half = await verifyRepository(f.repo, { subset: { kind: 'percent', percent: 50 } });
    expect(half.stats.packsRead).toBe(Math.max(1, Math.round(packs.length / 2)));
    const tiny = await verifyRepository(f.repo, { subset: { kind: 'size', bytes: 1 } });
    expect(tiny.stats.packsRead).toBe(1);
    await f.repo.close();
  });
});

describe('verify against the snapshot file, not the cache', () => {
  it('does not trust a stale cache', async () => {
    const f = await fixture(true);
    const m = await loadSnapshot(f.repo, f.s2);
    expect(m.tree).toBe(f.tree2);
    // Drop every index file: the cache still knows the blobs, verify must not.
    for (const id of await names(f.backend, 'index')) await f.backend.remove({ type: 'index', name: id });
    const r = await verifyRepository(f.repo);
    expect(kinds(r)).toEqual(['blob-missing', 'pack-unreferenced']);
    expect(encodeIndex({ packs: [], superseded: [] }).length).toBeGreaterThan(0);
    await f.repo.close();
  });
});
