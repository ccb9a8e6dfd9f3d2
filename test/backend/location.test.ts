import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { formatLocation, openBackend, parseLocation, s3CredentialsFrom } from '../../src/backend/location.js';
import { RetryBackend } from '../../src/backend/retry.js';
import { ClawbackError } from '../../src/errors.js';

describe('parseLocation', () => {
  it('parses s3 URLs with an endpoint', () => {
    expect(parseLocation('s3:http://127.0.0.1:7480/bucket')).toEqual({ kind: 's3', endpoint: 'http://127.0.0.1:7480', bucket: 'bucket', prefix: '' });
    expect(parseLocation('s3:https://s3.example.com/backups/laptop/home/')).toEqual({
      kind: 's3',
      endpoint: 'https://s3.example.com',
      bucket: 'backups',
      prefix: 'laptop/home',
    });
    expect(parseLocation('s3:HTTPS://Host.Example:443/b-1/p')).toEqual({ kind: 's3', endpoint: 'https://host.example', bucket: 'b-1', prefix: 'p' });
    expect(parseLocation('s3:http://[::1]:9000/bkt/a%20b')).toEqual({ kind: 's3', endpoint: 'http://[::1]:9000', bucket: 'bkt', prefix: 'a b' });
  });

  it('parses AWS s3:bucket[/prefix]', () => {
    expect(parseLocation('s3:my-bucket')).toEqual({ kind: 's3', endpoint: undefined, bucket: 'my-bucket', prefix: '' });
    expect(parseLocation('s3:my.bucket/a/b//c/')).toEqual({ kind: 's3', endpoint: undefined, bucket: 'my.bucket', prefix: 'a/b/c' });
  });

  it('treats everything else as a local path, resolved', () => {
    expect(parseLocation('/srv/repo')).toEqual({ kind: 'local', path: path.resolve('/srv/repo') });
    expect(parseLocation('rel/repo')).toEqual({ kind: 'local', path: path.resolve('rel/repo') });
    expect(parseLocation('rel', '/base')).toEqual({ kind: 'local', path: path.resolve('/base', 'rel') });
    expect(parseLocation('local:/x/y')).toEqual({ kind: 'local', path: path.resolve('/x/y') });
    expect(parseLocation('s3-backups')).toEqual({ kind: 'local', path: path.resolve('s3-backups') });
  });

  it('rejects bad s3 locations with USAGE and an example', () => {
    const bad = [
      's3:',
      's3:http://host',
      's3:http://host/',
      's3:https://',
      's3://bucket/prefix',
      's3:/bucket',
      's3:ftp://host/bucket',
      's3:host:9000/bucket',
      's3:http://user:pw@host/bucket',
      's3:http://host/bucket?x=1',
      's3:ab',
      's3:bad_bucket!/x',
      's3:bucket/../x',
      's3:http://host/bucket/%zz',
    ];
    for (const s of bad) {
      let err: unknown;
      try {
        parseLocation(s);
      } catch (e) {
        err = e;
      }
      expect(err, s).toBeInstanceOf(ClawbackError);
      expect((err as ClawbackError).code, s).toBe('USAGE');
      expect((err as ClawbackError).message, s).toContain('e.g. s3:https://');
    }
    expect(() => parseLocation('')).toThrow(/empty repository location/);
    expect(() => parseLocation('local:')).toThrow(/empty path/);
  });

  it('formatLocation round-trips', () => {
    for (const s of ['s3:http://127.0.0.1:7480/bucket', 's3:https://h.example/bkt/p/q', 's3:bucket', 's3:bucket/x', path.resolve('/tmp/r')]) {
      expect(formatLocation(parseLocation(s))).toBe(s);
    }
  });
});

describe('openBackend', () => {
  it('opens a LocalBackend for paths', async () => {
    const b = await openBackend('/tmp/some-repo');
    expect(b).toBeInstanceOf(LocalBackend);
    expect(b.location).toBe(path.resolve('/tmp/some-repo'));
  });

  it('opens RetryBackend(LimitBackend(S3Backend)) for s3 locations', async () => {
    const b = await openBackend('s3:http://127.0.0.1:1/bkt/pre', { env: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' } });
    expect(b).toBeInstanceOf(RetryBackend);
    expect(b.location).toBe('s3:http://127.0.0.1:1/bkt/pre');
    await b.close();
    const aws = await openBackend({ kind: 's3', endpoint: undefined, bucket: 'bkt', prefix: '' }, { env: { AWS_REGION: 'eu-west-1' } });
    expect(aws.location).toBe('s3:bkt');
    await aws.close();
  });

  it('reads credentials from env, and rejects half-set ones', () => {
    expect(s3CredentialsFrom({})).toBeUndefined();
    expect(s3CredentialsFrom({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' })).toEqual({ accessKeyId: 'a', secretAccessKey: 'b' });
    expect(s3CredentialsFrom({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_SESSION_TOKEN: 't' })).toEqual({
      accessKeyId: 'a',
      secretAccessKey: 'b',
      sessionToken: 't',
    });
    expect(() => s3CredentialsFrom({ AWS_ACCESS_KEY_ID: 'a' })).toThrow(/AWS_SECRET_ACCESS_KEY is not/);
    expect(() => s3CredentialsFrom({ AWS_SECRET_ACCESS_KEY: 'b' })).toThrow(/AWS_ACCESS_KEY_ID is not/);
  });
});
