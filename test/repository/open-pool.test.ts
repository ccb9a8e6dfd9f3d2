/**
 * The open pool's workers accept a blob exactly when Repository.openBlob does, with the same
 * INTEGRITY message and details for every kind of damage; handler results, errors and task
 * order come back as documented.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import type { OpenPool } from '../../src/repository/open-pool.js';
import type { BlobLocation } from '../../src/index/cache.js';
import { ClawbackError } from '../../src/errors.js';
import { FAST_INIT, useTmp } from '../helpers/tmp.js';

const tmp = useTmp();

/** Handler: op 'open' returns a copy of every blob's plaintext; 'order' records calls; 'fs' fails like a system call; 'exit' kills the worker. */
const TEST_HANDLER = `(function () {
  const seen = [];
  return {
    handle(data, blobs) {
      if (data.op === 'open') {
        const out = [];
        for (let i = 0; i < blobs.count; i++) out.push(Buffer.from(blobs.open(i)));
        return out;
      }
      if (data.op === 'order') { seen.push(data.n); return seen.slice(); }
      if (data.op === 'fs') return require('node:fs').openSync(data.path, 'r');
      if (data.op === 'exit') process.exit(3);
      throw new Error('unknown op');
    },
  };
})()`;

async function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  try {
    return { ok: await p };
  } catch (err) {
    return { err };
  }
}

/** Runs openBlob and the pool on the same stored bytes; both must agree. */
async function agree(repo: Repository, pool: OpenPool, loc: BlobLocation, stored: Uint8Array): Promise<'ok' | string> {
  const main = await outcome(Promise.resolve().then(() => repo.openBlob(loc, stored)));
  const worker = await outcome(pool.run(0, { data: { op: 'open' }, blobs: [{ loc, stored }] }) as Promise<Uint8Array[]>);
  if ('ok' in main) {
    expect(worker, `pool rejected what openBlob accepts: ${JSON.stringify(worker)}`).toHaveProperty('ok');
    expect(Buffer.from((worker as { ok: Uint8Array[] }).ok[0]!)).toEqual(main.ok);
    return 'ok';
  }
  expect(main.err).toBeInstanceOf(ClawbackError);
  expect('err' in worker, 'pool accepted what openBlob rejects').toBe(true);
  const a = main.err as ClawbackError;
  const b = (worker as { err: unknown }).err as ClawbackError;
  expect(b).toBeInstanceOf(ClawbackError);
  expect({ code: b.code, message: b.message, details: b.details }).toEqual({ code: a.code, message: a.message, details: a.details });
  return a.message;
}

describe.each([
  ['encrypted', 'pw'],
  ['unencrypted', undefined],
])('open pool, %s repository', (_name, password) => {
  it('agrees with Repository.openBlob on good and damaged blobs', async () => {
    const repo = await initRepository(new MemoryBackend(), { password, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'c'), sealThreads: 0 });
    const pool = repo.openPool(TEST_HANDLER, 1);
    try {
      const plains = [Buffer.alloc(20_000, 7), randomBytes(3000), Buffer.from('x'), Buffer.alloc(0)];
      const ids = [];
      for (const p of plains) ids.push((await repo.saveBlob('data', p)).id);
      await repo.flush();
      const messages = new Set<string>();
      for (const id of ids) {
        const loc = (await repo.lookup(id))!;
        const stored = await repo.backend.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length });
        expect(await agree(repo, pool, loc, stored)).toBe('ok');
        // Damage: every byte flipped in turn (a sample), truncation, wrong lengths, wrong id, codec.
        for (let at = 0; at < stored.length; at += Math.max(1, Math.floor(stored.length / 23))) {
          const bad = Uint8Array.from(stored);
          bad[at] = bad[at]! ^ 0x41;
          messages.add(await agree(repo, pool, loc, bad));
        }
        messages.add(await agree(repo, pool, loc, stored.subarray(0, stored.length - 1)));
        messages.add(await agree(repo, pool, { ...loc, rawLength: loc.rawLength + 1 }, stored));
        messages.add(await agree(repo, pool, { ...loc, id: '0'.repeat(64) }, stored));
        if (!password) {
          const codec = Uint8Array.from(stored);
          codec[0] = 7;
          messages.add(await agree(repo, pool, loc, codec));
        }
      }
      messages.delete('ok');
      // The damage above reaches each check, not only one of them.
      const kinds = [...messages].map((m) => m.replace(/^pack \w+, blob \w+: /, '').replace(/\d+/g, 'N'));
      expect(new Set(kinds).size).toBeGreaterThanOrEqual(password ? 3 : 4);
    } finally {
      await pool.close();
      await repo.close();
    }
  });
});

describe('open pool tasks', () => {
  it('copies batched blobs at flush: the caller may then reuse its buffer', async () => {
    const repo = await initRepository(new MemoryBackend(), { password: 'pw', ...FAST_INIT }, { cacheDir: join(tmp.dir, 'c'), sealThreads: 0 });
    const pool = repo.openPool(TEST_HANDLER, 1);
    try {
      const plain = randomBytes(5000);
      const id = (await repo.saveBlob('data', plain)).id;
      await repo.flush();
      const loc = (await repo.lookup(id))!;
      const stored = await repo.backend.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length });
      const mine = Buffer.from(stored);
      // Small: batched, not sent yet when submit returns.
      const opened = pool.run(0, { data: { op: 'open' }, blobs: [{ loc, stored: mine }] }) as Promise<Uint8Array[]>;
      pool.flush();
      mine.fill(0);
      expect(Buffer.from((await opened)[0]!).equals(plain)).toBe(true);
    } finally {
      await pool.close();
      await repo.close();
    }
  });

  it('keeps submission order per worker, revives system errors, and fails pending tasks when a worker dies', async () => {
    const repo = await initRepository(new MemoryBackend(), { password: undefined, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'c'), sealThreads: 0 });
    const pool = repo.openPool(TEST_HANDLER, 2);
    try {
      expect(pool.size).toBe(2);
      // A big task (sent alone at once) after small batched ones must still run after them.
      const id = (await repo.saveBlob('data', randomBytes(300_000))).id;
      await repo.flush();
      const loc = (await repo.lookup(id))!;
      const stored = await repo.backend.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length });
      const small = [1, 2, 3].map((n) => pool.run(1, { data: { op: 'order', n }, blobs: [] }));
      const big = pool.run(1, { data: { op: 'order', n: 4 }, blobs: [{ loc, stored }] });
      expect(await big).toEqual([1, 2, 3, 4]);
      await Promise.all(small);

      const err = (await outcome(pool.run(0, { data: { op: 'fs', path: join(tmp.dir, 'missing') }, blobs: [] }))) as { err: NodeJS.ErrnoException };
      expect(err.err).not.toBeInstanceOf(ClawbackError);
      expect(err.err).toMatchObject({ code: 'ENOENT', syscall: 'open', path: join(tmp.dir, 'missing') });

      const dead = await outcome(pool.run(0, { data: { op: 'exit' }, blobs: [] }));
      expect(dead).toMatchObject({ err: { code: 'INTERNAL' } });
      await expect(pool.run(1, { data: { op: 'order', n: 5 }, blobs: [] })).rejects.toMatchObject({ code: 'INTERNAL' });
    } finally {
      await pool.close();
      await repo.close();
    }
  });
});
