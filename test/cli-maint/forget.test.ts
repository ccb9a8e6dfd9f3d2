import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { cleanup, damage, flipBit, snap, tmp, writeFiles } from '../fixtures/maint.js';
import { cliRepo, cloneSnapshots, type CliRepo } from './helpers.js';

afterAll(cleanup);

interface Decision {
  id: string;
  version: number;
  time: string;
  label: string | null;
  kind: string;
  reasons: string[];
}
interface ForgetJson {
  dryRun: boolean;
  keep: Decision[];
  remove: Decision[];
}

const day = (d: string) => `${d}T12:00:00.000Z`;

/** A repository with snapshots at `times`: copies of one real snapshot's manifest (same tree). */
async function repoWith(times: string[], over?: Parameters<typeof cloneSnapshots>[3]): Promise<{ r: CliRepo; ids: string[] }> {
  const r = await cliRepo();
  const src = join(await tmp(), 'src');
  await writeFiles(src, { 'a.txt': 'a' });
  const first = await snap(r.repo, src, { time: new Date('2000-01-01T00:00:00Z') });
  const ids = await cloneSnapshots(r.repo, first.manifest, times, over);
  await r.repo.backend.remove({ type: 'snapshots', name: first.id });
  await r.repo.close();
  return { r, ids };
}

function days(from: string, n: number): string[] {
  const start = Date.parse(day(from));
  return Array.from({ length: n }, (_v, i) => new Date(start + i * 86_400_000).toISOString());
}

describe('forget through the CLI', () => {
  it("applies restic's documented daily/weekly/monthly example, dry run first", async () => {
    // Daily snapshots 2026-01-01 … 2026-04-10 (a Friday), restic's docs example scaled down.
    const { r } = await repoWith(days('2026-01-01', 100));
    const args = ['forget', '--keep-daily', '7', '--keep-weekly', '5', '--keep-monthly', '12'];
    const dry = await r.json<ForgetJson>([...args, '--dry-run']);
    expect(dry.dryRun).toBe(true);
    const kept = dry.keep.map((d) => d.time.slice(0, 10)).sort();
    expect(kept).toEqual(
      [
        ...['04-04', '04-05', '04-06', '04-07', '04-08', '04-09', '04-10'], // 7 dailies
        '03-29', '03-22', '03-15', // weeklies beyond the dailies (weeks end on Sundays)
        '03-31', '02-28', '01-31', // month ends
        '01-01', // the oldest, while monthly counts are left (restic ≥ 0.17)
      ].map((d) => `2026-${d}`).sort(),
    );
    const byDate = new Map(dry.keep.map((d) => [d.time.slice(0, 10), d.reasons]));
    expect(byDate.get('2026-04-10')).toEqual(['daily snapshot', 'weekly snapshot', 'monthly snapshot']);
    expect(byDate.get('2026-03-31')).toEqual(['monthly snapshot']);
    expect(byDate.get('2026-01-01')).toEqual(['oldest monthly snapshot']);
    expect(dry.remove).toHaveLength(100 - 14);
    expect((await r.json<unknown[]>(['snapshot', 'list'])).length).toBe(100);
    const done = await r.json<ForgetJson>(args);
    expect(done.remove.map((d) => d.id).sort()).toEqual(dry.remove.map((d) => d.id).sort());
    const list = await r.json<{ id: string; version: number }[]>(['snapshot', 'list']);
    expect(list.map((s) => s.version)).toEqual(Array.from({ length: 14 }, (_v, i) => i + 1));
    expect(list.map((s) => s.id).sort()).toEqual(dry.keep.map((d) => d.id).sort());
    const human = await r.cli(['forget', '--keep-last', '20', '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/keep 14, would remove 0/);
    expect(human.stdout).toMatch(/last snapshot/);
  });

  it('keeps by tag groups (comma = all of), by --keep-within, and ORs the rules', async () => {
    const tags = [['a'], ['a', 'b'], ['b'], [], ['a', 'b', 'c'], []];
    const { r, ids } = await repoWith(days('2026-03-01', 6), (i) => ({ tags: tags[i]! }));
    const byTag = await r.json<ForgetJson>(['forget', '--keep-tag', 'a,b', '--keep-tag', 'c', '--dry-run']);
    expect(byTag.keep.map((d) => d.id).sort()).toEqual([ids[1]!, ids[4]!].sort());
    expect(byTag.keep.find((d) => d.id === ids[4])!.reasons).toEqual(['has tags a,b', 'has tag c']);
    const untagged = await r.json<ForgetJson>(['forget', '--keep-tag', '', '--dry-run']);
    expect(untagged.keep.map((d) => d.id).sort()).toEqual([ids[3]!, ids[5]!].sort());
    const within = await r.json<ForgetJson>(['forget', '--keep-within', '2d', '--keep-last', '1', '--dry-run']);
    // Newest is 03-06 12:00; within 2d keeps strictly newer than 03-04 12:00.
    expect(within.keep.map((d) => d.time.slice(0, 10)).sort()).toEqual(['2026-03-05', '2026-03-06']);
    expect(within.keep.find((d) => d.time.startsWith('2026-03-06'))!.reasons).toEqual(['within 2d', 'last snapshot']);
  });

  it('applies --max-age-days then --max-backups, and --auto-only never removes manual snapshots', async () => {
    const now = Date.now();
    const ago = (d: number) => new Date(now - d * 86_400_000).toISOString();
    const times = [ago(40), ago(30), ago(20), ago(9), ago(5), ago(3), ago(2), ago(1)];
    const kinds = ['manual', 'auto', 'auto', 'auto', 'manual', 'auto', 'auto', 'auto'] as const;
    const { r, ids } = await repoWith(times, (i) => ({ kind: kinds[i]! }));
    const res = await r.json<ForgetJson>(['forget', '--max-backups', '2', '--max-age-days', '10', '--auto-only', '--dry-run']);
    // Manual ones (40 and 5 days old) stay; of the automatic ones the 2 newest within 10 days.
    expect(res.keep.map((d) => d.id).sort()).toEqual([ids[0]!, ids[4]!, ids[6]!, ids[7]!].sort());
    expect(res.keep.find((d) => d.id === ids[0])!.reasons).toEqual(['manual snapshot (auto-only)']);
    expect(res.keep.find((d) => d.id === ids[7])!.reasons).toEqual(['within max-age-days 10', 'one of the newest 2 (max-backups)']);
    const plain = await r.json<ForgetJson>(['forget', '--max-age-days', '10', '--dry-run']);
    expect(plain.keep).toHaveLength(5);
  });

  it('removes snapshots named by selector; versions renumber, ids and labels stay', async () => {
    const { r, ids } = await repoWith(days('2026-05-01', 5), (i) => (i === 3 ? { label: 'keep-me' } : i === 1 ? { label: 'drop-me' } : {}));
    const res = await r.json<ForgetJson>(['snapshot', 'forget', 'v1', 'drop-me']);
    expect(res.remove.map((d) => d.id).sort()).toEqual([ids[0]!, ids[1]!].sort());
    const list = await r.json<{ id: string; version: number; name: string | null }[]>(['snapshot', 'list']);
    expect(list.map((s) => [s.version, s.id, s.name])).toEqual([
      [1, ids[2], null],
      [2, ids[3], 'keep-me'],
      [3, ids[4], null],
    ]);
    expect((await r.cli(['forget', 'v9'])).code).toBe(1);
    expect((await r.json<unknown[]>(['snapshot', 'list'])).length).toBe(3);
  });

  it('a damaged snapshot file blocks gc until forgotten by id prefix', async () => {
    const { r, ids } = await repoWith(days('2026-07-01', 3));
    const backend = new LocalBackend(r.dir);
    await damage(backend, { type: 'snapshots', name: ids[1]! }, (b) => flipBit(b));
    const gc = await r.cli(['gc']);
    expect(gc.code).toBe(1);
    expect(gc.stderr).toMatch(new RegExp(`snapshot ${ids[1]!.slice(0, 8)} cannot be read`));
    const f = await r.json<{ removedDamaged: string[] }>(['forget', ids[1]!.slice(0, 12)]);
    expect(f.removedDamaged).toEqual([ids[1]]);
    expect((await r.cli(['gc'])).code).toBe(0);
    expect((await r.json<unknown[]>(['snapshot', 'list'])).length).toBe(2);
  });

  it('refuses an empty policy, a policy mixed with selectors, and bad numbers (exit 2)', async () => {
    const { r } = await repoWith(days('2026-06-01', 3));
    const none = await r.cli(['forget']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nothing to forget/);
    const autoOnly = await r.cli(['forget', '--auto-only']);
    expect(autoOnly.code).toBe(2);
    expect(autoOnly.stderr).toMatch(/refusing to forget every snapshot/);
    expect((await r.cli(['forget', 'v1', '--keep-last', '1'])).code).toBe(2);
    expect((await r.cli(['forget', '--keep-last', 'x'])).code).toBe(2);
    expect((await r.cli(['forget', '--keep-within', '2w'])).code).toBe(2);
    expect((await r.json<unknown[]>(['snapshot', 'list'])).length).toBe(3);
  });
});
