/**
 * Which keys and values count as secrets when configuration files are stored without
 * credentials. Pure module.
 */

/** What replaces a removed secret value. Safe unquoted in `.env`, YAML and shell. */
export const SECRET_PLACEHOLDER = '__CLAWBACK_SECRET_REMOVED__';

/** `.env` keys whose values are removed (SPEC §3.3: KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL). */
export const ENV_SECRET_KEY = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE/i;

/** Last words of a config field name that make it a secret (`apiKey` → api key). */
const SECRET_LAST_WORDS = new Set([
  'token',
  'secret',
  'secrets',
  'password',
  'passwd',
  'passphrase',
  'credential',
  'credentials',
  'apikey',
  'authorization',
  'bearer',
  'cookie',
]);

/** Words before a final `key` that make it a secret (`api_key`, `privateKey`). */
const KEY_QUALIFIERS = new Set(['api', 'secret', 'private', 'access', 'auth', 'signing', 'encryption', 'client', 'master', 'session']);

/** Splits a field name into lower-case words: `OAuthToken` → o, auth, token; `api_key` → api, key. */
export function keyWords(key: string): string[] {
  const words = key.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+/g) ?? [];
  return words.map((w) => w.toLowerCase());
}

/**
 * True when a JSON/YAML field named `key` holds a secret: its last word is token,
 * secret, password, credential(s), apikey, … or it ends in `key` after api/secret/
 * private/access/…; all-caps env-style names (`OPENAI_API_KEY`) use {@link ENV_SECRET_KEY}.
 * `maxTokens`, `tokenizer` or `token_count` are not secrets.
 */
export function isSecretKey(key: string): boolean {
  if (/^[A-Z0-9_]+$/.test(key) && /[A-Z]/.test(key)) return ENV_SECRET_KEY.test(key);
  const words = keyWords(key);
  const last = words[words.length - 1];
  if (last === undefined) return false;
  if (SECRET_LAST_WORDS.has(last)) return true;
  if (last === 'key' && words.length > 1 && KEY_QUALIFIERS.has(words[words.length - 2]!)) return true;
  return false;
}

/**
 * True when a secret-named field's value is kept anyway: empty, the placeholder itself,
 * or a reference to a secret kept elsewhere (`${ENV_VAR}`, `resolve:…`).
 */
export function isKeptValue(value: string): boolean {
  return value === '' || value === SECRET_PLACEHOLDER || /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(value) || value.startsWith('resolve:');
}
