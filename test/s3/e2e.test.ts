/**
 * End to end through the CLI (in-process) against the real Ceph RGW of this test run
 * (`inject('s3')`): init an S3 repository, snapshot a fixture tree into it, restore it
 * byte-exact, verify --read-data, forget + gc, and copy S3 → local → S3 — once into an S3
 * repository that chunks differently (re-chunked) and once into one that shares the
 * chunking (blobs copied as they are) — restoring from each and checking that copying
 * again, directly or through the other path, adds nothing — and gc aborting the multipart
 * uploads a crash left behind.
 */
import { randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { chmod, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openBackend } from '../../src/backend/location.js';
import { acquireLock } from '../../src/repository/lock.js';
import { openRepository } from '../../src/repository/repository.js';
import { cli, type CliResult } from '../helpers/cli.js';
import { snapshotFs, type FsEntry } from '../helpers/compare.js';
import { makeTmp } from '../helpers/tmp.js';
import { uniqueBucket } from './rgw.js';

const s3 = inject('s3') ?? null;
const skipReason = inject('s3SkipReason') ?? 'test/s3/global-setup.ts is not in vitest.config.ts globalSetup';

/** The summary line of a `--json` run. */
function summary(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe.skipIf(s3 === null)('S3 end to end through the CLI (Ceph RGW)', () => {
  if (s3 === null) {
    it.skip(`S3 end to end: ${skipReason}`, () => {});
    return;
  }
  const bucket = uniqueBucket('clawback-e2e');
  const repoA = `s3:${s3.endpoint}/${bucket}/hosts/a`;
  const repoB = `s3:${s3.endpoint}/${bucket}/hosts/b`;
  const repoC = `s3:${s3.endpoint}/${bucket}/hosts/c`;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let repoL: string;
  let env: Record<string, string>;
  let v1: FsEntry[];
  let v2: FsEntry[];

  /** Runs the CLI; fails the test with its output unless it exits `want`. */
  const run = async (args: string[], want = 0, extra: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(['--cache-dir', join(tmp.dir, 'cache'), ...args], { ...env, ...extra }, tmp.dir);
    if (r.code !== want) throw new Error(`clawback ${args.join(' ')} exited ${r.code}, wanted ${want}\n${r.stderr}\n${r.stdout}`);
    return r;
  };
  const restoreEquals = async (repo: string, selector: string, want: FsEntry[], extra: Record<string, string> = {}): Promise<void> => {
    const target = join(tmp.dir, `restore-${randomBytes(4).toString('hex')}`);
    await run(['--repo', repo, 'snapshot', 'restore', selector, '--target', target], 0, extra);
    expect(await snapshotFs(target)).toEqual(want);
    await rm(target, { recursive: true, force: true });
  };

  beforeAll(async () => {
    tmp = await makeTmp('clawback-s3-e2e-');
    src = join(tmp.dir, 'src');
    repoL = join(tmp.dir, 'local-repo');
    env = {
      HOME: join(tmp.dir, 'home'),
      XDG_CONFIG_HOME: join(tmp.dir, 'home', '.config'),
      XDG_CACHE_HOME: join(tmp.dir, 'home', '.cache'),
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      CLAWBACK_PASSWORD: 'e2e password',
      CLAWBACK_TEST_SCRYPT_N: '1024',
    };
    await mkdir(env['HOME']!, { recursive: true });
    // The fixture: incompressible and compressible files, duplicates, an empty file and
    // dir, a symlink, an executable, a non-ASCII name, fixed mtimes.
    await mkdir(join(src, 'workspace', 'deep', 'er', 'est'), { recursive: true });
    await mkdir(join(src, 'empty-dir'));
    await writeFile(join(src, 'big.bin'), randomBytes(3 * 1024 * 1024 + 17));
    const dup = randomBytes(600_000);
    await writeFile(join(src, 'dup-1.bin'), dup);
    await writeFile(join(src, 'workspace', 'dup-2.bin'), dup);
    await writeFile(join(src, 'workspace', 'notes.md'), '# notes\n'.repeat(20_000));
    await writeFile(join(src, 'workspace', 'deep', 'er', 'est', 'leaf.txt'), 'leaf\n');
    await writeFile(join(src, 'empty.txt'), '');
    await writeFile(join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(src, 'run.sh'), 0o755);
    await writeFile(join(src, 'workspace', 'naïve – ünïcode.txt'), 'ü\n');
    await symlink('workspace/notes.md', join(src, 'link-to-notes'));
    await utimes(join(src, 'workspace', 'notes.md'), new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
  });

  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('init refuses an unencrypted S3 repository and creates an encrypted one', async () => {
    const r = await run(['--repo', repoA, 'init', '--no-password'], 2);
    expect(r.stderr).toMatch(/S3 repositories are always encrypted/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // Nothing was created (the bucket does not even exist yet).
    expect((await run(['--repo', repoA, 'snapshot', 'list'], 10)).stderr).toContain(`bucket ${bucket} not found at ${s3.endpoint}`);
    const init = summary(await run(['--json', '--repo', repoA, 'init', '--pack-size', '1']));
    expect(init).toMatchObject({ message_type: 'initialized', repository: repoA, encrypted: true });
    // Without a password the repository cannot be opened.
    const { CLAWBACK_PASSWORD: _pw, ...noPassword } = env;
    void _pw;
    const denied = await cli(['--cache-dir', join(tmp.dir, 'cache'), '--repo', repoA, 'snapshot', 'list'], noPassword, tmp.dir);
    expect(denied.code).toBe(12);
  });

  it('snapshots into S3, restores byte-exact, verifies --read-data', async () => {
    v1 = await snapshotFs(src);
    const first = summary(await run(['--json', '--repo', repoA, 'snapshot', 'create', src, '--name', 'first']));
    expect(first['files']).toBe(8);
    // v2: big.bin replaced (its old chunks become garbage once v1 is forgotten), a new file.
    await writeFile(join(src, 'big.bin'), randomBytes(1024 * 1024));
    await writeFile(join(src, 'workspace', 'new.txt'), 'new\n');
    v2 = await snapshotFs(src);
    await run(['--repo', repoA, 'snapshot', 'create', src, '--name', 'second']);
    const list = JSON.parse((await run(['--json', '--repo', repoA, 'snapshot', 'list'])).stdout) as { name: string }[];
    expect(list.map((s) => s.name)).toEqual(['first', 'second']);

    await restoreEquals(repoA, 'latest', v2);
    await restoreEquals(repoA, 'first', v1);
    const verify = summary(await run(['--json', '--repo', repoA, 'verify', '--read-data']));
    expect(verify).toMatchObject({ clean: true, errors: 0 });
  });

  it('copies S3 → local (shared chunking: blobs as they are); twice adds nothing', async () => {
    const from = { CLAWBACK_FROM_PASSWORD: 'e2e password' };
    await run(['--repo', repoL, 'init', '--copy-chunker-params-from', repoA], 0, { ...from, CLAWBACK_PASSWORD: 'local password' });
    const pw = { CLAWBACK_FROM_PASSWORD: 'e2e password', CLAWBACK_TO_PASSWORD: 'local password' };
    const once = summary(await run(['--json', 'copy', '--from', repoA, '--to', repoL], 0, pw));
    expect(once).toMatchObject({ rechunked: false });
    expect(once['copied']).toHaveLength(2);
    expect(once['blobsAdded'] as number).toBeGreaterThan(0);
    const twice = summary(await run(['--json', 'copy', '--from', repoA, '--to', repoL], 0, pw));
    expect(twice).toMatchObject({ copied: [], blobsAdded: 0, bytesAdded: 0 });
    expect(twice['skipped']).toHaveLength(2);
    const local = { CLAWBACK_PASSWORD: 'local password' };
    await restoreEquals(repoL, 'latest', v2, local);
    await restoreEquals(repoL, 'first', v1, local);
    expect(summary(await run(['--json', '--repo', repoL, 'verify', '--read-data'], 0, local))).toMatchObject({ clean: true });
  });

  it('copies local → S3 with other chunking (re-chunked); again, or from the original, adds nothing', async () => {
    await run(['--repo', repoB, 'init']);
    const pw = { CLAWBACK_FROM_PASSWORD: 'local password', CLAWBACK_TO_PASSWORD: 'e2e password' };
    const once = summary(await run(['--json', 'copy', '--from', repoL, '--to', repoB], 0, pw));
    expect(once).toMatchObject({ rechunked: true });
    expect(once['copied']).toHaveLength(2);
    // Only unique content travels: big.bin ×2 versions, one copy of the duplicate, the rest.
    const logical = 3 * 1024 * 1024 + 1024 * 1024 + 600_000;
    expect(once['bytesAdded'] as number).toBeGreaterThan(logical);
    expect(once['bytesAdded'] as number).toBeLessThan(logical + 400_000);
    const again = summary(await run(['--json', 'copy', '--from', repoL, '--to', repoB], 0, pw));
    expect(again).toMatchObject({ copied: [], blobsAdded: 0 });
    // The snapshots came to B from A through L: copying A → B directly finds them.
    const direct = summary(await run(['--json', 'copy', '--from', repoA, '--to', repoB], 0, { CLAWBACK_FROM_PASSWORD: 'e2e password', CLAWBACK_TO_PASSWORD: 'e2e password' }));
    expect(direct).toMatchObject({ copied: [], blobsAdded: 0 });
    expect(direct['skipped']).toHaveLength(2);
    await restoreEquals(repoB, 'latest', v2);
    await restoreEquals(repoB, 'first', v1);
    expect(summary(await run(['--json', '--repo', repoB, 'verify', '--read-data']))).toMatchObject({ clean: true });
  });

  it('copies local → S3 with shared chunking: blobs as they are; the selected snapshot only', async () => {
    await run(['--repo', repoC, 'init', '--copy-chunker-params-from', repoL], 0, { CLAWBACK_FROM_PASSWORD: 'local password' });
    const pw = { CLAWBACK_FROM_PASSWORD: 'local password', CLAWBACK_TO_PASSWORD: 'e2e password' };
    const latest = summary(await run(['--json', 'copy', '--from', repoL, '--to', repoC, 'latest'], 0, pw));
    expect(latest).toMatchObject({ rechunked: false });
    expect(latest['copied']).toHaveLength(1);
    const rest = summary(await run(['--json', 'copy', '--from', repoL, '--to', repoC], 0, pw));
    expect(rest['copied']).toHaveLength(1);
    expect(rest['skipped']).toHaveLength(1);
    // Only v1's big.bin was missing.
    expect(rest['bytesAdded'] as number).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(rest['bytesAdded'] as number).toBeLessThan(3 * 1024 * 1024 + 200_000);
    const direct = summary(await run(['--json', 'copy', '--from', repoA, '--to', repoC], 0, { CLAWBACK_FROM_PASSWORD: 'e2e password', CLAWBACK_TO_PASSWORD: 'e2e password' }));
    expect(direct).toMatchObject({ copied: [], blobsAdded: 0 });
    await restoreEquals(repoC, 'first', v1);
    await restoreEquals(repoC, 'latest', v2);
  });

  it('forget + gc in S3 frees the data of forgotten snapshots; the rest still verifies and restores', async () => {
    await run(['--repo', repoA, 'forget', '--keep-last', '1']);
    const gc = summary(await run(['--json', '--repo', repoA, 'gc']));
    const result = gc['result'] as { deletedPacks: number; repackedPacks: number; deletedBytes: number };
    expect(result.deletedPacks + result.repackedPacks).toBeGreaterThan(0);
    expect(result.deletedBytes).toBeGreaterThan(2 * 1024 * 1024);
    const again = summary(await run(['--json', '--repo', repoA, 'gc']));
    expect((again['result'] as { deletedPacks: number }).deletedPacks).toBe(0);
    expect(summary(await run(['--json', '--repo', repoA, 'verify', '--read-data']))).toMatchObject({ clean: true, errors: 0 });
    await restoreEquals(repoA, 'latest', v2);
    expect((await run(['--repo', repoA, 'snapshot', 'restore', 'first', '--target', join(tmp.dir, 'gone')], 1)).stderr).toMatch(/no snapshot matches "first"/);
  });

  it('gc aborts the multipart uploads a crash left unfinished (their parts are billed); --dry-run only reports them', async () => {
    const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED' });
    const pending = async (): Promise<string[]> => ((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'hosts/' }))).Uploads ?? []).map((u) => u.Key ?? '').sort();
    try {
      const name = randomBytes(32).toString('hex');
      const key = `hosts/a/data/${name.slice(0, 2)}/${name}`;
      const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await raw.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(5 * 1024 * 1024) }));
      // Another repository's upload in the same bucket is not this gc's business.
      await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `hosts/b/data/${name.slice(0, 2)}/${name}` }));
      const dry = summary(await run(['--json', '--repo', repoA, 'gc', '--dry-run']));
      expect((dry['plan'] as { totals: { tempFiles: number; tempBytes: number } }).totals).toMatchObject({ tempFiles: 1, tempBytes: 5 * 1024 * 1024 });
      expect(await pending()).toEqual([key, `hosts/b/data/${name.slice(0, 2)}/${name}`].sort());
      const gc = summary(await run(['--json', '--repo', repoA, 'gc']));
      expect(gc['result']).toMatchObject({ removedTempFiles: 1, removedTempBytes: 5 * 1024 * 1024 });
      expect(await pending()).toEqual([`hosts/b/data/${name.slice(0, 2)}/${name}`]);
      expect(summary(await run(['--json', '--repo', repoA, 'verify']))).toMatchObject({ clean: true, errors: 0 });
    } finally {
      raw.destroy();
    }
  });

  it('copy holds shared locks: an exclusive lock on either side makes it fail with exit 11', async () => {
    // `gc` takes the exclusive lock; simulate one held by a live process with the library.
    for (const [locked, password] of [
      [repoB, 'e2e password'],
      [repoL, 'local password'],
    ] as const) {
      const backend = await openBackend(locked, { env });
      const repo = await openRepository(backend, { password, cacheDir: join(tmp.dir, 'lock-cache') });
      const lock = await acquireLock(repo, { exclusive: true, refreshEvery: 0 });
      try {
        const r = await run(['copy', '--from', repoL, '--to', repoB], 11, { CLAWBACK_FROM_PASSWORD: 'local password', CLAWBACK_TO_PASSWORD: 'e2e password' });
        expect(r.stderr).toMatch(/locked/);
      } finally {
        await lock.release();
        await repo.close();
        await backend.close();
      }
    }
    // Released: copy runs (and has nothing to do) and leaves no lock behind.
    await run(['copy', '--from', repoL, '--to', repoB], 0, { CLAWBACK_FROM_PASSWORD: 'local password', CLAWBACK_TO_PASSWORD: 'e2e password' });
    for (const [repo, password] of [
      [repoB, 'e2e password'],
      [repoL, 'local password'],
    ] as const) {
      const backend = await openBackend(repo, { env });
      const r = await openRepository(backend, { password, cacheDir: join(tmp.dir, 'lock-cache') });
      expect(await r.listFiles('locks')).toEqual([]);
      await r.close();
      await backend.close();
    }
  });
});
