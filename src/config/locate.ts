/**
 * Which config file applies and its text, without parsing it (`config/load.ts` parses):
 * `--config FILE` (or `--no-config` for none), else `CLAWBACK_CONFIG`, else
 * `$XDG_CONFIG_HOME/clawback/config.json5` (default `~/.config/clawback/config.json5`). A
 * missing default file means "no config"; a missing file that was named is an error.
 * Kept apart from the parser so that a command without a config file never loads it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ClawbackError } from '../errors.js';
import { homeFrom } from './reader.js';
import type { ClawbackConfig } from './types.js';

/** Largest config file read, bytes. */
export const MAX_CONFIG_BYTES = 4 << 20;

/** The default config file for `env` (XDG_CONFIG_HOME, HOME). */
export function defaultConfigPath(env: Record<string, string | undefined>): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : join(homeFrom(env), '.config');
  return join(base, 'clawback', 'config.json5');
}

/** Options of `loadConfig` (`config/load.ts`) and {@link readConfigFile}. */
export interface LoadConfigOptions {
  /** `--config` value: a path, `false` for `--no-config`, undefined when not given. */
  file?: string | false | undefined;
  env: Record<string, string | undefined>;
  /** For relative `--config` paths. */
  cwd: string;
}

/** Which file `loadConfig` reads: `{ path, explicit }`, or undefined for none. */
export function configFileFor(opts: LoadConfigOptions): { path: string; explicit: boolean } | undefined {
  if (opts.file === false) return undefined;
  if (opts.file !== undefined) return { path: resolve(opts.cwd, opts.file), explicit: true };
  const fromEnv = opts.env['CLAWBACK_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(opts.cwd, fromEnv), explicit: true };
  return { path: defaultConfigPath(opts.env), explicit: false };
}

/** An empty configuration (no file). */
export function emptyConfig(): ClawbackConfig {
  return { format: 'none', repository: {}, jobs: [], warnings: [] };
}

/**
 * The text of the config file at `path`, or undefined when it does not exist and was not
 * named (`explicit` false).
 * @throws ClawbackError `USAGE` when it cannot be read, is a directory or is too large.
 */
export function readConfigText(path: string, explicit: boolean): string | undefined {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new ClawbackError('USAGE', `config file ${path} is a directory: give the file`);
    size = st.size;
  } catch (err) {
    if (err instanceof ClawbackError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return undefined;
    if (code === 'ENOENT') throw new ClawbackError('USAGE', `config file ${path} does not exist: check the path given with --config or CLAWBACK_CONFIG`, { cause: err });
    throw new ClawbackError('USAGE', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (size > MAX_CONFIG_BYTES) throw new ClawbackError('USAGE', `config file ${path} is ${size} bytes; at most ${MAX_CONFIG_BYTES} are read`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ClawbackError('USAGE', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Finds and reads the config file (see `config/load.ts`) without parsing it: its path and
 * text, or undefined when there is none.
 * @throws ClawbackError `USAGE` (see {@link readConfigText}).
 */
export function readConfigFile(opts: LoadConfigOptions): { path: string; text: string } | undefined {
  const which = configFileFor(opts);
  if (which === undefined) return undefined;
  const text = readConfigText(which.path, which.explicit);
  return text === undefined ? undefined : { path: which.path, text };
}
