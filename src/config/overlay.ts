/**
 * Applying config settings as environment variables, which is how the CLI layers them:
 * flags > env > config file > defaults (docs/CONFIG.md).
 *
 * - {@link withConfigDefaults}: for ordinary commands. A config value fills an environment
 *   variable only when the environment does not set it (nor any variable of the same
 *   group), so env vars win over the file; flags win over both because the CLI reads flags
 *   first.
 * - {@link withJobSettings}: for a scheduled job. The job's own settings describe that job
 *   and replace whatever the environment says; settings the job leaves out keep the
 *   environment's values.
 *
 * Variables: CLAWBACK_REPO, CLAWBACK_PASSWORD | CLAWBACK_PASSWORD_FILE |
 * CLAWBACK_PASSWORD_COMMAND (one group), AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 * (+ AWS_SESSION_TOKEN) (one group), AWS_REGION (with AWS_DEFAULT_REGION), CLAWBACK_CACHE_DIR.
 *
 * Pure module.
 */
import type { ClawbackConfig, PasswordSetting, RepositorySettings } from './types.js';

type Env = Record<string, string | undefined>;

const PASSWORD_VARS = ['CLAWBACK_PASSWORD', 'CLAWBACK_PASSWORD_FILE', 'CLAWBACK_PASSWORD_COMMAND'];
const CREDENTIAL_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

const isSet = (env: Env, k: string): boolean => env[k] !== undefined && env[k] !== '';

/**
 * The repository settings plain commands use: the top-level ones, or, when the config has
 * exactly one job (an openclaw.json, or a single-job file), that job's (which inherit the
 * top-level ones).
 */
export function commandRepository(cfg: ClawbackConfig): RepositorySettings {
  const only = cfg.jobs.length === 1 ? cfg.jobs[0] : undefined;
  return only ? only.repository : cfg.repository;
}

function setPassword(env: Env, p: PasswordSetting): void {
  for (const k of PASSWORD_VARS) delete env[k];
  if (p.kind === 'value') env['CLAWBACK_PASSWORD'] = p.value;
  else if (p.kind === 'file') env['CLAWBACK_PASSWORD_FILE'] = p.file;
  else if (p.kind === 'command') env['CLAWBACK_PASSWORD_COMMAND'] = p.command;
}

/**
 * A copy of `env` where the config's settings fill the variables the environment leaves
 * unset (see the module comment).
 */
export function withConfigDefaults(env: Env, settings: RepositorySettings, cacheDir?: string): Env {
  const out: Env = { ...env };
  if (settings.location !== undefined && !isSet(env, 'CLAWBACK_REPO')) out['CLAWBACK_REPO'] = settings.location;
  if (settings.password !== undefined && !PASSWORD_VARS.some((k) => isSet(env, k))) setPassword(out, settings.password);
  if (settings.credentials !== undefined && !isSet(env, 'AWS_ACCESS_KEY_ID') && !isSet(env, 'AWS_SECRET_ACCESS_KEY')) {
    out['AWS_ACCESS_KEY_ID'] = settings.credentials.accessKeyId;
    out['AWS_SECRET_ACCESS_KEY'] = settings.credentials.secretAccessKey;
    if (settings.credentials.sessionToken !== undefined) out['AWS_SESSION_TOKEN'] = settings.credentials.sessionToken;
    else delete out['AWS_SESSION_TOKEN'];
  }
  if (settings.region !== undefined && !isSet(env, 'AWS_REGION') && !isSet(env, 'AWS_DEFAULT_REGION')) out['AWS_REGION'] = settings.region;
  if (cacheDir !== undefined && !isSet(env, 'CLAWBACK_CACHE_DIR')) out['CLAWBACK_CACHE_DIR'] = cacheDir;
  return out;
}

/** A copy of `env` with the job's own settings replacing the environment's (see the module comment). */
export function withJobSettings(env: Env, settings: RepositorySettings, cacheDir?: string): Env {
  const out: Env = { ...env };
  if (settings.location !== undefined) out['CLAWBACK_REPO'] = settings.location;
  if (settings.password !== undefined) setPassword(out, settings.password);
  if (settings.credentials !== undefined) {
    for (const k of CREDENTIAL_VARS) delete out[k];
    out['AWS_ACCESS_KEY_ID'] = settings.credentials.accessKeyId;
    out['AWS_SECRET_ACCESS_KEY'] = settings.credentials.secretAccessKey;
    if (settings.credentials.sessionToken !== undefined) out['AWS_SESSION_TOKEN'] = settings.credentials.sessionToken;
  }
  if (settings.region !== undefined) {
    out['AWS_REGION'] = settings.region;
    delete out['AWS_DEFAULT_REGION'];
  }
  if (cacheDir !== undefined && !isSet(env, 'CLAWBACK_CACHE_DIR')) out['CLAWBACK_CACHE_DIR'] = cacheDir;
  return out;
}
