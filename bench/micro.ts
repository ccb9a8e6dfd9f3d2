/**
 * `npm run bench:micro`: this machine's throughput for clawback's building blocks, on the
 * agent data set's v1 (262 MB: SQLite databases, JSONL, markdown notes) from $BENCHDATA
 * (default /tmp/benchdata), or random bytes when it is missing.
 *
 * - chunker (src/chunker): FastCDC with the default parameters and a few others, fixed 64 KiB;
 * - BLAKE3 keyed (src/crypto/hash.ts) on 1 MiB and 64 KiB pieces;
 * - zstd levels 1, 3, 6 (src/compress/zstd.ts) on 1 MiB pieces, with the ratio;
 * - AES-256-GCM (src/crypto/aead.ts) on 1 MiB pieces;
 * - the seal pool (src/repository/seal-pool.ts: zstd 3 + AES-GCM) with 0, 1 and 2 threads;
 * - LMDB (src/index/cache.ts): batched puts through `addIndexFile`, random gets, misses.
 *
 * Best of BENCH_MICRO_RUNS (default 3) runs; one core unless said otherwise. Prints a
 * markdown table. Env BENCH_MICRO_MIB caps the sample (default: the whole data set); each
 * measurement first waits for an idle machine (BENCH_QUIET, see lib/quiet.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chunkBuffer, createChunker, DEFAULT_CHUNKER, type ChunkerParams } from '../src/chunker/index.js';
import { blobIdBytes } from '../src/crypto/hash.js';
import { zstdCompress } from '../src/compress/zstd.js';
import { seal } from '../src/crypto/aead.js';
import { aesCipher } from '../src/crypto/envelope.js';
import { SealPool } from '../src/repository/seal-pool.js';
import { IndexCache } from '../src/index/cache.js';
import type { IndexFile } from '../src/index/format.js';
import { benchDataDir } from './lib/datasets.js';
import { pieces, readSample } from './lib/sample.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { waitQuiet } from './lib/quiet.js';

const MiB = 1024 * 1024;
const runs = Number(process.env['BENCH_MICRO_RUNS'] ?? 3);
const cap = process.env['BENCH_MICRO_MIB'] ? Number(process.env['BENCH_MICRO_MIB']) * MiB : Infinity;
const agentDir = join(benchDataDir(), 'agent', 'v1');
const data = existsSync(agentDir) ? readSample(agentDir, cap) : randomBytes(Math.min(cap, 256 * MiB));
const source = existsSync(agentDir) ? `agent v1 (${(data.length / 1e6).toFixed(0)} MB)` : `random bytes (${(data.length / 1e6).toFixed(0)} MB)`;
const rows: string[][] = [];

async function best(fn: () => unknown): Promise<number> {
  await waitQuiet((s) => process.stderr.write(`${s}\n`));
  let ms = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms / 1000;
}

function row(what: string, bytes: number, s: number, note = ''): void {
  const r = [what, `${(bytes / MiB / s).toFixed(0)} MiB/s`, note];
  rows.push(r);
  process.stderr.write(`${r.join('  ')}\n`);
}

const seed = randomBytes(32);
const key = randomBytes(32);

// Chunkers.
const cdc: [string, ChunkerParams][] = [
  ['FastCDC default', DEFAULT_CHUNKER],
  ['FastCDC 128K/256K/2M', { algorithm: 'fastcdc-2020', minSize: 128 << 10, avgSize: 256 << 10, maxSize: 2 * MiB }],
  ['FastCDC 64K/256K/2M', { algorithm: 'fastcdc-2020', minSize: 64 << 10, avgSize: 256 << 10, maxSize: 2 * MiB }],
  ['fixed 64 KiB', { algorithm: 'fixed', size: 64 << 10 }],
];
for (const [name, p] of cdc) {
  const c = createChunker(p, seed);
  let n = 0;
  const s = await best(() => (n = chunkBuffer(c, data).length));
  const desc = p.algorithm === 'fixed' ? `${p.size}` : `${p.minSize / 1024}/${p.avgSize / 1024}/${p.maxSize / 1024} KiB`;
  row(`chunker ${name} (${desc})`, data.length, s, `${n} chunks, mean ${(data.length / n / 1024).toFixed(0)} KiB`);
}

// BLAKE3 keyed.
for (const size of [MiB, 64 << 10]) {
  const ps = pieces(data, size);
  const s = await best(() => {
    for (const p of ps) blobIdBytes(key, p);
  });
  row(`BLAKE3 keyed, ${size / 1024} KiB pieces`, data.length, s);
}

// zstd.
const mibPieces = pieces(data, MiB);
for (const level of [1, 3, 6]) {
  let out = 0;
  const s = await best(() => {
    out = 0;
    for (const p of mibPieces) out += zstdCompress(p, level)?.length ?? p.length;
  });
  row(`zstd level ${level}, 1 MiB pieces`, data.length, s, `ratio ${(data.length / out).toFixed(2)}`);
}

// AES-256-GCM.
{
  const s = await best(() => {
    for (const p of mibPieces) seal(key, p);
  });
  row('AES-256-GCM seal, 1 MiB pieces', data.length, s);
}

// Seal pool: zstd 3 + AES-GCM, all pieces in flight at once (bounded by 64 outstanding).
for (const threads of [0, 1, 2]) {
  const pool = new SealPool(aesCipher(key), key, key, { level: 3, sqliteLevel: 3 }, threads);
  const s = await best(async () => {
    const inflight = new Set<Promise<unknown>>();
    for (const p of mibPieces) {
      const job: Promise<unknown> = pool.seal(p).then(() => inflight.delete(job));
      inflight.add(job);
      if (inflight.size >= 64) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  });
  await pool.close();
  row(`seal pool zstd 3 + AES-GCM, ${threads} worker thread${threads === 1 ? '' : 's'}${threads === 0 ? ' (inline)' : ''}`, data.length, s);
}

// LMDB.
{
  const dir = mkdtempSync(join(tmpdir(), 'bench-lmdb-'));
  const cache = IndexCache.open(dir);
  const n = 1_000_000;
  const perPack = 1000;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(randomBytes(32).toString('hex'));
  const idx: IndexFile = { superseded: [], packs: [] };
  for (let p = 0; p < n / perPack; p++) {
    idx.packs.push({
      id: randomBytes(32).toString('hex'),
      size: 16 * MiB,
      blobs: ids.slice(p * perPack, (p + 1) * perPack).map((id, i) => ({ type: 'data' as const, id, offset: i * 16384, length: 16384, rawLength: 20000 })),
    });
  }
  await waitQuiet();
  const t0 = performance.now();
  cache.addIndexFile(randomBytes(32).toString('hex'), idx);
  const putS = (performance.now() - t0) / 1000;
  rows.push(['LMDB puts, one transaction (addIndexFile)', `${(n / putS / 1000).toFixed(0)}k/s`, `${n} blobs`]);
  const order = ids.map((_, i) => (i * 7919) % n);
  const getS = await best(() => {
    for (const i of order) cache.get(ids[i]!);
  });
  rows.push(['LMDB random gets (hits)', `${(n / getS / 1000).toFixed(0)}k/s`, `${n} blobs indexed`]);
  const misses = Array.from({ length: 200_000 }, () => randomBytes(32).toString('hex'));
  const hasS = await best(() => {
    for (const id of misses) cache.has(id);
  });
  rows.push(['LMDB `has` (misses)', `${(misses.length / hasS / 1000).toFixed(0)}k/s`, '']);
  cache.close();
  rmSync(dir, { recursive: true, force: true });
  for (const r of rows.slice(-3)) process.stderr.write(`${r.join('  ')}\n`);
}

const machine = await machineInfo();
console.log(`Micro-benchmarks, ${new Date().toISOString().slice(0, 10)}, ${describeMachine(machine)}; data: ${source}; best of ${runs}.\n`);
console.log('| operation | throughput | note |\n|---|--:|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
