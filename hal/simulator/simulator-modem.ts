import { randomUUID } from 'node:crypto';
import { CallSession } from '../call-session.js';
import { assertDialString } from '../dial-string.js';
import { type HalLogger, maskNumber, silentLogger } from '../logger.js';
import { initialModemStatus, isRegistered, ModemEventHub } from '../status.js';
import {
  type ActiveCall,
  type CallStateEvent,
  type DialRequest,
  DTMF_DIGITS,
  type HalTimers,
  type Modem,
  type ModemEvent,
  ModemError,
  type ModemDetails,
  type ModemResetReport,
  type ModemStatus,
} from '../types.js';
import { appendDialLog, type DialLogEntry } from './dial-log.js';
import {
  DEFAULT_SIM_BEHAVIOR,
  type SimBehavior,
  type SimBehaviorInput,
  simBehaviorSchema,
  SimRuleBook,
  type SimRuleInput,
} from './rules.js';

export interface SimulatorModemOptions {
  timers: HalTimers;
  rules?: SimRuleInput[];
  /** Behaviour when no rule matches (default: answer after 2 s, remote hang-up after 10 s). */
  defaultRule?: SimBehaviorInput;
  /** When set, each accepted dial appends and fsyncs a JSON line here before dial() resolves. */
  dialLogPath?: string;
  logger?: HalLogger;
  /** How long the simulated driver takes to notice a silent modem (like an AT command timeout). */
  silenceDetectMs?: number;
  /** How long the simulated recovery (reopen/reset) takes before the modem is ready again. */
  recoveryMs?: number;
}

/** The simulated device's identity (technician details); test IMEI/ICCID/IMSI by default. */
export interface SimIdentity {
  manufacturer: string | null;
  model: string | null;
  firmware: string | null;
  imei: string | null;
  iccid: string | null;
  imsi: string | null;
  operatorCode: string | null;
  accessTechnology: string | null;
  signalQuality: number | null;
}

const DEFAULT_IDENTITY: SimIdentity = {
  manufacturer: 'Companion',
  model: 'Companion modem simulator',
  firmware: 'SIM-1.0',
  imei: '356938035643809',
  iccid: '8949226000012345678',
  imsi: '262019876543210',
  operatorCode: '26201',
  accessTechnology: 'lte',
  signalQuality: 60,
};

interface LiveCall {
  session: CallSession;
  behavior: SimBehavior;
  /** The simulated device stopped answering; only the silence detector can end the call now. */
  silent: boolean;
}

/**
 * A scriptable modem for development and tests. It behaves like a well-behaved driver on top of a
 * device that does what the rules say: busy lines, callees who never answer, modems that go silent
 * mid-call. Time comes from the injected timers, so a FakeClock drives it deterministically.
 */
export class SimulatorModem implements Modem {
  readonly dials: DialLogEntry[] = [];
  /** DTMF digits sent on answered calls, in order. */
  readonly dtmf: { callId: string; digits: string; at: number }[] = [];
  private readonly rules: SimRuleBook;
  private readonly scripted: SimBehavior[] = [];
  private defaultBehavior: SimBehavior;
  private current: ModemStatus = initialModemStatus('simulator');
  private call: LiveCall | null = null;
  private readonly events: ModemEventHub;
  private readonly timers: HalTimers;
  private readonly log: HalLogger;
  private recoveryTimer: unknown = null;
  private identity: SimIdentity = { ...DEFAULT_IDENTITY };
  private resetDone: (() => void) | null = null;
  private readonly scriptedResets: (ModemResetReport | { error: string })[] = [];
  /** Technician resets asked for, with their reasons (technician checks). */
  readonly resets: { reason: string; at: number }[] = [];

  constructor(private readonly opts: SimulatorModemOptions) {
    this.timers = opts.timers;
    this.log = opts.logger ?? silentLogger;
    this.rules = new SimRuleBook(opts.rules);
    this.defaultBehavior = opts.defaultRule
      ? simBehaviorSchema().parse(opts.defaultRule)
      : DEFAULT_SIM_BEHAVIOR;
    this.events = new ModemEventHub((err) => this.log.warn({ err }, 'modem event listener threw'));
  }

  // ---- scripting API (tests and dev config) ----

  /** Sets the behaviour for a number, a prefix ("+4930*") or every number ("*"). */
  setRule(numberOrPattern: string, rule: SimBehaviorInput): void {
    this.rules.set(numberOrPattern, rule);
  }

  clearRule(numberOrPattern: string): void {
    this.rules.delete(numberOrPattern);
  }

  setDefaultRule(rule: SimBehaviorInput): void {
    this.defaultBehavior = simBehaviorSchema().parse(rule);
  }

  /** Queues a behaviour for the next dial only (FIFO; takes precedence over rules). */
  scriptNext(rule: SimBehaviorInput): void {
    this.scripted.push(simBehaviorSchema().parse(rule));
  }

  /** Simulates SIM/registration/signal/operator/network-time changes. */
  setStatus(partial: Partial<ModemStatus>): void {
    this.current = { ...this.current, ...partial };
    this.emit({ type: 'status', status: this.status() });
    if (partial.networkTime) {
      this.emit({ type: 'network_time', ...partial.networkTime });
    }
  }

  /** Changes what details() reports (technician checks). */
  setIdentity(partial: Partial<SimIdentity>): void {
    this.identity = { ...this.identity, ...partial };
  }

  /**
   * Scripts the next reset(): the report it resolves with after the recovery time, or `{ error }`
   * to make it reject. Unscripted resets succeed with one `reopen` step.
   */
  scriptReset(outcome: ModemResetReport | { error: string }): void {
    this.scriptedResets.push(outcome);
  }

  // ---- Modem ----

  async start(): Promise<void> {
    if (this.current.state !== 'starting' && this.current.state !== 'stopped') return;
    this.current = {
      ...this.current,
      state: 'ready',
      reason: null,
      sim: this.current.sim === 'unknown' ? 'ready' : this.current.sim,
      registration: this.current.registration === 'unknown' ? 'home' : this.current.registration,
      signalDbm: this.current.signalDbm ?? -71,
      operator: this.current.operator ?? 'Simulated Network',
      model: 'Companion modem simulator',
    };
    this.emit({ type: 'status', status: this.status() });
  }

  async stop(): Promise<void> {
    if (this.recoveryTimer !== null) this.timers.clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
    // A reset in progress ends with the driver (its report then says the modem is stopped).
    this.resetDone?.();
    this.resetDone = null;
    this.endCall({ result: 'modem_error', endedBy: 'modem', detail: 'modem driver stopped' });
    this.call = null;
    this.setState('stopped', 'stopped');
  }

  async dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall> {
    assertDialString(req.number);
    const state = this.current.state;
    if (state === 'stopped') throw new ModemError('modem is stopped', 'stopped');
    if (this.call && (state === 'in_call' || !this.call.session.ended)) {
      throw new ModemError('a call is already up', 'busy_line');
    }
    if (state !== 'ready') {
      throw new ModemError(`modem not ready (${state})`, 'not_ready');
    }
    if (this.current.sim !== 'ready') {
      throw new ModemError(`SIM not ready (${this.current.sim})`, 'not_ready');
    }
    const behavior = this.scripted.shift() ?? this.rules.match(req.number) ?? this.defaultBehavior;
    if (behavior.outcome === 'dial_error') {
      this.log.warn({ number: maskNumber(req.number) }, 'simulated dial error');
      throw new ModemError(`dial command failed: ${behavior.message}`, 'dial_failed');
    }

    const entry: DialLogEntry = { callId: randomUUID(), number: req.number, at: this.timers.now() };
    if (this.opts.dialLogPath) appendDialLog(this.opts.dialLogPath, entry);
    this.dials.push(entry);
    this.log.info(
      { callId: entry.callId, number: maskNumber(req.number), outcome: behavior.outcome },
      'dialing',
    );

    const session = new CallSession(entry.callId, this.timers, (e) => {
      if (onState) {
        try {
          onState(e);
        } catch (err) {
          this.log.warn({ err }, 'onState listener threw');
        }
      }
      this.emit({ type: 'call', event: e });
      if (e.state === 'ended') this.onCallEnded(session);
    });
    const live: LiveCall = { session, behavior, silent: false };
    this.call = live;
    this.setState('in_call', null);
    session.announceDialing();
    if (!isRegistered(this.current)) {
      session.after(0, () =>
        session.finish({ result: 'failed', endedBy: 'network', detail: 'no network service' }),
      );
    } else {
      this.play(live, req);
    }
    return session.toActiveCall(
      () => this.localHangup(live),
      (digits) => this.sendDtmf(live, digits),
    );
  }

  async hangupAll(): Promise<void> {
    const live = this.call;
    if (!live) return;
    if (live.behavior.outcome === 'hang' && !live.session.ended) {
      // A wedged call never reports its end; clearing the line is all the agent can do.
      this.call = null;
      if (this.current.state === 'in_call') this.setState('ready', null);
      return;
    }
    await this.localHangup(live);
  }

  status(): ModemStatus {
    return {
      ...this.current,
      networkTime: this.current.networkTime && { ...this.current.networkTime },
    };
  }

  onEvent(listener: (e: ModemEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  async details(): Promise<ModemDetails> {
    this.refuseWhileBusy('read modem details');
    const s = this.current;
    return {
      manufacturer: this.identity.manufacturer,
      model: this.identity.model,
      firmware: this.identity.firmware,
      imei: this.identity.imei,
      iccid: s.sim === 'absent' ? null : this.identity.iccid,
      imsi: s.sim === 'ready' ? this.identity.imsi : null,
      sim: s.sim,
      registration: s.registration,
      operator: s.operator,
      operatorCode: isRegistered(s) ? this.identity.operatorCode : null,
      accessTechnology: isRegistered(s) ? this.identity.accessTechnology : null,
      signalDbm: s.signalDbm,
      signalQuality: s.signalDbm === null ? null : this.identity.signalQuality,
    };
  }

  /** Goes through the simulated recovery (state `recovering`, then ready) and reports its steps. */
  async reset(reason: string): Promise<ModemResetReport> {
    this.refuseWhileBusy('reset the modem');
    this.resets.push({ reason, at: this.timers.now() });
    const scripted = this.scriptedResets.shift();
    if (scripted && 'error' in scripted) throw new ModemError(scripted.error, 'port');
    const report = scripted ?? { ok: true, steps: ['reopen'], detail: 'modem responds again' };
    this.current = { ...this.current, recoveries: this.current.recoveries + 1 };
    this.setState('recovering', `technician reset: ${reason}`);
    for (const step of report.steps) this.emit({ type: 'recovery', step, detail: reason });
    await new Promise<void>((resolve) => {
      this.resetDone = resolve;
      this.recoveryTimer = this.timers.setTimeout(() => {
        this.recoveryTimer = null;
        this.resetDone = null;
        resolve();
      }, this.opts.recoveryMs ?? 2_000);
    });
    if (this.current.state !== 'recovering') {
      return { ok: false, steps: [...report.steps], detail: `modem is ${this.current.state}` };
    }
    if (report.ok) this.setState('ready', null);
    else this.setState('failed', report.detail);
    return { ok: report.ok, steps: [...report.steps], detail: report.detail };
  }

  private refuseWhileBusy(what: string): void {
    if (this.current.state === 'stopped') throw new ModemError('modem is stopped', 'stopped');
    if (this.call && !this.call.session.ended) {
      throw new ModemError(`a call is up: cannot ${what} now`, 'busy_line');
    }
  }

  // ---- the simulated line ----

  private play(live: LiveCall, req: DialRequest): void {
    const { session, behavior: b } = live;
    const ringTimeout = (): void => {
      session.finish({ result: 'no_answer', endedBy: 'timeout', detail: 'ring timeout' });
    };
    switch (b.outcome) {
      case 'answer': {
        const ring = session.after(req.ringTimeoutMs, ringTimeout);
        if (b.alertAfterMs < b.answerAfterMs) {
          session.after(b.alertAfterMs, () => session.advance('alerting'));
        }
        session.after(b.answerAfterMs, () => {
          if (b.answerAfterMs >= req.ringTimeoutMs) return; // the ring timeout wins a tie
          // Answered: the ring timeout no longer applies (it must never end a live call).
          session.cancel(ring);
          session.advance('active');
          session.after(req.maxDurationMs, () =>
            session.finish({ result: 'completed', endedBy: 'timeout', detail: 'max duration' }),
          );
          if (b.hangupAfterMs !== undefined) {
            session.after(b.hangupAfterMs, () =>
              session.finish({ result: 'completed', endedBy: 'remote' }),
            );
          }
          if (b.silentAfterMs !== undefined) {
            session.after(b.silentAfterMs, () => this.goSilent(live));
          }
        });
        return;
      }
      case 'busy':
        session.after(b.afterMs, () => session.finish({ result: 'busy', endedBy: 'network' }));
        return;
      case 'no_answer':
        session.after(req.ringTimeoutMs, ringTimeout);
        session.after(b.alertAfterMs, () => session.advance('alerting'));
        return;
      case 'rejected':
        session.after(req.ringTimeoutMs, ringTimeout);
        session.after(b.alertAfterMs, () => session.advance('alerting'));
        session.after(b.afterMs, () => session.finish({ result: 'rejected', endedBy: 'remote' }));
        return;
      case 'failed':
        session.after(b.afterMs, () =>
          session.finish({ result: 'failed', endedBy: 'network', detail: b.detail }),
        );
        return;
      case 'no_carrier':
        session.after(b.afterMs, () =>
          session.finish({ result: 'no_carrier', endedBy: 'network' }),
        );
        return;
      case 'silent':
        session.after(req.ringTimeoutMs, ringTimeout);
        session.after(b.afterMs, () => this.goSilent(live));
        return;
      case 'drop_port':
        session.after(b.afterMs, () => {
          this.beginRecovery('modem port vanished', b.downMs);
          session.finish({
            result: 'modem_error',
            endedBy: 'modem',
            detail: 'modem port vanished',
          });
        });
        return;
      case 'hang':
      case 'dial_error':
        return;
    }
  }

  /** The device stops answering: the driver notices after silenceDetectMs and ends the call. */
  private goSilent(live: LiveCall): void {
    live.silent = true;
    live.session.cancelAll();
    const detectMs = this.opts.silenceDetectMs ?? 10_000;
    this.timers.setTimeout(() => {
      if (live.session.ended) return;
      this.log.error({ callId: live.session.callId }, 'modem went silent during a call');
      this.beginRecovery('modem stopped responding');
      live.session.finish({
        result: 'modem_error',
        endedBy: 'modem',
        detail: 'modem stopped responding',
      });
    }, detectMs);
  }

  private beginRecovery(reason: string, downMs = 0): void {
    this.current = { ...this.current, recoveries: this.current.recoveries + 1 };
    this.setState('recovering', reason);
    this.emit({ type: 'recovery', step: 'reopen', detail: reason });
    this.recoveryTimer = this.timers.setTimeout(
      () => {
        this.recoveryTimer = null;
        if (this.current.state !== 'recovering') return;
        this.emit({ type: 'recovery', step: 'recovered', detail: 'modem responds again' });
        this.setState('ready', null);
      },
      Math.max(downMs, this.opts.recoveryMs ?? 2_000),
    );
  }

  private async sendDtmf(live: LiveCall, digits: string): Promise<void> {
    const tones = digits.toUpperCase();
    if (!DTMF_DIGITS.test(tones)) {
      throw new ModemError('DTMF digits must be 0-9, *, #, A-D', 'dtmf_failed');
    }
    if (live.session.state !== 'active' || live.silent) {
      throw new ModemError('DTMF needs an answered call', 'not_ready');
    }
    this.dtmf.push({ callId: live.session.callId, digits: tones, at: this.timers.now() });
  }

  private async localHangup(live: LiveCall): Promise<void> {
    const { session } = live;
    if (session.ended || live.behavior.outcome === 'hang' || live.silent) return;
    if (session.state === 'active') {
      session.finish({ result: 'completed', endedBy: 'local' });
    } else {
      session.finish({ result: 'no_answer', endedBy: 'local', detail: 'hung up before answer' });
    }
  }

  private endCall(end: Parameters<CallSession['finish']>[0]): void {
    if (this.call && this.call.behavior.outcome !== 'hang') this.call.session.finish(end);
  }

  private onCallEnded(session: CallSession): void {
    if (this.call?.session !== session) return;
    this.call = null;
    if (this.current.state === 'in_call') this.setState('ready', null);
  }

  private setState(state: ModemStatus['state'], reason: string | null): void {
    this.current = { ...this.current, state, reason };
    this.emit({ type: 'status', status: this.status() });
  }

  private emit(e: ModemEvent): void {
    this.events.emit(e);
  }
}
