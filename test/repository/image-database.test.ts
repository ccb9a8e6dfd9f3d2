/**
 * SealPool.imageDatabase: a blob worker images a SQLite database in a read transaction it
 * holds, cuts, hashes and seals the image where it lies, and checks it in that transaction.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SealPool } from '../../src/repository/seal-pool.js';
import { aesCipher, openEnvelope } from '../../src/crypto/envelope.js';
import { blobId } from '../../src/crypto/hash.js';
import { createChunker } from '../../src/chunker/index.js';
import { useTmp } from '../helpers/tmp.js';

const key = randomBytes(32);
const hashKey = randomBytes(32);
const cipher = aesCipher(key);
const chunker = createChunker({ algorithm: 'fixed', size: 4096 }, Buffer.alloc(32));
let pool: SealPool;
const tmp = useTmp('clawback-image-');

beforeAll(() => {
  process.env['SQLITE_USE_URI'] ??= '1'; // as the CLI sets it: quiet databases open immutable
  pool = new SealPool(cipher, key, hashKey, { level: 3, sqliteLevel: 3 }, 2);
});
afterAll(() => pool.close());

/** A rollback-journal database of `rows` rows; quiet (untouched for over a second) unless `live`. */
async function makeDb(path: string, rows: number, live = false): Promise<void> {
  const db = new Database(path);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)');
  const ins = db.prepare('INSERT INTO t (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`row ${i} `.padEnd(300, 'x'));
  })();
  db.close();
  if (!live) await new Promise((r) => setTimeout(r, 1100)); // ctime cannot be set back
}

it('cuts and hashes the image like the chunker, seals only the chunks asked for, and checks it', async () => {
  const path = join(tmp.dir, 'a.db');
  await makeDb(path, 500);
  const bytes = readFileSync(path);
  const img = await pool.imageDatabase(path, chunker, null, 1000);
  if (img.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(img.size).toBe(bytes.length);
  const lengths = [...Array(Math.ceil(bytes.length / 4096))].map((_, k) => Math.min(4096, bytes.length - 4096 * k));
  expect(img.lengths).toEqual(lengths);
  expect(img.ids).toEqual(lengths.map((_, k) => blobId(hashKey, bytes.subarray(4096 * k, 4096 * k + lengths[k]!))));
  const only = [0, 2, lengths.length - 1];
  const envelopes = await img.seal(only);
  expect(envelopes.map((e, j) => openEnvelope(cipher, e, 'blob', lengths[only[j]!]!, true))).toEqual(only.map((k) => bytes.subarray(4096 * k, 4096 * k + lengths[k]!)));
  expect(await img.end(true)).toBe('ok');
  // A quiet database is read through an immutable connection: nothing new in its directory.
  expect(readdirSync(tmp.dir)).toEqual(['a.db']);
});

it('answers same, without holding anything, when the image cuts into the expected chunks', async () => {
  const path = join(tmp.dir, 'b.db');
  await makeDb(path, 200, true);
  const first = await pool.imageDatabase(path, chunker, null, 1000);
  if (first.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(await first.end(false)).toBeNull();
  const again = await pool.imageDatabase(path, chunker, first.ids, 1000);
  expect(again).toEqual({ kind: 'same', size: first.size });
  // Read from a live (recently written) database: the -wal/-shm a read-only connection may
  // leave are released, and the transaction ended, so a writer gets in at once.
  expect(readdirSync(tmp.dir)).toEqual(['b.db']);
  const w = new Database(path, { timeout: 0 });
  w.exec("INSERT INTO t (body) VALUES ('more')");
  w.close();
});

it("images a quiet database as its file's bytes, and only as far as its header's size", async () => {
  const paths = ['q1.db', 'q2.db', 'q3.db', 'tail.db'].map((n) => join(tmp.dir, n));
  for (const [k, p] of paths.entries()) await makeDb(p, 300 + 100 * k, true);
  // Bytes past the size the header gives (a file not truncated after a crash, say) are no
  // part of the database: its image stops where serialize's does.
  const header = readFileSync(paths[3]!);
  writeFileSync(paths[3]!, Buffer.concat([header, Buffer.alloc(8192, 0xee)]));
  await new Promise((r) => setTimeout(r, 1100)); // quiet: untouched for over a second
  const expectImage = async (p: string, bytes: Buffer, prev: string[] | null = null) => {
    const img = await pool.imageDatabase(p, chunker, prev, 1000);
    if (img.kind !== 'hashed') throw new Error('expected a hashed image');
    expect(img.size).toBe(bytes.length);
    expect(img.ids).toEqual(img.lengths.map((n, k) => blobId(hashKey, bytes.subarray(4096 * k, 4096 * k + n))));
    return img;
  };
  const tail = await expectImage(paths[3]!, header);
  expect(await tail.end(true)).toBe('ok');
  // Two held at once (one reused buffer per worker: the second is serialized if they meet),
  // then a third after both are done with.
  const [a, b] = await Promise.all([expectImage(paths[0]!, readFileSync(paths[0]!)), expectImage(paths[1]!, readFileSync(paths[1]!))]);
  const sealedA = await a.seal([0]);
  expect(openEnvelope(cipher, sealedA[0]!, 'blob', 4096, true)).toEqual(readFileSync(paths[0]!).subarray(0, 4096));
  expect(await a.end(true)).toBe('ok');
  expect(await b.end(true)).toBe('ok');
  const c = await expectImage(paths[2]!, readFileSync(paths[2]!));
  expect(await c.end(false)).toBeNull();
  expect(readdirSync(tmp.dir).filter((n) => n.startsWith('q') || n.startsWith('tail')).sort()).toEqual(['q1.db', 'q2.db', 'q3.db', 'tail.db']);
});

it('holds its read transaction until the end: a writer waits, and the check sees the image', async () => {
  const path = join(tmp.dir, 'c.db');
  await makeDb(path, 300, true);
  const img = await pool.imageDatabase(path, chunker, null, 1000);
  if (img.kind !== 'hashed') throw new Error('expected a hashed image');
  const w = new Database(path, { timeout: 0 });
  expect(() => w.exec("INSERT INTO t (body) VALUES ('blocked')")).toThrow(/locked/);
  expect(await img.end(true)).toBe('ok');
  w.exec("INSERT INTO t (body) VALUES ('now')");
  w.close();
});

it("says 'changed' when a quiet database read immutably is written before its check", async () => {
  const path = join(tmp.dir, 'd.db');
  await makeDb(path, 300);
  const img = await pool.imageDatabase(path, chunker, null, 1000);
  if (img.kind !== 'hashed') throw new Error('expected a hashed image');
  const w = new Database(path, { timeout: 0 }); // immutable reads take no lock: this gets in
  w.exec("INSERT INTO t (body) VALUES ('meanwhile')");
  w.close();
  expect(await img.end(true)).toBe('changed');
});

it("reports quick_check's answer for a damaged database, and SQLite's error for a file that is none", async () => {
  const path = join(tmp.dir, 'e.db');
  await makeDb(path, 2000, true);
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  bytes[pageSize] = 0x03; // page 2, the table's root: an invalid b-tree page type
  writeFileSync(path, bytes);
  const img = await pool.imageDatabase(path, chunker, null, 1000);
  if (img.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(await img.end(true)).not.toBe('ok');

  const junk = join(tmp.dir, 'junk.db');
  writeFileSync(junk, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), randomBytes(4080)]));
  await expect(pool.imageDatabase(junk, chunker, null, 1000)).rejects.toMatchObject({ code: 'SQLITE_NOTADB' });
  await expect(pool.imageDatabase(join(tmp.dir, 'missing.db'), chunker, null, 1000)).rejects.toMatchObject({ code: 'ENOENT' });
});

it('images on the first worker holding no image, so databases one after another share its buffer', async () => {
  const paths = ['r1.db', 'r2.db', 'r3.db'].map((n) => join(tmp.dir, n));
  for (const p of paths) await makeDb(p, 200, true);
  // Which worker holds how many images (private: what the routing decides from).
  const held = (): number[] => [...(pool as unknown as { imagesHeld: number[] }).imagesHeld];
  expect(held()).toEqual([0, 0]);
  const a = await pool.imageDatabase(paths[0]!, chunker, null, 1000);
  if (a.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(held()).toEqual([1, 0]);
  // Worker 0 is idle now (least loaded), but holds an image: the next goes to worker 1.
  const b = await pool.imageDatabase(paths[1]!, chunker, null, 1000);
  if (b.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(held()).toEqual([1, 1]);
  await a.seal([0]); // sealing lets go of the image (the transaction stays open)
  expect(held()).toEqual([0, 1]);
  expect(await a.end(true)).toBe('ok');
  expect(held()).toEqual([0, 1]);
  const c = await pool.imageDatabase(paths[2]!, chunker, null, 1000);
  if (c.kind !== 'hashed') throw new Error('expected a hashed image');
  expect(held()).toEqual([1, 1]);
  expect(await b.end(false)).toBeNull(); // ended unsealed: let go too
  expect(await c.end(true)).toBe('ok');
  expect(held()).toEqual([0, 0]);
  // Answers that hold nothing count nothing: same, and failures.
  const again = await pool.imageDatabase(paths[2]!, chunker, c.ids, 1000);
  expect(again.kind).toBe('same');
  await expect(pool.imageDatabase(join(tmp.dir, 'missing.db'), chunker, null, 1000)).rejects.toMatchObject({ code: 'ENOENT' });
  expect(held()).toEqual([0, 0]);
});

it("seals a database image's chunks at sqliteLevel, other blobs at level", async () => {
  const path = join(tmp.dir, 'levels.db');
  await makeDb(path, 400, true);
  const bytes = readFileSync(path);
  const raw = new SealPool(cipher, key, hashKey, { level: 3, sqliteLevel: 0 }, 1);
  try {
    const img = await raw.imageDatabase(path, chunker, null, 1000);
    if (img.kind !== 'hashed') throw new Error('expected a hashed image');
    const envelopes = await img.seal([0, 1]);
    await img.end(false);
    // Level 0: stored as they are (nonce, codec byte, plaintext, tag), and still open to the same bytes.
    expect(envelopes.map((e) => e.length)).toEqual([0, 1].map((k) => 12 + 1 + img.lengths[k]! + 16));
    expect(envelopes.map((e, j) => openEnvelope(cipher, e, 'blob', img.lengths[j]!, true))).toEqual([0, 1].map((k) => bytes.subarray(4096 * k, 4096 * k + img.lengths[k]!)));
    // The same bytes sealed as an ordinary blob get the pool's level: compressed.
    const page = bytes.subarray(4096, 8192);
    expect((await raw.seal(page)).length).toBeLessThan(page.length / 2);
  } finally {
    await raw.close();
  }
  // And the shared pool (sqliteLevel 3) compresses image chunks.
  const img = await pool.imageDatabase(path, chunker, null, 1000);
  if (img.kind !== 'hashed') throw new Error('expected a hashed image');
  const [env] = await img.seal([1]);
  await img.end(false);
  expect(env!.length).toBeLessThan(4096 / 2);
});
