/**
 * A counting budget (bytes or items) that callers take from and give back, waiting in
 * FIFO order while it is exhausted. One request larger than the whole budget is let
 * through when nothing else is taken, so it cannot wait forever.
 */
export class Budget {
  private readonly limit: number;
  private used = 0;
  private readonly waiters: { amount: number; resolve: () => void }[] = [];

  /** @param limit the amount that may be taken at once (≥ 1). */
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  /** Takes `amount` now if it fits (and nobody waits); true if taken. */
  tryTake(amount: number): boolean {
    if (this.waiters.length > 0 || !this.fits(amount)) return false;
    this.used += amount;
    return true;
  }

  /** Takes `amount`, waiting until it fits. */
  async take(amount: number): Promise<void> {
    if (this.tryTake(amount)) return;
    await new Promise<void>((resolve) => this.waiters.push({ amount, resolve }));
  }

  /** Gives back `amount` taken before, waking waiters that now fit. */
  give(amount: number): void {
    this.used -= amount;
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.amount)) {
      const w = this.waiters.shift()!;
      this.used += w.amount;
      w.resolve();
    }
  }

  private fits(amount: number): boolean {
    return this.used === 0 || this.used + amount <= this.limit;
  }
}
