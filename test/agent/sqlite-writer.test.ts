/**
 * A writer process inserts rows in WAL mode (three per transaction) while 20 snapshots are
 * taken; every restored copy passes PRAGMA integrity_check and holds a prefix of the
 * writer's rows (ids 1..n, no gap, whole transactions only, bodies intact).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createAgentSnapshot } from '../../src/agent/create.js';
import type { AgentProfile } from '../../src/agent/profile.js';
import { restoreToTarget } from '../../src/agent/target.js';
import type { Repository } from '../../src/repository/repository.js';
import { makeTmp } from '../helpers/tmp.js';
import { makeRepo } from './fixtures.js';
import { treeListing } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/sqlite-writer.cjs', import.meta.url));

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;
let child: ChildProcess | undefined;

beforeEach(async () => {
  tmp = await makeTmp('clawback-sqlite-');
});
afterEach(async () => {
  if (child && child.exitCode === null) {
    await writeFile(join(tmp.dir, 'stop'), '');
    await new Promise((r) => child!.once('exit', r));
  }
  await repo?.close();
  await tmp.cleanup();
});

/** Rows the writer committed so far (0 until its table exists). */
function liveCount(db: string): number {
  try {
    const c = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return (c.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
    } finally {
      c.close();
    }
  } catch {
    return 0;
  }
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

// Without blob workers the database is copied on a SQLite worker and checked as a copy;
// with them it is imaged, sealed and checked in one held read transaction.
it.each([0, 2])('every snapshot of a database being written restores to a consistent prefix (%i blob workers)', async (threads) => {
  repo = await makeRepo(tmp.dir, undefined, threads);
  const root = join(tmp.dir, 'agent');
  const db = join(root, 'data.db');
  await (await import('node:fs/promises')).mkdir(root);
  const profile: AgentProfile = {
    definition: { name: 'writer', stateDirs: [], stateFiles: [{ path: 'data.db', strategy: 'sqlite_backup' }], excludes: [], credentials: [], secretFiles: [], allowLinks: [] },
    root,
    origin: 'test',
  };
  child = spawn(process.execPath, [WRITER, db, join(tmp.dir, 'stop')], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitFor(() => liveCount(db) >= 30);
  const counts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const prev = counts[counts.length - 1] ?? 0;
    await waitFor(() => liveCount(db) > prev); // the writer moved on since the last snapshot
    const snap = await createAgentSnapshot(repo, { profile });
    const t = await treeListing(repo, snap.manifest.tree);
    expect([...t.keys()]).toEqual(['data.db']); // no -wal, -shm or -journal
    expect(t.get('data.db')!.type).toBe('sqlite');
    const target = join(tmp.dir, `restore-${i}`);
    await restoreToTarget(repo, snap, target);
    const c = new Database(join(target, 'data.db'), { readonly: true, fileMustExist: true });
    try {
      expect(c.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = c.prepare('SELECT id, body FROM items ORDER BY id').all() as { id: number; body: string }[];
      rows.forEach((r, k) => {
        expect(r.id).toBe(k + 1);
        expect(r.body).toBe(`row-${r.id}-`.padEnd(100 + (r.id % 700), 'z'));
      });
      expect(rows.length % 3).toBe(0); // whole transactions only
      counts.push(rows.length);
    } finally {
      c.close();
    }
  }
  // Each snapshot saw more rows than the one before: the writer really ran throughout.
  for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThan(counts[i - 1]!);
  expect(child.exitCode).toBeNull();
});
