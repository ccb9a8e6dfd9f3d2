/**
 * The config file as the CLI sees it: loaded for every command (`--config FILE`,
 * `--no-config`, `CLAWBACK_CONFIG`, or the default file), warnings printed on stderr, and
 * its settings layered under flags and env vars by filling the environment the command
 * sees (`config/overlay.ts`). The parser (`config/load.ts`, with JSON5 and the schedule
 * parser) is loaded only when there is a file to parse.
 */
import { emptyConfig, readConfigFile } from '../config/locate.js';
import { commandRepository, withConfigDefaults } from '../config/overlay.js';
import type { ClawbackConfig } from '../config/types.js';
import type { CliIo } from './io.js';

/** The `--config` option value: a path, `false` (`--no-config`), or undefined. */
export type ConfigOption = string | boolean | undefined;

/** Normalizes commander's value of `--config`/`--no-config` (true = not given). */
export function configFileOption(v: ConfigOption): string | false | undefined {
  return v === true ? undefined : v;
}

/**
 * Loads the config for `io` and the `--config` value (as `config/load.ts` `loadConfig`);
 * prints its warnings on stderr.
 */
export async function loadCliConfig(io: CliIo, config: ConfigOption): Promise<ClawbackConfig> {
  const file = readConfigFile({ file: configFileOption(config), env: io.env, cwd: io.cwd });
  if (file === undefined) return emptyConfig();
  const { parseConfigText } = await import('../config/load.js');
  const cfg = parseConfigText(file.text, file.path, io.env);
  for (const w of cfg.warnings) io.stderr(`warning: ${cfg.file ?? 'config'}: ${w.message}\n`);
  return cfg;
}

/**
 * The io a command runs with: `io` with the environment completed by the config file's
 * settings (flags > env > config > defaults). Returns `io` itself when there is no config.
 * @throws ClawbackError `USAGE` for a broken config file (see `config/load.ts`).
 */
export async function ioWithConfig(io: CliIo, config: ConfigOption): Promise<CliIo> {
  const cfg = await loadCliConfig(io, config);
  if (cfg.format === 'none') return io;
  return { ...io, env: withConfigDefaults(io.env, commandRepository(cfg), cfg.cacheDir) };
}
