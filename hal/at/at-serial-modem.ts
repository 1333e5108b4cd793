import { assertDialString } from '../dial-string.js';
import { type AtModemConfig, atModemConfigSchema } from '../config.js';
import { type HalLogger, maskNumber, maskNumbersIn, silentLogger } from '../logger.js';
import { initialModemStatus, ModemEventHub } from '../status.js';
import {
  type ActiveCall,
  type CallStateEvent,
  type DialRequest,
  type HalTimers,
  type Modem,
  type ModemEvent,
  ModemError,
  type ModemStatus,
} from '../types.js';
import { AtCall } from './at-call.js';
import {
  AtClosedError,
  type AtResponse,
  AtTimeoutError,
  rethrowUnlessError,
  type SendOptions,
} from './at-channel.js';
import { AtPort } from './at-port.js';
import { type AtDialect, DIALECTS } from './dialects.js';
import type { ConnectFailure } from './recovery-ladder.js';
import { RecoveryLoop } from './recovery-loop.js';
import { vendorFromIdentity } from './responses.js';
import { type StatusReading, statusFromUrc } from './status-reader.js';
import { StatusPoll } from './status-poll.js';
import { type AtTransportOpener, openSerialTransport } from './transport.js';

export interface AtSerialModemOptions {
  config: Partial<AtModemConfig>;
  timers: HalTimers;
  logger?: HalLogger;
  /** Defaults to serialport; injectable so the driver does not care what carries the bytes. */
  openTransport?: AtTransportOpener;
}

/** The modem answers, but ERROR to every probe: alive (never rebooted), not usable. */
class UnusableModemError extends Error {}

/**
 * Drives a Quectel / SIMCom / generic 27.007 modem over its AT port. Owns the port's lifecycle:
 * opens and initialises it, keeps status fresh, places calls, and when the port vanishes or the
 * modem goes silent, ends any call as a modem error and climbs the bounded recovery ladder
 * (reopen → AT+CFUN=1,1 → power-cycle hook) until the modem answers again. A modem that answers
 * anything is re-initialised, never rebooted.
 */
export class AtSerialModem implements Modem {
  private readonly cfg: AtModemConfig;
  private readonly timers: HalTimers;
  private readonly log: HalLogger;
  private readonly events: ModemEventHub;
  private readonly recovery: RecoveryLoop;
  private current: ModemStatus = initialModemStatus('at');
  private dialect: AtDialect = DIALECTS.generic;
  private readonly port: AtPort;
  private call: AtCall | null = null;
  private lineReserved = false;
  /** Call-state URCs that arrive while ATD is outstanding, replayed into the new call. */
  private dialUrcs: string[] | null = null;
  private stopped = true;
  private readonly statusPoll: StatusPoll;

  constructor(opts: AtSerialModemOptions) {
    this.cfg = atModemConfigSchema().parse(opts.config);
    this.timers = opts.timers;
    this.log = opts.logger ?? silentLogger;
    const open = opts.openTransport ?? openSerialTransport;
    this.events = new ModemEventHub((err) => this.log.warn({ err }, 'modem event listener threw'));
    this.port = new AtPort({
      cfg: this.cfg,
      timers: this.timers,
      log: this.log,
      open,
      onUrc: (line) => this.onUrc(line),
      onLost: (reason) => this.failModem(reason, 'no_port'),
      isStopped: () => this.stopped,
    });
    this.statusPoll = new StatusPoll(this.timers, this.cfg.statusPollMs, {
      send: (c, o) => this.send(c, o),
      apply: (r) => this.applyReading(r),
      mode: () =>
        this.stopped || this.recovery.active ? 'stop' : this.lineReserved ? 'later' : 'now',
      onSilent: (reason) => this.failModem(reason, 'silent'),
    });
    this.recovery = new RecoveryLoop({
      cfg: this.cfg,
      timers: this.timers,
      log: this.log,
      open,
      host: {
        isStopped: () => this.stopped,
        connect: () => this.connect(),
        dropPort: (reason) => this.port.drop(reason),
        markState: (state, reason) => {
          this.statusPoll.cancel();
          this.setState(state, reason);
        },
        countStep: () => {
          this.current = { ...this.current, recoveries: this.current.recoveries + 1 };
        },
        emit: (e) => this.emit(e),
      },
    });
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState('starting', null);
    const r = await this.connect();
    if (r !== true) void this.recovery.run(startFailure(this.cfg.path, r), r);
  }

  /**
   * A call still up ends as `modem_error` by `modem` ("modem driver stopped"): the driver, not the
   * callee or the agent, ended it. The line is then freed (a held dial aborted, AT+CHUP) before the
   * port closes, so the modem is not left carrying a call.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const call = this.call;
    this.stopped = true;
    call?.session.finish({
      result: 'modem_error',
      endedBy: 'modem',
      detail: 'modem driver stopped',
    });
    if (call) await call.release();
    this.statusPoll.cancel();
    this.recovery.interrupt();
    await this.port.drop('driver stopped');
    this.setState('stopped', null);
  }

  // ---- Modem ----

  async dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall> {
    assertDialString(req.number);
    if (this.stopped) throw new ModemError('modem is stopped', 'stopped');
    if (this.lineReserved) throw new ModemError('a call is already up', 'busy_line');
    if (this.current.state !== 'ready') {
      throw new ModemError(`modem not ready (${this.current.state})`, 'not_ready');
    }
    if (this.current.sim !== 'ready') {
      throw new ModemError(`SIM not ready (${this.current.sim})`, 'not_ready');
    }
    this.lineReserved = true;
    const masked = maskNumber(req.number);
    try {
      // Also a barrier: what the modem printed before (the last call's trailing NO CARRIER) is
      // read before ATD goes out, so it cannot be taken for this dial's result.
      const usbAudio = this.cfg.usbAudio ? this.dialect.usbAudioOn : null;
      await this.send(usbAudio ?? 'AT').catch(rethrowUnlessError);
      // A modem that holds ATD's OK until the callee answers keeps it outstanding for the whole
      // ring: the dial counts as accepted once dialAcceptMs passed without an error.
      this.dialUrcs = [];
      const atd = this.send(`ATD${req.number};`, {
        timeoutMs: req.ringTimeoutMs + this.cfg.dialTimeoutMs,
        dial: true,
      });
      const r = await this.resultWithin(atd, this.cfg.dialAcceptMs);
      const early = this.dialUrcs;
      this.dialUrcs = null;
      if (r?.final.kind === 'error') {
        this.log.warn({ number: masked, error: r.final.message }, 'dial refused by modem');
        throw new ModemError(`dial command failed: ${r.final.message}`, 'dial_failed');
      }
      const call = this.newCall(req, onState);
      this.log.info({ callId: call.session.callId, number: masked, held: r === null }, 'dialing');
      call.session.announceDialing();
      if (r === null) call.startHeld(atd);
      else if (r.final.kind === 'call_end') call.onUrc(r.final.code);
      else call.start();
      for (const line of early) call.onUrc(line);
      return call.session.toActiveCall(
        () => call.hangupByUser(),
        (d) => call.sendDtmf(d),
      );
    } catch (err) {
      this.dialUrcs = null;
      if (!this.call) this.releaseLine();
      if (err instanceof ModemError) throw err;
      if (err instanceof AtTimeoutError) {
        this.failModem('no response to ATD', 'silent');
        throw new ModemError('modem did not answer the dial command', 'timeout');
      }
      throw new ModemError(`port unavailable: ${(err as Error).message}`, 'port');
    }
  }

  async hangupAll(): Promise<void> {
    const call = this.call;
    if (call) {
      await call.hangupByUser();
      return;
    }
    if (this.current.state !== 'ready' || this.lineReserved) return;
    // After an agent restart the modem may still carry a call nobody tracks.
    await this.send('AT+CHUP').catch(() => {});
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

  // ---- port and init ----

  private async connect(): Promise<true | ConnectFailure> {
    if (!(await this.port.open())) return 'no_port';
    try {
      await this.initialise();
      return true;
    } catch (err) {
      const why: ConnectFailure =
        err instanceof UnusableModemError
          ? 'unusable'
          : err instanceof AtClosedError
            ? 'no_port'
            : 'silent';
      this.log.warn({ err: (err as Error).message, why }, 'modem initialisation failed');
      await this.port.drop('initialisation failed');
      return why;
    }
  }

  private async initialise(): Promise<void> {
    // A modem that answers anything is alive. Some firmware answers a bare AT (or ATE0, or
    // AT+CMEE) with ERROR, so no single probe decides: one OK among them makes the modem usable.
    // Only silence (a timeout) or the port going away fails initialisation outright.
    let answeredOk = false;
    const probe = async (command: string): Promise<AtResponse> => {
      const r = await this.send(command);
      if (r.final.kind === 'ok') answeredOk = true;
      return r;
    };
    await probe('AT');
    await probe('ATE0');
    await probe('AT+CMEE=2');
    const ati = await probe('ATI');
    if (!answeredOk) {
      throw new UnusableModemError('the modem answers ERROR to AT, ATE0, AT+CMEE=2 and ATI');
    }
    const identity = vendorFromIdentity(ati.final.kind === 'ok' ? ati.lines : []);
    this.dialect = DIALECTS[this.cfg.dialect === 'auto' ? identity.vendor : this.cfg.dialect];
    // Optional features: firmware that lacks one still makes calls. AT+COPS=3,0 asks for the
    // operator's name rather than its numeric code in +COPS? (oFono and ModemManager do the same).
    const optional = [...this.dialect.init, 'AT+CTZU=1', 'AT+CREG=1', 'AT+CEREG=1', 'AT+COPS=3,0'];
    for (const cmd of optional) await this.send(cmd);
    this.current = { ...this.current, model: identity.model };
    await this.statusPoll.readNow();
    this.setState('ready', null);
    this.log.info({ dialect: this.dialect.name, model: identity.model }, 'modem ready');
    this.statusPoll.schedule();
  }

  private send(command: string, opts: Partial<SendOptions> = {}) {
    return this.port.send(command, opts);
  }

  // ---- status ----

  private applyReading(r: StatusReading): void {
    const { networkTime, ...rest } = r;
    this.current = { ...this.current, ...rest };
    if (networkTime !== undefined) {
      const readAt = this.timers.now();
      this.current = { ...this.current, networkTime: { at: networkTime, readAt } };
      this.emit({ type: 'network_time', at: networkTime, readAt });
    }
    this.emit({ type: 'status', status: this.status() });
  }

  private onUrc(line: string): void {
    if (this.call?.onUrc(line)) return;
    const change = statusFromUrc(line);
    if (change === 'network_time') {
      // The network just sent its time: read it while it is fresh.
      void this.statusPoll.readNow().catch(() => {});
    } else if (change) {
      this.current = { ...this.current, ...change };
      this.emit({ type: 'status', status: this.status() });
    } else if (this.dialUrcs) {
      this.dialUrcs.push(line); // about the call being dialled: replayed once it exists
    } else {
      this.log.debug({ line: maskNumbersIn(line) }, 'unhandled URC');
    }
  }

  // ---- calls ----

  private newCall(req: DialRequest, onState?: (e: CallStateEvent) => void): AtCall {
    const call = AtCall.open({
      req,
      onState,
      timers: this.timers,
      emit: (e) => this.emit(e),
      send: (c, o) => this.send(c, o),
      pollMs: this.cfg.callPollMs,
      heartbeatMs: this.cfg.callHeartbeatMs,
      commandTimeoutMs: this.cfg.commandTimeoutMs,
      log: this.log,
      onModemSilent: (reason) => this.failModem(reason, 'silent'),
      abortDial: () => this.port.writeRaw('\r'),
    });
    this.call = call;
    this.setState('in_call', null);
    void call.session.done.then(() => this.onCallEnded(call));
    return call;
  }

  private onCallEnded(call: AtCall): void {
    if (this.call !== call) return;
    this.call = null;
    this.releaseLine();
    if (this.cfg.usbAudio && this.dialect.usbAudioOff) {
      void this.send(this.dialect.usbAudioOff).catch(() => {});
    }
  }

  private releaseLine(): void {
    this.lineReserved = false;
    if (this.current.state === 'in_call') this.setState('ready', null);
  }

  // ---- failure and recovery ----

  /** The modem is gone or silent: end the call as a modem error, then recover. */
  private failModem(reason: string, why: ConnectFailure): void {
    if (this.stopped || this.recovery.active) return;
    this.log.error({ reason }, 'modem failed');
    const call = this.call;
    this.call = null;
    call?.session.finish({ result: 'modem_error', endedBy: 'modem', detail: reason });
    this.lineReserved = false;
    void this.recovery.run(reason, why);
  }

  /** The command's response if it arrives within `ms`, else null (it is still outstanding). */
  private resultWithin(p: Promise<AtResponse>, ms: number): Promise<AtResponse | null> {
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => resolve(null), ms);
      p.then(
        (r) => {
          this.timers.clearTimeout(timer);
          resolve(r);
        },
        (err: unknown) => {
          this.timers.clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  private setState(state: ModemStatus['state'], reason: string | null): void {
    this.current = { ...this.current, state, reason };
    this.emit({ type: 'status', status: this.status() });
  }

  private emit(e: ModemEvent): void {
    this.events.emit(e);
  }
}

function startFailure(path: string, why: ConnectFailure): string {
  if (why === 'no_port') return `modem port ${path} cannot be opened`;
  if (why === 'unusable') return `modem at ${path} answers ERROR to every probe`;
  return `modem at ${path} did not respond`;
}
