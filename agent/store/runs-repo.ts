/**
 * Queries on runs (owed calls) and attempts (claims of a run). Every write made on behalf of an
 * attempt is conditioned on the run's current lease_attempt_id (the fencing token, rule 3): a stale
 * writer's statement matches no row and changes nothing.
 */
import type { Db } from './db.js';
import type { RetryPolicy } from '../bookings/schema.js';

export type RunStatus =
  'pending' | 'running' | 'retry_wait' | 'completed' | 'dead' | 'skipped' | 'cancelled' | 'refused';
export type RunKind = 'booking' | 'test';
export type AttemptStatus =
  'claimed' | 'dialing' | 'alerting' | 'active' | 'ended' | 'abandoned' | 'refused';

/** What to dial, frozen into the run when it is planned, so a run is self-contained. */
export interface CallSpec {
  callee: string;
  agentId: string;
  ringTimeoutSec: number;
  maxDurationSec: number;
  retry: RetryPolicy;
  allowQuietHours: boolean;
}

export interface RunRow {
  id: string;
  bookingId: string | null;
  kind: RunKind;
  slotAt: number;
  status: RunStatus;
  dueAt: number;
  dials: number;
  maxAttempts: number;
  replays: number;
  call: CallSpec;
  leaseAttemptId: string | null;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface AttemptRow {
  id: string;
  runId: string;
  attemptNo: number;
  bootEpoch: number;
  status: AttemptStatus;
  leaseExpiresAt: number;
  heartbeatAt: number;
  claimedAt: number;
  dialAt: number | null;
  answeredAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  detail: string | null;
  latenessMs: number | null;
}

interface RawRun {
  id: string;
  booking_id: string | null;
  kind: RunKind;
  slot_at: number;
  status: RunStatus;
  due_at: number;
  dials: number;
  max_attempts: number;
  replays: number;
  call: string;
  lease_attempt_id: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface RawAttempt {
  id: string;
  run_id: string;
  attempt_no: number;
  boot_epoch: number;
  status: AttemptStatus;
  lease_expires_at: number;
  heartbeat_at: number;
  claimed_at: number;
  dial_at: number | null;
  answered_at: number | null;
  ended_at: number | null;
  outcome: string | null;
  detail: string | null;
  lateness_ms: number | null;
}

const toRun = (r: RawRun): RunRow => ({
  id: r.id,
  bookingId: r.booking_id,
  kind: r.kind,
  slotAt: r.slot_at,
  status: r.status,
  dueAt: r.due_at,
  dials: r.dials,
  maxAttempts: r.max_attempts,
  replays: r.replays,
  call: JSON.parse(r.call) as CallSpec,
  leaseAttemptId: r.lease_attempt_id,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
});

const toAttempt = (r: RawAttempt): AttemptRow => ({
  id: r.id,
  runId: r.run_id,
  attemptNo: r.attempt_no,
  bootEpoch: r.boot_epoch,
  status: r.status,
  leaseExpiresAt: r.lease_expires_at,
  heartbeatAt: r.heartbeat_at,
  claimedAt: r.claimed_at,
  dialAt: r.dial_at,
  answeredAt: r.answered_at,
  endedAt: r.ended_at,
  outcome: r.outcome,
  detail: r.detail,
  latenessMs: r.lateness_ms,
});

export const LIVE_ATTEMPT = ['claimed', 'dialing', 'alerting', 'active'] as const;
export const TERMINAL_RUN: readonly RunStatus[] = [
  'completed',
  'dead',
  'skipped',
  'cancelled',
  'refused',
];

export interface NewRun {
  id: string;
  bookingId: string | null;
  kind: RunKind;
  slotAt: number;
  status: 'pending' | 'skipped' | 'refused';
  dueAt: number;
  maxAttempts: number;
  call: CallSpec;
  reason: string | null;
}

export class RunsRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    const p = <P extends unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
    this.s = {
      insert: p(
        `INSERT INTO runs (id, booking_id, kind, slot_at, status, due_at, max_attempts, call, reason,
           created_at, updated_at, finished_at)
         VALUES (@id, @bookingId, @kind, @slotAt, @status, @dueAt, @maxAttempts, @call, @reason, @now, @now,
           CASE WHEN @status IN ('skipped', 'refused') THEN @now END)
         ON CONFLICT (booking_id, slot_at) DO NOTHING`,
      ),
      get: p<[string], RawRun>('SELECT * FROM runs WHERE id = ?'),
      nextDue: p<[number], RawRun>(
        `SELECT * FROM runs WHERE status IN ('pending', 'retry_wait') AND due_at <= ?
         ORDER BY due_at, slot_at, created_at LIMIT 1`,
      ),
      nextDueAt: p<[number], { t: number | null }>(
        `SELECT min(due_at) AS t FROM runs WHERE status IN ('pending', 'retry_wait') AND due_at > ?`,
      ),
      claimRun: p(
        `UPDATE runs SET status = 'running', lease_attempt_id = @attemptId, updated_at = @now
         WHERE id = @runId AND status IN ('pending', 'retry_wait')`,
      ),
      insertAttempt: p(
        `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, lease_expires_at, heartbeat_at, claimed_at)
         VALUES (@id, @runId, @attemptNo, @bootEpoch, 'claimed', @leaseExpiresAt, @now, @now)`,
      ),
      attemptCount: p<[string], { n: number }>(
        'SELECT count(*) AS n FROM attempts WHERE run_id = ?',
      ),
      getAttempt: p<[string], RawAttempt>('SELECT * FROM attempts WHERE id = ?'),
      attemptsOfRun: p<[string], RawAttempt>(
        'SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt_no',
      ),
      liveAttempts: p<[], RawAttempt>(
        `SELECT * FROM attempts WHERE status IN ('claimed', 'dialing', 'alerting', 'active') ORDER BY claimed_at`,
      ),
      // Fenced: only the run's current lease holder may move its attempt forward.
      fencedAttempt: p(
        `UPDATE attempts SET status = @status, heartbeat_at = @now, lease_expires_at = @leaseExpiresAt,
           dial_at = coalesce(@dialAt, dial_at), answered_at = coalesce(@answeredAt, answered_at),
           ended_at = coalesce(@endedAt, ended_at), outcome = coalesce(@outcome, outcome),
           detail = coalesce(@detail, detail), lateness_ms = coalesce(@latenessMs, lateness_ms)
         WHERE id = @attemptId AND status IN ('claimed', 'dialing', 'alerting', 'active')
           AND EXISTS (SELECT 1 FROM runs WHERE runs.id = attempts.run_id AND runs.lease_attempt_id = @attemptId)`,
      ),
      incDials: p(
        `UPDATE runs SET dials = dials + 1, updated_at = @now WHERE id = @runId AND lease_attempt_id = @attemptId`,
      ),
      fencedRun: p(
        `UPDATE runs SET status = @status, due_at = coalesce(@dueAt, due_at), reason = @reason,
           lease_attempt_id = CASE WHEN @status = 'running' THEN lease_attempt_id END,
           updated_at = @now, finished_at = @finishedAt
         WHERE id = @runId AND lease_attempt_id = @attemptId AND status = 'running'`,
      ),
      setRun: p(
        `UPDATE runs SET status = @status, due_at = coalesce(@dueAt, due_at), reason = @reason,
           lease_attempt_id = NULL, updated_at = @now, finished_at = @finishedAt,
           replays = replays + @replayInc, max_attempts = coalesce(@maxAttempts, max_attempts),
           dials = CASE WHEN @replayInc > 0 THEN 0 ELSE dials END
         WHERE id = @runId AND status = @fromStatus`,
      ),
      openOfBooking: p<[string], RawRun>(
        `SELECT * FROM runs WHERE booking_id = ? AND status IN ('pending', 'retry_wait')`,
      ),
      upcoming: p<[number], RawRun>(
        `SELECT * FROM runs WHERE status IN ('pending', 'retry_wait', 'running') ORDER BY due_at LIMIT ?`,
      ),
      recent: p<[number], RawRun>(
        `SELECT * FROM runs WHERE status NOT IN ('pending', 'retry_wait', 'running')
         ORDER BY coalesce(finished_at, updated_at) DESC LIMIT ?`,
      ),
      byStatus: p<[string, number], RawRun>(
        'SELECT * FROM runs WHERE status = ? ORDER BY updated_at DESC LIMIT ?',
      ),
      dialsSince: p<[number], { n: number }>(
        'SELECT count(*) AS n FROM attempts WHERE dial_at IS NOT NULL AND dial_at >= ?',
      ),
      statusCounts: p<[], { status: RunStatus; n: number }>(
        'SELECT status, count(*) AS n FROM runs GROUP BY status',
      ),
    };
  }

  insert(run: NewRun, now: number): boolean {
    return this.s.insert.run({ ...run, call: JSON.stringify(run.call), now }).changes === 1;
  }

  get(id: string): RunRow | null {
    const r = this.s.get.get(id);
    return r ? toRun(r) : null;
  }

  nextDue(now: number): RunRow | null {
    const r = this.s.nextDue.get(now);
    return r ? toRun(r) : null;
  }

  /** The next time a waiting run falls due, strictly after `after` (runs already due are the runner's). */
  nextDueAfter(after: number): number | null {
    return this.s.nextDueAt.get(after)?.t ?? null;
  }

  /** Take the lease: the run becomes 'running' under a fresh attempt id. False if someone else has it. */
  claim(
    runId: string,
    attempt: { id: string; bootEpoch: number; leaseExpiresAt: number },
    now: number,
  ): AttemptRow | null {
    if (this.s.claimRun.run({ runId, attemptId: attempt.id, now }).changes !== 1) return null;
    const attemptNo = this.s.attemptCount.get(runId)!.n + 1;
    this.s.insertAttempt.run({ ...attempt, runId, attemptNo, now });
    return this.getAttempt(attempt.id);
  }

  getAttempt(id: string): AttemptRow | null {
    const r = this.s.getAttempt.get(id);
    return r ? toAttempt(r) : null;
  }

  attemptsOf(runId: string): AttemptRow[] {
    return this.s.attemptsOfRun.all(runId).map(toAttempt);
  }

  liveAttempts(): AttemptRow[] {
    return this.s.liveAttempts.all().map(toAttempt);
  }

  /** Fenced attempt update; returns false (and changes nothing) for a stale attempt id. */
  updateAttempt(
    attemptId: string,
    f: {
      status: AttemptStatus;
      now: number;
      leaseExpiresAt: number;
      dialAt?: number;
      answeredAt?: number;
      endedAt?: number;
      outcome?: string;
      detail?: string;
      latenessMs?: number;
    },
  ): boolean {
    return (
      this.s.fencedAttempt.run({
        attemptId,
        status: f.status,
        now: f.now,
        leaseExpiresAt: f.leaseExpiresAt,
        dialAt: f.dialAt ?? null,
        answeredAt: f.answeredAt ?? null,
        endedAt: f.endedAt ?? null,
        outcome: f.outcome ?? null,
        detail: f.detail ?? null,
        latenessMs: f.latenessMs ?? null,
      }).changes === 1
    );
  }

  countDial(runId: string, attemptId: string, now: number): boolean {
    return this.s.incDials.run({ runId, attemptId, now }).changes === 1;
  }

  /** Fenced run transition out of 'running' (or a heartbeat-style touch when status stays running). */
  finishAttemptRun(
    runId: string,
    attemptId: string,
    f: { status: RunStatus; now: number; dueAt?: number; reason: string | null },
  ): boolean {
    const terminal = TERMINAL_RUN.includes(f.status);
    return (
      this.s.fencedRun.run({
        runId,
        attemptId,
        status: f.status,
        dueAt: f.dueAt ?? null,
        reason: f.reason,
        now: f.now,
        finishedAt: terminal ? f.now : null,
      }).changes === 1
    );
  }

  /** Unfenced transition used by the store owner (cancel, replay, reconcile after a restart). */
  transition(
    runId: string,
    from: RunStatus,
    f: {
      status: RunStatus;
      now: number;
      dueAt?: number;
      reason: string | null;
      replay?: boolean;
      maxAttempts?: number;
    },
  ): boolean {
    const terminal = TERMINAL_RUN.includes(f.status);
    return (
      this.s.setRun.run({
        runId,
        fromStatus: from,
        status: f.status,
        dueAt: f.dueAt ?? null,
        reason: f.reason,
        now: f.now,
        finishedAt: terminal ? f.now : null,
        replayInc: f.replay ? 1 : 0,
        maxAttempts: f.maxAttempts ?? null,
      }).changes === 1
    );
  }

  openRunsOfBooking(bookingId: string): RunRow[] {
    return this.s.openOfBooking.all(bookingId).map(toRun);
  }

  upcoming(limit = 50): RunRow[] {
    return this.s.upcoming.all(limit).map(toRun);
  }

  recent(limit = 50): RunRow[] {
    return this.s.recent.all(limit).map(toRun);
  }

  withStatus(status: RunStatus, limit = 100): RunRow[] {
    return this.s.byStatus.all(status, limit).map(toRun);
  }

  dialsSince(since: number): number {
    return this.s.dialsSince.get(since)!.n;
  }

  statusCounts(): Partial<Record<RunStatus, number>> {
    const out: Partial<Record<RunStatus, number>> = {};
    for (const r of this.s.statusCounts.all()) out[r.status] = r.n;
    return out;
  }
}
