/**
 * Finding and loading the config file.
 *
 * Which file: `--config FILE` (or `--no-config` for none), else `CLAWBACK_CONFIG`, else
 * `$XDG_CONFIG_HOME/clawback/config.json5` (default `~/.config/clawback/config.json5`).
 * A missing default file means "no config"; a missing file that was named is an error.
 *
 * Formats: a document with a top-level `backup` object and no `jobs` is an OpenClaw
 * `openclaw.json` (`config/openclaw.ts`); anything else is clawback's format
 * (`config/jobs.ts`). Both are parsed as JSON5 (https://json5.org), so JSON files work too.
 *
 * Steps: read → JSON5 parse → plaintext-secret warnings on the raw text values →
 * `${ENV}` substitution (`config/env.ts`; for openclaw.json only in the `backup` section) →
 * validation with defaults. Synchronous on purpose (a small file, read once per command).
 */
import { dirname } from 'node:path';
import JSON5 from 'json5';
import { ClawbackError } from '../errors.js';
import { substituteEnv } from './env.js';
import { parseClawbackDocument } from './jobs.js';
import { isOpenClawDocument, parseOpenClawDocument } from './openclaw.js';
import { homeFrom, type PathContext } from './reader.js';
import { findPlaintextSecrets } from './secrets.js';
import type { ClawbackConfig, ConfigWarning } from './types.js';
import { emptyConfig, readConfigFile, type LoadConfigOptions } from './locate.js';

export { MAX_CONFIG_BYTES, configFileFor, defaultConfigPath, emptyConfig, readConfigText, readConfigFile, type LoadConfigOptions } from './locate.js';

/**
 * Parses config text (see the module comment).
 * @param path the file's path (names it in messages; its directory anchors relative paths).
 * @throws ClawbackError `USAGE` for a JSON5 syntax error (with line and column), an unset
 *   `${VAR}` (naming every one), or an invalid setting (naming the key path).
 */
export function parseConfigText(text: string, path: string, env: Record<string, string | undefined>): ClawbackConfig {
  let doc: unknown;
  try {
    doc = JSON5.parse(text);
  } catch (err) {
    const e = err as Error & { lineNumber?: number; columnNumber?: number };
    const at = e.lineNumber !== undefined ? ` at line ${e.lineNumber}, column ${e.columnNumber ?? '?'}` : '';
    throw new ClawbackError('USAGE', `cannot parse config file ${path}${at}: ${e.message.replace(/^JSON5: /, '').replace(/ at \d+:\d+$/, '')}`, { cause: err, details: { file: path } });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ClawbackError('USAGE', `config file ${path} must hold a JSON5 object ({ … })`, { details: { file: path } });
  }
  const ctx: PathContext = { home: homeFrom(env), baseDir: dirname(path) };
  const warnings: ConfigWarning[] = [];
  if (isOpenClawDocument(doc)) {
    const rec = doc as Record<string, unknown>;
    warnings.push(...findPlaintextSecrets(rec['backup'], 'backup'));
    const backup = substituteEnv(rec['backup'], env, path, 'backup');
    let agents: unknown = rec['agents'];
    try {
      agents = substituteEnv(agents, env, path, 'agents');
    } catch {
      /* only agents.defaults.workspace is read; an unset variable elsewhere is not ours to report */
    }
    const parsed = parseOpenClawDocument({ ...rec, backup, agents }, path, ctx, env, warnings);
    return { file: path, format: 'openclaw', repository: parsed.repository, jobs: parsed.jobs, warnings };
  }
  warnings.push(...findPlaintextSecrets(doc));
  const substituted = substituteEnv(doc, env, path);
  const parsed = parseClawbackDocument(substituted, path, ctx, warnings);
  return { file: path, format: 'clawback', ...parsed, warnings };
}

/**
 * Finds, reads and parses the config file (see the module comment).
 * @returns the configuration; {@link emptyConfig} when there is no file.
 * @throws ClawbackError `USAGE` (see {@link parseConfigText}; also a named file that does not exist).
 */
export function loadConfig(opts: LoadConfigOptions): ClawbackConfig {
  const file = readConfigFile(opts);
  if (file === undefined) return emptyConfig();
  return parseConfigText(file.text, file.path, opts.env);
}
