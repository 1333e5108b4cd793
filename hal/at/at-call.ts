import { randomUUID } from 'node:crypto';
import { type CallEnd, CallSession } from '../call-session.js';
import { type HalLogger, maskNumbersIn } from '../logger.js';
import {
  type CallStateEvent,
  type DialRequest,
  DTMF_DIGITS,
  type HalTimers,
  ModemError,
  type ModemEvent,
} from '../types.js';
import { type AtResponse, AtTimeoutError } from './at-channel.js';
import { type EndHint, mapEnd, readEndReason } from './call-end.js';
import { type ClccEntry, parseClcc, parseDsci, parseEcav, parseFinal } from './responses.js';
import type { Send } from './status-reader.js';

export interface AtCallDeps {
  session: CallSession;
  req: DialRequest;
  send: Send;
  timers: HalTimers;
  /** AT+CLCC poll period while the modem gives no call-state URCs. */
  pollMs: number;
  /** Poll period once URCs carry the call state (or +CLCC is not answered): a heartbeat only. */
  heartbeatMs: number;
  /** How long an aborted dial may take to report its end before the modem counts as silent. */
  commandTimeoutMs: number;
  log: HalLogger;
  /** The modem stopped answering during the call: the driver ends the call and recovers. */
  onModemSilent(reason: string): void;
  /** Aborts a dial whose final result is still outstanding (any character aborts call set-up). */
  abortDial(): void;
}

/**
 * One outgoing voice call on an AT modem. State comes from whichever arrives first: call-state
 * URCs (Quectel ^DSCI, SIMCom unsolicited +CLCC / VOICE CALL, ST-Ericsson/MediaTek *ECAV), plain
 * NO CARRIER/BUSY, the result of an ATD the modem holds until the callee answers, or the AT+CLCC
 * poll. Polling is the fallback: once URCs report the call, the poll drops to a heartbeat that
 * only notices a silent modem. The ring timeout and max duration are enforced here, not trusted to
 * the network.
 */
export class AtCall {
  private localEnd: CallEnd | null = null;
  private ending = false;
  private seenInClcc = false;
  private emptyPolls = 0;
  private urcDriven = false;
  private clccAnswers = true;
  /** The ATD is still outstanding (a modem that answers OK only once the callee picks up). */
  private heldDial: Promise<void> | null = null;
  /** A held ATD answered OK: the callee picked up, unless a URC or +CLCC says otherwise. */
  private connectedHint = false;

  constructor(private readonly d: AtCallDeps) {}

  /** A new call with its session: state changes go to `onState` (guarded) and to `emit`. */
  static open(
    d: Omit<AtCallDeps, 'session'> & {
      onState: ((e: CallStateEvent) => void) | undefined;
      emit(e: ModemEvent): void;
    },
  ): AtCall {
    const session = new CallSession(randomUUID(), d.timers, (e) => {
      try {
        d.onState?.(e);
      } catch (err) {
        d.log.warn({ err }, 'onState listener threw');
      }
      d.emit({ type: 'call', event: e });
    });
    return new AtCall({ ...d, session });
  }

  get session(): CallSession {
    return this.d.session;
  }

  /** The dial was accepted (ATD answered OK): watch the call. */
  start(): void {
    this.armRingTimeout();
    this.schedulePoll();
  }

  /**
   * The dial is accepted but its result is still outstanding: some modems hold ATD's OK until the
   * callee answers (V.250 "OK on connect"). No command may be sent meanwhile (it would queue
   * behind the ATD, or abort the dial), so state comes from URCs and from that result.
   */
  startHeld(atd: Promise<AtResponse>): void {
    this.armRingTimeout();
    this.heldDial = atd.then(
      (r) => this.onHeldDialResult(r),
      (err: unknown) => {
        this.heldDial = null;
        if (err instanceof AtTimeoutError && !this.session.ended) {
          this.d.onModemSilent('no result for ATD');
        }
        // AtClosedError: the driver saw the port go and handles it.
      },
    );
  }

  /** Returns true when the line was about this call. */
  onUrc(line: string): boolean {
    const final = parseFinal(line);
    if (final?.kind === 'call_end') {
      void this.endFromNetwork({ code: final.code });
      return true;
    }
    const dsci = parseDsci(line);
    if (dsci) {
      this.urcDriven = true;
      if (dsci.stat === 'ended') void this.endFromNetwork({ cause: dsci.cause });
      else this.apply(dsci);
      return true;
    }
    const ecav = parseEcav(line);
    if (ecav) {
      if (!ecav.voice || !ecav.outgoing) return true;
      this.urcDriven = true;
      if (ecav.stat === 'ended') {
        void this.endFromNetwork(ecav.busy ? { code: 'BUSY' } : { cause: ecav.cause });
      } else this.apply(ecav);
      return true;
    }
    const clcc = parseClcc(line);
    if (clcc) {
      this.urcDriven = true;
      if (clcc.stat === 'ended') void this.endFromNetwork({});
      else this.apply(clcc);
      return true;
    }
    if (line.startsWith('VOICE CALL: BEGIN')) {
      this.urcDriven = true;
      this.markActive();
      return true;
    }
    if (line.startsWith('VOICE CALL: END')) {
      void this.endFromNetwork({});
      return true;
    }
    return false;
  }

  /** The agent (or the driver's own timers) hangs up. Resolves once the modem confirmed it. */
  async hangup(end: CallEnd): Promise<void> {
    const { session } = this.d;
    // Already ending on the network's word: hanging up now would overwrite the real reason.
    if (session.ended || this.localEnd || this.ending) return;
    this.localEnd = end;
    try {
      await this.clearLine();
      session.finish(end);
    } catch (err) {
      // A silent modem cannot hang up; the driver recovers it and the call ends as a modem error.
      if (err instanceof AtTimeoutError) this.d.onModemSilent('no response to hang-up');
    }
  }

  /**
   * Frees the line after the driver already ended the call (stop): aborts a held dial, then
   * AT+CHUP. Best effort, never throws; the outcome stays the one the driver recorded.
   */
  async release(): Promise<void> {
    await this.clearLine().catch(() => {});
  }

  /** 27.007 AT+VTS, one tone per command (the form every dialect accepts). */
  async sendDtmf(digits: string): Promise<void> {
    const { session, send } = this.d;
    const tones = digits.toUpperCase();
    if (!DTMF_DIGITS.test(tones)) {
      throw new ModemError('DTMF digits must be 0-9, *, #, A-D', 'dtmf_failed');
    }
    // A URC may report the answer just before the held ATD's own OK: wait for that OK briefly.
    if (this.heldDial && session.state === 'active') {
      await this.settlesWithin(this.heldDial, this.d.commandTimeoutMs);
    }
    for (const tone of tones) {
      if (session.state !== 'active' || this.localEnd || this.ending || this.heldDial) {
        throw new ModemError('DTMF needs an answered call', 'not_ready');
      }
      let r;
      try {
        r = await send(`AT+VTS=${tone}`);
      } catch (err) {
        const silent = err instanceof AtTimeoutError;
        if (silent) this.d.onModemSilent('no response to AT+VTS');
        throw new ModemError(
          `DTMF not sent: ${(err as Error).message}`,
          silent ? 'timeout' : 'port',
        );
      }
      if (r.final.kind !== 'ok') throw new ModemError('modem refused DTMF', 'dtmf_failed');
    }
  }

  hangupByUser(): Promise<void> {
    return this.hangup(
      this.d.session.answered
        ? { result: 'completed', endedBy: 'local' }
        : { result: 'no_answer', endedBy: 'local', detail: 'hung up before answer' },
    );
  }

  private armRingTimeout(): void {
    const { session, req } = this.d;
    session.after(req.ringTimeoutMs, () => {
      if (!session.answered) {
        void this.hangup({ result: 'no_answer', endedBy: 'timeout', detail: 'ring timeout' });
      }
    });
  }

  /** Aborts a held dial (waiting for its result), then hangs up with CHUP, or ATH on old firmware. */
  private async clearLine(): Promise<void> {
    const held = this.heldDial;
    if (held) {
      this.d.abortDial();
      if (!(await this.settlesWithin(held, this.d.commandTimeoutMs))) {
        throw new AtTimeoutError('ATD');
      }
    }
    let r = await this.d.send('AT+CHUP');
    if (r.final.kind === 'error') r = await this.d.send('ATH');
  }

  private settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.d.timers.setTimeout(() => resolve(false), ms);
      void p.then(() => {
        this.d.timers.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private onHeldDialResult(r: AtResponse): void {
    this.heldDial = null;
    if (this.session.ended || this.localEnd) return; // hang-up in progress: it owns the end
    const final = r.final;
    if (final.kind === 'call_end') {
      void this.endFromNetwork({ code: final.code });
    } else if (final.kind === 'error') {
      void this.endFromNetwork({ error: final.message });
    } else {
      // OK on connect. URCs, when the modem gives them, have the better word on the state.
      this.connectedHint = true;
      if (!this.urcDriven && !this.clccAnswers) this.markActive();
      this.schedulePoll(0);
    }
  }

  private apply(entry: ClccEntry): void {
    if (!entry.outgoing || !entry.voice) return;
    this.seenInClcc = true;
    if (entry.stat === 'alerting') this.d.session.advance('alerting');
    if (entry.stat === 'active') this.markActive();
  }

  private markActive(): void {
    const { session, req } = this.d;
    if (session.ended || session.answered) return;
    session.advance('active');
    session.after(req.maxDurationMs, () => {
      void this.hangup({ result: 'completed', endedBy: 'timeout', detail: 'max duration' });
    });
  }

  private schedulePoll(
    ms = this.urcDriven || !this.clccAnswers ? this.d.heartbeatMs : this.d.pollMs,
  ) {
    this.d.session.after(ms, () => void this.poll());
  }

  private async poll(): Promise<void> {
    const { session, send } = this.d;
    if (this.heldDial) return; // nothing may be sent; the dial's result resumes polling
    try {
      // Without +CLCC answers a plain AT is the heartbeat that notices a silent modem.
      const r = await send(this.clccAnswers ? 'AT+CLCC' : 'AT', { expect: '+CLCC:' });
      if (session.ended) return;
      if (this.clccAnswers && r.final.kind === 'error') {
        this.clccAnswers = false; // a URC-only modem: state comes from URCs and final codes
        if (this.connectedHint && !this.urcDriven) this.markActive();
      } else if (this.clccAnswers) {
        const ours = r.lines
          .map(parseClcc)
          .filter((e): e is ClccEntry => e !== null && e.outgoing && e.voice && e.stat !== 'ended');
        if (ours.length > 0) {
          this.emptyPolls = 0;
          this.apply(ours[0]!);
        } else if (r.final.kind === 'ok' && (this.seenInClcc || ++this.emptyPolls >= 2)) {
          // The call is gone without a URC telling us (generic modems): ask the modem why.
          await this.endFromNetwork({});
          return;
        } else if (this.connectedHint && !this.urcDriven) {
          this.markActive();
        }
      }
      this.schedulePoll();
    } catch (err) {
      if (err instanceof AtTimeoutError && !session.ended) {
        this.d.onModemSilent('no response to AT+CLCC during a call');
      }
      // AtClosedError: the driver saw the port go and handles it.
    }
  }

  /** The network ended the call. Classifies why from the hint, else from AT+CEER. */
  private async endFromNetwork(hint: EndHint): Promise<void> {
    const { session, send } = this.d;
    if (session.ended || this.ending) return;
    if (this.localEnd) {
      if (!this.heldDial) session.finish(this.localEnd);
      return;
    }
    this.ending = true;
    const reason = await readEndReason(hint, send);
    const end = this.localEnd ?? mapEnd(reason.cls, session.answered, reason.detail);
    session.finish(end);
    this.d.log.debug(
      {
        callId: session.callId,
        result: end.result,
        detail: reason.detail && maskNumbersIn(reason.detail),
      },
      'call ended',
    );
  }
}
