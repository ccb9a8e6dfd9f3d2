/**
 * Test helpers for a throwaway Ceph RGW (a real S3 server) on 127.0.0.1, started once per
 * test run by test/s3/global-setup.ts with the scripts next to this file.
 *
 * Test files read the server with `inject('s3')` (null when it is not running, with the
 * reason in `inject('s3SkipReason')`) and use a bucket of their own ({@link uniqueBucket}).
 *
 * @module
 */

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** How tests reach the S3 server. */
export interface S3TestEnv {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 server for this run, or null when S3 tests are skipped. */
    s3: S3TestEnv | null;
    /** Why `s3` is null. */
    s3SkipReason: string;
  }
}

/** Programs the start/stop scripts need. */
export const RGW_PROGRAMS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'ceph-authtool', 'monmaptool', 'uuidgen', 'curl'];

/** The apt packages that provide {@link RGW_PROGRAMS} (Debian/Ubuntu). */
export const RGW_APT_PACKAGES = 'ceph-mon ceph-osd radosgw uuid-runtime curl';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The programs of {@link RGW_PROGRAMS} not found on PATH. */
export function missingRgwPrograms(): string[] {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== '');
  return RGW_PROGRAMS.filter(
    (p) =>
      !dirs.some((d) => {
        try {
          accessSync(path.join(d, p), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

/** A TCP port on 127.0.0.1 that was free a moment ago (and is closed now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A bucket name unique to this run: `<tag>-<12 hex>` (tag lowercased, at most 40 chars). */
export function uniqueBucket(tag: string): string {
  return `${tag.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${randomBytes(6).toString('hex')}`;
}

/** A running RGW started by {@link startRgw}. */
export interface RunningRgw {
  env: S3TestEnv;
  /** State directory (removed by {@link RunningRgw.stop}). */
  dir: string;
  /** Stops the daemons and removes the state directory. */
  stop(): Promise<void>;
  /** The same, synchronously (for a process `exit` handler). */
  stopSync(): void;
}

function runScript(script: string, env: Record<string, string>, logFile: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logFile, 'a');
    // Wait for 'exit', not 'close': the Ceph daemons fork into the background and must
    // not keep this call waiting on inherited file descriptors.
    const child = spawn('bash', [path.join(HERE, script)], { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a single-node Ceph cluster with RGW on free ports of 127.0.0.1 (about 12 s),
 * with the access key `testkey` / `testsecret`. State lives in a fresh temp directory.
 *
 * @throws Error when the start script fails or times out (message includes its log tail).
 */
export async function startRgw(timeoutMs = 180_000): Promise<RunningRgw> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clawback-rgw-'));
  const root = path.join(dir, 'ceph');
  const log = path.join(dir, 'start.log');
  const port = await freePort();
  let monPort = await freePort();
  while (monPort === port) monPort = await freePort();
  const env = { ROOT: root, PORT: String(port), MON_PORT: String(monPort) };
  const stop = async (): Promise<void> => {
    await runScript('ceph-rgw-stop.sh', { ROOT: root }, path.join(dir, 'stop.log'), 60_000).catch(() => 1);
    await rm(dir, { recursive: true, force: true });
  };
  const code = await runScript('ceph-rgw-start.sh', env, log, timeoutMs).catch((err: unknown) => {
    throw new Error(`cannot run ceph-rgw-start.sh: ${String(err)}`);
  });
  const out = tail(log);
  if (code !== 0 || !out.includes('rgw ready')) {
    const logs = `${out}\n--- rgw log ---\n${tail(path.join(root, 'log', 'client.rgw.a.log'))}`;
    await stop();
    throw new Error(`Ceph RGW did not start (exit ${code}):\n${logs}`);
  }
  const stopSync = (): void => {
    spawnSync('bash', [path.join(HERE, 'ceph-rgw-stop.sh')], { env: { ...process.env, ROOT: root }, stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    env: { endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'testkey', secretAccessKey: 'testsecret', region: 'us-east-1' },
    dir,
    stop,
    stopSync,
  };
}
