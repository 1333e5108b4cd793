import { randomUUID } from 'node:crypto';
import { type CallEnd, CallSession } from '../call-session.js';
import type { HalLogger } from '../logger.js';
import {
  type CallStateEvent,
  type DialRequest,
  DTMF_DIGITS,
  type HalTimers,
  ModemError,
  type ModemEvent,
} from '../types.js';
import type { DbusClient } from './dbus-client.js';
import { CALL_STATE, callEndOf, IFACE, MM } from './mm-mapping.js';

export interface MmCallDeps {
  bus: DbusClient;
  /** The Call object ModemManager created for this dial. */
  path: string;
  modemPath: string;
  req: DialRequest;
  timers: HalTimers;
  log: HalLogger;
  onState: ((e: CallStateEvent) => void) | undefined;
  emit(e: ModemEvent): void;
  /** How long a hang-up may take before the call is ended on our word alone. */
  hangupGraceMs: number;
}

/**
 * One outgoing voice call through ModemManager: state from the Call object's StateChanged
 * signal, the ring timeout and max duration enforced here (ModemManager has neither), hang-up by
 * Call.Hangup, and the Call object deleted once the call ended so ModemManager does not collect
 * them.
 */
export class MmCall {
  readonly session: CallSession;
  private localEnd: CallEnd | null = null;

  constructor(private readonly d: MmCallDeps) {
    this.session = new CallSession(randomUUID(), d.timers, (e) => {
      try {
        d.onState?.(e);
      } catch (err) {
        d.log.warn({ err }, 'onState listener threw');
      }
      d.emit({ type: 'call', event: e });
    });
    void this.session.done.then(() => this.forget());
  }

  get path(): string {
    return this.d.path;
  }

  /** Call.Start went through: the call is dialling. */
  started(): void {
    const { req } = this.d;
    const session = this.session;
    session.announceDialing();
    session.after(req.ringTimeoutMs, () => {
      if (!session.answered) {
        void this.hangup({ result: 'no_answer', endedBy: 'timeout', detail: 'ring timeout' });
      }
    });
  }

  /** Call.StateChanged(old, new, reason). */
  onStateChanged(state: number, reason: number): void {
    const session = this.session;
    if (session.ended) return;
    if (state === CALL_STATE.RINGING_OUT) session.advance('alerting');
    else if (state === CALL_STATE.ACTIVE) this.markActive();
    else if (state === CALL_STATE.TERMINATED) {
      session.finish(this.localEnd ?? callEndOf(reason, session.answered));
    }
  }

  async hangup(end: CallEnd): Promise<void> {
    const session = this.session;
    if (session.ended || this.localEnd) return;
    this.localEnd = end;
    // The TERMINATED signal ends the session with this reason; if it never comes, we do.
    session.after(this.d.hangupGraceMs, () => session.finish(end));
    try {
      await this.d.bus.call(MM, this.d.path, IFACE.call, 'Hangup');
    } catch (err) {
      // Already terminated (or ModemManager lost it): the call is over either way.
      this.d.log.debug({ err: (err as Error).message }, 'Call.Hangup failed');
      session.finish(end);
    }
  }

  hangupByUser(): Promise<void> {
    return this.hangup(
      this.session.answered
        ? { result: 'completed', endedBy: 'local' }
        : { result: 'no_answer', endedBy: 'local', detail: 'hung up before answer' },
    );
  }

  /** The driver ended the call (stop, modem gone): best-effort hang-up, never throws. */
  async release(): Promise<void> {
    await this.d.bus.call(MM, this.d.path, IFACE.call, 'Hangup').catch(() => {});
  }

  async sendDtmf(digits: string): Promise<void> {
    const tones = digits.toUpperCase();
    if (!DTMF_DIGITS.test(tones)) {
      throw new ModemError('DTMF digits must be 0-9, *, #, A-D', 'dtmf_failed');
    }
    // One tone per SendDtmf: ModemManager 1.20's AT calls send only the first character of
    // the string they are given (AT+VTS=<first>), so a longer string would lose tones.
    for (const tone of tones) {
      if (this.session.state !== 'active' || this.localEnd) {
        throw new ModemError('DTMF needs an answered call', 'not_ready');
      }
      try {
        await this.d.bus.call(MM, this.d.path, IFACE.call, 'SendDtmf', 's', [tone]);
      } catch (err) {
        throw new ModemError(`modem refused DTMF: ${(err as Error).message}`, 'dtmf_failed');
      }
    }
  }

  private markActive(): void {
    const { req } = this.d;
    const session = this.session;
    if (session.answered) return;
    session.advance('active');
    session.after(req.maxDurationMs, () => {
      void this.hangup({ result: 'completed', endedBy: 'timeout', detail: 'max duration' });
    });
  }

  private forget(): void {
    void this.d.bus
      .call(MM, this.d.modemPath, IFACE.voice, 'DeleteCall', 'o', [this.d.path])
      .catch(() => {});
  }
}
