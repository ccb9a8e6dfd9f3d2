/**
 * Errors a user can act on, through the CLI against the real Ceph RGW (`inject('s3')`):
 * wrong credentials and no permission (exit 12), a missing bucket (exit 10), an
 * unreachable endpoint (exit 13) — each one line naming the endpoint and bucket and what
 * to check — and, for contrast, a damaged repository (exit 1).
 */
import {
  DeleteBucketPolicyCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { S3Backend } from '../../src/backend/s3.js';
import { initRepository } from '../../src/repository/repository.js';
import { cli, type CliResult } from '../helpers/cli.js';
import { makeTmp } from '../helpers/tmp.js';
import { freePort, uniqueBucket } from './rgw.js';

const s3 = inject('s3') ?? null;
const skipReason = inject('s3SkipReason') ?? 'test/s3/global-setup.ts is not in vitest.config.ts globalSetup';

/** The single line a failed command printed on stderr (fails unless there is exactly one). */
function oneLine(r: CliResult): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

describe.skipIf(s3 === null)('actionable S3 errors through the CLI (Ceph RGW)', () => {
  if (s3 === null) {
    it.skip(`S3 errors: ${skipReason}`, () => {});
    return;
  }
  const bucket = uniqueBucket('clawback-errors');
  const repo = `s3:${s3.endpoint}/${bucket}/repo`;
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let env: Record<string, string>;
  let raw: S3Client;

  const run = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> =>
    cli(['--cache-dir', join(tmp.dir, 'cache'), ...args], { ...env, ...extra }, tmp.dir);

  beforeAll(async () => {
    tmp = await makeTmp('clawback-s3-errors-');
    env = {
      HOME: join(tmp.dir, 'home'),
      XDG_CONFIG_HOME: join(tmp.dir, 'home', '.config'),
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      CLAWBACK_PASSWORD: 'pw',
    };
    await mkdir(env['HOME']!, { recursive: true });
    const backend = new S3Backend({ endpoint: s3.endpoint, bucket, prefix: 'repo', credentials });
    const r = await initRepository(backend, { password: 'pw', scrypt: { N: 1024, r: 8, p: 1 }, packSize: 64 * 1024 }, { cacheDir: join(tmp.dir, 'cache') });
    await r.close();
    await backend.close();
    raw = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'hello '.repeat(1000));
    const snap = await run(['--repo', repo, 'snapshot', 'create', src]);
    expect(snap.code, snap.stderr).toBe(0);
  });

  afterAll(async () => {
    raw?.destroy();
    await tmp?.cleanup();
  });

  it('wrong secret key: exit 12, names endpoint, bucket and AWS_SECRET_ACCESS_KEY', async () => {
    for (const args of [['snapshot', 'list'], ['init']]) {
      const r = await run(['--repo', repo, ...args], { AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
      expect(r.code, r.stderr).toBe(12);
      const line = oneLine(r);
      expect(line).toContain(s3.endpoint);
      expect(line).toContain(bucket);
      expect(line).toMatch(/SignatureDoesNotMatch.*AWS_SECRET_ACCESS_KEY/);
    }
  });

  it('unknown access key: exit 12 naming AWS_ACCESS_KEY_ID; --json gives the code', async () => {
    const r = await run(['--json', '--repo', repo, 'snapshot', 'list'], { AWS_ACCESS_KEY_ID: 'no-such-key' });
    expect(r.code).toBe(12);
    const err = JSON.parse(oneLine(r)) as { code: number; error: string; message: string };
    expect(err).toMatchObject({ message_type: 'exit_error', code: 12, error: 'BACKEND_AUTH' });
    expect(err.message).toMatch(/InvalidAccessKeyId.*AWS_ACCESS_KEY_ID/);
    expect(err.message).toContain(bucket);
  });

  it('no permission (a bucket policy denies the key): exit 12, "access denied" naming the bucket', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Deny',
          Principal: '*',
          Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:DeleteObject'],
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        },
      ],
    };
    await raw.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    try {
      for (const args of [['snapshot', 'list'], ['verify']]) {
        const r = await run(['--repo', repo, ...args]);
        expect(r.code, r.stderr).toBe(12);
        const line = oneLine(r);
        expect(line).toMatch(new RegExp(`^clawback: access denied to bucket ${bucket} at ${s3.endpoint} \\(AccessDenied`));
        expect(line).toMatch(/bucket's policy grants this key the permission/);
      }
    } finally {
      await raw.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    }
    expect((await run(['--repo', repo, 'snapshot', 'list'])).code).toBe(0);
  });

  it('missing bucket: exit 10 naming the bucket and endpoint', async () => {
    const missing = uniqueBucket('clawback-no-such');
    const r = await run(['--repo', `s3:${s3.endpoint}/${missing}/repo`, 'snapshot', 'list']);
    expect(r.code).toBe(10);
    expect(oneLine(r)).toBe(`clawback: bucket ${missing} not found at ${s3.endpoint}: check the bucket name and endpoint, or create it with \`clawback init\``);
    // An existing bucket without a repository under the prefix is "no repository" too.
    const empty = await run(['--repo', `s3:${s3.endpoint}/${bucket}/elsewhere`, 'snapshot', 'list']);
    expect(empty.code).toBe(10);
    expect(oneLine(empty)).toContain(`no repository at s3:${s3.endpoint}/${bucket}/elsewhere`);
  });

  it('endpoint unreachable (closed port): exit 13 naming the endpoint and bucket', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const r = await run(['--repo', `s3:${endpoint}/${bucket}/repo`, 'snapshot', 'list']);
    expect(r.code).toBe(13);
    expect(oneLine(r)).toBe(`clawback: cannot reach ${endpoint} (bucket ${bucket}): check the endpoint URL and network, and that the server is running (ECONNREFUSED)`);
  });

  it('a damaged repository is exit 1, distinct from all of the above', async () => {
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'repo/data/' }));
    const pack = listed.Contents?.[0]?.Key;
    expect(pack).toBeDefined();
    // Overwrite a pack behind clawback's back (a plain PUT, no If-None-Match).
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: pack!, Body: new Uint8Array(100) }));
    const r = await run(['--repo', repo, 'verify', '--read-data']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/damage|damaged|mismatch|size/i);
  });
});
