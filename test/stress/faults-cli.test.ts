/**
 * Faults below the backend, in real `clawback` processes:
 *
 * - a disk that fills up during `snapshot create` (every data write from the k-th on fails
 *   with ENOSPC after taking half its bytes) and a single EIO on a write: the command exits
 *   1 naming the failure, leaves no snapshot, no `.tmp-*` file and no lock, the repository
 *   stays sound, and the next run succeeds;
 * - an EIO while `snapshot restore` reads a pack: exit 1 naming the file; files in the
 *   target are complete or absent; the next run succeeds;
 * - S3 answering 500 and 503 and resetting connections (an HTTP proxy in front of a real
 *   Ceph RGW drops or fails a share of the requests at random): snapshot, restore and
 *   verify succeed through the retry layer and the stored data is exact.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openBackend } from '../../src/backend/location.js';
import { initRepository } from '../../src/repository/repository.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { cli } from '../helpers/cli.js';
import { uniqueBucket } from '../s3/rgw.js';
import { buildTemplate, copyOf, rerun, TEMPLATE_INIT, type Template } from './crash/fixtures.js';
import { backendTempFiles, checkSound, cleanupTmp, cliEnv, openAt, PASSWORD, pseudoRandom, randomName, restoredTree, runChild, tmp, treeOf, writeSourceTree, type Norm } from './harness.js';
import { tracked } from './results.js';

const FILE = 'test/stress/faults-cli.test.ts';
const s3 = inject('s3') ?? null;
let template: Template;
let fresh: Norm;
/** A source with many files: several file saves run at once when the disk fills up. */
let wide: string;
let wideNorm: Norm;

beforeAll(async () => {
  template = await buildTemplate(2);
  fresh = await writeSourceTree(template.src, 3, 2);
  wide = join(await tmp('cb-wide-'), 'wide');
  await writeSourceTree(wide, 4);
  for (let i = 0; i < 60; i++) await writeFile(join(wide, 'notes', `many-${i}.bin`), pseudoRandom(`wide:${i}`, 3_000 + (i % 7) * 1_500));
  wideNorm = await treeOf(wide);
});
afterAll(cleanupTmp);

/** Evenly spread points 1..total (at most `n`). */
function spread(total: number, n: number): number[] {
  if (total <= n) return Array.from({ length: total }, (_, i) => i + 1);
  return [...new Set(Array.from({ length: n }, (_, i) => 1 + Math.round((i * (total - 1)) / (n - 1))))];
}

const DATA_WRITE = /^(FileHandle\.(write|writeFile|writev|appendFile)|writeFile|appendFile|copyFile)(Sync)?$/;

describe('fs-level faults in a real clawback process', () => {
  it('a full disk or an EIO during snapshot create leaves no partial snapshot and no temp files', async () => {
    await tracked(
      {
        section: 'Fault injection',
        subject: 'snapshot create on a failing disk',
        tried: 'real CLI snapshot of ~80 files; the disk fills up at the k-th data write (ENOSPC after a partial write, and from then on), or one write fails with EIO; k spread over all writes of the command',
        held: 'exit 1 with a one-line "clawback: cannot save PATH: no space left on device (ENOSPC)" / "EIO" (no crash, no stack trace); no new snapshot, no .tmp- file, no lock left; every snapshot byte-identical; verify --read-data only unreferenced data; the next run succeeds',
        file: FILE,
      },
      async () => {
        const probeRepo = await copyOf(template.repo);
        const env = cliEnv(join(probeRepo, '..', 'home'), { CLAWBACK_PASSWORD: PASSWORD });
        const probe = await runChild(['-r', probeRepo, 'snapshot', 'create', wide], env, { watch: [probeRepo], logOps: true });
        expect(probe.code, probe.stderr).toBe(0);
        const writes = (probe.opLog ?? []).filter((l) => DATA_WRITE.test(l.split('\t')[1] ?? '')).length;
        expect(writes).toBeGreaterThan(5);
        let runs = 0;
        for (const [kind, pattern] of [
          ['enospc', /no space left on device \(ENOSPC\)/],
          ['eio-write', /I\/O error \(EIO\)/],
        ] as const) {
          for (const k of spread(writes, kind === 'enospc' ? 8 : 4)) {
            const repoDir = await copyOf(template.repo);
            const home = join(repoDir, '..', 'home');
            const e = cliEnv(home, { CLAWBACK_PASSWORD: PASSWORD });
            const args = ['-r', repoDir, 'snapshot', 'create', wide];
            const r = await runChild(args, e, { watch: [repoDir], faultEnv: { CLAWBACK_FAULT: `${kind}:${k}` } });
            const what = `${kind} at data write ${k}/${writes}`;
            expect(r.code, `${what}: ${r.stderr}`).toBe(1);
            expect(r.stderr, what).toMatch(pattern);
            expect(r.stderr, `${what}: a clean message, not a crash with a stack trace`).toMatch(/^clawback: /);
            expect(r.stderr, `${what}: a clean message, not a crash with a stack trace`).not.toMatch(/\n\s+at /);
            expect(r.stderr, `${what}: the message names the file`).toContain(repoDir);
            expect(await backendTempFiles(repoDir), `${what}: temp files`).toEqual([]);
            expect(await readdir(join(repoDir, 'locks')), `${what}: lock left`).toEqual([]);
            const repo = await openAt(repoDir, PASSWORD);
            try {
              const s = await checkSound(repo, template.expected, what, { sample: 1 });
              expect(s.listed.length, `${what}: a snapshot was written`).toBe(template.ids.length);
            } finally {
              await repo.close();
            }
            await rerun(args, e);
            const after = await openAt(repoDir, PASSWORD);
            try {
              const added = (await listSnapshots(after)).entries.filter((x) => !template.expected.has(x.id));
              expect(added.length).toBe(1);
              expect(await restoredTree(after, added[0]!.manifest.tree)).toEqual(wideNorm);
            } finally {
              await after.close();
            }
            runs++;
          }
        }
        return { runs, notes: `${writes} data writes per run` };
      },
    );
  }, 300_000);

  it('an EIO while restore reads the repository fails cleanly and the next run succeeds', async () => {
    await tracked(
      {
        section: 'Fault injection',
        subject: 'snapshot restore on a failing disk',
        tried: 'real CLI `snapshot restore --target`; the k-th read of a repository file fails with EIO; k spread over all reads',
        held: 'exit 1 naming the file and EIO; every file in the target complete or absent; repository sound; the next run (--overwrite) restores exactly',
        file: FILE,
      },
      async () => {
        const repoDir = await copyOf(template.repo);
        const want = template.expected.get(template.ids[1]!)!;
        let runs = 0;
        // Reads per restore: count them with a fault that never fires.
        let reads = 0;
        for (let k = 1; k < 500; k *= 2) {
          const target = join(await tmp('cb-target-'), 'out');
          const env = cliEnv(join(repoDir, '..', 'home'), { CLAWBACK_PASSWORD: PASSWORD });
          const args = ['-r', repoDir, 'snapshot', 'restore', 'v2', '--target', target, '--overwrite'];
          const r = await runChild(args, env, { watch: [repoDir], faultEnv: { CLAWBACK_FAULT: `eio-read:${k}` } });
          if (r.code === 0) {
            reads = k;
            break;
          }
          const what = `EIO at read ${k}`;
          expect(r.code, `${what}: ${r.stderr}`).toBe(1);
          expect(r.stderr, what).toMatch(/EIO/);
          const now = await treeOf(target).catch(() => ({}) as Norm);
          for (const [p, v] of Object.entries(now)) {
            if (basename(p).startsWith('.clawback-tmp-')) continue;
            expect(v, `${what}: ${p} is partial`).toEqual(want[p]);
          }
          await rerun(args, env);
          expect(await treeOf(target)).toEqual(want);
          runs++;
        }
        expect(runs).toBeGreaterThan(2);
        return { runs, notes: `reads failed at k = 1, 2, 4, … up to ${reads / 2}` };
      },
    );
  }, 300_000);
});

// ---------------------------------------------------------------- S3 500/503/reset

interface FaultyProxy {
  server: Server;
  port: number;
  counts: Record<'forwarded' | '500' | '503' | 'reset', number>;
}

/** An HTTP proxy to `target` that fails `rate` of the requests: 500, 503 or a reset connection. */
async function faultyProxy(target: string, rate: number): Promise<FaultyProxy> {
  const t = new URL(target);
  const counts = { forwarded: 0, '500': 0, '503': 0, reset: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const roll = Math.random();
    if (roll < rate) {
      const kind = (['500', '503', 'reset'] as const)[Math.floor((roll / rate) * 3)]!;
      counts[kind]++;
      req.resume();
      if (kind === 'reset') {
        req.socket.destroy();
        return;
      }
      const code = kind === '500' ? 'InternalError' : 'SlowDown';
      res.writeHead(Number(kind), { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message><RequestId>x</RequestId></Error>`);
      return;
    }
    counts.forwarded++;
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, counts };
}

describe.skipIf(s3 === null)('S3 faults', () => {
  it('snapshot, restore and verify succeed through 500s, 503s and connection resets', async () => {
    const env = s3!;
    const proxy = await faultyProxy(env.endpoint, 0.12);
    try {
      await tracked(
        {
          section: 'Fault injection',
          subject: 'S3 500 / 503 / connection reset',
          tried: 'real Ceph RGW behind an HTTP proxy that answers 12% of the requests with 500 InternalError, 503 SlowDown or a reset connection; CLI snapshot create, snapshot restore, verify --read-data',
          held: 'every command succeeds through the retry layer; read directly from RGW afterwards, the snapshot restores byte-identical and verify --read-data is clean',
          file: FILE,
        },
        async () => {
          const bucket = uniqueBucket('clawback-faults');
          const prefix = randomName('faults');
          const s3env = { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_REGION: env.region };
          const direct = `s3:${env.endpoint}/${bucket}/${prefix}`;
          await (await initRepository(await openBackend(direct, { env: s3env }), { password: PASSWORD, ...TEMPLATE_INIT }, { cacheDir: await tmp('cb-cache-'), sealThreads: 0 })).close();
          const viaProxy = `s3:http://127.0.0.1:${proxy.port}/${bucket}/${prefix}`;
          const home = await tmp('cb-home-');
          const e = cliEnv(home, { ...s3env, CLAWBACK_PASSWORD: PASSWORD });
          const target = join(home, 'restored');
          let commands = 0;
          for (const args of [
            ['-r', viaProxy, 'snapshot', 'create', template.src],
            ['-r', viaProxy, 'snapshot', 'restore', 'latest', '--target', target],
            ['-r', viaProxy, 'verify', '--read-data'],
            ['-r', viaProxy, 'snapshot', 'list'],
          ]) {
            const r = await cli(args, e);
            expect(r.code, `${args.slice(2).join(' ')}: ${r.stderr}`).toBe(0);
            commands++;
          }
          expect(await treeOf(target)).toEqual(fresh);
          const repo = await openAt(direct, PASSWORD, { env: s3env });
          try {
            const { entries } = await listSnapshots(repo);
            expect(entries.length).toBe(1);
            await checkSound(repo, new Map([[entries[0]!.id, fresh]]), 'read directly from RGW');
          } finally {
            await repo.close();
          }
          const injected = proxy.counts['500'] + proxy.counts['503'] + proxy.counts.reset;
          expect(injected, 'the proxy injected no fault').toBeGreaterThan(3);
          return { runs: commands, notes: `requests: ${proxy.counts.forwarded} forwarded, ${proxy.counts['500']} × 500, ${proxy.counts['503']} × 503, ${proxy.counts.reset} resets` };
        },
      );
    } finally {
      await new Promise((r) => proxy.server.close(r));
    }
  }, 300_000);
});
