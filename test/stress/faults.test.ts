/**
 * Fault injection through backend wrappers (FaultBackend, RetryBackend): every store
 * operation (snapshot, restore, gc, forget, copy, verify, open) meets failing, lying and
 * hanging backend calls at different points of its call sequence — a permanent EIO, a full
 * disk (ENOSPC), S3-like 500/503/connection resets (BACKEND_TRANSIENT) behind the retry
 * layer, a write whose reply is lost, retries running out, a call that hangs until the
 * operation is cancelled or the call is released, and loads cut short.
 *
 * Every run either succeeds (after retries) or fails with a ClawbackError whose message
 * names the failure; then the repository, opened without faults, is sound (every snapshot
 * listed before is listed and restores byte for byte, verify --read-data finds nothing but
 * unreferenced data, no partial snapshot, no `.tmp-*` file), and the same operation run
 * again without faults succeeds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { FaultBackend, noSpaceError, transientError, type FaultOp } from '../../src/backend/fault.js';
import { LocalBackend } from '../../src/backend/local.js';
import { RetryBackend } from '../../src/backend/retry.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { copySnapshots } from '../../src/copier/copy.js';
import { ClawbackError, isClawbackError } from '../../src/errors.js';
import { executePlan, planPrune } from '../../src/pruner/index.js';
import { openRepository, type Repository } from '../../src/repository/repository.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { forgetSnapshots } from '../../src/snapshot/forget.js';
import { listSnapshots, removeSnapshot } from '../../src/snapshot/store.js';
import { buildTemplate, copyOf, initLocal, type Template } from './crash/fixtures.js';
import { backendTempFiles, checkSound, cleanupTmp, errorsOf, openAt, PASSWORD, restoredTree, tmp, treeOf, writeSourceTree, type Norm } from './harness.js';
import { tracked } from './results.js';

const FILE = 'test/stress/faults.test.ts';
let template: Template;
let fresh: Norm;
let gcTemplate: string;
let dstTemplate: string;

beforeAll(async () => {
  template = await buildTemplate(3);
  fresh = await writeSourceTree(template.src, 3, 2);
  gcTemplate = await copyOf(template.repo);
  const r = await openAt(gcTemplate, PASSWORD);
  try {
    await removeSnapshot(r, template.ids[0]!);
  } finally {
    await r.close();
  }
  dstTemplate = join(await tmp('cb-dst-'), 'repo');
  const src = await openAt(template.repo, PASSWORD);
  try {
    await (await initLocal(dstTemplate, 'dst-pw', { chunkingFrom: src })).close();
  } finally {
    await src.close();
  }
});
afterAll(cleanupTmp);

// ---------------------------------------------------------------- operations

/** One trial's world: the repository under faults (and, for copy, its source). */
interface World {
  dir: string;
  repo: Repository;
  fb: FaultBackend;
  /** copy: the source repository (no faults). */
  src?: Repository;
  target: string;
  signal: AbortSignal;
  controller: AbortController;
  /** Backend calls made before the operation started (opening the repository). */
  baseline: Readonly<Record<FaultOp, number>>;
}

interface Op {
  name: string;
  /** Which template the faulty repository is a copy of. */
  base: () => string;
  password: string;
  /** Snapshots that must survive (listed and exact) whatever happens. */
  expected: () => Map<string, Norm>;
  /** Snapshots that may go (forget). */
  optional?: () => Map<string, Norm>;
  run(w: World): Promise<unknown>;
  /** Extra checks after a run (faults or not), on a fault-free reopen. */
  after?(repo: Repository, w: World, ok: boolean): Promise<void>;
}

const sub = (ids: string[]) => new Map(ids.map((id) => [id, template.expected.get(id)!]));

const OPS: Op[] = [
  {
    name: 'snapshot create',
    base: () => template.repo,
    password: PASSWORD,
    expected: () => template.expected,
    run: (w) => createSnapshot(w.repo, { paths: [template.src], signal: w.signal }),
    async after(repo, w, ok) {
      const added = (await listSnapshots(repo)).entries.filter((e) => !template.expected.has(e.id));
      expect(added.length, 'a failed snapshot must leave no snapshot').toBe(ok ? 1 : 0);
      for (const e of added) expect(await restoredTree(repo, e.manifest.tree)).toEqual(fresh);
      expect(await backendTempFiles(w.dir), 'temp files left in the repository').toEqual([]);
    },
  },
  {
    name: 'restore',
    base: () => template.repo,
    password: PASSWORD,
    expected: () => template.expected,
    run: async (w) => {
      const { entries } = await listSnapshots(w.repo);
      const e = entries.find((x) => x.id === template.ids[1])!;
      return restoreTree(w.repo, e.manifest.tree, w.target, { overwrite: true, signal: w.signal });
    },
    async after(_repo, w, ok) {
      if (ok) expect(await treeOf(w.target)).toEqual(template.expected.get(template.ids[1]!));
    },
  },
  {
    name: 'gc',
    base: () => gcTemplate,
    password: PASSWORD,
    expected: () => sub(template.ids.slice(1)),
    run: async (w) => executePlan(w.repo, await planPrune(w.repo, { maxUnused: 0, signal: w.signal }), { signal: w.signal }),
  },
  {
    name: 'forget',
    base: () => template.repo,
    password: PASSWORD,
    expected: () => sub(template.ids.slice(1)),
    optional: () => sub(template.ids.slice(0, 1)),
    run: (w) => forgetSnapshots(w.repo, { policy: { last: 2 } }),
  },
  {
    name: 'copy (faults at the destination)',
    base: () => dstTemplate,
    password: 'dst-pw',
    expected: () => new Map(),
    run: async (w) => copySnapshots(w.src!, w.repo, (await listSnapshots(w.src!)).entries, { signal: w.signal }),
    async after(repo, _w, ok) {
      const { entries } = await listSnapshots(repo);
      const from = entries.map((e) => (e.manifest.extra?.['copiedFrom'] as { snapshot: string }).snapshot);
      expect(new Set(from).size, 'a source snapshot copied twice').toBe(from.length);
      if (ok) expect(from.sort()).toEqual([...template.ids].sort());
      for (const e of entries) expect(await restoredTree(repo, e.manifest.tree)).toEqual(template.expected.get((e.manifest.extra?.['copiedFrom'] as { snapshot: string }).snapshot));
    },
  },
  {
    name: 'verify --read-data',
    base: () => template.repo,
    password: PASSWORD,
    expected: () => template.expected,
    run: async (w) => {
      const v = await verifyRepository(w.repo, { readData: true, signal: w.signal });
      // Damage read back is reported (and must be what the fault allows: INTEGRITY for
      // short reads); a failing backend call must surface as that call's error instead.
      if (!v.clean) throw new ClawbackError('INTEGRITY', `verify reported ${v.errors} problem(s), e.g. ${errorsOf(v).slice(0, 2).join('; ')}`);
      return v;
    },
  },
];

// ---------------------------------------------------------------- faults

interface Fault {
  name: string;
  op: FaultOp;
  /** Arms the fault on `fb` at call `n` of `op` (1 = next). */
  arm(fb: FaultBackend, n: number, signal: AbortSignal): void;
  /** Wrap the fault backend in a RetryBackend (instant sleeps). */
  retry?: boolean;
  /** The operation must succeed (the retry layer absorbs the fault). */
  mustSucceed?: boolean;
  /** Error codes allowed when the operation fails. */
  codes: string[];
  /** The failure's message must match. */
  message: RegExp;
  /** What to do once the call hangs. */
  hang?: 'abort' | 'release';
}

const eio = (op: string) => new ClawbackError('BACKEND', `cannot ${op} <injected>: I/O error (EIO)`, { details: { errno: 'EIO', injected: true } });

const FAULTS: Fault[] = [
  { name: 'EIO on save', op: 'save', arm: (fb, n) => fb.failNth('save', n, eio('save')), codes: ['BACKEND'], message: /EIO/ },
  { name: 'disk full (ENOSPC) from a save on', op: 'save', arm: (fb, n) => fb.failNth('save', n, noSpaceError(), { times: 1_000 }), codes: ['BACKEND'], message: /no space left on device/ },
  { name: 'EIO on load', op: 'load', arm: (fb, n) => fb.failNth('load', n, eio('load')), codes: ['BACKEND'], message: /EIO/ },
  { name: 'EIO on remove', op: 'remove', arm: (fb, n) => fb.failNth('remove', n, eio('remove')), codes: ['BACKEND'], message: /EIO/ },
  { name: 'EIO on list', op: 'list', arm: (fb, n) => fb.failNth('list', n, eio('list'), { afterItems: 1 }), codes: ['BACKEND'], message: /EIO/ },
  { name: '503 on save ×2 (retried)', op: 'save', retry: true, mustSucceed: true, arm: (fb, n) => fb.failNth('save', n, transientError('HTTP 503 SlowDown'), { times: 2 }), codes: [], message: /./ },
  { name: 'save stored but reply lost, 500 (retried)', op: 'save', retry: true, mustSucceed: true, arm: (fb, n) => fb.failNth('save', n, transientError('HTTP 500 InternalError'), { after: true }), codes: [], message: /./ },
  { name: 'connection reset on load ×3 (retried)', op: 'load', retry: true, mustSucceed: true, arm: (fb, n) => fb.failNth('load', n, transientError('read ECONNRESET'), { times: 3 }), codes: [], message: /./ },
  { name: '503 on list mid-listing (retried)', op: 'list', retry: true, mustSucceed: true, arm: (fb, n) => fb.failNth('list', n, transientError('HTTP 503'), { afterItems: 1 }), codes: [], message: /./ },
  { name: 'reset on remove (retried)', op: 'remove', retry: true, mustSucceed: true, arm: (fb, n) => fb.failNth('remove', n, transientError('socket hang up ECONNRESET')), codes: [], message: /./ },
  { name: '503 on every save (retries run out)', op: 'save', retry: true, arm: (fb, n) => fb.failNth('save', n, transientError('HTTP 503 ServiceUnavailable'), { times: 1_000 }), codes: ['BACKEND_TRANSIENT'], message: /503/ },
  { name: 'save hangs, operation cancelled', op: 'save', hang: 'abort', arm: (fb, n, signal) => fb.hang('save', n, { signal }), codes: ['ABORTED'], message: /interrupted/ },
  { name: 'load hangs, operation cancelled', op: 'load', hang: 'abort', arm: (fb, n, signal) => fb.hang('load', n, { signal }), codes: ['ABORTED'], message: /interrupted/ },
  { name: 'load hangs, then proceeds (slow call)', op: 'load', hang: 'release', mustSucceed: true, arm: (fb, n, signal) => fb.hang('load', n, { signal }), codes: [], message: /./ },
  {
    name: 'short read of every pack (truncated transfer)',
    op: 'load',
    arm: (fb) => fb.truncateOnLoad((h) => h.type === 'data', 100),
    codes: ['INTEGRITY'],
    message: /truncated|too short|short|damaged|does not match|shorter/,
  },
];

// ---------------------------------------------------------------- the matrix

/** Calls of each backend op an uninterrupted run of `op` makes. */
async function dryRun(op: Op): Promise<Record<FaultOp, number>> {
  const w = await world(op, () => undefined);
  try {
    await op.run(w);
  } finally {
    await close(w);
    await dispose(w);
  }
  const c = w.fb.calls;
  return { save: c.save - w.baseline.save, load: c.load - w.baseline.load, remove: c.remove - w.baseline.remove, list: c.list - w.baseline.list, stat: c.stat - w.baseline.stat };
}

/** A fresh copy of the op's base repository behind a FaultBackend (armed by `arm` after opening). */
async function world(op: Op, arm: (fb: FaultBackend, signal: AbortSignal) => void, retry = false): Promise<World> {
  const dir = await copyOf(op.base());
  const fb = new FaultBackend(new LocalBackend(dir, { fsync: false }));
  const backend: Backend = retry ? new RetryBackend(fb, { sleep: async () => undefined }) : fb;
  const repo = await openRepository(backend, { password: op.password, cacheDir: await tmp('cb-cache-'), sealThreads: 0 });
  const controller = new AbortController();
  const target = join(await mkdtemp(join(tmpdir(), 'cb-target-')), 'out');
  const src = op.name.startsWith('copy') ? await openAt(template.repo, PASSWORD) : undefined;
  // Counting starts after opening: the fault applies to the operation itself.
  const baseline = fb.calls;
  arm(fb, controller.signal);
  return { dir, repo, fb, target, signal: controller.signal, controller, baseline, ...(src ? { src } : {}) };
}

async function close(w: World): Promise<void> {
  await w.repo.close().catch(() => undefined);
  await w.src?.close();
}

async function dispose(w: World): Promise<void> {
  await rm(join(w.target, '..'), { recursive: true, force: true });
  await rm(join(w.dir, '..'), { recursive: true, force: true });
}

/** Runs `op` under `fault` at call `n`; returns the outcome label. */
async function trial(op: Op, fault: Fault, n: number): Promise<string> {
  const w = await world(op, (fb, signal) => fault.arm(fb, n, signal), fault.retry);
  const controller = w.controller;
  let error: unknown;
  let ok = false;
  try {
    const running = op.run(w).then(
      () => (ok = true),
      (err: unknown) => (error = err),
    );
    if (fault.hang) {
      // Wait until the call hangs (or the operation ends without reaching it).
      await Promise.race([w.fb.waitForHang(), running]);
      if (w.fb.hanging > 0) {
        if (fault.hang === 'abort') controller.abort();
        else w.fb.release();
      }
    }
    await running;
  } finally {
    await close(w);
  }
  const where = `${op.name} / ${fault.name} at call ${n}`;
  if (fault.mustSucceed) expect(error, `${where} must succeed`).toBeUndefined();
  if (error !== undefined) {
    expect(isClawbackError(error), `${where}: not a ClawbackError: ${String(error).slice(0, 2000)} ${(error as Error).stack ?? ''}`).toBe(true);
    const e = error as ClawbackError;
    expect(fault.codes, `${where}: code ${e.code}: ${e.message.slice(0, 2000)}`).toContain(e.code);
    expect(e.message.slice(0, 2000), `${where}: the message must say what failed`).toMatch(fault.message);
  }
  // Sound without faults, and the operation works again.
  const plain = await openAt(w.dir, op.password);
  try {
    await checkSound(plain, op.expected(), `${where}, after`, { ...(op.optional ? { optional: op.optional() } : {}), sample: 1 });
    await op.after?.(plain, w, ok);
  } finally {
    await plain.close();
  }
  if (!ok) {
    const again = await world(op, () => undefined);
    try {
      await op.run(again);
    } finally {
      await close(again);
    }
    const final = await openAt(again.dir, op.password);
    try {
      await checkSound(final, op.expected(), `${where}, after the fault-free run`, { ...(op.optional ? { optional: op.optional() } : {}), sample: 1 });
      await op.after?.(final, again, true);
    } finally {
      await final.close();
      await dispose(again);
    }
  }
  await dispose(w);
  return error === undefined ? 'succeeded' : `failed: ${(error as ClawbackError).code}`;
}

describe('fault injection', () => {
  it('every operation succeeds or fails cleanly under every backend fault', async () => {
    await tracked(
      {
        section: 'Fault injection',
        subject: 'snapshot, restore, gc, forget, copy, verify',
        tried: `FaultBackend faults at the first, a random and the last call of their kind: ${FAULTS.map((f) => f.name).join('; ')}`,
        held: 'the operation succeeds (always, for retried transient faults) or throws a ClawbackError of the expected code naming the failure; afterwards, without faults: every snapshot listed and byte-identical, verify --read-data only unreferenced data, no partial snapshot, no .tmp- file; the operation then succeeds',
        file: FILE,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        let runs = 0;
        const perOp: string[] = [];
        for (const op of OPS) {
          const calls = await dryRun(op);
          let opRuns = 0;
          for (const fault of FAULTS) {
            const total = calls[fault.op];
            if (total === 0) continue;
            const points = fault.name.startsWith('short read') ? [1] : [...new Set([1, 1 + Math.floor(Math.random() * total), total])];
            for (const n of points) {
              const o = await trial(op, fault, n);
              outcomes[o] = (outcomes[o] ?? 0) + 1;
              runs++;
              opRuns++;
            }
          }
          perOp.push(`${op.name} ${opRuns}`);
        }
        return { runs, notes: `runs per operation: ${perOp.join(', ')}; outcomes: ${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}` };
      },
    );
  }, 600_000);
});
