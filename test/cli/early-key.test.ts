/**
 * The CLI's speculative key derivation (src/cli/early-key.ts): started for the repository
 * and password a command will most likely use, taken by the repository when it opens.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { deriveKeyEarly } from '../../src/cli/early-key.js';
import { derivationsAhead } from '../../src/repository/kdf.js';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository, openRepository } from '../../src/repository/repository.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repoDir: string;

beforeEach(async () => {
  tmp = await makeTmp('clawback-early-');
  repoDir = join(tmp.dir, 'repo');
  const repo = await initRepository(new LocalBackend(repoDir), { password: 'pw', ...FAST_INIT }, { cacheDir: join(tmp.dir, 'cache') });
  await repo.close();
});
afterEach(() => tmp.cleanup());

it('starts the derivation for --repo, -r, CLAWBACK_REPO and the default repository; opening takes it', async () => {
  const home = join(tmp.dir, 'home');
  const cases: [string[], Record<string, string>, string][] = [
    [['snapshot', 'create', '--repo', repoDir, 'x'], { CLAWBACK_PASSWORD: 'pw' }, '/'],
    [['-r', 'repo', 'ls'], { CLAWBACK_PASSWORD: 'pw' }, tmp.dir],
    [[`--repo=local:${repoDir}`, 'ls'], { CLAWBACK_PASSWORD: 'pw' }, '/'],
    [['ls'], { CLAWBACK_PASSWORD: 'pw', CLAWBACK_REPO: repoDir }, '/'],
  ];
  for (const [argv, env, cwd] of cases) {
    deriveKeyEarly(argv, env, home, cwd);
    expect(derivationsAhead()).toBe(1);
    const repo = await openRepository(new LocalBackend(repoDir), { password: 'pw', cacheDir: join(tmp.dir, 'cache') });
    await repo.close();
    expect(derivationsAhead()).toBe(0); // taken by the open
  }
});

it('guesses nothing without CLAWBACK_PASSWORD, with a password option, for s3:, a missing repository or a command that opens none', async () => {
  const env = { CLAWBACK_PASSWORD: 'pw' };
  deriveKeyEarly(['--repo', repoDir, 'ls'], {}, tmp.dir, '/');
  deriveKeyEarly(['--repo', repoDir, '--password-file', 'f', 'ls'], env, tmp.dir, '/');
  deriveKeyEarly(['--repo', 's3:https://127.0.0.1:1/b', 'ls'], env, tmp.dir, '/');
  deriveKeyEarly(['--repo', join(tmp.dir, 'none'), 'ls'], env, tmp.dir, '/');
  deriveKeyEarly(['ls'], env, join(tmp.dir, 'nohome'), '/'); // no ~/.clawback/repo
  // Commands that never open the repository: a pending derivation would delay their exit.
  for (const argv of [['--version'], ['-r', repoDir, 'snapshot', 'create', '--help'], ['--repo', repoDir, 'init'], ['--repo', repoDir, 'daemon', '--once'], ['--repo', repoDir, 'help'], ['--repo', repoDir]]) {
    deriveKeyEarly(argv, env, tmp.dir, '/');
  }
  expect(derivationsAhead()).toBe(0);
  // The command word is found after options that take values.
  deriveKeyEarly(['--cache-dir', 'init', '--repo', repoDir, 'ls'], env, tmp.dir, '/');
  expect(derivationsAhead()).toBe(1);
  const repo = await openRepository(new LocalBackend(repoDir), { password: 'pw', cacheDir: join(tmp.dir, 'cache') });
  await repo.close();
  expect(derivationsAhead()).toBe(0);
});

it('a wrong guess changes nothing: the wrong password still fails, the right one opens', async () => {
  deriveKeyEarly(['--repo', repoDir, 'ls'], { CLAWBACK_PASSWORD: 'guess' }, tmp.dir, '/');
  expect(derivationsAhead()).toBe(1);
  await expect(openRepository(new LocalBackend(repoDir), { password: 'wrong', cacheDir: join(tmp.dir, 'cache') })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
  const repo = await openRepository(new LocalBackend(repoDir), { password: 'pw', cacheDir: join(tmp.dir, 'cache') });
  await repo.close();
  await expect(openRepository(new LocalBackend(repoDir), { password: 'guess', cacheDir: join(tmp.dir, 'cache') })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
  expect(derivationsAhead()).toBe(0);
  // A damaged key file is no reason to fail here: the open reports it.
  await writeFile(join(repoDir, 'keys', '0000'), 'not json');
  deriveKeyEarly(['--repo', repoDir, 'ls'], { CLAWBACK_PASSWORD: 'pw' }, tmp.dir, '/');
  expect(derivationsAhead()).toBe(0);
});
