import type { HalTimers } from '../types.js';
import { AtTimeoutError } from './at-channel.js';
import { readStatus, type Send, type StatusReading } from './status-reader.js';

export interface StatusPollHost {
  send: Send;
  /** A fresh reading arrived. */
  apply(reading: StatusReading): void;
  /** `stop`: not now and not again (stopped, recovering); `later`: a call is up, try next time. */
  mode(): 'stop' | 'later' | 'now';
  /** A status query timed out: the modem went silent. */
  onSilent(reason: string): void;
}

/** Keeps the modem's status fresh between calls: one reading every `everyMs`, on demand too. */
export class StatusPoll {
  private timer: unknown = null;

  constructor(
    private readonly timers: HalTimers,
    private readonly everyMs: number,
    private readonly host: StatusPollHost,
  ) {}

  /** Reads now; errors propagate (init treats a silent modem as not initialised). */
  async readNow(): Promise<void> {
    this.host.apply(await readStatus(this.host.send));
  }

  schedule(): void {
    this.cancel();
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.poll();
    }, this.everyMs);
  }

  cancel(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    const mode = this.host.mode();
    if (mode === 'stop') return;
    if (mode === 'later') return this.schedule(); // during a call, the call poll is the heartbeat
    try {
      await this.readNow();
      this.schedule();
    } catch (err) {
      if (err instanceof AtTimeoutError) this.host.onSilent('modem stopped responding');
    }
  }
}
