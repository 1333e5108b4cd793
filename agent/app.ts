/**
 * Wiring: the one place that builds every component and passes config, logger, clock, store and
 * drivers in through constructors (STYLE: wire once, inject everything). Constructors do no I/O;
 * `start()` and `stop()` do.
 */
import { join } from 'node:path';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Config } from './config/config.js';
import type { Audio, Modem } from '../hal/types.js';
import { Store } from './store/store.js';
import type { OpenOptions } from './store/db.js';
import { ClockTrust, type TrustState } from './clock-trust.js';
import { CommandApplier } from './bookings/apply.js';
import { Planner, type PlanResult } from './scheduler/planner.js';
import { Scheduler } from './scheduler/scheduler.js';
import { CallRunner, type DialGuard } from './runner/runner.js';
import {
  beginBootEpoch,
  reconcilePreviousBoots,
  type ReconcileReport,
} from './runner/reconcile.js';
import type { RunRow } from './store/runs-repo.js';
import { NetworkTime, type NetworkTimeState } from './network-time.js';

export interface AgentDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  modem: Modem;
  audio: Audio;
  dialGuard: DialGuard;
  /** Defaults to <dataDir>/companion.db */
  dbPath?: string;
  openOptions?: OpenOptions;
  random?: () => number;
  /** Observers, e.g. for metrics and benchmarks. */
  observe?: {
    onDial?: (run: RunRow, latenessMs: number | null) => void;
    onOutcome?: (run: RunRow, outcome: string) => void;
    onPlanPass?: (r: PlanResult, ms: number) => void;
  };
}

export function dbPathOf(config: Config): string {
  return join(config.dataDir, 'companion.db');
}

/** Everything that exists only while the agent runs. */
interface Running {
  store: Store;
  trust: ClockTrust;
  applier: CommandApplier;
  scheduler: Scheduler;
  runner: CallRunner;
  bootEpoch: number;
  reconcile: ReconcileReport;
  networkTime: NetworkTime;
  offNetworkTime: () => void;
}

export class Agent {
  private r: Running | null = null;
  private startedAt: number | null = null;
  private readonly log: Logger;

  constructor(private readonly d: AgentDeps) {
    this.log = d.logger.child({ component: 'agent' });
  }

  async start(): Promise<void> {
    const { config, clock, logger } = this.d;
    const t0 = clock.monotonic();
    const store = Store.open(this.d.dbPath ?? dbPathOf(config), this.d.openOptions);
    try {
      const bootEpoch = beginBootEpoch(store);
      // The modem first: a call the previous process left up is hung up before anything dials.
      await this.d.modem.start();
      await this.d.audio.start();
      await this.d.modem.hangupAll();
      const reconcile = reconcilePreviousBoots(store, bootEpoch, clock.now(), this.d.random);
      if (reconcile.requeued + reconcile.interrupted + reconcile.completedAfterAnswer > 0) {
        this.log.warn(reconcile, 'reconciled attempts left by the previous run');
      }
      const trust = new ClockTrust(store.meta, clock, {
        floorMs: Date.parse(config.clock.floor),
        backwardToleranceMs: config.clock.backwardToleranceSec * 1000,
      });
      const applier = new CommandApplier(store, clock);
      const runner = new CallRunner({
        store,
        clock,
        modem: this.d.modem,
        logger,
        dialGuard: this.d.dialGuard,
        canFire: () => scheduler.trustState()?.trusted === true,
        bootEpoch,
        config: {
          leaseMs: config.runner.leaseSec * 1000,
          heartbeatMs: config.runner.heartbeatSec * 1000,
          hangGraceMs: config.runner.hangGraceSec * 1000,
        },
        ...(this.d.random ? { random: this.d.random } : {}),
        ...(this.d.observe?.onDial ? { onDial: this.d.observe.onDial } : {}),
        ...(this.d.observe?.onOutcome ? { onOutcome: this.d.observe.onOutcome } : {}),
      });
      const scheduler: Scheduler = new Scheduler({
        store,
        clock,
        planner: new Planner(store),
        trust,
        logger,
        onDue: () => runner.kick(),
        nextRunDueAt: () => store.runs.nextDueAfter(clock.now()),
        maxSleepMs: config.scheduler.maxSleepSec * 1000,
        externalPollMs: config.scheduler.externalPollSec * 1000,
        ...(this.d.observe?.onPlanPass ? { onPass: this.d.observe.onPlanPass } : {}),
      });
      applier.onChange(() => scheduler.replan());
      const networkTime = new NetworkTime({
        clock,
        trust,
        logger,
        toleranceMs: config.clock.backwardToleranceSec * 1000,
        onVouched: () => scheduler.replan(),
      });
      const offNetworkTime = networkTime.attach(this.d.modem);
      this.r = {
        store,
        trust,
        applier,
        scheduler,
        runner,
        bootEpoch,
        reconcile,
        networkTime,
        offNetworkTime,
      };
      this.startedAt = clock.now();
      scheduler.start();
      this.log.info(
        { bootEpoch, unitId: config.unitId, startMs: Math.round(clock.monotonic() - t0) },
        'agent started',
      );
    } catch (err) {
      store.close();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const r = this.r;
    if (!r) return;
    r.offNetworkTime();
    r.scheduler.stop();
    await r.runner.stop();
    await this.d.audio.stop().catch(() => undefined);
    await this.d.modem.stop().catch(() => undefined);
    r.store.close();
    this.r = null;
    this.log.info('agent stopped');
  }

  private get running(): Running {
    if (!this.r) throw new Error('agent is not started');
    return this.r;
  }

  get store(): Store {
    return this.running.store;
  }
  get applier(): CommandApplier {
    return this.running.applier;
  }
  get runner(): CallRunner {
    return this.running.runner;
  }
  get scheduler(): Scheduler {
    return this.running.scheduler;
  }
  get trust(): ClockTrust {
    return this.running.trust;
  }
  get bootEpoch(): number {
    return this.running.bootEpoch;
  }
  get reconcileReport(): ReconcileReport {
    return this.running.reconcile;
  }
  get modem(): Modem {
    return this.d.modem;
  }
  get config(): Config {
    return this.d.config;
  }
  uptimeMs(): number {
    return this.startedAt === null ? 0 : this.d.clock.now() - this.startedAt;
  }
  /** The modem's last network time reading and what the clock-trust rule made of it. */
  networkTime(): NetworkTimeState | null {
    return this.r?.networkTime.state() ?? null;
  }
  clockState(): TrustState | null {
    return this.r?.scheduler.trustState() ?? null;
  }
  /** Re-plan after an operator action (replay, test call) so the runner sees it at once. */
  poke(): void {
    this.r?.scheduler.replan();
  }
}
