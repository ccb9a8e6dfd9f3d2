/**
 * Model-based test (fast-check `commands`) of the maintenance cycle: snapshot, forget, gc,
 * verify, restore and reopen (optionally with the LMDB cache deleted), in random orders.
 * Invariants: every kept snapshot restores exactly, verify never finds damage, gc never
 * refuses, and after gc verify reports nothing at all.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/mem.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { executePlan, planPrune } from '../../src/pruner/index.js';
import type { Repository } from '../../src/repository/repository.js';
import { forgetSnapshots } from '../../src/snapshot/forget.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { cleanup, makeRepo, normalize, readFiles, reopen, restoreFiles, snap, tmp, writeFiles, type Files } from '../fixtures/maint.js';

afterAll(cleanup);

/** Shared content blocks, so snapshots deduplicate against each other. */
const BLOCKS = [3000, 5000, 9000, 12000, 7000, 4000].map((n) => randomBytes(n));
const PATHS = ['a.bin', 'b.bin', 'd/c.bin', 'd/e/f.bin', 'g.txt', 'd/e/h.txt'];

type FileSpec = { path: string; blocks: number[]; tag: number };

function build(spec: FileSpec[]): Files {
  const files: Files = {};
  for (const f of spec) files[f.path] = Buffer.concat([...f.blocks.map((i) => BLOCKS[i]!), Buffer.from(`#${f.tag}`)]);
  return files;
}

interface Model {
  /** Kept snapshots, oldest first. */
  kept: { id: string; files: Record<string, string | { symlink: string }> }[];
  hour: number;
}

interface Real {
  backend: MemoryBackend;
  cacheDir: string;
  password: string | undefined;
  repo: Repository;
  src: string;
}

class SnapshotCmd implements fc.AsyncCommand<Model, Real> {
  readonly spec: FileSpec[] | null;
  constructor(spec: FileSpec[] | null) {
    this.spec = spec;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    if (this.spec !== null || m.kept.length === 0) await writeFiles(r.src, build(this.spec ?? [{ path: 'a.bin', blocks: [0], tag: 0 }]));
    const s = await snap(r.repo, r.src, { time: new Date(Date.UTC(2026, 0, 1) + m.hour++ * 3_600_000) });
    m.kept.push({ id: s.id, files: normalize(await readFiles(r.src)) });
  }
  toString = () => `snapshot(${this.spec === null ? 'unchanged' : this.spec.map((f) => f.path).join(',')})`;
}

class ForgetCmd implements fc.AsyncCommand<Model, Real> {
  readonly how: { last: number } | { pick: number };
  constructor(how: { last: number } | { pick: number }) {
    this.how = how;
  }
  check = (m: Readonly<Model>) => m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    if ('last' in this.how) {
      const res = await forgetSnapshots(r.repo, { policy: { last: this.how.last } });
      const keep = m.kept.slice(Math.max(0, m.kept.length - this.how.last));
      expect(res.removed.sort()).toEqual(m.kept.filter((k) => !keep.includes(k)).map((k) => k.id).sort());
      m.kept = keep;
    } else {
      const i = this.how.pick % m.kept.length;
      const res = await forgetSnapshots(r.repo, { selectors: [`v${i + 1}`] });
      expect(res.removed).toEqual([m.kept[i]!.id]);
      m.kept.splice(i, 1);
    }
  }
  toString = () => `forget(${JSON.stringify(this.how)})`;
}

class GcCmd implements fc.AsyncCommand<Model, Real> {
  readonly maxUnused: number;
  constructor(maxUnused: number) {
    this.maxUnused = maxUnused;
  }
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    const plan = await planPrune(r.repo, { maxUnused: this.maxUnused });
    expect(plan.refusals).toEqual([]);
    await executePlan(r.repo, plan);
    const v = await verifyRepository(r.repo);
    expect(v.findings).toEqual([]);
  }
  toString = () => `gc(${this.maxUnused})`;
}

class VerifyCmd implements fc.AsyncCommand<Model, Real> {
  readonly readData: boolean;
  constructor(readData: boolean) {
    this.readData = readData;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const v = await verifyRepository(r.repo, { readData: this.readData });
    expect(v.errors, JSON.stringify(v.findings)).toBe(0);
    expect(v.stats.snapshots).toBe(m.kept.length);
  }
  toString = () => `verify(${this.readData})`;
}

class RestoreCmd implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.kept.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const want = m.kept[this.pick % m.kept.length]!;
    const { entries } = await listSnapshots(r.repo);
    expect(entries.map((e) => e.id)).toEqual(m.kept.map((k) => k.id));
    const e = entries.find((x) => x.id === want.id)!;
    expect(normalize(await restoreFiles(r.repo, e.manifest.tree))).toEqual(want.files);
  }
  toString = () => `restore(${this.pick})`;
}

class ReopenCmd implements fc.AsyncCommand<Model, Real> {
  readonly dropCache: boolean;
  constructor(dropCache: boolean) {
    this.dropCache = dropCache;
  }
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    await r.repo.close();
    if (this.dropCache) await rm(r.cacheDir, { recursive: true, force: true });
    r.repo = await reopen(r.backend, r.cacheDir, r.password);
  }
  toString = () => `reopen(${this.dropCache ? 'without LMDB' : 'with LMDB'})`;
}

const fileSpec = fc.record({ path: fc.constantFrom(...PATHS), blocks: fc.array(fc.integer({ min: 0, max: BLOCKS.length - 1 }), { maxLength: 3 }), tag: fc.integer({ min: 0, max: 3 }) });
const specs = fc.uniqueArray(fileSpec, { minLength: 1, maxLength: 5, selector: (f) => f.path });

const snapshotCmd = fc.option(specs, { freq: 3, nil: null }).map((s) => new SnapshotCmd(s));
const forgetCmd = fc.oneof(fc.integer({ min: 1, max: 3 }).map((last) => ({ last })), fc.nat(10).map((pick) => ({ pick }))).map((h) => new ForgetCmd(h));
const gcCmd = fc.constantFrom(0, 0.05, 0.3, 1).map((x) => new GcCmd(x));
/** Weighted by repetition: snapshots and forgets make the garbage gc works on. */
const commands = [
  snapshotCmd,
  snapshotCmd,
  snapshotCmd,
  forgetCmd,
  forgetCmd,
  gcCmd,
  gcCmd,
  fc.boolean().map((b) => new VerifyCmd(b)),
  fc.nat(10).map((p) => new RestoreCmd(p)),
  fc.boolean().map((b) => new ReopenCmd(b)),
];

describe('maintenance model', () => {
  it('keeps every kept snapshot restorable and the repository verifiable', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.commands(commands, { size: 'large', maxCommands: 30 }), async (encrypted, cmds) => {
        const made = await makeRepo({ encrypted, packSize: 16 * 1024 });
        const real: Real = { backend: made.backend as MemoryBackend, cacheDir: made.cacheDir, password: made.password, repo: made.repo, src: join(await tmp(), 'src') };
        const model: Model = { kept: [], hour: 0 };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          // Final state: gc, then everything verifies with no findings and restores.
          await new GcCmd(0).run(model, real);
          const v = await verifyRepository(real.repo, { readData: true });
          expect(v.findings).toEqual([]);
          for (let i = 0; i < model.kept.length; i++) await new RestoreCmd(i).run(model, real);
        } finally {
          await real.repo.close();
        }
      }),
      { numRuns: Number(process.env.CLAWBACK_MODEL_RUNS ?? 30) },
    );
  });
});
