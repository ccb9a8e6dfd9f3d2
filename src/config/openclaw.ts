/**
 * The `backup` section of OpenClaw's `openclaw.json`, read as one clawback job named
 * `openclaw`:
 *
 * ```json5
 * {
 *   agents: { defaults: { workspace: "~/.openclaw/workspace" } },   // read for the workspace path
 *   backup: {
 *     enabled: true,
 *     schedule: "6h",                                   // or "1d", or cron "0 3 * * *"
 *     include: { stateDir: true, workspace: true, extraPaths: ["~/notes"] },
 *     storage: { provider: "s3", endpoint: "https://…", bucket: "b", region: "auto", prefix: "openclaw",
 *                accessKeyId: "${S3_KEY}", secretAccessKey: "${S3_SECRET}" },
 *     encryption: { enabled: true, passphrase: "${OPENCLAW_BACKUP_PASSPHRASE}" },  // or keyFile
 *     retention: { maxBackups: 7, maxAgeDays: 30 },
 *     notifyOnFailure: true,                            // or a command, or { command, url }
 *   },
 * }
 * ```
 *
 * Mapping: `include.stateDir` true (the default) → profile `openclaw` rooted at the state
 * dir (`$OPENCLAW_STATE_DIR`, else the directory holding openclaw.json, or the path given as
 * `include.stateDir`), with `include.workspace` and `include.extraPaths`; `include.stateDir:
 * false` → a paths job of the workspace (`agents.defaults.workspace`, else
 * `<stateDir>/workspace`) and the extra paths. Defaults: enabled true when the section
 * exists, schedule `1d`, retention maxBackups 7 / maxAgeDays 30, gc threshold 10.
 * Other sections of openclaw.json are ignored; unknown keys of `backup` are warnings (OpenClaw
 * may add fields clawback does not use), unknown keys inside its sub-objects are errors.
 *
 * Pure module.
 */
import { dirname } from 'node:path';
import { childPath, configError, expandPath, ObjectReader, type PathContext } from './reader.js';
import { parseGc, parseNotify, parseRepositoryKeys, parseRetention } from './sections.js';
import { checkSchedule, resolveNotify, type JobDefaults } from './jobs.js';
import { DEFAULT_GC_THRESHOLD, DEFAULT_RETENTION, DEFAULT_SCHEDULE, type ConfigWarning, type JobConfig, type JobSource, type RepositorySettings } from './types.js';

/** Name of the job read from openclaw.json. */
export const OPENCLAW_JOB = 'openclaw';

/** True when `doc` looks like an openclaw.json with a backup section (and no clawback `jobs`). */
export function isOpenClawDocument(doc: unknown): boolean {
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'backup' in doc && !('jobs' in doc);
}

/** What {@link parseOpenClawDocument} returns. */
export interface ParsedOpenClawConfig {
  repository: RepositorySettings;
  jobs: JobConfig[];
}

function workspaceOf(doc: Record<string, unknown>, stateDir: string, ctx: PathContext): string {
  const agents = doc['agents'];
  if (agents && typeof agents === 'object') {
    const defaults = (agents as Record<string, unknown>)['defaults'];
    if (defaults && typeof defaults === 'object') {
      const ws = (defaults as Record<string, unknown>)['workspace'];
      if (typeof ws === 'string' && ws !== '') return expandPath(ws, ctx);
    }
  }
  return `${stateDir}/workspace`;
}

/**
 * Parses the `backup` section of an openclaw.json document (already substituted).
 * @param file the openclaw.json path (its directory is the default state dir).
 * @param env for OPENCLAW_STATE_DIR.
 * @throws ClawbackError `USAGE` naming `backup.<key>` for a bad value.
 */
export function parseOpenClawDocument(
  doc: unknown,
  file: string,
  ctx: PathContext,
  env: Record<string, string | undefined>,
  warnings: ConfigWarning[],
): ParsedOpenClawConfig {
  const top = doc as Record<string, unknown>;
  const r = new ObjectReader(top['backup'], file, 'backup');
  const enabled = r.bool('enabled') ?? true;
  const schedule = r.str('schedule') ?? DEFAULT_SCHEDULE;
  const timezone = r.str('timezone');
  checkSchedule(file, 'backup.schedule', schedule, timezone);
  const envState = env['OPENCLAW_STATE_DIR'];
  let stateDir = envState !== undefined && envState !== '' ? expandPath(envState, ctx) : dirname(file);
  let includeState = true;
  let workspace = true;
  let extraPaths: string[] = [];
  const include = r.obj('include');
  if (include !== undefined) {
    const sd = include.raw('stateDir');
    if (typeof sd === 'string' && sd !== '') stateDir = expandPath(sd, ctx);
    else if (sd === false) includeState = false;
    else if (sd !== undefined && sd !== true) throw include.error('stateDir', 'expected true, false or a directory');
    const ws = include.raw('workspace');
    if (ws === false) workspace = false;
    else if (ws !== undefined && ws !== true) throw include.error('workspace', 'expected true or false');
    extraPaths = (include.strList('extraPaths') ?? []).map((p) => expandPath(p, ctx));
    include.done();
  }
  let source: JobSource;
  if (includeState) {
    source = { kind: 'profile', profile: 'openclaw', stateDir, workspace, extraPaths };
  } else {
    const paths = [...(workspace ? [workspaceOf(top, stateDir, ctx)] : []), ...extraPaths];
    if (paths.length === 0) throw configError(file, 'backup.include', 'includes nothing: enable stateDir or workspace, or list extraPaths');
    source = { kind: 'paths', paths };
  }
  const repository = parseRepositoryKeys(r, ctx);
  const retention = parseRetention(r.raw('retention'), file, 'backup.retention');
  const gc = parseGc(r.raw('gc'), file, 'backup.gc');
  const notifyRaw = r.raw('notifyOnFailure');
  const tags = r.strList('tags') ?? [];
  for (const k of r.unread()) warnings.push({ path: childPath('backup', k), message: `backup.${k} is not used by clawback (ignored)` });
  const defaults: JobDefaults = {
    schedule,
    repository,
    retention: retention === undefined ? { ...DEFAULT_RETENTION, autoOnly: true } : retention,
    gc: gc === undefined ? { threshold: DEFAULT_GC_THRESHOLD } : gc,
    notify: null,
    notifyByDefault: false,
  };
  const notify = resolveNotify(parseNotify(notifyRaw, file, 'backup.notifyOnFailure'), defaults, 'backup.notifyOnFailure', warnings);
  const job: JobConfig = {
    name: OPENCLAW_JOB,
    enabled,
    schedule,
    ...(timezone !== undefined ? { timezone } : {}),
    source,
    tags,
    repository,
    ...(defaults.retention !== null ? { retention: defaults.retention } : {}),
    ...(defaults.gc !== null ? { gc: defaults.gc } : {}),
    ...(notify !== undefined ? { notify } : {}),
  };
  return { repository, jobs: [job] };
}
