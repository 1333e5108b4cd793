/**
 * Reconnect delays: exponential with "full jitter" (a random delay between 0 and the capped
 * exponential), so a fleet that lost the broker together does not come back in lock-step.
 * mqtt.js only has a fixed `reconnectPeriod`, so the link schedules reconnects itself.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; each call counts one more failure. */
  next(): number {
    const exp = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // Never below minMs: a broker that refuses us instantly must not be hammered.
    return Math.round(this.minMs + this.random() * Math.max(0, exp - this.minMs));
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
