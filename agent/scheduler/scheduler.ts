/**
 * The scheduler loop. No fixed polling: it sleeps until the next thing that can happen (the next
 * booking slot or the next retry), capped at `maxSleepMs` so a wall-clock jump is noticed within a
 * minute, and it re-plans at once on every booking change. While the clock is untrusted it holds
 * (plans nothing, claims nothing) and reports the hold once per transition.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { ClockTrust, TrustState } from '../clock-trust.js';
import type { Planner, PlanResult } from './planner.js';
import { isTransient } from '../store/storage-health.js';

export interface SchedulerDeps {
  store: Store;
  clock: Clock;
  planner: Planner;
  trust: ClockTrust;
  logger: Logger;
  /** Called after every planning pass so the runner claims what is due. */
  onDue: () => void;
  /** When the runner next has work (retry due times). */
  nextRunDueAt: () => number | null;
  maxSleepMs: number;
  /**
   * Slots are written as runs this long before they are due (docs/lifecycle.md "Planning ahead"):
   * at the slot itself only the claim commits before the dial. 0 = at the slot.
   */
  planAheadMs: number;
  /** How often to look for changes made by another process (CLI `apply`, `replay`). 0 = never. */
  externalPollMs: number;
  /** Another process committed (a CLI cancel may have reached the call in progress). */
  onExternalChange?: () => void;
  /** An unexpected (not transient) error in a pass: production exits; systemd restarts. */
  onFatal: (err: unknown, where: string) => void;
  onPass?: (r: PlanResult, ms: number) => void;
}

/** After a transient failure (busy database, full disk) the pass is retried this soon, then slower. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;
/** A wall clock this far behind the highest time seen stepped back (NTP slews never go back). */
const STEP_BACK_NOTICE_MS = 1_000;

export class Scheduler {
  private timer: unknown = null;
  private pollTimer: unknown = null;
  private running = false;
  private lastTrust: TrustState | null = null;
  private reportedTrust: TrustState | null = null;
  private dataVersion = 0;
  private nextWakeAt: number | null = null;
  private retryMs = RETRY_MIN_MS;
  /** A step back of the wall clock within the tolerance was reported and has not caught up yet. */
  private behindReported = false;
  private readonly log: Logger;

  constructor(private readonly d: SchedulerDeps) {
    this.log = d.logger.child({ component: 'scheduler' });
  }

  start(): void {
    this.running = true;
    this.dataVersion = this.readDataVersion();
    this.tick();
    if (this.d.externalPollMs > 0) this.armPoll();
  }

  stop(): void {
    this.running = false;
    this.d.clock.clearTimeout(this.timer);
    this.d.clock.clearTimeout(this.pollTimer);
    this.timer = this.pollTimer = null;
  }

  /** Re-plan now (a booking changed, a run was replayed, the clock was vouched for). */
  replan(): void {
    if (!this.running) return;
    this.d.clock.clearTimeout(this.timer);
    this.timer = this.d.clock.setTimeout(() => this.tick(), 0);
  }

  trustState(): TrustState | null {
    return this.lastTrust;
  }

  /** When the scheduler will next wake (for diagnostics and tests). */
  wakeAt(): number | null {
    return this.nextWakeAt;
  }

  /** One pass: judge the clock, plan due slots, hand over to the runner, sleep until the next event. */
  tick(): void {
    if (!this.running) return;
    this.d.clock.clearTimeout(this.timer);
    const { clock, store, trust } = this.d;
    let sleepMs = this.d.maxSleepMs;
    try {
      const state = trust.evaluate();
      this.noteTrust(state);
      if (state.trusted) {
        const now = clock.now();
        this.noteBehind(trust.highestSeen() - now);
        const t0 = clock.monotonic();
        const result = this.d.planner.planDue(now, () => trust.persist(), now + this.d.planAheadMs);
        this.d.onPass?.(result, clock.monotonic() - t0);
        if (result.runsCreated + result.skipped > 0) {
          this.log.info(result, 'planned due slots');
        }
        this.d.onDue();
        const slot = store.bookings.nextSlotAt();
        const next = minOf(slot === null ? null : slot - this.d.planAheadMs, this.d.nextRunDueAt());
        if (next !== null) sleepMs = Math.min(sleepMs, Math.max(0, next - clock.now()));
      }
      this.retryMs = RETRY_MIN_MS;
    } catch (err) {
      if (!isTransient(err)) {
        this.d.onFatal(err, 'planning pass');
        return;
      }
      // A busy database or a full disk clears on its own: retry soon, backing off, never blocking.
      this.log.warn({ err, retryMs: this.retryMs }, 'planning pass failed; retrying');
      sleepMs = Math.min(sleepMs, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    }
    this.nextWakeAt = clock.now() + sleepMs;
    this.timer = clock.setTimeout(() => this.tick(), sleepMs);
  }

  /**
   * Firing follows the newest judgement at once; the cloud hears of each change once. The event is
   * written before the reported state moves, so a write that fails (busy) is tried again next pass.
   */
  private noteTrust(state: TrustState): void {
    this.lastTrust = state;
    const prev = this.reportedTrust;
    if (prev && prev.trusted === state.trusted && prev.reason === state.reason) return;
    const now = this.d.clock.now();
    if (!state.trusted) {
      this.log.warn({ reason: state.reason }, `firing held: ${state.message}`);
      this.d.store.tx(() =>
        this.d.store.outbox.add(
          'clock.untrusted',
          { reason: state.reason, message: state.message },
          now,
        ),
      );
    } else if (prev && !prev.trusted) {
      this.log.info('clock trusted again; firing resumes');
      this.d.store.tx(() =>
        this.d.store.outbox.add('clock.trusted', { source: state.source }, now),
      );
    }
    this.reportedTrust = state;
  }

  /**
   * A wall clock that stepped back by less than the backward tolerance stays trusted, and slots
   * fire by it: up to the step later than they would have. Said once per step and once when the
   * clock has caught up, so a call that was late for this reason is explained in the journal.
   */
  private noteBehind(behindMs: number): void {
    if (behindMs > STEP_BACK_NOTICE_MS && !this.behindReported) {
      this.behindReported = true;
      this.log.warn(
        { behindMs },
        'wall clock stepped back (within the tolerance): due slots wait for it, this much later',
      );
    } else if (behindMs <= 0 && this.behindReported) {
      this.behindReported = false;
      this.log.info('wall clock caught up with the highest time seen');
    }
  }

  private armPoll(): void {
    this.pollTimer = this.d.clock.setTimeout(() => {
      if (!this.running) return;
      try {
        const v = this.readDataVersion();
        if (v !== this.dataVersion) {
          this.dataVersion = v;
          this.replan();
          this.d.onExternalChange?.();
        }
      } catch (err) {
        if (!isTransient(err)) {
          this.d.onFatal(err, 'looking for external changes');
          return;
        }
      }
      this.armPoll();
    }, this.d.externalPollMs);
  }

  /** PRAGMA data_version changes only when ANOTHER connection commits: a cheap external-change probe. */
  private readDataVersion(): number {
    return this.d.store.db.pragma('data_version', { simple: true }) as number;
  }
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
