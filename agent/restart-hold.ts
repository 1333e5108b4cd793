/**
 * A restart that waits for the call in progress (SIGUSR2; the package's postinst sends it before
 * it restarts the agent onto upgraded files: docs/packaging.md, "Update"). A stop hangs up a call
 * (SIGTERM must stay bounded: shutdown, power-off); an upgrade has no reason to cut a resident's
 * conversation short. So the upgrade asks first, the agent stops claiming new calls, lets the one
 * in progress end by itself, says so, and the upgrade restarts it then.
 *
 * Policy (one writer: this module; `changed` reports every transition):
 *
 * | state    | event                         | next     | effect                                      |
 * | -------- | ----------------------------- | -------- | ------------------------------------------- |
 * | open     | request, the runner idle      | held     | "no call in progress"; hold timer `holdMs`  |
 * | open     | request, the runner working   | waiting  | no new claim; the runner finishes its work  |
 * | waiting  | the runner has no work left   | held     | "no call in progress"; hold timer `holdMs`  |
 * | waiting  | request                       | waiting  | —                                           |
 * | held     | request                       | held     | hold timer re-armed                         |
 * | held     | hold timer (no restart came)  | open     | claims resume at once (a postinst that died |
 * |          |                               |          | must not silence the unit)                  |
 * | any      | stop (SIGTERM)                | —        | the timer is cleared; the agent stops       |
 *
 * The runner's work includes a claim on its way and every attempt it starts, so "held" means no
 * call can start before the restart: a due run waits as pending and the new agent places it at
 * once (within its catch-up window). The call in progress is bounded by the runner itself (ring
 * timeout + max duration + grace), so "waiting" always ends. A cancel still reaches a ringing call.
 */
import type { Clock } from './clock.js';

export type RestartHoldState =
  | { state: 'open' }
  | { state: 'waiting'; since: number }
  | { state: 'held'; since: number; until: number };

export interface RestartHoldDeps {
  clock: Clock;
  /** True while the runner works (a claim on its way, a call, its outcome's write). */
  runnerWorking: () => boolean;
  /** Resolves once the runner has no work in progress (claims are already refused then). */
  runnerIdle: () => Promise<void>;
  /** How long "held" lasts without a restart before claims resume. */
  holdMs: number;
  /** Every transition, for the systemd status line, the log and diagnostics. */
  changed: (s: RestartHoldState) => void;
  /** Claims may start again: look for due work now. */
  resume: () => void;
}

export class RestartHold {
  private s: RestartHoldState = { state: 'open' };
  private timer: unknown = null;
  private stopped = false;

  constructor(private readonly d: RestartHoldDeps) {}

  /** False while a restart is awaited: the runner claims nothing. */
  allowsClaims(): boolean {
    return this.s.state === 'open';
  }

  state(): RestartHoldState {
    return this.s;
  }

  /** The restart is coming: finish the call in progress, start no other. Idempotent. */
  request(): void {
    if (this.stopped) return;
    const now = this.d.clock.now();
    if (this.s.state === 'held') {
      this.hold(now);
      return;
    }
    if (this.s.state === 'waiting') return;
    // Nothing in progress: "held" at once. A "waiting" line that lasted a few ms would tell
    // postinst (and the operator reading apt's output) that a call is going on when none is.
    if (!this.d.runnerWorking()) {
      this.hold(now);
      return;
    }
    const waiting: RestartHoldState = { state: 'waiting', since: now };
    this.set(waiting);
    void this.d.runnerIdle().then(() => {
      if (this.s === waiting && !this.stopped) this.hold(this.d.clock.now());
    });
  }

  /** The agent is stopping: no timer outlives it. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private hold(now: number): void {
    this.clearTimer();
    this.set({ state: 'held', since: now, until: now + this.d.holdMs });
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = null;
      if (this.stopped || this.s.state !== 'held') return;
      this.set({ state: 'open' });
      this.d.resume();
    }, this.d.holdMs);
  }

  private set(s: RestartHoldState): void {
    this.s = s;
    this.d.changed(s);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The status line from READY until a restart is requested. */
export const READY_STATUS_LINE = 'ready: placing booked calls';

/** The systemd status line for a state; postinst matches these prefixes (keep them stable). */
export function restartHoldStatusLine(s: RestartHoldState): string {
  switch (s.state) {
    case 'waiting':
      return 'restart requested: waiting for the call in progress to end';
    case 'held':
      return `restart requested: no call in progress, new calls held until ${new Date(s.until).toISOString()}`;
    case 'open':
      return 'restart hold expired: calling normally';
  }
}
