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
import type { CallAudioStatus } from '../hal/call-audio.js';
import { Store } from './store/store.js';
import type { OpenOptions } from './store/db.js';
import { ClockTrust, type TrustState } from './clock-trust.js';
import { CommandApplier, type CalleePolicy } from './bookings/apply.js';
import { Planner, type PlanResult } from './scheduler/planner.js';
import { Scheduler } from './scheduler/scheduler.js';
import { CallRunner } from './runner/runner.js';
import { rescheduleForZoneRules, tzdataVersion } from './bookings/zone-rules-change.js';
import { RestartHold, restartHoldStatusLine, type RestartHoldState } from './restart-hold.js';
import { RunLifecycle, type DialGuard } from './lifecycle/lifecycle.js';
import {
  beginBootEpoch,
  reconcilePreviousBoots,
  type ReconcileReport,
} from './lifecycle/reconcile.js';
import type { RunRow } from './store/runs-repo.js';
import { DataDirLock } from './store/dir-lock.js';
import { NetworkTime, type NetworkTimeState } from './network-time.js';
import { SyncSink } from './sync-sink.js';
import { ControlHandler } from './controls.js';
import { TechnicianRevocations } from './technician/revocations.js';
import { Housekeeping, HousekeepingSchedule } from './housekeeping.js';
import { ZoneRules } from './schedule/zone.js';

/**
 * What the agent does with an unexpected error while runs or attempts may be live: production logs
 * it and exits non-zero, so systemd restarts the agent and reconciliation settles the attempt
 * (docs/lifecycle.md "Failures"). It must not let the agent carry on with state it no longer trusts.
 */
export type FatalHandler = (err: unknown, where: string) => void;

/** Exit code after an unexpected error (sysexits EX_SOFTWARE). */
export const EXIT_FATAL = 70;

export interface AgentDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  modem: Modem;
  audio: Audio;
  /** The dial policy: checked at accept time (number rules) and before every dial (all rules). */
  dialGuard: DialGuard & CalleePolicy;
  /** Default: log, flush and exit the process with EXIT_FATAL. */
  onFatal?: FatalHandler;
  /** Defaults to <dataDir>/companion.db */
  dbPath?: string;
  openOptions?: OpenOptions;
  random?: () => number;
  /** The audio around calls, for diagnostics (main wires AudioRoutedModem.callAudioStatus). */
  callAudio?: () => CallAudioStatus;
  /** The time zone database's version (default: tzdata.zi's; tests pass their own). */
  tzdataVersion?: () => string | null;
  /** A restart's hold changed (SIGUSR2, agent/restart-hold.ts): main sends it to systemd. */
  onRestartHold?: (s: RestartHoldState) => void;
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
  lock: DataDirLock;
  store: Store;
  lifecycle: RunLifecycle;
  sync: SyncSink;
  revocations: TechnicianRevocations;
  trust: ClockTrust;
  applier: CommandApplier;
  scheduler: Scheduler;
  runner: CallRunner;
  bootEpoch: number;
  reconcile: ReconcileReport;
  networkTime: NetworkTime;
  offNetworkTime: () => void;
  housekeeping: Housekeeping;
  housekeepingSchedule: HousekeepingSchedule;
  hold: RestartHold;
}

/**
 * How long the agent holds new calls for a restart it was told is coming (SIGUSR2) once no call is
 * in progress. postinst restarts it within a second or two; a postinst that died must not keep the
 * unit silent, so after this claims resume.
 */
export const RESTART_HOLD_MS = 120_000;

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
    // One agent per data dir: taken before the store opens (a second agent exits here, rule 13).
    const lock = DataDirLock.acquire(config.dataDir);
    let store: Store;
    try {
      store = Store.open(this.d.dbPath ?? dbPathOf(config), {
        busyTimeoutMs: config.storage.busyTimeoutMs,
        ...this.d.openOptions,
        walCheckpoint: { timers: clock, ...this.d.openOptions?.walCheckpoint },
      });
    } catch (err) {
      lock.release();
      throw err;
    }
    const onFatal = this.d.onFatal ?? ((err, where) => this.exitFatal(err, where));
    try {
      const bootEpoch = beginBootEpoch(store);
      const lifecycle = new RunLifecycle(store, this.d.dialGuard, this.d.random);
      // The modem first: a call the previous process left up is hung up before anything dials.
      await this.d.modem.start();
      await this.d.audio.start();
      await this.d.modem.hangupAll();
      const reconcile = reconcilePreviousBoots(
        store,
        lifecycle,
        bootEpoch,
        clock.now(),
        this.d.random,
      );
      if (reconcile.requeued + reconcile.interrupted + reconcile.completedAfterAnswer > 0) {
        this.log.warn(reconcile, 'reconciled attempts left by the previous run');
      }
      // A tzdata upgrade since the store last looked: each next slot computed again under the new
      // zone rules (agent/bookings/zone-rules-change.ts), before anything is planned.
      rescheduleForZoneRules(
        store,
        clock.now(),
        (this.d.tzdataVersion ?? tzdataVersion)(),
        this.log,
      );
      const trust = new ClockTrust(store.meta, clock, {
        floorMs: Date.parse(config.clock.floor),
        backwardToleranceMs: config.clock.backwardToleranceSec * 1000,
        persistEveryMs: config.clock.persistEverySec * 1000,
      });
      const applier = new CommandApplier(store, clock, lifecycle, this.d.dialGuard);
      const hold: RestartHold = new RestartHold({
        clock,
        runnerWorking: () => runner.working(),
        runnerIdle: () => runner.idle(),
        holdMs: RESTART_HOLD_MS,
        changed: (s) => {
          this.log.info({ hold: s }, restartHoldStatusLine(s));
          this.d.onRestartHold?.(s);
        },
        resume: () => runner.kick(),
      });
      const runner: CallRunner = new CallRunner({
        lifecycle,
        clock,
        modem: this.d.modem,
        logger,
        // Nothing is claimed while the clock is untrusted (rule 9) or a restart is awaited.
        canFire: () => scheduler.trustState()?.trusted === true && hold.allowsClaims(),
        bootEpoch,
        config: {
          hangGraceMs: config.runner.hangGraceSec * 1000,
          writeGiveUpMs: config.storage.writeGiveUpSec * 1000,
        },
        // A retry was scheduled: wake exactly when it is due (as punctual as a first attempt).
        onWorkChanged: () => scheduler.replan(),
        onFatal,
        ...(this.d.observe?.onDial ? { onDial: this.d.observe.onDial } : {}),
        ...(this.d.observe?.onOutcome ? { onOutcome: this.d.observe.onOutcome } : {}),
      });
      const scheduler: Scheduler = new Scheduler({
        store,
        clock,
        planner: new Planner(store, lifecycle),
        trust,
        logger,
        onDue: () => runner.kick(),
        nextRunDueAt: () => store.runs.nextDueAfter(clock.now()),
        maxSleepMs: config.scheduler.maxSleepSec * 1000,
        planAheadMs: config.scheduler.planAheadMs,
        externalPollMs: config.scheduler.externalPollSec * 1000,
        onExternalChange: () => runner.checkCancel(),
        onFatal,
        ...(this.d.observe?.onPlanPass ? { onPass: this.d.observe.onPlanPass } : {}),
      });
      // A committed booking change: re-plan, and hang up a ringing call that a cancel reached.
      applier.onChange(() => {
        scheduler.replan();
        runner.checkCancel();
      });
      const networkTime = new NetworkTime({
        clock,
        trust,
        logger,
        toleranceMs: config.clock.backwardToleranceSec * 1000,
        onVouched: () => scheduler.replan(),
      });
      const offNetworkTime = networkTime.attach(this.d.modem);
      // The cloud link's side of the store (wired to MQTT in main.ts when the link is on).
      // The technicians' revocation list: pushed by the cloud as a control, read by diagnostics.
      const revocations = new TechnicianRevocations(store);
      const sync = new SyncSink({
        store,
        applier,
        controls: new ControlHandler(clock, lifecycle, () => this.poke(), revocations),
        clock,
        clockTrusted: () => scheduler.trustState()?.trusted === true,
        logger,
      });
      sync.start();
      // Retention and a WAL checkpoint at a quiet hour, never during a call (agent/housekeeping.ts).
      const housekeeping = new Housekeeping({
        store,
        clock,
        logger,
        policy: config.retention,
        busy: () => runner.busy() !== null,
      });
      const housekeepingSchedule = new HousekeepingSchedule({
        housekeeping,
        clock,
        logger,
        cron: config.retention.schedule,
        zone: ZoneRules.local(),
        firstRunAfterMs: config.retention.firstRunAfterStartSec * 1000,
      });
      this.r = {
        lock,
        store,
        lifecycle,
        sync,
        revocations,
        trust,
        applier,
        scheduler,
        runner,
        bootEpoch,
        reconcile,
        networkTime,
        offNetworkTime,
        housekeeping,
        housekeepingSchedule,
        hold,
      };
      this.startedAt = clock.now();
      scheduler.start();
      housekeepingSchedule.start();
      this.log.info(
        { bootEpoch, unitId: config.unitId, startMs: Math.round(clock.monotonic() - t0) },
        'agent started',
      );
    } catch (err) {
      store.close();
      lock.release();
      throw err;
    }
  }

  private exitFatal(err: unknown, where: string): void {
    this.log.fatal(
      { err, where },
      'unexpected error with live state: exiting so systemd restarts the agent and reconciles',
    );
    this.d.logger.flush();
    process.exit(EXIT_FATAL);
  }

  async stop(): Promise<void> {
    const r = this.r;
    if (!r) return;
    r.offNetworkTime();
    r.hold.stop();
    r.housekeepingSchedule.stop();
    r.scheduler.stop();
    await r.runner.stop();
    // The highest time seen is written lazily (clock.persistEverySec): a graceful stop forgets none.
    try {
      r.store.tx(() => r.trust.persistNow());
    } catch (err) {
      this.log.warn({ err }, 'highest time seen not saved at stop');
    }
    await this.d.audio.stop().catch(() => undefined);
    await this.d.modem.stop().catch(() => undefined);
    r.store.close();
    r.lock.release();
    this.r = null;
    this.log.info('agent stopped');
  }

  /**
   * Let go of the data dir as a killed process would: the store and the data dir lock are closed;
   * nothing is settled, no call is hung up, no timer is cleared (a dead process's clock never ticks
   * again). For crash tests that restart the agent inside one test process.
   */
  abandon(): void {
    const r = this.r;
    if (!r) return;
    r.offNetworkTime();
    r.store.close();
    r.lock.release();
    this.r = null;
  }

  private get running(): Running {
    if (!this.r) throw new Error('agent is not started');
    return this.r;
  }

  get store(): Store {
    return this.running.store;
  }
  get lifecycle(): RunLifecycle {
    return this.running.lifecycle;
  }
  /** The technicians' revocation list (technician access, issue 15). */
  get revocations(): TechnicianRevocations {
    return this.running.revocations;
  }
  /** The cloud link's sink: every inbound message as one transaction (agent/sync-sink.ts). */
  get sync(): SyncSink {
    return this.running.sync;
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
  get housekeeping(): Housekeeping {
    return this.running.housekeeping;
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
  /** Audio status and the last call's audio (null when the wiring has no call audio). */
  callAudio(): CallAudioStatus | null {
    return this.d.callAudio?.() ?? null;
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
  /**
   * A restart is coming (SIGUSR2 from the package's postinst): let the call in progress end, start
   * no other, and say when nothing is in progress (agent/restart-hold.ts).
   */
  requestRestart(): void {
    this.running.hold.request();
  }
  restartHold(): RestartHoldState | null {
    return this.r?.hold.state() ?? null;
  }
  /** Re-plan after an operator action (replay, test call) so the runner sees it at once. */
  poke(): void {
    this.r?.scheduler.replan();
  }
}
