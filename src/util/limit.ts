/**
 * Runs async tasks with at most `n` in flight; `add` resolves when the task has started
 * (backpressure), `drain` when all finished. The first failure is rethrown by `drain`
 * (and by later `add` calls).
 */
export class TaskLimiter {
  private readonly n: number;
  private readonly running = new Set<Promise<void>>();
  private error: { err: unknown } | undefined;

  constructor(n: number) {
    this.n = Math.max(1, n);
  }

  /** Starts `task` once fewer than `n` run. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.n) await Promise.race(this.running);
    if (this.error) throw this.error.err;
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.error ??= { err };
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Waits for every started task; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
    if (this.error) throw this.error.err;
  }
}
