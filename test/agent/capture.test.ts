/**
 * Capture through agent profiles: what is selected, SQLite as `sqlite` nodes without
 * sidecars, secrets stripped, missing declared dirs reported, scopes recorded, and the
 * safety checks (escaping symlinks, hard links, fifos, sockets) failing the whole
 * snapshot with every path named.
 */
import { execFileSync } from 'node:child_process';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgentSnapshot } from '../../src/agent/create.js';
import { isSqliteHeader } from '../../src/fs/sqlite.js';
import { SECRET_PLACEHOLDER } from '../../src/fs/secrets.js';
import type { Repository } from '../../src/repository/repository.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { makeTmp } from '../helpers/tmp.js';
import { buildHermes, buildNemoClawSandbox, buildOpenClaw, makeRepo, put, SECRETS } from './fixtures.js';
import { builtin, nodeBytes, recorder, treeListing } from './helpers.js';
import { rejection as captureError } from '../helpers/rejection.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;

beforeEach(async () => {
  tmp = await makeTmp('clawback-agent-');
  repo = await makeRepo(tmp.dir);
});
afterEach(async () => {
  await repo.close();
  await tmp.cleanup();
});

describe('openclaw profile', () => {
  it('captures the declared state, workspace-* dirs and SQLite, and nothing else', async () => {
    const root = join(tmp.dir, '.openclaw');
    await buildOpenClaw(root);
    const progress = recorder();
    const r = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), progress });
    const t = await treeListing(repo, r.manifest.tree);
    for (const p of ['openclaw.json', '.env', 'agents/main/agent/models.json', 'agents/main/sessions/a1b2.jsonl', 'agents/ops/sessions/c3d4.jsonl', 'cron/jobs.json', 'workspace/SOUL.md', 'workspace/memory/2026-04-15.md', 'workspace-research/memory/2026-04-14.md']) {
      expect(t.has(p), p).toBe(true);
    }
    // Empty dirs are captured.
    expect(t.get('workspace/empty-dir')?.type).toBe('dir');
    // Credentials, sidecars and undeclared dirs are not.
    for (const p of ['credentials', 'identity', 'chatgpt-auth.json', 'agents/main/agent/auth-profiles.json', 'memory/main.sqlite-wal', 'memory/main.sqlite-shm', 'logs']) {
      expect(t.has(p), p).toBe(false);
    }
    // SQLite through the backup API: a sqlite node, a consistent database holding the WAL row.
    const db = t.get('memory/main.sqlite')!;
    expect(db.type).toBe('sqlite');
    const bytes = await nodeBytes(repo, db);
    expect(isSqliteHeader(bytes)).toBe(true);
    const copy = join(tmp.dir, 'copy.sqlite');
    await writeFile(copy, bytes);
    const c = new Database(copy, { readonly: true });
    expect(c.pragma('integrity_check', { simple: true })).toBe('ok');
    expect((c.prepare('SELECT COUNT(*) AS n FROM chunks').get() as { n: number }).n).toBe(300);
    c.close();
    expect(r.info.sqlite).toEqual(['memory/main.sqlite']);
    // Secrets replaced, the rest kept.
    const cfg = (await nodeBytes(repo, t.get('openclaw.json')!)).toString();
    expect(cfg).not.toContain(SECRETS.gatewayToken);
    expect(cfg).not.toContain(SECRETS.openaiKey);
    expect(cfg).toContain(SECRET_PLACEHOLDER);
    expect(cfg).toContain('// OpenClaw config (JSON5)');
    const env = (await nodeBytes(repo, t.get('.env')!)).toString();
    expect(env).toBe(`# OpenClaw env\nOPENAI_API_KEY=${SECRET_PLACEHOLDER}\nADMIN_PASSWORD=${SECRET_PLACEHOLDER}\nLOG_LEVEL=info\n`);
    expect(r.info.stripped.sort()).toEqual(['.env', 'agents/main/agent/models.json', 'openclaw.json']);
    // Manifest: per-agent source, profile, scope.
    expect(r.manifest.source).toBe(`profile:openclaw:${r.info.root}`);
    expect(r.manifest.profile).toBe('openclaw');
    expect(r.manifest.scope).toBe('everything');
    // Missing declared dirs are reported, optional ones are not.
    expect(progress.warnings.some((w) => w.includes('skipped') && w.includes('sessions'))).toBe(false);
    expect(r.info.missing).toEqual([]);
  });

  it('reports missing declared dirs and still snapshots', async () => {
    const root = join(tmp.dir, 'oc');
    await put(root, 'openclaw.json', '{}');
    await put(root, 'workspace/SOUL.md', 'x');
    const progress = recorder();
    const r = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), progress });
    expect(r.info.missing.sort()).toEqual(['agents', 'cron', 'memory']);
    expect(progress.warnings.filter((w) => w.startsWith('skipped')).length).toBe(3);
    expect(progress.warnings.join('\n')).toMatch(/skipped agents: declared by profile openclaw but not present/);
  });

  it('uses the root from --root, OPENCLAW_STATE_DIR or ~/.openclaw', async () => {
    const { builtinRoot } = await import('../../src/agent/builtin.js');
    expect(builtinRoot('openclaw', undefined, { env: { HOME: '/home/u' }, cwd: '/' })).toBe('/home/u/.openclaw');
    expect(builtinRoot('openclaw', undefined, { env: { HOME: '/home/u', OPENCLAW_STATE_DIR: '~/state' }, cwd: '/' })).toBe('/home/u/state');
    expect(builtinRoot('openclaw', 'rel/x', { env: { OPENCLAW_STATE_DIR: '/s' }, cwd: '/w' })).toBe('/w/rel/x');
    expect(builtinRoot('hermes', undefined, { env: { HOME: '/home/u' }, cwd: '/' })).toBe('/home/u/.hermes');
    expect(builtinRoot('nemoclaw', undefined, { env: {}, cwd: '/' })).toBe('/sandbox/.openclaw');
  });

  it('records the scope: config-only, --no-workspace, --extra-path', async () => {
    const root = join(tmp.dir, '.openclaw');
    await buildOpenClaw(root);
    const outside = join(tmp.dir, 'notes');
    await put(outside, 'todo.md', '- x\n');
    const cfg = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), scope: 'config-only' });
    expect([...(await treeListing(repo, cfg.manifest.tree)).keys()]).toEqual(['openclaw.json']);
    expect(cfg.manifest.scope).toBe('config-only');

    const nows = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), noWorkspace: true });
    const t = await treeListing(repo, nows.manifest.tree);
    expect(t.has('workspace')).toBe(false);
    expect(t.has('workspace-research')).toBe(false);
    expect(t.has('agents/main/sessions/a1b2.jsonl')).toBe(true);
    expect(nows.info.noWorkspace).toBe(true);

    const logs = join(root, 'logs');
    const ex = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), extraPaths: [logs, outside] });
    expect(ex.manifest.paths).toEqual([ex.info.root, outside]);
    const te = await treeListing(repo, ex.manifest.tree);
    expect(te.has('.openclaw/logs/gateway.log')).toBe(true);
    expect(te.has('notes/todo.md')).toBe(true);
    expect(ex.info.extraPaths).toEqual([join(ex.info.root, 'logs'), outside]);

    // All of them are versions of one source.
    const { entries } = await listSnapshots(repo);
    expect(new Set(entries.map((e) => e.manifest.source)).size).toBe(1);
  });
});

describe('hermes and nemoclaw', () => {
  it('hermes: memories, sessions, skills, state.db and kanban.db; .env and auth.json left out', async () => {
    const root = join(tmp.dir, '.hermes');
    await buildHermes(root);
    const r = await createAgentSnapshot(repo, { profile: builtin('hermes', root) });
    const t = await treeListing(repo, r.manifest.tree);
    expect(t.get('state.db')?.type).toBe('sqlite');
    expect(t.get('kanban.db')?.type).toBe('sqlite');
    for (const p of ['SOUL.md', 'config.yaml', 'memories/MEMORY.md', 'sessions/20260414_abc.jsonl', 'skills/research/SKILL.md', 'cron/jobs.json', 'profiles/work/SOUL.md', '.hermes_history']) expect(t.has(p), p).toBe(true);
    for (const p of ['.env', 'auth.json', 'profiles/work/.env', 'state.db-wal', 'state.db-shm']) expect(t.has(p), p).toBe(false);
    const cfg = (await nodeBytes(repo, t.get('config.yaml')!)).toString();
    expect(cfg).toContain(`api_key: ${SECRET_PLACEHOLDER}`);
    expect(cfg).toContain('default: hermes-4-405b');
    expect(r.info.stripped.sort()).toEqual(['config.yaml', 'profiles/work/config.yaml']);
  });

  it('nemoclaw: the sandbox layout, plugins left out', async () => {
    const root = join(tmp.dir, 'sandbox', '.openclaw');
    await buildNemoClawSandbox(root);
    const r = await createAgentSnapshot(repo, { profile: builtin('nemoclaw', root) });
    const t = await treeListing(repo, r.manifest.tree);
    for (const p of ['openclaw.json', 'agents/main/sessions/s1.jsonl', 'workspace/SOUL.md', 'workspace-coder/AGENTS.md']) expect(t.has(p), p).toBe(true);
    for (const p of ['plugins', 'credentials', 'agents/main/agent/auth-profiles.json']) expect(t.has(p), p).toBe(false);
    expect(t.get('memory/main.sqlite')?.type).toBe('sqlite');
    const cfg = JSON.parse((await nodeBytes(repo, t.get('openclaw.json')!)).toString());
    expect(cfg.gateway.auth.token).toBe(SECRET_PLACEHOLDER);
    expect(cfg.models.providers.nim.apiKey).toBe('resolve:env:NVIDIA_API_KEY');
  });
});

describe('capture safety', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it('rejects escaping symlinks, hard links, fifos and sockets, naming each; nothing is saved', async () => {
    const root = join(tmp.dir, '.openclaw');
    await buildOpenClaw(root);
    await symlink('/etc/passwd', join(root, 'workspace/passwd-link'));
    await symlink('../../../outside', join(root, 'workspace/memory/up'));
    await symlink('SOUL.md', join(root, 'workspace/soul-link')); // inside: fine
    await writeFile(join(tmp.dir, 'other-name'), 'shared');
    await link(join(tmp.dir, 'other-name'), join(root, 'workspace/hard.md'));
    execFileSync('mkfifo', [join(root, 'workspace/pipe')]);
    server = createServer();
    const sock = join(root, 'agents/main/gw.sock');
    await new Promise<void>((r) => server!.listen(sock, () => r()));
    const before = (await listSnapshots(repo)).entries.length;
    const err = await captureError(createAgentSnapshot(repo, { profile: builtin('openclaw', root) }));
    expect(err.code).toBe('CAPTURE');
    const problems = (err.details as { problems: { path: string; reason: string }[] }).problems;
    const byPath = new Map(problems.map((p) => [p.path.slice(root.length + 1), p.reason]));
    expect([...byPath.keys()].sort()).toEqual(['agents/main/gw.sock', 'workspace/hard.md', 'workspace/memory/up', 'workspace/passwd-link', 'workspace/pipe']);
    expect(byPath.get('workspace/passwd-link')).toMatch(/leaves the captured roots/);
    expect(byPath.get('workspace/hard.md')).toMatch(/2 hard links/);
    expect(byPath.get('workspace/pipe')).toMatch(/fifo/);
    expect(byPath.get('agents/main/gw.sock')).toMatch(/socket/);
    expect(err.message).toMatch(/5 item\(s\) could not be captured/);
    for (const p of byPath.keys()) expect(err.message).toContain(p);
    expect((await listSnapshots(repo)).entries.length).toBe(before);
  });

  it('an allow-list entry admits the exact path and target; a changed target is rejected', async () => {
    const root = join(tmp.dir, 'agent');
    await put(root, 'state/notes.md', 'x');
    await symlink('/opt/shared/model', join(root, 'state/model'));
    await link(join(root, 'state/notes.md'), join(tmp.dir, 'notes-elsewhere.md'));
    const def = {
      name: 'custom',
      stateDirs: [{ path: 'state' }],
      stateFiles: [],
      excludes: [],
      credentials: [],
      secretFiles: [],
      allowLinks: [{ path: 'state/model', target: '/opt/shared/model' }, { path: 'state/notes.md', hardlink: true }],
    };
    const ok = await createAgentSnapshot(repo, { profile: { definition: def, root, origin: 'test' } });
    expect((await treeListing(repo, ok.manifest.tree)).get('state/model')?.target).toBe('/opt/shared/model');
    const changed = { ...def, allowLinks: [{ path: 'state/model', target: '/opt/shared/other' }] };
    const err = await captureError(createAgentSnapshot(repo, { profile: { definition: changed, root, origin: 'test' } }));
    expect(err.message).toMatch(/state\/model: symbolic link target changed/);
    expect(err.message).toMatch(/state\/notes\.md: has 2 hard links/);
  });

  it('an unparseable secret config fails the snapshot with its reason', async () => {
    const root = join(tmp.dir, '.openclaw');
    await put(root, 'openclaw.json', '{ gateway: { auth: { token: "abc" } ');
    await mkdir(join(root, 'agents'));
    const err = await captureError(createAgentSnapshot(repo, { profile: builtin('openclaw', root) }));
    expect(err.code).toBe('CAPTURE');
    expect(err.message).toMatch(/openclaw\.json: openclaw\.json is not valid JSON5.*secrets cannot be removed/s);
  });

  it('a missing root is a capture error; --include-secrets is refused without encryption', async () => {
    const err = await captureError(createAgentSnapshot(repo, { profile: builtin('openclaw', join(tmp.dir, 'none')) }));
    expect(err.code).toBe('CAPTURE');
    expect(err.message).toMatch(/does not exist: give the right one with --root/);
    const root = join(tmp.dir, '.openclaw');
    await put(root, 'openclaw.json', '{}');
    const e2 = await captureError(createAgentSnapshot(repo, { profile: builtin('openclaw', root), includeSecrets: true }));
    expect(e2.code).toBe('USAGE');
    expect(e2.message).toMatch(/not encrypted/);
  });
});
