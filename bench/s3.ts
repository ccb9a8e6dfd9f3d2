/**
 * `npx tsx bench/s3.ts [agent] [big]`: clawback and restic snapshotting to a local
 * directory vs to S3 (a throwaway Ceph RGW on loopback that this script starts and stops),
 * for docs/PERFORMANCE.md §"S3 (Ceph RGW on loopback)".
 *
 * - `agent` (default): the agent data set's v1 (../shared/BENCH.md, built under
 *   $BENCHDATA, default /tmp/benchdata; a private copy is snapshotted): for each of BENCH_REPS (3) repetitions and each
 *   of clawback-local, clawback-s3, restic-local, restic-s3 (order rotating), a fresh
 *   repository, a first snapshot of v1, then a full restore checked against a b3sum
 *   manifest of v1. Medians of wall s, CPU s, peak RSS and MB/s (v1 bytes / wall s).
 * - `big`: one file of BENCH_BIG_GIB (1.5) GiB of random bytes snapshotted into RGW and
 *   restored from it (one run; clawback only), to show that memory stays bounded while
 *   4 pack uploads are in flight (packs of 16 MiB go up as multipart uploads).
 *
 * clawback runs as a compiled CLI (bench/lib/build.ts, `BENCH_CLAWBACK=dist|tsx`), restic
 * from apt with its default compression; both encrypt. Each step waits for a quiet
 * machine first (bench/lib/quiet.ts). RGW keeps objects in memory (memstore), so every
 * S3 repository is deleted after its repetition.
 *
 * Env: BENCH_REPS (3), BENCH_WORK (/tmp/benchwork-s3), BENCH_BIG_GIB (1.5),
 * BENCH_QUIET / BENCH_QUIET_MAX_S, BENCHDATA. Writes bench/results/<date>-s3.md and .json
 * and prints the tables.
 */
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { buildClawback, ROOT } from './lib/build.js';
import { checkRestore, warmCache } from './lib/check.js';
import { benchDataDir } from './lib/datasets.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { duBytes, measure, run, type Measurement, type RunSpec } from './lib/measure.js';
import { waitQuiet } from './lib/quiet.js';
import { median } from './lib/report.js';
import { startRgw, type RunningRgw } from '../test/s3/rgw.js';

// The AWS SDK warns once per process on Node < 22 (as in src/cli/main.ts).
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const log = (s: string): void => void process.stderr.write(`[bench-s3 ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const PASSWORD = 'bench password';
const MB = 1e6;

const modes = process.argv.slice(2).filter((a) => a !== '--');
for (const m of modes) {
  if (m !== 'agent' && m !== 'big') {
    console.error(`unknown mode ${m}: choose agent and/or big`);
    process.exit(2);
  }
}
if (modes.length === 0) modes.push('agent');
const reps = Number(process.env['BENCH_REPS'] ?? 3);
const bigGiB = Number(process.env['BENCH_BIG_GIB'] ?? 1.5);
const workRoot = process.env['BENCH_WORK'] ?? '/tmp/benchwork-s3';
mkdirSync(workRoot, { recursive: true });
const work = mkdtempSync(join(workRoot, 'run-'));

/** One measured step of one target. */
interface Sample extends Measurement {
  target: string;
  step: 'snapshot' | 'restore';
  rep: number;
  /** Bytes of the data snapshotted or restored. */
  dataBytes: number;
  /** Repository bytes after the step (local: `du -sb`; S3: sum of object sizes). */
  repoBytes: number;
  /** Fraction of all CPUs busy just before the step started (other work on the machine). */
  busyBefore: number;
}

/** How one tool talks to one kind of repository. */
interface Target {
  name: string;
  tool: 'clawback' | 'restic';
  s3: boolean;
  /** Commands creating a fresh repository in `dir` (S3: under `prefix`). */
  init(dir: string, prefix: string): RunSpec[];
  snapshot(dir: string, prefix: string, src: string): RunSpec;
  restore(dir: string, prefix: string, target: string): RunSpec;
}

let rgw: RunningRgw | undefined;
let s3Client: S3Client | undefined;
const BUCKET = 'bench';

const s3Env = (): Record<string, string> => ({
  AWS_ACCESS_KEY_ID: rgw!.env.accessKeyId,
  AWS_SECRET_ACCESS_KEY: rgw!.env.secretAccessKey,
  AWS_REGION: rgw!.env.region,
});

function clawbackTarget(bin: string, s3: boolean): Target {
  const repo = (dir: string, prefix: string): string => (s3 ? `s3:${rgw!.env.endpoint}/${BUCKET}/${prefix}` : join(dir, 'repo'));
  const cli = (dir: string, prefix: string, args: string[], cwd?: string): RunSpec => ({
    cmd: process.execPath,
    args: [bin, '--repo', repo(dir, prefix), '--cache-dir', join(dir, 'cache'), ...args],
    env: { CLAWBACK_PASSWORD: PASSWORD, ...(s3 ? s3Env() : {}) },
    ...(cwd ? { cwd } : {}),
  });
  return {
    name: s3 ? 'clawback → RGW' : 'clawback → local disk',
    tool: 'clawback',
    s3,
    init: (dir, prefix) => [cli(dir, prefix, ['init'])],
    snapshot: (dir, prefix, src) => cli(dir, prefix, ['--json', 'snapshot', 'create', src]),
    restore: (dir, prefix, target) => cli(dir, prefix, ['snapshot', 'restore', 'latest', '--target', target]),
  };
}

function resticTarget(s3: boolean): Target {
  const base = (dir: string, prefix: string): string[] => [
    '-r',
    s3 ? `s3:${rgw!.env.endpoint}/${BUCKET}/${prefix}` : join(dir, 'repo'),
    '--cache-dir',
    join(dir, 'cache'),
    '--quiet',
  ];
  const env = (): Record<string, string> => ({ RESTIC_PASSWORD: PASSWORD, RESTIC_COMPRESSION: 'auto', ...(s3 ? s3Env() : {}) });
  return {
    name: s3 ? 'restic → RGW' : 'restic → local disk',
    tool: 'restic',
    s3,
    init: (dir, prefix) => [{ cmd: 'restic', args: [...base(dir, prefix), 'init'], env: env() }],
    snapshot: (dir, prefix, src) => ({ cmd: 'restic', args: [...base(dir, prefix), 'backup', '.'], cwd: src, env: env() }),
    restore: (dir, prefix, target) => ({ cmd: 'restic', args: [...base(dir, prefix), 'restore', 'latest', '--target', target], env: env() }),
  };
}

/** Sum of the sizes of the objects under `prefix`. */
async function s3Bytes(prefix: string): Promise<number> {
  let total = 0;
  let token: string | undefined;
  do {
    const page = await s3Client!.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) total += o.Size ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return total;
}

/** Deletes every object under `prefix` (RGW's memstore holds them in RAM). */
async function s3Delete(prefix: string): Promise<void> {
  for (;;) {
    const page = await s3Client!.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await s3Client!.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys, Quiet: true } }));
  }
}

async function repoBytes(t: Target, dir: string, prefix: string): Promise<number> {
  return t.s3 ? s3Bytes(prefix) : duBytes(join(dir, 'repo'));
}

async function step(t: Target, name: Sample['step'], rep: number, spec: RunSpec, dataBytes: number, dir: string, prefix: string): Promise<Sample> {
  const busyBefore = await waitQuiet(log);
  const m = await measure(spec);
  const sample: Sample = { target: t.name, step: name, rep, wallS: m.wallS, cpuS: m.cpuS, rssBytes: m.rssBytes, dataBytes, repoBytes: await repoBytes(t, dir, prefix), busyBefore };
  log(`  ${t.name} ${name}: ${m.wallS.toFixed(2)} s, ${(dataBytes / MB / m.wallS).toFixed(1)} MB/s, CPU ${m.cpuS.toFixed(2)} s, peak RSS ${(m.rssBytes / 2 ** 20).toFixed(0)} MiB`);
  return sample;
}

/**
 * A copy (`cp -a`: same mtimes) of the agent data set's v1 in the work directory, so that
 * another benchmark moving data set versions in and out of its stage (bench/lib/stage.ts)
 * cannot pull it away mid-run. Waits up to 30 minutes for v1 while such a run has it.
 * @throws Error telling how to build the data set when it does not exist.
 */
async function privateCopyOfAgentV1(): Promise<string> {
  const set = join(benchDataDir(), 'agent');
  if (!existsSync(join(set, '.done'))) {
    throw new Error(`data set agent is not built under ${benchDataDir()}: run BENCHDATA=${benchDataDir()} ../shared/bench/make-datasets.sh agent`);
  }
  const v1 = join(set, 'v1');
  for (let waited = 0; !existsSync(v1); waited += 10) {
    if (waited === 0) log(`${v1} is missing (another benchmark has it staged?): waiting for it`);
    if (waited >= 1800) throw new Error(`${v1} did not come back within 30 minutes`);
    await sleep(10_000);
  }
  const copy = join(work, 'agent-v1');
  await run({ cmd: 'cp', args: ['-a', v1, copy] });
  await removeSqliteSideFiles(copy);
  return copy;
}

/**
 * Deletes SQLite side files (`-wal`, `-shm`, `-journal`) under `dir`. Opening a WAL-mode
 * database, even read-only through the backup API as clawback does, leaves an empty `-wal`
 * and a `-shm` next to it; clawback never stores them, restic would. Removed before every
 * pass so every tool snapshots the same files.
 */
async function removeSqliteSideFiles(dir: string): Promise<void> {
  const side = (await run({ cmd: 'find', args: [dir, '-type', 'f', '(', '-name', '*-wal', '-o', '-name', '*-shm', '-o', '-name', '*-journal', ')', '-print', '-delete'] })).stdout.trim();
  if (side !== '') log(`  removed SQLite side files: ${side.split('\n').map((f) => f.slice(dir.length + 1)).join(', ')}`);
}

/** One pass: fresh repository, snapshot `src`, restore and check against `manifest`. */
async function pass(t: Target, rep: number, src: string, dataBytes: number, manifest: string | undefined, tag: string): Promise<Sample[]> {
  const dir = join(work, `${tag}-${t.name.replace(/[^a-z]+/gi, '-')}-r${rep}`);
  const prefix = `${tag}-${t.tool}-r${rep}`;
  mkdirSync(dir, { recursive: true });
  await removeSqliteSideFiles(src);
  for (const s of t.init(dir, prefix)) await run(s);
  const out: Sample[] = [];
  out.push(await step(t, 'snapshot', rep, t.snapshot(dir, prefix, src), dataBytes, dir, prefix));
  const target = join(dir, 'restore');
  mkdirSync(target);
  out.push(await step(t, 'restore', rep, t.restore(dir, prefix, target), dataBytes, dir, prefix));
  // `backup .` from inside src (restic) and `snapshot create SRC` (clawback) both put the
  // content at the target's root.
  // clawback captures SQLite databases (detected by their header) through SQLite's backup
  // API, which rewrites a few header bytes: those compare equal past the 100-byte header.
  if (manifest !== undefined) await checkRestore(target, manifest, { sqliteSource: src });
  rmSync(dir, { recursive: true, force: true });
  if (t.s3) await s3Delete(prefix);
  return out;
}

function table(title: string, samples: Sample[]): string {
  const rows: string[] = [
    `| ${title} | wall s | MB/s | CPU s | peak RSS MiB | repo MB | runs | busy before |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const keys = [...new Set(samples.map((s) => `${s.step}\u0000${s.target}`))];
  for (const k of keys) {
    const [stepName, target] = k.split('\u0000') as [string, string];
    const xs = samples.filter((s) => s.step === stepName && s.target === target);
    const wall = median(xs.map((x) => x.wallS));
    const data = xs[0]!.dataBytes;
    rows.push(
      `| ${stepName} · ${target} | ${wall.toFixed(2)} | ${(data / MB / wall).toFixed(1)} | ${median(xs.map((x) => x.cpuS)).toFixed(2)} | ${(median(xs.map((x) => x.rssBytes)) / 2 ** 20).toFixed(0)} | ${(median(xs.map((x) => x.repoBytes)) / MB).toFixed(1)} | ${xs.length} | ${(Math.max(...xs.map((x) => x.busyBefore)) * 100).toFixed(0)}% |`,
    );
  }
  return rows.join('\n');
}

const started = new Date();
const machine = await machineInfo();
const build = await buildClawback();
const cleanup = (): void => {
  rgw?.stopSync();
  rgw = undefined;
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanup();
  process.exit(143);
});

const sections: string[] = [];
const all: Sample[] = [];
let versions = '';
try {
  log('starting Ceph RGW on loopback (about 15 s)…');
  rgw = await startRgw();
  log(`RGW at ${rgw.env.endpoint}`);
  s3Client = new S3Client({
    endpoint: rgw.env.endpoint,
    region: rgw.env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.env.accessKeyId, secretAccessKey: rgw.env.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await s3Client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const clawbackVersion = (await run({ cmd: process.execPath, args: [build.bin, '--version'] })).stdout.trim();
  const resticVersion = (await run({ cmd: 'restic', args: ['version'] })).stdout.trim();
  versions = `clawback ${clawbackVersion} (${build.mode}, node ${process.version}); ${resticVersion}; Ceph RGW ${(await run({ cmd: 'radosgw', args: ['--version'] })).stdout.trim().split(' ').slice(0, 3).join(' ')}, memstore OSD`;

  if (modes.includes('agent')) {
    const v1 = await privateCopyOfAgentV1();
    const manifest = join(work, 'agent-v1.b3');
    await run({ cmd: 'sh', args: ['-c', `find . -type f ! -name .done -print0 | LC_ALL=C sort -z | xargs -0 -r b3sum > '${manifest}'`], cwd: v1 });
    const bytes = await duBytes(v1);
    log(`agent v1: ${(bytes / MB).toFixed(0)} MB; warming the page cache`);
    await warmCache([v1]);
    const targets = [clawbackTarget(build.bin, false), clawbackTarget(build.bin, true), resticTarget(false), resticTarget(true)];
    const samples: Sample[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const order = targets.map((_, i) => targets[(i + rep - 1) % targets.length]!);
      for (const t of order) {
        log(`agent repetition ${rep}/${reps}: ${t.name}`);
        samples.push(...(await pass(t, rep, v1, bytes, manifest, 'agent')));
      }
    }
    all.push(...samples);
    sections.push(`## agent v1 (${(bytes / MB).toFixed(0)} MB)\n\n${table('step · target', samples)}`);
  }

  if (modes.includes('big')) {
    const src = join(work, 'big');
    mkdirSync(src);
    const size = Math.round(bigGiB * 2 ** 30);
    log(`writing ${bigGiB} GiB of random bytes`);
    await run({ cmd: 'sh', args: ['-c', `head -c ${size} /dev/urandom > big.bin`], cwd: src });
    const manifest = join(work, 'big.b3');
    await run({ cmd: 'sh', args: ['-c', `b3sum ./big.bin > '${manifest}'`], cwd: src });
    const samples: Sample[] = [];
    for (const t of [clawbackTarget(build.bin, true), clawbackTarget(build.bin, false)]) {
      log(`big file: ${t.name}`);
      samples.push(...(await pass(t, 1, src, size, manifest, 'big')));
    }
    all.push(...samples);
    rmSync(src, { recursive: true, force: true });
    sections.push(`## one ${bigGiB} GiB file of random bytes (clawback, one run)\n\n${table('step · target', samples)}`);
  }
} catch (err) {
  // Keep nothing behind on failure either: the work copy of the data and the build.
  rmSync(work, { recursive: true, force: true });
  if (build.mode === 'dist') rmSync(build.root, { recursive: true, force: true });
  throw err;
} finally {
  s3Client?.destroy();
  if (rgw) {
    log('stopping RGW');
    await rgw.stop();
    rgw = undefined;
  }
}

const md = [
  `# clawback and restic to local disk vs S3 (Ceph RGW on loopback) — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Machine: ${describeMachine(machine)}. Versions: ${versions}.`,
  `Medians of ${reps} rotating repetitions (the big file: one run), warm page cache, a fresh repository each time; restores checked against b3sum manifests (SQLite databases, which clawback captures through SQLite's backup API, byte-equal past their 100-byte header). MB/s = data bytes / wall s (1 MB = 10^6 bytes). Repo MB: local \`du -sb\`, S3 the sum of object sizes. "busy before": the highest share of the CPUs busy with other work when a step started (bench/lib/quiet.ts).`,
  '',
  ...sections.map((s) => `${s}\n`),
].join('\n');
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const base = join(outDir, `${started.toISOString().replace(/:/g, '').slice(0, 15)}-s3`);
writeFileSync(`${base}.md`, md);
writeFileSync(`${base}.json`, JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), machine, versions, reps, modes, samples: all }, null, 2));
console.log(md);
log(`wrote ${base}.md and .json`);
rmSync(work, { recursive: true, force: true });
if (build.mode === 'dist') rmSync(build.root, { recursive: true, force: true });
