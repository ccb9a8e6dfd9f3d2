/**
 * Parsers for the config sections shared by clawback's `config.json5` and OpenClaw's
 * `backup` section: `storage`, `encryption` (and clawback's `repository`/`password*`),
 * `retention`, `gc`, `notifyOnFailure`. Each reads its keys through an
 * {@link ObjectReader} (so unknown keys are reported) and returns normalized settings.
 *
 * Pure module.
 */
import { ClawbackError } from '../errors.js';
import { parseLocation } from '../backend/location.js';
import { applyPolicy, type RetentionPolicy } from '../snapshot/policy.js';
import { childPath, configError, expandLocation, expandPath, ObjectReader, type PathContext } from './reader.js';
import { DEFAULT_GC_THRESHOLD, type GcSettings, type NotifySettings, type PasswordSetting, type RepositorySettings } from './types.js';

/** Provider names accepted in `storage.provider` for S3-compatible object storage. */
export const S3_PROVIDERS = ['s3', 'r2', 'b2', 'minio', 'ceph', 'rgw', 'wasabi', 'spaces', 'gcs', 's3-compatible'];

/**
 * Reads an OpenClaw-style `storage` object:
 * `{ provider: "local" | "s3" | …, path?, endpoint?, bucket?, region?, prefix?, accessKeyId?,
 * secretAccessKey?, sessionToken? }`. `provider` defaults to `s3` when a bucket is given,
 * else `local`; a local provider without `path` uses the default repository.
 * @throws ClawbackError `USAGE` naming the key (missing bucket, bad endpoint, half-set credentials, unknown provider).
 */
export function parseStorage(r: ObjectReader, ctx: PathContext): RepositorySettings {
  const bucket = r.str('bucket');
  const provider = (r.str('provider') ?? (bucket !== undefined ? 's3' : 'local')).toLowerCase();
  const path = r.str('path');
  const endpoint = r.str('endpoint');
  const region = r.str('region');
  const prefix = r.str('prefix', { allowEmpty: true });
  const accessKeyId = r.str('accessKeyId', { allowEmpty: true });
  const secretAccessKey = r.str('secretAccessKey', { allowEmpty: true });
  const sessionToken = r.str('sessionToken', { allowEmpty: true });
  r.done();
  const out: RepositorySettings = {};
  if (provider === 'local') {
    for (const [k, v] of [['bucket', bucket], ['endpoint', endpoint], ['prefix', prefix]] as const) {
      if (v !== undefined) throw r.error(k, `is for S3 storage, but provider is "local": set provider to "s3" or remove ${k}`);
    }
    if (path !== undefined) out.location = expandPath(path, ctx);
  } else if (S3_PROVIDERS.includes(provider)) {
    if (bucket === undefined) throw r.error('bucket', `is required for ${provider} storage`);
    if (path !== undefined) throw r.error('path', 'is for local storage; S3 storage uses bucket and prefix');
    let ep = endpoint?.replace(/\/+$/, '');
    if (ep !== undefined && !/^https?:\/\//i.test(ep)) ep = `https://${ep}`;
    const pre = (prefix ?? '').replace(/^\/+|\/+$/g, '');
    const loc = `s3:${ep === undefined ? '' : `${ep}/`}${bucket}${pre === '' ? '' : `/${pre}`}`;
    try {
      parseLocation(loc);
    } catch (err) {
      throw configError(r.where, r.path, `does not give a valid S3 location (${loc}): ${(err as Error).message}`);
    }
    out.location = loc;
  } else {
    throw r.error('provider', `unknown provider ${JSON.stringify(provider)}: use "local" or one of ${S3_PROVIDERS.map((p) => `"${p}"`).join(', ')}`);
  }
  const id = accessKeyId === '' ? undefined : accessKeyId;
  const secret = secretAccessKey === '' ? undefined : secretAccessKey;
  if ((id === undefined) !== (secret === undefined)) {
    throw r.error(id === undefined ? 'accessKeyId' : 'secretAccessKey', 'accessKeyId and secretAccessKey go together: set both (or neither, to use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)');
  }
  if (id !== undefined && secret !== undefined) {
    out.credentials = { accessKeyId: id, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) };
  }
  if (region !== undefined) out.region = region;
  return out;
}

/**
 * Reads an OpenClaw-style `encryption` object: `{ enabled?, passphrase?, keyFile? }`.
 * `enabled: false` means an unencrypted repository; a passphrase or a key file (a file whose
 * first line is the passphrase) encrypts; `enabled: true` alone leaves the password to
 * CLAWBACK_PASSWORD and friends.
 * @throws ClawbackError `USAGE` when both passphrase and keyFile are given, or they are given with `enabled: false`.
 */
export function parseEncryption(r: ObjectReader, ctx: PathContext): PasswordSetting | undefined {
  const enabled = r.bool('enabled');
  const passphrase = r.str('passphrase', { allowEmpty: true });
  const keyFile = r.str('keyFile');
  r.done();
  if (passphrase !== undefined && keyFile !== undefined) throw r.error('keyFile', 'give either passphrase or keyFile, not both');
  if (enabled === false) {
    if (passphrase !== undefined || keyFile !== undefined) throw r.error('enabled', 'is false, but a passphrase or keyFile is given: remove one or the other');
    return { kind: 'none' };
  }
  if (passphrase !== undefined) {
    if (passphrase === '') throw r.error('passphrase', 'is empty (an unset ${VAR}?): set a passphrase or use keyFile');
    return { kind: 'value', value: passphrase };
  }
  if (keyFile !== undefined) return { kind: 'file', file: expandPath(keyFile, ctx) };
  return undefined;
}

/**
 * Reads repository settings from an object that may hold clawback's keys (`repository`,
 * `password`, `passwordFile`, `passwordCommand`) or OpenClaw's (`storage`, `encryption`).
 * Keys not present leave the setting undefined.
 * @throws ClawbackError `USAGE` when two ways of giving the same setting are combined.
 */
export function parseRepositoryKeys(r: ObjectReader, ctx: PathContext): RepositorySettings {
  const out: RepositorySettings = {};
  const repository = r.str('repository');
  const storage = r.obj('storage');
  if (repository !== undefined && storage !== undefined) throw r.error('storage', 'give either repository or storage, not both');
  if (repository !== undefined) {
    const loc = expandLocation(repository, ctx);
    try {
      parseLocation(loc);
    } catch (err) {
      throw r.error('repository', (err as Error).message);
    }
    out.location = loc;
  }
  if (storage !== undefined) Object.assign(out, parseStorage(storage, ctx));
  const password = r.str('password', { allowEmpty: true });
  const passwordFile = r.str('passwordFile');
  const passwordCommand = r.str('passwordCommand');
  const encryption = r.obj('encryption');
  const given = [password !== undefined && 'password', passwordFile !== undefined && 'passwordFile', passwordCommand !== undefined && 'passwordCommand', encryption !== undefined && 'encryption'].filter(
    (x): x is string => typeof x === 'string',
  );
  if (given.length > 1) throw r.error(given[1] as string, `give only one of ${given.join(', ')}`);
  if (password !== undefined) {
    if (password === '') throw r.error('password', 'is empty (an unset ${VAR}?)');
    out.password = { kind: 'value', value: password };
  }
  if (passwordFile !== undefined) out.password = { kind: 'file', file: expandPath(passwordFile, ctx) };
  if (passwordCommand !== undefined) out.password = { kind: 'command', command: passwordCommand };
  if (encryption !== undefined) {
    const p = parseEncryption(encryption, ctx);
    if (p !== undefined) out.password = p;
  }
  return out;
}

const COUNT_KEYS = [
  ['keepLast', 'last'],
  ['keepHourly', 'hourly'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
  ['keepYearly', 'yearly'],
] as const;
const WITHIN_KEYS = [
  ['keepWithin', 'within'],
  ['keepWithinHourly', 'withinHourly'],
  ['keepWithinDaily', 'withinDaily'],
  ['keepWithinWeekly', 'withinWeekly'],
  ['keepWithinMonthly', 'withinMonthly'],
  ['keepWithinYearly', 'withinYearly'],
] as const;

/**
 * Reads `retention`: `false` (keep every snapshot) or an object with OpenClaw's
 * `maxBackups`/`maxAgeDays` and restic's rules `keepLast`, `keepHourly`, `keepDaily`,
 * `keepWeekly`, `keepMonthly`, `keepYearly` (counts, -1 = unlimited), `keepWithin`,
 * `keepWithinHourly` … `keepWithinYearly` (restic durations such as `7d`, `1y6m`) and
 * `keepTags` (a list of tag groups: `"a,b"` or `["a","b"]`). Always `autoOnly`: manual
 * snapshots are never removed automatically. Semantics: `snapshot/policy.ts`.
 *
 * @returns the policy, `null` for `false`, undefined when absent.
 * @throws ClawbackError `USAGE` for a bad value or an object without any rule.
 */
export function parseRetention(value: unknown, where: string, path: string): RetentionPolicy | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === false) return null;
  const r = new ObjectReader(value, where, path);
  const p: RetentionPolicy = { autoOnly: true };
  const maxBackups = r.int('maxBackups', 1);
  const maxAgeDays = r.int('maxAgeDays', 1);
  if (maxBackups !== undefined) p.maxBackups = maxBackups;
  if (maxAgeDays !== undefined) p.maxAgeDays = maxAgeDays;
  for (const [key, field] of COUNT_KEYS) {
    const v = r.int(key, -1);
    if (v !== undefined) p[field] = v;
  }
  for (const [key, field] of WITHIN_KEYS) {
    const v = r.str(key);
    if (v !== undefined) p[field] = v;
  }
  const tags = r.raw('keepTags');
  if (tags !== undefined) {
    if (!Array.isArray(tags)) throw r.error('keepTags', 'expected a list of tag groups, e.g. ["keep", "a,b"]');
    p.tags = tags.map((g, i) => {
      if (typeof g === 'string') return g.split(',');
      if (Array.isArray(g) && g.every((t) => typeof t === 'string')) return g as string[];
      throw configError(where, childPath(childPath(path, 'keepTags'), i), 'expected a tag group: "a,b" or ["a", "b"]');
    });
  }
  r.done();
  try {
    applyPolicy([], p, new Date());
  } catch (err) {
    const msg = (err as Error).message.startsWith('refusing to forget every snapshot')
      ? 'has no rule: give maxBackups, maxAgeDays or keep* rules, or write retention: false to keep every snapshot'
      : (err as Error).message;
    throw configError(where, path, msg);
  }
  return p;
}

/**
 * Reads `gc`: `false` (never), `true` (default threshold), or `{ threshold?, maxUnused? }`.
 * @returns the settings, `null` for false, undefined when absent.
 */
export function parseGc(value: unknown, where: string, path: string): GcSettings | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === false) return null;
  if (value === true) return { threshold: DEFAULT_GC_THRESHOLD };
  const r = new ObjectReader(value, where, path);
  const threshold = r.int('threshold', 1) ?? DEFAULT_GC_THRESHOLD;
  const maxUnused = r.str('maxUnused');
  r.done();
  if (maxUnused !== undefined && !/^\d+(\.\d+)?%$|^\d+[kKmMgGtT]?$/.test(maxUnused)) {
    throw configError(where, childPath(path, 'maxUnused'), `expected a percentage such as "5%" or a size such as "100M", found ${JSON.stringify(maxUnused)}`);
  }
  return { threshold, ...(maxUnused !== undefined ? { maxUnused } : {}) };
}

/**
 * Reads `notifyOnFailure`: `false` (off), `true` (use the inherited settings), a string (a
 * shell command), or `{ command?, url? }`.
 * @returns settings, `null` for false, `true` for true, undefined when absent.
 */
export function parseNotify(value: unknown, where: string, path: string): NotifySettings | null | true | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === false) return null;
  if (value === true) return true;
  if (typeof value === 'string') {
    if (value.trim() === '') throw configError(where, path, 'the notify command is empty');
    return { command: value };
  }
  const r = new ObjectReader(value, where, path);
  const command = r.str('command');
  const url = r.str('url');
  r.done();
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw configError(where, childPath(path, 'url'), `not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(where, childPath(path, 'url'), 'only http:// and https:// URLs are supported');
  }
  if (command === undefined && url === undefined) throw configError(where, path, 'give a command, a url, or both');
  return { ...(command !== undefined ? { command } : {}), ...(url !== undefined ? { url } : {}) };
}

/** Rethrows non-ClawbackErrors as INTERNAL (helper for loaders). */
export function asClawbackError(err: unknown): ClawbackError {
  return err instanceof ClawbackError ? err : new ClawbackError('INTERNAL', (err as Error).message, { cause: err });
}
