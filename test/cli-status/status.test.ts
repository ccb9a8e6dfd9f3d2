import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyState, writeJobState, type JobState } from '../../src/scheduler/state.js';
import type { JobStatus } from '../../src/cli/commands/status.js';
import { cli } from '../helpers/cli.js';
import { makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string | undefined>;
let repo: string;
let src: string;
let stateDir: string;
let cfg: string;

const H = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

beforeEach(async () => {
  tmp = await makeTmp('clawback-status-');
  repo = join(tmp.dir, 'repo');
  src = join(tmp.dir, 'src');
  stateDir = join(tmp.dir, 'state');
  cfg = join(tmp.dir, 'config.json5');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'alpha');
  env = { HOME: join(tmp.dir, 'home'), PATH: process.env['PATH'], CLAWBACK_CACHE_DIR: join(tmp.dir, 'cache') };
  expect((await cli(['--repo', repo, 'init', '--no-password'], env)).code).toBe(0);
});
afterEach(async () => {
  await tmp.cleanup();
});

async function config(jobs: Record<string, unknown>[]): Promise<void> {
  await writeFile(cfg, JSON.stringify({ repository: repo, jobs: jobs.map((j) => ({ paths: [src], schedule: '6h', ...j })) }));
}

async function state(job: string, s: Partial<JobState>): Promise<void> {
  await writeJobState(stateDir, { ...emptyState(job), ...s });
}

async function status(...extra: string[]): Promise<{ code: number; doc: { healthy: boolean; jobs: JobStatus[] }; stderr: string }> {
  const r = await cli(['--config', cfg, '--json', 'status', '--state-dir', stateDir, ...extra], env);
  return { code: r.code, doc: JSON.parse(r.stdout) as { healthy: boolean; jobs: JobStatus[] }, stderr: r.stderr };
}

/** The `exit_error` JSON line a failed `--json` run ends its stderr with. */
function exitError(stderr: string): Record<string, unknown> {
  const last = stderr.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

const success = (startedAgo: number): Partial<JobState> => ({ lastStart: ago(startedAgo), lastEnd: ago(startedAgo - 1000), result: 'success', lastSuccess: ago(startedAgo), size: 5, bytesAdded: 5, snapshot: 'ab'.repeat(32) });

describe('clawback status', () => {
  it('exit 0 when every enabled job is healthy (disabled jobs do not count)', async () => {
    await config([{ name: 'a' }, { name: 'b', schedule: '0 3 * * *' }, { name: 'off', enabled: false }]);
    await state('a', success(H));
    await state('b', success(2 * H));
    const r = await status();
    expect(r.code).toBe(0);
    expect(r.doc.healthy).toBe(true);
    expect(r.doc.jobs.map((j) => [j.name, j.health])).toEqual([['a', 'healthy'], ['b', 'healthy'], ['off', 'disabled']]);
    const a = r.doc.jobs[0]!;
    expect(a).toMatchObject({
      enabled: true,
      schedule: '6h',
      lastRun: { result: 'success', size: 5, bytesAdded: 5 },
      storage: { location: repo, kind: 'local' },
      retention: 'maxBackups 7, maxAgeDays 30 (automatic snapshots only)',
      encryption: { configured: 'no password configured', encrypted: false },
      repository: { snapshots: 0, automatic: 0, manual: 0, latest: null },
    });
    expect(Date.parse(a.nextRun!)).toBeGreaterThan(Date.now() + 4 * H);
  });

  it('overdue, failing and never-run each make the exit code 1', async () => {
    await config([{ name: 'ok' }, { name: 'late' }, { name: 'broken' }, { name: 'new' }]);
    await state('ok', success(H));
    await state('late', success(13 * H)); // 6h schedule: two periods are 12h
    await state('broken', { lastStart: ago(H), lastEnd: ago(H - 5000), result: 'failure', error: 'no space left on device', lastSuccess: ago(7 * H), consecutiveFailures: 1 });
    const r = await status();
    expect(r.code).toBe(1);
    expect(r.doc.healthy).toBe(false);
    expect(Object.fromEntries(r.doc.jobs.map((j) => [j.name, j.health]))).toEqual({ ok: 'healthy', late: 'overdue', broken: 'failing', new: 'never-run' });
    expect(r.doc.jobs[2]?.reason).toMatch(/no space left on device/);
    expect(r.stderr).toMatch(/not every backup job is healthy: late overdue, broken failing, new never-run/);
    // Not a capture failure: its own error code, exit 1 (docs/CONFIG.md).
    expect(exitError(r.stderr)).toMatchObject({ code: 1, error: 'UNHEALTHY' });
    for (const only of ['late', 'broken', 'new']) expect((await status('--job', only)).code).toBe(1);
    expect((await status('--job', 'ok')).code).toBe(0);
  });

  it('reads the repository: the job snapshots by kind, and the encryption of the repository', async () => {
    await config([{ name: 'a' }]);
    expect((await cli(['--config', cfg, 'daemon', '--once', '--state-dir', stateDir], env)).code).toBe(0);
    expect((await cli(['--repo', repo, 'snapshot', 'create', src], env)).code).toBe(0);
    const r = await status();
    expect(r.code).toBe(0);
    expect(r.doc.jobs[0]?.repository).toMatchObject({ snapshots: 2, automatic: 1, manual: 1 });
    const offline = await status('--offline');
    expect(offline.doc.jobs[0]?.repository).toBeNull();
    expect(offline.doc.jobs[0]?.encryption.encrypted).toBeNull();
  });

  it('an unreachable repository is reported, and the verdict stays that of the state file', async () => {
    await writeFile(cfg, JSON.stringify({ jobs: [{ name: 'a', paths: [src], repository: join(tmp.dir, 'nope') }] }));
    await state('a', success(H));
    const r = await status();
    expect(r.code).toBe(0);
    expect(r.doc.jobs[0]?.repository).toMatchObject({ error: expect.stringMatching(/no repository at/) });
  });

  it('human output names each field; no jobs means exit 1', async () => {
    await config([{ name: 'a' }]);
    await state('a', success(H));
    const r = await cli(['--config', cfg, 'status', '--state-dir', stateDir], env);
    expect(r.code).toBe(0);
    for (const field of ['job a: HEALTHY', 'enabled', 'schedule', 'last run', 'next run', 'health', 'storage', 'retention', 'encryption', 'snapshots']) expect(r.stdout).toContain(field);
    const none = await cli(['--no-config', 'status', '--state-dir', stateDir], env);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/no backup jobs are configured/);
    const noneJson = await cli(['--no-config', '--json', 'status', '--state-dir', stateDir], env);
    expect(noneJson.code).toBe(1);
    expect(exitError(noneJson.stderr)).toMatchObject({ code: 1, error: 'UNHEALTHY', message: 'not every backup job is healthy: no enabled backup job' });
  });
});
