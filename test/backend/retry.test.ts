import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Handle } from '../../src/backend/backend.js';
import { FaultBackend, noSpaceError, transientError } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { RetryBackend, defaultSleep } from '../../src/backend/retry.js';
import type { RetryOptions } from '../../src/backend/retry.js';
import { ClawbackError } from '../../src/errors.js';
import { expectBytes, listAll, randomData, randomName } from './conformance.js';
import { rejection } from '../helpers/rejection.js';

function setup(options: RetryOptions = {}): { fb: FaultBackend; rb: RetryBackend; sleeps: number[] } {
  const sleeps: number[] = [];
  const fb = new FaultBackend(new MemoryBackend());
  const rb = new RetryBackend(fb, {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return { fb, rb, sleeps };
}

const h = (): Handle => ({ type: 'data', name: randomName() });

describe('RetryBackend', () => {
  it('retries transient failures of every operation until they succeed', async () => {
    const { fb, rb, sleeps } = setup();
    const a = h();
    const data = randomData(10);
    fb.failNth('save', 1, transientError(), { times: 2 });
    await rb.save(a, data);
    expect(fb.calls.save).toBe(3);
    fb.failNth('load', 1, transientError());
    expectBytes(await rb.load(a), data);
    expect(fb.calls.load).toBe(2);
    fb.failNth('stat', 1, transientError());
    expect((await rb.stat(a)).size).toBe(10);
    fb.failNth('remove', 1, transientError(), { times: 5 });
    await rb.remove(a);
    expect(fb.calls.remove).toBe(6);
    expect(sleeps).toHaveLength(2 + 1 + 1 + 5);
  });

  it('gives up after `attempts` and throws the last error', async () => {
    const { fb, rb, sleeps } = setup();
    const last = transientError('the last one');
    fb.failNth('load', 1, transientError('early'), { times: 5 });
    fb.failNth('load', 6, last);
    const e = await rejection(rb.load(h()));
    expect(e).toBe(last);
    expect(fb.calls.load).toBe(6);
    expect(sleeps).toHaveLength(5);
  });

  it('never retries permanent errors', async () => {
    const { fb, rb, sleeps } = setup();
    const full = noSpaceError('/x');
    fb.failNth('save', 1, full);
    expect(await rejection(rb.save(h(), randomData(1)))).toBe(full);
    expect(fb.calls.save).toBe(1);
    // 4xx-like: BLOB_NOT_FOUND and plain BACKEND
    expect((await rejection(rb.load(h()))).code).toBe('BLOB_NOT_FOUND');
    expect(fb.calls.load).toBe(1);
    fb.failNth('stat', 1, new ClawbackError('BACKEND', 'access denied'));
    expect((await rejection(rb.stat(h()))).message).toBe('access denied');
    expect(fb.calls.stat).toBe(1);
    // a non-ClawbackError (a bug) is not retried either
    fb.failNth('remove', 1, new TypeError('bug'));
    await expect(rb.remove(h())).rejects.toThrow(TypeError);
    expect(sleeps).toEqual([]);
  });

  it('an explicitly retryable error of another code is retried', async () => {
    const { fb, rb } = setup();
    fb.failNth('stat', 1, new ClawbackError('BACKEND', 'flaky', { retryable: true }));
    const a = h();
    await rb.save(a, randomData(1));
    expect((await rb.stat(a)).size).toBe(1);
  });

  it('ambiguous save: stored by the failed attempt, same bytes → success', async () => {
    const { fb, rb } = setup();
    const a = h();
    const data = randomData(100);
    fb.failNth('save', 1, transientError('reply lost'), { after: true });
    await rb.save(a, data);
    expect(fb.calls.save).toBe(2);
    expect(fb.calls.load).toBe(1); // the comparison
    expectBytes(await fb.inner.load(a), data);
  });

  it('ambiguous save: someone else stored other bytes → ALREADY_EXISTS', async () => {
    const inner = new MemoryBackend();
    const fb = new FaultBackend(inner);
    const a = h();
    const theirs = randomData(100);
    const rb = new RetryBackend(fb, {
      // While we back off, another writer stores different bytes under the name.
      sleep: () => inner.save(a, theirs),
    });
    fb.failNth('save', 1, transientError());
    const e = await rejection(rb.save(a, randomData(100)));
    expect(e.code).toBe('ALREADY_EXISTS');
    expectBytes(await inner.load(a), theirs);
  });

  it('ambiguous save: different length short-circuits, a load failure rethrows ALREADY_EXISTS', async () => {
    const { fb, rb } = setup();
    const a = h();
    fb.failNth('save', 1, transientError(), { after: true });
    fb.failNth('load', 1, noSpaceError());
    expect((await rejection(rb.save(a, randomData(5)))).code).toBe('ALREADY_EXISTS');
  });

  it('ALREADY_EXISTS on the first attempt is not ambiguous: no load, rethrown', async () => {
    const { fb, rb } = setup();
    const a = h();
    const data = randomData(10);
    await fb.inner.save(a, data);
    expect((await rejection(rb.save(a, data))).code).toBe('ALREADY_EXISTS');
    expect(fb.calls.load).toBe(0);
  });

  it('list: restarts after a transient failure and yields each name once', async () => {
    const { fb, rb } = setup();
    const names = Array.from({ length: 10 }, () => randomName());
    for (const n of names) await fb.inner.save({ type: 'index', name: n }, randomData(3));
    fb.failNth('list', 1, transientError(), { afterItems: 4 });
    fb.failNth('list', 2, transientError(), { afterItems: 7 });
    const got = await listAll(rb, 'index');
    expect(got.map((f) => f.name)).toEqual([...names].sort());
    expect(fb.calls.list).toBe(3);
  });

  it('list: a listing that keeps failing at the same place gives up', async () => {
    const { fb, rb, sleeps } = setup({ attempts: 3 });
    for (let i = 0; i < 5; i++) await fb.inner.save({ type: 'index', name: randomName() }, randomData(3));
    fb.failNth('list', 1, transientError('page 2 broken'), { afterItems: 2, times: 100 });
    const e = await rejection(listAll(rb, 'index'));
    expect(e.message).toBe('page 2 broken');
    expect(fb.calls.list).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('list: permanent errors are not retried', async () => {
    const { fb, rb } = setup();
    fb.failNth('list', 1, new ClawbackError('BACKEND', 'no bucket'));
    expect((await rejection(listAll(rb, 'keys'))).message).toBe('no bucket');
    expect(fb.calls.list).toBe(1);
  });

  it('backoff: full jitter below min(cap, base·2^(k-1))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const rb = new RetryBackend(new MemoryBackend(), { random: () => r });
        const d = rb.delayFor(attempt);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(5000, 100 * 2 ** (attempt - 1)));
      }),
    );
    const rb = new RetryBackend(new MemoryBackend(), { random: () => 0.5, baseMs: 10, capMs: 1000 });
    expect([1, 2, 3, 8, 20].map((k) => rb.delayFor(k))).toEqual([5, 10, 20, 500, 500]);
  });

  it('passes the delays to the sleep function, in order', async () => {
    const { fb, rb, sleeps } = setup({ random: () => 0.999, baseMs: 100, capMs: 5000 });
    fb.failNth('stat', 1, transientError(), { times: 5 });
    const events: number[] = [];
    const rb2 = new RetryBackend(fb, { random: () => 0.999, sleep: async () => {}, onRetry: (ev) => events.push(ev.attempt) });
    await expect(rb.stat(h())).rejects.toThrow();
    expect(sleeps).toEqual([99, 199, 399, 799, 1598]);
    fb.failNth('stat', 1, transientError(), { times: 2 });
    await expect(rb2.stat(h())).rejects.toThrow(); // BLOB_NOT_FOUND after 2 retries
    expect(events).toEqual([1, 2]);
  });

  it('stops when its signal aborts', async () => {
    const ac = new AbortController();
    const fb = new FaultBackend(new MemoryBackend());
    const rb = new RetryBackend(fb, {
      signal: ac.signal,
      sleep: async () => {
        ac.abort();
      },
    });
    fb.failNth('load', 1, transientError(), { times: 10 });
    expect((await rejection(rb.load(h()))).code).toBe('ABORTED');
    expect(fb.calls.load).toBe(1);
  });

  it('defaultSleep waits and honours abort', async () => {
    await defaultSleep(1);
    const ac = new AbortController();
    const p = defaultSleep(60_000, ac.signal);
    ac.abort();
    expect((await rejection(p)).code).toBe('ABORTED');
    expect((await rejection(defaultSleep(1, ac.signal))).code).toBe('ABORTED');
  });

  it('rejects bad options', () => {
    expect(() => new RetryBackend(new MemoryBackend(), { attempts: 0 })).toThrow(/invalid retry options/);
    expect(() => new RetryBackend(new MemoryBackend(), { baseMs: -1 })).toThrow(/invalid retry options/);
  });
});
