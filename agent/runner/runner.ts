/**
 * The call runner (rule 2: the runner owns work). One voice line, so one call at a time: due runs
 * are claimed in slot order. A claim is a lease under a fresh attempt id (the fencing token, rule 3);
 * the attempt is recorded as `dialing` and committed BEFORE the modem is asked to dial (rule 4);
 * the lease is renewed by heartbeats while the call lasts; every later write is conditioned on the
 * attempt id, so a stale attempt changes nothing. Failed attempts retry with capped exponential
 * backoff; after the last one the run goes to the dead letter, from where it can be replayed.
 */
import { randomUUID } from 'node:crypto';
import { retryWhileFull } from '../store/storage-health.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { AttemptRow, RunRow } from '../store/runs-repo.js';
import type { ActiveCall, CallOutcome, CallStateEvent, Modem } from '../../hal/types.js';
import { attemptPayload, runStatePayload } from './events.js';
import { watchCall } from './call-watch.js';
import { recordOutcome, recordRefusal } from './outcome-records.js';

export interface DialVerdictRefused {
  ok: false;
  reason: string;
  message: string;
}
export interface DialGuard {
  check(
    number: string,
    ctx: { now: number; callsLastHour: number; callsLastDay: number; allowQuietHours?: boolean },
  ): { ok: true } | DialVerdictRefused;
}

export interface RunnerConfig {
  leaseMs: number;
  heartbeatMs: number;
  /** Extra time past ring timeout + max duration before a call that never ends is abandoned. */
  hangGraceMs: number;
}

export interface RunnerDeps {
  store: Store;
  clock: Clock;
  modem: Modem;
  logger: Logger;
  dialGuard: DialGuard;
  /** False while the clock is untrusted: nothing is claimed (rule 9). */
  canFire: () => boolean;
  bootEpoch: number;
  config: RunnerConfig;
  random?: () => number;
  /** Observers for metrics (lateness = dial issued - slot time, first attempts only). */
  onDial?: (run: RunRow, latenessMs: number | null) => void;
  onOutcome?: (run: RunRow, outcome: string) => void;
}

interface Claim {
  run: RunRow;
  attempt: AttemptRow;
}

const HOUR = 3_600_000;

export class CallRunner {
  private draining: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private current: { runId: string; attemptId: string; call: ActiveCall | null } | null = null;
  private readonly log: Logger;
  private readonly random: () => number;

  constructor(private readonly d: RunnerDeps) {
    this.log = d.logger.child({ component: 'runner' });
    this.random = d.random ?? Math.random;
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

  busy(): { runId: string; attemptId: string } | null {
    return this.current ? { runId: this.current.runId, attemptId: this.current.attemptId } : null;
  }

  /** Stop claiming; hang up a call in progress so the attempt ends with a recorded outcome. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.call?.hangup().catch(() => undefined);
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped || !this.d.canFire()) return;
      const claim = this.claimNext();
      if (!claim) return;
      try {
        await this.execute(claim);
      } catch (err) {
        // A bug or a database error must not leave the runner dead: log, and let the next kick retry.
        this.log.error({ err, runId: claim.run.id }, 'attempt failed unexpectedly');
        return;
      } finally {
        this.current = null;
      }
    }
  }

  /** Claim the most overdue run under a fresh attempt id, in one transaction. */
  claimNext(): Claim | null {
    const { store, clock } = this.d;
    const now = clock.now();
    return store.tx(() => {
      if (store.runs.liveAttempts().some((a) => a.bootEpoch === this.d.bootEpoch)) return null;
      let run = store.runs.nextDue(now);
      // Rule 9 at the last moment: a slot planned in time can still go stale before it is dialled
      // (a crash and a long downtime, a clock jump, a line busy with a hung call).
      while (run && this.skipIfStale(run, now)) run = store.runs.nextDue(now);
      if (!run) return null;
      const attempt = store.runs.claim(
        run.id,
        {
          id: randomUUID(),
          bootEpoch: this.d.bootEpoch,
          leaseExpiresAt: now + this.d.config.leaseMs,
        },
        now,
      );
      if (!attempt) return null;
      return { run: { ...run, status: 'running', leaseAttemptId: attempt.id }, attempt };
    });
  }

  /**
   * A first attempt whose slot is older than the booking's catch-up window follows its misfire
   * policy: `skip` ends the run as skipped with the reason; `fire_once` goes ahead, said so once.
   * Retries and replays are deliberate and exempt. Call inside the claim transaction.
   */
  private skipIfStale(run: RunRow, now: number): boolean {
    if (run.kind !== 'booking' || run.bookingId === null || run.dials > 0 || run.replays > 0)
      return false;
    if (run.status !== 'pending') return false;
    const spec = this.d.store.bookings.get(run.bookingId)?.spec;
    if (!spec) return false;
    const late = now - run.slotAt;
    if (late <= spec.catchUpWindowSec * 1000 || run.reason === 'misfire_fire_once') return false;
    const skip = spec.misfire === 'skip';
    const reason = skip ? 'misfire_skipped' : 'misfire_fire_once';
    const status = skip ? 'skipped' : 'pending';
    if (!this.d.store.runs.transition(run.id, 'pending', { status, now, reason, dueAt: run.dueAt }))
      return false;
    this.d.store.outbox.add(
      'run.state',
      runStatePayload(run, status, reason, { lateMs: late }),
      now,
    );
    this.log.warn({ runId: run.id, lateMs: late, reason }, 'slot went stale before dialling');
    return skip;
  }

  private async execute({ run, attempt }: Claim): Promise<void> {
    const { store, clock, modem } = this.d;
    const log = this.log.child({ runId: run.id, attemptId: attempt.id, bookingId: run.bookingId });
    this.current = { runId: run.id, attemptId: attempt.id, call: null };

    const verdict = this.checkPolicy(run);
    if (!verdict.ok) {
      await this.durably(() => this.refuse(run, attempt, verdict), log);
      log.warn({ reason: verdict.reason }, `dial refused by policy: ${verdict.message}`);
      return;
    }

    // Rule 4: the attempt is durably "dialing" before the modem dials.
    const dialAt = clock.now();
    const lateness = attempt.attemptNo === 1 && run.replays === 0 ? dialAt - run.slotAt : null;
    const recorded = await this.durably(
      () =>
        store.tx(() => {
          const ok = store.runs.updateAttempt(attempt.id, {
            status: 'dialing',
            now: dialAt,
            leaseExpiresAt: dialAt + this.d.config.leaseMs,
            dialAt,
            ...(lateness !== null ? { latenessMs: lateness } : {}),
          });
          if (!ok || !store.runs.countDial(run.id, attempt.id, dialAt)) return false;
          store.outbox.add(
            'attempt.dialing',
            attemptPayload(run, attempt, {
              at: new Date(dialAt).toISOString(),
              latenessMs: lateness,
            }),
            dialAt,
            'telemetry',
          );
          return true;
        }),
      log,
    );
    if (!recorded) {
      log.warn('lease lost before dialing; not dialing');
      return;
    }
    this.d.onDial?.(run, lateness);
    log.info({ callee: run.call.callee, latenessMs: lateness }, 'dialing');

    let state: 'dialing' | 'alerting' | 'active' = 'dialing';
    let answeredAt: number | undefined;
    const onState = (e: CallStateEvent) => {
      if (e.state === 'alerting' || e.state === 'active') {
        if (e.state === 'active') answeredAt = e.at;
        state = e.state;
        this.touch(attempt.id, state, answeredAt);
      }
    };

    let outcome: CallOutcome;
    try {
      const call = await modem.dial(
        {
          number: run.call.callee,
          ringTimeoutMs: run.call.ringTimeoutSec * 1000,
          maxDurationMs: run.call.maxDurationSec * 1000,
        },
        onState,
      );
      if (this.current) this.current.call = call;
      outcome = await watchCall({
        call,
        clock,
        heartbeatMs: this.d.config.heartbeatMs,
        limitMs:
          (run.call.ringTimeoutSec + run.call.maxDurationSec) * 1000 + this.d.config.hangGraceMs,
        graceMs: this.d.config.hangGraceMs,
        onBeat: () => this.touch(attempt.id, state, answeredAt),
        answeredAt: () => answeredAt,
        clearLine: () => modem.hangupAll(),
      });
    } catch (err) {
      outcome = {
        result: 'modem_error',
        answered: false,
        answeredAt: null,
        endedAt: clock.now(),
        endedBy: 'modem',
        detail: (err as Error).message,
      };
    }
    await this.durably(() => this.finish(run, attempt, outcome, log), log);
  }

  /**
   * A full disk must not leave a claimed attempt behind (it would block the one voice line until a
   * restart): the small writes around a call wait for space and retry. Other errors propagate.
   */
  private durably<T>(fn: () => T, log: Logger): Promise<T> {
    return retryWhileFull(fn, {
      setTimeout: (f, ms) => this.d.clock.setTimeout(f, ms),
      stopped: () => this.stopped,
      onRetry: () => log.warn('storage full; retrying the attempt record'),
    });
  }

  private touch(attemptId: string, status: 'dialing' | 'alerting' | 'active', answeredAt?: number) {
    const now = this.d.clock.now();
    this.d.store.runs.updateAttempt(attemptId, {
      status,
      now,
      leaseExpiresAt: now + this.d.config.leaseMs,
      ...(answeredAt !== undefined ? { answeredAt } : {}),
    });
  }

  private checkPolicy(run: RunRow): { ok: true } | DialVerdictRefused {
    const now = this.d.clock.now();
    return this.d.dialGuard.check(run.call.callee, {
      now,
      callsLastHour: this.d.store.runs.dialsSince(now - HOUR),
      callsLastDay: this.d.store.runs.dialsSince(now - 24 * HOUR),
      allowQuietHours: run.call.allowQuietHours,
    });
  }

  private refuse(run: RunRow, attempt: AttemptRow, v: DialVerdictRefused): void {
    recordRefusal(this.d.store, run, attempt, v, this.d.clock.now());
    this.d.onOutcome?.(run, 'refused');
  }

  /** Record the outcome and decide the run's fate, fenced on the attempt id. */
  private finish(run: RunRow, attempt: AttemptRow, o: CallOutcome, log: Logger): void {
    const applied = recordOutcome(this.d.store, run, attempt, o, this.d.clock.now(), this.random);
    if (!applied) {
      log.warn({ outcome: o.result }, 'stale attempt: outcome not recorded (fenced)');
      return;
    }
    this.d.onOutcome?.(run, o.result);
    log.info(
      { outcome: o.result, runStatus: applied.status, reason: applied.reason },
      'call ended',
    );
  }
}
