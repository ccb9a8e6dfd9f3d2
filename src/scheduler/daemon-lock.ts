/**
 * One daemon per state directory: `<stateDir>/daemon.lock` (JSON: pid, host, start time),
 * created with O_EXCL. A lock left by a process that is gone (same host, pid not alive) is
 * stale and taken over; a live holder makes the second daemon refuse to start, so two
 * daemons never run the same job at once. Like `repository/lock.ts`, this module reads
 * `process.pid` (as a default) and probes pids.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ClawbackError } from '../errors.js';
import { processAlive } from '../repository/lock.js';

/** Who holds the daemon lock. */
export interface DaemonLockInfo {
  pid: number;
  host: string;
  started: string;
}

/** Options of {@link acquireDaemonLock}. */
export interface DaemonLockOptions {
  /** Default `process.pid`. */
  pid?: number;
  /** True when process `pid` exists on this host; default `kill(pid, 0)` (repository/lock.ts). */
  isAlive?: (pid: number) => boolean;
  host?: string;
  now?: Date;
}

/** A held lock. */
export interface DaemonLock {
  readonly file: string;
  release(): Promise<void>;
}

/**
 * Takes the daemon lock of `stateDir`.
 * @throws ClawbackError `LOCKED` naming the live holder.
 */
export async function acquireDaemonLock(stateDir: string, opts: DaemonLockOptions = {}): Promise<DaemonLock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'daemon.lock');
  const host = opts.host ?? hostname();
  const isAlive = opts.isAlive ?? processAlive;
  const info: DaemonLockInfo = { pid: opts.pid ?? process.pid, host, started: (opts.now ?? new Date()).toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(info) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        file,
        release: async () => {
          await unlink(file).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: Partial<DaemonLockInfo> = {};
    try {
      holder = JSON.parse(await readFile(file, 'utf8')) as Partial<DaemonLockInfo>;
    } catch {
      /* unreadable or torn: stale */
    }
    const live = typeof holder.pid === 'number' && (holder.host !== host || isAlive(holder.pid));
    if (live) {
      throw new ClawbackError(
        'LOCKED',
        `another clawback daemon (pid ${holder.pid} on ${holder.host}, started ${holder.started ?? '?'}) uses the state directory ${stateDir}: stop it first, or give this one another --state-dir`,
        { details: { holder } },
      );
    }
    await unlink(file).catch(() => undefined);
  }
  throw new ClawbackError('LOCKED', `cannot take the daemon lock ${file}: another daemon keeps taking it`);
}
