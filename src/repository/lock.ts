/**
 * Repository locks (docs/MAINTENANCE.md §Locks), with restic's semantics
 * (https://restic.readthedocs.io/en/stable/100_references.html#locks, `internal/restic/lock.go`):
 *
 * - A lock is a small sealed JSON file in `locks/` (named, like every metadata file, by the
 *   BLAKE3 of its stored bytes): `{"time":"2026-…Z","host":"h","pid":123,"exclusive":false,"username":"u"}`.
 * - An exclusive lock conflicts with every other lock; a shared lock only with exclusive ones.
 * - A lock is *stale* when its time is more than {@link STALE_AFTER_MS} (30 min) old, or when
 *   it was written on this host by a process that no longer exists (`kill(pid, 0)` gives
 *   `ESRCH`). Stale locks never block anybody; `unlock` removes them.
 * - While held, a lock is refreshed every {@link REFRESH_EVERY_MS} (5 min): a new lock file
 *   with the current time is written and the previous one removed (files are write-once).
 * - Race safety: after writing its lock file, a process lists the locks again; if a
 *   conflicting lock appeared meanwhile, it removes its own file, backs off and retries
 *   (or fails). Two racing processes may both back off, never both win, on any backend
 *   with read-after-write consistency (all of ours).
 *
 * This module reads `process.pid` and probes pids with `process.kill(pid, 0)`: both are
 * intrinsic to what a lock is. Both can be overridden in {@link LockOptions} for tests.
 */
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { ClawbackError, isClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type FileId } from '../ids.js';
import type { Repository } from './repository.js';

/** A lock not refreshed for this long (ms) is stale: 30 minutes, as restic. */
export const STALE_AFTER_MS = 30 * 60_000;
/** How often a held lock is refreshed (ms): 5 minutes, as restic. */
export const REFRESH_EVERY_MS = 5 * 60_000;
/** Largest lock file plaintext accepted (bytes). */
const MAX_LOCK_BYTES = 64 * 1024;

/** The content of a lock file. */
export interface LockInfo {
  /** When the lock was written or last refreshed: RFC 3339 UTC with ms (`Date.toISOString`). */
  time: string;
  /** Host name of the holder (`os.hostname()`). */
  host: string;
  /** Process id of the holder on `host`. */
  pid: number;
  /** True for an exclusive lock (gc, forget, key changes), false for a shared one. */
  exclusive: boolean;
  /** User name of the holder (may be empty). */
  username: string;
}

/** One lock file as found in `locks/`. */
export interface LockEntry {
  id: FileId;
  /** The decoded content; undefined when the file is damaged (such a lock blocks nobody). */
  info: LockInfo | undefined;
  /** Why the file could not be read, when `info` is undefined. */
  error?: string;
  /** True when the lock is stale (see the module comment) or damaged. */
  stale: boolean;
}

/** Who this process is, and how to tell whether another process is alive. */
export interface LockIdentity {
  /** Default `os.hostname()`. */
  host?: string;
  /** Default `process.pid`. */
  pid?: number;
  /** Default the OS user name. */
  username?: string;
  /** Clock in ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** True when `pid` runs on this host; default `process.kill(pid, 0)` (ESRCH = dead). */
  isAlive?: (pid: number) => boolean;
}

/** Options of {@link acquireLock}. */
export interface LockOptions extends LockIdentity {
  /** Take an exclusive lock (default shared). */
  exclusive?: boolean;
  /** Keep retrying for this long (ms) while a conflicting lock is held. Default 0: fail at once. */
  retryFor?: number;
  /** Cancels the wait (rejects with `ABORTED`). */
  signal?: AbortSignal | undefined;
  /** Refresh interval (ms); default {@link REFRESH_EVERY_MS}. 0 disables the timer. */
  refreshEvery?: number;
  /** Called once, when the first attempt found a conflicting lock and the call starts waiting. */
  onWait?: (holder: LockEntry) => void;
  /** Called when a background refresh fails (the lock is kept; the next refresh retries). */
  onRefreshError?: (err: unknown) => void;
}

/** Default liveness probe: `kill(pid, 0)`; only `ESRCH` means the process is gone. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function defaultUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/**
 * Serializes a lock file's plaintext (UTF-8 JSON, keys in a fixed order). A random `nonce`
 * makes every lock file unique, so two locks taken by one process in the same millisecond
 * never share a name (lock files are named by their hash; unencrypted ones are plain JSON).
 */
export function encodeLockInfo(info: LockInfo): Buffer {
  const { time, host, pid, exclusive, username } = info;
  return Buffer.from(JSON.stringify({ time, host, pid, exclusive, username, nonce: randomBytes(8).toString('hex') }), 'utf8');
}

/**
 * Parses a lock file's plaintext.
 * @throws ClawbackError `INTEGRITY` when it is not a lock document.
 */
export function decodeLockInfo(plain: Uint8Array, what = 'lock file'): LockInfo {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch (cause) {
    throw new ClawbackError('INTEGRITY', `${what} is not JSON`, { cause });
  }
  const o = v as Record<string, unknown>;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    typeof o.time === 'string' &&
    Number.isFinite(Date.parse(o.time)) &&
    typeof o.host === 'string' &&
    typeof o.pid === 'number' &&
    Number.isSafeInteger(o.pid) &&
    typeof o.exclusive === 'boolean' &&
    typeof o.username === 'string';
  if (!ok) throw new ClawbackError('INTEGRITY', `${what} is not a lock document`);
  return { time: o.time as string, host: o.host as string, pid: o.pid as number, exclusive: o.exclusive as boolean, username: o.username as string };
}

/** True when `info` is stale for an observer with identity `id` (see the module comment). */
export function isStale(info: LockInfo, id: LockIdentity = {}): boolean {
  const now = (id.now ?? Date.now)();
  if (now - Date.parse(info.time) > STALE_AFTER_MS) return true;
  if (info.host === (id.host ?? hostname())) return !(id.isAlive ?? processAlive)(info.pid);
  return false;
}

/** True when a lock of kind `a` and one of kind `b` cannot be held at once. */
export function conflicts(aExclusive: boolean, bExclusive: boolean): boolean {
  return aExclusive || bExclusive;
}

/** Every lock file in the repository, decoded, with its staleness. Files removed meanwhile are skipped. */
export async function listLocks(repo: Repository, id: LockIdentity = {}): Promise<LockEntry[]> {
  const out: LockEntry[] = [];
  for (const name of await repo.listFiles('locks')) {
    try {
      const info = decodeLockInfo(await repo.loadFile('locks', name, MAX_LOCK_BYTES), `lock ${shortId(name)}`);
      out.push({ id: name, info, stale: isStale(info, id) });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue;
      if (isClawbackError(err, 'INTEGRITY')) {
        out.push({ id: name, info: undefined, error: err.message, stale: true });
        continue;
      }
      throw err;
    }
  }
  return out;
}

/** A human description of a lock holder, for messages. */
export function describeLock(e: LockEntry): string {
  if (!e.info) return `damaged lock file ${shortId(e.id)}`;
  const i = e.info;
  return `${i.exclusive ? 'an exclusive' : 'a shared'} lock held by pid ${i.pid} on ${i.host}${i.username ? ` (user ${i.username})` : ''} since ${i.time}`;
}

/** The first non-stale lock (other than `own`) that conflicts with a lock of kind `exclusive`. */
async function findConflict(repo: Repository, exclusive: boolean, own: FileId | undefined, id: LockIdentity): Promise<LockEntry | undefined> {
  for (const e of await listLocks(repo, id)) {
    if (e.id === own || e.stale || !e.info) continue;
    if (conflicts(exclusive, e.info.exclusive)) return e;
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ClawbackError('ABORTED', 'operation interrupted'));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new ClawbackError('ABORTED', 'operation interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A held lock. Call {@link Lock.release} when done (also on errors). */
export class Lock {
  readonly repo: Repository;
  readonly exclusive: boolean;
  /** The current lock file (changes on refresh). */
  id: FileId;
  /** The content of the current lock file. */
  info: LockInfo;
  private readonly identity: LockIdentity;
  private timer: ReturnType<typeof setInterval> | undefined;
  private refreshing: Promise<void> | undefined;
  private released = false;
  private readonly onRefreshError: ((err: unknown) => void) | undefined;

  /** @internal use {@link acquireLock}. */
  constructor(repo: Repository, id: FileId, info: LockInfo, identity: LockIdentity, refreshEvery: number, onRefreshError?: (err: unknown) => void) {
    this.repo = repo;
    this.id = id;
    this.info = info;
    this.exclusive = info.exclusive;
    this.identity = identity;
    this.onRefreshError = onRefreshError;
    if (refreshEvery > 0) {
      this.timer = setInterval(() => {
        this.refresh().catch((err: unknown) => this.onRefreshError?.(err));
      }, refreshEvery);
      this.timer.unref();
    }
  }

  /**
   * Writes a new lock file with the current time, then removes the previous one. Other
   * processes see the lock held throughout (both files exist for a moment).
   */
  refresh(): Promise<void> {
    if (this.released) return Promise.resolve();
    const run = async (): Promise<void> => {
      const info: LockInfo = { ...this.info, time: new Date((this.identity.now ?? Date.now)()).toISOString() };
      const id = await this.repo.saveFile('locks', encodeLockInfo(info)).catch((err: unknown) => {
        if (isClawbackError(err, 'ALREADY_EXISTS')) return this.id; // same bytes (unencrypted, same ms)
        throw err;
      });
      const old = this.id;
      this.id = id;
      this.info = info;
      if (old !== id) await this.repo.backend.remove({ type: 'locks', name: old });
      if (this.released) await this.repo.backend.remove({ type: 'locks', name: id });
    };
    const p = (this.refreshing ?? Promise.resolve()).then(run, run);
    this.refreshing = p.catch(() => undefined);
    return p;
  }

  /** Stops refreshing and removes the lock file. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.refreshing;
    await this.repo.backend.remove({ type: 'locks', name: this.id });
  }
}

/**
 * Takes a shared or exclusive lock on `repo` (see the module comment).
 *
 * @returns the held {@link Lock}; release it when done.
 * @throws ClawbackError `LOCKED` naming the holder (host, pid, user, time, kind) when a
 *   conflicting lock is still held after `retryFor` ms; `ABORTED` when `signal` fires while
 *   waiting; backend errors as they come.
 */
export async function acquireLock(repo: Repository, opts: LockOptions = {}): Promise<Lock> {
  const exclusive = opts.exclusive ?? false;
  const now = opts.now ?? Date.now;
  const identity: LockIdentity = {
    host: opts.host ?? hostname(),
    pid: opts.pid ?? process.pid,
    username: opts.username ?? defaultUsername(),
    now,
    isAlive: opts.isAlive ?? processAlive,
  };
  const deadline = now() + Math.max(0, opts.retryFor ?? 0);
  let delay = 100;
  let waited = false;
  for (;;) {
    throwIfAborted(opts.signal);
    let holder = await findConflict(repo, exclusive, undefined, identity);
    if (!holder) {
      const info: LockInfo = { time: new Date(now()).toISOString(), host: identity.host!, pid: identity.pid!, exclusive, username: identity.username! };
      const id = await repo.saveFile('locks', encodeLockInfo(info));
      // Re-check: someone may have written a conflicting lock between our list and our write.
      try {
        holder = await findConflict(repo, exclusive, id, identity);
      } catch (err) {
        await repo.backend.remove({ type: 'locks', name: id }).catch(() => undefined);
        throw err;
      }
      if (!holder) return new Lock(repo, id, info, identity, opts.refreshEvery ?? REFRESH_EVERY_MS, opts.onRefreshError);
      await repo.backend.remove({ type: 'locks', name: id });
    }
    const left = deadline - now();
    if (left <= 0) {
      throw new ClawbackError(
        'LOCKED',
        `repository ${repo.backend.location} is locked: ${describeLock(holder)}. ` +
          `Wait for it (--retry-lock 10m), or if that process is gone, remove stale locks with \`clawback unlock\``,
        { details: { lock: holder.id, ...(holder.info ?? {}) } },
      );
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(holder);
    }
    // Exponential back-off with jitter, so two racing processes do not retry in lockstep.
    const pause = Math.min(left, delay * (0.5 + Math.random()));
    await sleep(pause, opts.signal);
    delay = Math.min(delay * 2, 5_000);
  }
}

/** Outcome of {@link unlockRepository}. */
export interface UnlockResult {
  removed: LockEntry[];
  /** Locks left in place (not stale, and `all` was not set). */
  kept: LockEntry[];
}

/**
 * Removes stale (and damaged) lock files, or every lock file with `all` (only when you know
 * no other clawback process uses the repository).
 */
export async function unlockRepository(repo: Repository, opts: { all?: boolean } & LockIdentity = {}): Promise<UnlockResult> {
  const removed: LockEntry[] = [];
  const kept: LockEntry[] = [];
  for (const e of await listLocks(repo, opts)) {
    if (opts.all || e.stale) {
      await repo.backend.remove({ type: 'locks', name: e.id });
      removed.push(e);
    } else kept.push(e);
  }
  return { removed, kept };
}
