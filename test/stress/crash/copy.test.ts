/**
 * Crash campaign: `clawback copy` killed at random moments, local → local (a destination
 * made with the source's chunking, so blobs travel as they are; and an unencrypted one
 * that chunks differently, so contents are re-chunked) and local → S3 (a real Ceph RGW).
 *
 * After every kill: the source is untouched and sound; every snapshot at the destination
 * is a complete copy (restores byte for byte as its source snapshot) and appears once;
 * verify --read-data at the destination finds nothing but unreferenced data; the next copy
 * succeeds and leaves every source snapshot at the destination exactly once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openBackend } from '../../../src/backend/location.js';
import { verifyRepository } from '../../../src/checker/checker.js';
import { initRepository, type Repository } from '../../../src/repository/repository.js';
import { listSnapshots } from '../../../src/snapshot/store.js';
import { uniqueBucket } from '../../s3/rgw.js';
import { tracked } from '../results.js';
import { checkSound, cleanupTmp, cliEnv, errorsOf, openAt, PASSWORD, randomName, restoredTree, tmp } from '../harness.js';
import { runCampaign, type CrashCase } from './campaign.js';
import { buildTemplate, copyOf, initLocal, removeTrial, rerun, TEMPLATE_INIT, type Template } from './fixtures.js';

const FILE = 'test/stress/crash/copy.test.ts';
const DST_PASSWORD = 'other-pw';
const s3 = inject('s3') ?? null;

let template: Template;
let sameDst: string;
let rechunkDst: string;

beforeAll(async () => {
  template = await buildTemplate(3);
  const src = await openAt(template.repo, PASSWORD);
  try {
    sameDst = join(await tmp('cb-dst-'), 'repo');
    await (await initLocal(sameDst, DST_PASSWORD, { chunkingFrom: src })).close();
  } finally {
    await src.close();
  }
  rechunkDst = join(await tmp('cb-dst-'), 'repo');
  await (await initLocal(rechunkDst, null)).close();
});
afterAll(cleanupTmp);

interface State {
  src: string;
  dst: string;
  dstPassword: string | undefined;
  s3env?: Record<string, string>;
}

/** Checks a destination: every snapshot a complete copy, each once; verify clean. */
async function checkDestination(dst: Repository, what: string, full: boolean): Promise<number> {
  const { entries, damaged } = await listSnapshots(dst);
  expect(damaged, `${what}: damaged snapshot files`).toEqual([]);
  const seen = new Set<string>();
  for (const e of entries) {
    const from = (e.manifest.extra?.['copiedFrom'] as { snapshot?: string } | undefined)?.snapshot;
    expect(from !== undefined && template.expected.has(from), `${what}: ${e.id} is not a copy of a source snapshot`).toBe(true);
    expect(seen.has(from!), `${what}: ${from} copied twice`).toBe(false);
    seen.add(from!);
    if (full || seen.size === 1) expect(await restoredTree(dst, e.manifest.tree), `${what}: copy of ${from!.slice(0, 8)} differs`).toEqual(template.expected.get(from!));
  }
  expect(errorsOf(await verifyRepository(dst, { readData: full })), `${what}: verify`).toEqual([]);
  return entries.length;
}

function copyCase(subject: string, trials: number, dstTemplate: () => Promise<{ dst: string; password: string | undefined; s3env?: Record<string, string> }>, timedOnly = false): CrashCase<State> {
  return {
    subject,
    trials,
    timedOnly,
    async prepare() {
      const src = await copyOf(template.repo);
      const d = await dstTemplate();
      const home = join(src, '..', 'home');
      const env = cliEnv(home, { ...(d.s3env ?? {}), CLAWBACK_FROM_PASSWORD: PASSWORD, ...(d.password !== undefined ? { CLAWBACK_TO_PASSWORD: d.password } : {}) });
      return { args: ['copy', '--from', src, '--to', d.dst], env, watch: d.s3env ? [home] : [src, d.dst], state: { src, dst: d.dst, dstPassword: d.password, ...(d.s3env ? { s3env: d.s3env } : {}) } };
    },
    async check(p, _run, t) {
      const { src: srcDir, dst: dstLoc, dstPassword, s3env } = p.state;
      const src = await openAt(srcDir, PASSWORD);
      try {
        const s = await checkSound(src, template.expected, 'source after the kill', { sample: 1 });
        expect(s.infos, 'copy must not write to the source').toBe(0);
      } finally {
        await src.close();
      }
      const dst = await openAt(dstLoc, dstPassword, { env: s3env ?? {} });
      let n: number;
      const t0 = performance.now();
      try {
        n = await checkDestination(dst, 'destination after the kill', true);
        if (process.env['CLAWBACK_CRASH_DEBUG']) console.log(`dst check ${Math.round(performance.now() - t0)} ms`);
        if (t.finished) expect(n).toBe(template.ids.length);
      } finally {
        await dst.close();
      }
      const t1 = performance.now();
      await rerun(p.args, p.env);
      if (process.env['CLAWBACK_CRASH_DEBUG']) console.log(`rerun ${Math.round(performance.now() - t1)} ms`);
      const after = await openAt(dstLoc, dstPassword, { env: s3env ?? {} });
      try {
        expect(await checkDestination(after, 'destination after the next copy', false)).toBe(template.ids.length);
      } finally {
        await after.close();
      }
      return `${n} of ${template.ids.length} copied`;
    },
    dispose: async (p) => {
      await removeTrial(p.state.src);
      if (!p.state.s3env) await removeTrial(p.state.dst);
    },
  };
}

describe('crash campaign: copy', () => {
  it('copy local → local survives SIGKILL at any moment', async () => {
    const cases = [
      copyCase('copy local → local (same chunking)', 25, async () => ({ dst: await copyOf(sameDst), password: DST_PASSWORD })),
      copyCase('copy local → local (re-chunked, unencrypted)', 25, async () => ({ dst: await copyOf(rechunkDst), password: undefined })),
    ];
    const notes: string[] = [];
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'copy local → local',
        tried: 'SIGKILL of `clawback copy --from SRC --to DST` (3 snapshots; half to a same-chunking encrypted DST, half to an unencrypted re-chunking DST)',
        held: 'source untouched and sound; every destination snapshot a complete copy, once; verify --read-data at the destination: only unreferenced data; the next copy succeeds',
        file: FILE,
      },
      async () => {
        let runs = 0;
        for (const c of cases) {
          const r = await runCampaign(c);
          runs += r.trials.length;
          notes.push(`${c.subject.replace('copy local → local ', '')}: ${r.notes}`);
        }
        return { runs, notes: notes.join(' | ') };
      },
    );
  }, 900_000);

  it.skipIf(s3 === null)('copy local → S3 survives SIGKILL at any moment', async () => {
    const env = s3!;
    const bucket = uniqueBucket('clawback-crash');
    const s3env = { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_REGION: env.region };
    const src = await openAt(template.repo, PASSWORD);
    const makeDst = async () => {
      const location = `s3:${env.endpoint}/${bucket}/${randomName('crash')}`;
      const r = await initRepository(await openBackend(location, { env: s3env }), { password: DST_PASSWORD, ...TEMPLATE_INIT, chunkingFrom: src }, { cacheDir: await tmp('cb-cache-'), sealThreads: 0 });
      await r.close();
      return { dst: location, password: DST_PASSWORD, s3env };
    };
    try {
      await tracked(
        {
          section: 'Crash (SIGKILL)',
          subject: 'copy local → S3',
          tried: 'SIGKILL of `clawback copy --from SRC --to s3:…` (3 snapshots to a Ceph RGW bucket, same chunking), by a timer',
          held: 'source untouched and sound; every destination snapshot a complete copy, once; verify --read-data at the destination: only unreferenced data; the next copy succeeds',
          file: FILE,
        },
        async () => {
          const r = await runCampaign(copyCase('copy local → S3', 12, makeDst, true));
          return { runs: r.trials.length, notes: r.notes };
        },
      );
    } finally {
      await src.close();
    }
  }, 900_000);
});
