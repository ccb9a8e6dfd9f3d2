/**
 * Shared CLI plumbing: global options, password lookup, opening (or first-use creating)
 * the repository, and the output helpers every command uses.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ClawbackError } from '../errors.js';
import { openBackend, parseLocation } from '../backend/location.js';
import type { Backend } from '../backend/backend.js';
import { initRepository, openRepository, type OpenOptions, type Repository } from '../repository/repository.js';
import { acquireLock, describeLock, type Lock } from '../repository/lock.js';
import type { CliIo } from './io.js';
import { jsonLine } from './format.js';
import { ioWithConfig } from './config-io.js';
import { parseDurationMs } from './duration.js';
import { testScryptParams } from './test-kdf.js';

/** Which repository lock a command takes (docs/MAINTENANCE.md §Locks). */
export type LockMode = 'shared' | 'exclusive' | 'none';

/** Options of {@link Context.withRepo}. */
export interface WithRepoOptions {
  /** Create the default repository when it does not exist (see {@link Context.openRepo}). */
  autoInit?: boolean;
  /** Lock to hold while `fn` runs; default `shared`. */
  lock?: LockMode;
  /**
   * Loaders (`lazy` imports of cli/lazy.ts, `preloadIndexCache`) of code `fn` needs, started
   * while the repository's key is derived (scrypt leaves this thread idle) instead of when
   * `fn` first awaits them. Their errors surface only where `fn` awaits them.
   */
  preload?: readonly (() => unknown)[];
}

/**
 * Pack uploads in flight for an S3 repository (the blob saver's `limits.uploads`; local
 * repositories keep the default 2). S3 throughput is latency-bound, so more uploads keep
 * the link busy; memory stays bounded by uploads × pack size (docs/BACKENDS.md §Memory).
 */
export const S3_UPLOADS = 4;

/** Options every command accepts (set on the root command). */
export interface GlobalOptions {
  repo?: string;
  json?: boolean;
  quiet?: boolean;
  cacheDir?: string;
  passwordFile?: string;
  passwordCommand?: string;
  /** `--retry-lock DURATION`: how long to wait for a conflicting lock. */
  retryLock?: string;
  /** `--config FILE` (a path), `--no-config` (false); see cli/config-io.ts. */
  config?: string | boolean;
}

/** A command's view: the io, the parsed global options, and output helpers. */
export class Context {
  readonly io: CliIo;
  readonly opts: GlobalOptions;

  constructor(io: CliIo, opts: GlobalOptions) {
    this.io = io;
    this.opts = opts;
  }

  /** Builds the context of the command that is running (reading the config file). */
  static async of(io: CliIo, cmd: Command): Promise<Context> {
    const opts = cmd.optsWithGlobals<GlobalOptions>();
    return new Context(await ioWithConfig(io, opts.config), opts);
  }

  get json(): boolean {
    return this.opts.json === true;
  }

  /** Human output on stdout (suppressed with --json). */
  out(text: string): void {
    if (!this.json) this.io.stdout(text.endsWith('\n') ? text : text + '\n');
  }

  /** A message on stderr (suppressed with --quiet). */
  info(text: string): void {
    if (!this.opts.quiet) this.io.stderr(text.endsWith('\n') ? text : text + '\n');
  }

  /** A warning on stderr (always shown). */
  warn(text: string): void {
    this.io.stderr(`warning: ${text}\n`);
  }

  /** A JSON document on stdout (only with --json). */
  emit(value: unknown): void {
    if (this.json) this.io.stdout(jsonLine(value));
  }

  /** The repository location: --repo, CLAWBACK_REPO, or ~/.clawback/repo. */
  get location(): string {
    return this.opts.repo ?? this.io.env['CLAWBACK_REPO'] ?? join(homedir(), '.clawback', 'repo');
  }

  /** True when the location is the zero-set-up default. */
  get isDefaultLocation(): boolean {
    return this.opts.repo === undefined && this.io.env['CLAWBACK_REPO'] === undefined;
  }

  /** Cache directory: --cache-dir, CLAWBACK_CACHE_DIR, XDG_CACHE_HOME/clawback, ~/.cache/clawback. */
  get cacheDir(): string {
    const e = this.io.env;
    return this.opts.cacheDir ?? e['CLAWBACK_CACHE_DIR'] ?? join(e['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'clawback');
  }

  /** Opens the backend of the repository location. */
  backend(location = this.location): Promise<Backend> {
    const loc = parseLocation(location, this.io.cwd);
    return openBackend(loc, { env: this.io.env });
  }

  /** True when `location` is an S3 location. */
  isS3(location = this.location): boolean {
    return parseLocation(location, this.io.cwd).kind === 's3';
  }

  /**
   * Repository open options for `location` (password aside): the cache directory, and for
   * S3 {@link S3_UPLOADS} pack uploads in flight.
   */
  repoOptions(location = this.location): OpenOptions {
    return { cacheDir: this.cacheDir, ...(this.isS3(location) ? { limits: { uploads: S3_UPLOADS } } : {}) };
  }

  /**
   * Takes the repository lock `mode` on `repo` (waiting up to `--retry-lock`); undefined
   * for `none`. Release it with `Lock.release`, e.g. through {@link Context.releaseLock}.
   * @throws ClawbackError 'LOCKED' naming the holder when the lock stays taken.
   */
  async lock(repo: Repository, mode: LockMode): Promise<Lock | undefined> {
    if (mode === 'none') return undefined;
    const retryFor = this.opts.retryLock === undefined ? 0 : parseDurationMs(this.opts.retryLock, '--retry-lock');
    return acquireLock(repo, {
      exclusive: mode === 'exclusive',
      retryFor,
      signal: this.io.signal,
      onWait: (holder) => this.info(`repository is locked (${describeLock(holder)}) at ${repo.backend.location}; waiting up to ${this.opts.retryLock ?? '0s'}…`),
      onRefreshError: (err) => this.warn(`could not refresh the repository lock: ${(err as Error).message}`),
    });
  }

  /** Releases `lock` (if any), warning instead of failing when its file cannot be removed. */
  async releaseLock(lock: Lock | undefined): Promise<void> {
    await lock?.release().catch((err: unknown) => this.warn(`could not remove the repository lock ${lock.id}: ${(err as Error).message} (\`clawback unlock\` removes it once stale)`));
  }

  /**
   * The password from --password-file, --password-command, CLAWBACK_PASSWORD,
   * CLAWBACK_PASSWORD_FILE, CLAWBACK_PASSWORD_COMMAND, or undefined when none is configured.
   */
  async configuredPassword(): Promise<string | undefined> {
    const e = this.io.env;
    if (this.opts.passwordFile !== undefined) return this.readPasswordFile(this.opts.passwordFile);
    if (this.opts.passwordCommand !== undefined) return runPasswordCommand(this.opts.passwordCommand);
    if (e['CLAWBACK_PASSWORD'] !== undefined) return e['CLAWBACK_PASSWORD'];
    if (e['CLAWBACK_PASSWORD_FILE'] !== undefined) return this.readPasswordFile(e['CLAWBACK_PASSWORD_FILE']);
    if (e['CLAWBACK_PASSWORD_COMMAND'] !== undefined) return runPasswordCommand(e['CLAWBACK_PASSWORD_COMMAND']);
    return undefined;
  }

  private async readPasswordFile(file: string): Promise<string> {
    try {
      return (await readFile(resolve(this.io.cwd, file), 'utf8')).replace(/\r?\n$/, '');
    } catch (cause) {
      throw new ClawbackError('USAGE', `cannot read the password file ${file}: ${(cause as Error).message}`, { cause });
    }
  }

  /** The configured password, or a prompt on the terminal, or undefined. */
  async password(prompt = 'repository password: '): Promise<string | undefined> {
    const p = await this.configuredPassword();
    if (p !== undefined) return p;
    return this.io.readPassword ? this.io.readPassword(prompt) : undefined;
  }

  /**
   * Opens the repository. When it does not exist and `autoInit` is set and the location is
   * the default one, creates it (encrypted if a password is configured, else unencrypted;
   * an S3 location is never created unencrypted).
   * The backend is closed again when the repository does not open.
   * @throws ClawbackError 'REPO_NOT_FOUND', 'WRONG_PASSWORD'; 'USAGE' for an S3
   *   auto-init without a password.
   */
  async openRepo(autoInit = false, preload: readonly (() => unknown)[] = []): Promise<Repository> {
    const backend = await this.backend();
    return closingOnFailure(backend, () => this.openRepoOn(backend, autoInit, preload));
  }

  private async openRepoOn(backend: Backend, autoInit: boolean, preload: readonly (() => unknown)[]): Promise<Repository> {
    const options: OpenOptions = this.repoOptions();
    if (preload.length > 0) options.onKeyDerivation = () => preload.forEach((load) => void Promise.resolve(load()).catch(() => undefined));
    if (autoInit && this.isDefaultLocation && !(await backend.isRepository())) {
      const password = await this.configuredPassword();
      if (password === undefined && this.isS3()) {
        throw new ClawbackError('USAGE', `no repository at ${backend.location}, and S3 repositories are always encrypted: set CLAWBACK_PASSWORD (or _FILE/_COMMAND) and run \`clawback init --repo ${backend.location}\``);
      }
      this.info(`creating the default repository at ${backend.location} (${password === undefined ? 'unencrypted: set CLAWBACK_PASSWORD to encrypt new repositories' : 'encrypted'})`);
      const scrypt = testScryptParams(this.io.env);
      return initRepository(backend, { password, ...(scrypt ? { scrypt } : {}) }, options);
    }
    let password = await this.configuredPassword();
    try {
      return await openRepository(backend, { ...options, password });
    } catch (err) {
      if (err instanceof ClawbackError && err.code === 'WRONG_PASSWORD' && password === undefined && this.io.readPassword) {
        password = await this.io.readPassword('repository password: ');
        return openRepository(backend, { ...options, password });
      }
      throw err;
    }
  }

  /**
   * Runs `fn` with the open repository, holding the lock `options.lock` (default shared;
   * waiting up to `--retry-lock`), then releases the lock and closes the repository.
   * A boolean `options` is the old `autoInit` flag.
   * @throws ClawbackError 'LOCKED' naming the holder when the lock stays taken.
   */
  async withRepo<T>(fn: (repo: Repository) => Promise<T>, options: WithRepoOptions | boolean = {}): Promise<T> {
    const o: WithRepoOptions = typeof options === 'boolean' ? { autoInit: options } : options;
    if (this.opts.retryLock !== undefined) parseDurationMs(this.opts.retryLock, '--retry-lock'); // USAGE before any I/O
    const repo = await this.openRepo(o.autoInit ?? false, o.preload);
    let lock: Lock | undefined;
    try {
      lock = await this.lock(repo, o.lock ?? 'shared');
      return await fn(repo);
    } finally {
      await this.releaseLock(lock);
      await repo.close();
      await repo.backend.close();
    }
  }
}

/**
 * Runs `open`, which opens a repository on `backend`, and closes `backend` when it fails
 * (wrong password, no repository, …): otherwise an S3 backend's connections would leak.
 */
export async function closingOnFailure(backend: Backend, open: () => Promise<Repository>): Promise<Repository> {
  try {
    return await open();
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

function runPasswordCommand(command: string): Promise<string> {
  return new Promise((resolvePw, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 60_000 }, (err, stdout) => {
      if (err) reject(new ClawbackError('USAGE', `the password command failed: ${err.message}`, { cause: err }));
      else resolvePw(stdout.replace(/\r?\n$/, ''));
    });
  });
}
