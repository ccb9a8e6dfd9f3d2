/**
 * vitest globalSetup: starts one Ceph RGW for the whole test run and hands its endpoint to
 * test files as `inject('s3')`; stops it at teardown.
 *
 * - `CLAWBACK_S3_ENDPOINT` set: use that server instead (with `CLAWBACK_S3_ACCESS_KEY`,
 *   `CLAWBACK_S3_SECRET_KEY`, defaults `testkey`/`testsecret`); nothing is started.
 * - No selected test file uses `inject('s3')`: nothing is started (saves ~12 s and
 *   ~300 MB when running unrelated tests).
 * - Ceph binaries missing: with `CI` set the run FAILS (CI must install the apt packages);
 *   otherwise S3 tests are skipped with a message saying how to install them.
 *
 * @module
 */

import { readFile } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { RGW_APT_PACKAGES, missingRgwPrograms, startRgw } from './rgw.js';
import type { S3TestEnv } from './rgw.js';

const MARKER = "inject('s3')";

/** True when some test file selected for this run reads the S3 server (best effort: true on doubt). */
async function selectedFilesNeedS3(project: TestProject): Promise<boolean> {
  try {
    // `filenamePattern` holds the CLI file filters; it is internal to vitest, so any
    // surprise falls back to "needed".
    const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern ?? [];
    const { testFiles } = await project.globTestFiles(filters);
    for (const f of testFiles) {
      if ((await readFile(f, 'utf8')).includes(MARKER)) return true;
    }
    return false;
  } catch {
    return true;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // The AWS SDK warns once per process on Node < 22; test workers inherit this.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const external = process.env['CLAWBACK_S3_ENDPOINT'];
  if (external !== undefined && external !== '') {
    const env: S3TestEnv = {
      endpoint: external,
      accessKeyId: process.env['CLAWBACK_S3_ACCESS_KEY'] ?? 'testkey',
      secretAccessKey: process.env['CLAWBACK_S3_SECRET_KEY'] ?? 'testsecret',
      region: process.env['CLAWBACK_S3_REGION'] ?? 'us-east-1',
    };
    project.provide('s3', env);
    project.provide('s3SkipReason', '');
    return undefined;
  }
  if (!(await selectedFilesNeedS3(project))) {
    project.provide('s3', null);
    project.provide('s3SkipReason', 'no selected test file needs S3');
    return undefined;
  }
  const missing = missingRgwPrograms();
  if (missing.length > 0) {
    const how = `install them with: apt-get install -y --no-install-recommends ${RGW_APT_PACKAGES}`;
    if (process.env['CI']) {
      throw new Error(`S3 tests need Ceph RGW, but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing on this CI machine: ${how}`);
    }
    const reason = `S3 tests SKIPPED: ${missing.join(', ')} not found; ${how} (or set CLAWBACK_S3_ENDPOINT)`;
    console.warn(`\n[clawback] ${reason}\n`);
    project.provide('s3', null);
    project.provide('s3SkipReason', reason);
    return undefined;
  }
  const rgw = await startRgw();
  let stopped = false;
  // If vitest dies without running the teardown (Ctrl-C, crash), do not leak the daemons.
  const onExit = (): void => {
    if (!stopped) rgw.stopSync();
  };
  process.once('exit', onExit);
  project.provide('s3', rgw.env);
  project.provide('s3SkipReason', '');
  return async () => {
    stopped = true;
    process.off('exit', onExit);
    await rgw.stop();
  };
}
