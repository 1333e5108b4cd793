import { type ModemManagerConfig, modemManagerConfigSchema } from '../config.js';
import { type HalLogger, maskNumber, silentLogger } from '../logger.js';
import { initialModemStatus, ModemEventHub } from '../status.js';
import {
  type ActiveCall,
  type CallStateEvent,
  type DialRequest,
  type HalTimers,
  type Modem,
  type ModemDetails,
  ModemError,
  type ModemEvent,
  type ModemStatus,
} from '../types.js';
import { DbusClient, type DbusSignal, decodeDict } from './dbus-client.js';
import { MmCall } from './mm-call.js';
import {
  IFACE,
  MM,
  MM_PATH,
  MODEM_STATE,
  modemStateOf,
  parseNetworkTime,
  registrationOf,
  signalDbmOf,
  simStateOf,
} from './mm-mapping.js';

export interface ModemManagerModemOptions {
  config: Partial<ModemManagerConfig>;
  timers: HalTimers;
  logger?: HalLogger;
}

/** What the driver keeps of ModemManager's modem object between signals. */
interface MmModemProps {
  state: number;
  failedReason: number;
  unlockRequired: number;
  sim: string | null;
  signal: [number, boolean];
  registration: number;
  operator: string | null;
  model: string | null;
}

/**
 * Places and ends voice calls through ModemManager's D-Bus API, for units where ModemManager owns
 * the modem (a raw AT driver would fight it for the port). The modem is found on the bus (the
 * first with Modem.Voice, or the one `config.modem` names), enabled when ModemManager has it
 * disabled, and followed by its PropertiesChanged and StateChanged signals: state, SIM,
 * registration, signal, operator and network time. Calls are Voice.CreateCall → Call.Start →
 * Call.Hangup, with the call's StateChanged signals as the state. When ModemManager, the modem or
 * the bus goes away, a call in progress ends `modem_error` and the driver looks for the modem
 * again every `rescanMs` until it is back.
 */
export class ModemManagerModem implements Modem {
  private readonly cfg: ModemManagerConfig;
  private readonly log: HalLogger;
  private readonly events: ModemEventHub;
  private current: ModemStatus = initialModemStatus('modemmanager');
  private bus: DbusClient | null = null;
  private modemPath: string | null = null;
  private props: MmModemProps | null = null;
  private call: MmCall | null = null;
  private lineReserved = false;
  private stopped = true;
  private rescanTimer: unknown = null;
  private attaching: Promise<void> | null = null;
  private recovering = false;

  constructor(private readonly o: ModemManagerModemOptions) {
    this.cfg = modemManagerConfigSchema().parse(o.config);
    this.log = o.logger ?? silentLogger;
    this.events = new ModemEventHub((err) => this.log.warn({ err }, 'modem event listener threw'));
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState('starting', 'looking for ModemManager');
    await this.attach();
  }

  /** A call still up ends `modem_error` by `modem` ("modem driver stopped") and is hung up. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.o.timers.clearTimeout(this.rescanTimer);
    const call = this.call;
    call?.session.finish({
      result: 'modem_error',
      endedBy: 'modem',
      detail: 'modem driver stopped',
    });
    if (call) await call.release();
    await this.attaching?.catch(() => {});
    this.bus?.close();
    this.bus = null;
    this.setState('stopped', null);
  }

  // ---- Modem ----

  async dial(req: DialRequest, onState?: (e: CallStateEvent) => void): Promise<ActiveCall> {
    if (this.stopped) throw new ModemError('modem is stopped', 'stopped');
    if (this.lineReserved) throw new ModemError('a call is already up', 'busy_line');
    const bus = this.bus;
    const modemPath = this.modemPath;
    if (this.current.state !== 'ready' || !bus || !modemPath) {
      throw new ModemError(`modem not ready (${this.current.state})`, 'not_ready');
    }
    if (this.current.sim !== 'ready') {
      throw new ModemError(`SIM not ready (${this.current.sim})`, 'not_ready');
    }
    this.lineReserved = true;
    let path: string | null = null;
    try {
      const [created] = await bus.call(MM, modemPath, IFACE.voice, 'CreateCall', 'a{sv}', [
        [['number', ['s', req.number]]],
      ]);
      path = String(created);
      const call = new MmCall({
        bus,
        path,
        modemPath,
        req,
        timers: this.o.timers,
        log: this.log,
        onState,
        emit: (e) => this.events.emit(e),
        hangupGraceMs: this.cfg.callTimeoutMs,
      });
      this.call = call;
      this.setState('in_call', null);
      void call.session.done.then(() => this.onCallEnded(call));
      await bus.call(MM, path, IFACE.call, 'Start');
      this.log.info({ callId: call.session.callId, number: maskNumber(req.number) }, 'dialing');
      call.started();
      return call.session.toActiveCall(
        () => call.hangupByUser(),
        (d) => call.sendDtmf(d),
      );
    } catch (err) {
      const call = this.call;
      if (call && call.path === path) {
        // Start refused: nothing rang. Forget the call without an outcome the caller never saw.
        this.call = null;
        call.session.cancelAll();
        void bus.call(MM, modemPath, IFACE.voice, 'DeleteCall', 'o', [path]).catch(() => {});
      }
      this.lineReserved = false;
      if (this.status().state === 'in_call') this.setState('ready', null);
      this.log.warn(
        { err: (err as Error).message, number: maskNumber(req.number) },
        'dial refused',
      );
      throw new ModemError(
        `ModemManager refused the call: ${(err as Error).message}`,
        'dial_failed',
      );
    }
  }

  async hangupAll(): Promise<void> {
    if (this.call) return this.call.hangupByUser();
    const bus = this.bus;
    if (!bus || !this.modemPath || this.current.state !== 'ready') return;
    // After an agent restart ModemManager may still carry a call nobody tracks.
    await bus.call(MM, this.modemPath, IFACE.voice, 'HangupAll').catch(() => {});
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
    if (this.lineReserved) throw new ModemError('a call is up', 'busy_line');
    const bus = this.bus;
    const path = this.modemPath;
    if (!bus || !path) throw new ModemError('modem not ready', 'not_ready');
    const m = await bus.getAll(MM, path, IFACE.modem);
    const g = await bus.getAll(MM, path, IFACE.m3gpp).catch(() => ({}) as Record<string, unknown>);
    const simPath = str(m.Sim);
    const sim =
      simPath && simPath !== '/'
        ? await bus.getAll(MM, simPath, IFACE.sim).catch(() => ({}) as Record<string, unknown>)
        : {};
    const [quality] = (m.SignalQuality as [number, boolean] | undefined) ?? [0, false];
    return {
      manufacturer: str(m.Manufacturer),
      model: str(m.Model),
      firmware: str(m.Revision),
      imei: str(g.Imei) ?? str(m.EquipmentIdentifier),
      iccid: str(sim.SimIdentifier),
      imsi: str(sim.Imsi),
      sim: this.current.sim,
      registration: this.current.registration,
      operator: str(g.OperatorName),
      operatorCode: str(g.OperatorCode),
      accessTechnology: accessTechnology(Number(m.AccessTechnologies ?? 0)),
      signalDbm: this.current.signalDbm,
      signalQuality: quality,
    };
  }

  // ---- finding the modem ----

  private attach(): Promise<void> {
    this.attaching ??= this.tryAttach().finally(() => (this.attaching = null));
    return this.attaching;
  }

  private async tryAttach(): Promise<void> {
    try {
      if (!this.bus) await this.connectBus();
      if (!this.modemPath) await this.findModem();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'ModemManager not reachable');
      this.dropBus();
      this.markLost(`ModemManager not reachable: ${(err as Error).message}`);
    }
    if (!this.modemPath && !this.stopped) this.scheduleRescan();
  }

  private async connectBus(): Promise<void> {
    const bus = new DbusClient({
      address: this.cfg.busAddress,
      callTimeoutMs: this.cfg.callTimeoutMs,
    });
    await bus.connect();
    bus.onClose((reason) => {
      if (this.bus !== bus) return;
      this.bus = null;
      this.modemGone(reason);
    });
    await bus.subscribe(`type='signal',sender='${MM}'`, (s) => this.onSignal(s));
    await bus.subscribe(
      `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${MM}'`,
      (s) => {
        if (s.member === 'NameOwnerChanged' && s.body[2] === '')
          this.modemGone('ModemManager left the bus');
      },
    );
    if (this.stopped) bus.close();
    else this.bus = bus;
  }

  private async findModem(): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    const [objects] = await bus.call(MM, MM_PATH, IFACE.objectManager, 'GetManagedObjects');
    for (const [path, ifaces] of (objects as [string, [string, unknown][]][]) ?? []) {
      const names = ifaces.map(([n]) => n);
      if (!names.includes(IFACE.voice)) continue;
      const modem = decodeDict(ifaces.find(([n]) => n === IFACE.modem)?.[1]);
      if (this.cfg.modem !== null && !matches(this.cfg.modem, path, modem)) continue;
      await this.adopt(path);
      return;
    }
    this.markLost(
      this.cfg.modem === null
        ? 'ModemManager has no modem with voice support'
        : `ModemManager has no modem matching "${this.cfg.modem}"`,
    );
  }

  private async adopt(path: string): Promise<void> {
    const bus = this.bus!;
    this.modemPath = path;
    await this.refresh();
    if (this.props && this.props.state === MODEM_STATE.DISABLED && this.cfg.enable) {
      this.log.info({ path }, 'enabling the modem in ModemManager');
      await bus.call(MM, path, IFACE.modem, 'Enable', 'b', [true]);
      await this.refresh();
    }
    await this.readNetworkTime();
    if (this.recovering) {
      this.recovering = false;
      this.events.emit({ type: 'recovery', step: 'recovered', detail: `modem ${path} is back` });
    }
    this.log.info({ path, state: this.current.state, model: this.current.model }, 'modem found');
  }

  private async refresh(): Promise<void> {
    const bus = this.bus;
    const path = this.modemPath;
    if (!bus || !path) return;
    const m = await bus.getAll(MM, path, IFACE.modem);
    const g = await bus.getAll(MM, path, IFACE.m3gpp).catch(() => ({}) as Record<string, unknown>);
    this.props = {
      state: Number(m.State ?? 0),
      failedReason: Number(m.StateFailedReason ?? 0),
      unlockRequired: Number(m.UnlockRequired ?? 0),
      sim: str(m.Sim),
      signal: (m.SignalQuality as [number, boolean] | undefined) ?? [0, false],
      registration: Number(g.RegistrationState ?? 4),
      operator: str(g.OperatorName),
      model: str(m.Model),
    };
    this.applyProps();
  }

  private applyProps(): void {
    const p = this.props;
    if (!p) return;
    const { state, reason } = modemStateOf(p.state, p.failedReason);
    // The network's time is known once the modem is registered: read it then.
    if (state === 'ready' && this.current.state !== 'ready' && this.current.state !== 'in_call') {
      void this.readNetworkTime();
    }
    this.current = {
      ...this.current,
      state: this.call && state === 'ready' ? 'in_call' : state,
      reason,
      sim: simStateOf(p.sim, p.unlockRequired, p.state, p.failedReason),
      registration: registrationOf(p.registration),
      signalDbm: signalDbmOf(p.signal[0], p.signal[1]),
      operator: p.operator,
      model: p.model,
    };
    this.events.emit({ type: 'status', status: this.status() });
  }

  private async readNetworkTime(): Promise<void> {
    const bus = this.bus;
    if (!bus || !this.modemPath) return;
    try {
      const [t] = await bus.call(MM, this.modemPath, IFACE.time, 'GetNetworkTime');
      this.applyNetworkTime(t);
    } catch {
      // No network time yet, or no Time interface: the clock stays on its own word.
    }
  }

  private applyNetworkTime(t: unknown): void {
    const at = parseNetworkTime(t);
    if (at === null) return;
    const readAt = this.o.timers.now();
    this.current = { ...this.current, networkTime: { at, readAt } };
    this.events.emit({ type: 'network_time', at, readAt });
  }

  // ---- signals ----

  private onSignal(s: DbusSignal): void {
    if (this.call && s.path === this.call.path && s.iface === IFACE.call) {
      if (s.member === 'StateChanged')
        this.call.onStateChanged(Number(s.body[1]), Number(s.body[2]));
      return;
    }
    if (s.path === MM_PATH && s.iface === IFACE.objectManager) {
      if (s.member === 'InterfacesAdded' && !this.modemPath) void this.attach();
      if (s.member === 'InterfacesRemoved' && s.body[0] === this.modemPath) {
        this.modemGone(`modem ${this.modemPath} removed from ModemManager`);
      }
      return;
    }
    if (s.path !== this.modemPath || !this.props) return;
    if (s.iface === IFACE.properties && s.member === 'PropertiesChanged') {
      const iface = s.body[0];
      const changed = decodeDict(s.body[1]);
      const p = this.props;
      if (iface === IFACE.modem) {
        if ('State' in changed) p.state = Number(changed.State);
        if ('StateFailedReason' in changed) p.failedReason = Number(changed.StateFailedReason);
        if ('UnlockRequired' in changed) p.unlockRequired = Number(changed.UnlockRequired);
        if ('Sim' in changed) p.sim = str(changed.Sim);
        if ('SignalQuality' in changed) p.signal = changed.SignalQuality as [number, boolean];
        if ('Model' in changed) p.model = str(changed.Model);
      } else if (iface === IFACE.m3gpp) {
        if ('RegistrationState' in changed) p.registration = Number(changed.RegistrationState);
        if ('OperatorName' in changed) p.operator = str(changed.OperatorName);
      } else return;
      this.applyProps();
    } else if (s.iface === IFACE.time && s.member === 'NetworkTimeChanged') {
      this.applyNetworkTime(s.body[0]);
    }
  }

  // ---- losing and finding the modem again ----

  private modemGone(reason: string): void {
    if (this.stopped) return;
    const call = this.call;
    this.call = null;
    call?.session.finish({ result: 'modem_error', endedBy: 'modem', detail: reason });
    this.lineReserved = false;
    this.modemPath = null;
    this.props = null;
    this.log.error({ reason }, 'modem lost');
    this.markLost(reason);
    this.scheduleRescan();
  }

  private markLost(reason: string): void {
    if (!this.recovering && this.current.state !== 'starting') {
      this.recovering = true;
      this.current = { ...this.current, recoveries: this.current.recoveries + 1 };
      this.events.emit({ type: 'recovery', step: 'rediscover', detail: reason });
    }
    this.setState(this.recovering ? 'recovering' : 'starting', reason);
  }

  private scheduleRescan(): void {
    if (this.stopped || this.rescanTimer !== null) return;
    this.rescanTimer = this.o.timers.setTimeout(() => {
      this.rescanTimer = null;
      if (!this.stopped && !this.modemPath) void this.attach();
    }, this.cfg.rescanMs);
  }

  private dropBus(): void {
    const bus = this.bus;
    this.bus = null;
    bus?.close();
  }

  private onCallEnded(call: MmCall): void {
    if (this.call !== call) return;
    this.call = null;
    this.lineReserved = false;
    if (this.current.state === 'in_call') this.setState('ready', null);
  }

  private setState(state: ModemStatus['state'], reason: string | null): void {
    this.current = { ...this.current, state, reason };
    this.events.emit({ type: 'status', status: this.status() });
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** `config.modem` names a modem by object path, device, or equipment id (IMEI), any substring. */
function matches(wanted: string, path: string, modem: Record<string, unknown>): boolean {
  return [path, modem.Device, modem.EquipmentIdentifier, modem.PrimaryPort].some(
    (v) => typeof v === 'string' && v.includes(wanted),
  );
}

/** MMModemAccessTechnology bits → the strongest technology's name. */
function accessTechnology(bits: number): string | null {
  if (bits & 0x8000) return '5gnr';
  if (bits & 0x4000) return 'lte';
  if (bits & (0x20 | 0x40 | 0x80 | 0x100 | 0x200)) return 'umts';
  if (bits & (0x2 | 0x4 | 0x8 | 0x10)) return 'gsm';
  return null;
}
