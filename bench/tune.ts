/**
 * Chunk-size tuning: `npx tsx bench/tune.ts [--quick]`.
 *
 * For several FastCDC parameter sets, and for SQLite databases cut with the fixed chunker at
 * several sizes (files detected by their 16-byte header "SQLite format 3\0" through an
 * archiver capture hook that hands the raw file to the SQLite chunker; plain snapshots' own
 * capture through the backup API is turned off with `sqlite: false`, so "SQLite as files"
 * means exactly that), measures on the data sets of ../shared/BENCH.md:
 *
 * - agent: repository bytes after v1, bytes added by the v2 snapshot (the "next day"),
 *   first-snapshot wall time;
 * - npmver: repository bytes after v1..v6 in order, and the v1 snapshot time.
 *
 * Each configuration gets a fresh encrypted repository on the local disk (fsync on, zstd 3,
 * 16 MiB packs, fast scrypt); repository bytes are `du -sb`, so they include packs, index
 * files, trees and snapshot manifests. Runs in-process through the library (createSnapshot),
 * with the v2 snapshot given the v1 snapshot as parent (same `source`).
 *
 * Writes bench/results/<date>-chunking.json and prints markdown tables.
 */
import { mkdirSync, mkdtempSync, openSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalBackend } from '../src/backend/local.js';
import { initRepository } from '../src/repository/repository.js';
import { createSnapshot } from '../src/archiver/create-snapshot.js';
import type { ArchiveHooks } from '../src/archiver/archiver.js';
import type { ChunkerParams } from '../src/chunker/params.js';
import { ROOT } from './lib/build.js';
import { loadDataSet } from './lib/datasets.js';
import { duBytes } from './lib/measure.js';
import { waitQuiet } from './lib/quiet.js';
import { describeMachine, machineInfo } from './lib/machine.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** One configuration under test. */
interface Config {
  name: string;
  chunker: ChunkerParams;
  /** Fixed chunk size for SQLite files, or undefined to chunk them like other files. */
  sqliteFixed?: number;
  /** zstd level (default 3). */
  level?: number;
}

/** Capture hook: files starting with the SQLite header become 'sqlite' nodes. */
const sqliteByHeader: ArchiveHooks = {
  async capture(entry) {
    if (entry.stats.size < 100n) return undefined;
    const fd = openSync(entry.absPath, 'r');
    const head = Buffer.alloc(16);
    try {
      readSync(fd, head, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
    return head.equals(SQLITE_MAGIC) ? { type: 'sqlite', path: entry.absPath } : undefined;
  },
};

const cdc = (min: number, avg: number, max = avg * 8): ChunkerParams => ({ algorithm: 'fastcdc-2020', minSize: min, avgSize: avg, maxSize: max });
const label = (p: ChunkerParams): string =>
  p.algorithm === 'fixed' ? `fixed ${p.size / KiB}K` : `${p.minSize / KiB}K/${p.avgSize / KiB}K/${p.maxSize / KiB}K`;

const quick = process.argv.includes('--quick');
const cdcSets: ChunkerParams[] = quick
  ? [cdc(512 * KiB, MiB), cdc(64 * KiB, 256 * KiB)]
  : [
      cdc(512 * KiB, MiB), cdc(256 * KiB, MiB),
      cdc(256 * KiB, 512 * KiB), cdc(128 * KiB, 512 * KiB),
      cdc(128 * KiB, 256 * KiB), cdc(64 * KiB, 256 * KiB),
      cdc(64 * KiB, 128 * KiB), cdc(32 * KiB, 128 * KiB),
      cdc(16 * KiB, 64 * KiB),
    ];
const configs: Config[] = [];
for (const c of cdcSets) configs.push({ name: `${label(c)}, SQLite as files`, chunker: c });
const sqliteBase = quick ? [cdc(64 * KiB, 256 * KiB)] : [cdc(512 * KiB, MiB), cdc(128 * KiB, 512 * KiB), cdc(64 * KiB, 256 * KiB)];
for (const c of sqliteBase) {
  for (const s of [4, 16, 32, 64]) configs.push({ name: `${label(c)}, SQLite fixed ${s}K`, chunker: c, sqliteFixed: s * KiB });
}
if (!quick) {
  for (const level of [1, 2, 4, 6]) {
    configs.push({ name: `${label(cdc(512 * KiB, MiB))}, SQLite fixed 32K, zstd ${level}`, chunker: cdc(512 * KiB, MiB), sqliteFixed: 32 * KiB, level });
  }
  configs.push({ name: `${label(cdc(MiB, 2 * MiB))}, SQLite fixed 32K`, chunker: cdc(MiB, 2 * MiB), sqliteFixed: 32 * KiB });
}
const reps = Number(process.env['TUNE_REPS'] ?? 3);

interface Row {
  config: string;
  chunker: ChunkerParams;
  sqliteFixed: number | null;
  level: number;
  samples: unknown[];
  agentV1Bytes: number;
  agentV2AddedBytes: number;
  agentFirstS: number;
  agentNextS: number;
  npmverV1S: number;
  npmverFinalBytes: number;
  agentV1Blobs: number;
  agentV2Blobs: number;
}

const agent = await loadDataSet('agent');
const npmver = await loadDataSet('npmver');
const work = mkdtempSync(join(process.env['BENCH_WORK'] ?? tmpdir(), 'tune-'));
const rows: Row[] = [];

let repoCount = 0;
async function repoFor(cfg: Config, name: string) {
  const dir = join(work, `${repoCount++}-${name}`);
  mkdirSync(dir, { recursive: true });
  const repo = await initRepository(
    new LocalBackend(join(dir, 'repo')),
    {
      password: 'pw',
      scrypt: { N: 1024, r: 8, p: 1 },
      chunker: cfg.chunker,
      sqliteChunker: { algorithm: 'fixed', size: cfg.sqliteFixed ?? 64 * KiB },
      compressionLevel: cfg.level ?? 3,
    },
    { cacheDir: join(dir, 'cache') },
  );
  return { repo, path: join(dir, 'repo') };
}

async function timed<T>(fn: () => Promise<T>, quiet = true): Promise<[T, number]> {
  if (quiet) await waitQuiet();
  const t0 = performance.now();
  const r = await fn();
  return [r, (performance.now() - t0) / 1000];
}

/** One pass of one configuration (a fresh repository, so a fresh gear seed). */
async function measureConfig(cfg: Config): Promise<Omit<Row, 'config' | 'chunker' | 'sqliteFixed' | 'level' | 'samples'>> {
  const hooks = cfg.sqliteFixed !== undefined ? sqliteByHeader : undefined;
  // agent v1 then v2, same source so v1 is v2's parent.
  const a = await repoFor(cfg, 'agent');
  const [s1, agentFirstS] = await timed(() => createSnapshot(a.repo, { paths: [agent.versions[0]!], source: 'bench', hooks, sqlite: false }));
  const agentV1Bytes = await duBytes(a.path);
  const [s2, agentNextS] = await timed(() => createSnapshot(a.repo, { paths: [agent.versions[1]!], source: 'bench', hooks, sqlite: false }), false);
  const agentV2AddedBytes = (await duBytes(a.path)) - agentV1Bytes;
  await a.repo.close();
  const n = await repoFor(cfg, 'npmver');
  let npmverV1S = 0;
  for (const [j, v] of npmver.versions.entries()) {
    const [, t] = await timed(() => createSnapshot(n.repo, { paths: [v], source: 'bench', sqlite: false }), j === 0);
    if (j === 0) npmverV1S = t;
  }
  const npmverFinalBytes = await duBytes(n.path);
  await n.repo.close();
  return {
    agentV1Bytes, agentV2AddedBytes, agentFirstS, agentNextS, npmverV1S, npmverFinalBytes,
    agentV1Blobs: s1.manifest.summary.blobsAdded, agentV2Blobs: s2.manifest.summary.blobsAdded,
  };
}

const median = (xs: number[]): number => {
  const t = [...xs].sort((x, y) => x - y);
  const m = t.length >> 1;
  return t.length % 2 ? t[m]! : (t[m - 1]! + t[m]!) / 2;
};

const machine = await machineInfo();
await measureConfig(configs[0]!); // warms the JIT and the page cache
process.stderr.write(`warm-up done; ${configs.length} configurations × ${reps} repetitions\n`);
const samples = new Map<Config, Awaited<ReturnType<typeof measureConfig>>[]>(configs.map((c) => [c, []]));
for (let rep = 0; rep < reps; rep++) {
  for (const cfg of configs) {
    const m = await measureConfig(cfg);
    samples.get(cfg)!.push(m);
    process.stderr.write(`[${rep + 1}/${reps}] ${cfg.name}: agent v1 ${(m.agentV1Bytes / 1e6).toFixed(1)} MB in ${m.agentFirstS.toFixed(2)} s, v2 +${(m.agentV2AddedBytes / 1e6).toFixed(2)} MB; npmver final ${(m.npmverFinalBytes / 1e6).toFixed(1)} MB\n`);
  }
}
for (const cfg of configs) {
  const xs = samples.get(cfg)!;
  const med = (k: keyof (typeof xs)[number]): number => median(xs.map((x) => x[k]));
  rows.push({
    config: cfg.name, chunker: cfg.chunker, sqliteFixed: cfg.sqliteFixed ?? null, level: cfg.level ?? 3,
    agentV1Bytes: med('agentV1Bytes'), agentV2AddedBytes: med('agentV2AddedBytes'), agentFirstS: med('agentFirstS'), agentNextS: med('agentNextS'),
    npmverV1S: med('npmverV1S'), npmverFinalBytes: med('npmverFinalBytes'), agentV1Blobs: med('agentV1Blobs'), agentV2Blobs: med('agentV2Blobs'),
    samples: xs,
  });
}

const mb = (b: number): string => (b / 1e6).toFixed(2);
const lines = [
  `Chunking measurement, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${describeMachine(machine)}.`,
  `Medians of ${reps} passes, each with a fresh encrypted repository (fresh gear seed; zstd 3 unless named, 16 MiB packs); sizes are \`du -sb\` of the repository.`,
  '',
  '| configuration (min/avg/max) | agent v1 repo MB | agent v2 added MB | agent first s | agent next s | agent v1 / v2 blobs | npmver v1..v6 repo MB | npmver v1 s |',
  '|---|--:|--:|--:|--:|--:|--:|--:|',
  ...rows.map((r) => `| ${r.config} | ${mb(r.agentV1Bytes)} | ${mb(r.agentV2AddedBytes)} | ${r.agentFirstS.toFixed(2)} | ${r.agentNextS.toFixed(2)} | ${r.agentV1Blobs} / ${r.agentV2Blobs} | ${mb(r.npmverFinalBytes)} | ${r.npmverV1S.toFixed(2)} |`),
];
console.log(lines.join('\n'));
const out = join(ROOT, 'bench', 'results', `${new Date().toISOString().replace(/:/g, '').slice(0, 15)}-chunking`);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(`${out}.json`, JSON.stringify({ machine, reps, rows }, null, 2));
writeFileSync(`${out}.md`, lines.join('\n') + '\n');
rmSync(work, { recursive: true, force: true });
