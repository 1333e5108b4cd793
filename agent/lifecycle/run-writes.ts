/**
 * The write statements on `runs` and `attempts` — imported by agent/lifecycle/ only (eslint
 * enforces it), so the lifecycle is the one writer of both tables. Every statement names the state
 * it expects; the work of an attempt is conditioned on the attempt id (the fencing token): a stale
 * writer's statement matches no row and changes nothing.
 */
import type { Db } from '../store/db.js';
import type { CallSpec, RunStatus } from '../store/runs-repo.js';

export interface InsertRun {
  id: string;
  bookingId: string | null;
  bookingVersion: number | null;
  kind: 'booking' | 'test';
  slotAt: number;
  status: 'pending' | 'skipped' | 'refused';
  dueAt: number;
  maxAttempts: number;
  call: CallSpec;
  reason: string | null;
}

export class RunWrites {
  private readonly s;

  constructor(db: Db) {
    const p = <P extends unknown[] | object>(sql: string) => db.prepare<P>(sql);
    this.s = {
      insert: p(
        `INSERT INTO runs (id, booking_id, booking_version, kind, slot_at, status, due_at, max_attempts,
           call, reason, created_at, updated_at, finished_at)
         VALUES (@id, @bookingId, @bookingVersion, @kind, @slotAt, @status, @dueAt, @maxAttempts, @call,
           @reason, @now, @now, CASE WHEN @status IN ('skipped', 'refused') THEN @now END)
         ON CONFLICT (booking_id, slot_at) DO NOTHING`,
      ),
      // claim + dialing: the run is taken under the attempt id, with what will be dialled.
      claimRun: p(
        `UPDATE runs SET status = 'running', lease_attempt_id = @attemptId, dials = dials + 1,
           call = @call, max_attempts = @maxAttempts, booking_version = @bookingVersion,
           reason = NULL, updated_at = @now
         WHERE id = @runId AND status IN ('pending', 'retry_wait') AND cancel_reason IS NULL`,
      ),
      insertAttempt: p(
        `INSERT INTO attempts (id, run_id, attempt_no, boot_epoch, status, claimed_at, dial_at,
           lateness_ms, booking_version, dialed)
         VALUES (@id, @runId, (SELECT count(*) + 1 FROM attempts WHERE run_id = @runId), @bootEpoch,
           'dialing', @now, @now, @latenessMs, @bookingVersion, @dialed)`,
      ),
      // Fenced progress marks: only the run's current lease holder moves its attempt forward.
      markAttempt: p(
        `UPDATE attempts SET status = @status, answered_at = coalesce(@answeredAt, answered_at)
         WHERE id = @attemptId AND status IN ('dialing', 'alerting')
           AND (@status = 'active' OR status = 'dialing')
           AND EXISTS (SELECT 1 FROM runs WHERE runs.id = attempts.run_id
                       AND runs.lease_attempt_id = @attemptId AND runs.status = 'running')`,
      ),
      endAttempt: p(
        `UPDATE attempts SET status = 'ended', ended_at = @endedAt, outcome = @outcome, detail = @detail,
           answered_at = coalesce(@answeredAt, answered_at)
         WHERE id = @attemptId AND status IN ('claimed', 'dialing', 'alerting', 'active')`,
      ),
      // The end of a lease: only the holder's attempt id moves the run out of 'running'.
      releaseRun: p(
        `UPDATE runs SET status = @status, due_at = coalesce(@dueAt, due_at), reason = @reason,
           lease_attempt_id = NULL, cancel_reason = NULL, updated_at = @now,
           finished_at = CASE WHEN @status IN ('completed', 'dead', 'skipped', 'cancelled', 'refused')
                              THEN @now END
         WHERE id = @runId AND lease_attempt_id = @attemptId AND status = 'running'`,
      ),
      // A waiting run (no attempt holds it) changes state: cancel, skip, refuse, misfire mark, replay.
      moveWaiting: p(
        `UPDATE runs SET status = @status, due_at = coalesce(@dueAt, due_at), reason = @reason,
           updated_at = @now,
           finished_at = CASE WHEN @status IN ('completed', 'dead', 'skipped', 'cancelled', 'refused')
                              THEN @now END
         WHERE id = @runId AND status = @from AND lease_attempt_id IS NULL`,
      ),
      replay: p(
        `UPDATE runs SET status = 'pending', due_at = @now, reason = @reason, replays = replays + 1,
           dials = 0, updated_at = @now, finished_at = NULL
         WHERE id = @runId AND status = 'dead'`,
      ),
      requestCancel: p(
        `UPDATE runs SET cancel_reason = @reason, updated_at = @now
         WHERE id = @runId AND status = 'running' AND cancel_reason IS NULL`,
      ),
      // Restart reconciliation: the old process is gone (a newer boot epoch holds the data dir lock).
      abandonAttempt: p(
        `UPDATE attempts SET status = 'abandoned', ended_at = @now, outcome = 'abandoned', detail = @detail
         WHERE id = @attemptId AND status = 'claimed' AND boot_epoch < @bootEpoch`,
      ),
      endOldAttempt: p(
        `UPDATE attempts SET status = 'ended', ended_at = @now, outcome = @outcome, detail = @detail
         WHERE id = @attemptId AND status IN ('dialing', 'alerting', 'active') AND boot_epoch < @bootEpoch`,
      ),
      releaseOldRun: p(
        `UPDATE runs SET status = @status, due_at = coalesce(@dueAt, due_at), reason = @reason,
           lease_attempt_id = NULL, cancel_reason = NULL, updated_at = @now,
           finished_at = CASE WHEN @status IN ('completed', 'dead', 'skipped', 'cancelled', 'refused')
                              THEN @now END
         WHERE id = @runId AND status = 'running' AND lease_attempt_id = @attemptId`,
      ),
      healOrphans: p(
        `UPDATE runs SET status = 'pending', lease_attempt_id = NULL, reason = 'healed_orphan_running',
           updated_at = @now
         WHERE status = 'running' AND NOT EXISTS (
           SELECT 1 FROM attempts WHERE attempts.id = runs.lease_attempt_id
             AND attempts.status IN ('claimed', 'dialing', 'alerting', 'active'))`,
      ),
    };
  }

  insert(r: InsertRun, now: number): boolean {
    return this.s.insert.run({ ...r, call: JSON.stringify(r.call), now }).changes === 1;
  }

  claim(f: {
    runId: string;
    attemptId: string;
    bootEpoch: number;
    call: CallSpec;
    maxAttempts: number;
    bookingVersion: number | null;
    latenessMs: number | null;
    now: number;
  }): boolean {
    const ok =
      this.s.claimRun.run({
        runId: f.runId,
        attemptId: f.attemptId,
        call: JSON.stringify(f.call),
        maxAttempts: f.maxAttempts,
        bookingVersion: f.bookingVersion,
        now: f.now,
      }).changes === 1;
    if (!ok) return false;
    this.s.insertAttempt.run({
      id: f.attemptId,
      runId: f.runId,
      bootEpoch: f.bootEpoch,
      now: f.now,
      latenessMs: f.latenessMs,
      bookingVersion: f.bookingVersion,
      dialed: f.call.callee,
    });
    return true;
  }

  mark(attemptId: string, status: 'alerting' | 'active', answeredAt: number | null): boolean {
    return this.s.markAttempt.run({ attemptId, status, answeredAt }).changes === 1;
  }

  endAttempt(f: {
    attemptId: string;
    endedAt: number;
    outcome: string;
    detail: string | null;
    answeredAt: number | null;
  }): boolean {
    return this.s.endAttempt.run(f).changes === 1;
  }

  release(f: {
    runId: string;
    attemptId: string;
    status: RunStatus;
    reason: string | null;
    dueAt: number | null;
    now: number;
  }): boolean {
    return this.s.releaseRun.run(f).changes === 1;
  }

  moveWaiting(f: {
    runId: string;
    from: RunStatus;
    status: RunStatus;
    reason: string | null;
    dueAt: number | null;
    now: number;
  }): boolean {
    return this.s.moveWaiting.run(f).changes === 1;
  }

  replay(runId: string, reason: string, now: number): boolean {
    return this.s.replay.run({ runId, reason, now }).changes === 1;
  }

  requestCancel(runId: string, reason: string, now: number): boolean {
    return this.s.requestCancel.run({ runId, reason, now }).changes === 1;
  }

  abandonOldAttempt(attemptId: string, bootEpoch: number, detail: string, now: number): boolean {
    return this.s.abandonAttempt.run({ attemptId, bootEpoch, detail, now }).changes === 1;
  }

  endOldAttempt(f: {
    attemptId: string;
    bootEpoch: number;
    outcome: string;
    detail: string;
    now: number;
  }): boolean {
    return this.s.endOldAttempt.run(f).changes === 1;
  }

  releaseOldRun(f: {
    runId: string;
    attemptId: string;
    status: RunStatus;
    reason: string | null;
    dueAt: number | null;
    now: number;
  }): boolean {
    return this.s.releaseOldRun.run(f).changes === 1;
  }

  healOrphans(now: number): number {
    return this.s.healOrphans.run({ now }).changes;
  }
}
