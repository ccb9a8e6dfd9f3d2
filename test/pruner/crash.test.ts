/**
 * SIGKILL a gc child process at random moments (≥ 30 trials) and check the promise: the
 * repository verifies with at most unreferenced data, every kept snapshot restores byte
 * for byte, and the next gc finishes the job and leaves nothing to report.
 *
 * CLAWBACK_GC_CRASH_TRIALS overrides the number of trials (default 30).
 */
import { spawn } from 'node:child_process';
import { cp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { verifyRepository } from '../../src/checker/checker.js';
import { executePlan, planPrune } from '../../src/pruner/index.js';
import { acquireLock, listLocks, unlockRepository } from '../../src/repository/lock.js';
import { listSnapshots, removeSnapshot } from '../../src/snapshot/store.js';
import { cleanup, makeRepo, noise, normalize, readFiles, reopen, restoreFiles, snap, tmp, writeFiles } from '../fixtures/maint.js';

const TRIALS = Number(process.env.CLAWBACK_GC_CRASH_TRIALS ?? 30);
const CHILD = resolve(import.meta.dirname, '../fixtures/gc-child.ts');
const ROOT = resolve(import.meta.dirname, '../..');
const PASSWORD = 'pw'; // what makeRepo uses

let template = '';
const expected = new Map<string, Record<string, string | { symlink: string }>>();

afterAll(cleanup);

beforeAll(async () => {
  template = join(await tmp('cb-crash-'), 'repo');
  const { repo } = await makeRepo({ backend: new LocalBackend(template, { fsync: false }), encrypted: true, packSize: 48 * 1024 });
  const src = join(await tmp(), 'src');
  const files: Record<string, Buffer> = {};
  const ids: string[] = [];
  for (let i = 0; i < 8; i++) {
    files[`f${i}.bin`] = noise(150_000);
    files[`shared/s${i % 3}.bin`] = noise(40_000);
    if (i >= 2) delete files[`f${i - 2}.bin`];
    await writeFiles(src, { ...files, 'note.txt': `version ${i}` });
    const s = await snap(repo, src, { time: new Date(Date.UTC(2026, 0, 1 + i)) });
    ids.push(s.id);
    expected.set(s.id, normalize(await readFiles(src)));
  }
  for (const [i, id] of ids.entries()) {
    if (i % 2 === 0 && i !== 6) {
      await removeSnapshot(repo, id);
      expected.delete(id);
    }
  }
  await repo.close();
}, 120_000);

interface Trial {
  how: 'timer' | 'write';
  killedAt: string;
  finished: boolean;
}

/**
 * Runs the child on `dir`: kills it `delay` ms after it is ready, or lets it kill itself at
 * its `crashAt.op`-th write, or (neither) lets it finish.
 */
function runChild(dir: string, cacheDir: string, delay: number | undefined, crashAt?: { op: number; after: boolean }): Promise<{ steps: string[]; doneMs?: number; ops?: number }> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CLAWBACK_PASSWORD: PASSWORD };
    if (crashAt) {
      env.CLAWBACK_CRASH_AFTER_OPS = String(crashAt.op);
      env.CLAWBACK_CRASH_MODE = crashAt.after ? 'after' : 'before';
    }
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, cacheDir, '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const steps: string[] = [];
    let doneMs: number | undefined;
    let ops: number | undefined;
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready' && delay !== undefined) setTimeout(() => child.kill('SIGKILL'), delay);
        else if (line.startsWith('step ')) steps.push(line.slice(5));
        else if (line.startsWith('done ')) [doneMs, ops] = line.slice(5).split(' ').map(Number);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolvePromise({ steps, ...(doneMs !== undefined ? { doneMs, ops } : {}) });
      else reject(new Error(`gc child exited with ${code}: ${err}`));
    });
  });
}

async function checkAfterCrash(dir: string, cacheDir: string): Promise<void> {
  const backend = new LocalBackend(dir, { fsync: false });
  const repo = await reopen(backend, cacheDir, PASSWORD);
  try {
    const v = await verifyRepository(repo, { readData: true });
    expect(v.errors, JSON.stringify(v.findings.filter((f) => f.severity === 'error').map((f) => f.message))).toBe(0);
    const { entries } = await listSnapshots(repo);
    expect(entries.map((e) => e.id).sort()).toEqual([...expected.keys()].sort());
    for (const e of entries) expect(normalize(await restoreFiles(repo, e.manifest.tree))).toEqual(expected.get(e.id));
    // The killed child's lock is stale (dead pid on this host): gc can take the lock.
    const lock = await acquireLock(repo, { exclusive: true, refreshEvery: 0 });
    await executePlan(repo, await planPrune(repo, { maxUnused: 0 }));
    await lock.release();
    const v2 = await verifyRepository(repo, { readData: true });
    expect(v2.findings).toEqual([]);
    for (const e of entries) expect(normalize(await restoreFiles(repo, e.manifest.tree))).toEqual(expected.get(e.id));
    await unlockRepository(repo);
    expect(await listLocks(repo)).toEqual([]);
  } finally {
    await repo.close();
  }
}

describe('gc crash safety', () => {
  it(`survives SIGKILL at random points (${TRIALS} trials)`, async () => {
    // Calibrate: how long does an uninterrupted gc take after the child is ready?
    const calDir = join(await tmp(), 'repo');
    await cp(template, calDir, { recursive: true });
    const cal = await runChild(calDir, await tmp(), undefined);
    expect(cal.doneMs).toBeDefined();
    expect(cal.ops).toBeGreaterThan(5);
    await checkAfterCrash(calDir, await tmp());
    const span = Math.max(20, Math.round((cal.doneMs ?? 100) * 1.5));
    const writes = cal.ops!;

    const trials: Trial[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < TRIALS) {
        const i = next++;
        const dir = join(await tmp(), 'repo');
        await cp(template, dir, { recursive: true });
        const cacheDir = await tmp();
        // Odd trials: a timed SIGKILL from here, 0..1.5× the gc's duration after it is ready.
        // Even trials: the child SIGKILLs itself at a random one of its writes (before or after it).
        const byTimer = i % 2 === 1;
        const r = byTimer
          ? await runChild(dir, cacheDir, Math.floor(Math.random() * span))
          : await runChild(dir, cacheDir, undefined, { op: 1 + Math.floor(Math.random() * writes), after: Math.random() < 0.5 });
        const finished = r.doneMs !== undefined;
        trials.push({ how: byTimer ? 'timer' : 'write', killedAt: finished ? 'done' : (r.steps[r.steps.length - 1] ?? 'startup'), finished });
        // Half the trials reuse the child's LMDB cache (left mid-write), half start fresh.
        await checkAfterCrash(dir, i % 2 === 0 ? cacheDir : await tmp());
        await rm(dir, { recursive: true, force: true });
      }
    };
    await Promise.all([worker(), worker()]);
    const histogram: Record<string, number> = {};
    for (const t of trials) histogram[`${t.how}:${t.killedAt}`] = (histogram[`${t.how}:${t.killedAt}`] ?? 0) + 1;
    const report = { trials: trials.length, uninterruptedGcMs: cal.doneMs, gcWrites: writes, killWindowMs: span, lastStepBeforeKill: histogram };
    await writeFile(join(await tmp(), 'report.json'), JSON.stringify(report));
    console.log(`gc crash test: ${JSON.stringify(report)}`);
    expect(trials.length).toBe(TRIALS);
    // Self-kills at a write always interrupt the gc.
    expect(trials.filter((t) => t.how === 'write' && t.finished)).toEqual([]);
  }, 600_000);
});
