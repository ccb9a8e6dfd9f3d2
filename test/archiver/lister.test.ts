import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lister, type ListedEntry } from '../../src/archiver/lister.js';
import { sortByName } from '../../src/tree/node.js';

const FIELDS = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'mtimeNs', 'ctimeNs'] as const;
const KINDS = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice'] as const;

describe('Lister', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'clawback-lister-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function populate(): void {
    writeFileSync(join(dir, 'b.txt'), 'hello');
    writeFileSync(join(dir, 'Z'), '');
    writeFileSync(join(dir, 'é-accent'), 'x'.repeat(1000));
    writeFileSync(join(dir, '\u{1F600}-emoji'), 'y');
    writeFileSync(join(dir, '\uFF21-fullwidth'), 'z');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('b.txt', join(dir, 'link'));
    symlinkSync('/nonexistent/target', join(dir, 'dangling'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
  }

  function expectMatchesLstat(entries: ListedEntry[]): void {
    for (const e of entries) {
      expect(e.error).toBeUndefined();
      const want = lstatSync(join(dir, e.name), { bigint: true });
      for (const f of FIELDS) expect(e.stats![f], `${e.name} ${f}`).toBe(want[f]);
      for (const k of KINDS) expect(e.stats![k](), `${e.name} ${k}`).toBe(want[k]());
    }
  }

  for (const threaded of [true, false]) {
    it(`lists entries in canonical order with their lstat (${threaded ? 'worker thread' : 'calling thread'})`, async () => {
      populate();
      const lister = new Lister(threaded, 0);
      try {
        const entries = await lister.list(dir);
        expect(entries.map((e) => e.name)).toEqual(sortByName(['b.txt', 'Z', 'é-accent', '\u{1F600}-emoji', '\uFF21-fullwidth', 'sub', 'link', 'dangling', 'fifo']));
        expectMatchesLstat(entries);
        expect(entries.find((e) => e.name === 'link')!.stats!.isSymbolicLink()).toBe(true);
        expect(entries.find((e) => e.name === 'fifo')!.stats!.isFIFO()).toBe(true);
        expect(await lister.list(join(dir, 'sub'))).toEqual([]);
      } finally {
        await lister.close();
      }
    });

    it(`throws the fs error of readdir with its code (${threaded ? 'worker thread' : 'calling thread'})`, async () => {
      writeFileSync(join(dir, 'file'), 'x');
      const lister = new Lister(threaded, 0);
      try {
        await expect(lister.list(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(lister.list(join(dir, 'file'))).rejects.toMatchObject({ code: 'ENOTDIR' });
        // Still usable after an error.
        expect((await lister.list(dir)).map((e) => e.name)).toEqual(['file']);
      } finally {
        await lister.close();
      }
    });
  }

  it('lists subtrees ahead in walk order: a depth-first walk needs few messages, and every listing is exact', async () => {
    // 3 levels of 6 directories (258 in all), 3 files each.
    const dirs: string[] = [];
    const make = (d: string, depth: number): void => {
      mkdirSync(d, { recursive: true });
      dirs.push(d);
      for (let f = 0; f < 3; f++) writeFileSync(join(d, `f${f}`), 'x'.repeat(f));
      if (depth < 3) for (let k = 0; k < 6; k++) make(join(d, `d${k}`), depth + 1);
    };
    make(join(dir, 'root'), 0);
    const threaded = new Lister(true, 0);
    const here = new Lister(false);
    try {
      const walk = async (d: string): Promise<void> => {
        const got = await threaded.list(d);
        const plain = (es: ListedEntry[]) => es.map((e) => ({ name: e.name, ...Object.fromEntries(FIELDS.map((f) => [f, e.stats![f]])), dir: e.stats!.isDirectory() }));
        expect(plain(got)).toEqual(plain(await here.list(d)));
        for (const e of got) if (e.stats?.isDirectory()) await walk(join(d, e.name));
      };
      await walk(join(dir, 'root'));
      expect(threaded.posts).toBeGreaterThan(0);
      expect(threaded.posts).toBeLessThan(dirs.length / 10);
      // A directory asked for again is listed again: nothing listed earlier is reused.
      writeFileSync(join(dir, 'root', 'late'), 'z');
      expect((await threaded.list(join(dir, 'root'))).map((e) => e.name)).toContain('late');
    } finally {
      await threaded.close();
    }
  });

  it('lists the first entries on the calling thread and starts its worker only after them', async () => {
    for (let d = 0; d < 6; d++) {
      mkdirSync(join(dir, `d${d}`));
      for (let f = 0; f < 4; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), 'x'.repeat(f));
    }
    const here = new Lister(false);
    const small = new Lister(); // the default threshold: a tree this small never starts it
    const mixed = new Lister(true, 10); // the root (6 entries) and d0 (4) here, d1..d5 on it
    try {
      const plain = (es: ListedEntry[]) => es.map((e) => ({ name: e.name, ...Object.fromEntries(FIELDS.map((f) => [f, e.stats![f]])) }));
      for (const lister of [small, mixed]) {
        expect(plain(await lister.list(dir))).toEqual(plain(await here.list(dir)));
        for (let d = 0; d < 6; d++) expect(plain(await lister.list(join(dir, `d${d}`)))).toEqual(plain(await here.list(join(dir, `d${d}`))));
      }
      expect(small.posts).toBe(0);
      expect(mixed.posts).toBe(5); // one message each: listed one at a time, nothing ahead
    } finally {
      await small.close();
      await mixed.close();
    }
  });

  it('lists many directories concurrently, each answer to its own caller', async () => {
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(dir, `d${d}`));
      for (let f = 0; f <= d; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), 'x'.repeat(f));
    }
    const lister = new Lister(true, 0);
    try {
      const all = await Promise.all(Array.from({ length: 20 }, (_, d) => lister.list(join(dir, `d${d}`))));
      all.forEach((entries, d) => {
        expect(entries.length).toBe(d + 1);
        for (const e of entries) expect(e.stats!.size).toBe(BigInt(Number(e.name.slice(1))));
      });
    } finally {
      await lister.close();
    }
  });
});
