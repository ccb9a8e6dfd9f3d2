import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClawbackError } from '../../src/errors.js';
import { runJob, type JobSteps, type SnapshotOutcome } from '../../src/scheduler/run-job.js';
import { logFile, readJobState, stateFile, writeJobState, emptyState } from '../../src/scheduler/state.js';
import { useTmp } from '../helpers/tmp.js';
import { FakeClock } from './fake-clock.js';

const tmp = useTmp('clawback-runjob-');

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const snap: SnapshotOutcome = { id: 'ab'.repeat(32), source: 'paths:/x', bytesAdded: 10, size: 100, files: 3 };

function steps(o: { fail?: Error; removed?: number; calls?: string[]; gc?: boolean } = {}): JobSteps {
  const calls = o.calls ?? [];
  const s: JobSteps = {
    async snapshot() {
      calls.push('snapshot');
      if (o.fail) throw o.fail;
      return snap;
    },
    async retention() {
      calls.push('retention');
      return o.removed ?? 0;
    },
  };
  if (o.gc !== false) {
    s.gc = async () => {
      calls.push('gc');
    };
  }
  return s;
}

/** A notify command that appends one line per call with the env vars it saw. */
function recorder(dir: string): { command: string; file: string; lines: () => Promise<string[]> } {
  const file = join(dir, 'notified.txt');
  return {
    command: `printf '%s|%s|%s|%s\\n' "$CLAWBACK_JOB" "$CLAWBACK_ERROR" "$CLAWBACK_LOG" "$CLAWBACK_FAILURES" >> '${file}'`,
    file,
    lines: async () => {
      try {
        return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
      } catch {
        return [];
      }
    },
  };
}

describe('runJob', () => {
  it('records a successful run in the state file and the log, and does not notify', async () => {
    const clock = new FakeClock(T0);
    const rec = recorder(tmp.dir);
    const calls: string[] = [];
    const state = await runJob({ job: 'j', stateDir: tmp.dir, steps: steps({ calls, removed: 2 }), gc: { threshold: 10 }, notify: { command: rec.command }, env: { PATH: process.env['PATH'] }, clock, signal: new AbortController().signal });
    expect(state).toMatchObject({ result: 'success', snapshot: snap.id, bytesAdded: 10, size: 100, files: 3, removed: 2, removedSinceGc: 2, consecutiveFailures: 0, lastStart: new Date(T0).toISOString(), lastSuccess: new Date(T0).toISOString() });
    expect(calls).toEqual(['snapshot', 'retention']);
    expect(await readJobState(tmp.dir, 'j')).toEqual(state);
    expect(await rec.lines()).toEqual([]);
    const log = await readFile(logFile(tmp.dir, 'j'), 'utf8');
    expect(log).toMatch(/run started/);
    expect(log).toMatch(/run succeeded/);
    // Atomic writes leave no temp files behind.
    expect(await readdir(join(tmp.dir, 'jobs'))).toEqual(['j.json']);
  });

  it('notifies once per failure with job, error and log path; never runs retention after a failed snapshot', async () => {
    const clock = new FakeClock(T0);
    const rec = recorder(tmp.dir);
    const env = { PATH: process.env['PATH'] };
    const failing = steps({ fail: new ClawbackError('CAPTURE', 'snapshot failed: /x vanished') });
    const calls: string[] = [];
    const s1 = await runJob({ job: 'j', stateDir: tmp.dir, steps: { ...failing, retention: async () => (calls.push('retention'), 0) }, notify: { command: rec.command }, env, clock, signal: new AbortController().signal });
    expect(s1).toMatchObject({ result: 'failure', error: 'snapshot failed: /x vanished', consecutiveFailures: 1 });
    expect(calls).toEqual([]);
    expect(await rec.lines()).toEqual([`j|snapshot failed: /x vanished|${logFile(tmp.dir, 'j')}|1`]);
    await clock.advance(3_600_000);
    await runJob({ job: 'j', stateDir: tmp.dir, steps: failing, notify: { command: rec.command }, env, clock, signal: new AbortController().signal });
    expect(await rec.lines()).toHaveLength(2);
    expect((await rec.lines())[1]).toMatch(/\|2$/);
    // A success resets the count and sends nothing.
    await runJob({ job: 'j', stateDir: tmp.dir, steps: steps(), notify: { command: rec.command }, env, clock, signal: new AbortController().signal });
    expect(await rec.lines()).toHaveLength(2);
    expect((await readJobState(tmp.dir, 'j'))?.consecutiveFailures).toBe(0);
    expect(await readFile(logFile(tmp.dir, 'j'), 'utf8')).toMatch(/FAILED: snapshot failed/);
  });

  it('an aborted run is recorded as aborted and does not notify', async () => {
    const rec = recorder(tmp.dir);
    const ctrl = new AbortController();
    const s = await runJob({
      job: 'j',
      stateDir: tmp.dir,
      steps: {
        snapshot: async () => {
          ctrl.abort();
          throw new ClawbackError('ABORTED', 'operation interrupted');
        },
      },
      notify: { command: rec.command },
      env: { PATH: process.env['PATH'] },
      clock: new FakeClock(T0),
      signal: ctrl.signal,
    });
    expect(s.result).toBe('aborted');
    expect(s.consecutiveFailures).toBe(0);
    expect(await rec.lines()).toEqual([]);
  });

  it('runs gc once retention has removed `threshold` snapshots since the last gc', async () => {
    const clock = new FakeClock(T0);
    const calls: string[] = [];
    const run = () => runJob({ job: 'j', stateDir: tmp.dir, steps: steps({ calls, removed: 2 }), gc: { threshold: 5 }, env: {}, clock, signal: new AbortController().signal });
    await run(); // 2
    await run(); // 4
    expect(calls.filter((c) => c === 'gc')).toHaveLength(0);
    const s = await run(); // 6 ≥ 5 → gc
    expect(calls.filter((c) => c === 'gc')).toHaveLength(1);
    expect(s.removedSinceGc).toBe(0);
    expect(s.lastGc).toBeDefined();
    await run();
    expect(calls.filter((c) => c === 'gc')).toHaveLength(1);
  });

  it('a retention failure fails the run (and notifies) but keeps the snapshot id', async () => {
    const rec = recorder(tmp.dir);
    const s = await runJob({
      job: 'j',
      stateDir: tmp.dir,
      steps: { snapshot: async () => snap, retention: async () => { throw new ClawbackError('LOCKED', 'repository is locked'); } },
      notify: { command: rec.command },
      env: { PATH: process.env['PATH'] },
      clock: new FakeClock(T0),
      signal: new AbortController().signal,
    });
    expect(s).toMatchObject({ result: 'failure', snapshot: snap.id, error: 'retention failed: repository is locked' });
    expect(await rec.lines()).toHaveLength(1);
  });

  it('starts afresh from an unreadable state file', async () => {
    await writeJobState(tmp.dir, emptyState('j'));
    await writeFile(stateFile(tmp.dir, 'j'), '{torn');
    const s = await runJob({ job: 'j', stateDir: tmp.dir, steps: steps(), env: {}, clock: new FakeClock(T0), signal: new AbortController().signal });
    expect(s.result).toBe('success');
    await expect(readJobState(tmp.dir, 'j')).resolves.toMatchObject({ result: 'success' });
  });
});

describe('notify URL', () => {
  let server: Server;
  let received: { method: string; type: string; body: Record<string, unknown> }[];
  let url: string;
  beforeEach(async () => {
    received = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ method: req.method ?? '', type: req.headers['content-type'] ?? '', body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('POSTs JSON once per failure and nothing on success', async () => {
    const clock = new FakeClock(T0);
    await runJob({ job: 'j', stateDir: tmp.dir, steps: steps(), notify: { url }, env: {}, clock, signal: new AbortController().signal });
    expect(received).toEqual([]);
    await runJob({ job: 'j', stateDir: tmp.dir, steps: steps({ fail: new Error('bucket missing') }), notify: { url }, env: {}, clock, signal: new AbortController().signal });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', type: 'application/json', body: { event: 'backup_failed', job: 'j', error: 'bucket missing', log: logFile(tmp.dir, 'j'), failures: 1 } });
  });

  it('a notification that fails is logged, not thrown', async () => {
    const s = await runJob({ job: 'j', stateDir: tmp.dir, steps: steps({ fail: new Error('x') }), notify: { url: 'http://127.0.0.1:1/none', command: 'exit 3' }, env: { PATH: process.env['PATH'] }, clock: new FakeClock(T0), signal: new AbortController().signal });
    expect(s.result).toBe('failure');
    const log = await readFile(logFile(tmp.dir, 'j'), 'utf8');
    expect(log).toMatch(/notify command exited with 3/);
    expect(log).toMatch(/notify URL http:\/\/127\.0\.0\.1:1\/none failed/);
  });
});
