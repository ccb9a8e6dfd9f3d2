import { writeFile, rm, chmod } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { acquireLock } from '../../src/repository/lock.js';
import { cleanup, damage, flipBit, locateFile, names, noise, reopen, snap, tmp, writeFiles } from '../fixtures/maint.js';
import { cliRepo, type CliRepo } from './helpers.js';

afterAll(cleanup);

let r: CliRepo;
let big: Buffer;

beforeAll(async () => {
  r = await cliRepo();
  const src = join(await tmp(), 'src');
  big = noise(70_000);
  await writeFiles(src, { 'docs/readme.txt': 'read me\n', 'docs/notes.md': '# notes\n', 'data/big.bin': big, 'data/state.sqlite': 'not really sqlite', 'gone.txt': 'bye', link: { symlink: 'docs/readme.txt' } });
  await chmod(join(src, 'docs/readme.txt'), 0o640);
  await snap(r.repo, src, { time: new Date('2026-02-01T10:00:00Z'), label: 'first' });
  await rm(join(src, 'gone.txt'));
  await writeFile(join(src, 'docs/notes.md'), '# notes, longer now\n');
  await writeFile(join(src, 'new.txt'), 'new');
  await snap(r.repo, src, { time: new Date('2026-02-02T10:00:00Z') });
  await r.repo.close();
});

describe('diff, dump, find, stats', () => {
  it('diff lists added, removed and modified paths with sizes', async () => {
    const d = await r.json<{ added: { path: string; size: number }[]; removed: { path: string }[]; modified: { path: string; kind: string; before: number; after: number }[]; totals: Record<string, number> }>(['diff', 'v1', 'v2']);
    expect(d.added).toEqual([{ kind: 'added', path: '/new.txt', type: 'file', size: 3 }]);
    expect(d.removed).toEqual([{ kind: 'removed', path: '/gone.txt', type: 'file', size: 3 }]);
    expect(d.modified).toEqual([{ kind: 'modified', path: '/docs/notes.md', type: 'file', before: 8, after: 20 }]);
    const h = await r.cli(['diff', 'first', 'latest']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('+  /new.txt  (3 B)');
    expect(h.stdout).toContain('-  /gone.txt  (3 B)');
    expect(h.stdout).toContain('M  /docs/notes.md  (8 B → 20 B)');
    expect(h.stdout).toMatch(/1 added, 1 removed, 1 modified/);
  });

  it('dump writes a file byte for byte, and a directory as tar', async () => {
    const f = await r.cli(['dump', 'v1', 'data/big.bin']);
    expect(f.code).toBe(0);
    expect(f.bytes.equals(big)).toBe(true);
    const t = await r.cli(['dump', 'v2', 'docs']);
    expect(t.code).toBe(0);
    const entries: Record<string, { type: string; mode: number; body: string }> = {};
    const ex = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on('entry', (h, stream, next) => {
        const parts: Buffer[] = [];
        stream.on('data', (c: unknown) => void parts.push(c as Buffer));
        stream.on('end', () => {
          entries[h.name] = { type: h.type, mode: h.mode & 0o777, body: Buffer.concat(parts).toString() };
          next();
        });
      });
      ex.on('finish', () => resolve());
      ex.on('error', reject);
    });
    Readable.from([t.bytes]).pipe(ex as unknown as NodeJS.WritableStream);
    await done;
    expect(Object.keys(entries).sort()).toEqual(['docs/', 'docs/notes.md', 'docs/readme.txt']);
    expect(entries['docs/readme.txt']).toEqual({ type: 'file', mode: 0o640, body: 'read me\n' });
    expect(entries['docs/notes.md']!.body).toBe('# notes, longer now\n');
    const whole = await r.cli(['dump', 'v2', '/']);
    expect(whole.code).toBe(0);
    expect(whole.bytes.length).toBeGreaterThan(big.length);
    const missing = await r.cli(['dump', 'v2', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope is not in the snapshot/);
  });

  it('find matches names or paths in all or selected snapshots', async () => {
    const all = await r.json<{ version: number; matches: { path: string }[] }[]>(['find', '*.txt']);
    expect(all.map((s) => [s.version, s.matches.map((m) => m.path)])).toEqual([
      [1, ['/docs/readme.txt', '/gone.txt']],
      [2, ['/docs/readme.txt', '/new.txt']],
    ]);
    const one = await r.json<{ version: number; matches: { path: string }[] }[]>(['find', 'docs/*', '--snapshot', 'v2']);
    expect(one).toHaveLength(1);
    expect(one[0]!.matches.map((m) => m.path)).toEqual(['/docs/notes.md', '/docs/readme.txt']);
    const deep = await r.json<{ matches: { path: string }[] }[]>(['find', '**/*.sqlite', '--snapshot', 'first']);
    expect(deep[0]!.matches.map((m) => m.path)).toEqual(['/data/state.sqlite']);
    const none = await r.cli(['find', '*.nothing']);
    expect(none.stdout).toMatch(/0 match\(es\) in 0 of 2 snapshot/);
  });

  it('stats reports logical, unique and stored sizes and per-snapshot additions', async () => {
    const s = await r.json<{ snapshots: number; logicalBytes: number; dataBytes: number; storedBytes: number; dedupRatio: number; perSnapshot: { added: number }[]; repository: { packs: number } }>(['stats']);
    expect(s.snapshots).toBe(2);
    expect(s.logicalBytes).toBeGreaterThan(2 * big.length);
    // big.bin is stored once for two snapshots.
    expect(s.dataBytes).toBeLessThan(s.logicalBytes * 0.6);
    expect(s.dedupRatio).toBeCloseTo(s.logicalBytes / s.dataBytes, 5);
    expect(s.storedBytes).toBeGreaterThan(0);
    expect(s.perSnapshot[1]!.added).toBeLessThan(s.perSnapshot[0]!.added);
    const one = await r.json<{ snapshots: number; logicalBytes: number }>(['stats', 'v1']);
    expect(one.snapshots).toBe(1);
    const h = await r.cli(['stats']);
    expect(h.stdout).toMatch(/dedup ratio\s+\d+\.\d\dx/);
  });
});

describe('verify, gc and locks through the CLI', () => {
  it('verify exits 0 when clean and 1 naming the damage; gc --dry-run changes nothing', async () => {
    const c = await cliRepo();
    const src = join(await tmp(), 'src');
    await writeFiles(src, { 'a.bin': noise(50_000), 'b.txt': 'b' });
    const s1 = await snap(c.repo, src);
    await writeFiles(src, { 'c.bin': noise(50_000) });
    const s2 = await snap(c.repo, src);
    const loc = await locateFile(c.repo, s2.manifest.tree, 'c.bin');
    await c.repo.close();
    const ok = await c.json<{ clean: boolean; findings: unknown[] }>(['verify', '--read-data']);
    expect(ok).toMatchObject({ clean: true, findings: [] });
    expect((await c.cli(['verify', '--read-data-subset', '1/2'])).code).toBe(0);
    expect((await c.cli(['verify', '--read-data-subset', '3/2'])).code).toBe(2);

    const before = await names(new LocalBackend(c.dir), 'data');
    expect((await c.cli(['forget', s1.id.slice(0, 10)])).code).toBe(0);
    const plan = await c.cli(['gc', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/would delete \d+ unused/);
    expect(await names(new LocalBackend(c.dir), 'data')).toEqual(before);
    const gc = await c.json<{ result: { deletedPacks: number } }>(['prune', '--max-unused', '0']);
    expect(gc.result.deletedPacks).toBeGreaterThan(0);
    expect(await c.json<{ clean: boolean; findings: unknown[] }>(['verify', '--read-data'])).toMatchObject({ clean: true, findings: [] });

    await damage(new LocalBackend(c.dir), { type: 'data', name: loc.pack }, (b) => flipBit(b, (loc.offset + 5) * 8));
    const bad = await c.cli(['verify', '--read-data']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`blob ${loc.blob.slice(0, 8)}`);
    expect(bad.stdout).toMatch(/v1 \([0-9a-f]{8}\)\s+\/c\.bin/);
    expect(bad.stderr).toMatch(/verify found \d+ problem/);
  });

  it('a held lock makes commands exit 11 naming the holder; --retry-lock waits; unlock removes only stale locks', async () => {
    const c = await cliRepo();
    const src = join(await tmp(), 'src');
    await writeFiles(src, { 'a.txt': 'a' });
    await snap(c.repo, src);
    await c.repo.close();
    const holderRepo = await reopen(new LocalBackend(c.dir), await tmp());
    const lock = await acquireLock(holderRepo, { exclusive: true, refreshEvery: 0 });
    const blocked = await c.cli(['snapshot', 'list']);
    expect(blocked.code).toBe(11);
    expect(blocked.stderr).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(blocked.stderr).toMatch(/exclusive lock/);
    const unlock = await c.cli(['unlock']);
    expect(unlock.code).toBe(0);
    expect(unlock.stdout).toMatch(/removed 0 lock\(s\), 1 live lock\(s\) left/);
    setTimeout(() => void lock.release(), 200);
    const waited = await c.cli(['--retry-lock', '30s', 'snapshot', 'list']);
    expect(waited.code).toBe(0);
    expect(waited.stderr).toMatch(/repository is locked .* waiting up to 30s/);
    expect((await c.cli(['--retry-lock', 'soon', 'snapshot', 'list'])).code).toBe(2);
    // Shared holders coexist; gc needs exclusive.
    const shared = await acquireLock(holderRepo, { refreshEvery: 0 });
    expect((await c.cli(['snapshot', 'list'])).code).toBe(0);
    expect((await c.cli(['gc'])).code).toBe(11);
    expect((await c.cli(['key', 'add'], { CLAWBACK_NEW_PASSWORD: 'x' })).code).toBe(11);
    const all = await c.cli(['unlock', '--remove-all']);
    expect(all.stdout).toMatch(/removed 1 lock/);
    expect(await names(new LocalBackend(c.dir), 'locks')).toEqual([]);
    await shared.release();
    await holderRepo.close();
  });
});
