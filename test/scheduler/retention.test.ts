import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/mem.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { applyJobRetention } from '../../src/scheduler/retention.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;
beforeEach(async () => {
  tmp = await makeTmp('clawback-retention-');
  repo = await initRepository(new MemoryBackend(), { password: undefined, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'cache') });
});
afterEach(async () => {
  await repo.close();
  await tmp.cleanup();
});

const DAY = 86_400_000;
const NOW = new Date('2026-03-31T12:00:00.000Z');

async function source(name: string): Promise<string> {
  const dir = join(tmp.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'f.txt'), name);
  return dir;
}

describe('applyJobRetention', () => {
  it('removes old automatic snapshots only, of the job source only; manual snapshots always stay', async () => {
    const a = await source('a');
    const b = await source('b');
    const made: { id: string; kind: string; days: number; src: string }[] = [];
    // Source a: 10 auto (one per day, newest first: 0..9 days old) and 3 manual, some very old.
    for (let d = 0; d < 10; d++) {
      const r = await createSnapshot(repo, { paths: [a], kind: 'auto', time: new Date(NOW.getTime() - d * DAY - 1000) });
      made.push({ id: r.id, kind: 'auto', days: d, src: 'a' });
    }
    for (const d of [1, 40, 400]) {
      const r = await createSnapshot(repo, { paths: [a], kind: 'manual', time: new Date(NOW.getTime() - d * DAY) });
      made.push({ id: r.id, kind: 'manual', days: d, src: 'a' });
    }
    // Source b: 5 old auto snapshots that a's policy must not touch.
    for (let d = 50; d < 55; d++) {
      const r = await createSnapshot(repo, { paths: [b], kind: 'auto', time: new Date(NOW.getTime() - d * DAY) });
      made.push({ id: r.id, kind: 'auto', days: d, src: 'b' });
    }
    const sourceA = (await listSnapshots(repo)).entries.find((e) => e.id === made[0]!.id)!.manifest.source;
    const r = await applyJobRetention(repo, { source: sourceA, policy: { maxBackups: 3, maxAgeDays: 30 }, now: NOW });
    const expectRemoved = made.filter((m) => m.src === 'a' && m.kind === 'auto' && m.days >= 3).map((m) => m.id).sort();
    expect([...r.removed].sort()).toEqual(expectRemoved);
    const left = new Set((await listSnapshots(repo)).entries.map((e) => e.id));
    for (const m of made) expect(left.has(m.id)).toBe(!(m.src === 'a' && m.kind === 'auto' && m.days >= 3));
    // Every manual snapshot is kept with the auto-only reason.
    for (const d of r.decisions.filter((x) => x.snapshot.manifest.kind === 'manual')) {
      expect(d.keep).toBe(true);
      expect(d.reasons).toContain('manual snapshot (auto-only)');
    }
  });

  it('restic-style keep rules work and a policy without autoOnly still never removes manual snapshots', async () => {
    const a = await source('a');
    const ids: { id: string; kind: string; h: number }[] = [];
    for (let h = 0; h < 48; h += 6) {
      const kind = h === 42 ? 'manual' : 'auto';
      const r = await createSnapshot(repo, { paths: [a], kind, time: new Date(NOW.getTime() - h * 3_600_000) });
      ids.push({ id: r.id, kind, h });
    }
    const src = (await listSnapshots(repo)).entries[0]!.manifest.source;
    const r = await applyJobRetention(repo, { source: src, policy: { last: 2, autoOnly: false }, now: NOW });
    const left = new Set((await listSnapshots(repo)).entries.map((e) => e.id));
    expect(left.size).toBe(3);
    expect(left.has(ids.find((x) => x.kind === 'manual')!.id)).toBe(true);
    expect(left.has(ids[0]!.id) && left.has(ids[1]!.id)).toBe(true);
    expect(r.removed).toHaveLength(5);
  });

  it('dry run removes nothing', async () => {
    const a = await source('a');
    for (let d = 0; d < 4; d++) await createSnapshot(repo, { paths: [a], kind: 'auto', time: new Date(NOW.getTime() - d * DAY) });
    const src = (await listSnapshots(repo)).entries[0]!.manifest.source;
    const r = await applyJobRetention(repo, { source: src, policy: { maxBackups: 1 }, now: NOW, dryRun: true });
    expect(r.removed).toEqual([]);
    expect(r.decisions.filter((d) => !d.keep)).toHaveLength(3);
    expect((await listSnapshots(repo)).entries).toHaveLength(4);
  });
});
