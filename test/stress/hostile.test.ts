/**
 * Hostile input. Every parser of a repository file kind — pack header (and whole packs),
 * index, tree, snapshot manifest, key file, config, lock file, envelope — and the import
 * archive reader get random bytes and mutated valid encodings (fast-check): each either
 * returns a value or throws a ClawbackError with the documented code (INTEGRITY; USAGE for
 * a config of another format version; UNSAFE for unsafe archive members); never another
 * error, a hang or an unbounded allocation (inputs claim huge counts and sizes).
 *
 * And repository objects crafted to escape the restore target — tree blobs with names
 * containing `/`, `..`, `.`, NUL (saved with `repo.saveBlob`, bypassing `encodeTree`), a
 * symlink restored first and a directory through it next, a target that is a symlink,
 * archives with `..`, absolute paths, hard links, devices and escaping symlinks — are
 * refused, and nothing is written outside the target.
 *
 * CLAWBACK_STRESS_RUNS scales the number of fuzz inputs per parser (default 300).
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { fc, test as fcTest } from '@fast-check/vitest';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/mem.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { aesCipher, noneCipher, openEnvelope, randomKey, sealEnvelope } from '../../src/crypto/envelope.js';
import { isClawbackError } from '../../src/errors.js';
import { decodeIndex, encodeIndex } from '../../src/index/format.js';
import { decodePackHeader, encodePackHeader } from '../../src/pack/format.js';
import { readPackHeaderFromBytes } from '../../src/pack/reader.js';
import { exportSnapshot } from '../../src/portable/export.js';
import { inspectArchive } from '../../src/portable/import.js';
import { decodeConfig, encodeConfig } from '../../src/repository/config.js';
import { openKeyFile, parseKeyFile } from '../../src/repository/keys.js';
import { decodeLockInfo, encodeLockInfo } from '../../src/repository/lock.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { decodeManifest, encodeManifest } from '../../src/snapshot/manifest.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { decodeTree, encodeTree } from '../../src/tree/codec.js';
import { TEMPLATE_INIT } from './crash/fixtures.js';
import { cleanupTmp, tmp, treeOf, writeSourceTree } from './harness.js';
import { record } from './results.js';

const FILE = 'test/stress/hostile.test.ts';
const RUNS = Number(process.env['CLAWBACK_STRESS_RUNS'] ?? 0) || 300;
/** Runs per subject, with what was tried and what held (recorded in afterAll). */
const counts = new Map<string, { runs: number; tried: string; held: string; t0: number }>();
const FUZZ_TRIED = 'fast-check: random bytes, and valid encodings with 1–4 mutations (bit flips, byte overwrites, truncation, insertion, deletion, huge claimed counts and sizes)';
const FUZZ_HELD = 'returns a value or throws ClawbackError INTEGRITY (USAGE: config of another version; UNSAFE: unsafe archive member); never another error, a hang or an unbounded allocation';

/** Counts `n` runs of `subject`. */
function tally(subject: string, n = 1, tried = FUZZ_TRIED, held = FUZZ_HELD): void {
  const c = counts.get(subject) ?? { runs: 0, tried, held, t0: performance.now() };
  c.runs += n;
  counts.set(subject, c);
}

// ---------------------------------------------------------------- samples

interface Samples {
  packHeader: Buffer;
  pack: Buffer;
  index: Buffer;
  tree: Uint8Array;
  manifest: Uint8Array;
  keyFile: Buffer;
  config: Buffer;
  lock: Buffer;
  envelope: Buffer;
  archive: Buffer;
}

let s: Samples;
let repo: Repository;
let base: string;

beforeAll(async () => {
  base = await tmp('cb-hostile-');
  const src = join(base, 'src');
  await writeSourceTree(src, 1);
  const backend = new MemoryBackend();
  repo = await initRepository(backend, { password: undefined, ...TEMPLATE_INIT }, { cacheDir: join(base, 'cache'), sealThreads: 0 });
  const snap = await createSnapshot(repo, { paths: [src] });
  const packs: string[] = [];
  for await (const f of backend.list('data')) packs.push(f.name);
  const indexes: string[] = [];
  for await (const f of backend.list('index')) indexes.push(f.name);
  const keys: string[] = [];
  for await (const f of backend.list('keys')) keys.push(f.name);
  const pack = Buffer.from(await backend.load({ type: 'data', name: packs[0]! }));
  const hlen = pack.readUInt32LE(pack.length - 4);
  const archive = join(base, 'export.tar.gz');
  await exportSnapshot(repo, (await listSnapshots(repo)).entries[0]!, archive);
  s = {
    pack,
    packHeader: openEnvelope(noneCipher, pack.subarray(pack.length - 4 - hlen, pack.length - 4), 'h', 1 << 26, false),
    index: await repo.loadFile('index', indexes[0]!),
    tree: await repo.loadBlob(snap.manifest.tree),
    manifest: encodeManifest(snap.manifest),
    keyFile: Buffer.from(await backend.load({ type: 'keys', name: keys[0]! })),
    config: encodeConfig(repo.config),
    lock: encodeLockInfo({ time: new Date().toISOString(), host: 'h', pid: 42, exclusive: true, username: 'u' }),
    envelope: sealEnvelope(aesCipher(Buffer.alloc(32, 7)), Buffer.from('x'.repeat(500)), 3),
    archive: await readFile(archive),
  };
});

afterAll(async () => {
  await repo?.close();
  // Only subjects whose tests all passed are recorded (vitest reports the failures).
  for (const [subject, c] of counts) {
    if (failed.has(subject)) continue;
    await record({ section: 'Hostile input', subject, tried: c.tried, runs: c.runs, held: c.held, ok: true, file: FILE, ms: Math.round(performance.now() - c.t0), at: new Date().toISOString() });
  }
  await cleanupTmp();
});

/** A mutation of `bytes`: each step flips a bit, overwrites a byte, cuts, inserts or deletes. */
function mutated(sample: () => Uint8Array): fc.Arbitrary<Uint8Array> {
  const step = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x2f, 0x2e, 0x22, 0x5c) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('huge' as const), at: fc.nat() }),
  );
  return fc.array(step, { minLength: 1, maxLength: 4 }).map((steps) => {
    let b = Buffer.from(sample());
    for (const st of steps) {
      const at = b.length === 0 ? 0 : st.at % b.length;
      if (st.kind === 'flip' && b.length > 0) b[at] = b[at]! ^ (1 << st.bit);
      else if (st.kind === 'set' && b.length > 0) b[at] = st.value;
      else if (st.kind === 'cut') b = b.subarray(0, at);
      else if (st.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(st.bytes), b.subarray(at)]);
      else if (st.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + st.n)]);
      else if (st.kind === 'huge' && b.length >= at + 4) b.writeUInt32LE(0xfffffff0, at);
    }
    return new Uint8Array(b);
  });
}

const bytes = (sample: () => Uint8Array) => fc.oneof(fc.uint8Array({ maxLength: 4096 }), mutated(sample), mutated(sample));

/** Runs `fn`: a value is fine; an error must be a ClawbackError with one of `codes`. */
const failed = new Set<string>();

async function mustBeClean(subject: string, fn: () => unknown, codes: string[] = ['INTEGRITY']): Promise<void> {
  tally(subject);
  try {
    await fn();
  } catch (err) {
    if (!isClawbackError(err) || !codes.includes(err.code)) {
      failed.add(subject);
      throw new Error(`${subject}: expected a ClawbackError ${codes.join('/')}, got ${String(err)}\n${(err as Error).stack ?? ''}`);
    }
    expect(err.message.length).toBeGreaterThan(10);
  }
}

const runs = { numRuns: RUNS };

describe('parsers under random and mutated bytes', () => {
  it('the valid samples decode (the fuzzers start from real encodings)', () => {
    expect(decodePackHeader(s.packHeader, s.pack.length - 4 - s.pack.readUInt32LE(s.pack.length - 4), 'p').length).toBeGreaterThan(0);
    expect(readPackHeaderFromBytes(noneCipher, 'p', s.pack).length).toBeGreaterThan(0);
    expect(decodeIndex(s.index, 'i').packs.length).toBeGreaterThan(0);
    expect(decodeTree(s.tree).nodes.length).toBeGreaterThan(0);
    expect(decodeManifest(s.manifest).version).toBe(1);
    expect(parseKeyFile(s.keyFile, 'k').kdf).toBe('none');
    expect(decodeConfig(s.config, 'c').version).toBe(1);
    expect(decodeLockInfo(s.lock).pid).toBe(42);
    expect(encodePackHeader([]).length).toBe(9);
    expect(encodeIndex({ packs: [], superseded: [] }).length).toBe(13);
    expect(encodeTree({ nodes: [] }).length).toBeGreaterThan(0);
  });

  fcTest.prop([bytes(() => s.packHeader), fc.nat(1 << 20)], runs)('pack header', async (b, blobBytes) => {
    await mustBeClean('pack header', () => decodePackHeader(b, blobBytes, 'pack p'));
  });

  fcTest.prop([bytes(() => s.pack)], runs)('whole pack (header located from the trailer)', async (b) => {
    await mustBeClean('pack file', () => readPackHeaderFromBytes(noneCipher, 'p', b));
  });

  fcTest.prop([bytes(() => s.index)], runs)('index file', async (b) => {
    await mustBeClean('index file', () => decodeIndex(b, 'index i'));
  });

  fcTest.prop([bytes(() => s.tree)], runs)('tree', async (b) => {
    await mustBeClean('tree blob', () => decodeTree(b));
  });

  fcTest.prop([bytes(() => s.manifest)], runs)('snapshot manifest', async (b) => {
    await mustBeClean('snapshot manifest', () => decodeManifest(b));
  });

  fcTest.prop([bytes(() => s.keyFile)], runs)('key file (parse, and open without a password)', async (b) => {
    await mustBeClean('key file', async () => openKeyFile(parseKeyFile(b, 'key k'), undefined, 'key k'));
  });

  fcTest.prop([bytes(() => s.config)], runs)('config', async (b) => {
    await mustBeClean('config', () => decodeConfig(b, 'repo'), ['INTEGRITY', 'USAGE']);
  });

  fcTest.prop([bytes(() => s.lock)], runs)('lock file', async (b) => {
    await mustBeClean('lock file', () => decodeLockInfo(b));
  });

  fcTest.prop([bytes(() => s.envelope), fc.boolean()], runs)('envelope (AES-GCM and plain, zstd frames claiming any size)', async (b, enc) => {
    await mustBeClean('envelope', () => openEnvelope(enc ? aesCipher(Buffer.alloc(32, 7)) : noneCipher, b, 'file f', 64 << 20, false));
  });

  it('a key file with huge scrypt parameters is refused before deriving', async () => {
    const k = JSON.parse(s.keyFile.toString()) as Record<string, unknown>;
    const cases = [
      [1 << 30, 8, 1],
      [1 << 21, 32, 16],
      [1 << 20, 1024, 1],
      [1 << 20, 8, 16],
      [1 << 21, 8, 1],
      [3000, 8, 1],
    ] as const;
    for (const [N, r, p] of cases) {
      const file = Buffer.from(JSON.stringify({ ...k, kdf: 'scrypt', N, r, p, salt: randomKey().toString('base64'), data: randomKey().toString('base64') }));
      await expect(openKeyFile(parseKeyFile(file, 'key k'), 'pw', 'key k')).rejects.toMatchObject({ code: 'INTEGRITY', message: expect.stringMatching(/scrypt/) });
    }
    tally('key file with huge scrypt parameters', cases.length, 'key files claiming scrypt N up to 2^30, r up to 1024, p up to 16', 'refused with INTEGRITY before any derivation (nothing beyond what calibration makes: 1 GiB); a damaged key file cannot make opening take gigabytes and minutes');
  });
});

// ---------------------------------------------------------------- archives

/** A .tar.gz with `entries` (headers and contents). */
async function archiveOf(path: string, entries: { header: Partial<tar.Header> & { name: string }; body?: string }[]): Promise<string> {
  const pack = tar.pack();
  const done = pipeline(pack, createGzip(), createWriteStream(path));
  for (const e of entries) {
    await new Promise<void>((res, rej) => pack.entry(e.header as tar.Header, e.body ?? '', (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await done;
  return path;
}

describe('import archives', () => {
  fcTest.prop([fc.oneof(fc.uint8Array({ maxLength: 8192 }), mutated(() => s.archive))], { numRuns: Math.round(RUNS / 3) })('random and mutated .tar.gz bytes', async (b) => {
    const f = join(base, `fuzz-${Math.random().toString(16).slice(2)}.tar.gz`);
    await writeFile(f, b);
    await mustBeClean('import archive (.tar.gz bytes)', () => inspectArchive(f), ['INTEGRITY', 'UNSAFE']);
  });

  fcTest.prop([mutated(() => gunzipSync(s.archive))], { numRuns: Math.round(RUNS / 3) })('mutated tar streams (valid gzip)', async (t) => {
    const f = join(base, `fuzz-${Math.random().toString(16).slice(2)}.tar.gz`);
    await writeFile(f, gzipSync(t));
    await mustBeClean('import archive (tar stream)', () => inspectArchive(f), ['INTEGRITY', 'UNSAFE']);
  });

  it('unsafe members are refused with UNSAFE', async () => {
    const cases: [string, { header: Partial<tar.Header> & { name: string }; body?: string }[]][] = [
      ['dotdot', [{ header: { name: '../evil', type: 'file', size: 1 }, body: 'x' }]],
      ['absolute', [{ header: { name: '/etc/evil', type: 'file', size: 1 }, body: 'x' }]],
      ['hard link', [{ header: { name: 'a', type: 'file', size: 1 }, body: 'x' }, { header: { name: 'b', type: 'link', linkname: 'a' } }]],
      ['device', [{ header: { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 } }]],
      ['fifo', [{ header: { name: 'fifo', type: 'fifo' } }]],
      ['escaping symlink', [{ header: { name: 'l', type: 'symlink', linkname: '../../outside' } }]],
      ['absolute symlink', [{ header: { name: 'l', type: 'symlink', linkname: '/etc' } }]],
      ['file below a symlink', [{ header: { name: 'd', type: 'symlink', linkname: 'x' } }, { header: { name: 'd/f', type: 'file', size: 1 }, body: 'x' }]],
      ['symlink chain out', [{ header: { name: 'a', type: 'directory' } }, { header: { name: 'a/up', type: 'symlink', linkname: '..' } }, { header: { name: 'b', type: 'symlink', linkname: 'a/up/..' } }]],
    ];
    for (const [name, entries] of cases) {
      const f = await archiveOf(join(base, `${name.replace(/ /g, '-')}.tar.gz`), entries);
      await expect(inspectArchive(f), name).rejects.toMatchObject({ code: 'UNSAFE' });
    }
    tally('import archive (crafted members)', cases.length, `crafted archives: ${cases.map(([n]) => n).join(', ')}`, 'refused with UNSAFE by the first pass, before anything is written');
  });
});

// ---------------------------------------------------------------- restore escapes

/** A raw tree blob (bypassing encodeTree's checks) with one node of each given name. */
function rawTree(nodes: { name: string; type: 'file' | 'dir' | 'symlink'; content?: string[]; subtree?: string; target?: string }[]): Uint8Array {
  const parts = nodes.map((n) => {
    const common = `{"name":${JSON.stringify(n.name)},"type":"${n.type}","mode":${n.type === 'dir' ? 493 : 420},"mtime":"1700000000000000000","size":${n.type === 'file' ? 1 : 0}`;
    if (n.type === 'file') return `${common},"content":${JSON.stringify(n.content ?? [])}}`;
    if (n.type === 'dir') return `${common},"subtree":"${n.subtree}"}`;
    return `${common},"target":${JSON.stringify(n.target)}}`;
  });
  return Buffer.from(`{"nodes":[${parts.join(',')}]}`);
}

/** A directory `outside` next to the target with a sentinel; returns a function listing what is there. */
async function arena(): Promise<{ target: string; outside: string; snapshot: () => Promise<string> }> {
  const dir = await tmp('cb-arena-');
  const outside = join(dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'sentinel'), 'keep');
  const target = join(dir, 'target');
  const snapshot = async () => JSON.stringify({ top: (await readdir(dir)).sort(), outside: await treeOf(outside) });
  return { target, outside, snapshot };
}

describe('restore of crafted trees stays inside the target', () => {
  it('names with /, .., ., NUL or empty are refused; nothing is written outside', async () => {
    const one = (await repo.saveBlob('data', Buffer.from('x'))).id;
    const empty = (await repo.saveBlob('tree', encodeTree({ nodes: [] }))).id;
    await repo.flush();
    let n = 0;
    for (const name of ['../evil', '..', '.', 'a/b', '/abs', 'a\u0000b', '', '../../outside/sentinel']) {
      for (const type of ['file', 'dir', 'symlink'] as const) {
        const raw = rawTree([{ name, type, content: [one], subtree: empty, target: 'x' }]);
        const t = await repo.saveBlob('tree', raw);
        await repo.flush();
        // The safe sibling is in another tree, restored next to it.
        const top = await repo.saveBlob('tree', rawTree([{ name: 'a-safe', type: 'file', content: [one] }, { name: 'z', type: 'dir', subtree: t.id }]));
        await repo.flush();
        const a = await arena();
        const before = await a.snapshot();
        let err: unknown;
        try {
          await restoreTree(repo, top.id, a.target);
        } catch (e) {
          err = e;
        }
        expect(isClawbackError(err, 'INTEGRITY', 'UNSAFE'), `name ${JSON.stringify(name)} (${type}): ${String(err)}`).toBe(true);
        expect(await a.snapshot(), `name ${JSON.stringify(name)} (${type}) wrote outside the target`).toBe(before.replace('"outside"]', '"outside","target"]'));
        n++;
      }
    }
    tally('restore of crafted trees', n, 'raw tree blobs (saved with repo.saveBlob, bypassing encodeTree) naming a file, dir or symlink `../evil`, `..`, `.`, `a/b`, `/abs`, NUL, empty, `../../outside/sentinel`; a safe sibling next to it', 'restore fails with INTEGRITY/UNSAFE; nothing appears or changes outside the target');
  });

  it('a symlink restored first, then a directory of the same name through it: the link is replaced, never followed', async () => {
    const a = await arena();
    const one = (await repo.saveBlob('data', Buffer.from('x'))).id;
    await repo.flush();
    const first = await repo.saveBlob('tree', rawTree([{ name: 'd', type: 'symlink', target: a.outside }]));
    const inner = await repo.saveBlob('tree', rawTree([{ name: 'new', type: 'file', content: [one] }, { name: 'sentinel', type: 'file', content: [one] }]));
    await repo.flush();
    const second = await repo.saveBlob('tree', rawTree([{ name: 'd', type: 'dir', subtree: inner.id }]));
    await repo.flush();
    await restoreTree(repo, first.id, a.target);
    await restoreTree(repo, second.id, a.target, { overwrite: true });
    expect(await readFile(join(a.outside, 'sentinel'), 'utf8')).toBe('keep');
    expect(await readdir(a.outside)).toEqual(['sentinel']);
    expect(await readFile(join(a.target, 'd', 'new'), 'utf8')).toBe('x');
    // A symlink already in the target on the path of --path: replaced as well.
    const b = await arena();
    await mkdir(b.target);
    await symlink(b.outside, join(b.target, 'd'));
    await restoreTree(repo, second.id, b.target, { overwrite: true, paths: ['d/new'] });
    expect(await readdir(b.outside)).toEqual(['sentinel']);
    // A target that is itself a symlink is refused.
    const c = await arena();
    await symlink(c.outside, c.target);
    await expect(restoreTree(repo, second.id, c.target, { overwrite: true })).rejects.toMatchObject({ code: 'UNSAFE' });
    expect(await readdir(c.outside)).toEqual(['sentinel']);
    tally('restore through symlinks', 3, 'a snapshot puts a symlink `d` → outside, the next one a directory `d/…` (also with --path d/new, and a pre-existing link); a target that is a symlink', 'the link is replaced, never followed; a symlinked target is refused (UNSAFE); the outside directory is unchanged');
  });
});
