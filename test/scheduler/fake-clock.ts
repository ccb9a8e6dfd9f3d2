import type { Clock, TimerHandle } from '../../src/scheduler/clock.js';

interface Timer {
  id: number;
  /** Monotonic time at which it fires. */
  at: number;
  fn: () => void;
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * A fake {@link Clock}: wall time (`now()`) and monotonic time (timers) advance together
 * with {@link advance}; {@link suspend} models a machine asleep: the wall clock jumps, the
 * timers do not move (Node's timers use a monotonic clock that stops during suspend).
 */
export class FakeClock implements Clock {
  private wall: number;
  private mono = 0;
  private nextId = 1;
  private timers: Timer[] = [];

  constructor(startMs: number) {
    this.wall = startMs;
  }

  now(): number {
    return this.wall;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { id: this.nextId++, at: this.mono + Math.max(0, ms), fn };
    this.timers.push(t);
    return t.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers pending. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves both clocks forward by `ms`, firing due timers in order and letting callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.mono + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.wall += due.at - this.mono;
      this.mono = due.at;
      due.fn();
      await settle();
    }
    this.wall += end - this.mono;
    this.mono = end;
    await settle();
  }

  /** The machine sleeps for `ms`: wall time jumps, timers stay where they were. */
  suspend(ms: number): void {
    this.wall += ms;
  }
}
