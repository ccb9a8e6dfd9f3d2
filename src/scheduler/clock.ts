/**
 * Time as the scheduler sees it, injected so tests run on a fake clock.
 *
 * `now()` is wall-clock time (it jumps forward when the machine wakes from sleep);
 * timers count elapsed running time, like Node's timers, which use a monotonic clock that
 * does not advance while the machine is suspended. The scheduler therefore never trusts a
 * long timer: it sleeps in bounded steps and re-reads `now()` after each.
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** A source of wall-clock time and timers. */
export interface Clock {
  /** Wall-clock time, ms since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` ms of running time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and Node's timers (which keep the process alive while pending). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Resolves after `ms` of clock time, or at once when `signal` aborts (never rejects).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      resolve();
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
