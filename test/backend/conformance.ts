/**
 * The {@link Backend} contract as a reusable vitest suite: `runBackendConformance(name,
 * factory)` registers a `describe` block that every backend must pass.
 */

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, FileInfo, FileType, Handle } from '../../src/backend/backend.js';
import { FILE_TYPES } from '../../src/backend/backend.js';
import { ClawbackError } from '../../src/errors.js';
import { rejection } from '../helpers/rejection.js';

/** A fresh backend for one test, plus how to clean up after it. */
export interface ConformanceInstance {
  /** A new, empty backend whose container may not exist yet (tests call `create()`). */
  backend: Backend;
  /** Deletes what the test left behind (optional). */
  cleanup?: () => Promise<void>;
}

/** Options of {@link runBackendConformance}. */
export interface ConformanceOptions {
  /** Files written for the "more than 1000 files" listing test. Default 1100. */
  manyFiles?: number;
  /** Saves in flight while writing them. Default 16. */
  manyConcurrency?: number;
  /** Size of the big-object test, bytes. Default 20 MiB. */
  bigSize?: number;
  /** fast-check runs of the range property. Default: the global setting. */
  rangeRuns?: number;
  /** Per-test timeout, ms. */
  timeout?: number;
}

/** 64 random lowercase hex characters, like a file id. */
export function randomName(): string {
  return randomBytes(32).toString('hex');
}

/** `n` random bytes as a plain Uint8Array. */
export function randomData(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/** Asserts equal bytes without dumping megabytes on failure. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length).toBe(expected.length);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (!a.equals(b)) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    expect.fail(`bytes differ at offset ${i} of ${a.length}`);
  }
}

/** Everything `list(type)` yields, sorted by name. */
export async function listAll(b: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const f of b.list(type)) out.push(f);
  return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

const CONFIG: Handle = { type: 'config', name: 'config' };

/**
 * Registers the conformance suite for a backend. `factory` is called once per test and
 * must return a fresh, empty backend (a new directory, map or key prefix).
 */
export function runBackendConformance(name: string, factory: () => Promise<ConformanceInstance>, options: ConformanceOptions = {}): void {
  const manyFiles = options.manyFiles ?? 1100;
  const bigSize = options.bigSize ?? 20 * 1024 * 1024;
  const opts = options.timeout === undefined ? {} : { timeout: options.timeout };

  describe(`backend conformance: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });
    /** A created backend for this test. */
    const fresh = async (create = true): Promise<Backend> => {
      const inst = await factory();
      cleanups.push(async () => {
        await inst.cleanup?.();
        await inst.backend.close();
      });
      if (create) await inst.backend.create();
      return inst.backend;
    };

    it('create is idempotent; isRepository follows the config file', opts, async () => {
      const b = await fresh(false);
      expect(await b.isRepository()).toBe(false);
      await b.create();
      await b.create();
      expect(await b.isRepository()).toBe(false);
      await b.save(CONFIG, randomData(10));
      expect(await b.isRepository()).toBe(true);
      await b.remove(CONFIG);
      expect(await b.isRepository()).toBe(false);
      expect(typeof b.location).toBe('string');
      expect(b.location.length).toBeGreaterThan(0);
    });

    it('save/load round trip for every file type', opts, async () => {
      const b = await fresh();
      const saved = new Map<FileType, { h: Handle; data: Uint8Array }>();
      for (const type of FILE_TYPES) {
        const h: Handle = { type, name: type === 'config' ? 'config' : randomName() };
        const data = randomData(100 + FILE_TYPES.indexOf(type));
        await b.save(h, data);
        saved.set(type, { h, data });
      }
      for (const { h, data } of saved.values()) {
        expectBytes(await b.load(h), data);
        expect(await b.stat(h)).toEqual({ name: h.type === 'config' ? 'config' : h.name, size: data.length });
      }
    });

    it('is write-once: a second save throws ALREADY_EXISTS and keeps the old bytes', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'snapshots', name: randomName() };
      const first = randomData(64);
      await b.save(h, first);
      const e = await rejection(b.save(h, randomData(65)));
      expect(e.code).toBe('ALREADY_EXISTS');
      expectBytes(await b.load(h), first);
      expect((await b.stat(h)).size).toBe(64);
      // config too
      const c1 = randomData(5);
      await b.save(CONFIG, c1);
      expect((await rejection(b.save(CONFIG, randomData(5)))).code).toBe('ALREADY_EXISTS');
      expectBytes(await b.load(CONFIG), c1);
    });

    it('concurrent saves of one handle: exactly one wins', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'locks', name: randomName() };
      const datas = Array.from({ length: 4 }, () => randomData(1000));
      const results = await Promise.allSettled(datas.map((d) => b.save(h, d)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as ClawbackError).code).toBe('ALREADY_EXISTS');
      }
      expectBytes(await b.load(h), datas[won[0] as number] as Uint8Array);
    });

    it('copies bytes: later changes to the saved or loaded arrays do not leak', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'index', name: randomName() };
      const data = randomData(32);
      const copy = data.slice();
      await b.save(h, data);
      data.fill(0);
      const loaded = await b.load(h);
      expectBytes(loaded, copy);
      loaded.fill(1);
      expectBytes(await b.load(h), copy);
    });

    it('loads byte ranges, cutting at the end', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomData(1000);
      await b.save(h, data);
      const cases: [number | undefined, number | undefined, number, number][] = [
        // offset, length, expected start, expected end
        [undefined, undefined, 0, 1000],
        [0, undefined, 0, 1000],
        [100, undefined, 100, 1000], // offset only
        [100, 50, 100, 150], // offset + length
        [0, 10, 0, 10], // at the start
        [undefined, 10, 0, 10], // length only
        [990, 10, 990, 1000], // at the very end
        [999, 1, 999, 1000], // last byte
        [995, 100, 995, 1000], // past the end: cut
        [0, 5000, 0, 1000], // longer than the file
        [1000, undefined, 1000, 1000], // offset at the end: empty
        [1000, 5, 1000, 1000],
        [2000, 5, 1000, 1000], // offset past the end: empty
        [500, 0, 500, 500], // empty range
      ];
      for (const [offset, length, s, e] of cases) {
        const range = { ...(offset === undefined ? {} : { offset }), ...(length === undefined ? {} : { length }) };
        expectBytes(await b.load(h, range), data.subarray(s, e));
      }
    });

    it('loads ranges into a given buffer, or ignores it: the same bytes either way', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomData(1000);
      await b.save(h, data);
      const into = new Uint8Array(600).fill(7);
      const got = await b.load(h, { offset: 100, length: 500, into });
      expectBytes(got, data.subarray(100, 600));
      // A buffer too short for the range is not written past its end.
      const short = new Uint8Array(10).fill(7);
      expectBytes(await b.load(h, { offset: 900, length: 500, into: short }), data.subarray(900, 1000));
      const again = await b.load(h, { offset: 0, length: 5, into: got.buffer === into.buffer ? new Uint8Array(0) : into });
      expectBytes(again, data.subarray(0, 5));
    });

    it('ranges agree with slicing (property)', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomData(777);
      await b.save(h, data);
      await fc.assert(
        fc.asyncProperty(fc.nat(900), fc.option(fc.nat(900), { nil: undefined }), async (offset, length) => {
          const end = length === undefined ? data.length : Math.min(data.length, offset + length);
          const got = await b.load(h, length === undefined ? { offset } : { offset, length });
          expectBytes(got, data.subarray(Math.min(offset, data.length), Math.max(Math.min(offset, data.length), end)));
        }),
        options.rangeRuns === undefined ? {} : { numRuns: options.rangeRuns },
      );
    });

    it('rejects malformed ranges and names with INTERNAL', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'keys', name: randomName() };
      await b.save(h, randomData(10));
      expect((await rejection(b.load(h, { offset: -1 }))).code).toBe('INTERNAL');
      expect((await rejection(b.load(h, { length: 1.5 }))).code).toBe('INTERNAL');
      for (const bad of ['', '../x', 'a/b', '.tmp-1', '.']) {
        expect((await rejection(b.save({ type: 'keys', name: bad }, randomData(1)))).code).toBe('INTERNAL');
      }
      expect((await rejection(b.save({ type: 'data', name: 'a' }, randomData(1)))).code).toBe('INTERNAL');
    });

    it('missing files: load and stat throw BLOB_NOT_FOUND', opts, async () => {
      const b = await fresh();
      for (const type of FILE_TYPES) {
        const h: Handle = { type, name: type === 'config' ? 'config' : randomName() };
        expect((await rejection(b.load(h))).code).toBe('BLOB_NOT_FOUND');
        expect((await rejection(b.load(h, { offset: 5, length: 5 }))).code).toBe('BLOB_NOT_FOUND');
        expect((await rejection(b.load(h, { offset: 0, length: 0 }))).code).toBe('BLOB_NOT_FOUND');
        expect((await rejection(b.stat(h))).code).toBe('BLOB_NOT_FOUND');
      }
    });

    it('stat reports sizes; list yields exactly the files of each type', opts, async () => {
      const b = await fresh();
      const expected = new Map<FileType, FileInfo[]>();
      for (const type of FILE_TYPES) expected.set(type, []);
      await b.save(CONFIG, randomData(7));
      expected.get('config')?.push({ name: 'config', size: 7 });
      for (const type of FILE_TYPES) {
        if (type === 'config') continue;
        for (let i = 0; i < 5; i++) {
          const name = randomName();
          const size = 1 + ((i * 37) % 50);
          await b.save({ type, name }, randomData(size));
          expected.get(type)?.push({ name, size });
          expect(await b.stat({ type, name })).toEqual({ name, size });
        }
      }
      for (const type of FILE_TYPES) {
        const want = (expected.get(type) ?? []).sort((x, y) => (x.name < y.name ? -1 : 1));
        expect(await listAll(b, type)).toEqual(want);
      }
    });

    it('lists an empty repository as empty', opts, async () => {
      const b = await fresh();
      for (const type of FILE_TYPES) expect(await listAll(b, type)).toEqual([]);
    });

    it(`lists more than 1000 files (${manyFiles})`, { timeout: Math.max(options.timeout ?? 0, 300_000) }, async () => {
      const b = await fresh();
      const names = Array.from({ length: manyFiles }, () => randomName());
      await pool(names, options.manyConcurrency ?? 16, (n) => b.save({ type: 'data', name: n }, randomData(1 + (n.charCodeAt(5) % 8))));
      const got = await listAll(b, 'data');
      expect(got.map((f) => f.name)).toEqual([...names].sort());
      expect(new Set(got.map((f) => f.name)).size).toBe(manyFiles);
      expect(await listAll(b, 'index')).toEqual([]);
    });

    it('remove deletes and is idempotent', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'locks', name: randomName() };
      const other: Handle = { type: 'locks', name: randomName() };
      await b.save(h, randomData(3));
      await b.save(other, randomData(4));
      await b.remove(h);
      expect((await rejection(b.stat(h))).code).toBe('BLOB_NOT_FOUND');
      expect((await rejection(b.load(h))).code).toBe('BLOB_NOT_FOUND');
      expect((await listAll(b, 'locks')).map((f) => f.name)).toEqual([other.name]);
      await b.remove(h);
      await b.remove({ type: 'data', name: randomName() });
      await b.remove(CONFIG);
      // a removed name can be written again
      const again = randomData(9);
      await b.save(h, again);
      expectBytes(await b.load(h), again);
    });

    it('temp files: none once saves settle; removeTempFile is idempotent and refuses repository paths', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: randomName() };
      await b.save(h, randomData(5));
      await b.save(CONFIG, randomData(5));
      await rejection(b.save(h, randomData(5)));
      const temps = [];
      for await (const f of b.listTempFiles()) temps.push(f);
      expect(temps).toEqual([]);
      await b.removeTempFile(`data/${h.name.slice(0, 2)}/.tmp-0123456789abcdef`);
      await b.removeTempFile('.tmp-0123456789abcdef');
      for (const bad of [`data/${h.name.slice(0, 2)}/${h.name}`, 'config', 'index/.tmp-', '../.tmp-ab', 'data/.tmp-ab', 'data/ab/cd/.tmp-ab']) {
        expect((await rejection(b.removeTempFile(bad))).code, bad).toBe('INTERNAL');
      }
      expect((await b.stat(h)).size).toBe(5);
      expect((await b.stat(CONFIG)).size).toBe(5);
    });

    it('stores empty files', opts, async () => {
      const b = await fresh();
      const h: Handle = { type: 'index', name: randomName() };
      await b.save(h, new Uint8Array(0));
      expect((await b.load(h)).length).toBe(0);
      expect((await b.load(h, { offset: 0, length: 10 })).length).toBe(0);
      expect((await b.load(h, { offset: 3 })).length).toBe(0);
      expect(await b.stat(h)).toEqual({ name: h.name, size: 0 });
      expect(await listAll(b, 'index')).toEqual([{ name: h.name, size: 0 }]);
      expect((await rejection(b.save(h, new Uint8Array(0)))).code).toBe('ALREADY_EXISTS');
    });

    it(`stores a big object (${bigSize} bytes) write-once`, { timeout: Math.max(options.timeout ?? 0, 120_000) }, async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomData(bigSize);
      await b.save(h, data);
      expect((await b.stat(h)).size).toBe(bigSize);
      expectBytes(await b.load(h), data);
      const mid = 8 * 1024 * 1024 - 10; // across a multipart part boundary
      expectBytes(await b.load(h, { offset: mid, length: 20 }), data.subarray(mid, mid + 20));
      expectBytes(await b.load(h, { offset: bigSize - 5 }), data.subarray(bigSize - 5));
      expect((await rejection(b.save(h, randomData(bigSize)))).code).toBe('ALREADY_EXISTS');
      expectBytes(await b.load(h, { offset: 0, length: 1000 }), data.subarray(0, 1000));
      expect(await listAll(b, 'data')).toEqual([{ name: h.name, size: bigSize }]);
    });
  });
}
