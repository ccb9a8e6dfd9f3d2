/**
 * Agent state trees for tests: OpenClaw (~/.openclaw), Hermes (~/.hermes) and a NemoClaw
 * sandbox, with real SQLite databases (better-sqlite3), markdown notes, JSONL sessions,
 * workspace-* dirs, credentials and configs holding known secret strings.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { FAST_INIT } from '../helpers/tmp.js';

/** Secret strings planted in fixtures: none may reach an unencrypted repository. */
export const SECRETS = {
  gatewayToken: 'gw-tok-Q7x9mZ2kLp4vN8sR1tY6',
  openaiKey: 'sk-proj-Hq3Wz8Lk2Jd9Xv5Rt1Mn7Bc4',
  envKey: 'sk-env-Pz6Yq1Wk8Rm3Tn5Lv2Xs9Jd',
  envPassword: 'pw-env-Fb4Gh7Jk2Lm9Nq3Rs6Tv8',
  oauth: 'oauth-refresh-Vc5Xb8Nm1Qw4Er7Ty2Ui9Op',
  authProfile: 'ap-key-Zx3Cv6Bn9Mq2Wr5Ty8Ui1Op',
  modelsKey: 'mk-prov-Lk8Jh5Gf2Ds9Aq4Ws7Ed1Rf',
  deviceKey: 'dev-priv-Mn4Bv7Cx1Za8Sd5Fg2Hj9Kl',
  hermesEnv: 'sk-or-v1-Hm2Kp9Lq4Wx7Zr1Tc6Vb3Nd',
  hermesYaml: 'sk-yaml-Rt8Yu3Io6Pa1Sd4Fg7Hj2Kl',
  hermesAuth: 'nous-portal-Qa5Ws8Ed1Rf4Tg7Yh2Uj6Ik',
  hermesProfileEnv: 'sk-prof-Ol9Ik6Uj3Yh8Tg2Rf5Ed1Ws',
  hermesProfileYaml: 'sk-prof-yaml-Xc4Vb7Nm2Qw9Er5Ty1Ui8',
  chatgpt: 'chatgpt-sess-Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh',
};

/** Writes `content` at `root/rel`, creating parents. */
export async function put(root: string, rel: string, content: string | Uint8Array, mode?: number): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, content, mode === undefined ? {} : { mode });
}

/** A real SQLite database at `path` with `rows` rows; WAL mode when `wal`. Returns it closed. */
export function makeDb(path: string, rows: number, opts: { wal?: boolean; table?: string } = {}): void {
  const db = new Database(path);
  if (opts.wal) db.pragma('journal_mode = WAL');
  const t = opts.table ?? 'items';
  db.exec(`CREATE TABLE IF NOT EXISTS ${t} (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`);
  const ins = db.prepare(`INSERT INTO ${t} (body) VALUES (?)`);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`row ${i} `.padEnd(200, 'x'));
  })();
  db.close();
}

/** Rows of a database (count and max id). */
export function dbRows(path: string, table = 'items'): { n: number; max: number | null } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT COUNT(*) AS n, MAX(id) AS max FROM ${table}`).get() as { n: number; max: number | null };
  } finally {
    db.close();
  }
}

const SESSION = (n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ type: 'message', role: i % 2 ? 'assistant' : 'user', content: `turn ${i}: the quick brown fox`, usage: { tokens: 10 + i } })).join('\n') + '\n';

/**
 * An OpenClaw state dir: openclaw.json (JSON5, gateway token, provider key), .env,
 * credentials/, identity/, agents/main/{agent,sessions}, memory/main.sqlite (WAL, with
 * -wal/-shm left by an open connection closed), cron/, workspace/ and workspace-research/,
 * an empty dir, and logs/ (not declared).
 */
export async function buildOpenClaw(root: string): Promise<void> {
  await put(
    root,
    'openclaw.json',
    `// OpenClaw config (JSON5)
{
  gateway: { mode: "local", port: 18789, auth: { mode: "token", token: "${SECRETS.gatewayToken}" } },
  agents: { defaults: { workspace: "~/.openclaw/workspace", model: "openai/gpt-5" } },
  models: { providers: { openai: { apiKey: "${SECRETS.openaiKey}", baseUrl: "https://api.openai.com/v1" } } },
  channels: { telegram: { enabled: false } },
}
`,
    0o600,
  );
  await put(root, '.env', `# OpenClaw env\nOPENAI_API_KEY=${SECRETS.envKey}\nADMIN_PASSWORD="${SECRETS.envPassword}"\nLOG_LEVEL=info\n`, 0o600);
  await put(root, 'credentials/oauth.json', JSON.stringify({ refresh: SECRETS.oauth }), 0o600);
  await put(root, 'credentials/whatsapp/default/creds.json', JSON.stringify({ noiseKey: SECRETS.oauth + '-wa' }), 0o600);
  await put(root, 'identity/device.json', JSON.stringify({ privateKeyPem: SECRETS.deviceKey }), 0o600);
  await put(root, 'chatgpt-auth.json', JSON.stringify({ session: SECRETS.chatgpt }), 0o600);
  await put(root, 'agents/main/agent/auth-profiles.json', JSON.stringify({ profiles: { 'openai:default': { key: SECRETS.authProfile } } }), 0o600);
  await put(root, 'agents/main/agent/models.json', JSON.stringify({ providers: { openai: { apiKey: SECRETS.modelsKey, models: ['gpt-5'] } } }, null, 2));
  await put(root, 'agents/main/sessions/sessions.json', JSON.stringify({ 'agent:main:main': { sessionId: 'a1b2', updatedAt: 1 } }));
  await put(root, 'agents/main/sessions/a1b2.jsonl', SESSION(40));
  await put(root, 'agents/ops/sessions/c3d4.jsonl', SESSION(5));
  await mkdir(join(root, 'memory'), { recursive: true });
  await makeHotWalDb(join(root, 'memory/main.sqlite'), 300, 'chunks');
  await put(root, 'cron/jobs.json', JSON.stringify({ jobs: [{ id: 'daily', schedule: '0 9 * * *' }] }));
  for (const [f, c] of Object.entries({ 'SOUL.md': '# Soul\nCalm, precise.\n', 'USER.md': '# User\nAda\n', 'IDENTITY.md': '# Identity\nClaw\n', 'AGENTS.md': '# Agents\n', 'MEMORY.md': '# Memory\n- likes tea\n' })) {
    await put(root, `workspace/${f}`, c);
  }
  await put(root, 'workspace/memory/2026-04-14.md', '# 2026-04-14\nShipped v1.\n');
  await put(root, 'workspace/memory/2026-04-15.md', '# 2026-04-15\nFixed the bug.\n');
  await mkdir(join(root, 'workspace/empty-dir'), { recursive: true });
  await put(root, 'workspace-research/SOUL.md', '# Research soul\n');
  await put(root, 'workspace-research/memory/2026-04-14.md', '# research notes\n');
  await put(root, 'logs/gateway.log', 'log line\n');
}

/**
 * A WAL-mode database at `path` whose last `rows`th row is only in the `-wal` file (as a
 * running or crashed gateway leaves it): the files are copied while a writer holds them.
 */
export async function makeHotWalDb(path: string, rows: number, table: string): Promise<void> {
  const staging = await mkdtemp(join(tmpdir(), 'clawback-hotwal-'));
  try {
    const src = join(staging, 'db.sqlite');
    makeDb(src, rows - 1, { wal: true, table });
    const db = new Database(src);
    db.pragma('wal_autocheckpoint = 0');
    db.prepare(`INSERT INTO ${table} (body) VALUES (?)`).run('only in the wal');
    await copyFile(src, path);
    await copyFile(src + '-wal', path + '-wal');
    await copyFile(src + '-shm', path + '-shm');
    db.close();
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * A Hermes home: SOUL.md, config.yaml (model api_key), .env, auth.json, memories/,
 * sessions/ (JSONL), skills/, cron/, profiles/work/{config.yaml,.env}, state.db and
 * kanban.db (SQLite), .hermes_history.
 */
export async function buildHermes(root: string): Promise<void> {
  await put(root, 'SOUL.md', '# Hermes soul\nHelpful.\n');
  await put(root, 'config.yaml', `# Hermes config\nmodel:\n  default: hermes-4-405b\n  provider: openrouter\n  api_key: "${SECRETS.hermesYaml}"\nterminal:\n  backend: local\n`, 0o600);
  await put(root, '.env', `OPENROUTER_API_KEY=${SECRETS.hermesEnv}\n`, 0o600);
  await put(root, 'auth.json', JSON.stringify({ providers: { nous: { access_token: SECRETS.hermesAuth } } }), 0o600);
  await put(root, 'memories/MEMORY.md', 'Prefers short answers.\n');
  await put(root, 'memories/USER.md', 'Name: Ada\n');
  await put(root, 'sessions/20260414_abc.jsonl', SESSION(20));
  await put(root, 'skills/research/SKILL.md', '---\nname: research\n---\nDo research.\n');
  await put(root, 'cron/jobs.json', JSON.stringify({ jobs: [] }));
  await put(root, 'profiles/work/config.yaml', `model:\n  api_key: ${SECRETS.hermesProfileYaml}\n`);
  await put(root, 'profiles/work/.env', `ANTHROPIC_API_KEY=${SECRETS.hermesProfileEnv}\n`);
  await put(root, 'profiles/work/SOUL.md', '# Work soul\n');
  makeDb(join(root, 'state.db'), 200, { wal: true, table: 'sessions' });
  makeDb(join(root, 'kanban.db'), 20, { table: 'tasks' });
  await put(root, '.hermes_history', 'hello\n/quit\n');
}

/**
 * A NemoClaw OpenClaw sandbox (`/sandbox/.openclaw` layout): openclaw.json, agents/,
 * workspace/, workspace-coder/, credentials/, plugins/ (not captured by NemoClaw).
 */
export async function buildNemoClawSandbox(root: string): Promise<void> {
  await put(root, 'openclaw.json', JSON.stringify({ gateway: { auth: { token: SECRETS.gatewayToken } }, models: { providers: { nim: { apiKey: 'resolve:env:NVIDIA_API_KEY' } } } }, null, 2));
  await put(root, 'agents/main/sessions/s1.jsonl', SESSION(3));
  await put(root, 'agents/main/agent/auth-profiles.json', JSON.stringify({ key: SECRETS.authProfile }));
  await put(root, 'workspace/SOUL.md', '# Sandbox soul\n');
  await put(root, 'workspace-coder/AGENTS.md', '# Coder\n');
  await put(root, 'credentials/token.json', JSON.stringify({ t: SECRETS.oauth }));
  await put(root, 'plugins/x/index.js', '// plugin\n');
  await mkdir(join(root, 'memory'), { recursive: true });
  makeDb(join(root, 'memory/main.sqlite'), 50, { table: 'chunks' });
}

/** A NemoClaw-style manifest (JSON) for a Hermes sandbox, with runtime/ and a compat symlink. */
export const HERMES_SANDBOX_MANIFEST = {
  name: 'hermes-sandbox',
  display_name: 'Hermes Agent',
  config: { dir: '/sandbox/.hermes', config_file: 'config.yaml', env_file: '.env', auth_file: 'auth.json', format: 'yaml' },
  state_dirs: ['memories', 'sessions', 'skills', { path: 'hooks', backup: false }, 'cron', 'workspace'],
  state_files: [
    { path: 'SOUL.md' },
    { path: 'runtime/state.db', strategy: 'sqlite_backup' },
    { path: 'state.db' },
    { path: 'kanban.db', strategy: 'sqlite_backup' },
  ],
  allow_links: [],
};

/**
 * A fresh repository in `dir/repo` (cache in `dir/cache`); unencrypted unless `password`;
 * without blob workers unless `sealThreads`.
 */
export async function makeRepo(dir: string, password?: string, sealThreads = 0): Promise<Repository> {
  return initRepository(new LocalBackend(join(dir, 'repo')), { password, ...FAST_INIT }, { cacheDir: join(dir, 'cache'), sealThreads });
}
