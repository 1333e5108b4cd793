/**
 * The run lifecycle: the ONE writer of `runs` and `attempts` (docs/lifecycle.md). The planner, the
 * runner, the apply path (cancel, pause, edit), restart reconciliation, replays and test calls all
 * change runs through this class. Every method is one transaction (or runs inside the caller's); each
 * transition is a conditioned statement (run-writes.ts) and writes exactly one typed outbox event.
 */
import type { Store } from '../store/store.js';
import type { BookingRow } from '../store/bookings-repo.js';
import type { AttemptRow, CallSpec, RunRow, RunStatus } from '../store/runs-repo.js';
import type { Booking } from '../bookings/schema.js';
import type { EndedBy } from '../../sync/contract/events.js';
import { nextSlotOf } from '../bookings/slots.js';
import { RunWrites } from './run-writes.js';
import { timeOrderedId } from '../store/time-ordered-id.js';
import { decideAfterAttempt, decideMisfire, INTERRUPTED, type RunDecision } from './policy.js';
import {
  attemptDialingEvent,
  attemptEndedEvent,
  attemptMarkEvent,
  isoOf,
  runStateEvent,
} from './events.js';

export type DialRefusalVerdict = { ok: false; reason: string; message: string };
export type DialVerdict = { ok: true; e164: string } | DialRefusalVerdict;

/** The dial policy as the lifecycle needs it (agent/policy/dial-policy.ts implements it). */
export interface DialGuard {
  check(
    number: string,
    ctx: { now: number; callsLastHour: number; callsLastDay: number; allowQuietHours?: boolean },
  ): DialVerdict;
}

export class OperationError extends Error {
  constructor(
    message: string,
    /** not_found, conflict, invalid, or dial_policy:<reason>. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'OperationError';
  }
}

/** A run taken under a fresh attempt id, durably `dialing`: the runner may now dial `number`. */
export interface Claim {
  run: RunRow;
  attempt: AttemptRow;
  /** The normalised E.164 number the dial policy checked; the only string that reaches the modem. */
  number: string;
  latenessMs: number | null;
}

export interface Settled {
  runId: string;
  status: RunStatus;
  reason: string;
}

export interface CallEnd {
  result: string;
  answered: boolean;
  answeredAt: number | null;
  endedAt: number;
  endedBy: EndedBy;
  detail: string | null;
}

export interface TestCallRequest {
  callee: string;
  agentId?: string;
  ringTimeoutSec?: number;
  maxDurationSec?: number;
  requestedBy: string;
}

const HOUR = 3_600_000;

export function callSpecOf(b: Booking): CallSpec {
  return {
    callee: b.callee,
    agentId: b.agentId,
    ringTimeoutSec: b.ringTimeoutSec,
    maxDurationSec: b.maxDurationSec,
    retry: b.retry,
    allowQuietHours: b.allowQuietHours,
    ...(b.announcement !== undefined ? { announcement: b.announcement } : {}),
  };
}

/** True when `slotAt` is one of the booking's slots (an edit may have moved its schedule). */
export function isSlotOf(spec: Booking, slotAt: number): boolean {
  return nextSlotOf(spec, slotAt - 1) === slotAt;
}

export class RunLifecycle {
  private readonly w: RunWrites;
  private readonly random: () => number;

  constructor(
    private readonly store: Store,
    private readonly dialGuard: DialGuard,
    random?: () => number,
  ) {
    this.w = new RunWrites(store.db);
    this.random = random ?? Math.random;
  }

  // ---- planning (the scheduler) ----

  /** Write "a call is owed for slot S" (or its skip). Call inside the planner's transaction. */
  planSlot(b: BookingRow, slotAt: number, now: number): { created: boolean; fires: boolean } {
    const spec = b.spec!;
    const m = decideMisfire(spec, slotAt, now);
    const id = timeOrderedId(now);
    const status = m.fire ? 'pending' : 'skipped';
    const created = this.w.insert(
      {
        id,
        bookingId: b.id,
        bookingVersion: b.version,
        kind: 'booking',
        slotAt,
        status,
        dueAt: m.fire ? slotAt : now,
        maxAttempts: spec.retry.maxAttempts,
        call: callSpecOf(spec),
        reason: m.reason,
      },
      now,
    );
    if (created) {
      this.store.outbox.add(
        'run.state',
        runStateEvent(
          { id, bookingId: b.id, kind: 'booking', slotAt, dials: 0, bookingVersion: b.version },
          status,
          m.reason,
          { latenessMs: m.latenessMs },
        ),
        now,
      );
    }
    return { created, fires: m.fire };
  }

  // ---- the runner ----

  /**
   * Claim the most overdue run and record it as dialing, in one transaction: the booking is re-read
   * (an edit applies to every attempt not yet dialled), the misfire rule and the dial policy are
   * applied at this last moment, and runs that must not be dialled are settled on the way.
   * Returns null when nothing is due or this boot already has a call up (one voice line).
   */
  claimNext(bootEpoch: number, now: number, settled: Settled[] = []): Claim | null {
    return this.store.tx(() => {
      if (this.store.runs.liveAttempts().some((a) => a.bootEpoch === bootEpoch)) return null;
      for (;;) {
        const run = this.store.runs.nextDue(now);
        if (!run) return null;
        const claim = this.tryClaim(run, bootEpoch, now, settled);
        if (claim) return claim;
      }
    });
  }

  private tryClaim(run: RunRow, bootEpoch: number, now: number, settled: Settled[]): Claim | null {
    let call = run.call;
    let maxAttempts = run.maxAttempts;
    let bookingVersion: number | null = null;
    let late: string | null = run.reason === 'misfire_fire_once' ? run.reason : null;
    if (run.kind === 'booking') {
      const b = run.bookingId === null ? null : this.store.bookings.get(run.bookingId);
      const gone = bookingGoneReason(b, run.slotAt);
      if (gone !== null) {
        this.settleWaiting(run, 'cancelled', gone, now, settled);
        return null;
      }
      const spec = b!.spec!;
      bookingVersion = b!.version;
      call = callSpecOf(spec);
      maxAttempts = spec.retry.maxAttempts;
      const first = run.status === 'pending' && run.dials === 0 && run.replays === 0;
      if (first && run.reason !== 'misfire_fire_once') {
        const m = decideMisfire(spec, run.slotAt, now);
        if (!m.fire) {
          this.settleWaiting(run, 'skipped', m.reason, now, settled, { latenessMs: m.latenessMs });
          return null;
        }
        late = m.reason;
      }
    }
    const verdict = this.dialGuard.check(call.callee, {
      now,
      callsLastHour: this.store.runs.dialsSince(now - HOUR),
      callsLastDay: this.store.runs.dialsSince(now - 24 * HOUR),
      allowQuietHours: call.allowQuietHours,
    });
    if (!verdict.ok) {
      this.settleWaiting(run, 'refused', `dial_policy:${verdict.reason}`, now, settled, {
        message: verdict.message,
      });
      return null;
    }
    const attemptId = timeOrderedId(now);
    const firstDial = run.dials === 0 && run.replays === 0 && run.status === 'pending';
    const latenessMs = firstDial ? now - run.slotAt : null;
    const dialled: CallSpec = { ...call, callee: verdict.e164 };
    const ok = this.w.claim({
      runId: run.id,
      attemptId,
      bootEpoch,
      call: dialled,
      maxAttempts,
      bookingVersion,
      latenessMs,
      now,
    });
    if (!ok) return null;
    const claimed = this.store.runs.get(run.id)!;
    const attempt = this.store.runs.getAttempt(attemptId)!;
    this.store.outbox.add(
      'attempt.dialing',
      attemptDialingEvent(claimed, attempt, { at: now, bookingVersion, latenessMs, reason: late }),
      now,
    );
    return { run: claimed, attempt, number: verdict.e164, latenessMs };
  }

  /**
   * Progress of the call (alerting, answered). Crash-safe but not flushed (docs/lifecycle.md): a
   * killed process keeps it, a power cut may not. False for a stale attempt (changes nothing).
   */
  markCall(claim: Claim, state: 'alerting' | 'active', at: number): boolean {
    return this.store.txLight(() => {
      if (!this.w.mark(claim.attempt.id, state, state === 'active' ? at : null)) return false;
      this.store.outbox.add(
        state === 'active' ? 'attempt.answered' : 'attempt.alerting',
        attemptMarkEvent(claim.run, claim.attempt, at),
        at,
      );
      return true;
    });
  }

  /** The reason a cancel reached this running run, if one did (the runner then hangs up). */
  cancelRequested(runId: string): string | null {
    return this.store.runs.get(runId)?.cancelReason ?? null;
  }

  /**
   * The end of an attempt and the run's next state, fenced on the attempt id. `stopping`: the agent
   * hung the call up itself to shut down. Returns null (and writes nothing) for a stale attempt.
   */
  recordOutcome(
    claim: Claim,
    end: CallEnd,
    now: number,
    ctx: { stopping: boolean } = { stopping: false },
  ): (RunDecision & { outcome: string }) | null {
    return this.store.tx(() => {
      const run = this.store.runs.get(claim.run.id);
      if (!run || run.status !== 'running' || run.leaseAttemptId !== claim.attempt.id) return null;
      const b = run.bookingId === null ? null : this.store.bookings.get(run.bookingId);
      const cancelReason =
        run.cancelReason ?? (run.kind === 'booking' ? bookingGoneReason(b, run.slotAt) : null);
      let outcome = end.result;
      let endedBy = end.endedBy;
      let detail = end.detail;
      if (!end.answered && run.cancelReason !== null) {
        outcome = 'cancelled';
        detail = `hung up: ${run.cancelReason}`;
      } else if (!end.answered && ctx.stopping) {
        outcome = INTERRUPTED;
        endedBy = 'agent';
        detail = 'the agent stopped during the call';
      }
      const spec = b?.spec ?? null;
      const retry = spec ? spec.retry : run.call.retry;
      const interruptions =
        this.store.runs.outcomesOf(run.id, INTERRUPTED) + (outcome === INTERRUPTED ? 1 : 0);
      const decision = decideAfterAttempt(
        {
          outcome,
          answered: end.answered,
          dials: run.dials,
          interruptions,
          maxAttempts: spec ? spec.retry.maxAttempts : run.maxAttempts,
          retry,
          cancelReason,
        },
        now,
        this.random,
      );
      const ended = this.w.endAttempt({
        attemptId: claim.attempt.id,
        endedAt: end.endedAt,
        outcome,
        detail,
        answeredAt: end.answeredAt,
      });
      if (!ended) return null;
      this.w.release({
        runId: run.id,
        attemptId: claim.attempt.id,
        status: decision.status,
        reason: decision.reason,
        dueAt: decision.dueAt,
        now,
      });
      this.store.outbox.add(
        'attempt.ended',
        attemptEndedEvent(run, claim.attempt, {
          outcome,
          answeredAt: end.answeredAt,
          endedAt: end.endedAt,
          endedBy,
          detail,
        }),
        now,
      );
      this.store.outbox.add(
        'run.state',
        runStateEvent(run, decision.status, decision.reason, {
          ...(decision.dueAt !== null ? { retryAt: isoOf(decision.dueAt) } : {}),
        }),
        now,
      );
      return { ...decision, outcome };
    });
  }

  // ---- booking changes (the apply path; call inside its transaction) ----

  /**
   * Cancel or pause reaches owed work: waiting runs end `cancelled` with the reason; a running call
   * not yet answered is flagged, and the runner hangs it up (an answered call is never cut).
   * Returns the runs flagged while running.
   */
  cancelBookingWork(bookingId: string, reason: string, now: number): string[] {
    for (const run of this.store.runs.openRunsOfBooking(bookingId)) {
      this.settleWaiting(run, 'cancelled', reason, now);
    }
    const flagged: string[] = [];
    for (const run of this.store.runs.runningOfBooking(bookingId)) {
      if (!this.w.requestCancel(run.id, reason, now)) continue;
      flagged.push(run.id);
      this.store.outbox.add('run.state', runStateEvent(run, 'cancelling', reason), now);
    }
    return flagged;
  }

  /** An edit moved the schedule: owed runs of slots it no longer has end `superseded_by_edit`. */
  supersedeRemovedSlots(bookingId: string, spec: Booking, now: number): number {
    let n = 0;
    for (const run of this.store.runs.openRunsOfBooking(bookingId)) {
      if (isSlotOf(spec, run.slotAt)) continue;
      if (this.settleWaiting(run, 'cancelled', 'superseded_by_edit', now)) n++;
    }
    return n;
  }

  // ---- operator actions ----

  /** Put a dead-lettered run back in the queue with a fresh set of attempts. */
  replay(runId: string, requestedBy: string, now: number): RunRow {
    return this.store.tx(() => {
      const run = this.store.runs.get(runId);
      if (!run) throw new OperationError(`no run with id ${runId}`, 'not_found');
      if (run.status !== 'dead') {
        throw new OperationError(
          `run ${runId} is ${run.status}; only dead-lettered runs can be replayed`,
          'conflict',
        );
      }
      if (run.kind === 'booking') {
        const b = run.bookingId === null ? null : this.store.bookings.get(run.bookingId);
        const gone = bookingGoneReason(b, run.slotAt);
        if (gone !== null) {
          throw new OperationError(
            `run ${runId} belongs to booking ${run.bookingId ?? '?'}, which is ${b?.status ?? 'unknown'} (${gone}); its calls are not replayed`,
            'conflict',
          );
        }
      }
      const reason = `replayed_by_${requestedBy}`;
      this.w.replay(runId, reason, now);
      const after = this.store.runs.get(runId)!;
      this.store.outbox.add(
        'run.state',
        runStateEvent(after, 'pending', reason, { replays: after.replays, requestedBy }),
        now,
      );
      return after;
    });
  }

  /** A technician's test call: checked by the dial policy now, and again when it is dialled. */
  requestTestCall(req: TestCallRequest, now: number): RunRow {
    return this.store.tx(() => {
      const verdict = this.dialGuard.check(req.callee, {
        now,
        callsLastHour: this.store.runs.dialsSince(now - HOUR),
        callsLastDay: this.store.runs.dialsSince(now - 24 * HOUR),
        allowQuietHours: true,
      });
      if (!verdict.ok) throw new OperationError(verdict.message, `dial_policy:${verdict.reason}`);
      const id = timeOrderedId(now);
      const reason = `test_call_by_${req.requestedBy}`;
      this.w.insert(
        {
          id,
          bookingId: null,
          bookingVersion: null,
          kind: 'test',
          slotAt: now,
          status: 'pending',
          dueAt: now,
          maxAttempts: 1,
          call: {
            callee: verdict.e164,
            agentId: req.agentId ?? 'test-call',
            ringTimeoutSec: req.ringTimeoutSec ?? 30,
            maxDurationSec: req.maxDurationSec ?? 60,
            retry: { maxAttempts: 1, initialBackoffSec: 60, maxBackoffSec: 60, jitter: 0 },
            allowQuietHours: true,
          },
          reason,
        },
        now,
      );
      const run = this.store.runs.get(id)!;
      this.store.outbox.add(
        'run.state',
        runStateEvent(run, 'pending', reason, { requestedBy: req.requestedBy }),
        now,
      );
      return run;
    });
  }

  // ---- internals shared with reconciliation ----

  /** Move a waiting run (no attempt holds it) to a new state, with its event. */
  settleWaiting(
    run: RunRow,
    status: 'cancelled' | 'skipped' | 'refused',
    reason: string,
    now: number,
    settled?: Settled[],
    extra: { latenessMs?: number; message?: string } = {},
  ): boolean {
    const ok = this.w.moveWaiting({
      runId: run.id,
      from: run.status,
      status,
      reason,
      dueAt: null,
      now,
    });
    if (!ok) return false;
    this.store.outbox.add('run.state', runStateEvent(run, status, reason, extra), now);
    settled?.push({ runId: run.id, status, reason });
    return true;
  }

  /** @internal for reconcile.ts (same module: the lifecycle is the one writer). */
  get writes(): RunWrites {
    return this.w;
  }
}

/**
 * Why a booking's run must not be dialled any more, or null: the booking is cancelled or paused,
 * or an edit moved its schedule so that the run's slot is no longer one of its slots.
 */
export function bookingGoneReason(b: BookingRow | null, slotAt: number): string | null {
  if (!b || !b.spec) return 'booking_cancelled';
  if (b.status === 'cancelled') return 'cancelled_by_cloud';
  if (b.status === 'paused') return 'paused';
  if (!isSlotOf(b.spec, slotAt)) return 'superseded_by_edit';
  return null;
}
