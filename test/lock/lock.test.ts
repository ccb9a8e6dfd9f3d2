import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { isClawbackError, type ClawbackError } from '../../src/errors.js';
import type { Backend, FileInfo, FileType, Handle, LoadRange } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { FaultBackend } from '../../src/backend/fault.js';
import {
  acquireLock,
  decodeLockInfo,
  encodeLockInfo,
  isStale,
  listLocks,
  STALE_AFTER_MS,
  unlockRepository,
  type LockInfo,
} from '../../src/repository/lock.js';
import type { Repository } from '../../src/repository/repository.js';
import { cleanup, makeRepo, names } from '../fixtures/maint.js';

afterAll(cleanup);

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

function info(o: Partial<LockInfo> = {}): LockInfo {
  return { time: new Date().toISOString(), host: hostname(), pid: process.pid, exclusive: false, username: 'u', ...o };
}

async function plant(repo: Repository, i: LockInfo): Promise<string> {
  return repo.saveFile('locks', encodeLockInfo(i));
}

async function rejects(p: Promise<unknown>): Promise<ClawbackError> {
  try {
    await p;
  } catch (err) {
    if (isClawbackError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** Delays every backend call by a random 0–3 ms so concurrent lockers interleave. */
class JitterBackend implements Backend {
  readonly location: string;
  readonly inner: Backend;
  constructor(inner: Backend) {
    this.inner = inner;
    this.location = inner.location;
  }
  private async pause(): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.random() * 3));
  }
  create = () => this.inner.create();
  isRepository = () => this.inner.isRepository();
  async save(h: Handle, d: Uint8Array) {
    await this.pause();
    return this.inner.save(h, d);
  }
  async load(h: Handle, r?: LoadRange) {
    await this.pause();
    return this.inner.load(h, r);
  }
  async stat(h: Handle) {
    await this.pause();
    return this.inner.stat(h);
  }
  async *list(t: FileType): AsyncIterable<FileInfo> {
    await this.pause();
    yield* this.inner.list(t);
  }
  async remove(h: Handle) {
    await this.pause();
    return this.inner.remove(h);
  }
  listTempFiles = () => this.inner.listTempFiles();
  removeTempFile = (p: string) => this.inner.removeTempFile(p);
  close = () => this.inner.close();
}

describe('lock files', () => {
  it('round-trips the lock document and rejects others', () => {
    const i = info({ exclusive: true, pid: 42 });
    expect(decodeLockInfo(encodeLockInfo(i))).toEqual(i);
    for (const bad of ['', 'null', '{}', JSON.stringify({ ...i, pid: 'x' }), JSON.stringify({ ...i, time: 'yesterday' })]) {
      expect(() => decodeLockInfo(Buffer.from(bad))).toThrow(/lock/);
    }
  });

  it('judges staleness by age and by a dead pid on this host only', () => {
    const now = Date.now();
    expect(isStale(info(), { now: () => now })).toBe(false);
    expect(isStale(info({ time: new Date(now - STALE_AFTER_MS - 1000).toISOString(), host: 'elsewhere' }), { now: () => now })).toBe(true);
    expect(isStale(info({ time: new Date(now - STALE_AFTER_MS + 60_000).toISOString(), host: 'elsewhere' }), { now: () => now })).toBe(false);
    const dead = deadPid();
    expect(isStale(info({ pid: dead }))).toBe(true);
    expect(isStale(info({ pid: dead, host: 'elsewhere' }))).toBe(false);
  });
});

describe('acquireLock', () => {
  it('lets shared locks coexist and blocks exclusive ones, naming the holder', async () => {
    const { repo } = await makeRepo();
    const a = await acquireLock(repo, { refreshEvery: 0 });
    const b = await acquireLock(repo, { refreshEvery: 0 });
    expect((await listLocks(repo)).length).toBe(2);
    const err = await rejects(acquireLock(repo, { exclusive: true, refreshEvery: 0 }));
    expect(err.code).toBe('LOCKED');
    expect(err.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(err.message).toMatch(/shared lock/);
    expect(err.message).toMatch(/clawback unlock/);
    expect(err.details).toMatchObject({ pid: process.pid, host: hostname(), exclusive: false });
    await a.release();
    await b.release();
    expect(await names(repo.backend, 'locks')).toEqual([]);
    const x = await acquireLock(repo, { exclusive: true, refreshEvery: 0 });
    const err2 = await rejects(acquireLock(repo, { refreshEvery: 0 }));
    expect(err2.code).toBe('LOCKED');
    expect(err2.message).toMatch(/an exclusive lock held by pid/);
    await x.release();
    await repo.close();
  });

  it('ignores stale locks (dead pid here, or 30 min old elsewhere) and unlock removes only those', async () => {
    const { repo } = await makeRepo();
    const deadHere = await plant(repo, info({ pid: deadPid(), exclusive: true }));
    const oldElsewhere = await plant(repo, info({ host: 'far-away', exclusive: true, time: new Date(Date.now() - STALE_AFTER_MS - 5000).toISOString() }));
    await repo.saveFile('locks', Buffer.from('not a lock'));
    const l = await acquireLock(repo, { exclusive: true, refreshEvery: 0 });
    await l.release();
    const liveElsewhere = await plant(repo, info({ host: 'far-away', pid: 1 }));
    const r = await unlockRepository(repo);
    expect(r.removed.map((e) => e.id).sort()).toEqual(expect.arrayContaining([deadHere, oldElsewhere]));
    expect(r.removed).toHaveLength(3);
    expect(r.kept.map((e) => e.id)).toEqual([liveElsewhere]);
    expect(await names(repo.backend, 'locks')).toEqual([liveElsewhere]);
    const all = await unlockRepository(repo, { all: true });
    expect(all.removed.map((e) => e.id)).toEqual([liveElsewhere]);
    expect(await names(repo.backend, 'locks')).toEqual([]);
    await repo.close();
  });

  it('waits with retryFor until the holder releases, and gives up after it', async () => {
    const { repo } = await makeRepo();
    const holder = await acquireLock(repo, { exclusive: true, refreshEvery: 0 });
    let waited = 0;
    const waiting = acquireLock(repo, { exclusive: true, retryFor: 60_000, refreshEvery: 0, onWait: () => waited++ });
    await new Promise((r) => setTimeout(r, 150));
    await holder.release();
    const got = await waiting;
    expect(waited).toBe(1);
    expect((await listLocks(repo)).map((e) => e.id)).toEqual([got.id]);
    const err = await rejects(acquireLock(repo, { retryFor: 250, refreshEvery: 0 }));
    expect(err.code).toBe('LOCKED');
    const ac = new AbortController();
    const aborted = rejects(acquireLock(repo, { retryFor: 60_000, signal: ac.signal, refreshEvery: 0 }));
    setTimeout(() => ac.abort(), 50);
    expect((await aborted).code).toBe('ABORTED');
    await got.release();
    expect(await names(repo.backend, 'locks')).toEqual([]);
    await repo.close();
  });

  it('refresh writes a newer lock file and removes the old one', async () => {
    const { repo } = await makeRepo({ encrypted: true });
    let now = Date.now() - 60_000;
    const l = await acquireLock(repo, { now: () => now, refreshEvery: 0 });
    const first = l.id;
    now += 60_000;
    await l.refresh();
    expect(l.id).not.toBe(first);
    const locks = await listLocks(repo);
    expect(locks.map((e) => e.id)).toEqual([l.id]);
    expect(Date.parse(locks[0]!.info!.time)).toBe(now);
    await l.release();
    await l.release();
    expect(await names(repo.backend, 'locks')).toEqual([]);
    await repo.close();
  });

  it('refreshes on its own timer while held', async () => {
    const { repo } = await makeRepo();
    const l = await acquireLock(repo, { refreshEvery: 30 });
    const first = l.id;
    for (let i = 0; i < 100 && l.id === first; i++) await new Promise((r) => setTimeout(r, 20));
    expect(l.id).not.toBe(first);
    await l.release();
    expect(await names(repo.backend, 'locks')).toEqual([]);
    await repo.close();
  });

  it('backs off when a conflicting lock appears between its check and its write', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const { repo } = await makeRepo({ backend: fb });
    fb.hang('save', 1);
    const attempt = rejects(acquireLock(repo, { exclusive: true, refreshEvery: 0 }));
    await fb.waitForHang();
    // Another process writes its lock while ours is in flight.
    const other = await repo.saveFile('locks', encodeLockInfo(info({ host: 'other-host', pid: 7, exclusive: false })));
    fb.release();
    const err = await attempt;
    expect(err.code).toBe('LOCKED');
    expect(err.message).toContain('pid 7 on other-host');
    expect(await names(fb, 'locks')).toEqual([other]);
    await repo.close();
  });

  it('never lets two exclusive holders overlap under concurrency', async () => {
    const { repo } = await makeRepo({ backend: new JitterBackend(new MemoryBackend()) });
    let active = 0;
    let maxActive = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 6 }, async (_v, i) => {
        const l = await acquireLock(repo, { exclusive: true, retryFor: 60_000, refreshEvery: 0, pid: process.pid, username: `w${i}` });
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        done++;
        await l.release();
      }),
    );
    expect(done).toBe(6);
    expect(maxActive).toBe(1);
    await repo.close();
  });
});
