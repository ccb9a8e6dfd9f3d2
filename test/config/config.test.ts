import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClawbackError } from '../../src/errors.js';
import { substituteEnv } from '../../src/config/env.js';
import { configFileFor, defaultConfigPath, loadConfig, parseConfigText } from '../../src/config/load.js';
import { commandRepository, withConfigDefaults, withJobSettings } from '../../src/config/overlay.js';
import { useTmp } from '../helpers/tmp.js';

function usageError(fn: () => unknown): ClawbackError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ClawbackError);
  expect((err as ClawbackError).code).toBe('USAGE');
  return err as ClawbackError;
}

const HOME = '/home/u';
const FILE = '/etc/clawback/config.json5';

describe('${ENV} substitution', () => {
  it('substitutes, with defaults and escapes, in strings at any depth (not keys)', () => {
    const env = { A: 'alpha', EMPTY: '' };
    const out = substituteEnv({ x: 'a=${A}', list: ['${A}/${A}', 3, true, null], nested: { '${A}': '${EMPTY:-fallback}', e: '${EMPTY}', lit: '$${A} costs $5' } }, env, 'f');
    expect(out).toEqual({ x: 'a=alpha', list: ['alpha/alpha', 3, true, null], nested: { '${A}': 'fallback', e: '', lit: '${A} costs $5' } });
  });

  it('names every unset variable and where it is used, in one error', () => {
    const e = usageError(() => substituteEnv({ storage: { secretAccessKey: '${S3_SECRET}', accessKeyId: '${S3_KEY}' }, jobs: [{ password: '${S3_SECRET}' }] }, {}, FILE));
    expect(e.message).toBe(
      `${FILE}: environment variables S3_SECRET (used at storage.secretAccessKey, jobs[0].password), S3_KEY (used at storage.accessKeyId) are not set: set them, or edit the file`,
    );
    const one = usageError(() => substituteEnv({ password: 'x${PW}' }, {}, FILE));
    expect(one.message).toMatch(/environment variable PW \(used at password\) is not set: set it/);
  });

  it('rejects malformed references', () => {
    expect(usageError(() => substituteEnv({ a: '${1X}' }, {}, FILE)).message).toMatch(/bad environment reference "\$\{1X\}" at a/);
    expect(usageError(() => substituteEnv({ a: '${}' }, {}, FILE)).message).toMatch(/bad environment reference/);
  });
});

describe('clawback config.json5', () => {
  const env = { HOME, S3_SECRET: 'sekrit', PW: 'pw1' };

  it('reads jobs with defaults, inheritance, ~ and relative paths', () => {
    const cfg = parseConfigText(
      `{
        // JSON5: comments, trailing commas, unquoted keys
        repository: "~/backups/repo",
        password: "\${PW}",
        schedule: "6h",
        notifyOnFailure: { command: "notify-send clawback" },
        stateDir: "state",
        jobs: [
          { name: "notes", paths: ["~/notes", "rel/dir"], tags: ["notes"] },
          { name: "agent", profile: "openclaw", include: { stateDir: "~/.openclaw-dev", workspace: false, extraPaths: ["~/extra"] },
            schedule: "0 3 * * *", timezone: "UTC", retention: { keepDaily: 7, keepWeekly: 4, keepTags: ["keep", "a,b"] }, gc: false, notifyOnFailure: false,
            storage: { provider: "s3", endpoint: "https://s3.example.com/", bucket: "bkt", prefix: "/agent/", region: "eu-1", accessKeyId: "AK", secretAccessKey: "\${S3_SECRET}" } },
          { name: "off", enabled: false, paths: ["/srv"], retention: false, encryption: { enabled: false } },
        ],
      }`,
      FILE,
      env,
    );
    expect(cfg.format).toBe('clawback');
    expect(cfg.stateDir).toBe('/etc/clawback/state');
    expect(cfg.repository).toEqual({ location: '/home/u/backups/repo', password: { kind: 'value', value: 'pw1' } });
    const [notes, agent, off] = cfg.jobs;
    expect(notes).toEqual({
      name: 'notes',
      enabled: true,
      schedule: '6h',
      source: { kind: 'paths', paths: ['/home/u/notes', '/etc/clawback/rel/dir'] },
      tags: ['notes'],
      repository: { location: '/home/u/backups/repo', password: { kind: 'value', value: 'pw1' } },
      retention: { maxBackups: 7, maxAgeDays: 30, autoOnly: true },
      gc: { threshold: 10 },
      notify: { command: 'notify-send clawback' },
    });
    expect(agent).toMatchObject({
      schedule: '0 3 * * *',
      timezone: 'UTC',
      source: { kind: 'profile', profile: 'openclaw', stateDir: '/home/u/.openclaw-dev', workspace: false, extraPaths: ['/home/u/extra'] },
      repository: {
        location: 's3:https://s3.example.com/bkt/agent',
        password: { kind: 'value', value: 'pw1' },
        credentials: { accessKeyId: 'AK', secretAccessKey: 'sekrit' },
        region: 'eu-1',
      },
      retention: { daily: 7, weekly: 4, tags: [['keep'], ['a', 'b']], autoOnly: true },
    });
    expect(agent?.gc).toBeUndefined();
    expect(agent?.notify).toBeUndefined();
    expect(off).toMatchObject({ enabled: false, repository: { password: { kind: 'none' } } });
    expect(off?.retention).toBeUndefined();
    // accessKeyId "AK" is not a secret; everything secret uses ${ENV}: no warning.
    expect(cfg.warnings).toEqual([]);
  });

  it('warns about plaintext secrets (not about ${ENV} references)', () => {
    const cfg = parseConfigText(`{ password: "hunter2", storage: { bucket: "bkt", accessKeyId: "\${K}", secretAccessKey: "plain" }, notifyOnFailure: { url: "https://u:pw@hooks.example.com/x" } }`, FILE, { K: 'k' });
    expect(cfg.warnings.map((w) => w.path)).toEqual(['password', 'storage.secretAccessKey', 'notifyOnFailure.url']);
    expect(cfg.warnings[0]?.message).toMatch(/password holds a plaintext secret: reference an environment variable/);
  });

  it('names the key of every invalid setting', () => {
    const bad: [string, RegExp][] = [
      ['{ jobs: [{ name: "a", paths: ["/x"], shedule: "1h" }] }', /jobs\[0\]\.shedule: unknown setting/],
      ['{ jobs: [{ name: "a", paths: ["/x"], schedule: "sometimes" }] }', /jobs\[0\]\.schedule: invalid schedule "sometimes"/],
      ['{ jobs: [{ name: "a" }] }', /jobs\[0\]: give paths .* or profile/],
      ['{ jobs: [{ name: "a b", paths: ["/x"] }] }', /jobs\[0\]\.name: invalid job name/],
      ['{ jobs: [{ name: "a", paths: ["/x"] }, { name: "a", paths: ["/y"] }] }', /jobs\[1\]\.name: job name "a" is used twice/],
      ['{ jobs: [{ name: "a", paths: ["/x"], retention: {} }] }', /jobs\[0\]\.retention: has no rule/],
      ['{ jobs: [{ name: "a", paths: ["/x"], retention: { maxBackups: 0 } }] }', /jobs\[0\]\.retention\.maxBackups: expected a whole number ≥ 1/],
      ['{ jobs: [{ name: "a", paths: ["/x"], retention: { keepWithin: "2x" } }] }', /jobs\[0\]\.retention: invalid duration "2x"/],
      ['{ storage: { provider: "s3" } }', /storage\.bucket: is required for s3 storage/],
      ['{ storage: { provider: "ftp" } }', /storage\.provider: unknown provider "ftp"/],
      ['{ storage: { bucket: "bkt", accessKeyId: "x" } }', /storage\.secretAccessKey: accessKeyId and secretAccessKey go together/],
      ['{ password: "a", passwordFile: "/f" }', /passwordFile: give only one of password, passwordFile/],
      ['{ encryption: { enabled: false, passphrase: "x" } }', /encryption\.enabled: is false, but a passphrase/],
      ['{ repository: "s3:" }', /repository: .*nothing after s3:/],
      ['{ notifyOnFailure: { url: "ftp://x" } }', /notifyOnFailure\.url: only http/],
      ['[1, 2]', /must hold a JSON5 object/],
      ['{ jobs: [ }', /cannot parse config file .* at line 1, column 11: invalid character '}'/],
    ];
    for (const [text, re] of bad) expect(usageError(() => parseConfigText(text, FILE, {})).message, text).toMatch(re);
  });
});

describe('openclaw.json backup section', () => {
  const file = '/home/u/.openclaw/openclaw.json';

  it('maps the OpenClaw backup fields onto one job named openclaw', () => {
    const cfg = parseConfigText(
      JSON.stringify({
        gateway: { auth: { token: 'not-ours-to-warn-about' } },
        agents: { defaults: { workspace: '~/.openclaw/workspace' } },
        backup: {
          enabled: true,
          schedule: '6h',
          include: { stateDir: true, workspace: true, extraPaths: ['~/notes'] },
          storage: { provider: 's3', endpoint: 'https://acct.r2.cloudflarestorage.com', bucket: 'claw', region: 'auto', prefix: 'openclaw', accessKeyId: '${R2_KEY}', secretAccessKey: '${R2_SECRET}' },
          encryption: { enabled: true, passphrase: '${OPENCLAW_BACKUP_PASSPHRASE}' },
          retention: { maxBackups: 14, maxAgeDays: 60 },
          notifyOnFailure: { command: 'openclaw notify "$CLAWBACK_ERROR"', url: 'https://hooks.example.com/claw' },
        },
      }),
      file,
      { HOME, R2_KEY: 'k', R2_SECRET: 's', OPENCLAW_BACKUP_PASSPHRASE: 'pp' },
    );
    expect(cfg.format).toBe('openclaw');
    expect(cfg.warnings).toEqual([]);
    expect(cfg.jobs).toEqual([
      {
        name: 'openclaw',
        enabled: true,
        schedule: '6h',
        source: { kind: 'profile', profile: 'openclaw', stateDir: '/home/u/.openclaw', workspace: true, extraPaths: ['/home/u/notes'] },
        tags: [],
        repository: {
          location: 's3:https://acct.r2.cloudflarestorage.com/claw/openclaw',
          credentials: { accessKeyId: 'k', secretAccessKey: 's' },
          region: 'auto',
          password: { kind: 'value', value: 'pp' },
        },
        retention: { maxBackups: 14, maxAgeDays: 60, autoOnly: true },
        gc: { threshold: 10 },
        notify: { command: 'openclaw notify "$CLAWBACK_ERROR"', url: 'https://hooks.example.com/claw' },
      },
    ]);
    expect(commandRepository(cfg)).toEqual(cfg.jobs[0]?.repository);
  });

  it('defaults: enabled, 1d, maxBackups 7 / maxAgeDays 30, local default repository; OPENCLAW_STATE_DIR; key files', () => {
    const cfg = parseConfigText('{ backup: { encryption: { keyFile: "~/.openclaw/backup.key" } } }', file, { HOME, OPENCLAW_STATE_DIR: '/srv/claw' });
    expect(cfg.jobs[0]).toMatchObject({
      enabled: true,
      schedule: '1d',
      source: { kind: 'profile', profile: 'openclaw', stateDir: '/srv/claw', workspace: true },
      repository: { password: { kind: 'file', file: '/home/u/.openclaw/backup.key' } },
      retention: { maxBackups: 7, maxAgeDays: 30, autoOnly: true },
    });
    expect(cfg.jobs[0]?.repository.location).toBeUndefined();
    expect(cfg.jobs[0]?.notify).toBeUndefined();
  });

  it('include.stateDir false backs up the workspace and extra paths as plain paths', () => {
    const cfg = parseConfigText('{ agents: { defaults: { workspace: "~/ws" } }, backup: { include: { stateDir: false, extraPaths: ["/data"] } } }', file, { HOME });
    expect(cfg.jobs[0]?.source).toEqual({ kind: 'paths', paths: ['/home/u/ws', '/data'] });
    const none = usageError(() => parseConfigText('{ backup: { include: { stateDir: false, workspace: false } } }', file, { HOME }));
    expect(none.message).toMatch(/backup\.include: includes nothing/);
  });

  it('substitutes only the backup section, warns about plaintext secrets and unknown keys in it', () => {
    const cfg = parseConfigText(
      JSON.stringify({ channels: { token: '${UNSET_ELSEWHERE}' }, backup: { storage: { bucket: 'bkt', accessKeyId: 'AKIA', secretAccessKey: 'plain-secret' }, encryption: { passphrase: 'hunter2' }, streaming: true } }),
      file,
      { HOME },
    );
    expect(cfg.warnings.map((w) => w.path)).toEqual(['backup.storage.secretAccessKey', 'backup.encryption.passphrase', 'backup.streaming']);
    expect(cfg.warnings[2]?.message).toMatch(/not used by clawback/);
    const e = usageError(() => parseConfigText(JSON.stringify({ backup: { encryption: { passphrase: '${OPENCLAW_BACKUP_PASSPHRASE}' } } }), file, { HOME }));
    expect(e.message).toBe(`${file}: environment variable OPENCLAW_BACKUP_PASSPHRASE (used at backup.encryption.passphrase) is not set: set it, or edit the file`);
  });

  it('notifyOnFailure: true without a command or URL is a warning', () => {
    const cfg = parseConfigText('{ backup: { notifyOnFailure: true } }', file, { HOME });
    expect(cfg.jobs[0]?.notify).toBeUndefined();
    expect(cfg.warnings[0]?.message).toMatch(/backup\.notifyOnFailure is true but no notify command or URL/);
  });
});

describe('finding the config file', () => {
  it('--config, --no-config, CLAWBACK_CONFIG, XDG_CONFIG_HOME, ~/.config', () => {
    expect(configFileFor({ file: 'c.json5', env: { CLAWBACK_CONFIG: '/e.json5' }, cwd: '/w' })).toEqual({ path: '/w/c.json5', explicit: true });
    expect(configFileFor({ file: false, env: { CLAWBACK_CONFIG: '/e.json5' }, cwd: '/w' })).toBeUndefined();
    expect(configFileFor({ env: { CLAWBACK_CONFIG: '/e.json5' }, cwd: '/w' })).toEqual({ path: '/e.json5', explicit: true });
    expect(defaultConfigPath({ HOME, XDG_CONFIG_HOME: '/xdg' })).toBe('/xdg/clawback/config.json5');
    expect(defaultConfigPath({ HOME })).toBe('/home/u/.config/clawback/config.json5');
  });

  const tmp = useTmp('clawback-config-');

  it('a missing default file is no config; a missing named file is an error', async () => {
    expect(loadConfig({ env: { HOME: tmp.dir }, cwd: tmp.dir }).format).toBe('none');
    expect(usageError(() => loadConfig({ file: 'nope.json5', env: { HOME: tmp.dir }, cwd: tmp.dir })).message).toMatch(/nope\.json5 does not exist/);
    await mkdir(join(tmp.dir, '.config', 'clawback'), { recursive: true });
    await writeFile(join(tmp.dir, '.config', 'clawback', 'config.json5'), '{ repository: "/r" }');
    expect(loadConfig({ env: { HOME: tmp.dir }, cwd: tmp.dir }).repository.location).toBe('/r');
  });
});

describe('precedence helpers', () => {
  const settings = { location: '/cfg', password: { kind: 'value' as const, value: 'cfgpw' }, credentials: { accessKeyId: 'CK', secretAccessKey: 'CS' }, region: 'cfg-region' };

  it('config fills only what the environment leaves unset', () => {
    expect(withConfigDefaults({}, settings, '/cache')).toEqual({
      CLAWBACK_REPO: '/cfg',
      CLAWBACK_PASSWORD: 'cfgpw',
      AWS_ACCESS_KEY_ID: 'CK',
      AWS_SECRET_ACCESS_KEY: 'CS',
      AWS_REGION: 'cfg-region',
      CLAWBACK_CACHE_DIR: '/cache',
    });
    const env = { CLAWBACK_REPO: '/env', CLAWBACK_PASSWORD_FILE: '/pwfile', AWS_ACCESS_KEY_ID: 'EK', AWS_SECRET_ACCESS_KEY: 'ES', AWS_DEFAULT_REGION: 'env-region' };
    expect(withConfigDefaults(env, settings)).toEqual(env);
  });

  it("a job's own settings replace the environment's", () => {
    const env = { CLAWBACK_REPO: '/env', CLAWBACK_PASSWORD_FILE: '/pwfile', AWS_SESSION_TOKEN: 'T', AWS_DEFAULT_REGION: 'x', OTHER: '1' };
    expect(withJobSettings(env, settings)).toEqual({ CLAWBACK_REPO: '/cfg', CLAWBACK_PASSWORD: 'cfgpw', AWS_ACCESS_KEY_ID: 'CK', AWS_SECRET_ACCESS_KEY: 'CS', AWS_REGION: 'cfg-region', OTHER: '1' });
    expect(withJobSettings({ CLAWBACK_PASSWORD: 'p' }, { password: { kind: 'none' } })).toEqual({});
  });
});
