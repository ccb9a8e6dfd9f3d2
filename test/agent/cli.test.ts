/**
 * The agent side of `clawback snapshot create|list|restore`, in-process through runCli
 * (and one real process killed during a restore to test crash recovery).
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../helpers/cli.js';
import { snapshotFs } from '../helpers/compare.js';
import { makeTmp } from '../helpers/tmp.js';
import { buildNemoClawSandbox, buildOpenClaw, HERMES_SANDBOX_MANIFEST, makeDb, makeRepo, put, SECRETS } from './fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const PROJECT = fileURLToPath(new URL('../../', import.meta.url));

let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
let root: string;
let repoDir: string;

beforeEach(async () => {
  tmp = await makeTmp('clawback-agent-cli-');
  root = join(tmp.dir, 'home', '.openclaw');
  repoDir = join(tmp.dir, 'repo');
  await buildOpenClaw(root);
  await (await makeRepo(tmp.dir)).close();
  env = { HOME: join(tmp.dir, 'home'), OPENCLAW_STATE_DIR: root };
});
afterEach(async () => {
  await tmp.cleanup();
});

function run(args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return cli(['--repo', repoDir, '--cache-dir', join(tmp.dir, 'cache'), '--no-config', ...args], { ...env, ...extraEnv }, tmp.dir);
}

async function json<T>(args: string[]): Promise<T> {
  const r = await run(['--json', ...args]);
  if (r.code !== 0) throw new Error(`clawback ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Row {
  version: number;
  id: string;
  name: string | null;
  kind: string;
  scope: string | null;
  profile: string | null;
  noWorkspace: boolean;
  extraPaths: string[];
  tags: string[];
  source: string;
}

/** The live tree, -shm files compared without mtime (every SQLite reader writes into them). */
async function liveListing(dir = root) {
  return (await snapshotFs(dir, { mtimes: true })).map((e) => (e.path.endsWith('-shm') ? { ...e, mtimeMs: 0 } : e));
}

describe('snapshot create/list --profile', () => {
  it('versions per agent, scope shown, labels and selectors as in SPEC §3.2', async () => {
    const other = join(tmp.dir, 'other');
    await put(other, 'a.txt', 'a');
    expect((await run(['snapshot', 'create', other])).code).toBe(0); // a plain snapshot in the same repository
    const c1 = await json<Row & { missing: string[]; stripped: string[]; sqlite: string[] }>(['snapshot', 'create', '--profile', 'openclaw', '--name', 'before-upgrade']);
    expect(c1.version).toBe(1);
    expect(c1.profile).toBe('openclaw');
    expect(c1.scope).toBe('everything');
    expect(c1.sqlite).toEqual(['memory/main.sqlite']);
    expect((await run(['snapshot', 'create', '--profile', 'openclaw', '--scope', 'config-only'])).code).toBe(0);
    expect((await run(['snapshot', 'create', '--profile', 'openclaw', '--no-workspace', '--extra-path', join(root, 'logs')])).code).toBe(0);
    const rows = await json<Row[]>(['snapshot', 'list', '--profile', 'openclaw']);
    expect(rows.map((r) => [r.version, r.name, r.scope, r.noWorkspace, r.extraPaths.length])).toEqual([
      [1, 'before-upgrade', 'everything', false, 0],
      [2, null, 'config-only', false, 0],
      [3, null, 'everything', true, 1],
    ]);
    expect(new Set(rows.map((r) => r.source)).size).toBe(1);
    const table = await run(['snapshot', 'list', '--profile', 'openclaw']);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^version\s+name\s+time\s+id\s+files\s+size\s+added\s+kind\s+scope$/);
    const body = lines.filter((l) => /^v\d/.test(l));
    expect(body.length).toBe(3);
    expect(body[0]).toMatch(/^v1\s+before-upgrade\s.*manual\s+everything$/);
    expect(body[2]).toMatch(/^v3\s.*everything -workspace \+1 extra$/); // newest last
    // Labels: duplicates and vN look-alikes refused before any write.
    const dup = await run(['snapshot', 'create', '--profile', 'openclaw', '--name', 'before-upgrade']);
    expect(dup.code).toBe(2);
    expect((await run(['snapshot', 'create', '--profile', 'openclaw', '--name', 'v7'])).code).toBe(2);
    expect((await json<Row[]>(['snapshot', 'list', '--profile', 'openclaw'])).length).toBe(3);
    // Capture failures: exit 1, the item named, nothing listed.
    await writeFile(join(tmp.dir, 'elsewhere'), 'x');
    const { symlink } = await import('node:fs/promises');
    await symlink(join(tmp.dir, 'elsewhere'), join(root, 'workspace/escape'));
    const bad = await run(['snapshot', 'create', '--profile', 'openclaw']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/workspace\/escape: symbolic link to .* leaves the captured roots/);
    expect((await json<Row[]>(['snapshot', 'list', '--profile', 'openclaw'])).length).toBe(3);
    // Unencrypted repository: --include-secrets refused.
    const sec = await run(['snapshot', 'create', '--profile', 'openclaw', '--include-secrets']);
    expect(sec.code).toBe(2);
    expect(sec.stderr).toMatch(/not encrypted/);
  });

  it('unknown profiles and bad manifests are usage errors', async () => {
    const r = await run(['snapshot', 'create', '--profile', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown profile "nope": built-in profiles are openclaw, hermes, nemoclaw/);
    await writeFile(join(tmp.dir, 'bad.json'), JSON.stringify({ name: 'x', state_files: [{ path: 'a.db', strategy: 'rsync' }] }));
    const m = await run(['snapshot', 'create', '--manifest', join(tmp.dir, 'bad.json'), '--root', root]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/state_files\[0\]\.strategy must be "copy" or "sqlite_backup", not "rsync"/);
    await writeFile(join(tmp.dir, 'noroot.json'), JSON.stringify({ name: 'x', state_dirs: ['a'] }));
    expect((await run(['snapshot', 'create', '--manifest', join(tmp.dir, 'noroot.json')])).stderr).toMatch(/names no root: pass --root/);
  });
});

describe('snapshot restore --profile', () => {
  it('a selector that resolves to nothing touches nothing; --target copies; in place with health check and rollback', async () => {
    await json(['snapshot', 'create', '--profile', 'openclaw', '--name', 'before-upgrade']);
    const target = join(tmp.dir, 'copy');
    const none = await run(['snapshot', 'restore', 'v9', '--profile', 'openclaw', '--target', target]);
    expect(none.code).not.toBe(0);
    await expect(lstat(target)).rejects.toThrow();
    const t = await json<{ version: number; placeholders: string[] }>(['snapshot', 'restore', 'V1', '--profile', 'openclaw', '--target', target]);
    expect(t.version).toBe(1);
    expect(await readFile(join(target, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    expect((await run(['snapshot', 'restore', 'latest', '--profile', 'openclaw', '--target', target])).stderr).toMatch(/not empty.*--force/);
    expect((await run(['snapshot', 'restore', 'latest', '--profile', 'openclaw', '--target', target, '--force'])).code).toBe(0);

    // In place: a failing health check rolls back.
    await writeFile(join(root, 'workspace/SOUL.md'), 'changed\n');
    await writeFile(join(root, 'workspace/after.md'), 'new\n');
    await json(['snapshot', 'create', '--profile', 'openclaw']); // so SQLite sidecars exist before the comparison
    const before = await liveListing();
    const fail = await run(['snapshot', 'restore', 'before-upgrade', '--profile', 'openclaw', '--health-check', 'echo unhealthy >&2; exit 3']);
    expect(fail.code).toBe(1);
    expect(fail.stderr).toMatch(/rolled back.*exited with status 3: unhealthy/s);
    expect(await liveListing()).toEqual(before);

    // A passing one commits; the pre-restore snapshot is listed as auto and undoes it.
    const ok = await json<{ preRestore: { version: number }; replaced: string[]; merged: string[] }>(['snapshot', 'restore', 'before-upgrade', '--profile', 'openclaw', '--health-check', 'test -f workspace/SOUL.md']);
    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    await expect(lstat(join(root, 'workspace/after.md'))).rejects.toThrow();
    expect(ok.replaced).toContain('workspace');
    expect(ok.merged).toContain('openclaw.json');
    expect(await readFile(join(root, 'openclaw.json'), 'utf8')).toContain(SECRETS.gatewayToken);
    const rows = await json<Row[]>(['snapshot', 'list', '--profile', 'openclaw']);
    const pre = rows.find((r) => r.version === ok.preRestore.version)!;
    expect(pre.kind).toBe('auto');
    expect(pre.tags).toEqual(['pre-restore']);
    expect((await run(['snapshot', 'restore', `v${pre.version}`, '--profile', 'openclaw', '--no-pre-restore'])).code).toBe(0);
    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('changed\n');
  });

  it('recovers after a restore killed midway (SIGKILL during the health check)', async () => {
    await json(['snapshot', 'create', '--profile', 'openclaw']);
    await writeFile(join(root, 'workspace/SOUL.md'), 'changed before the crash\n');
    await json(['snapshot', 'create', '--profile', 'openclaw']);
    const before = await liveListing();
    const mark = join(tmp.dir, 'in-health-check');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, '--repo', repoDir, '--cache-dir', join(tmp.dir, 'cache'), '--no-config', 'snapshot', 'restore', 'v1', '--profile', 'openclaw', '--health-check', `touch '${mark}'; sleep 60`],
      { cwd: PROJECT, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    while (!(await lstat(mark).catch(() => undefined))) {
      if (child.exitCode !== null) throw new Error(`restore exited early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Mid-restore: the snapshot's state is live, the previous one is aside.
    expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
    expect((await readdir(root)).some((n) => n.startsWith('.clawback-aside-'))).toBe(true);
    child.kill('SIGKILL');
    await exited;
    // The next restore puts the aside state back first (and says so); its failing health
    // check then rolls back to exactly that recovered state.
    const next = await run(['snapshot', 'restore', 'v1', '--profile', 'openclaw', '--no-pre-restore', '--health-check', 'exit 1']);
    expect(next.stderr).toMatch(/recovered an interrupted restore: put \d+ item\(s\) back/);
    expect(next.code).toBe(1);
    expect(await liveListing()).toEqual(before);
    expect((await readdir(root)).some((n) => n.startsWith('.clawback-aside-'))).toBe(false);
  });
});

describe('--manifest (NemoClaw-style)', () => {
  it('captures a Hermes sandbox by an agent manifest, with its runtime/ SQLite and compat symlink', async () => {
    const sandbox = join(tmp.dir, 'sandbox', '.hermes');
    await put(sandbox, 'SOUL.md', '# soul\n');
    await put(sandbox, 'memories/MEMORY.md', 'm\n');
    await put(sandbox, 'config.yaml', `model:\n  api_key: ${SECRETS.hermesYaml}\n`);
    await put(sandbox, '.env', `KEY=${SECRETS.hermesEnv}\n`);
    await put(sandbox, 'hooks/h.sh', '#!/bin/sh\n');
    await mkdir(join(sandbox, 'runtime'));
    makeDb(join(sandbox, 'runtime/state.db'), 10);
    const { symlink } = await import('node:fs/promises');
    await symlink('runtime/state.db', join(sandbox, 'state.db'));
    const manifest = join(tmp.dir, 'agent.json');
    await writeFile(manifest, JSON.stringify(HERMES_SANDBOX_MANIFEST));
    const c = await run(['--json', 'snapshot', 'create', '--manifest', manifest, '--root', sandbox, '--name', 'nightly']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/display_name is not used by clawback/);
    const row = JSON.parse(c.stdout) as Row & { sqlite: string[]; stripped: string[]; missing: string[] };
    expect(row.profile).toBe('hermes-sandbox');
    expect(row.sqlite).toEqual(['runtime/state.db']);
    expect(row.stripped).toEqual(['config.yaml']);
    const out = join(tmp.dir, 'out');
    expect((await run(['snapshot', 'restore', 'nightly', '--manifest', manifest, '--root', sandbox, '--target', out])).code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['SOUL.md', 'config.yaml', 'memories', 'runtime', 'state.db']);
    expect((await lstat(join(out, 'state.db'))).isSymbolicLink()).toBe(true);
    // NemoClaw's OpenClaw sandbox through the built-in profile and --root.
    const oc = join(tmp.dir, 'sandbox', '.openclaw');
    await buildNemoClawSandbox(oc);
    const n = await json<Row>(['snapshot', 'create', '--profile', 'nemoclaw', '--root', oc]);
    expect(n.version).toBe(1);
    expect(n.source).toBe(`profile:nemoclaw:${oc}`);
  });
});
