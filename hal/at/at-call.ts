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
import { AtTimeoutError } from './at-channel.js';
import {
  classifyCause,
  type ClccEntry,
  type EndClass,
  parseCeer,
  parseClcc,
  parseDsci,
  parseFinal,
} from './responses.js';
import type { Send } from './status-reader.js';

export interface AtCallDeps {
  session: CallSession;
  req: DialRequest;
  send: Send;
  pollMs: number;
  log: HalLogger;
  /** The modem stopped answering during the call: the driver ends the call and recovers. */
  onModemSilent(reason: string): void;
}

/**
 * One outgoing voice call on an AT modem. State comes from whichever arrives first: vendor URCs
 * (Quectel ^DSCI, SIMCom +CLCC / VOICE CALL), plain NO CARRIER/BUSY, or the AT+CLCC poll, which
 * also serves as the heartbeat that notices a silent modem. The ring timeout and max duration are
 * enforced here, not trusted to the network.
 */
export class AtCall {
  private localEnd: CallEnd | null = null;
  private ending = false;
  private seenInClcc = false;
  private emptyPolls = 0;

  constructor(private readonly d: AtCallDeps) {}

  /** A new call with its session: state changes go to `onState` (guarded) and to `emit`. */
  static open(
    d: Omit<AtCallDeps, 'session'> & {
      timers: HalTimers;
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

  start(): void {
    const { session, req } = this.d;
    session.after(req.ringTimeoutMs, () => {
      if (!session.answered) {
        void this.hangup({ result: 'no_answer', endedBy: 'timeout', detail: 'ring timeout' });
      }
    });
    this.schedulePoll();
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
      if (dsci.stat === 'ended') void this.endFromNetwork({ cause: dsci.cause });
      else this.apply(dsci);
      return true;
    }
    const clcc = parseClcc(line);
    if (clcc) {
      if (clcc.stat === 'ended') void this.endFromNetwork({});
      else this.apply(clcc);
      return true;
    }
    if (line.startsWith('VOICE CALL: BEGIN')) {
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
    const { session, send } = this.d;
    // Already ending on the network's word: hanging up now would overwrite the real reason.
    if (session.ended || this.localEnd || this.ending) return;
    this.localEnd = end;
    try {
      let r = await send('AT+CHUP');
      if (r.final.kind === 'error') r = await send('ATH'); // older firmware has no +CHUP
      session.finish(end);
    } catch (err) {
      // A silent modem cannot hang up; the driver recovers it and the call ends as a modem error.
      if (err instanceof AtTimeoutError) this.d.onModemSilent('no response to hang-up');
    }
  }

  /** 27.007 AT+VTS, one tone per command (the form every dialect accepts). */
  async sendDtmf(digits: string): Promise<void> {
    const { session, send } = this.d;
    const tones = digits.toUpperCase();
    if (!DTMF_DIGITS.test(tones)) {
      throw new ModemError('DTMF digits must be 0-9, *, #, A-D', 'dtmf_failed');
    }
    for (const tone of tones) {
      if (session.state !== 'active' || this.localEnd || this.ending) {
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

  private schedulePoll(): void {
    this.d.session.after(this.d.pollMs, () => void this.poll());
  }

  private async poll(): Promise<void> {
    const { session, send } = this.d;
    try {
      const r = await send('AT+CLCC', { expect: '+CLCC:' });
      if (session.ended) return;
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
  private async endFromNetwork(hint: { code?: string; cause?: number | null }): Promise<void> {
    const { session, send } = this.d;
    if (session.ended || this.ending) return;
    if (this.localEnd) {
      session.finish(this.localEnd);
      return;
    }
    this.ending = true;
    let cls: EndClass | null = null;
    let detail: string | undefined;
    if (hint.code === 'BUSY') cls = 'busy';
    else if (hint.code === 'NO ANSWER') cls = 'no_answer';
    else if (hint.code === 'NO DIALTONE') cls = 'failed';
    else if (hint.cause !== undefined && hint.cause !== null) cls = classifyCause(hint.cause);
    if (cls === null || cls === 'unknown') {
      try {
        const r = await send('AT+CEER', { expect: '+CEER:' });
        const ceer = r.lines.map(parseCeer).find((c) => c !== null);
        if (ceer) {
          cls = ceer.cls;
          detail = ceer.text;
        }
      } catch {
        // No reason available; the call still ended.
      }
    }
    const end = this.localEnd ?? mapEnd(cls ?? 'unknown', session.answered, detail ?? hint.code);
    session.finish(end);
    this.d.log.debug({ callId: session.callId, result: end.result, detail }, 'call ended');
  }
}

function mapEnd(cls: EndClass, answered: boolean, detail: string | undefined): CallEnd {
  const withDetail = detail ? { detail } : {};
  if (answered) {
    if (cls === 'failed') return { result: 'completed', endedBy: 'network', ...withDetail };
    return { result: 'completed', endedBy: 'remote', ...withDetail };
  }
  switch (cls) {
    case 'busy':
      return { result: 'busy', endedBy: 'network', ...withDetail };
    case 'rejected':
      return { result: 'rejected', endedBy: 'remote', ...withDetail };
    case 'no_answer':
      return { result: 'no_answer', endedBy: 'network', ...withDetail };
    case 'failed':
      return { result: 'failed', endedBy: 'network', ...withDetail };
    default:
      return { result: 'no_carrier', endedBy: 'network', ...withDetail };
  }
}
