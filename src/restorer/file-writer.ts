/**
 * The restorer's task handler for the repository's {@link OpenPool}: runs in the blob
 * workers and writes restored entries with synchronous system calls (in a worker they cost
 * a fraction of the main thread's asynchronous calls, which go through libuv's thread pool).
 *
 * Tasks (`data`, see {@link WriteTask}):
 * - `file`: one segment of a file's content. The first segment creates a temp file next to
 *   the final name (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600: never through a symlink, never
 *   over an existing file); each segment writes its blobs' verified plaintext at their
 *   offsets (segments come in pack order, not file order); the last checks that the bytes
 *   written add up to the tree's size, sets mode and mtime on the descriptor, closes
 *   it and renames the temp file over the final name (or, with `keep`, returns the temp
 *   path for the caller to place). A failure closes and removes the temp file; the later
 *   segments of that file are then ignored.
 *   A large file's segments may be shared out among the workers (`shared`): its first
 *   segment answers the temp file's descriptor (`{ fd }`); `part` tasks on any worker write
 *   further segments through that descriptor (worker threads share the process's
 *   descriptors; `pwrite` at explicit offsets); the last segment, sent only once every
 *   part has been answered, adds the bytes the parts wrote (`elsewhere`) before checking
 *   the size. A shared file's failed segment keeps the descriptor open (a part on another
 *   worker may still be writing through it): the main side sends `cancel` once every part
 *   has been answered.
 * - `part`: one segment of a shared file, written through `fd`; answers `{ written }`
 *   (bytes). Never opens, closes or removes anything.
 * - `cancel`: abandons a file whose last segment will not come (removes its temp file).
 * - `symlink`: creates the link under a temp name, sets its mtime, renames it into place.
 * - `dir`: sets a directory's mode and mtime (after everything in it was written).
 *
 * A rename replaces a file or symlink atomically and never follows a link; a directory in
 * the way (EISDIR/ENOTEMPTY/EEXIST) is removed and the rename retried.
 *
 * The handler is JavaScript source (see open-pool.ts); its protocol types are below.
 */

/** One task of the file writer (the `data` of an {@link OpenTask}). */
export type WriteTask =
  | {
      op: 'file';
      /** Restore-wide file number: the segments of one file share it and go to one worker. */
      fid: number;
      dir: string;
      name: string;
      first: boolean;
      last: boolean;
      /** Where each of the task's blobs goes in the file, bytes. */
      offsets: number[];
      /** Content bytes the tree promises (checked at the last segment). */
      size: number;
      mode: number;
      /** mtime in seconds (see `timeOf`). */
      mtime: number;
      /** Leave the temp file for the caller (returned as `tmp`) instead of renaming it. */
      keep: boolean;
      /** Segments of this file are also written by `part` tasks (see the module comment). */
      shared: boolean;
      /** With `last` of a shared file: the bytes its `part` tasks wrote. */
      elsewhere: number;
    }
  | {
      op: 'part';
      /** The temp file's descriptor, as the shared file's first segment answered it. */
      fd: number;
      /** Where each of the task's blobs goes in the file, bytes. */
      offsets: number[];
    }
  | { op: 'cancel'; fid: number }
  | { op: 'symlink'; dir: string; name: string; target: string; mtime: number }
  | { op: 'dir'; path: string; mode: number; mtime: number };

/**
 * What a task resolves to: the temp path of a kept file (its last segment), the temp file's
 * descriptor (a shared file's first segment), or the bytes a `part` wrote; else nothing.
 */
export interface WriteResult {
  tmp?: string;
  fd?: number;
  written?: number;
}

/** Longest part of the entry's name kept in a temp name, bytes (names are ≤ 255 bytes). */
export const TEMP_NAME_BYTES = 100;

/** The handler source for `Repository.openPool`. */
export const FILE_WRITER_SOURCE = `(function () {
  const fs = require('node:fs');
  const { randomBytes } = require('node:crypto');
  // Names come from decoded trees (no '/', never '.' or '..'): no normalizing needed.
  const join = (dir, name) => (dir.endsWith('/') ? dir + name : dir + '/' + name);
  const C = fs.constants;
  const FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
  let prefix = '.clawback-tmp-' + randomBytes(6).toString('hex') + '-';
  let counter = 0;
  const files = new Map();
  function tempPath(dir, name) {
    const short = Buffer.from(name).subarray(0, ${TEMP_NAME_BYTES}).toString();
    return join(dir, prefix + (counter++).toString(36) + '-' + short);
  }
  function create(dir, name, make) {
    for (let attempt = 0; ; attempt++) {
      const tmp = tempPath(dir, name);
      try {
        return { tmp, fd: make(tmp) };
      } catch (err) {
        // A leftover of another run with the same random prefix: pick another prefix.
        if (err.code !== 'EEXIST' || attempt >= 3) throw err;
        prefix = '.clawback-tmp-' + randomBytes(6).toString('hex') + '-';
      }
    }
  }
  function place(tmp, path) {
    try {
      fs.renameSync(tmp, path);
    } catch (err) {
      if (err.code !== 'EISDIR' && err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      fs.rmSync(path, { recursive: true, force: true });
      fs.renameSync(tmp, path);
    }
  }
  function discard(st) {
    if (st.fd >= 0) {
      try { fs.closeSync(st.fd); } catch {}
      st.fd = -1;
    }
    if (st.tmp !== undefined) {
      try { fs.unlinkSync(st.tmp); } catch {}
    }
  }
  function writeAll(fd, buf, position) {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  }
  function file(t, blobs) {
    let st = files.get(t.fid);
    if (t.first) {
      try {
        const c = create(t.dir, t.name, (tmp) => fs.openSync(tmp, FLAGS, 0o600));
        st = { fd: c.fd, tmp: c.tmp, written: 0, failed: false, shared: t.shared };
      } catch (err) {
        if (!t.last) files.set(t.fid, { fd: -1, tmp: undefined, written: 0, failed: true });
        throw err;
      }
      files.set(t.fid, st);
    }
    if (!st) throw new Error('internal: segment of unknown file ' + t.fid);
    if (st.failed) {
      if (t.last) {
        files.delete(t.fid);
        discard(st);
      }
      return {};
    }
    try {
      for (let i = 0; i < blobs.count; i++) {
        const plain = blobs.open(i);
        writeAll(st.fd, plain, t.offsets[i]);
        st.written += plain.length;
      }
      if (!t.last) return t.first && st.shared ? { fd: st.fd } : {};
      files.delete(t.fid);
      st.written += t.elsewhere;
      if (st.written !== t.size) throw integrityError('file ' + t.name + ': content is ' + st.written + ' bytes, the tree says ' + t.size);
      fs.fchmodSync(st.fd, t.mode);
      fs.futimesSync(st.fd, t.mtime, t.mtime);
      const fd = st.fd;
      st.fd = -1;
      fs.closeSync(fd);
      if (t.keep) return { tmp: st.tmp };
      place(st.tmp, join(t.dir, t.name));
      return {};
    } catch (err) {
      // A shared file keeps its descriptor until the main side cancels it (parts elsewhere
      // may still be writing through it).
      if (!st.shared || t.last) discard(st);
      if (t.last) files.delete(t.fid);
      else st.failed = true;
      throw err;
    }
  }
  function part(t, blobs) {
    let written = 0;
    for (let i = 0; i < blobs.count; i++) {
      const plain = blobs.open(i);
      writeAll(t.fd, plain, t.offsets[i]);
      written += plain.length;
    }
    return { written };
  }
  function cancel(t) {
    const st = files.get(t.fid);
    if (!st) return {};
    files.delete(t.fid);
    discard(st);
    return {};
  }
  function symlink(t) {
    const c = create(t.dir, t.name, (tmp) => { fs.symlinkSync(t.target, tmp); return -1; });
    try {
      try { fs.lutimesSync(c.tmp, t.mtime, t.mtime); } catch {}
      place(c.tmp, join(t.dir, t.name));
    } catch (err) {
      try { fs.unlinkSync(c.tmp); } catch {}
      throw err;
    }
    return {};
  }
  function dir(t) {
    fs.chmodSync(t.path, t.mode);
    fs.utimesSync(t.path, t.mtime, t.mtime);
    return {};
  }
  return {
    handle(t, blobs) {
      switch (t.op) {
        case 'file': return file(t, blobs);
        case 'part': return part(t, blobs);
        case 'cancel': return cancel(t);
        case 'symlink': return symlink(t);
        case 'dir': return dir(t);
        default: throw new Error('internal: unknown task ' + t.op);
      }
    },
  };
})()`;
