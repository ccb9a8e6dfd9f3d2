/**
 * Commands close what they open on every path: `clawback init --copy-chunker-params-from
 * OTHER` closes OTHER (the repository and its backend), also when init fails, and a
 * command whose repository does not open closes its backend. The local backend and a
 * repository that has not loaded its cache hold nothing the test could see leak, so the
 * closes are observed with spies that call through to the real methods.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { Repository } from '../../src/repository/repository.js';
import { cleanup, makeRepo, tmp } from '../fixtures/maint.js';
import { cli } from '../helpers/cli.js';

afterAll(cleanup);
afterEach(() => {
  vi.restoreAllMocks();
});

/** A new local repository in a temp directory (encrypted with password `pw` when asked). */
async function localRepo(encrypted = false): Promise<string> {
  const dir = join(await tmp('cb-init-'), 'repo');
  const { repo } = await makeRepo({ backend: new LocalBackend(dir, { fsync: false }), encrypted });
  await repo.close();
  return dir;
}

/** Runs `clawback init` with spies on every close; returns the exit code, stderr and the locations closed. */
async function init(target: string, from: string, env: Record<string, string> = {}) {
  const repoClosed = vi.spyOn(Repository.prototype, 'close');
  const backendClosed = vi.spyOn(LocalBackend.prototype, 'close');
  const home = await tmp('cb-home-');
  const r = await cli(['--repo', target, '--cache-dir', join(home, 'cache'), 'init', '--no-password', '--copy-chunker-params-from', from], { HOME: home, ...env }, home);
  const locations = (calls: unknown[]) => calls.map((t) => (t instanceof Repository ? t.backend.location : (t as LocalBackend).location));
  return { ...r, reposClosed: locations(repoClosed.mock.contexts), backendsClosed: locations(backendClosed.mock.contexts) };
}

describe('init --copy-chunker-params-from', () => {
  it('closes the other repository and its backend when init succeeds', async () => {
    const from = await localRepo();
    const target = join(await tmp('cb-init-'), 'new');
    const r = await init(target, from);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reposClosed).toContain(from);
    expect(r.backendsClosed).toContain(from);
    expect(r.backendsClosed).toContain(target);
  });

  it('closes them when init fails (a repository exists at the target)', async () => {
    const from = await localRepo();
    const target = await localRepo();
    const r = await init(target, from);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a repository already exists/);
    expect(r.reposClosed).toContain(from);
    expect(r.backendsClosed).toContain(from);
    expect(r.backendsClosed).toContain(target);
  });

  it('closes the other backend when the other repository does not open (wrong password)', async () => {
    const from = await localRepo(true);
    const target = join(await tmp('cb-init-'), 'new');
    const r = await init(target, from, { CLAWBACK_FROM_PASSWORD: 'not the password' });
    expect(r.code).toBe(12);
    expect(r.backendsClosed).toContain(from);
    expect(r.backendsClosed).toContain(target);
  });
});

describe('commands that open a repository', () => {
  it('close its backend when it does not open (wrong password)', async () => {
    const dir = await localRepo(true);
    const backendClosed = vi.spyOn(LocalBackend.prototype, 'close');
    const home = await tmp('cb-home-');
    const r = await cli(['--repo', dir, '--cache-dir', join(home, 'cache'), 'snapshot', 'list'], { HOME: home, CLAWBACK_PASSWORD: 'not-the-password' }, home);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password/i);
    expect(backendClosed.mock.contexts.map((t) => (t as LocalBackend).location)).toContain(dir);
  });
});
