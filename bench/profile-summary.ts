/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, one .cpuprofile per thread: the main thread
 * and each worker) as self time per category: walking, reading, chunking, hashing,
 * compressing, encrypting, index (LMDB), packing and writing, trees, start-up, GC, idle.
 *
 *     npx tsx bench/profile-summary.ts PROFILE_OR_DIR… [--top N]
 *
 * Each sample is charged to the innermost stack frame that a category rule recognises (so
 * time in `Buffer.concat` called from `sealEnvelope` counts as encrypting, time in a native
 * zstd call as compressing); samples no rule recognises are "other", listed by function in
 * the top list. Native (napi) calls are charged to the JS function that makes them: in the
 * seal worker (inline source, "[worker eval]") that is the zstd call, while AES-GCM shows as
 * node's cipher frames. Time in the seal pool's own `seal` is the copy of each blob before it
 * is posted to a worker.
 * Prints a markdown table per thread and for all threads together.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Category rules, tried innermost frame first; the first frame any rule matches decides. */
const RULES: [category: string, test: (f: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['SQLite capture (backup API, quick_check)', (f) => /better-sqlite3|\/fs\/sqlite\.|sqlite-capture/.test(f.url)],
  // The seal worker (inline source, url "[worker eval]"): its own frames are the native zstd
  // call (napi time is charged to the calling JS function); AES-GCM shows up as node's
  // cipher frames below it, matched first.
  ['AES-GCM (seal / open, nonces)', (f) => /internal\/crypto\/(cipher|random)|^cipher$|^random$/.test(f.url) || /^(createCipheriv|getAuthTag|randomBytes|randomFillSync)$/.test(f.functionName)],
  ['zstd (compress / decompress)', (f) => /worker eval/.test(f.url)],
  ['chunking', (f) => /\/chunker\//.test(f.url)],
  ['hashing', (f) => /\/crypto\/hash\.|blake-hash/.test(f.url) || /^(digestBuffer|newKeyed|blake3)$/.test(f.functionName)],
  ['zstd (compress / decompress)', (f) => /\/compress\/zstd\.|zstd-napi/.test(f.url) || /^(compress|compressBound)$/.test(f.functionName)],
  ['AES-GCM (seal / open, nonces)', (f) => /\/crypto\/(aead|envelope)\./.test(f.url) || /^(sealEnvelope)$/.test(f.functionName)],
  ['index (LMDB)', (f) => /\/index\/cache\.|\/lmdb\/|msgpackr/.test(f.url)],
  ['seal pool (messages, copies)', (f) => /\/seal-pool\./.test(f.url) || /^(postMessage|receiveMessageOnPort)$/.test(f.functionName)],
  ['trees', (f) => /\/tree\/(codec|node)\./.test(f.url)],
  ['walking (readdir, lstat)', (f) => /^(lstat|readdir|opendir|realpath|readlink)$/.test(f.functionName) || /\/tree\/walk\./.test(f.url)],
  ['file open, read, fstat, close', (f) => /^(readFile|readFileHandle|read|open|openFileHandle|close|fstat|stat|tryReadSync|readSync)$/.test(f.functionName) && /node:internal\/fs|node:fs|^$|promises/.test(f.url)],
  ['writing (packs, restored files: write, fchmod, futimes, rename)', (f) => /^(writeFile|writeBuffer|write|writev|fsync|fdatasync|rename|link|fchmod|futimes|utimes|chmod|mkdir|unlink|symlink)$/.test(f.functionName) && /node:internal\/fs|node:fs|^$|promises/.test(f.url)],
  ['packing (pack writer, backend, blob saver)', (f) => /\/pack\/|\/backend\/|\/blob-saver\./.test(f.url)],
  ['archiver (other)', (f) => /\/archiver\//.test(f.url)],
  ['restorer', (f) => /\/restorer\//.test(f.url)],
  ['repository (other)', (f) => /\/repository\//.test(f.url)],
  ['start-up (module loading, CLI)', (f) => /internal\/modules|tsx|esbuild|commander|\/cli\/|^realm$|internal\/bootstrap/.test(f.url) || f.functionName === 'compileForInternalLoader'],
  ['V8 program (native, unattributed)', (f) => f.functionName === '(program)'],
];

/** Self time (µs) per category and per function of one profile. */
function summarise(p: CpuProfile): { total: number; byCat: Map<string, number>; byFn: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const catOf = new Map<number, string>();
  const category = (id: number): string => {
    const cached = catOf.get(id);
    if (cached !== undefined) return cached;
    let cur: number | undefined = id;
    let found = 'other';
    while (cur !== undefined) {
      const f = byId.get(cur)!.callFrame;
      const rule = RULES.find(([, test]) => test(f));
      if (rule) {
        found = rule[0];
        break;
      }
      cur = parent.get(cur);
    }
    catOf.set(id, found);
    return found;
  };
  const byCat = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (dt <= 0) continue;
    const id = p.samples[i]!;
    total += dt;
    const cat = category(id);
    byCat.set(cat, (byCat.get(cat) ?? 0) + dt);
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? basename(f.url) + ':' + (f.lineNumber + 1) : ''} [${cat}]`;
    byFn.set(key, (byFn.get(key) ?? 0) + dt);
  }
  return { total, byCat, byFn };
}

function table(title: string, total: number, byCat: Map<string, number>): string {
  const busy = total - (byCat.get('idle') ?? 0);
  const rows = [...byCat.entries()].sort((a, b) => b[1] - a[1]);
  return [
    `**${title}**: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`,
    '',
    '| category | self s | % of busy |',
    '|---|--:|--:|',
    ...rows.filter(([c]) => c !== 'idle').map(([c, us]) => `| ${c} | ${(us / 1e6).toFixed(2)} | ${((100 * us) / busy).toFixed(1)} |`),
    `| (idle) | ${((byCat.get('idle') ?? 0) / 1e6).toFixed(2)} | |`,
  ].join('\n');
}

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx >= 0 ? Number(args.splice(topIdx, 2)[1]) : 25;
const files = args.flatMap((a) => (statSync(a).isDirectory() ? readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(a, f)) : [a]));
if (files.length === 0) {
  console.error('usage: tsx bench/profile-summary.ts PROFILE_OR_DIR… [--top N]');
  process.exit(2);
}
const allCat = new Map<string, number>();
const allFn = new Map<string, number>();
let allTotal = 0;
const out: string[] = [];
for (const f of files.sort()) {
  const s = summarise(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  allTotal += s.total;
  for (const [k, v] of s.byCat) allCat.set(k, (allCat.get(k) ?? 0) + v);
  for (const [k, v] of s.byFn) allFn.set(k, (allFn.get(k) ?? 0) + v);
  out.push(table(basename(f), s.total, s.byCat), '');
}
if (files.length > 1) out.push(table(`all ${files.length} threads`, allTotal, allCat), '');
out.push(`**Top ${top} functions by self time (all threads, idle excluded)**`, '', '| function | self s |', '|---|--:|');
for (const [k, v] of [...allFn.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  out.push(`| ${k.replace(/\|/g, '\\|')} | ${(v / 1e6).toFixed(3)} |`);
}
console.log(out.join('\n'));
