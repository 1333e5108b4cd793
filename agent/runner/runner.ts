/**
 * The call runner (rule 2: the runner owns work). One voice line, so one call at a time: due runs
 * are claimed in due order through the run lifecycle, which records the attempt as `dialing` in the
 * same commit as the claim — before the modem is asked to dial (rule 4). The runner then dials the
 * number the dial policy checked, follows the call, hangs it up when a cancel reaches it before it
 * was answered, and hands the outcome back to the lifecycle, which decides the run's fate.
 *
 * Failures (docs/lifecycle.md): transient storage errors are retried asynchronously; a progress mark
 * that cannot be written never ends a call; any other error with live state is fatal — `onFatal`
 * exits the process so systemd restarts it and reconciliation settles the attempt.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ActiveCall, CallOutcome, CallStateEvent, Modem } from '../../hal/types.js';
import { retryTransient, isTransient } from '../store/storage-health.js';
import type { CallEnd, Claim, RunLifecycle, Settled } from '../lifecycle/lifecycle.js';
import type { RunRow } from '../store/runs-repo.js';
import { watchCall } from './call-watch.js';

export interface RunnerConfig {
  /** Extra time past ring timeout + max duration before a call that never ends is abandoned. */
  hangGraceMs: number;
  /** On stop: how long a hung-up call may take to end before the line is cleared anyway. */
  stopGraceMs?: number;
  /** A transient storage error lasting longer than this is fatal (exit, restart, reconcile). */
  writeGiveUpMs: number;
}

export interface RunnerDeps {
  lifecycle: RunLifecycle;
  clock: Clock;
  modem: Modem;
  logger: Logger;
  /** False while the clock is untrusted: nothing is claimed (rule 9). */
  canFire: () => boolean;
  bootEpoch: number;
  config: RunnerConfig;
  /** A run's due time changed (a retry was scheduled): the scheduler re-plans its wake-up. */
  onWorkChanged: () => void;
  /** An unexpected error with live state. Production exits the process; it must not return normally. */
  onFatal: (err: unknown, where: string) => void;
  /** Observers for metrics (lateness = dial issued - slot time, first attempts only). */
  onDial?: (run: RunRow, latenessMs: number | null) => void;
  onOutcome?: (run: RunRow, outcome: string) => void;
}

interface Current {
  claim: Claim;
  call: ActiveCall | null;
  state: 'dialing' | 'alerting' | 'active';
  answeredAt: number | null;
  /** A cancel reached the call before it was answered: hang up (once). */
  cancelling: string | null;
}

/**
 * A cancelled call that has not ended this long after its hang-up (a modem that ignores the
 * hang-up) is cut: the line is cleared and the attempt recorded as cancelled at once, instead of
 * at the call's deadline.
 */
const CANCEL_GRACE_MS = 2_000;

export class CallRunner {
  private draining: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private current: Current | null = null;
  /** Gives up on the call in progress (the line is cleared), saying why. */
  private stopping: ((why: string) => void) | null = null;
  private readonly log: Logger;
  /** Since when the modem reports a call up that the runner no longer watches (null: not). */
  private lineBusySince: number | null = null;
  private lineBusyTimer: unknown = null;

  constructor(private readonly d: RunnerDeps) {
    this.log = d.logger.child({ component: 'runner' });
  }

  /** Ask the runner to look for due work. Cheap; safe to call often. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when the runner has no more due work (tests and graceful shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** True while the runner works: a claim on its way, a call, its outcome's write. */
  working(): boolean {
    return this.draining !== null;
  }

  busy(): { runId: string; attemptId: string } | null {
    const c = this.current;
    return c ? { runId: c.claim.run.id, attemptId: c.claim.attempt.id } : null;
  }

  /**
   * A booking changed (here or in another process): if a cancel reached the call in progress and
   * it is not answered yet, hang it up. An answered call is never cut.
   */
  checkCancel(): void {
    const c = this.current;
    if (!c || c.state === 'active' || c.cancelling !== null) return;
    let reason: string | null;
    try {
      reason = this.d.lifecycle.cancelRequested(c.claim.run.id);
    } catch (err) {
      if (isTransient(err)) return; // the next change or poll looks again
      this.d.onFatal(err, 'checking a cancel');
      return;
    }
    if (reason === null) return;
    c.cancelling = reason;
    this.log.info({ runId: c.claim.run.id, reason }, 'cancel reached a ringing call: hanging up');
    if (c.call) this.hangUpCancelled(c, c.call);
  }

  /** Hang up a cancelled call; one the modem does not end within CANCEL_GRACE_MS is cut. */
  private hangUpCancelled(c: Current, call: ActiveCall): void {
    void call.hangup().catch(() => undefined);
    this.d.clock.setTimeout(() => {
      if (this.current === c && c.state !== 'active')
        this.stopping?.('the call did not end after the cancel hung it up; line cleared');
    }, CANCEL_GRACE_MS);
  }

  /**
   * Stop claiming; hang up a call in progress so the attempt ends with a recorded outcome. A call
   * the modem does not end within `stopGraceMs` of the hang-up (a wedged driver) is given up on:
   * the line is cleared and the attempt recorded, so a shutdown never waits for a call's deadline.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.call?.hangup().catch(() => undefined);
    if (this.current) {
      const giveUp = this.stopping;
      const t = this.d.clock.setTimeout(
        () => giveUp?.('the agent stopped and the call did not end after the hang-up'),
        this.d.config.stopGraceMs ?? 5_000,
      );
      await this.idle();
      this.d.clock.clearTimeout(t);
    }
    await this.idle();
  }

  /**
   * The modem still has a call up that the runner gave up on (a cancelled call cut after its
   * grace, a wedged one cleared): the next dial waits for the line to clear — one call at a time —
   * but at most `hangGraceMs`, so a driver stuck reporting a call cannot stop all calling (the dial
   * then says what the modem thinks).
   */
  private lineBusy(): boolean {
    if (this.d.modem.status().state !== 'in_call') {
      this.lineBusySince = null;
      return false;
    }
    const now = this.d.clock.now();
    this.lineBusySince ??= now;
    if (now - this.lineBusySince >= this.d.config.hangGraceMs) return false;
    if (this.lineBusyTimer === null) {
      this.lineBusyTimer = this.d.clock.setTimeout(() => {
        this.lineBusyTimer = null;
        this.kick();
      }, 500);
    }
    return true;
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped || !this.d.canFire() || this.lineBusy()) return;
      const settled: Settled[] = [];
      let claim: Claim | null;
      try {
        // Asked again on every retry of a busy store: a restart hold or an untrusted clock that
        // came while the claim waited stops it (agent/restart-hold.ts).
        claim = await this.durably('claim', () =>
          this.stopped || !this.d.canFire()
            ? null
            : this.d.lifecycle.claimNext(this.d.bootEpoch, this.d.clock.now(), settled),
        );
      } catch (err) {
        if (!this.stopped) this.d.onFatal(err, 'claiming a run');
        return;
      }
      for (const s of settled) this.log.warn(s, 'run settled without a dial');
      if (settled.length > 0) this.d.onWorkChanged();
      if (!claim) return;
      try {
        await this.execute(claim);
      } catch (err) {
        // Live state we can no longer vouch for: exit, let systemd restart, reconcile (STYLE avoid 3).
        this.d.onFatal(err, 'running an attempt');
        return;
      } finally {
        this.current = null;
      }
    }
  }

  private async execute(claim: Claim): Promise<void> {
    const { clock, modem, lifecycle } = this.d;
    const { run, attempt } = claim;
    const log = this.log.child({ runId: run.id, attemptId: attempt.id, bookingId: run.bookingId });
    const c: Current = { claim, call: null, state: 'dialing', answeredAt: null, cancelling: null };
    this.current = c;
    this.d.onDial?.(run, claim.latenessMs);
    log.info({ callee: claim.number, latenessMs: claim.latenessMs }, 'dialing');

    const onState = (e: CallStateEvent) => {
      if (e.state !== 'alerting' && e.state !== 'active') return;
      if (e.state === 'active') c.answeredAt = e.at;
      c.state = e.state;
      this.mark(claim, e.state, e.at, log);
    };

    let outcome: CallOutcome;
    this.checkCancel();
    if (c.cancelling !== null || this.stopped) {
      outcome = notDialled(clock.now(), c.cancelling ?? 'the agent is stopping');
    } else {
      const limitMs =
        (run.call.ringTimeoutSec + run.call.maxDurationSec) * 1000 + this.d.config.hangGraceMs;
      try {
        const call = await this.bounded(
          modem.dial(
            {
              number: claim.number,
              ringTimeoutMs: run.call.ringTimeoutSec * 1000,
              maxDurationMs: run.call.maxDurationSec * 1000,
              ...(run.call.announcement !== undefined
                ? { announcement: run.call.announcement }
                : {}),
            },
            onState,
          ),
          limitMs,
        );
        c.call = call;
        // A cancel or a stop that arrived while the dial command was on its way.
        const abandon = new Promise<string>((resolve) => (this.stopping = resolve));
        if (c.cancelling !== null && c.state !== 'active') this.hangUpCancelled(c, call);
        else if (this.stopped && c.state !== 'active') void call.hangup().catch(() => undefined);
        outcome = await watchCall({
          call,
          clock,
          abandon,
          limitMs,
          graceMs: this.d.config.hangGraceMs,
          answeredAt: () => c.answeredAt ?? undefined,
          clearLine: () => modem.hangupAll(),
        });
      } catch (err) {
        this.stopping = null;
        outcome = {
          result: 'modem_error',
          answered: false,
          answeredAt: null,
          endedAt: clock.now(),
          endedBy: 'modem',
          detail: (err as Error).message,
        };
      }
    }
    const end: CallEnd = {
      result: outcome.result,
      answered: outcome.answered || c.answeredAt !== null,
      answeredAt: outcome.answeredAt ?? c.answeredAt,
      endedAt: outcome.endedAt,
      endedBy: outcome.endedBy,
      detail: outcome.detail ?? null,
    };
    const decided = await this.durably('outcome', () =>
      lifecycle.recordOutcome(claim, end, clock.now(), { stopping: this.stopped }),
    );
    if (!decided) {
      log.warn({ outcome: end.result }, 'stale attempt: outcome not recorded (fenced)');
      return;
    }
    this.d.onOutcome?.(run, decided.outcome);
    log.info(
      { outcome: decided.outcome, runStatus: decided.status, reason: decided.reason },
      'call ended',
    );
    this.d.onWorkChanged();
  }

  /**
   * A dial the driver never completes (a wedged HAL) must not hold the runner for good: past the
   * call's whole limit it fails as a modem error, the line is cleared, and a call that still comes
   * up late is hung up at once.
   */
  private bounded(dialing: Promise<ActiveCall>, limitMs: number): Promise<ActiveCall> {
    const { clock, modem } = this.d;
    return new Promise<ActiveCall>((resolve, reject) => {
      let late = false;
      const timer = clock.setTimeout(() => {
        late = true;
        void modem.hangupAll().catch(() => undefined);
        reject(new Error(`the modem did not complete the dial within ${limitMs} ms`));
      }, limitMs);
      dialing.then(
        (call) => {
          clock.clearTimeout(timer);
          if (late) void call.hangup().catch(() => undefined);
          else resolve(call);
        },
        (err: unknown) => {
          clock.clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  /** A progress mark: retried when storage is busy, never allowed to end the call. */
  private mark(claim: Claim, state: 'alerting' | 'active', at: number, log: Logger): void {
    void this.durably(`mark ${state}`, () => this.d.lifecycle.markCall(claim, state, at)).catch(
      (err: unknown) => {
        if (isTransient(err) || (err as Error).name === 'TransientGaveUp') {
          // The outcome (a durable commit) carries answeredAt anyway.
          log.warn({ err, state }, 'progress mark not written; the call goes on');
          return;
        }
        this.d.onFatal(err, `marking a call ${state}`);
      },
    );
  }

  private durably<T>(what: string, fn: () => T): Promise<T> {
    return retryTransient(fn, {
      what,
      timers: this.d.clock,
      stopped: () => false,
      giveUpMs: this.d.config.writeGiveUpMs,
      onRetry: (err, n) => {
        if (n === 1 || n % 10 === 0)
          this.log.warn({ err, what, tries: n }, 'storage busy; retrying');
      },
    });
  }
}

/** The attempt was claimed, but a cancel (or the agent's stop) came before the modem dialled. */
function notDialled(now: number, why: string): CallOutcome {
  return {
    result: 'modem_error',
    answered: false,
    answeredAt: null,
    endedAt: now,
    endedBy: 'local',
    detail: `not dialled: ${why}`,
  };
}
