/**
 * The cellular network's time as a clock source for the clock-trust rule (rule 9). The modem reads
 * it (+CCLK with automatic time-zone update) and reports `network_time` events; this module compares
 * it with the system clock:
 *
 * - agrees (within the clock's backward tolerance): the network vouches for the current time. If
 *   firing is held because the clock "jumped backwards" (a higher time was seen before, e.g. an RTC
 *   that was set years ahead), that bogus high-water mark is forgotten and firing resumes. Otherwise
 *   the source is recorded as `network`.
 * - disagrees: a warning, and nothing else. The agent is not root and does not step the system
 *   clock; it reports the disagreement (log + `state()` for diagnostics) and leaves the trust rule
 *   to hold firing if the clock really is wrong.
 */
import type { Clock } from './clock.js';
import type { ClockTrust } from './clock-trust.js';
import type { Logger } from './log.js';
import type { Modem } from '../hal/types.js';

export interface NetworkTimeOptions {
  clock: Clock;
  trust: Pick<ClockTrust, 'evaluate' | 'acceptCurrentTime' | 'highestSeen'>;
  logger: Logger;
  /** How far network and system time may differ and still agree (the clock's backward tolerance). */
  toleranceMs: number;
  /** Called after the network vouched for a held clock, so the scheduler re-judges at once. */
  onVouched?: () => void;
}

export type NetworkTimeVerdict = 'vouched' | 'agrees' | 'disagrees' | 'ignored';

export interface NetworkTimeState {
  /** The network's time (epoch ms) and the system time when it was read. */
  at: number;
  readAt: number;
  /** Network minus system time, ms. Positive: the system clock is behind. */
  offsetMs: number;
  verdict: NetworkTimeVerdict;
}

export class NetworkTime {
  private last: NetworkTimeState | null = null;
  private readonly log: Logger;

  constructor(private readonly o: NetworkTimeOptions) {
    this.log = o.logger.child({ component: 'network-time' });
  }

  /** Listens to the modem's network time, starting with the reading it already has. */
  attach(modem: Pick<Modem, 'onEvent' | 'status'>): () => void {
    const off = modem.onEvent((e) => {
      if (e.type === 'network_time') this.onNetworkTime(e.at, e.readAt);
    });
    // The driver reads the time while it initialises, before anyone could subscribe.
    const known = modem.status().networkTime;
    if (known) this.onNetworkTime(known.at, known.readAt);
    return off;
  }

  /** The last reading and what was made of it (diagnostics). */
  state(): NetworkTimeState | null {
    return this.last && { ...this.last };
  }

  onNetworkTime(at: number, readAt: number): NetworkTimeVerdict {
    const { trust, clock, toleranceMs } = this.o;
    const offsetMs = at - readAt;
    let verdict: NetworkTimeVerdict;
    if (!Number.isFinite(offsetMs)) {
      verdict = 'ignored';
    } else if (Math.abs(offsetMs) > toleranceMs) {
      verdict = 'disagrees';
      // Log only when the picture changes, not on every status poll.
      if (this.last?.verdict !== 'disagrees') {
        this.log.warn(
          {
            networkTime: new Date(at).toISOString(),
            systemTime: new Date(readAt).toISOString(),
            offsetSec: Math.round(offsetMs / 1000),
          },
          'network time disagrees with the system clock; not stepping it (the agent is not root): fix the time sync (NTP / RTC)',
        );
      }
    } else {
      const state = trust.evaluate();
      if (!state.trusted && state.reason === 'jumped_backwards') {
        trust.acceptCurrentTime('network');
        verdict = 'vouched';
        this.log.warn(
          { offsetMs, message: state.message },
          'network time confirms the system clock; forgetting the higher time seen before',
        );
        this.o.onVouched?.();
      } else if (state.trusted && clock.now() >= trust.highestSeen()) {
        // Record the source without lowering the highest time seen.
        if (state.source !== 'network') trust.acceptCurrentTime('network');
        verdict = 'agrees';
      } else {
        // Before the build floor: the network agrees with a clock that cannot be right. Leave the
        // hold in place; the trust rule says why.
        verdict = 'agrees';
      }
    }
    this.last = { at, readAt, offsetMs, verdict };
    return verdict;
  }
}
