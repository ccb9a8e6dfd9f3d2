/**
 * JobSender's ordering of a shared file's tasks (file-jobs.ts), with a scripted pool that
 * answers tasks when the test says so (the real pool answers too fast to show an order):
 * segments after the first go as parts once the descriptor is known; the last segment, or
 * the cancel after a failure, waits until every part is answered; a waiting last segment
 * holds a copy of its blobs (the pack range they came from is reused).
 */
import { expect, it } from 'vitest';
import { JobSender, type LeafOutcome, type Segment } from '../../src/restorer/file-jobs.js';
import type { WriteTask } from '../../src/restorer/file-writer.js';
import type { OpenPool, OpenTask, TaskCallback } from '../../src/repository/open-pool.js';
import type { BlobLocation } from '../../src/index/cache.js';
import type { TreeNode } from '../../src/tree/node.js';
import { Budget } from '../../src/util/budget.js';

interface Call {
  worker: number;
  task: OpenTask;
  done: TaskCallback;
}

/** A pool of two workers that records tasks; the test answers them. Worker 1 is the least loaded. */
function scriptedPool(): { pool: OpenPool; calls: Call[] } {
  const calls: Call[] = [];
  const pool = { size: 2, leastLoaded: () => 1, submit: (worker: number, task: OpenTask, done: TaskCallback) => void calls.push({ worker, task, done }) };
  return { pool: pool as unknown as OpenPool, calls };
}

const MiB = 1 << 20;
const locs: BlobLocation[] = [0, 1, 2].map((k) => ({ id: `${k}`.repeat(64), type: 'data', packId: 'a'.repeat(64), offset: k * 4 * MiB, length: 4 * MiB, rawLength: 4 * MiB }));
const node: TreeNode = { name: 'big.bin', type: 'file', mode: 0o644, mtimeNs: 0n, size: 12 * MiB, content: locs.map((l) => l.id) };
const seg = (index: number, stored: Uint8Array): Segment => [{ loc: locs[index]!, stored, index }];

function setup(): { sender: JobSender; calls: Call[]; outcomes: LeafOutcome[]; job: ReturnType<JobSender['create']> } {
  const { pool, calls } = scriptedPool();
  const sender = new JobSender(pool, new Budget(64 * MiB), { keep: () => false, timeOf: () => 0, shareAbove: 8 * MiB });
  const outcomes: LeafOutcome[] = [];
  const job = sender.create(node, '/out', locs, () => 0, (o) => outcomes.push(o));
  return { sender, calls, outcomes, job };
}

/** {@link setup}, then the first segment sent and answered (descriptor 42) and the second sent (a part). */
function withPartOut(): ReturnType<typeof setup> {
  const s = setup();
  s.sender.send(s.job, seg(0, new Uint8Array(8)));
  s.calls[0]!.done(undefined, { fd: 42 });
  s.sender.send(s.job, seg(1, new Uint8Array(8)));
  return s;
}

it('sends a shared file as first segment, parts, then the last segment (a copy) once the parts are answered', () => {
  const { sender, calls, outcomes, job } = setup();
  expect(job.shared).toBe(true);
  sender.send(job, seg(0, new Uint8Array(8)));
  expect(calls).toHaveLength(1);
  expect(calls[0]!).toMatchObject({ worker: 0, task: { data: { op: 'file', first: true, last: false, shared: true } } });
  calls[0]!.done(undefined, { fd: 42 });
  sender.send(job, seg(1, new Uint8Array(8)));
  expect(calls[1]!).toMatchObject({ worker: 1, task: { data: { op: 'part', fd: 42, offsets: [4 * MiB] } } });
  // The last segment's bytes sit in a reused range buffer: overwritten after it is handed over.
  const range = new Uint8Array(8).fill(7);
  sender.send(job, seg(2, range));
  range.fill(0);
  expect(calls).toHaveLength(2); // held while the part is out
  calls[1]!.done(undefined, { written: 4 * MiB });
  expect(calls).toHaveLength(3);
  expect(calls[2]!).toMatchObject({ worker: 0, task: { data: { op: 'file', last: true, elsewhere: 4 * MiB } } });
  expect([...calls[2]!.task.blobs[0]!.stored]).toEqual(Array(8).fill(7));
  expect(outcomes).toEqual([]);
  calls[2]!.done(undefined, {});
  expect(outcomes).toEqual([{ ok: true, tmp: undefined }]);
});

it('after a failed part, cancels only once every part is answered, and reports the part error', () => {
  const { sender, calls, outcomes, job } = withPartOut();
  sender.send(job, seg(2, new Uint8Array(8))); // the last: held
  const damaged = new Error('damaged');
  calls[1]!.done(damaged);
  // The held last segment becomes a cancel, to the worker holding the descriptor.
  expect(calls).toHaveLength(3);
  expect(calls[2]!).toMatchObject({ worker: 0, task: { data: { op: 'cancel', fid: job.fid } } });
  expect(outcomes).toEqual([]);
  calls[2]!.done(undefined, {});
  expect(outcomes).toEqual([{ ok: false, error: damaged }]);
});

it('a failure on the main side while parts are out waits for them before the cancel', () => {
  const { sender, calls, outcomes, job } = withPartOut();
  const missing = new Error('pack missing');
  sender.fail(job, missing);
  expect(calls).toHaveLength(2); // no cancel while the part may still write through the descriptor
  calls[1]!.done(undefined, { written: 4 * MiB });
  expect((calls[2]!.task.data as WriteTask).op).toBe('cancel');
  calls[2]!.done(undefined, {});
  expect(outcomes).toEqual([{ ok: false, error: missing }]);
});

it('keeps small files and one-worker pools on one worker', () => {
  const { pool, calls } = scriptedPool();
  const sender = new JobSender(pool, new Budget(64 * MiB), { keep: () => false, timeOf: () => 0, shareAbove: 16 * MiB });
  const job = sender.create(node, '/out', locs, () => 0, () => undefined);
  expect(job.shared).toBe(false);
  sender.send(job, seg(0, new Uint8Array(8)));
  calls[0]!.done(undefined, {});
  sender.send(job, seg(1, new Uint8Array(8)));
  sender.send(job, seg(2, new Uint8Array(8)));
  expect(calls.map((c) => [c.worker, (c.task.data as WriteTask).op])).toEqual([[0, 'file'], [0, 'file'], [0, 'file']]);
  const single = new JobSender({ size: 1, leastLoaded: () => 0, submit: () => undefined } as unknown as OpenPool, new Budget(64 * MiB), { keep: () => false, timeOf: () => 0, shareAbove: 8 * MiB });
  expect(single.create(node, '/out', locs, () => 0, () => undefined).shared).toBe(false);
});
