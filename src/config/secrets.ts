/**
 * Finds secrets written in plain text in a config document (before `${ENV}` substitution),
 * so the loader can warn about them: a secret belongs in an environment variable
 * (`"${S3_SECRET}"`), a key file or a password command, not in a file that is easily
 * copied, synced or committed.
 *
 * Pure module.
 */
import { hasEnvReference } from './env.js';
import { childPath } from './reader.js';
import type { ConfigWarning } from './types.js';

/** Keys whose string values are secrets (case-insensitive). */
export const SECRET_KEYS = ['password', 'passphrase', 'secretAccessKey', 'sessionToken', 'secret', 'token', 'apiKey'];

const SECRET_SET = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/**
 * Lists every secret key (see {@link SECRET_KEYS}) under `doc` whose value is a non-empty
 * string without a `${…}` reference, and every URL with a password in it.
 * @param root key path of `doc` (e.g. `backup`).
 */
export function findPlaintextSecrets(doc: unknown, root = ''): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const walk = (v: unknown, path: string, key: string | undefined): void => {
    if (typeof v === 'string') {
      if (key !== undefined && SECRET_SET.has(key.toLowerCase()) && v !== '' && !hasEnvReference(v)) {
        out.push({ path, message: `${path} holds a plaintext secret: reference an environment variable instead ("\${VAR_NAME}"), or use a key file / password command, and keep this file private (chmod 600)` });
      } else if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i.test(v) && !hasEnvReference(v)) {
        out.push({ path, message: `${path} is a URL with a plaintext password in it: move the password to an environment variable ("\${VAR_NAME}")` });
      }
      return;
    }
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, childPath(path, i), undefined));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, childPath(path, k), k);
  };
  walk(doc, root, undefined);
  return out;
}
