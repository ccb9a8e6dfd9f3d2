/**
 * Plain `snapshot create DIR`: SQLite databases are captured through the online backup API
 * (rows still in the WAL included), their -wal/-shm files are not stored, and the restore
 * is a complete database.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { archive, type ArchiveHooks } from '../../src/archiver/archiver.js';
import { sqliteCapture } from '../../src/archiver/sqlite-capture.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { walkTree } from '../../src/tree/walk.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';
import { rejection } from '../helpers/rejection.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;
beforeEach(async () => {
  tmp = await makeTmp();
  repo = await initRepository(new MemoryBackend(), { password: undefined, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'cache') });
});
afterEach(async () => {
  await repo.close();
  await tmp.cleanup();
});

/**
 * Opens a new database at `path` with table t(id, v) holding `rows` rows `row <i>` (padded
 * to `pad` characters): in WAL mode unless `wal: false`, with the WAL never checkpointed
 * into the database file when `keepWal`.
 */
function openTable(path: string, rows: number, opts: { wal?: boolean; pad?: number; keepWal?: boolean } = {}): Database.Database {
  const db = new Database(path);
  if (opts.wal !== false) db.pragma('journal_mode = WAL');
  if (opts.keepWal) db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < rows; i++) insert.run(`row ${i}`.padEnd(opts.pad ?? 0, 'x'));
  return db;
}

/** The row count of table t in the database at `path`, after an integrity check. */
function restoredCount(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    return (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

it('captures a live WAL database through the backup API and leaves its sidecars out', async () => {
  const src = join(tmp.dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'notes.md'), '# notes\n');
  const db = openTable(join(src, 'state.db'), 500, { keepWal: true });
  // The rows live in state.db-wal: a byte copy of state.db alone would miss them.
  expect(existsSync(join(src, 'state.db-wal'))).toBe(true);

  try {
    const snap = await createSnapshot(repo, { paths: [src] });
    const nodes = new Map<string, string>();
    for await (const e of walkTree(repo, snap.manifest.tree)) nodes.set(e.path, e.node.type);
    expect(nodes.get('state.db')).toBe('sqlite');
    expect(nodes.get('notes.md')).toBe('file');
    expect([...nodes.keys()].filter((n) => n.includes('-wal') || n.includes('-shm'))).toEqual([]);

    const out = join(tmp.dir, 'out');
    await restoreTree(repo, snap.manifest.tree, out);
    expect(restoredCount(join(out, 'state.db'))).toBe(500);

    // Opting out stores the files byte for byte (and so the sidecars too).
    const raw = await createSnapshot(repo, { paths: [src], sqlite: false });
    const rawNodes = new Map<string, string>();
    for await (const e of walkTree(repo, raw.manifest.tree)) rawNodes.set(e.path, e.node.type);
    expect(rawNodes.get('state.db')).toBe('file');
    expect(rawNodes.has('state.db-wal')).toBe(true);
  } finally {
    db.close();
  }
});

it('does not back up an unchanged database again, and does after a write', async () => {
  const src = join(tmp.dir, 'src2');
  await mkdir(src);
  const db = new Database(join(src, 'state.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  db.prepare('INSERT INTO t (v) VALUES (?)').run('first');
  try {
    // A database changed within the last second is "racy" and always read again.
    const racy = await createSnapshot(repo, { paths: [src] });
    expect(racy.filesRead).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    const first = await createSnapshot(repo, { paths: [src] });
    expect(first.filesRead).toBe(1);
    const again = await createSnapshot(repo, { paths: [src] });
    expect(again.filesRead).toBe(0);
    expect(again.manifest.tree).toBe(first.manifest.tree);
    db.prepare('INSERT INTO t (v) VALUES (?)').run('second'); // lands in the WAL only
    const changed = await createSnapshot(repo, { paths: [src] });
    expect(changed.filesRead).toBe(1);
    const out = join(tmp.dir, 'out2');
    await restoreTree(repo, changed.manifest.tree, out);
    expect(restoredCount(join(out, 'state.db'))).toBe(2);
  } finally {
    db.close();
  }
});

it('leaves the source as it found it: no -wal/-shm files left next to a closed WAL database', async () => {
  const src = join(tmp.dir, 'src3');
  await mkdir(src);
  const path = join(src, 'state.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  db.prepare('INSERT INTO t (v) VALUES (?)').run('kept');
  db.close(); // the last connection: SQLite checkpoints and removes its -wal and -shm
  expect(readdirSync(src)).toEqual(['state.db']);
  const before = statSync(path);

  const snap = await createSnapshot(repo, { paths: [src] });
  expect(readdirSync(src)).toEqual(['state.db']);
  const after = statSync(path);
  expect([after.size, after.mtimeMs, after.ctimeMs]).toEqual([before.size, before.mtimeMs, before.ctimeMs]);

  // The same holds while a writer keeps the database open: its files stay, its writes land.
  const writer = new Database(path);
  writer.prepare('INSERT INTO t (v) VALUES (?)').run('during');
  const during = await createSnapshot(repo, { paths: [src] });
  expect(readdirSync(src).sort()).toEqual(['state.db', 'state.db-shm', 'state.db-wal']);
  writer.prepare('INSERT INTO t (v) VALUES (?)').run('after');
  writer.close();
  expect(readdirSync(src)).toEqual(['state.db']);
  const live = new Database(path, { readonly: true });
  expect(live.prepare('SELECT v FROM t ORDER BY id').pluck().all()).toEqual(['kept', 'during', 'after']);
  live.close();

  for (const [s, rows] of [[snap, ['kept']], [during, ['kept', 'during']]] as const) {
    const out = join(tmp.dir, `out3-${rows.length}`);
    await restoreTree(repo, s.manifest.tree, out);
    const restored = new Database(join(out, 'state.db'), { readonly: true });
    expect(restored.prepare('SELECT v FROM t ORDER BY id').pluck().all()).toEqual(rows);
    restored.close();
  }
});

it('reads a quiet database without creating any file: not even the directory changes', async () => {
  const src = join(tmp.dir, 'src4');
  await mkdir(src);
  const path = join(src, 'state.db');
  openTable(path, 300).close();
  await new Promise((r) => setTimeout(r, 1100)); // quiet: not modified for a second
  const dirBefore = statSync(src, { bigint: true });
  const fileBefore = statSync(path, { bigint: true });

  const snap = await createSnapshot(repo, { paths: [src] });
  expect(readdirSync(src)).toEqual(['state.db']);
  const dirAfter = statSync(src, { bigint: true });
  const fileAfter = statSync(path, { bigint: true });
  expect([dirAfter.mtimeNs, dirAfter.ctimeNs]).toEqual([dirBefore.mtimeNs, dirBefore.ctimeNs]);
  expect([fileAfter.mtimeNs, fileAfter.ctimeNs, fileAfter.size]).toEqual([fileBefore.mtimeNs, fileBefore.ctimeNs, fileBefore.size]);

  const out = join(tmp.dir, 'out4');
  await restoreTree(repo, snap.manifest.tree, out);
  expect(restoredCount(join(out, 'state.db'))).toBe(300);
});

it('fails the snapshot, naming the database, when its copy fails PRAGMA quick_check', async () => {
  const src = join(tmp.dir, 'src5');
  await mkdir(src);
  const path = join(src, 'broken.db');
  const db = openTable(path, 2000, { wal: false, pad: 200 });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  // Page 2 is the table's root: give it an invalid b-tree page type (header byte 0).
  const bytes = readFileSync(path);
  bytes[pageSize] = 0x03;
  writeFileSync(path, bytes);

  const err = await rejection(createSnapshot(repo, { paths: [src] }));
  expect(err.code).toBe('CAPTURE');
  expect(err.message).toMatch(/broken\.db.*quick_check/s);
  expect(await repo.listFiles('snapshots')).toEqual([]);

  // The same through a temp file (the path of databases too large to copy into memory),
  // which is removed afterwards.
  const temp = join(tmp.dir, 'temp');
  await mkdir(temp);
  const capture = sqliteCapture(temp, 0);
  try {
    const viaFile = await rejection(archive(repo, { paths: [src], hooks: capture.hooks }));
    expect(viaFile.code).toBe('CAPTURE');
    expect(viaFile.message).toMatch(/broken\.db.*quick_check/s);
    expect(capture.captured).toEqual([path]);
  } finally {
    await capture.dispose();
  }
  expect(readdirSync(temp)).toEqual([]);
});

it('captures through a temp file what it would not copy into memory', async () => {
  const src = join(tmp.dir, 'src7');
  await mkdir(src);
  const db = openTable(join(src, 'big.db'), 400);
  const capture = sqliteCapture(join(tmp.dir), 0);
  try {
    const result = await archive(repo, { paths: [src], hooks: capture.hooks });
    await repo.flush();
    const out = join(tmp.dir, 'out7');
    await restoreTree(repo, result.tree, out);
    expect(restoredCount(join(out, 'big.db'))).toBe(400);
  } finally {
    db.close();
    await capture.dispose();
  }
  expect(readdirSync(tmp.dir).filter((n) => n.startsWith('clawback-sqlite-'))).toEqual([]);
});

it("runs a capture's check unless the bytes cut into exactly the parent snapshot's content", async () => {
  const src = join(tmp.dir, 'src6');
  await mkdir(src);
  await writeFile(join(src, 'a.db'), 'placeholder');
  let image = Buffer.alloc(200_000, 7);
  let checks = 0;
  const hooks: ArchiveHooks = {
    capture: async () => ({ type: 'sqlite', bytes: Buffer.from(image), verify: async () => void checks++ }),
  };
  const first = await archive(repo, { paths: [src], hooks });
  await repo.flush();
  expect(checks).toBe(1); // no parent
  const same = await archive(repo, { paths: [src], hooks, parentTree: first.tree });
  expect(checks).toBe(1); // the parent's content, checked when it was captured
  expect(same.tree).toBe(first.tree);
  await repo.flush();
  image = Buffer.concat([image.subarray(0, 100_000), Buffer.alloc(100_000, 8)]);
  await archive(repo, { paths: [src], hooks, parentTree: same.tree });
  expect(checks).toBe(2); // changed bytes
  await archive(repo, { paths: [src], hooks });
  expect(checks).toBe(3); // no parent to compare with
});

it("images a database again when it was written to before its check (the check saw other pages), up to three times", async () => {
  const src = join(tmp.dir, 'src8');
  await mkdir(src);
  openTable(join(src, 'state.db'), 300, { wal: false }).close();
  // Fault injection: the first `changed` checks answer 'changed', as when a writer reaches
  // a quiet database read through an immutable connection between its image and its check.
  let changed = 0;
  let images = 0;
  const real = repo.imageDatabase.bind(repo);
  repo.imageDatabase = async (...args) => {
    images++;
    const img = await real(...args);
    if (img.kind !== 'hashed') return img;
    return { ...img, end: async (check: boolean) => (check && changed-- > 0 ? ((await img.end(false)), 'changed') : img.end(check)) };
  };
  changed = 2;
  const snap = await createSnapshot(repo, { paths: [src] });
  expect(images).toBe(3);
  const out = join(tmp.dir, 'out8');
  await restoreTree(repo, snap.manifest.tree, out);
  expect(restoredCount(join(out, 'state.db'))).toBe(300);

  changed = 3;
  images = 0;
  const db = new Database(join(src, 'state.db'));
  db.exec("INSERT INTO t (v) VALUES ('one more')"); // new content: imaged and checked again
  db.close();
  const err = await rejection(createSnapshot(repo, { paths: [src] }));
  expect(err.code).toBe('CAPTURE');
  expect(err.message).toMatch(/state\.db.*written to while each of 3 copies/s);
  expect(images).toBe(3);
});

it('checks a quiet database on a SQLite worker, and images it again when it was written to before that check', async () => {
  const broken = join(tmp.dir, 'src9');
  const written = join(tmp.dir, 'src10');
  await mkdir(broken);
  await mkdir(written);
  const db = openTable(join(broken, 'broken.db'), 2000, { wal: false, pad: 200 });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const bytes = readFileSync(join(broken, 'broken.db'));
  bytes[pageSize] = 0x03; // page 2, the table's root: an invalid b-tree page type
  writeFileSync(join(broken, 'broken.db'), bytes);
  openTable(join(written, 'state.db'), 300, { wal: false }).close();
  await new Promise((r) => setTimeout(r, 1100)); // quiet: not modified for a second

  const quiet: (string | undefined)[] = [];
  const ends: boolean[] = []; // whether the held transaction ran the check
  let writeAfterImage = false;
  const real = repo.imageDatabase.bind(repo);
  repo.imageDatabase = async (...args) => {
    const img = await real(...args);
    if (img.kind !== 'hashed') return img;
    quiet.push(img.quiet);
    const end = img.end;
    img.end = (check) => (ends.push(check), end(check));
    if (writeAfterImage) {
      writeAfterImage = false;
      const w = new Database(args[0]);
      w.exec("INSERT INTO t (v) VALUES ('written after the image')");
      w.close();
    }
    return img;
  };

  const err = await rejection(createSnapshot(repo, { paths: [broken] }));
  expect(err.code).toBe('CAPTURE');
  expect(err.message).toMatch(/broken\.db.*quick_check/s);
  expect(quiet).toEqual([expect.any(String)]); // imaged quiet: checked on the SQLite worker
  expect(ends).toEqual([false]);

  quiet.length = 0;
  ends.length = 0;
  writeAfterImage = true;
  const snap = await createSnapshot(repo, { paths: [written] });
  // The check saw another stamp: imaged again, now through an ordinary connection (the
  // file was just written, so it is not quiet) and checked in that image's transaction.
  expect(quiet).toEqual([expect.any(String), undefined]);
  expect(ends).toEqual([false, true]);
  const out = join(tmp.dir, 'out10');
  await restoreTree(repo, snap.manifest.tree, out);
  expect(restoredCount(join(out, 'state.db'))).toBe(301);
});
