import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { SerialPort } from 'serialport';
import {
  SimRuleBook,
  type SimBehaviorInput,
  simBehaviorSchema,
  type SimRuleInput,
} from '../../simulator/rules.js';
import { systemTimers } from '../../system-timers.js';
import type { HalTimers } from '../../types.js';
import { AtModemEngine, type SimDialect } from './at-modem-engine.js';

export interface PtyModemSimulatorOptions {
  /** Path the driver opens (a symlink socat creates); the simulator's own end is `${link}.sim`. */
  link: string;
  dialect: SimDialect;
  rules?: SimRuleInput[];
  timers?: HalTimers;
  silentForMs?: number;
  /** See AtModemEngineOptions.holdTrailingFinal. */
  holdTrailingFinal?: boolean;
  socatPath?: string;
}

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
  private stopped = false;
  private readonly timers: HalTimers;

  constructor(private readonly o: PtyModemSimulatorOptions) {
    this.timers = o.timers ?? systemTimers;
    this.rules = new SimRuleBook(o.rules);
    this.engine = new AtModemEngine({
      dialect: o.dialect,
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
    this.engine.scriptNext(simBehaviorSchema.parse(behavior));
  }

  setNoise(noise: NoiseOptions): void {
    this.noise = noise;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.startSocat();
    const port = new SerialPort({ path: `${this.o.link}.sim`, baudRate: 115_200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    port.on('data', (b: Buffer) => this.engine.receive(b.toString('latin1')));
    port.on('error', () => {});
    this.port = port;
  }

  /** The port vanishes (socat dies) and, unless downMs is null, comes back after downMs. */
  async dropPort(downMs: number | null): Promise<void> {
    await this.teardown();
    this.engine.reset();
    if (downMs === null || this.stopped) return;
    this.restartTimer = this.timers.setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped) void this.start().catch(() => {});
    }, downMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== null) this.timers.clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.teardown();
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

  private write(text: string): void {
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
