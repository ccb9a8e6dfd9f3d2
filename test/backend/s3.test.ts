import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Backend, Handle } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/location.js';
import { mapS3Error, S3Backend } from '../../src/backend/s3.js';
import type { S3ErrorContext } from '../../src/backend/s3.js';
import { freePort, uniqueBucket } from '../s3/rgw.js';
import { expectBytes, listAll, randomData, randomName } from './conformance.js';
import { rejection } from '../helpers/rejection.js';

const ctx: S3ErrorContext = { op: 'load', endpoint: 'http://h:1', bucket: 'bkt', key: 'data/ab/abc' };
const awsError = (name: string, status: number | undefined, fault: 'client' | 'server' = 'client'): Error =>
  Object.assign(new Error('UnknownError'), { name, $fault: fault, $metadata: { httpStatusCode: status } });
const sysError = (code: string): Error => Object.assign(new Error(`${code} boom`), { code });

describe('mapS3Error', () => {
  it('maps missing objects, conflicts and missing buckets', () => {
    for (const e of [awsError('NoSuchKey', 404), awsError('NotFound', 404)]) {
      const m = mapS3Error(e, ctx);
      expect(m.code).toBe('BLOB_NOT_FOUND');
      expect(m.details).toMatchObject({ endpoint: 'http://h:1', bucket: 'bkt', key: 'data/ab/abc' });
    }
    expect(mapS3Error(awsError('PreconditionFailed', 412), ctx).code).toBe('ALREADY_EXISTS');
    const nb = mapS3Error(awsError('NoSuchBucket', 404), ctx);
    expect(nb.code).toBe('REPO_NOT_FOUND');
    expect(nb.message).toBe('bucket bkt not found at http://h:1: check the bucket name and endpoint, or create it with `clawback init`');
  });

  it('maps 5xx, throttling, timeouts and socket errors to BACKEND_TRANSIENT', () => {
    const transient = [
      awsError('InternalError', 500, 'server'),
      awsError('ServiceUnavailable', 503, 'server'),
      awsError('Unknown', 502, 'server'),
      awsError('SlowDown', 503, 'server'),
      awsError('TooManyRequests', 429),
      awsError('RequestTimeout', 400),
      awsError('ConditionalRequestConflict', 409),
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      sysError('ECONNRESET'),
      sysError('EPIPE'),
      sysError('ETIMEDOUT'),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error('wrapped'), { cause: sysError('ECONNRESET') }),
    ];
    for (const e of transient) {
      const m = mapS3Error(e, ctx);
      expect(m.code, String((e as { name?: string }).name)).toBe('BACKEND_TRANSIENT');
      expect(m.retryable).toBe(true);
    }
  });

  it('maps an unreachable endpoint to "cannot reach" (BACKEND_UNREACHABLE, retryable)', () => {
    const agg = Object.assign(new AggregateError([sysError('ECONNREFUSED'), sysError('ECONNREFUSED')], 'x'), {});
    const connectTimeout = Object.assign(new Error('Socket timed out without establishing a connection within 10000 ms'), { name: 'TimeoutError' });
    for (const e of [sysError('ECONNREFUSED'), sysError('ENOTFOUND'), agg, sysError('EHOSTUNREACH'), connectTimeout]) {
      const m = mapS3Error(e, ctx);
      expect(m.code).toBe('BACKEND_UNREACHABLE');
      expect(m.retryable).toBe(true);
      expect(m.message).toMatch(/^cannot reach http:\/\/h:1 \(bucket bkt\): check the endpoint URL and network/);
    }
  });

  it('maps credential errors to BACKEND_AUTH naming the access key variables', () => {
    for (const e of [awsError('InvalidAccessKeyId', 403), awsError('SignatureDoesNotMatch', 403), awsError('Unknown', 403), awsError('AccessDenied', 403)]) {
      const m = mapS3Error(e, ctx);
      expect(m.code).toBe('BACKEND_AUTH');
      expect(m.retryable).toBe(false);
      expect(m.message).toContain('check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)');
      expect(m.message).toContain('bkt');
      expect(m.message).toContain('http://h:1');
    }
    expect(mapS3Error(Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }), ctx).message).toMatch(
      /no S3 credentials.*AWS_ACCESS_KEY_ID/,
    );
    expect(mapS3Error(Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }), ctx).code).toBe('BACKEND_AUTH');
    expect(mapS3Error(awsError('RequestTimeTooSkewed', 403), ctx).message).toMatch(/clock/);
  });

  it('other errors: permanent BACKEND; AbortError → ABORTED; ClawbackError passes through', () => {
    const m = mapS3Error(awsError('InvalidArgument', 400), ctx);
    expect(m.code).toBe('BACKEND');
    expect(m.message).toContain('InvalidArgument');
    expect(m.message).toContain('HTTP 400');
    expect(mapS3Error(awsError('PermanentRedirect', 301), ctx).message).toMatch(/another region/);
    expect(mapS3Error(Object.assign(new Error('aborted'), { name: 'AbortError' }), ctx).code).toBe('ABORTED');
    const ce = mapS3Error(awsError('NoSuchKey', 404), ctx);
    expect(mapS3Error(ce, ctx)).toBe(ce);
  });
});

const s3 = inject('s3') ?? null;
const skipReason = inject('s3SkipReason') ?? 'test/s3/global-setup.ts is not in vitest.config.ts globalSetup';

describe.skipIf(s3 === null)('S3Backend against Ceph RGW', () => {
  if (s3 === null) {
    it.skip(`S3 error mapping: ${skipReason}`, () => {});
    return;
  }
  const bucket = uniqueBucket('clawback-s3');
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const backends: Backend[] = [];
  const open = (o: Partial<ConstructorParameters<typeof S3Backend>[0]> = {}): S3Backend => {
    const b = new S3Backend({ endpoint: s3.endpoint, bucket, credentials, ...o });
    backends.push(b);
    return b;
  };
  const h = (): Handle => ({ type: 'data', name: randomName() });

  beforeAll(async () => {
    await open().create();
  });
  afterAll(async () => {
    for (const b of backends) await b.close();
  });

  it('create makes a missing bucket and is idempotent', async () => {
    const other = uniqueBucket('clawback-s3-create');
    const b = open({ bucket: other });
    expect((await rejection(b.isRepository())).code).toBe('REPO_NOT_FOUND');
    await b.create();
    expect(await b.isRepository()).toBe(false);
    await b.create();
    await b.save({ type: 'config', name: 'config' }, randomData(3));
    expect(await b.isRepository()).toBe(true);
    expect(b.location).toBe(`s3:${s3.endpoint}/${other}`);
  });

  it('wrong secret: BACKEND_AUTH mentioning the access key, endpoint and bucket', async () => {
    const b = open({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'wrong-secret' } });
    const calls: [string, () => Promise<unknown>][] = [
      ['load', () => b.load(h())],
      ['save', () => b.save(h(), randomData(3))],
      ['stat', () => b.stat(h())],
      ['list', () => listAll(b, 'data')],
      ['create', () => b.create()],
      ['isRepository', () => b.isRepository()],
    ];
    for (const [op, call] of calls) {
      const e = await rejection(call());
      expect(e.code, op).toBe('BACKEND_AUTH');
      expect(e.message, op).toContain('check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)');
      // HEAD answers carry no error code; the backend learns it with a GET.
      expect(e.message, op).toContain('SignatureDoesNotMatch');
      expect(e.message, op).toContain(s3.endpoint);
      expect(e.message, op).toContain(bucket);
      expect(e.details, op).toMatchObject({ endpoint: s3.endpoint, bucket, status: 403 });
    }
    const unknownKey = open({ credentials: { accessKeyId: 'no-such-key', secretAccessKey: 'x' } });
    const e = await rejection(unknownKey.load(h()));
    expect(e.message).toMatch(/InvalidAccessKeyId.*access key/);
  });

  it('missing bucket: REPO_NOT_FOUND naming the bucket (stat cannot tell: BLOB_NOT_FOUND)', async () => {
    const missing = uniqueBucket('clawback-missing');
    const b = open({ bucket: missing });
    const want = `bucket ${missing} not found at ${s3.endpoint}: check the bucket name and endpoint, or create it with \`clawback init\``;
    for (const call of [() => b.load(h()), () => b.save(h(), randomData(1)), () => listAll(b, 'index'), () => b.remove(h()), () => b.isRepository()]) {
      const e = await rejection(call());
      expect(e.code).toBe('REPO_NOT_FOUND');
      expect(e.message).toBe(want);
      expect(e.details['bucket']).toBe(missing);
    }
    expect((await rejection(b.stat(h()))).code).toBe('BLOB_NOT_FOUND');
  });

  it('unreachable endpoint: "cannot reach" after retries', async () => {
    const port = await freePort(); // closed again: connections are refused
    const endpoint = `http://127.0.0.1:${port}`;
    const retries: number[] = [];
    const b = await openBackend(`s3:${endpoint}/${bucket}`, {
      credentials,
      retry: { sleep: async () => {}, onRetry: (ev) => retries.push(ev.attempt) },
    });
    backends.push(b);
    const e = await rejection(b.load(h()));
    expect(e.message).toMatch(new RegExp(`^cannot reach ${endpoint} \\(bucket ${bucket}\\): check the endpoint URL and network`));
    expect(e.code).toBe('BACKEND_UNREACHABLE');
    expect(e.details).toMatchObject({ endpoint, bucket, errno: 'ECONNREFUSED' });
    expect(retries).toEqual([1, 2, 3, 4, 5]);
  });

  it('prefixes isolate repositories in one bucket; foreign keys are not listed', async () => {
    const a = open({ prefix: 'repo-a' });
    const b = open({ prefix: '/repo-b/' });
    const root = open();
    expect(b.prefix).toBe('repo-b');
    const x = h();
    await a.save(x, randomData(5));
    await b.save(x, randomData(6));
    expect((await a.stat(x)).size).toBe(5);
    expect((await b.stat(x)).size).toBe(6);
    expect(await listAll(a, 'data')).toEqual([{ name: x.name, size: 5 }]);
    expect(await listAll(root, 'data')).toEqual([]);
    // keys that are not repository files
    const raw = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    try {
      for (const k of ['repo-a/data/zz', `repo-a/data/ff/${x.name}`, 'repo-a/data/ab/.tmp-1', 'repo-a/index/sub/x', 'repo-a/data/']) {
        await raw.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: new Uint8Array(1) }));
      }
    } finally {
      raw.destroy();
    }
    expect(await listAll(a, 'data')).toEqual([{ name: x.name, size: 5 }]);
    expect(await listAll(a, 'index')).toEqual([]);
  });

  it('uses a multipart upload above the threshold and keeps write-once', async () => {
    const b = open({ prefix: 'mp', multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    const x = h();
    const data = randomData(11 * 1024 * 1024 + 3);
    await b.save(x, data);
    expectBytes(await b.load(x), data);
    expectBytes(await b.load(x, { offset: 5 * 1024 * 1024 - 2, length: 4 }), data.subarray(5 * 1024 * 1024 - 2, 5 * 1024 * 1024 + 2));
    expect((await rejection(b.save(x, data))).code).toBe('ALREADY_EXISTS');
    expect(() => open({ partSize: 1024 })).toThrow(/5 MiB minimum/);
  });

  it('reports a multipart upload a crash left unfinished as a temp file; removeTempFile aborts it', async () => {
    const b = open({ prefix: 'mpu' });
    const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
    const uploads = async (): Promise<string[]> =>
      ((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'mpu/' }))).Uploads ?? []).map((u) => u.Key ?? '').sort();
    const temps = async (backend: Backend): Promise<{ path: string; size: number }[]> => {
      const out: { path: string; size: number }[] = [];
      for await (const f of backend.listTempFiles()) out.push(f);
      return out.sort((p, q) => (p.path < q.path ? -1 : 1));
    };
    try {
      const x = h();
      const key = `mpu/data/${x.name.slice(0, 2)}/${x.name}`;
      // What a process killed in the middle of a pack upload leaves: parts, no object.
      const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await raw.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomData(5 * 1024 * 1024) }));
      await raw.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: randomData(1000) }));
      const idx = `mpu/index/${h().name}`;
      await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: idx }));
      // Not in a repository directory, or outside the prefix: not ours.
      await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu/data/zz9/x' }));
      await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `other/data/${x.name.slice(0, 2)}/${x.name}` }));
      expect(await listAll(b, 'data')).toEqual([]);
      const found = await temps(b);
      expect(found).toEqual([
        { path: expect.stringMatching(new RegExp(`^data/${x.name.slice(0, 2)}/\\.tmp-[0-9a-f]{64}$`)) as unknown as string, size: 5 * 1024 * 1024 + 1000 },
        { path: expect.stringMatching(/^index\/\.tmp-[0-9a-f]{64}$/) as unknown as string, size: 0 },
      ]);
      expect(await temps(b)).toEqual(found); // stable names
      await b.removeTempFile(found[0]!.path);
      // Another process (a fresh backend that never listed) removes by the same name.
      const fresh = open({ prefix: 'mpu' });
      await fresh.removeTempFile(found[1]!.path);
      expect(await uploads()).toEqual(['mpu/data/zz9/x']);
      expect(await temps(b)).toEqual([]);
      await b.removeTempFile(found[0]!.path); // already gone: fine
      expect((await rejection(b.removeTempFile('data/ab/cd'))).code).toBe('INTERNAL');
    } finally {
      raw.destroy();
    }
  });
});
