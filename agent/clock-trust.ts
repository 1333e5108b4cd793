/**
 * Rule 9: an untrusted clock holds firing. A unit without an RTC boots in 1970 (or at the image's
 * build date); a clock that jumps backwards past the highest time ever seen would replay past
 * slots. Both hold the scheduler and the runner until the clock is believable again.
 */
import type { Clock } from './clock.js';
import { META, type MetaStore } from './store/meta.js';

export interface ClockTrustConfig {
  /** Epoch ms before which the clock cannot be right (the build date). */
  floorMs: number;
  /** How far behind the highest time seen the clock may be before it is distrusted. */
  backwardToleranceMs: number;
  /**
   * Write the highest time seen at most this often (default: every time it moves). Every write is a
   * commit, and a commit is a flash write, so the agent passes config.clock.persistEverySec: an idle
   * unit then commits once an hour instead of once a scheduler pass. A crash forgets at most this
   * much of the highest time; `persistNow()` on a graceful stop forgets nothing.
   */
  persistEveryMs?: number;
}

export type TrustState =
  | { trusted: true; reason: null; source: string }
  | {
      trusted: false;
      reason: 'before_build_floor' | 'jumped_backwards';
      message: string;
      source: string;
    };

export class ClockTrust {
  private maxSeen: number;
  private persistedMaxSeen: number;
  private source = 'system';

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly cfg: ClockTrustConfig,
  ) {
    this.maxSeen = meta.getNumber(META.maxSeenTime) ?? 0;
    this.persistedMaxSeen = this.maxSeen;
  }

  /** Judge the clock now, and remember the time if it is trusted. */
  evaluate(): TrustState {
    const now = this.clock.now();
    if (now < this.cfg.floorMs) {
      return {
        trusted: false,
        reason: 'before_build_floor',
        message: `clock reads ${new Date(now).toISOString()}, before this build (${new Date(this.cfg.floorMs).toISOString()}); waiting for time sync`,
        source: this.source,
      };
    }
    if (now < this.maxSeen - this.cfg.backwardToleranceMs) {
      return {
        trusted: false,
        reason: 'jumped_backwards',
        message: `clock reads ${new Date(now).toISOString()}, earlier than ${new Date(this.maxSeen).toISOString()} already seen; holding calls so past slots are not replayed`,
        source: this.source,
      };
    }
    if (now > this.maxSeen) this.maxSeen = now;
    return { trusted: true, reason: null, source: this.source };
  }

  highestSeen(): number {
    return this.maxSeen;
  }

  /**
   * Write the highest time seen if it moved by persistEveryMs since the last write (call inside a
   * transaction the caller commits anyway). A pass that changes nothing else then writes nothing,
   * and SQLite commits a transaction without writes without touching the disk.
   */
  persist(): void {
    if (this.maxSeen - this.persistedMaxSeen >= (this.cfg.persistEveryMs ?? 1)) this.persistNow();
  }

  /** Write the highest time seen if it moved at all (graceful stop). Call inside a transaction. */
  persistNow(): void {
    if (this.maxSeen > this.persistedMaxSeen) {
      this.meta.set(META.maxSeenTime, this.maxSeen);
      this.persistedMaxSeen = this.maxSeen;
    }
  }

  /**
   * An operator or a trusted time source (the cellular network's time) vouches for the current
   * time: forget a bogus higher time seen (e.g. an RTC that was set years ahead).
   */
  acceptCurrentTime(source: string): void {
    this.source = source;
    this.maxSeen = this.clock.now();
    this.meta.set(META.maxSeenTime, this.maxSeen);
    this.persistedMaxSeen = this.maxSeen;
  }
}
