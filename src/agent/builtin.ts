/**
 * The built-in profiles `openclaw`, `hermes` and `nemoclaw`, and where their roots are.
 * Layouts after OpenClaw's state directory (`~/.openclaw`: openclaw.json, agents/<id>/
 * {agent,sessions}, memory/<id>.sqlite, cron/, credentials/, workspace/, workspace-<id>/),
 * Hermes Agent (`~/.hermes`: SOUL.md, memories/, sessions/, skills/, cron/, profiles/,
 * state.db, kanban.db, config.yaml, .env, auth.json) and NemoClaw's agent manifests
 * (agents/openclaw/manifest.yaml, agents/hermes/manifest.yaml in NVIDIA/NemoClaw).
 * docs/PROFILES.md lists them for users. Pure module.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { ClawbackError } from '../errors.js';
import type { AgentDefinition, StateDirSpec } from './profile.js';

const dir = (path: string, more: Partial<StateDirSpec> = {}): StateDirSpec => ({ path, ...more });
const opt = { optional: true } as const;

/** Credential files every agent profile leaves out. */
const COMMON_CREDENTIALS = ['auth.json', 'auth-profiles.json', 'chatgpt-auth.json'];

/** OpenClaw on a workstation or server (`~/.openclaw` or `$OPENCLAW_STATE_DIR`). */
export const OPENCLAW: AgentDefinition = {
  name: 'openclaw',
  configFile: 'openclaw.json',
  stateDirs: [
    dir('agents'),
    dir('memory'),
    dir('cron'),
    dir('workspace', { workspace: true }),
    { prefix: 'workspace-', workspace: true },
    dir('sessions', opt),
    dir('skills', opt),
    dir('extensions', opt),
    dir('hooks', opt),
    dir('canvas', opt),
    dir('telegram', opt),
    dir('wechat', opt),
    dir('whatsapp', opt),
    dir('credentials', opt),
    dir('identity', opt),
    dir('devices', opt),
  ],
  stateFiles: [
    { path: 'openclaw.json', strategy: 'copy' },
    { path: '.env', strategy: 'copy', optional: true },
    { path: 'memory/*.sqlite', strategy: 'sqlite_backup', optional: true },
    { path: 'agents/*/agent/*.sqlite', strategy: 'sqlite_backup', optional: true },
    // Credentials: captured only with --include-secrets (encrypted repositories).
    { path: 'auth.json', strategy: 'copy', optional: true },
    { path: 'chatgpt-auth.json', strategy: 'copy', optional: true },
  ],
  excludes: ['*.lock', '*.tmp'],
  credentials: ['/credentials/', '/identity/', '/devices/', ...COMMON_CREDENTIALS],
  secretFiles: ['/openclaw.json', 'agents/*/agent/models.json'],
  allowLinks: [],
};

/** Hermes Agent (`~/.hermes` or `$HERMES_HOME`). */
export const HERMES: AgentDefinition = {
  name: 'hermes',
  configFile: 'config.yaml',
  stateDirs: [
    dir('memories'),
    dir('sessions'),
    dir('skills'),
    dir('cron'),
    dir('profiles', opt),
    dir('scripts', opt),
    dir('plans', opt),
    dir('skins', opt),
    dir('platforms', opt),
    dir('weixin', opt),
    dir('pairing', opt),
    dir('plugins', opt),
    dir('logs', opt),
    dir('workspace', { workspace: true, optional: true }),
  ],
  stateFiles: [
    { path: 'SOUL.md', strategy: 'copy' },
    { path: 'config.yaml', strategy: 'copy' },
    { path: '.hermes_history', strategy: 'copy', optional: true },
    { path: 'state.db', strategy: 'sqlite_backup' },
    { path: 'kanban.db', strategy: 'sqlite_backup', optional: true },
    { path: '*.db', strategy: 'sqlite_backup', optional: true },
    { path: 'runtime/state.db', strategy: 'sqlite_backup', optional: true },
    { path: 'runtime/cron-executions.db', strategy: 'sqlite_backup', optional: true },
    { path: 'gateway/discord_message_recovery.db', strategy: 'sqlite_backup', optional: true },
    // Credentials: captured only with --include-secrets (encrypted repositories).
    { path: '.env', strategy: 'copy', optional: true },
    { path: 'auth.json', strategy: 'copy', optional: true },
  ],
  excludes: ['*.lock', '__pycache__/', '*.pyc'],
  credentials: ['/.env', 'profiles/*/.env', ...COMMON_CREDENTIALS],
  secretFiles: ['/config.yaml', 'profiles/*/config.yaml'],
  allowLinks: [],
};

/** An OpenClaw NemoClaw sandbox (`/sandbox/.openclaw`), as NemoClaw's agent manifest declares it. */
export const NEMOCLAW: AgentDefinition = {
  name: 'nemoclaw',
  configFile: 'openclaw.json',
  stateDirs: [
    dir('agents'),
    dir('workspace', { workspace: true }),
    { prefix: 'workspace-', workspace: true },
    dir('extensions', opt),
    dir('skills', opt),
    dir('hooks', opt),
    dir('canvas', opt),
    dir('cron', opt),
    dir('memory', opt),
    dir('telegram', opt),
    dir('wechat', opt),
    dir('whatsapp', opt),
    dir('credentials', opt),
  ],
  stateFiles: [
    { path: 'openclaw.json', strategy: 'copy' },
    { path: 'memory/*.sqlite', strategy: 'sqlite_backup', optional: true },
    { path: 'agents/*/agent/*.sqlite', strategy: 'sqlite_backup', optional: true },
  ],
  excludes: ['*.lock', '*.tmp'],
  credentials: ['/credentials/', ...COMMON_CREDENTIALS],
  secretFiles: ['/openclaw.json', 'agents/*/agent/models.json'],
  allowLinks: [],
};

/** The built-in profiles by name. */
export const BUILTIN_PROFILES: Readonly<Record<string, AgentDefinition>> = { openclaw: OPENCLAW, hermes: HERMES, nemoclaw: NEMOCLAW };

/** Where to look for a root: the CLI passes its io's env, cwd and home. */
export interface RootContext {
  env: Record<string, string | undefined>;
  cwd: string;
  /** Home directory (default: env.HOME). */
  home?: string | undefined;
}

/** Expands a leading `~/` and makes `p` absolute against `cwd`. */
export function expandPath(p: string, ctx: RootContext): string {
  const home = ctx.home ?? ctx.env['HOME'];
  if ((p === '~' || p.startsWith('~/')) && home) p = join(home, p.slice(1));
  return isAbsolute(p) ? resolve(p) : resolve(ctx.cwd, p);
}

/**
 * The root of built-in profile `name`: `root` when given; else openclaw →
 * `$OPENCLAW_STATE_DIR` or `~/.openclaw`, hermes → `$HERMES_HOME` or `~/.hermes`,
 * nemoclaw → `/sandbox/.openclaw`.
 * @throws ClawbackError 'USAGE' when no home directory is known.
 */
export function builtinRoot(name: string, root: string | undefined, ctx: RootContext): string {
  if (root !== undefined) return expandPath(root, ctx);
  const env = ctx.env;
  if (name === 'openclaw' && env['OPENCLAW_STATE_DIR']) return expandPath(env['OPENCLAW_STATE_DIR'], ctx);
  if (name === 'hermes' && env['HERMES_HOME']) return expandPath(env['HERMES_HOME'], ctx);
  if (name === 'nemoclaw') return '/sandbox/.openclaw';
  const home = ctx.home ?? env['HOME'];
  if (!home) throw new ClawbackError('USAGE', `no home directory is known to find the ${name} state: pass --root DIR`);
  return join(home, name === 'hermes' ? '.hermes' : '.openclaw');
}
