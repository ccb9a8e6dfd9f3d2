import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { FaultBackend } from '../../src/backend/fault.js';
import { LimitBackend } from '../../src/backend/limit.js';
import { LocalBackend } from '../../src/backend/local.js';
import { openBackend } from '../../src/backend/location.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { RetryBackend } from '../../src/backend/retry.js';
import { S3Backend } from '../../src/backend/s3.js';
import { uniqueBucket } from '../s3/rgw.js';
import { runBackendConformance } from './conformance.js';

runBackendConformance('mem', async () => ({ backend: new MemoryBackend() }));

runBackendConformance('local', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clawback-local-'));
  // A subdirectory, so that create() has something to make.
  return { backend: new LocalBackend(path.join(dir, 'repo')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

// The decorators must not break the contract either.
runBackendConformance(
  'retry(limit(fault(mem)))',
  async () => ({ backend: new RetryBackend(new LimitBackend(new FaultBackend(new MemoryBackend()), { concurrency: 2 })) }),
  { bigSize: 1024 * 1024 },
);

const s3 = inject('s3') ?? null;
const skipReason = inject('s3SkipReason') ?? 'test/s3/global-setup.ts is not in vitest.config.ts globalSetup';

describe.skipIf(s3 === null)('S3 (Ceph RGW)', () => {
  if (s3 === null) {
    it.skip(`S3 conformance: ${skipReason}`, () => {});
    return;
  }
  const bucket = uniqueBucket('clawback-conformance');
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const admin = new S3Backend({ endpoint: s3.endpoint, bucket, credentials });

  beforeAll(async () => {
    await admin.create();
  });
  afterAll(async () => {
    await admin.close();
  });

  // The production stack: RetryBackend(LimitBackend(S3Backend)), each test under a fresh prefix.
  runBackendConformance(
    's3 via openBackend',
    async () => ({
      backend: await openBackend(`s3:${s3.endpoint}/${bucket}/t-${randomBytes(6).toString('hex')}`, {
        env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region },
      }),
    }),
    { rangeRuns: 30, timeout: 120_000 },
  );
});
