import { randomUUID } from 'node:crypto';
import { CallSession } from '../call-session.js';
import { type AtModemConfig, atModemConfigSchema } from '../config.js';
import { type HalLogger, maskNumber, silentLogger } from '../logger.js';
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
import { AtChannel, AtClosedError, AtTimeoutError, type SendOptions } from './at-channel.js';
import { type AtDialect, DIALECTS } from './dialects.js';
import { RecoveryLadder, runPowerCycle } from './recovery-ladder.js';
import { parseCpin, parseRegistration, vendorFromIdentity } from './responses.js';
import { readStatus, type StatusReading } from './status-reader.js';
import { type AtTransport, type AtTransportOpener, openSerialTransport } from './transport.js';

export interface AtSerialModemOptions {
  config: Partial<AtModemConfig>;
  timers: HalTimers;
  logger?: HalLogger;
  /** Defaults to serialport; injectable so the driver does not care what carries the bytes. */
  openTransport?: AtTransportOpener;
}

/**
 * Drives a Quectel / SIMCom / generic 27.007 modem over its AT port. Owns the port's lifecycle:
 * opens and initialises it, keeps status fresh, places calls, and when the port vanishes or the
 * modem goes silent, ends any call as a modem error and climbs the recovery ladder (reopen →
 * AT+CFUN=1,1 → power-cycle hook) until the modem answers again.
 */
export class AtSerialModem implements Modem {
  private readonly cfg: AtModemConfig;
  private readonly timers: HalTimers;
  private readonly log: HalLogger;
  private readonly open: AtTransportOpener;
  private readonly events: ModemEventHub;
  private readonly ladder: RecoveryLadder;
  private current: ModemStatus = initialModemStatus('at');
  private dialect: AtDialect = DIALECTS.generic;
  private transport: AtTransport | null = null;
  private channel: AtChannel | null = null;
  private call: AtCall | null = null;
  private lineReserved = false;
  private recovering = false;
  private stopped = true;
  private statusTimer: unknown = null;
  private sleeping: { handle: unknown; wake: () => void } | null = null;

  constructor(opts: AtSerialModemOptions) {
    this.cfg = atModemConfigSchema.parse(opts.config);
    this.timers = opts.timers;
    this.log = opts.logger ?? silentLogger;
    this.open = opts.openTransport ?? openSerialTransport;
    this.events = new ModemEventHub((err) => this.log.warn({ err }, 'modem event listener threw'));
    this.ladder = new RecoveryLadder({
      initialMs: this.cfg.reopenBackoff.initialMs,
      maxMs: this.cfg.reopenBackoff.maxMs,
      reopenAttemptsBeforeReset: this.cfg.reopenAttemptsBeforeReset,
      resetAttemptsBeforePowerCycle: this.cfg.resetAttemptsBeforePowerCycle,
      powerCycleAvailable: this.cfg.powerCycleCommand !== null,
    });
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState('starting', null);
    if (!(await this.connect())) void this.recover(`modem at ${this.cfg.path} did not respond`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    const call = this.call;
    if (call && !call.session.ended) await call.hangupByUser().catch(() => {});
    call?.session.finish({
      result: 'modem_error',
      endedBy: 'modem',
      detail: 'modem driver stopped',
    });
    this.stopped = true;
    this.cancelStatusPoll();
    if (this.sleeping) {
      this.timers.clearTimeout(this.sleeping.handle);
      this.sleeping.wake();
    }
    await this.dropPort('driver stopped');
    this.setState('stopped', null);
  }

  // ---- Modem ----

  async dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall> {
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
      if (this.cfg.usbAudio && this.dialect.usbAudioOn) {
        await this.send(this.dialect.usbAudioOn).catch(rethrowUnlessError);
      }
      const r = await this.send(`ATD${req.number};`, {
        timeoutMs: this.cfg.dialTimeoutMs,
        dial: true,
      });
      if (r.final.kind === 'error') {
        this.log.warn({ number: masked, error: r.final.message }, 'dial refused by modem');
        throw new ModemError(`dial command failed: ${r.final.message}`, 'dial_failed');
      }
      const call = this.newCall(req, onState);
      this.log.info({ callId: call.session.callId, number: masked }, 'dialing');
      call.session.announceDialing();
      if (r.final.kind === 'call_end') call.onUrc(r.final.code);
      else call.start();
      return call.session.toActiveCall(() => call.hangupByUser());
    } catch (err) {
      if (!this.call) this.releaseLine();
      if (err instanceof ModemError) throw err;
      if (err instanceof AtTimeoutError) {
        this.failModem('no response to ATD');
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

  private async connect(): Promise<boolean> {
    let transport: AtTransport;
    try {
      transport = await this.open(this.cfg.path, this.cfg.baudRate);
    } catch (err) {
      this.log.warn({ path: this.cfg.path, err: (err as Error).message }, 'cannot open modem port');
      return false;
    }
    if (this.stopped) {
      await transport.close();
      return false;
    }
    const channel = new AtChannel(transport, this.timers, (line) => this.onUrc(line));
    transport.onClose((reason) => {
      channel.fail(reason);
      if (this.channel === channel) this.failModem(reason);
    });
    this.transport = transport;
    this.channel = channel;
    try {
      await this.initialise();
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'modem initialisation failed');
      await this.dropPort('initialisation failed');
      return false;
    }
  }

  private async initialise(): Promise<void> {
    const ping = await this.send('AT');
    if (ping.final.kind !== 'ok') throw new Error('modem answered AT with an error');
    await this.send('ATE0');
    await this.send('AT+CMEE=2');
    const ati = await this.send('ATI');
    const identity = vendorFromIdentity(ati.lines);
    this.dialect = DIALECTS[this.cfg.dialect === 'auto' ? identity.vendor : this.cfg.dialect];
    // Optional features: firmware that lacks one still makes calls.
    for (const cmd of [...this.dialect.init, 'AT+CTZU=1', 'AT+CREG=1', 'AT+CEREG=1']) {
      await this.send(cmd);
    }
    this.current = { ...this.current, model: identity.model };
    this.applyReading(await readStatus((c, o) => this.send(c, o)));
    this.setState('ready', null);
    this.log.info({ dialect: this.dialect.name, model: identity.model }, 'modem ready');
    this.scheduleStatusPoll();
  }

  private async dropPort(reason: string): Promise<void> {
    const transport = this.transport;
    this.channel?.fail(reason);
    this.channel = null;
    this.transport = null;
    if (transport) await transport.close().catch(() => {});
  }

  private send(command: string, opts: Partial<SendOptions> = {}) {
    const channel = this.channel;
    if (!channel) return Promise.reject(new AtClosedError('port not open'));
    return channel.send(command, { timeoutMs: this.cfg.commandTimeoutMs, ...opts });
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

  private scheduleStatusPoll(): void {
    this.cancelStatusPoll();
    this.statusTimer = this.timers.setTimeout(() => {
      this.statusTimer = null;
      void this.pollStatus();
    }, this.cfg.statusPollMs);
  }

  private cancelStatusPoll(): void {
    if (this.statusTimer !== null) this.timers.clearTimeout(this.statusTimer);
    this.statusTimer = null;
  }

  private async pollStatus(): Promise<void> {
    if (this.stopped || this.recovering) return;
    if (this.lineReserved) return this.scheduleStatusPoll(); // the call poll is the heartbeat now
    try {
      this.applyReading(await readStatus((c, o) => this.send(c, o)));
      this.scheduleStatusPoll();
    } catch (err) {
      if (err instanceof AtTimeoutError) this.failModem('modem stopped responding');
    }
  }

  private onUrc(line: string): void {
    if (this.call?.onUrc(line)) return;
    const reg = parseRegistration(line);
    if (reg) {
      this.current = { ...this.current, registration: reg.registration };
      this.emit({ type: 'status', status: this.status() });
      return;
    }
    const sim = parseCpin(line);
    if (sim) {
      this.current = { ...this.current, sim };
      this.emit({ type: 'status', status: this.status() });
      return;
    }
    if (line.startsWith('+CTZV') || line.startsWith('+CTZE') || line.startsWith('+QIND: "nitz"')) {
      // The network just sent its time: read it while it is fresh.
      void readStatus((c, o) => this.send(c, o))
        .then((r) => this.applyReading(r))
        .catch(() => {});
      return;
    }
    this.log.debug({ line: line.replace(/\+?\d{6,}/g, (n) => maskNumber(n)) }, 'unhandled URC');
  }

  // ---- calls ----

  private newCall(req: DialRequest, onState?: (e: CallStateEvent) => void): AtCall {
    const session = new CallSession(randomUUID(), this.timers, (e) => {
      if (onState) {
        try {
          onState(e);
        } catch (err) {
          this.log.warn({ err }, 'onState listener threw');
        }
      }
      this.emit({ type: 'call', event: e });
    });
    const call = new AtCall({
      session,
      req,
      send: (c, o) => this.send(c, o),
      pollMs: this.cfg.callPollMs,
      log: this.log,
      onModemSilent: (reason) => this.failModem(reason),
    });
    this.call = call;
    this.setState('in_call', null);
    void session.done.then(() => this.onCallEnded(call));
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
  private failModem(reason: string): void {
    if (this.stopped || this.recovering) return;
    this.log.error({ reason }, 'modem failed');
    const call = this.call;
    this.call = null;
    call?.session.finish({ result: 'modem_error', endedBy: 'modem', detail: reason });
    this.lineReserved = false;
    void this.recover(reason);
  }

  private async recover(reason: string): Promise<void> {
    if (this.recovering || this.stopped) return;
    this.recovering = true;
    this.cancelStatusPoll();
    this.setState('recovering', reason);
    await this.dropPort(reason);
    while (!this.stopped) {
      const { step, delayMs } = this.ladder.next();
      await this.sleep(delayMs);
      if (this.stopped) break;
      let detail = `${step} ${this.cfg.path} (${reason})`;
      this.current = { ...this.current, recoveries: this.current.recoveries + 1 };
      this.emit({ type: 'recovery', step, detail });
      if (step === 'power_cycle' && this.cfg.powerCycleCommand) {
        detail = await runPowerCycle(this.cfg.powerCycleCommand, this.cfg.powerCycleTimeoutMs);
        this.log.warn({ detail }, 'modem power cycle');
      } else if (step === 'reset') {
        await this.resetModem();
      }
      if (this.stopped) break;
      if (await this.connect()) {
        this.ladder.reset();
        this.recovering = false;
        this.emit({ type: 'recovery', step: 'recovered', detail: `modem answers again` });
        return;
      }
      this.setState('recovering', reason);
    }
    this.recovering = false;
  }

  /** AT+CFUN=1,1 reboots the module; its port vanishes and returns, which the next reopen finds. */
  private async resetModem(): Promise<void> {
    try {
      const transport = await this.open(this.cfg.path, this.cfg.baudRate);
      const channel = new AtChannel(transport, this.timers, () => {});
      await channel.send('AT+CFUN=1,1', { timeoutMs: this.cfg.commandTimeoutMs }).catch(() => {});
      channel.fail('reset sent');
      await transport.close().catch(() => {});
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot open port to reset the modem');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleeping = null;
        resolve();
      };
      this.sleeping = { handle: this.timers.setTimeout(wake, ms), wake };
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

/** Optional commands may answer ERROR; only a silent or vanished port is a real failure. */
function rethrowUnlessError(err: unknown): void {
  if (err instanceof AtTimeoutError || err instanceof AtClosedError) throw err;
}
