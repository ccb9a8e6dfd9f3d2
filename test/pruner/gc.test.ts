import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { FILE_TYPES } from '../../src/backend/backend.js';
import { FaultBackend, transientError, type FaultOp } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { isClawbackError } from '../../src/errors.js';
import { executePlan, planPrune, planTotals, parseMaxUnused } from '../../src/pruner/index.js';
import type { Repository } from '../../src/repository/repository.js';
import { listSnapshots, removeSnapshot } from '../../src/snapshot/store.js';
import { cleanup, makeRepo, names, noise, normalize, readFiles, reopen, restoreFiles, snap, tmp, writeFiles, type Files } from '../fixtures/maint.js';

afterAll(cleanup);

interface Template {
  backend: MemoryBackend;
  password: string | undefined;
  /** Expected content of each kept snapshot, by id. */
  expected: Map<string, Files>;
}

/** Three snapshots; the first is forgotten, so some packs are unused and some partly used. */
async function template(encrypted: boolean): Promise<Template> {
  const { repo, backend, password } = await makeRepo({ encrypted, packSize: 24 * 1024 });
  const src = join(await tmp(), 'src');
  const expected = new Map<string, Files>();
  const A = noise(40_000);
  const B = noise(40_000);
  await writeFiles(src, { 'a.bin': A, 'b.bin': B, 'c.txt': 'c'.repeat(3000), 'sub/n.txt': 'note' });
  const s1 = await snap(repo, src, { time: new Date('2026-01-01T00:00:00Z') });
  await rm(join(src, 'a.bin'));
  await writeFile(join(src, 'd.bin'), noise(30_000));
  await writeFile(join(src, 'c.txt'), 'C'.repeat(5000));
  const s2 = await snap(repo, src, { time: new Date('2026-01-02T00:00:00Z') });
  expected.set(s2.id, await readFiles(src));
  await rm(join(src, 'b.bin'));
  await writeFile(join(src, 'e.bin'), Buffer.concat([B.subarray(0, 20_000), noise(8_000)]));
  const s3 = await snap(repo, src, { time: new Date('2026-01-03T00:00:00Z') });
  expected.set(s3.id, await readFiles(src));
  await removeSnapshot(repo, s1.id);
  await repo.close();
  return { backend: backend as MemoryBackend, password, expected };
}

async function clone(src: Backend): Promise<MemoryBackend> {
  const out = new MemoryBackend();
  for (const t of FILE_TYPES) {
    for await (const f of src.list(t)) {
      const h = { type: t, name: f.name };
      await out.save(h, await src.load(h));
    }
  }
  return out;
}

async function expectAllRestore(repo: Repository, expected: Map<string, Files>): Promise<void> {
  const { entries } = await listSnapshots(repo);
  expect(entries.map((e) => e.id).sort()).toEqual([...expected.keys()].sort());
  for (const e of entries) expect(normalize(await restoreFiles(repo, e.manifest.tree))).toEqual(normalize(expected.get(e.id)!));
}

describe.each([false, true])('gc (encrypted: %s)', (encrypted) => {
  it('deletes unused packs, repacks partly used ones, and leaves a repository that verifies with no findings', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const repo = await reopen(backend, await tmp(), t.password);
    const before = await names(backend, 'data');
    const plan = await planPrune(repo, { maxUnused: 0 });
    const totals = planTotals(plan);
    expect(plan.refusals).toEqual([]);
    // Files are saved concurrently, so how the forgotten blobs spread over packs varies:
    // some packs hold only them (deleted), others share with live blobs (repacked).
    expect(totals.deletePacks + totals.repackPacks).toBeGreaterThan(0);
    expect(plan.snapshots).toBe(2);
    const r = await executePlan(repo, plan);
    expect(r.repackedPacks).toBe(totals.repackPacks);
    if (totals.repackPacks > 0) expect(r.newPacks).toBeGreaterThan(0);
    expect(await names(backend, 'index')).toEqual([r.indexFile]);
    const after = await names(backend, 'data');
    for (const p of plan.packs.filter((x) => x.action !== 'keep')) expect(after).not.toContain(p.id);
    expect(after.length).toBe(before.length - totals.deletePacks - totals.repackPacks + r.newPacks);
    const v = await verifyRepository(repo, { readData: true });
    expect(v.findings).toEqual([]);
    await expectAllRestore(repo, t.expected);
    // Nothing is left to do: the next plan keeps everything.
    const again = await planPrune(repo, { maxUnused: 0 });
    expect(again.packs.every((p) => p.action === 'keep')).toBe(true);
    expect(again.unreferenced).toEqual([]);
    expect(again.rewriteIndex).toBe(false);
    await repo.close();
    // A fresh cache (LMDB deleted) sees the same.
    const fresh = await reopen(backend, await tmp(), t.password);
    await expectAllRestore(fresh, t.expected);
    await fresh.close();
  });

  it('keeps partly used packs under --max-unused, and a dry run writes nothing', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const repo = await reopen(backend, await tmp(), t.password);
    const listing = async () => Promise.all(FILE_TYPES.map((ty) => names(backend, ty)));
    const snapshotBefore = await listing();
    const plan = await planPrune(repo, { maxUnused: 1 });
    expect(await listing()).toEqual(snapshotBefore);
    expect(planTotals(plan).repackPacks).toBe(0);
    expect(planTotals(plan).keptUnusedBytes).toBeGreaterThan(0);
    await executePlan(repo, plan);
    expect((await verifyRepository(repo, { readData: true })).findings).toEqual([]);
    await expectAllRestore(repo, t.expected);
    await repo.close();
  });

  it('refuses when a reachable blob is missing, names it and its snapshots, and deletes nothing', async () => {
    const t = await template(encrypted);
    const backend = await clone(t.backend);
    const repo = await reopen(backend, await tmp(), t.password);
    const { entries } = await listSnapshots(repo);
    const newest = entries[entries.length - 1]!;
    const root = (await repo.lookup(newest.manifest.tree))!;
    const used = new Set((await planPrune(repo)).packs.filter((p) => p.liveBlobs > 0).map((p) => p.id));
    const victim = [...used].find((p) => p !== root.packId)!;
    await backend.remove({ type: 'data', name: victim });
    const before = await Promise.all(FILE_TYPES.map((ty) => names(backend, ty)));
    const plan = await planPrune(repo, { maxUnused: 0 });
    expect(plan.missing.length).toBeGreaterThan(0);
    expect(plan.refusals.join('\n')).toMatch(/reachable blob\(s\) are missing/);
    expect(plan.refusals.join('\n')).toContain(plan.missing[0]!.blob.slice(0, 8));
    expect(plan.missing.every((m) => m.snapshots.length > 0)).toBe(true);
    let err: unknown;
    await executePlan(repo, plan).catch((e: unknown) => (err = e));
    expect(isClawbackError(err, 'INTEGRITY')).toBe(true);
    expect(await Promise.all(FILE_TYPES.map((ty) => names(backend, ty)))).toEqual(before);
    await repo.close();
  });

  it('parses --max-unused', () => {
    expect(parseMaxUnused('5%')).toBe(0.05);
    expect(parseMaxUnused('5')).toBe(0.05);
    expect(parseMaxUnused('0')).toBe(0);
    expect(parseMaxUnused('100%')).toBe(1);
    expect(() => parseMaxUnused('101%')).toThrow(/max-unused/);
    expect(() => parseMaxUnused('abc')).toThrow(/max-unused/);
  });

  // Fail the n-th save or remove of a gc (before or after it took effect): the repository
  // must verify with info findings only, every snapshot must restore, and the next gc must
  // finish the job and leave no findings at all.
  it('survives a failure at every save and remove, and the next gc finishes', async () => {
    const t = await template(encrypted);
    const count = new FaultBackend(await clone(t.backend));
    const probe = await reopen(count, await tmp(), t.password);
    const c0 = count.calls;
    await executePlan(probe, await planPrune(probe, { maxUnused: 0 }));
    const c1 = count.calls;
    await probe.close();
    const ops: Record<FaultOp, number> = { save: c1.save - c0.save, remove: c1.remove - c0.remove, load: 0, list: 0, stat: 0 };
    expect(ops.save).toBeGreaterThan(2);
    expect(ops.remove).toBeGreaterThan(2);
    let failures = 0;
    for (const op of ['save', 'remove'] as const) {
      for (let n = 1; n <= ops[op]; n++) {
        for (const after of [false, true]) {
          const fb = new FaultBackend(await clone(t.backend));
          const cache = await tmp();
          const repo = await reopen(fb, cache, t.password);
          const plan = await planPrune(repo, { maxUnused: 0 });
          fb.failNth(op, n, transientError(`injected ${op} #${n}`), { after });
          const ok = await executePlan(repo, plan).then(
            () => true,
            (e: unknown) => {
              if (!isClawbackError(e, 'BACKEND_TRANSIENT')) throw e;
              return false;
            },
          );
          expect(ok, `${op} #${n} after=${after}`).toBe(false);
          failures++;
          fb.clearFaults();
          await repo.close();
          const re = await reopen(fb, cache, t.password);
          const v = await verifyRepository(re, { readData: true });
          expect(v.errors, `${op} #${n} after=${after}: ${JSON.stringify(v.findings.map((f) => f.message))}`).toBe(0);
          await expectAllRestore(re, t.expected);
          await executePlan(re, await planPrune(re, { maxUnused: 0 }));
          const v2 = await verifyRepository(re, { readData: true });
          expect(v2.findings, `${op} #${n} after=${after}`).toEqual([]);
          await expectAllRestore(re, t.expected);
          await re.close();
        }
      }
    }
    expect(failures).toBe(2 * (ops.save + ops.remove));
  });
});
