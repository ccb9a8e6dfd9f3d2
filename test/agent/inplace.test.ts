/**
 * In-place restore: pre-restore snapshot, move aside, restore, merge secrets, keep
 * credentials, health check, rollback to a byte-identical live tree, and --target copies.
 */
import { appendFile, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import JSON5 from 'json5';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgentSnapshot } from '../../src/agent/create.js';
import { restoreInPlace } from '../../src/agent/inplace.js';
import { restoreToTarget } from '../../src/agent/target.js';
import { ClawbackError } from '../../src/errors.js';
import { checkSqlite, placeSqlite } from '../../src/fs/sqlite.js';
import { SECRET_PLACEHOLDER } from '../../src/fs/secrets.js';
import type { Repository } from '../../src/repository/repository.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { snapshotFs } from '../helpers/compare.js';
import { makeTmp } from '../helpers/tmp.js';
import { buildHermes, buildOpenClaw, dbRows, makeDb, makeRepo, put, SECRETS } from './fixtures.js';
import { builtin, recorder } from './helpers.js';
import { rejection as failure } from '../helpers/rejection.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;
let root: string;

beforeEach(async () => {
  tmp = await makeTmp('clawback-inplace-');
  repo = await makeRepo(tmp.dir);
  root = join(tmp.dir, '.openclaw');
  await buildOpenClaw(root);
});
afterEach(async () => {
  await repo.close();
  await tmp.cleanup();
});

/** Changes the live OpenClaw tree after a snapshot. */
async function changeLive(): Promise<void> {
  await writeFile(join(root, 'workspace/SOUL.md'), '# Soul\nChanged after the snapshot.\n');
  await writeFile(join(root, 'workspace/new-after.md'), 'created after the snapshot\n');
  await put(root, 'workspace-new/SOUL.md', 'new agent\n');
  await rm(join(root, 'workspace-research'), { recursive: true });
  const cfg = (await readFile(join(root, 'openclaw.json'), 'utf8')).replace('port: 18789', 'port: 19999').replace(SECRETS.gatewayToken, 'gw-rotated-token');
  await writeFile(join(root, 'openclaw.json'), cfg);
  await writeFile(join(root, '.env'), `OPENAI_API_KEY=sk-rotated\nLOG_LEVEL=debug\n`);
  await writeFile(join(root, 'agents/main/agent/auth-profiles.json'), '{"rotated":true}');
  await appendFile(join(root, 'agents/main/sessions/a1b2.jsonl'), '{"late":true}\n');
  const db = new Database(join(root, 'memory/main.sqlite'));
  db.prepare('INSERT INTO chunks (body) VALUES (?)').run('after the snapshot');
  db.close();
}

describe('in-place restore', () => {
  it('restores the declared state, merges live secrets, keeps credentials, takes a pre-restore snapshot', async () => {
    const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), label: 'before-upgrade' });
    await changeLive();
    const credsBefore = await snapshotFs(join(root, 'credentials'));
    const progress = recorder();
    const r = await restoreInPlace(repo, { snapshot: v1, profile: builtin('openclaw', root), progress });

    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    await expect(lstat(join(root, 'workspace/new-after.md'))).rejects.toThrow();
    await expect(lstat(join(root, 'workspace-new'))).rejects.toThrow();
    expect(await readFile(join(root, 'workspace-research/SOUL.md'), 'utf8')).toBe('# Research soul\n');
    expect((await lstat(join(root, 'workspace/empty-dir'))).isDirectory()).toBe(true);
    // Config: restored values, live secrets.
    const cfg = JSON5.parse(await readFile(join(root, 'openclaw.json'), 'utf8')) as { gateway: { port: number; auth: { token: string } } };
    expect(cfg.gateway.port).toBe(18789);
    expect(cfg.gateway.auth.token).toBe('gw-rotated-token');
    expect(await readFile(join(root, '.env'), 'utf8')).toBe('# OpenClaw env\nOPENAI_API_KEY=sk-rotated\nLOG_LEVEL=info\n');
    expect(r.merged.sort()).toEqual(['.env', 'agents/main/agent/models.json', 'openclaw.json']);
    const models = JSON.parse(await readFile(join(root, 'agents/main/agent/models.json'), 'utf8'));
    expect(models.providers.openai.apiKey).toBe(SECRETS.modelsKey);
    // Credentials: never touched, or kept from the live state.
    expect(await snapshotFs(join(root, 'credentials'))).toEqual(credsBefore);
    expect(await readFile(join(root, 'agents/main/agent/auth-profiles.json'), 'utf8')).toBe('{"rotated":true}');
    expect(r.kept).toContain('agents/main/agent/auth-profiles.json');
    // SQLite: the snapshot's rows, sound, no stale WAL.
    expect(dbRows(join(root, 'memory/main.sqlite'), 'chunks').n).toBe(300);
    expect(checkSqlite(join(root, 'memory/main.sqlite'), 'integrity_check')).toBe('ok');
    // Undeclared content untouched; nothing left aside.
    expect(await readFile(join(root, 'logs/gateway.log'), 'utf8')).toBe('log line\n');
    expect((await readdir(root)).filter((n) => n.startsWith('.clawback'))).toEqual([]);
    // The pre-restore snapshot undoes it.
    const { entries } = await listSnapshots(repo);
    const pre = entries.find((e) => e.id === r.preRestore?.id)!;
    expect(pre.manifest.kind).toBe('auto');
    expect(pre.manifest.tags).toEqual(['pre-restore']);
    expect(pre.manifest.source).toBe(v1.manifest.source);
    await restoreInPlace(repo, { snapshot: pre, profile: builtin('openclaw', root), preRestore: false });
    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nChanged after the snapshot.\n');
    expect(await readFile(join(root, 'workspace-new/SOUL.md'), 'utf8')).toBe('new agent\n');
    expect(dbRows(join(root, 'memory/main.sqlite'), 'chunks').n).toBe(301);
  });

  it('rolls back when the health check fails: the live tree is byte-identical to before', async () => {
    const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root) });
    await changeLive();
    // Once the database has been left alone for a second, the pre-restore snapshot reads it
    // through an immutable connection that creates no -wal/-shm files: not even the
    // directory's mtime moves.
    await new Promise((r) => setTimeout(r, 1100));
    const listing = () => snapshotFs(root, { mtimes: true, dirMtimes: true });
    const before = await listing();
    expect(before.filter((e) => /-(wal|shm)$/.test(e.path))).toEqual([]);
    let seen = '';
    const err = await failure(
      restoreInPlace(repo, {
        snapshot: v1,
        profile: builtin('openclaw', root),
        healthCheck: async () => {
          seen = await readFile(join(root, 'workspace/SOUL.md'), 'utf8');
          throw new ClawbackError('INTEGRITY', 'health check `openclaw doctor` exited with status 1');
        },
      }),
    );
    expect(seen).toBe('# Soul\nCalm, precise.\n'); // the check ran on the restored state
    expect(err.message).toMatch(/failed and was rolled back .*the live state is as before.*openclaw doctor/s);
    expect(err.message).toMatch(/pre-restore snapshot [0-9a-f]{8} kept/);
    expect(await listing()).toEqual(before);
    expect(before.length).toBeGreaterThan(35);
  });

  it('rolls back when a live config cannot be merged; a health check that passes commits', async () => {
    const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root) });
    await writeFile(join(root, 'openclaw.json'), '{ gateway: { auth: { token: "x" } '); // broken JSON5
    const before = await snapshotFs(root, { mtimes: true });
    const err = await failure(restoreInPlace(repo, { snapshot: v1, profile: builtin('openclaw', root), preRestore: false }));
    expect(err.code).toBe('INTEGRITY');
    expect(err.message).toMatch(/live openclaw\.json is not valid JSON5/);
    expect(await snapshotFs(root, { mtimes: true })).toEqual(before);
    await writeFile(join(root, 'openclaw.json'), '{}');
    let ran = false;
    await restoreInPlace(repo, { snapshot: v1, profile: builtin('openclaw', root), preRestore: false, healthCheck: async () => void (ran = true) });
    expect(ran).toBe(true);
    const cfg = JSON5.parse(await readFile(join(root, 'openclaw.json'), 'utf8')) as { gateway: { auth: { token?: string; mode: string } } };
    expect(cfg.gateway.auth.mode).toBe('token');
    expect(cfg.gateway.auth.token).toBeUndefined(); // the live file has none: no placeholder left
  });

  it('restores into a missing root (disaster recovery) without a pre-restore snapshot', async () => {
    const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root) });
    await rm(root, { recursive: true });
    const r = await restoreInPlace(repo, { snapshot: v1, profile: builtin('openclaw', root) });
    expect(r.preRestore).toBeUndefined();
    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    const cfg = await readFile(join(root, 'openclaw.json'), 'utf8');
    expect(cfg).not.toContain(SECRET_PLACEHOLDER); // no live file: stripped fields are dropped
  });

  it('hermes: state.db back through SQLite, its stale -wal/-shm moved aside, .env untouched', async () => {
    const home = join(tmp.dir, '.hermes');
    await buildHermes(home);
    const v1 = await createAgentSnapshot(repo, { profile: builtin('hermes', home) });
    const db = new Database(join(home, 'state.db'));
    db.pragma('wal_autocheckpoint = 0');
    db.prepare('INSERT INTO sessions (body) VALUES (?)').run('later');
    const envBefore = await readFile(join(home, '.env'));
    db.close();
    await restoreInPlace(repo, { snapshot: v1, profile: builtin('hermes', home) });
    expect(dbRows(join(home, 'state.db'), 'sessions').n).toBe(200);
    expect(await readFile(join(home, '.env'))).toEqual(envBefore);
    expect(await readFile(join(home, 'config.yaml'), 'utf8')).toContain(`api_key: "${SECRETS.hermesYaml}"`);
  });
});

describe('--target', () => {
  it('copies out, refuses a non-empty target without force, and symlinked targets or parents', async () => {
    const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root) });
    const target = join(tmp.dir, 'out');
    const r = await restoreToTarget(repo, v1, target);
    expect(await readFile(join(target, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    expect(dbRows(join(target, 'memory/main.sqlite'), 'chunks').n).toBe(300);
    expect(r.placeholders.sort()).toEqual(['.env', 'agents/main/agent/models.json', 'openclaw.json']);
    const e1 = await failure(restoreToTarget(repo, v1, target));
    expect(e1.code).toBe('USAGE');
    expect(e1.message).toMatch(/not empty.*--force/);
    await writeFile(join(target, 'workspace/extra.md'), 'x');
    await restoreToTarget(repo, v1, target, { force: true });
    await expect(lstat(join(target, 'workspace/extra.md'))).rejects.toThrow();
    await mkdir(join(tmp.dir, 'real'));
    await symlink(join(tmp.dir, 'real'), join(tmp.dir, 'link'));
    expect((await failure(restoreToTarget(repo, v1, join(tmp.dir, 'link')))).code).toBe('UNSAFE');
    const e3 = await failure(restoreToTarget(repo, v1, join(tmp.dir, 'link', 'sub')));
    expect(e3.code).toBe('UNSAFE');
    expect(e3.message).toMatch(/parent of the restore target/);
    expect(await readdir(join(tmp.dir, 'real'))).toEqual([]);
  });
});

describe('placeSqlite', () => {
  it('copies into an open live database through the backup API, and re-checks', async () => {
    const live = join(tmp.dir, 'live.db');
    const restored = join(tmp.dir, 'restored.db');
    makeDb(live, 10, { wal: true });
    makeDb(restored, 3);
    const holder = new Database(live);
    await placeSqlite(restored, live);
    expect((holder.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n).toBe(3);
    holder.close();
    await expect(lstat(restored)).rejects.toThrow();
    await writeFile(join(tmp.dir, 'bad.db'), Buffer.alloc(4096, 7));
    const err = await failure(placeSqlite(join(tmp.dir, 'bad.db'), live));
    expect(err.code).toBe('INTEGRITY');
    expect(dbRows(live).n).toBe(3); // live untouched by a bad copy
  });

  it('renames a whole database into a fresh path, and refuses one whose size disagrees with its header', async () => {
    const good = join(tmp.dir, 'good.db');
    makeDb(good, 50, { wal: true });
    const bytes = await readFile(good);
    await placeSqlite(good, join(tmp.dir, 'placed.db'));
    expect(dbRows(join(tmp.dir, 'placed.db')).n).toBe(50);
    const pageSize = bytes.readUInt16BE(16);
    const cases: [string, Buffer, RegExp][] = [
      ['short.db', bytes.subarray(0, bytes.length - pageSize), /header says \d+ pages/],
      ['torn.db', bytes.subarray(0, bytes.length - 100), /not a whole number of/],
      ['junk.db', Buffer.alloc(bytes.length, 7), /does not start with the SQLite header/],
    ];
    for (const [name, content, message] of cases) {
      await writeFile(join(tmp.dir, name), content);
      const err = await failure(placeSqlite(join(tmp.dir, name), join(tmp.dir, `placed-${name}`)));
      expect(err.code).toBe('INTEGRITY');
      expect(err.message).toMatch(message);
      await expect(lstat(join(tmp.dir, `placed-${name}`))).rejects.toThrow(); // nothing placed
      await expect(lstat(join(tmp.dir, name))).rejects.toThrow(); // temp removed
    }
  });
});

describe('recovery of interrupted restores', () => {
  it('rolls back a dead restore, refuses a live one or one without a journal', async () => {
    const { asideDirOf, moveAside, recoverAsides, writeJournal } = await import('../../src/agent/aside.js');
    const before = await snapshotFs(root, { mtimes: true });
    const aside = asideDirOf(root, 'feedbeef');
    await mkdir(aside);
    const journal = {
      version: 1 as const,
      snapshot: 'x'.repeat(64),
      root,
      host: 'h1',
      pid: 4242,
      started: new Date().toISOString(),
      state: 'restoring' as const,
      units: [
        { live: join(root, 'workspace'), aside: join(aside, 'workspace'), existed: true },
        { live: join(root, 'workspace-zzz'), aside: join(aside, 'workspace-zzz'), existed: false },
      ],
      dirs: [],
      asideDirs: [aside],
    };
    await writeJournal(aside, journal);
    await moveAside(journal);
    await put(root, 'workspace/half-restored.md', 'x'); // a restore that died midway
    await put(root, 'workspace-zzz/new.md', 'x');
    const live = await failure(recoverAsides(root, 'h1', { pid: 1, isAlive: (p) => p === 4242 }));
    expect(live.code).toBe('LOCKED');
    expect(live.message).toMatch(/pid 4242/);
    expect((await failure(recoverAsides(root, 'other-host', { pid: 1, isAlive: () => false }))).code).toBe('LOCKED');
    const rec = await recoverAsides(root, 'h1', { pid: 1, isAlive: () => false });
    expect(rec).toEqual([{ asideDir: aside, snapshot: journal.snapshot, action: 'rolled-back', units: 1 }]);
    expect(await snapshotFs(root, { mtimes: true })).toEqual(before);
    await put(root, '.clawback-aside-0000/stray', 'x');
    expect((await failure(recoverAsides(root, 'h1'))).code).toBe('UNSAFE');
  });
});
