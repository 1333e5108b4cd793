/**
 * The systemd watchdog keeper. systemd restarts the agent when WATCHDOG=1 stops arriving, so a ping
 * must mean "this process can still do its job": the event loop turns (a timer fires close to when
 * it should) and the database answers. Network and MQTT state deliberately play no part: offline is
 * a normal state (rule 7), and restarting a unit because the cell link is down would only make
 * things worse.
 *
 * One timer, every interval (WatchdogSec/2): the timer's own lateness is the event-loop lag probe,
 * so the watchdog adds no wake-ups beyond its pings (design bar: <= 1 wake-up/s).
 */
import type { Notifier } from './notifier.js';

export type WatchdogEvent =
  | { kind: 'ping' }
  | { kind: 'skip'; reason: 'event-loop'; lagMs: number }
  | { kind: 'skip'; reason: 'database'; error: string };

export interface WatchdogOptions {
  notifier: Notifier;
  /** Time between pings; systemd convention is half of WatchdogSec. */
  intervalMs: number;
  /** A tick later than this means the loop was blocked: withhold that ping. Default interval/3. */
  maxLagMs?: number;
  /** True when the database answers; a throw counts as "no". */
  databaseAnswers: () => boolean;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** Every decision, for logs and tests. */
  onEvent?: (e: WatchdogEvent) => void;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private expectedAt = 0;
  private readonly maxLagMs: number;
  private readonly now: () => number;

  constructor(private readonly o: WatchdogOptions) {
    this.maxLagMs = o.maxLagMs ?? Math.max(1, Math.floor(o.intervalMs / 3));
    this.now = o.now ?? (() => performance.now());
  }

  /** Tell systemd the agent is up, then keep pinging while healthy. */
  async ready(): Promise<void> {
    await this.o.notifier.notify('READY=1');
    this.schedule();
  }

  /** Stop pinging and tell systemd the shutdown is deliberate. */
  async stopping(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.o.notifier.notify('STOPPING=1');
  }

  private schedule(): void {
    this.expectedAt = this.now() + this.o.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.o.intervalMs);
    // The watchdog must never be the reason the process stays alive.
    this.timer.unref();
  }

  /** One decision: ping only if the loop was on time and the database answered. */
  private tick(): void {
    const lagMs = this.now() - this.expectedAt;
    this.schedule();
    if (lagMs > this.maxLagMs) {
      this.o.onEvent?.({ kind: 'skip', reason: 'event-loop', lagMs: Math.round(lagMs) });
      return;
    }
    let error: string | null = null;
    try {
      if (!this.o.databaseAnswers()) error = 'no answer';
    } catch (err) {
      error = (err as Error).message;
    }
    if (error !== null) {
      this.o.onEvent?.({ kind: 'skip', reason: 'database', error });
      return;
    }
    this.o.onEvent?.({ kind: 'ping' });
    void this.o.notifier.notify('WATCHDOG=1');
  }
}
