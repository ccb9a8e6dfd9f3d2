/**
 * gc's repacking copies each kept blob's stored bytes as they are, in pieces, checked on
 * worker threads; its mark phase reads tree references without the full tree decoder.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FILE_TYPES } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { isClawbackError } from '../../src/errors.js';
import { executePlan, planPrune, planTotals, type ExecuteOptions } from '../../src/pruner/index.js';
import { treeRefs } from '../../src/pruner/refs.js';
import { loadIndexState } from '../../src/repository/index-state.js';
import type { Repository } from '../../src/repository/repository.js';
import { listSnapshots, loadSnapshot, removeSnapshot, saveSnapshot } from '../../src/snapshot/store.js';
import { decodeTree, encodeTree } from '../../src/tree/codec.js';
import { cleanup, damage, flipBit, makeRepo, names, noise, reopen, snap, tmp, writeFiles } from '../fixtures/maint.js';

afterAll(cleanup);

interface Template {
  backend: MemoryBackend;
  password: string | undefined;
}

/** Two snapshots in 24 KiB packs; the first is forgotten, so packs are partly used. */
async function template(encrypted: boolean): Promise<Template> {
  const { repo, backend, password } = await makeRepo({ encrypted, packSize: 24 * 1024 });
  const src = join(await tmp(), 'src');
  await writeFiles(src, { 'a.bin': noise(40_000), 'b.bin': noise(40_000), 'c.txt': 'c'.repeat(3000), 'sub/n.txt': 'note', 'sub/deeper/m.txt': 'm'.repeat(900) });
  const s1 = await snap(repo, src, { time: new Date('2026-01-01T00:00:00Z') });
  await rm(join(src, 'a.bin'));
  await writeFile(join(src, 'd.bin'), noise(30_000));
  await writeFile(join(src, 'sub/n.txt'), 'changed');
  await snap(repo, src, { time: new Date('2026-01-02T00:00:00Z') });
  await removeSnapshot(repo, s1.id);
  await repo.close();
  return { backend: backend as MemoryBackend, password };
}

async function clone(src: MemoryBackend): Promise<MemoryBackend> {
  const out = new MemoryBackend();
  for (const t of FILE_TYPES) {
    for await (const f of src.list(t)) await out.save({ type: t, name: f.name }, await src.load({ type: t, name: f.name }));
  }
  return out;
}

/** Stored bytes of every indexed blob copy, by blob id. */
async function storedBlobs(repo: Repository): Promise<Map<string, Buffer[]>> {
  const state = await loadIndexState(repo);
  const out = new Map<string, Buffer[]>();
  for (const [id, locs] of state.blobs) {
    out.set(id, await Promise.all(locs.map(async (l) => Buffer.from(await repo.backend.load({ type: 'data', name: l.packId }, { offset: l.offset, length: l.length })))));
  }
  return out;
}

/** The new packs' listings: ids, lengths and raw lengths in order (pack ids vary with nonces). */
async function newListings(repo: Repository, before: string[]): Promise<string[]> {
  const state = await loadIndexState(repo);
  return [...state.packs.values()]
    .filter((p) => !before.includes(p.id))
    .map((p) => p.blobs.map((b) => `${b.type}:${b.id}:${b.offset}:${b.length}:${b.rawLength}`).join(','))
    .sort();
}

describe.each([false, true])('repack (encrypted: %s)', (encrypted) => {
  it('copies every kept blob as stored, the same way in pieces of any size and with any number of threads', async () => {
    const t = await template(encrypted);
    const results: string[][] = [];
    const modes: ExecuteOptions[] = [{ threads: 0 }, { threads: 2, chunkBytes: 1 }, { threads: 1, chunkBytes: 5000 }, {}];
    for (const mode of modes) {
      const backend = await clone(t.backend);
      const repo = await reopen(backend, await tmp(), t.password);
      const before = await storedBlobs(repo);
      const packsBefore = await names(backend, 'data');
      const plan = await planPrune(repo, { maxUnused: 0 });
      expect(planTotals(plan).repackPacks).toBeGreaterThan(0);
      const r = await executePlan(repo, plan, mode);
      expect(r.repackedPacks).toBe(planTotals(plan).repackPacks);
      expect(r.newPacks).toBeGreaterThan(0);
      // Every blob now listed has exactly the stored bytes of one of its copies before.
      for (const [id, copies] of await storedBlobs(repo)) {
        for (const c of copies) expect(before.get(id)!.some((b) => b.equals(c)), `blob ${id}`).toBe(true);
      }
      expect((await verifyRepository(repo, { readData: true })).findings).toEqual([]);
      results.push(await newListings(repo, packsBefore));
      // Data and tree blobs are never in one pack.
      for (const p of (await loadIndexState(repo)).packs.values()) expect(new Set(p.blobs.map((b) => b.type)).size).toBe(1);
      await repo.close();
    }
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('keeps a cache this process has open in sync, and a closed one is rebuilt when next used', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const openDir = await tmp();
    const closedDir = await tmp();
    const other = await reopen(backend, closedDir, t.password);
    await other.index(); // a cache built before gc, then closed
    await other.close();
    const repo = await reopen(backend, openDir, t.password);
    await repo.index();
    const before = await loadIndexState(repo);
    await executePlan(repo, await planPrune(repo, { maxUnused: 0 }));
    const after = await loadIndexState(repo);
    const packs = new Set(await names(backend, 'data'));
    const later = await reopen(backend, closedDir, t.password);
    for (const r of [repo, later]) {
      for (const id of before.blobs.keys()) {
        const loc = await r.lookup(id);
        if (!after.blobs.has(id)) expect(loc, `deleted blob ${id}`).toBeUndefined();
        else expect(packs.has(loc!.packId) && after.blobs.get(id)!.some((l) => l.packId === loc!.packId && l.offset === loc!.offset)).toBe(true);
      }
    }
    await later.close();
    await repo.close();
  });

  it('stops before deleting anything when a blob to copy is damaged', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const repo = await reopen(backend, await tmp(), t.password);
    const plan = await planPrune(repo, { maxUnused: 0 });
    const victim = plan.packs.find((p) => p.action === 'repack')!;
    const e = plan.repackEntries.get(victim.id)![0]!;
    const offset = plan.index.offset(e);
    await damage(backend, { type: 'data', name: victim.id }, (b) => flipBit(b, (offset + 5) * 8));
    const before = await Promise.all(FILE_TYPES.map((ty) => names(backend, ty)));
    let err: unknown;
    await executePlan(repo, plan, { threads: 2 }).catch((x: unknown) => (err = x));
    expect(isClawbackError(err, 'INTEGRITY')).toBe(true);
    expect((err as Error).message).toMatch(/gc stopped before deleting anything/);
    expect((err as Error).message).toContain(plan.index.id(e).slice(0, 8));
    const after = await Promise.all(FILE_TYPES.map((ty) => names(backend, ty)));
    // Index files and snapshots untouched; no pack deleted (new packs may have been written).
    expect(after[FILE_TYPES.indexOf('index')]).toEqual(before[FILE_TYPES.indexOf('index')]);
    expect(after[FILE_TYPES.indexOf('snapshots')]).toEqual(before[FILE_TYPES.indexOf('snapshots')]);
    for (const p of before[FILE_TYPES.indexOf('data')]!) expect(after[FILE_TYPES.indexOf('data')]).toContain(p);
    await repo.close();
  });

  it('refuses to run when a reachable tree cannot be read with certainty', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const repo = await reopen(backend, await tmp(), t.password);
    const { entries } = await listSnapshots(repo);
    const manifest = await loadSnapshot(repo, entries[0]!.id);
    // A tree blob with a valid id whose file node has no content array.
    const bad = Buffer.from(JSON.stringify({ nodes: [{ name: 'x', type: 'file', mode: 420, mtime: '0', size: 1, content: 'nope' }] }));
    await repo.saveBlob('tree', bad);
    await repo.flush();
    await saveSnapshot(repo, { ...manifest, tree: repo.blobId(bad), time: '2026-02-01T00:00:00.000Z' });
    const plan = await planPrune(repo);
    expect(plan.refusals.join('\n')).toMatch(/reachable blob\(s\) are missing/);
    expect(plan.missing.map((m) => m.blob)).toContain(repo.blobId(bad));
    await repo.close();
  });
});

describe('treeRefs', () => {
  it('reads the references decodeTree reads', () => {
    const tree = {
      nodes: [
        { name: 'a', type: 'file' as const, mode: 420, mtimeNs: 1n, size: 3, content: ['1'.repeat(64), '2'.repeat(64)] },
        { name: 'b', type: 'dir' as const, mode: 493, mtimeNs: 2n, size: 0, subtree: '3'.repeat(64) },
        { name: 'c', type: 'symlink' as const, mode: 511, mtimeNs: 3n, size: 0, target: 'a' },
        { name: 'd', type: 'sqlite' as const, mode: 420, mtimeNs: 4n, size: 0, content: [] },
      ],
    };
    const bytes = encodeTree(tree);
    const want = decodeTree(bytes).nodes.map((n) => ({ type: n.type, subtree: n.subtree, content: n.content }));
    expect(treeRefs(bytes).map((n) => ({ type: n.type, subtree: n.subtree, content: n.content }))).toEqual(want);
  });

  it.each([
    ['not JSON', '{"nodes":['],
    ['no nodes', '{"nodez":[]}'],
    ['a node that is not an object', '{"nodes":[1]}'],
    ['an unknown type', '{"nodes":[{"type":"fifo"}]}'],
    ['a file without content', '{"nodes":[{"type":"file"}]}'],
    ['content that is not ids', `{"nodes":[{"type":"file","content":["${'A'.repeat(64)}"]}]}`],
    ['a dir without a subtree', '{"nodes":[{"type":"dir"}]}'],
    ['a symlink with a subtree', `{"nodes":[{"type":"symlink","subtree":"${'1'.repeat(64)}"}]}`],
  ])('refuses %s', (_what, text) => {
    expect(() => treeRefs(Buffer.from(text))).toThrow(/tree blob/);
  });
});
