/**
 * A token bucket per client address: `burst` requests at once, refilled at `perSecond`. Enough to
 * keep a runaway script (or a token-guessing loop) from hogging a small unit; not a WAF.
 */
export interface RateLimitConfig {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before idle ones are swept (a service network has a handful of clients). */
const MAX_CLIENTS = 1_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly cfg: RateLimitConfig,
    /** Monotonic milliseconds. */
    private readonly now: () => number,
  ) {}

  /** Take one token for `key`; returns the seconds to wait when there is none. */
  take(key: string): { ok: true } | { ok: false; retryAfterSec: number } {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_CLIENTS) this.sweep(t);
      b = { tokens: this.cfg.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.cfg.burst, b.tokens + ((t - b.at) / 1000) * this.cfg.perSecond);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSec: Math.ceil((1 - b.tokens) / this.cfg.perSecond) };
  }

  /** Seconds until `key` has a token again (0: it has one now). Takes nothing. */
  waitSec(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(
      this.cfg.burst,
      b.tokens + ((this.now() - b.at) / 1000) * this.cfg.perSecond,
    );
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.cfg.perSecond);
  }

  /** Drop buckets that have refilled completely (their client has been quiet). */
  private sweep(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.cfg.perSecond >= this.cfg.burst) {
        this.buckets.delete(k);
      }
    }
    if (this.buckets.size >= MAX_CLIENTS) this.buckets.clear();
  }
}
