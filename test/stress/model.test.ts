/**
 * Model-based test (fast-check `fc.commands`) of the whole store against a plain in-memory
 * model: snapshots of random trees from two sources, forget, gc, restore, copy to a second
 * repository (same or different chunking), password change, reopen with or without the
 * LMDB cache, verify, and a crash on the next write (the backend fails the k-th write
 * from now and every later one, the k-th before or after it lands; the repository object
 * is abandoned as a crashed process would and reopened). test/pruner/model.test.ts models the maintenance cycle
 * alone; this one covers the store.
 *
 * Invariants: the listed snapshots are exactly the model's; every kept snapshot (and every
 * copy) restores exactly; verify never finds damage; an operation cut by a crash leaves
 * either no trace or its complete result.
 *
 * CLAWBACK_STRESS_RUNS sets the number of runs (default 12); CLAWBACK_MODEL_SEED and
 * CLAWBACK_MODEL_PATH replay a reported counterexample.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, FileInfo, FileType, Handle, LoadRange } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { copySnapshots } from '../../src/copier/copy.js';
import { ClawbackError, isClawbackError } from '../../src/errors.js';
import { executePlan, planPrune } from '../../src/pruner/index.js';
import { initRepository, openRepository, type Repository } from '../../src/repository/repository.js';
import { forgetSnapshots } from '../../src/snapshot/forget.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { TEMPLATE_INIT } from './crash/fixtures.js';
import { cleanupTmp, errorsOf, pseudoRandom, restoredTree, tmp, treeOf, type Norm } from './harness.js';
import { tracked } from './results.js';

afterAll(cleanupTmp);

const RUNS = Number(process.env['CLAWBACK_STRESS_RUNS'] ?? 0) || 12;
const BLOCKS = Array.from({ length: 6 }, (_, i) => pseudoRandom(`model-block-${i}`, 2_000 + i * 2_500));
const PATHS = ['a.bin', 'b.txt', 'd/c.bin', 'd/e/f.bin', 'd/e/g.md', 'h/i.txt'];

interface FileSpec {
  path: string;
  blocks: number[];
  tag: number;
  link: boolean;
}

/** Writes a tree for `spec` into `dir` (replacing it); returns its normalized content. */
async function writeTree(dir: string, spec: FileSpec[]): Promise<Norm> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'empty'), { recursive: true });
  for (const f of spec) {
    const p = join(dir, f.path);
    await mkdir(dirname(p), { recursive: true });
    if (f.link) await symlink(`../target-${f.tag}`, p);
    else await writeFile(p, Buffer.concat([...f.blocks.map((i) => BLOCKS[i]!), Buffer.from(`#${f.tag}`)]));
  }
  return treeOf(dir);
}

interface Model {
  /** Kept snapshots, oldest first. */
  kept: { id: string; files: Norm }[];
  /** Copies at the destination: source snapshot id → files. */
  copies: Map<string, Norm>;
  hour: number;
  password: string;
  passwords: number;
}

/**
 * A backend that "dies" at its k-th write from `arm` on: that write (and every later one)
 * fails, before or after reaching the inner backend, as if the process had been killed
 * there. Each failure is a new error, so its stack shows the writer.
 */
class DyingBackend implements Backend {
  readonly location: string;
  readonly inner: Backend;
  private left = 0;
  private after = false;
  constructor(inner: Backend) {
    this.inner = inner;
    this.location = inner.location;
  }
  arm(k: number, after: boolean): void {
    this.left = k;
    this.after = after;
  }
  disarm(): void {
    this.left = 0;
  }
  private async write(fn: () => Promise<void>): Promise<void> {
    if (this.left === 0) return fn();
    if (this.left > 1) {
      this.left--;
      return fn();
    }
    if (this.after) await fn().catch(() => undefined);
    throw new ClawbackError('BACKEND', 'simulated crash: the process died here');
  }
  create = () => this.inner.create();
  isRepository = () => this.inner.isRepository();
  save = (h: Handle, d: Uint8Array) => this.write(() => this.inner.save(h, d));
  load = (h: Handle, r?: LoadRange) => this.inner.load(h, r);
  stat = (h: Handle) => this.inner.stat(h);
  list = (t: FileType): AsyncIterable<FileInfo> => this.inner.list(t);
  remove = (h: Handle) => this.write(() => this.inner.remove(h));
  listTempFiles = () => this.inner.listTempFiles();
  removeTempFile = (p: string) => this.write(() => this.inner.removeTempFile(p));
  close = () => this.inner.close();
}

interface Real {
  fb: DyingBackend;
  cacheDir: string;
  repo: Repository;
  dst: Repository;
  sources: string[];
  encrypted: boolean;
}

const PASSWORD = 'model-pw';

async function reopen(r: Real, m: Model, dropCache: boolean): Promise<void> {
  await r.repo.close().catch(() => undefined);
  r.fb.disarm();
  if (dropCache) await rm(r.cacheDir, { recursive: true, force: true });
  r.repo = await openRepository(r.fb, { password: r.encrypted ? m.password : undefined, cacheDir: r.cacheDir, sealThreads: 0 });
}

/** The listed snapshots must be exactly the model's. */
async function sameList(m: Model, r: Real): Promise<void> {
  const { entries, damaged } = await listSnapshots(r.repo);
  expect(damaged).toEqual([]);
  expect(entries.map((e) => e.id)).toEqual(m.kept.map((k) => k.id));
}

class SnapshotCmd implements fc.AsyncCommand<Model, Real> {
  readonly source: number;
  readonly spec: FileSpec[];
  constructor(source: number, spec: FileSpec[]) {
    this.source = source;
    this.spec = spec;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const files = await writeTree(r.sources[this.source]!, this.spec);
    const s = await createSnapshot(r.repo, { paths: [r.sources[this.source]!], time: new Date(Date.UTC(2026, 0, 1) + m.hour++ * 3_600_000) });
    m.kept.push({ id: s.id, files });
    await sameList(m, r);
  }
  toString = () => `snapshot(${this.source}: ${this.spec.map((f) => `${f.path}${f.link ? '@' : ''}`).join(',')})`;
}

class ForgetCmd implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const victim = m.kept[this.pick % m.kept.length]!;
    const res = await forgetSnapshots(r.repo, { selectors: [victim.id.slice(0, 12)] });
    expect(res.removed).toEqual([victim.id]);
    m.kept = m.kept.filter((k) => k !== victim);
    await sameList(m, r);
  }
  toString = () => `forget(${this.pick})`;
}

class GcCmd implements fc.AsyncCommand<Model, Real> {
  readonly maxUnused: number;
  constructor(maxUnused: number) {
    this.maxUnused = maxUnused;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const plan = await planPrune(r.repo, { maxUnused: this.maxUnused });
    expect(plan.refusals).toEqual([]);
    await executePlan(r.repo, plan);
    await sameList(m, r);
  }
  toString = () => `gc(${this.maxUnused})`;
}

class RestoreCmd implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const want = m.kept[this.pick % m.kept.length]!;
    const e = (await listSnapshots(r.repo)).entries.find((x) => x.id === want.id);
    expect(e, `snapshot ${want.id} is gone`).toBeDefined();
    expect(await restoredTree(r.repo, e!.manifest.tree)).toEqual(want.files);
  }
  toString = () => `restore(${this.pick})`;
}

class CopyCmd implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const { entries } = await listSnapshots(r.repo);
    await copySnapshots(r.repo, r.dst, entries);
    for (const k of m.kept) m.copies.set(k.id, k.files);
    const dst = (await listSnapshots(r.dst)).entries;
    expect(dst.length).toBe(m.copies.size);
    for (const e of dst) {
      const from = (e.manifest.extra?.['copiedFrom'] as { snapshot: string }).snapshot;
      expect(await restoredTree(r.dst, e.manifest.tree)).toEqual(m.copies.get(from));
    }
  }
  toString = () => 'copy';
}

class KeyChangeCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    if (!r.encrypted) return;
    const next = `${PASSWORD}-${++m.passwords}`;
    await r.repo.addKey(next, {}, { N: 1024, r: 8, p: 1 });
    await r.repo.removeKey(r.repo.keyId, true);
    const old = m.password;
    m.password = next;
    await reopen(r, m, false);
    await expect(openRepository(r.fb, { password: old, cacheDir: r.cacheDir, sealThreads: 0 })).rejects.toThrow(/wrong password/);
    await sameList(m, r);
  }
  toString = () => 'passwd';
}

class ReopenCmd implements fc.AsyncCommand<Model, Real> {
  readonly dropCache: boolean;
  constructor(dropCache: boolean) {
    this.dropCache = dropCache;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    await reopen(r, m, this.dropCache);
    await sameList(m, r);
  }
  toString = () => `reopen(${this.dropCache ? 'without cache' : 'with cache'})`;
}

class VerifyCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const v = await verifyRepository(r.repo, { readData: true });
    expect(errorsOf(v)).toEqual([]);
    expect(v.stats.snapshots).toBe(m.kept.length);
  }
  toString = () => 'verify';
}

/** The k-th write from now fails (before or after landing), then `op` runs; the process "crashes". */
class CrashCmd implements fc.AsyncCommand<Model, Real> {
  readonly k: number;
  readonly after: boolean;
  readonly op: 'snapshot' | 'gc' | 'forget';
  readonly source: number;
  readonly spec: FileSpec[];
  constructor(k: number, after: boolean, op: 'snapshot' | 'gc' | 'forget', source: number, spec: FileSpec[]) {
    this.k = k;
    this.after = after;
    this.op = op;
    this.source = source;
    this.spec = spec;
  }
  check = (m: Readonly<Model>) => this.op !== 'forget' || m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    r.fb.arm(this.k, this.after);
    let files: Norm | undefined;
    try {
      if (this.op === 'snapshot') {
        files = await writeTree(r.sources[this.source]!, this.spec);
        const s = await createSnapshot(r.repo, { paths: [r.sources[this.source]!], time: new Date(Date.UTC(2026, 0, 1) + m.hour++ * 3_600_000) });
        m.kept.push({ id: s.id, files });
      } else if (this.op === 'gc') {
        await executePlan(r.repo, await planPrune(r.repo, { maxUnused: 0 }));
      } else {
        await forgetSnapshots(r.repo, { selectors: [m.kept[0]!.id.slice(0, 12)] });
        m.kept.shift();
      }
    } catch (err) {
      if (!isClawbackError(err) || !err.message.includes('simulated crash')) throw err;
    }
    // The crashed process is gone: reopen from what the backend holds.
    await reopen(r, m, false);
    const { entries, damaged } = await listSnapshots(r.repo);
    expect(damaged).toEqual([]);
    const ids = entries.map((e) => e.id);
    // A cut snapshot is either absent or complete; a cut forget either happened or not.
    for (const e of entries) {
      if (m.kept.some((k) => k.id === e.id)) continue;
      if (this.op === 'snapshot' && files) {
        expect(await restoredTree(r.repo, e.manifest.tree)).toEqual(files);
        m.kept.push({ id: e.id, files });
      }
    }
    if (this.op === 'forget') m.kept = m.kept.filter((k) => ids.includes(k.id)).concat([]);
    // Forget may have landed before the crash: keep the model in list order.
    const order = new Map(ids.map((id, i) => [id, i]));
    for (const k of m.kept) expect(order.has(k.id), `kept snapshot ${k.id} lost after a crash in ${this.op}`).toBe(true);
    m.kept.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    const v = await verifyRepository(r.repo, { readData: true });
    expect(errorsOf(v)).toEqual([]);
    await sameList(m, r);
  }
  toString = () => `crash(write ${this.k}${this.after ? ' after' : ''} in ${this.op})`;
}

const fileSpec = fc.record({
  path: fc.constantFrom(...PATHS),
  blocks: fc.array(fc.integer({ min: 0, max: BLOCKS.length - 1 }), { maxLength: 3 }),
  tag: fc.integer({ min: 0, max: 3 }),
  link: fc.integer({ min: 0, max: 9 }).map((x) => x < 2),
});
const specs = fc.uniqueArray(fileSpec, { minLength: 1, maxLength: 5, selector: (f) => f.path.split('/')[0]! });
const source = fc.integer({ min: 0, max: 1 });

const commands = [
  fc.tuple(source, specs).map(([s, sp]) => new SnapshotCmd(s, sp)),
  fc.tuple(source, specs).map(([s, sp]) => new SnapshotCmd(s, sp)),
  fc.nat(10).map((p) => new ForgetCmd(p)),
  fc.constantFrom(0, 0.3, 1).map((x) => new GcCmd(x)),
  fc.nat(10).map((p) => new RestoreCmd(p)),
  fc.constant(new CopyCmd()),
  fc.constant(new KeyChangeCmd()),
  fc.boolean().map((b) => new ReopenCmd(b)),
  fc.constant(new VerifyCmd()),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.constantFrom('snapshot' as const, 'gc' as const, 'forget' as const), source, specs).map(([k, a, op, s, sp]) => new CrashCmd(k, a, op, s, sp)),
];

describe('store model', () => {
  it('every kept snapshot always restores exactly, through crashes, gc, copies and key changes', async () => {
    if (process.env['CLAWBACK_MODEL_DEBUG']) process.on('unhandledRejection', (e) => console.log('UNHANDLED', (e as Error).stack));
    let commandsRun = 0;
    await tracked(
      {
        section: 'Model-based',
        subject: 'whole store',
        tried: 'random sequences (fc.commands, ≤ 25 steps) of snapshot (random trees, 2 sources), forget, gc, restore, copy (same or different chunking), passwd, reopen with/without the LMDB cache, verify, and a crash at the k-th next write of a snapshot, gc or forget; encrypted and unencrypted',
        held: 'listed snapshots = the model\'s; every kept snapshot and every copy restores exactly; verify --read-data never finds damage; a crashed operation leaves nothing or its complete result',
        file: 'test/stress/model.test.ts',
        runs: RUNS,
      },
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.boolean(), fc.boolean(), fc.commands(commands, { size: 'large', maxCommands: 25 }), async (encrypted, sameChunking, cmds) => {
            const fb = new DyingBackend(new MemoryBackend());
            const cacheDir = await tmp('cb-model-cache-');
            const repo = await initRepository(fb, { password: encrypted ? PASSWORD : undefined, ...TEMPLATE_INIT, packSize: 16 * 1024 }, { cacheDir, sealThreads: 0 });
            const dst = await initRepository(new MemoryBackend(), { password: 'dst', ...TEMPLATE_INIT, ...(sameChunking ? { chunkingFrom: repo } : {}) }, { cacheDir: await tmp('cb-model-cache-'), sealThreads: 0 });
            const base = await tmp('cb-model-src-');
            const real: Real = { fb, cacheDir, repo, dst, sources: [join(base, 'one'), join(base, 'two')], encrypted };
            const model: Model = { kept: [], copies: new Map(), hour: 0, password: PASSWORD, passwords: 0 };
            try {
              await fc.asyncModelRun(() => ({ model, real }), cmds);
              commandsRun += [...cmds].length;
              await new GcCmd(0).run(model, real);
              const v = await verifyRepository(real.repo, { readData: true });
              expect(v.findings).toEqual([]);
              for (let i = 0; i < model.kept.length; i++) await new RestoreCmd(i).run(model, real);
            } finally {
              await real.repo.close();
              await real.dst.close();
              await rm(base, { recursive: true, force: true });
            }
          }),
          { numRuns: RUNS, ...(process.env['CLAWBACK_MODEL_SEED'] ? { seed: Number(process.env['CLAWBACK_MODEL_SEED']), path: process.env['CLAWBACK_MODEL_PATH'], endOnFailure: true } : {}) },
        );
        return { runs: RUNS, notes: `${commandsRun} commands in total` };
      },
    );
  }, 600_000);
});
