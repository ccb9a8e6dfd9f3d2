import { describe, expect, it } from 'vitest';
import type { Handle } from '../../src/backend/backend.js';
import { FaultBackend } from '../../src/backend/fault.js';
import { LimitBackend, Semaphore } from '../../src/backend/limit.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { randomData, randomName } from './conformance.js';

/** Lets pending promise callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

describe('Semaphore', () => {
  it('serves waiters first come, first served', async () => {
    const s = new Semaphore(2);
    const order: number[] = [];
    await s.acquire();
    await s.acquire();
    const waits = [1, 2, 3].map((i) => s.acquire().then(() => order.push(i)));
    expect(s.waiting).toBe(3);
    s.release();
    s.release();
    s.release();
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
    expect(s.active).toBe(2);
    expect(() => new Semaphore(0)).toThrow(/invalid concurrency/);
  });
});

describe('LimitBackend', () => {
  it('keeps at most N calls in flight and releases in FIFO order', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const lb = new LimitBackend(fb, { concurrency: 2 });
    const handles: Handle[] = Array.from({ length: 5 }, () => ({ type: 'data', name: randomName() }));
    for (const x of handles) await fb.inner.save(x, randomData(4));
    fb.hang('stat', 1).hang('stat', 2).hang('stat', 3);
    const done: number[] = [];
    const ps = handles.map((x, i) => lb.stat(x).then(() => done.push(i)));
    await fb.waitForHang();
    await settle();
    expect(fb.calls.stat).toBe(2);
    expect(lb.active).toBe(2);
    expect(lb.waiting).toBe(3);
    fb.release(); // calls 1 and 2 finish; 3 (hangs) and 4 start; 4 finishes, 5 runs
    await settle();
    expect(fb.calls.stat).toBe(5);
    expect(done).toEqual([0, 1, 3, 4]);
    expect(fb.hanging).toBe(1);
    expect(lb.active).toBe(1);
    fb.release();
    await Promise.all(ps);
    expect(done).toEqual([0, 1, 3, 4, 2]);
    expect(lb.active).toBe(0);
  });

  it('list holds a slot per step only: loading inside the loop does not deadlock', async () => {
    const mem = new MemoryBackend();
    const lb = new LimitBackend(mem, { concurrency: 1 });
    for (let i = 0; i < 3; i++) await mem.save({ type: 'keys', name: randomName() }, randomData(2));
    let n = 0;
    for await (const f of lb.list('keys')) {
      await lb.load({ type: 'keys', name: f.name });
      n++;
    }
    expect(n).toBe(3);
    // breaking out early frees the slot
    for await (const _ of lb.list('keys')) break;
    expect(lb.active).toBe(0);
  });

  it('frees the slot when a call fails', async () => {
    const lb = new LimitBackend(new MemoryBackend(), { concurrency: 1 });
    await expect(lb.load({ type: 'data', name: randomName() })).rejects.toThrow(/not found/);
    expect(lb.active).toBe(0);
    await lb.save({ type: 'locks', name: randomName() }, randomData(1));
  });
});
