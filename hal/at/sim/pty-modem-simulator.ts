import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { SerialPort } from 'serialport';
import type { HalLogger } from '../../logger.js';
import {
  SimRuleBook,
  type SimBehaviorInput,
  simBehaviorSchema,
  type SimRuleInput,
} from '../../simulator/rules.js';
import { systemTimers } from '../../system-timers.js';
import type { HalTimers } from '../../types.js';
import { AtModemEngine } from './at-modem-engine.js';
import {
  type PersonalityName,
  type SimDialect,
  type SimTraits,
  traitsOf,
} from './personalities.js';

export interface PtyModemSimulatorOptions {
  /** Path the driver opens (a symlink socat creates); the simulator's own end is `${link}.sim`. */
  link: string;
  /** A named personality (personalities.ts), a bare dialect, or traits. */
  personality: PersonalityName | SimDialect | Partial<SimTraits>;
  rules?: SimRuleInput[];
  timers?: HalTimers;
  silentForMs?: number;
  /** See AtModemEngineOptions.holdTrailingFinal. */
  holdTrailingFinal?: boolean;
  socatPath?: string;
  /** Where a failed restart is reported (it is retried); defaults to warnings on stderr. */
  logger?: HalLogger;
}

const stderrLogger: HalLogger = {
  info: () => {},
  debug: () => {},
  warn: (obj, msg) => process.stderr.write(`pty-modem-sim: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`pty-modem-sim: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
};

/** A restart that fails (socat slow to start on a loaded machine, pty exhaustion) is retried. */
const RESTART_RETRY_MS = { initial: 100, max: 2_000 };

export interface NoiseOptions {
  /** Insert a line of binary garbage before every response. */
  garbage?: boolean;
  /** Write responses in fragments of 1-3 bytes so lines arrive split. */
  fragment?: boolean;
}

/**
 * A simulated modem on a real pty pair: socat links `link` (for the driver) to `${link}.sim`
 * (for us). Dropping the port kills socat, so the driver sees the same EIO/close as a USB modem
 * vanishing, and restarting socat brings the same path back.
 */
export class PtyModemSimulator {
  readonly rules: SimRuleBook;
  readonly engine: AtModemEngine;
  private socat: ChildProcess | null = null;
  private port: SerialPort | null = null;
  private noise: NoiseOptions = {};
  private seed = 12345;
  private restartTimer: unknown = null;
  private unixServer: Server | null = null;
  private unixClient: Socket | null = null;
  private stopped = false;
  private readonly timers: HalTimers;
  private readonly log: HalLogger;

  constructor(private readonly o: PtyModemSimulatorOptions) {
    this.timers = o.timers ?? systemTimers;
    this.log = o.logger ?? stderrLogger;
    this.rules = new SimRuleBook(o.rules);
    const traits = traitsOf(o.personality);
    this.noise = { garbage: traits.garbage };
    this.engine = new AtModemEngine({
      traits,
      timers: this.timers,
      rules: this.rules,
      silentForMs: o.silentForMs ?? 1_500,
      holdTrailingFinal: o.holdTrailingFinal ?? false,
      write: (text) => this.write(text),
      dropPort: (downMs) => void this.dropPort(downMs),
    });
  }

  get path(): string {
    return this.o.link;
  }

  setRule(number: string, behavior: SimBehaviorInput): void {
    this.rules.set(number, behavior);
  }

  scriptNext(behavior: SimBehaviorInput): void {
    this.engine.scriptNext(simBehaviorSchema().parse(behavior));
  }

  setNoise(noise: NoiseOptions): void {
    this.noise = noise;
  }

  /**
   * Starts socat and opens our end. A half-started simulator (socat up, our end not open) is torn
   * down again before the error is thrown, so a retry starts clean and no socat is left behind.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.cancelRestart();
    try {
      await this.startSocat();
      const port = new SerialPort({
        path: `${this.o.link}.sim`,
        baudRate: 115_200,
        autoOpen: false,
      });
      this.port = port;
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      port.on('data', (b: Buffer) => this.engine.receive(b.toString('latin1')));
      port.on('error', () => {});
    } catch (err) {
      await this.teardown();
      throw err;
    }
    // stop() ran while we were starting: it tore down what existed then, not what we made since.
    if (this.stopped) await this.teardown();
  }

  /** The port vanishes (socat dies) and, unless downMs is null, comes back after downMs. */
  async dropPort(downMs: number | null): Promise<void> {
    this.cancelRestart();
    await this.teardown();
    this.engine.reset();
    if (downMs === null || this.stopped) return;
    this.scheduleRestart(downMs, 1);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRestart();
    this.unixClient?.destroy();
    this.unixClient = null;
    const server = this.unixServer;
    this.unixServer = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.teardown();
  }

  /** Brings the port back after delayMs; a failed start is logged and retried until stop(). */
  private scheduleRestart(delayMs: number, attempt: number): void {
    this.restartTimer = this.timers.setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped || this.socat) return; // stopped, or started by hand meanwhile
      this.start().catch((err: unknown) => {
        if (this.stopped) return;
        const retryMs = Math.min(
          RESTART_RETRY_MS.initial * 2 ** (attempt - 1),
          RESTART_RETRY_MS.max,
        );
        this.log.warn(
          { link: this.o.link, attempt, retryMs, err: (err as Error).message },
          'simulated modem did not come back; retrying',
        );
        if (this.restartTimer === null) this.scheduleRestart(retryMs, attempt + 1);
      });
    }, delayMs);
  }

  private cancelRestart(): void {
    if (this.restartTimer !== null) this.timers.clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  /** The socat pid, so tests can assert that nothing is left running. */
  get socatPid(): number | null {
    return this.socat?.pid ?? null;
  }

  private async startSocat(): Promise<void> {
    const child = spawn(
      this.o.socatPath ?? 'socat',
      ['-d', '-d', `pty,raw,echo=0,link=${this.o.link}`, `pty,raw,echo=0,link=${this.o.link}.sim`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.socat = child;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`socat did not start: ${log}`)), 5_000);
      child.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('starting data transfer loop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited (${code}): ${log}`));
      });
      child.once('error', reject);
    });
  }

  private async teardown(): Promise<void> {
    const port = this.port;
    this.port = null;
    const child = this.socat;
    this.socat = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    // SIGKILLed socat leaves its links behind, pointing at /dev/pts/N. Once N is reused by another
    // pty, a driver reopening the stale link would talk to someone else's modem. A vanished USB
    // modem's /dev/serial/by-id link disappears too.
    if (child) for (const l of [this.o.link, `${this.o.link}.sim`]) rmSync(l, { force: true });
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /**
   * Also serves the simulated modem on a unix socket, the way ModemManager's test mode opens the
   * ports of a test profile (it connects to them as sockets, not ttys). One client at a time: a
   * new connection (ModemManager reopening the port) replaces the last, so no stale reader can
   * take the modem's answers. Stopped with the simulator.
   */
  async serveUnixSocket(path: string): Promise<void> {
    rmSync(path, { force: true });
    const server = createServer((conn) => {
      this.unixClient?.destroy();
      this.unixClient = conn;
      conn.on('data', (b: Buffer) => this.engine.receive(b.toString('latin1')));
      conn.on('error', () => {});
      conn.on('close', () => {
        if (this.unixClient === conn) this.unixClient = null;
      });
    });
    this.unixServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  }

  private write(text: string): void {
    this.unixClient?.write(text, 'latin1');
    const port = this.port;
    if (!port?.isOpen) return;
    if (this.noise.garbage) port.write('\r\n\x00\xff\xfe#%garbage%#\x1b[0m\r\n', 'latin1');
    if (!this.noise.fragment) {
      port.write(text, 'latin1');
      return;
    }
    for (let i = 0; i < text.length;) {
      const n = 1 + (this.nextRandom() % 3);
      port.write(text.slice(i, i + n), 'latin1');
      port.drain(() => {});
      i += n;
    }
  }

  private nextRandom(): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed;
  }
}
