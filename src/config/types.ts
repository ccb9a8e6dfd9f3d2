/**
 * The normalized configuration: what `config/load.ts` returns after parsing, `${ENV}`
 * substitution, validation and defaults, whichever file format it came from (clawback's
 * `config.json5` or the `backup` section of `openclaw.json`). docs/CONFIG.md documents the
 * file formats; this module documents the result.
 */
import type { RetentionPolicy } from '../snapshot/policy.js';

/** Where a repository's password comes from. */
export type PasswordSetting =
  /** Unencrypted repository: no password (OpenClaw `encryption.enabled: false`). */
  | { kind: 'none' }
  /** The password itself (from the file or `${ENV}`). */
  | { kind: 'value'; value: string }
  /** A file holding the password (first line; OpenClaw `encryption.keyFile`). Absolute path. */
  | { kind: 'file'; file: string }
  /** A shell command printing the password. */
  | { kind: 'command'; command: string };

/** S3 credentials from a config file. */
export interface ConfigCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Repository settings; absent fields fall back to flags, env vars and defaults. */
export interface RepositorySettings {
  /** Repository location: a directory (absolute) or an `s3:` location. */
  location?: string;
  password?: PasswordSetting;
  /** S3 credentials (OpenClaw `storage.accessKeyId`/`secretAccessKey`). */
  credentials?: ConfigCredentials;
  /** S3 region (OpenClaw `storage.region`). */
  region?: string;
}

/** What a job snapshots. */
export type JobSource =
  /** Plain paths (absolute, `~` expanded). */
  | { kind: 'paths'; paths: string[] }
  /**
   * An agent profile (`openclaw`, `hermes`, …; see docs/PROFILES.md). `stateDir` overrides
   * the profile's default state directory; `workspace: false` leaves the workspace out;
   * `extraPaths` are captured too.
   */
  | { kind: 'profile'; profile: string; stateDir?: string; workspace: boolean; extraPaths: string[] };

/** When to run `gc` after retention. */
export interface GcSettings {
  /** Run gc once retention has removed at least this many snapshots since the last gc (≥ 1). */
  threshold: number;
  /** `--max-unused` passed to gc (e.g. `5%`), if set. */
  maxUnused?: string;
}

/** What to do when a run fails. */
export interface NotifySettings {
  /** A shell command (`/bin/sh -c`), run with CLAWBACK_JOB, CLAWBACK_ERROR, CLAWBACK_LOG set. */
  command?: string;
  /** An http(s) URL that receives a JSON POST. */
  url?: string;
}

/** One scheduled backup job. */
export interface JobConfig {
  /** Unique name (label rules: `^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`); names the state file. */
  name: string;
  enabled: boolean;
  /** Duration (`30m`, `6h`, `1d`) or cron expression; validated by `scheduler/schedule.ts`. */
  schedule: string;
  /** IANA time zone for cron schedules (default: the machine's local zone). */
  timezone?: string;
  source: JobSource;
  /** Tags added to every snapshot of the job. */
  tags: string[];
  repository: RepositorySettings;
  /** Retention applied after each run, to this job's automatic snapshots only; undefined: keep all. */
  retention?: RetentionPolicy;
  /** Automatic gc; undefined: never. */
  gc?: GcSettings;
  /** Failure notification; undefined: none. */
  notify?: NotifySettings;
}

/** A problem that does not stop the program (printed as `warning: …`). */
export interface ConfigWarning {
  /** Key path, e.g. `backup.storage.secretAccessKey`. */
  path: string;
  message: string;
}

/** The loaded configuration. */
export interface ClawbackConfig {
  /** The file it was read from; undefined when no config file exists. */
  file?: string;
  /** `clawback` (config.json5), `openclaw` (openclaw.json `backup` section), or `none`. */
  format: 'clawback' | 'openclaw' | 'none';
  /** Top-level repository settings: the default for commands and for jobs. */
  repository: RepositorySettings;
  /** Local cache directory (absolute). */
  cacheDir?: string;
  /** Scheduler state directory (absolute). */
  stateDir?: string;
  jobs: JobConfig[];
  warnings: ConfigWarning[];
}

/** Default retention (OpenClaw's defaults): at most 7 automatic snapshots, none older than 30 days. */
export const DEFAULT_RETENTION: RetentionPolicy = { maxBackups: 7, maxAgeDays: 30 };

/** Default schedule of a job. */
export const DEFAULT_SCHEDULE = '1d';

/** Default gc threshold (snapshots removed by retention since the last gc). */
export const DEFAULT_GC_THRESHOLD = 10;
