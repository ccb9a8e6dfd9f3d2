import { describe, expect, it } from 'vitest';
import type { Handle } from '../../src/backend/backend.js';
import { FaultBackend, noSpaceError, transientError } from '../../src/backend/fault.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { expectBytes, listAll, randomData, randomName } from './conformance.js';
import { rejection } from '../helpers/rejection.js';

const h = (type: Handle['type'] = 'data'): Handle => ({ type, name: randomName() });

describe('FaultBackend', () => {
  it('passes through and counts calls', async () => {
    const fb = new FaultBackend(new MemoryBackend({ location: 'mem:x' }));
    expect(fb.location).toBe('mem:x');
    const a = h();
    await fb.create();
    await fb.save(a, randomData(3));
    await fb.load(a);
    await fb.load(a, { offset: 1 });
    await fb.stat(a);
    await listAll(fb, 'data');
    await fb.remove(a);
    expect(fb.calls).toEqual({ save: 1, load: 2, stat: 1, list: 1, remove: 1 });
  });

  it('failNth counts from now; the inner backend is not called', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const a = h();
    const b = h();
    await fb.save(a, randomData(1));
    fb.failNth('save', 2, noSpaceError('/p'));
    await fb.save(b, randomData(1));
    const c = h();
    const e = await rejection(fb.save(c, randomData(1)));
    expect(e.message).toMatch(/ENOSPC/);
    expect(e.code).toBe('BACKEND');
    await expect(fb.inner.stat(c)).rejects.toThrow(/not found/);
    await fb.save(c, randomData(1)); // only once
    expect(fb.calls.save).toBe(4);
  });

  it('failNth with times and with a plain Error', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const a = h();
    await fb.save(a, randomData(1));
    fb.failNth('stat', 1, new RangeError('plain'), { times: 3 });
    for (let i = 0; i < 3; i++) await expect(fb.stat(a)).rejects.toThrow(RangeError);
    expect((await fb.stat(a)).size).toBe(1);
    expect(() => fb.failNth('stat', 0, new Error('x'))).toThrow(/integers >= 1/);
  });

  it('failNth after: the operation takes effect, then the call fails', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const a = h();
    const data = randomData(8);
    fb.failNth('save', 1, transientError(), { after: true });
    expect((await rejection(fb.save(a, data))).code).toBe('BACKEND_TRANSIENT');
    expectBytes(await fb.load(a), data);
    fb.failNth('remove', 1, transientError(), { after: true });
    await expect(fb.remove(a)).rejects.toThrow(/injected/);
    await expect(fb.stat(a)).rejects.toThrow(/not found/);
  });

  it('list faults: at the start, or after some items', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    for (let i = 0; i < 5; i++) await fb.save(h('keys'), randomData(1));
    fb.failNth('list', 1, transientError());
    await expect(listAll(fb, 'keys')).rejects.toThrow(/injected/);
    fb.failNth('list', 1, transientError(), { afterItems: 3 });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const f of fb.list('keys')) seen.push(f.name);
      })(),
    ).rejects.toThrow(/injected/);
    expect(seen).toHaveLength(3);
    expect(await listAll(fb, 'keys')).toHaveLength(5);
  });

  it('flipBitOnLoad and truncateOnLoad change only matching loads, never the stored file', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const idx = h('index');
    const dat = h('data');
    const data = new Uint8Array(16).fill(0xaa);
    await fb.save(idx, data);
    await fb.save(dat, data);
    fb.flipBitOnLoad((x) => x.type === 'index');
    const got = await fb.load(idx);
    expect(got.length).toBe(16);
    const diff = got.reduce((n, v, i) => n + (v !== data[i] ? 1 : 0), 0);
    expect(diff).toBe(1);
    expect(got[8]).toBe(0xaa ^ 1); // the middle bit: bit 64 = byte 8, bit 0
    expectBytes(await fb.load(dat), data);
    expectBytes(await fb.inner.load(idx), data);

    fb.clearFaults();
    fb.flipBitOnLoad((x) => x.type === 'data', 3);
    expect((await fb.load(dat))[0]).toBe(0xaa ^ 8);
    expect((await fb.load(dat, { offset: 15 }))[0]).toBe(0xaa ^ 8); // bit 3 of the returned range

    fb.clearFaults();
    fb.truncateOnLoad((_x, range) => range === undefined, 5);
    expect((await fb.load(dat)).length).toBe(5);
    expect((await fb.load(dat, { offset: 0 })).length).toBe(16);
    expectBytes(await fb.inner.load(dat), data);
  });

  it('hang: the call waits until release, then proceeds', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const a = h();
    fb.hang('save', 1);
    let done = false;
    const p = fb.save(a, randomData(2)).then(() => {
      done = true;
    });
    await fb.waitForHang();
    expect(fb.hanging).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    await expect(fb.inner.stat(a)).rejects.toThrow(/not found/);
    fb.release();
    await p;
    expect(done).toBe(true);
    expect(fb.hanging).toBe(0);
    expect((await fb.stat(a)).size).toBe(2);
  });

  it('hang: an AbortSignal ends the call with ABORTED', async () => {
    const fb = new FaultBackend(new MemoryBackend());
    const ac = new AbortController();
    fb.hang('load', 1, { signal: ac.signal });
    const p = fb.load(h());
    await fb.waitForHang();
    ac.abort();
    expect((await rejection(p)).code).toBe('ABORTED');
    expect(fb.hanging).toBe(0);
    const ac2 = new AbortController();
    ac2.abort();
    fb.hang('stat', 1, { signal: ac2.signal });
    expect((await rejection(fb.stat(h()))).code).toBe('ABORTED');
  });
});
