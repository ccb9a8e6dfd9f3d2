/**
 * Source of the blob worker threads of {@link ../repository/seal-pool.ts}, as a string run
 * with `new Worker(source, { eval: true })`, so the same code works from the TypeScript
 * sources (tsx, vitest) and from the compiled package. CommonJS; loads zstd-napi and
 * @napi-rs/blake-hash (and, for the first database it images, better-sqlite3) from the paths
 * in `workerData`, and compiles the Gear scan's WebAssembly module (`workerData.gearScanWasm`,
 * base64) for FastCDC cuts.
 *
 * Messages (main → worker), each answered with the same `seq`:
 * - `{ kind: 'seal', seq, buf, lengths }`: plaintexts back to back in `buf` (the first
 *   sum(lengths) bytes). Answer `{ seq, buf, lengths }`: the envelopes back to back, in the
 *   format of crypto/envelope.ts `sealEnvelope` (codec byte, zstd only when it shrinks the
 *   blob, AES-256-GCM with a random 12-byte nonce when a key is set).
 * - `{ kind: 'hashCut', seq, buf, lengths, seal }`: chunks cut by the caller, back to back
 *   in `buf` (an ArrayBuffer, transferred), of `lengths` bytes. Answer `{ seq, ids, window }`
 *   with their ids and `buf` itself (transferred back, for reuse); with `seal`, also `buf`
 *   and `lengths`: their envelopes back to back, as 'seal' answers.
 * - `{ kind: 'read', seq, paths, hints, cdc?, prev?, seal? }`: read each file whole (O_NOFOLLOW) into a
 *   slot of `hints[i] + 1` bytes, cut it into chunks with FastCDC when `cdc` (a
 *   chunker/fastcdc.ts `FastCdcSpec`) is given and the file is longer than `cdc.minSize`,
 *   and hash each chunk (keyed BLAKE3 with the repository's hash key). Answer
 *   `{ seq, buf, files }` with, per file, `{ offset, length, ids, lens }` (content at
 *   `buf[offset, offset + length)`, chunk lengths and ids in order), `{ same: true, length }`
 *   when `prev[i]` (optional: per file, the chunk ids the caller expects, or null) equals
 *   the ids (the content is not sent), `{ grew: true }` when
 *   the file had more than `hints[i]` bytes (the caller reads it itself), or
 *   `{ code, message }` for an fs error. The cut is the same as `FastCdcChunker.cut` at
 *   end of stream (test/repository checks that both agree). With `seal`, a file that is
 *   read (not `same`) comes back as `{ offset, length, ids, lens, sealed }` instead: each
 *   chunk sealed as by a 'seal' message, the envelopes back to back at `buf[offset, …)`,
 *   `sealed` their lengths, `length` the file's size; its content is not sent.
 * - `{ kind: 'image', seq, path, busyMs, cdc?, fixed?, prev? }`: images the SQLite database at
 *   `path` within a read transaction it keeps open (`openHeld` of fs/sqlite-read-source.ts,
 *   giving up after `busyMs` of SQLITE_BUSY), cuts the image with FastCDC (`cdc`) or into
 *   `fixed`-byte chunks and hashes them. Answer `{ seq, same: true, length }` when the ids
 *   equal `prev` (the transaction is ended, unchecked), else `{ seq, handle, ids, lens,
 *   length }`: the image and its transaction stay held under `handle` (this worker only).
 * - `{ kind: 'imageSeal', seq, handle, only }`: seals the held image's chunks whose indexes
 *   are in the ascending list `only` (as 'seal' does, but at `workerData.sqliteLevel`, the
 *   config's `compression.sqliteLevel`) and drops the image. Answer
 *   `{ seq, buf, lengths }`: their envelopes back to back.
 * - `{ kind: 'imageEnd', seq, handle, check }`: with `check`, runs `PRAGMA quick_check` in the
 *   held transaction (so on exactly the image's pages); then ends it. Answer `{ seq, answer }`:
 *   'ok', SQLite's answers, 'changed' (an immutable read whose database was written
 *   meanwhile: capture it again) or null without `check`.
 * - Any failure of a whole message: `{ seq, error }`; of SQLite in 'image' or 'imageEnd':
 *   `{ seq, sqliteError: { message, code } }`.
 */
import { SQLITE_READ_SOURCE } from '../fs/sqlite-read-source.js';

export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, randomBytes } = require('node:crypto');
const { openSync, readSync, closeSync, constants } = require('node:fs');
const { CCtx, compressBound } = require(workerData.zstdPath);
const { Blake3Hasher } = require(workerData.blakePath);
const key = workerData.key ? Buffer.from(workerData.key) : null;
const hasher = Blake3Hasher.newKeyed(Buffer.from(workerData.hashKey));
const level = workerData.level;
// Database images' chunks (imageSeal): their own level (config compression.sqliteLevel).
const sqliteLevel = workerData.sqliteLevel;
const cctx = new CCtx();
// One compression buffer per worker, grown to the largest blob seen and reused: the
// compressed bytes are copied into the batch's output, so nothing per blob stays allocated.
let scratch = Buffer.allocUnsafe(0);
function sealOne(input, nonce, lvl) {
  let codec = 0, payload = input;
  if (lvl > 0 && input.length >= 64) {
    const bound = compressBound(input.length);
    if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 2 * scratch.length));
    const n = cctx.compress(scratch, input, lvl);
    if (n < input.length) { codec = 1; payload = scratch.subarray(0, n); }
  }
  if (key) {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    return [nonce, c.update(Buffer.of(codec)), c.update(payload), c.final(), c.getAuthTag()];
  }
  return [Buffer.of(codec), Buffer.from(payload)];
}
// Nonces (12 random bytes each) are cut from blocks of NONCE_BLOCK random bytes: one
// randomBytes call per 4096 blobs instead of one per file (a call costs a few µs, as much as
// sealing a small file's AES). A spent block is replaced, never refilled, so a nonce handed
// out earlier (still referenced by an envelope not yet copied out) never changes.
const NONCE_BLOCK = 12 * 4096;
let nonceBlock = null;
let nonceAt = NONCE_BLOCK;
function nextNonce() {
  if (nonceAt === NONCE_BLOCK) {
    nonceBlock = randomBytes(NONCE_BLOCK);
    nonceAt = 0;
  }
  return nonceBlock.subarray(nonceAt, (nonceAt += 12));
}
// Seals the chunks of lengths lens that lie back to back in buf from pos (only those whose
// indexes are in the ascending list only, when given) at zstd level lvl: pushes each
// envelope's pieces to parts and returns the envelopes' lengths.
function sealChunks(buf, pos, lens, parts, only, lvl) {
  const count = only ? only.length : lens.length;
  const out = [];
  for (let k = 0, j = 0; k < lens.length && j < count; k++) {
    const len = lens[k];
    if (!only || only[j] === k) {
      const p = sealOne(buf.subarray(pos, pos + len), key ? nextNonce() : null, lvl);
      parts.push(p);
      let n = 0;
      for (const b of p) n += b.length;
      out.push(n);
      j++;
    }
    pos += len;
  }
  return out;
}
// Seals chunks as sealChunks does and answers message seq with the envelopes back to back.
// With fields (and transfers) of their own in the answer, when given.
function postSealed(seq, buf, lens, only, lvl, fields = {}, transfer = []) {
  const parts = [];
  const lengths = sealChunks(buf, 0, lens, parts, only, lvl);
  let total = 0;
  for (const n of lengths) total += n;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) for (const b of p) { out.set(b, at); at += b.length; }
  parentPort.postMessage({ ...fields, seq, buf: out.buffer, lengths }, [...transfer, out.buffer]);
}
function seal(msg) {
  postSealed(msg.seq, Buffer.from(msg.buf), msg.lengths, undefined, level);
}
// Chunks cut elsewhere, back to back in msg.buf: their ids, and with msg.seal their
// envelopes; msg.buf goes back with the answer for reuse.
function hashCut(msg) {
  const buf = Buffer.from(msg.buf);
  const ids = [];
  let pos = 0;
  for (const len of msg.lengths) {
    hasher.reset();
    ids.push(hasher.update(buf.subarray(pos, pos + len)).digestBuffer().toString('hex'));
    pos += len;
  }
  if (msg.seal) postSealed(msg.seq, buf, msg.lengths, undefined, level, { ids, window: msg.buf }, [msg.buf]);
  else parentPort.postMessage({ seq: msg.seq, ids, window: msg.buf }, [msg.buf]);
}
// The Gear scan of chunker/gear-scan.ts (its WebAssembly module, from workerData), for
// the gear table of the last cut (a message's cdc spec is a fresh copy: compared by value).
const gearModule = new WebAssembly.Module(Buffer.from(workerData.gearScanWasm, 'base64'));
const SCAN_BLOCK = 65536 - 1024;
let scanGear = null;
let scanX = null;
let scanBlock = null;
function gearFind(buf, from, stop1, stop2, maskS, maskL, gear) {
  if (!scanGear || scanGear.some((v, k) => v !== gear[k])) {
    scanX = new WebAssembly.Instance(gearModule).exports;
    new Int32Array(scanX.memory.buffer, 0, 256).set(gear);
    scanBlock = new Uint8Array(scanX.memory.buffer, 1024, SCAN_BLOCK);
    scanGear = gear;
  }
  scanX.fp.value = 0;
  for (let pos = from; pos < stop2; pos += SCAN_BLOCK) {
    const n = Math.min(SCAN_BLOCK, stop2 - pos);
    scanBlock.set(buf.subarray(pos, pos + n));
    const r = scanX.scan(0, Math.max(0, Math.min(stop1 - pos, n)), n, maskS, maskL);
    if (r !== 0) return pos + r;
  }
  return -1;
}
// FastCdcChunker.cut with eof = true (chunker/fastcdc.ts).
function cdcCut(buf, start, end, c) {
  const n = end - start;
  if (n <= c.minSize) return n;
  const limit = n < c.maxSize ? n : c.maxSize;
  const after = gearFind(buf, start + c.minSize, start + (c.avgSize < limit ? c.avgSize : limit), start + limit, c.maskS, c.maskL, c.gear);
  return after >= 0 ? after - start : limit;
}
function hashChunks(buf, start, end, cdc, fixed) {
  const ids = [], lens = [];
  let pos = start;
  do {
    const len = cdc ? cdcCut(buf, pos, end, cdc) : fixed ? Math.min(fixed, end - pos) : end - pos;
    hasher.reset();
    ids.push(hasher.update(buf.subarray(pos, pos + len)).digestBuffer().toString('hex'));
    lens.push(len);
    pos += len;
  } while (pos < end);
  return { ids, lens };
}
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
// Files are read into this scratch buffer (grown as needed, reused); only the content the
// caller needs is copied into the transferred answer.
let readBuf = Buffer.allocUnsafe(0);
function sameIds(a, b) {
  if (!b || a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
function read(msg) {
  let total = 0;
  for (const h of msg.hints) total += h + 1;
  if (readBuf.length < total) readBuf = Buffer.allocUnsafe(Math.max(total, 2 * readBuf.length));
  const files = [];
  const keep = [];
  let kept = 0;
  const envelopes = [];
  let sealedBytes = 0;
  let at = 0;
  msg.paths.forEach((path, i) => {
    const cap = msg.hints[i] + 1;
    let fd;
    try {
      fd = openSync(path, OPEN_FLAGS);
      let n = 0;
      for (;;) {
        const got = readSync(fd, readBuf, at + n, cap - n, null);
        if (got === 0) break;
        n += got;
        if (n === cap) break;
      }
      if (n === cap) {
        files.push({ grew: true });
      } else if (n === 0) {
        files.push({ offset: 0, length: 0, ids: [], lens: [] });
      } else {
        const { ids, lens } = hashChunks(readBuf, at, at + n, msg.cdc);
        if (msg.prev && sameIds(ids, msg.prev[i])) {
          files.push({ same: true, length: n });
        } else if (msg.seal) {
          // Sealed here, while the bytes are in this thread's cache, instead of sent back
          // and forth again: the envelopes go back in place of the content.
          const sealed = sealChunks(readBuf, at, lens, envelopes, undefined, level);
          files.push({ offset: sealedBytes, length: n, ids, lens, sealed });
          for (const m of sealed) sealedBytes += m;
        } else {
          files.push({ offset: kept, length: n, ids, lens });
          keep.push(at, n);
          kept += n;
        }
      }
    } catch (err) {
      files.push({ code: err && err.code, message: String(err && err.message || err) });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    at += cap;
  });
  // Content first, then the envelopes of the sealed files (their offsets count from there).
  const out = new Uint8Array(kept + sealedBytes);
  let o = 0;
  for (let k = 0; k < keep.length; k += 2) {
    out.set(readBuf.subarray(keep[k], keep[k] + keep[k + 1]), o);
    o += keep[k + 1];
  }
  for (const parts of envelopes) for (const b of parts) { out.set(b, o); o += b.length; }
  for (const f of files) if (f.sealed) f.offset += kept;
  parentPort.postMessage({ seq: msg.seq, buf: out.buffer, files }, [out.buffer]);
}
// Databases imaged here (see sqlite-read-source.ts), by the seq of their 'image' message:
// the read transaction stays open until 'imageEnd', the image until 'imageSeal'.
let Database;
function sqliteLib() { return (Database ??= require(workerData.betterSqlite3)); }
${SQLITE_READ_SOURCE}
const held = new Map();
const SQLITE_HEADER = Buffer.from('SQLite format 3\\0', 'latin1');
function image(msg) {
  const h = openHeld(msg.path, msg.busyMs);
  const img = h.image;
  if (img.length < 16 || !img.subarray(0, 16).equals(SQLITE_HEADER)) {
    endHeld(h);
    throw Object.assign(new Error('SQLite serialize returned no database image (the file may have been replaced while it was read)'), { code: 'NOIMAGE' });
  }
  const { ids, lens } = hashChunks(img, 0, img.length, msg.cdc, msg.fixed);
  if (msg.prev && sameIds(ids, msg.prev)) {
    endHeld(h);
    parentPort.postMessage({ seq: msg.seq, same: true, length: img.length });
    return;
  }
  h.lens = lens;
  held.set(msg.seq, h);
  parentPort.postMessage({ seq: msg.seq, handle: msg.seq, ids, lens, length: img.length, quiet: h.quiet ?? null });
}
function heldImage(handle) {
  const h = held.get(handle);
  if (!h) throw new Error('no database image ' + handle + ' is held here');
  return h;
}
function imageSeal(msg) {
  const h = heldImage(msg.handle);
  if (!h.image) throw new Error('database image ' + msg.handle + ' was sealed already');
  const image = h.image;
  h.image = null;
  try {
    postSealed(msg.seq, image, h.lens, msg.only, sqliteLevel);
  } finally {
    releaseImage(image);
  }
}
function imageEnd(msg) {
  const h = heldImage(msg.handle);
  held.delete(msg.handle);
  parentPort.postMessage({ seq: msg.seq, answer: endHeld(h, msg.check ? 'quick_check' : undefined) });
}
parentPort.on('message', (msg) => {
  try {
    if (msg.kind === 'read') read(msg);
    else if (msg.kind === 'seal') seal(msg);
    else if (msg.kind === 'hashCut') hashCut(msg);
    else if (msg.kind === 'image') image(msg);
    else if (msg.kind === 'imageSeal') imageSeal(msg);
    else if (msg.kind === 'imageEnd') imageEnd(msg);
    else throw new Error('unknown message kind ' + msg.kind);
  } catch (err) {
    if (msg.kind === 'image' || msg.kind === 'imageEnd') {
      parentPort.postMessage({ seq: msg.seq, sqliteError: { message: String(err && err.message || err), code: err && err.code } });
    } else {
      parentPort.postMessage({ seq: msg.seq, error: String(err && err.stack || err) });
    }
  }
});
`;
