/**
 * Chunker throughput benchmark: `npx tsx bench/chunker.ts [MiB]`.
 *
 * Prints MiB/s of FastCDC (`chunkBuffer`, i.e. the `cut` hot loop) on 64 MiB (default) of
 * random data and of text-like data, for average chunk sizes 64 KiB, 256 KiB and 1 MiB
 * (min = avg / 2, max = avg × 8, the default ratios), plus the fixed chunker and
 * `chunkStream` with 64 KiB read pieces. Best of 5 runs, one core.
 */

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { chunkBuffer, chunkStream, createChunker, DEFAULT_CHUNKER } from '../src/chunker/index.js';
import type { Chunker, ChunkerParams } from '../src/chunker/index.js';

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 64) * MiB;
const seed = new Uint8Array(32).fill(7);

function randomData(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 1 << 16) out.set(randomBytes(Math.min(1 << 16, n - off)), off);
  return out;
}

/** Text-like bytes: words from a small Zipf-ish vocabulary, spaces, punctuation, newlines. */
function textData(n: number): Uint8Array {
  let x = 0x9e3779b9;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const vocab: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const len = 1 + Math.floor(rnd() * 9);
    let w = '';
    for (let j = 0; j < len; j++) w += letters[Math.floor(rnd() * rnd() * letters.length)];
    vocab.push(w);
  }
  const out = new Uint8Array(n);
  let pos = 0;
  let col = 0;
  while (pos < n) {
    const w = vocab[Math.floor(vocab.length * rnd() ** 3)]!;
    const tail = rnd() < 0.08 ? '. ' : rnd() < 0.05 ? ', ' : ' ';
    const s = w + tail;
    for (let i = 0; i < s.length && pos < n; i++) out[pos++] = s.charCodeAt(i);
    col += s.length;
    if (col > 72 && pos < n) {
      out[pos++] = 10;
      col = 0;
    }
  }
  return out;
}

function bestOf(runs: number, fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function benchBuffer(label: string, chunker: Chunker, data: Uint8Array): void {
  let lengths: number[] = [];
  const ms = bestOf(5, () => {
    lengths = chunkBuffer(chunker, data);
  });
  const count = lengths.length;
  const mibs = data.length / MiB / (ms / 1000);
  const avg = data.length / count / 1024;
  // FastCDC skips the first minSize bytes of each chunk; also report the rate over the bytes
  // actually hashed.
  const min = chunker.params.algorithm === 'fastcdc-2020' ? chunker.params.minSize : 0;
  const hashed = lengths.reduce((a, len) => a + Math.max(0, len - min), 0);
  const hashedRate = min === 0 ? '' : `  (${(hashed / MiB / (ms / 1000)).toFixed(0)} MiB/s hashed)`;
  console.log(
    `${label.padEnd(44)} ${mibs.toFixed(0).padStart(6)} MiB/s  ${String(count).padStart(6)} chunks, mean ${avg.toFixed(1)} KiB${hashedRate}`,
  );
}

async function benchStream(label: string, chunker: Chunker, data: Uint8Array): Promise<void> {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < data.length; off += 1 << 16) yield data.subarray(off, off + (1 << 16));
    }
    let n = 0;
    for await (const c of chunkStream(chunker, pieces())) n += c.length;
    if (n !== data.length) throw new Error('length mismatch');
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`${label.padEnd(44)} ${(data.length / MiB / (best / 1000)).toFixed(0).padStart(6)} MiB/s`);
}

const random = randomData(total);
const text = textData(total);
console.log(`node ${process.version}, ${total / MiB} MiB per input`);
for (const avgKiB of [64, 256, 1024]) {
  const avgSize = avgKiB * 1024;
  const params: ChunkerParams = { algorithm: 'fastcdc-2020', minSize: avgSize / 2, avgSize, maxSize: avgSize * 8 };
  const chunker = createChunker(params, seed);
  benchBuffer(`fastcdc avg ${avgKiB} KiB, random`, chunker, random);
  benchBuffer(`fastcdc avg ${avgKiB} KiB, text`, chunker, text);
}
{
  // Hash every byte (min = 64): the raw speed of the Gear loop.
  const params: ChunkerParams = { algorithm: 'fastcdc-2020', minSize: 64, avgSize: MiB, maxSize: 64 * MiB };
  const chunker = createChunker(params, seed);
  benchBuffer(`fastcdc 64 B/1 MiB/64 MiB, random`, chunker, random);
  benchBuffer(`fastcdc 64 B/1 MiB/64 MiB, text`, chunker, text);
}
benchBuffer('fixed 64 KiB, random', createChunker({ algorithm: 'fixed', size: 65536 }, seed), random);
const def = createChunker(DEFAULT_CHUNKER, seed);
await benchStream('chunkStream fastcdc default (2 MiB avg), 64 KiB pieces, random', def, random);
