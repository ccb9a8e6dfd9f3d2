import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { initRepository } from '../../src/repository/repository.js';
import { cli } from '../helpers/cli.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let base: Record<string, string | undefined>;
let src: string;
const repos: Record<string, string> = {};

/** Creates an encrypted repository holding one snapshot labelled with its name. */
async function makeRepo(name: string, password: string): Promise<void> {
  repos[name] = join(tmp.dir, name);
  const repo = await initRepository(new LocalBackend(repos[name]!), { password, ...FAST_INIT }, { cacheDir: base['CLAWBACK_CACHE_DIR']! });
  await createSnapshot(repo, { paths: [src], label: name });
  await repo.close();
}

/** Which repository `snapshot list` read: the label of its one snapshot. */
async function which(args: string[], env: Record<string, string | undefined>): Promise<string> {
  const r = await cli([...args, '--json', 'snapshot', 'list'], env);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { name: string }[]).map((s) => s.name).join(',');
}

beforeAll(async () => {
  tmp = await makeTmp('clawback-precedence-');
  src = join(tmp.dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'f'), 'x');
  base = { HOME: join(tmp.dir, 'home'), PATH: process.env['PATH'], CLAWBACK_CACHE_DIR: join(tmp.dir, 'cache') };
  await makeRepo('fromconfig', 'pw-config');
  await makeRepo('fromenv', 'pw-env');
  await makeRepo('fromflag', 'pw-flag');
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('flags > env > config file > defaults', () => {
  it('picks the repository and password from the config file, the env, then the flags', async () => {
    const cfg = join(tmp.dir, 'config.json5');
    await writeFile(cfg, `{ repository: "${repos['fromconfig']}", password: "\${CFG_PW}" }`);
    const env = { ...base, CFG_PW: 'pw-config' };
    expect(await which(['--config', cfg], env)).toBe('fromconfig');
    // env beats the file (repository and password)
    expect(await which(['--config', cfg], { ...env, CLAWBACK_REPO: repos['fromenv'], CLAWBACK_PASSWORD: 'pw-env' })).toBe('fromenv');
    // a flag beats env and file
    const pwFile = join(tmp.dir, 'pw-flag.txt');
    await writeFile(pwFile, 'pw-flag\n');
    expect(await which(['--config', cfg, '--repo', repos['fromflag']!, '--password-file', pwFile], { ...env, CLAWBACK_REPO: repos['fromenv'], CLAWBACK_PASSWORD: 'pw-env' })).toBe('fromflag');
    // env password wins over the file's: the wrong one for this repository → exit 12
    const wrong = await cli(['--config', cfg, 'snapshot', 'list'], { ...env, CLAWBACK_PASSWORD: 'pw-env' });
    expect(wrong.code).toBe(12);
  });

  it('reads the default config file from XDG_CONFIG_HOME / ~/.config, CLAWBACK_CONFIG, and --no-config ignores it', async () => {
    const dir = join(base['HOME']!, '.config', 'clawback');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json5'), `{ repository: "${repos['fromconfig']}", password: "pw-config" }`);
    const r = await cli(['--json', 'snapshot', 'list'], base);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*config\.json5: password holds a plaintext secret/);
    const other = join(tmp.dir, 'other.json5');
    await writeFile(other, `{ repository: "${repos['fromenv']}", password: "\${PW_ENV}" }`);
    expect(await which([], { ...base, CLAWBACK_CONFIG: other, PW_ENV: 'pw-env' })).toBe('fromenv');
    const ignored = await cli(['--no-config', 'snapshot', 'list'], base);
    expect(ignored.code).toBe(10); // default ~/.clawback/repo does not exist
  });

  it('reads the backup section of openclaw.json (storage.path, encryption.passphrase)', async () => {
    const oc = join(tmp.dir, '.openclaw', 'openclaw.json');
    await mkdir(join(tmp.dir, '.openclaw'));
    await writeFile(oc, JSON.stringify({ gateway: { port: 1 }, backup: { storage: { provider: 'local', path: repos['fromflag'] }, encryption: { passphrase: '${OPENCLAW_BACKUP_PASSPHRASE}' } } }));
    expect(await which(['--config', oc], { ...base, OPENCLAW_BACKUP_PASSPHRASE: 'pw-flag' })).toBe('fromflag');
    const unset = await cli(['--config', oc, 'snapshot', 'list'], base);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/environment variable OPENCLAW_BACKUP_PASSPHRASE \(used at backup\.encryption\.passphrase\) is not set/);
  });

  it('a broken or missing config file is a usage error naming the file', async () => {
    const bad = join(tmp.dir, 'bad.json5');
    await writeFile(bad, '{ repository: }');
    const r = await cli(['--config', bad, 'snapshot', 'list'], base);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot parse config file .*bad\.json5 at line 1/);
    const missing = await cli(['--config', join(tmp.dir, 'missing.json5'), 'snapshot', 'list'], base);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing\.json5 does not exist/);
  });
});
