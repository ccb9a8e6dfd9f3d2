/**
 * Secret stripping for config files, by format: `.env` (KEY=value), JSON/JSON5 and YAML.
 * Capture stores the stripped text; an in-place restore merges the live file's values
 * back into the placeholders. Pure module.
 */
import { ClawbackError } from '../errors.js';
import { mergeEnv, stripEnv } from './secrets-env.js';
import { mergeJson, stripJson } from './secrets-json.js';
import { mergeYaml, stripYaml } from './secrets-yaml.js';

export { SECRET_PLACEHOLDER, isSecretKey } from './secret-keys.js';

/** Config formats that secrets can be stripped from. */
export type SecretFormat = 'env' | 'json' | 'yaml';

/** True for `.env`, `x.env` and `.env.local`-style names. */
export function isEnvFileName(name: string): boolean {
  return name === '.env' || name.endsWith('.env') || name.startsWith('.env.');
}

/**
 * The format of a config file from its name: `.env`-style names → env, `.json`/`.json5`
 * → json, `.yaml`/`.yml` → yaml, anything else undefined.
 */
export function secretFormatOf(name: string): SecretFormat | undefined {
  if (isEnvFileName(name)) return 'env';
  if (/\.json5?$/i.test(name)) return 'json';
  if (/\.ya?ml$/i.test(name)) return 'yaml';
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 or throws 'INTEGRITY' naming `file`. */
export function decodeConfigText(bytes: Uint8Array, file: string): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `${file} is not UTF-8 text`, { cause: err });
  }
}

/**
 * Removes secret values from a config text. `removed` counts what was replaced (0: the
 * text is returned unchanged).
 * @throws ClawbackError 'INTEGRITY' when the text does not parse (naming `file`).
 */
export function stripSecrets(format: SecretFormat, text: string, file: string): { text: string; removed: number } {
  if (format === 'env') return stripEnv(text, file);
  const r = format === 'json' ? stripJson(text, file) : stripYaml(text, file);
  return { text: r.text, removed: r.removed.length };
}

/**
 * Merges a restored (stripped) config text with the live file's text: live values for the
 * placeholders, restored values for everything else. `live` undefined: placeholders are
 * dropped.
 * @throws ClawbackError 'INTEGRITY' when either text does not parse.
 */
export function mergeSecrets(format: SecretFormat, restored: string, live: string | undefined, file: string): string {
  if (format === 'env') return mergeEnv(restored, live, file);
  if (format === 'json') return mergeJson(restored, live, file);
  return mergeYaml(restored, live, file);
}
