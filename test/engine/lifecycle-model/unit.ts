/**
 * The real system under the model-based lifecycle test: the real Agent (real SQLite file in a temp
 * dir, the simulator modem, the real apply path) whose "process" can be stopped, killed and started
 * again on the same data dir. Each process has its own fake clock; the wall time carries over, so
 * a restart is instant and a killed process's timers simply never fire again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../../agent/app.js';
import { FakeClock } from '../../../agent/clock.js';
import { parseConfig, type Config } from '../../../agent/config/config.js';
import { createLogger } from '../../../agent/log.js';
import { SimulatorAudio, SimulatorModem } from '../../../hal/simulator/index.js';
import { AudioRoutedModem } from '../../../hal/call-audio.js';
import type { SimBehaviorInput } from '../../../hal/simulator/rules.js';
import { permissivePolicy, LogSink } from '../../support/engine.js';

export interface Proc {
  agent: Agent;
  clock: FakeClock;
  modem: SimulatorModem;
  fatal: { err: unknown; where: string }[];
  /** Modem dials already collected from this process. */
  seen: number;
  /** A restart hold this process was asked for: the attempts in the store at the request. */
  hold: { attempts: number; wall: number } | null;
}

export interface DialRecord {
  step: number;
  number: string;
  at: number;
}

export class ModelUnit {
  readonly dir = mkdtempSync(join(tmpdir(), 'companion-model-'));
  readonly config: Config;
  readonly rules = new Map<string, SimBehaviorInput>();
  readonly dials: DialRecord[] = [];
  /** Fatal errors of processes that then "exited" (systemd restarted them). */
  readonly exits: { err: unknown; where: string }[] = [];
  proc!: Proc;
  /** The time zone database's version the next process starts with (a tzdata upgrade bumps it). */
  tzdata = 'model-1';
  /** tzdata upgrades so far (coverage). */
  tzdataUpgrades = 0;
  /** Restart requests that met a call in progress and waited for it (coverage). */
  holdsWaitedForCall = 0;
  /** Restart holds that ran out without a restart (coverage). */
  holdsExpired = 0;
  private wallAtStop: number;
  /** WAL checkpoints run by processes that are gone (the live one's are added in `checkpoints`). */
  private pastCheckpoints = 0;

  constructor(start: number) {
    this.wallAtStop = start;
    this.config = parseConfig({
      dataDir: this.dir,
      storage: { busyTimeoutMs: 0, writeGiveUpSec: 30 },
      scheduler: { maxSleepSec: 60, externalPollSec: 0 },
      runner: { hangGraceSec: 5 },
    });
  }

  get now(): number {
    return this.proc.clock.now();
  }

  async start(): Promise<void> {
    const clock = new FakeClock(this.wallAtStop);
    const modem = new SimulatorModem({ timers: clock, silenceDetectMs: 3_000, recoveryMs: 1_000 });
    for (const [n, b] of this.rules) modem.setRule(n, b);
    const fatal: Proc['fatal'] = [];
    const audio = new SimulatorAudio({ timers: clock });
    const agent = new Agent({
      config: this.config,
      clock,
      logger: createLogger({ level: 'silent', destination: new LogSink() }),
      // Composed as the runtime composes it (agent/main.ts): audio routed around every call.
      modem: new AudioRoutedModem({
        modem,
        audio,
        policy: this.config.hal.audio.call,
        timers: clock,
      }),
      audio,
      dialGuard: permissivePolicy(),
      random: () => 0.5,
      onFatal: (err, where) => fatal.push({ err, where }),
      tzdataVersion: () => this.tzdata,
      // A WAL checkpoint after every few commits (the agent's is 64): copies interleave with the
      // model's cancels, faults, crashes and restarts (agent/store/wal-checkpointer.ts).
      openOptions: { walCheckpoint: { commits: 3 } },
    });
    await agent.start();
    await clock.settle();
    this.proc = { agent, clock, modem, fatal, seen: 0, hold: null };
  }

  setRule(number: string, b: SimBehaviorInput): void {
    this.rules.set(number, b);
    this.proc.modem.setRule(number, b);
  }

  /** WAL checkpoints run so far, by every process of this unit. */
  checkpoints(): number {
    return this.pastCheckpoints + (this.proc.agent.store.checkpointer?.runs ?? 0);
  }

  /** Graceful stop (SIGTERM) and start again. Time goes on while the agent stops. */
  async restart(): Promise<void> {
    this.pastCheckpoints = this.checkpoints();
    let stopped = false;
    const stopping = this.proc.agent.stop().finally(() => (stopped = true));
    while (!stopped) await this.proc.clock.advance(500);
    await stopping;
    this.wallAtStop = this.proc.clock.now();
    await this.start();
  }

  /** SIGKILL and start again: nothing is settled by the dying process. */
  async crash(): Promise<void> {
    this.pastCheckpoints = this.checkpoints();
    this.proc.agent.abandon();
    this.wallAtStop = this.proc.clock.now();
    await this.start();
  }

  /** A process that hit a fatal error exits; systemd starts it again. */
  async restartIfExited(): Promise<boolean> {
    if (this.proc.fatal.length === 0) return false;
    this.exits.push(...this.proc.fatal);
    await this.crash();
    return true;
  }

  /** The package's postinst before a restart (SIGUSR2): finish the call in progress, start none. */
  requestRestart(): void {
    const { agent } = this.proc;
    if (agent.restartHold()?.state === 'open') {
      const n = agent.store.db.prepare('SELECT count(*) AS n FROM attempts').get() as { n: number };
      this.proc.hold = { attempts: n.n, wall: this.now };
    }
    agent.requestRestart();
  }

  collectDials(step: number): DialRecord[] {
    const fresh = this.proc.modem.dials.slice(this.proc.seen);
    this.proc.seen = this.proc.modem.dials.length;
    const recs = fresh.map((d) => ({ step, number: d.number, at: d.at }));
    this.dials.push(...recs);
    return recs;
  }

  async dispose(): Promise<void> {
    this.proc?.agent.abandon();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
